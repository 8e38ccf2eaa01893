"""Images the program builds with pulumi-docker: the non-root MindIE images (and the ms-server's).

`MindieImage` derives a non-root image from the stock MindIE image with
images/mindie/Dockerfile, the way the seed prepares its image (a dedicated user and
group, the install tree and /home/<user> owned by them, the modes MindIE checks),
or passes an existing reference through. `built_image` is the one place that
declares a `docker.Image` and turns it into what a Deployment runs; the ms-server
image (components/ms_server_image.py) uses it too.

`image_ref` is what the pods run: the pushed image's `repo_digest`
(repository@sha256:..., unique per build, so a rebuild rolls the pods), else the
tag. `digest` says honestly what is known: the digest after a push, and otherwise
why there is none (skip_push; an offline or first preview, where the provider has
not pushed yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_docker as docker

from stacks.settings.runtime_user import RUNTIME_GID, RUNTIME_UID

DOCKERFILE = "images/mindie/Dockerfile"
"""Relative to the project directory (the Pulumi program's working directory), so the resource
inputs are the same on every machine."""
CONTEXT = "images/mindie"
"""Build context: only the Dockerfile and prepare-tree.sh (the stock image brings the software)."""
DEFAULT_USER = "mindie"
NO_DIGEST_UNPUSHED = "none: skip_push (a local image has no registry digest)"
NO_DIGEST_YET = "unknown until pushed (offline or first preview: the provider reads it after the push)"


@dataclass
class BuiltImageArgs:
    """One `docker.Image`: what to build and the name it is tagged and pushed as."""

    reference: str
    dockerfile: str
    context: str
    build_args: dict[str, str]
    push: bool = True
    platform: Optional[str] = None


def built_image(
    name: str, args: BuiltImageArgs, parent: pulumi.Resource
) -> tuple[docker.Image, pulumi.Output[str], pulumi.Output[str]]:
    """Declare the image; return it, the reference pods run, and its digest (or why none is known)."""
    image = docker.Image(
        f"{name}-image",
        image_name=args.reference,
        build=docker.DockerBuildArgs(
            context=args.context,
            dockerfile=args.dockerfile,
            args=args.build_args,
            platform=args.platform,
            builder_version=docker.BuilderVersion.BUILDER_BUILD_KIT,
        ),
        skip_push=not args.push,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    ref = pulumi.Output.all(image.repo_digest, image.image_name).apply(lambda parts: parts[0] or parts[1])
    no_digest = NO_DIGEST_YET if args.push else NO_DIGEST_UNPUSHED
    digest = image.repo_digest.apply(lambda d: d.split("@", 1)[1] if d and "@" in d else no_digest)
    return image, ref, digest


def existing_digest(reference: str) -> str:
    """What is known of an existing reference's digest: its pin, or that it is referenced by tag."""
    if "@" in reference:
        return reference.split("@", 1)[1]
    return "not pinned: referenced by tag (pin @sha256:... for prod)"


@dataclass
class MindieImageArgs:
    reference: str
    """Image the pods run; when building, the name the derived image is tagged and pushed as."""
    build: bool = False
    """True: derive it from `base_image` with images/mindie/Dockerfile; False: run `reference` as is."""
    base_image: str = ""
    """The stock MindIE image (`name:tag` or `name:tag@sha256:...` when pinned)."""
    user: str = DEFAULT_USER
    """The image's user name (home /home/<user>)."""
    uid: int = RUNTIME_UID
    """The runtime UID (mindie:runtimeUser): the image's user, the owner of the install tree."""
    gid: int = RUNTIME_GID
    """The runtime GID (equal to uid)."""
    ascend_home: str = "/usr/local/Ascend"
    """The stock image's Ascend tree (ascend-toolkit, mindie, nnal, atb-models) that the user must own."""
    mies_install_path: str = "/usr/local/Ascend/mindie/latest/mindie-service"
    """The mindie-service tree inside it (bin, scripts, conf, lib)."""
    push: bool = True
    platform: Optional[str] = None
    extra_build_args: dict[str, str] = field(default_factory=dict)


def build_args(args: MindieImageArgs) -> dict[str, str]:
    """The Dockerfile's build arguments (strings, as docker passes them)."""
    if args.uid == 0 or args.gid == 0:
        raise ValueError("uid/gid = 0: the MindIE image needs a non-root user")
    if args.gid != args.uid:
        raise ValueError(f"gid = {args.gid}: must equal uid = {args.uid}")
    home = args.ascend_home.rstrip("/")
    if args.mies_install_path != home and not args.mies_install_path.startswith(home + "/"):
        raise ValueError(
            f"mies_install_path {args.mies_install_path!r} is not inside ascend_home {args.ascend_home!r}"
        )
    return {
        "BASE_IMAGE": args.base_image,
        "USER": args.user,
        "UID": str(args.uid),
        "GID": str(args.gid),
        "ASCEND_HOME": args.ascend_home,
        "MIES_INSTALL_PATH": args.mies_install_path,
        **args.extra_build_args,
    }


class MindieImage(pulumi.ComponentResource):
    """`mindie:mindie_image:MindieImage`: the non-root MindIE image a component runs."""

    image_ref: pulumi.Output[str]
    digest: pulumi.Output[str]

    def __init__(self, name: str, args: MindieImageArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mindie:mindie_image:MindieImage", name, None, opts)
        self.image: Optional[docker.Image] = None
        if args.build:
            if not args.base_image:
                raise ValueError(f"{name}: base_image is required to derive the image")
            self.image, self.image_ref, self.digest = built_image(
                name,
                BuiltImageArgs(
                    reference=args.reference,
                    dockerfile=DOCKERFILE,
                    context=CONTEXT,
                    build_args=build_args(args),
                    push=args.push,
                    platform=args.platform,
                ),
                self,
            )
        else:
            self.image_ref = pulumi.Output.from_input(args.reference)
            self.digest = pulumi.Output.from_input(existing_digest(args.reference))
        self.register_outputs({"imageRef": self.image_ref, "digest": self.digest})
