"""The non-root MindIE image a component runs.

`MindieImage` derives a non-root image from the stock MindIE image with
images/mindie/Dockerfile, the way the seed prepares its image (a dedicated user and
group, the install tree and /home/<user> owned by them, the modes MindIE checks),
or passes an existing reference through (components/image.py: `image_ref`, `digest`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi

from .image import BuiltImageArgs, ImageArgs, ImageComponent

DOCKERFILE = "images/mindie/Dockerfile"
"""Relative to the project directory (the Pulumi program's working directory), so the resource
inputs are the same on every machine."""
CONTEXT = "images/mindie"
"""Build context: only the Dockerfile and prepare-tree.sh (the stock image brings the software)."""
DEFAULT_USER = "mindie"


@dataclass(kw_only=True)
class MindieImageArgs(ImageArgs):
    """`build`: derive the image from `base_image` with images/mindie/Dockerfile."""

    base_image: str = ""
    """The stock MindIE image (`name:tag` or `name:tag@sha256:...` when pinned)."""
    user: str = DEFAULT_USER
    """The image's user name (home /home/<user>)."""
    ascend_home: str = "/usr/local/Ascend"
    """The stock image's Ascend tree (ascend-toolkit, mindie, nnal, atb-models) that the user must own."""
    mies_install_path: str = "/usr/local/Ascend/mindie/latest/mindie-service"
    """The mindie-service tree inside it (bin, scripts, conf, lib)."""
    extra_build_args: dict[str, str] = field(default_factory=dict)


def build_args(args: MindieImageArgs) -> dict[str, str]:
    """The Dockerfile's build arguments (strings, as docker passes them)."""
    ids = args.id_build_args("the MindIE image")
    home = args.ascend_home.rstrip("/")
    if args.mies_install_path != home and not args.mies_install_path.startswith(home + "/"):
        raise ValueError(
            f"mies_install_path {args.mies_install_path!r} is not inside ascend_home {args.ascend_home!r}"
        )
    return {
        "BASE_IMAGE": args.base_image,
        "USER": args.user,
        **ids,
        "ASCEND_HOME": args.ascend_home,
        "MIES_INSTALL_PATH": args.mies_install_path,
        **args.extra_build_args,
    }


def _build(name: str, args: MindieImageArgs) -> Optional[BuiltImageArgs]:
    if not args.build:
        return None
    if not args.base_image:
        raise ValueError(f"{name}: base_image is required to derive the image")
    return args.built(DOCKERFILE, CONTEXT, build_args(args))


class MindieImage(ImageComponent):
    """`mindie:mindie_image:MindieImage`: the non-root MindIE image a component runs."""

    def __init__(self, name: str, args: MindieImageArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mindie:mindie_image:MindieImage", name, args.reference, _build(name, args), opts)
