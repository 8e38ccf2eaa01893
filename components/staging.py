"""The copy step every MindIE pod runs before MindIE reads a file: one layout for all of them.

MindIE checks each file it reads before using it:

- MindIE Motor (Coordinator, Controller, ms-server, http_client_ctl) —
  `xiaobingling93-pixel/Ascend-MindIE-Motor@28a7e9f:mindie_service/utils/http_client_ctl/common/Util.cpp`
  `PathCheck` / `CheckPathLengthAndLink` / `CheckFileSecurity` / `CheckOwner`: the path must match
  `^(?!.*\\.\\.)[a-zA-Z0-9_./~-]+$`, be at most 256 characters, not be a symlink, be owned by the
  process uid (`getuid()`), and its mode must be no more open than the mode the caller passes
  (0640 for JSON, 0400 for certificates, keys and password files when
  MINDIE_CHECK_INPUTFILES_PERMISSION is not 0 — `ConfigParams.cpp: DecryptPassword`,
  `HttpClientAsync.cpp`, `HttpServer.cpp`).
- MindIE-LLM (the server) — `Ascend/MindIE-LLM@8b4871a:src/utils/log/file_utils.cpp`
  `RegularFilePath` (no symlink, realpath under the base directory) and `IsFileValid` ->
  `ConstrainOwner` (owner = getuid()) and `ConstrainPermission` (no more open than 0640);
  `src/config_manager/param_checker.cpp: ReadJsonFile, CheckPath`.

Files from ConfigMap, Secret and projected volumes are symlinks into `..data/`, owned by root
(group fsGroup): every one of these checks fails. So an init container running as the pod's
uid copies each file (`install` reads through the symlink and writes a regular file owned by
the caller) into an emptyDir with the mode MindIE demands, and the MindIE container mounts that
emptyDir read-only where the JSON files point. upstream boot.sh does the same with `cp` + `chmod`
into `$MIES_INSTALL_PATH/conf` for the same reason.

`StagedFile` entries are the single description of the layout: the init container's script is
generated from them, and the conformance suite (`mindiectl/conformance.py`) reads the script
back to prove every path a JSON file names is a staged copy with the right mode.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Optional

import pulumi_kubernetes as k8s

# The modes' home is the domain layer; Motor and ms-server stage with staging.CONFIG_MODE / SECRET_MODE.
from domain import security_tree
from domain.mindie_server_paths import CONFIG_MODE, SECRET_MODE

from .k8s_helpers import container_security_context

STAGE = "/mnt/stage"
"""Where the init container mounts the staging emptyDir (its root)."""
SOURCE = "/mnt/source"
"""Where the init container mounts the ConfigMap/Secret volumes it copies from."""
STAGE_VOLUME = "mindie-staged"
"""Name of the staging emptyDir in every MindIE pod."""
INIT_CONTAINER = "stage-files"

# Motor's PathCheck pattern (Util.cpp), used for every path we generate: the strictest reader's form.
PATH_PATTERN = re.compile(r"(?!.*\.\.)[a-zA-Z0-9_./~-]+")
MAX_PATH = 256  # Util.cpp CheckPathLengthAndLink


def check_path(path: str, what: str = "path") -> str:
    """A path MindIE Motor's PathCheck accepts (and safe in a shell once quoted); else ValueError."""
    if not isinstance(path, str) or not PATH_PATTERN.fullmatch(path) or len(path) > MAX_PATH:
        raise ValueError(
            f"{what} {path!r}: must match [a-zA-Z0-9_./~-]+ without '..' and be at most {MAX_PATH} "
            "characters (MindIE Motor Util.cpp PathCheck)"
        )
    return path


@dataclass(frozen=True)
class StagedFile:
    """One file copied from a mounted ConfigMap/Secret (`source`) to `<stage>/<dest>` with `mode`."""

    source: str
    """Absolute path in the init container (under SOURCE)."""
    dest: str
    """Path relative to the staging volume's root."""
    mode: int

    def __post_init__(self) -> None:
        check_path(self.source, "staging source")
        check_path(self.dest, "staging destination")
        if self.dest.startswith("/"):
            raise ValueError(f"staging destination {self.dest!r} must be relative to the staging volume")
        if self.mode & ~CONFIG_MODE:
            raise ValueError(
                f"staging mode {self.mode:o} for {self.dest}: more open than MindIE allows (0640)"
            )


@dataclass(frozen=True)
class StagedDir:
    """A directory of the image copied whole (then overlaid by StagedFile entries)."""

    source: str
    dest: str

    def __post_init__(self) -> None:
        check_path(self.source, "staging source directory")
        check_path(self.dest, "staging destination directory")


def script(files: Sequence[StagedFile], dirs: Sequence[StagedDir] = (), extra: Iterable[str] = ()) -> str:
    """The init container's bash script: every value validated (StagedFile) and shell-quoted."""
    q = shlex.quote
    lines = ["set -euo pipefail", "umask 027"]
    for d in dirs:
        target = f"{STAGE}/{d.dest}"
        lines += [f"mkdir -p {q(target)}", f"cp -R {q(d.source + '/.')} {q(target + '/')}"]
    for f in files:
        # install: follows the source symlink, writes a regular file owned by this uid, sets the mode.
        lines.append(f"install -D -m {f.mode:04o} {q(f.source)} {q(f'{STAGE}/{f.dest}')}")
    lines += list(extra)
    lines.append(f'echo "stage-files: {len(files)} file(s) staged for uid $(id -u)"')
    return "\n".join(lines) + "\n"


def volume(size_limit: str = "32Mi") -> k8s.core.v1.VolumeArgs:
    """The staging emptyDir: memory-backed, so keys never touch the node's disk."""
    return k8s.core.v1.VolumeArgs(
        name=STAGE_VOLUME,
        empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory", size_limit=size_limit),
    )


def mount(sub_path: str, mount_path: str) -> k8s.core.v1.VolumeMountArgs:
    """The MindIE container's read-only view of part of the staged tree."""
    return k8s.core.v1.VolumeMountArgs(
        name=STAGE_VOLUME, mount_path=mount_path, sub_path=sub_path or None, read_only=True
    )


def init_container(
    image: str,
    image_pull_policy: str,
    files: Sequence[StagedFile],
    source_mounts: Sequence[k8s.core.v1.VolumeMountArgs],
    run_as_user: int,
    run_as_group: int,
    dirs: Sequence[StagedDir] = (),
    extra: Iterable[str] = (),
    extra_mounts: Sequence[k8s.core.v1.VolumeMountArgs] = (),
) -> k8s.core.v1.ContainerArgs:
    """The init container: same image and uid as the MindIE container (the owner MindIE checks)."""
    return k8s.core.v1.ContainerArgs(
        name=INIT_CONTAINER,
        image=image,
        image_pull_policy=image_pull_policy,
        command=["/bin/bash", "-c", script(files, dirs, extra)],
        security_context=container_security_context(
            run_as_user=run_as_user, run_as_group=run_as_group, read_only_root_filesystem=True
        ),
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": "100m", "memory": "32Mi"}, limits={"cpu": "500m", "memory": "64Mi"}
        ),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name=STAGE_VOLUME, mount_path=STAGE),
            *source_mounts,
            *extra_mounts,
        ],
    )


def tls_files(identity: str, source_dir: str, dest_dir: str, crl: bool = True) -> list[StagedFile]:
    """`identity`'s Secret (mounted flat at `source_dir`) on the seed's `security/` tree at `dest_dir`."""
    return [
        StagedFile(f"{source_dir}/{key}", f"{dest_dir}/{path}", SECRET_MODE)
        for key, path in security_tree.tree(identity, crl=crl)
    ]


def secret_volume(name: str, secret_name, keys: Optional[Sequence[str]] = None) -> k8s.core.v1.VolumeArgs:
    """A Secret volume only the init container mounts (0440: readable through fsGroup, root-owned)."""
    return k8s.core.v1.VolumeArgs(
        name=name,
        secret=k8s.core.v1.SecretVolumeSourceArgs(
            secret_name=secret_name,
            default_mode=0o440,
            items=[k8s.core.v1.KeyToPathArgs(key=k, path=k) for k in keys] if keys else None,
        ),
    )
