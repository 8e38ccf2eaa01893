"""The ms-server image: built from images/ms-server/Dockerfile, or an existing reference.

`image_ref` is what the Deployment runs (components/image.py): for a built image the pushed
image's `repo_digest`, so a rebuild rolls the pod.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from .image import BuiltImageArgs, ImageArgs, ImageComponent

DOCKERFILE = "images/ms-server/Dockerfile"
"""Relative to the project directory (the Pulumi program's working directory), so the
resource inputs are the same on every machine."""


@dataclass(kw_only=True)
class MsServerImageArgs(ImageArgs):
    """`build`: build images/ms-server/Dockerfile from `context`."""

    context: Optional[str] = None
    """Build context: the directory holding the unpacked `mindie-service/` tree."""
    base_image: str = "ubuntu:22.04"
    """Base image (BASE_IMAGE build arg), `name:tag` or `name:tag@sha256:...` when pinned."""
    user: str = "msuser"
    """USER build arg: the dedicated non-root user."""
    group: str = "msuser"
    """USER_GROUP build arg (the seed: same as USER)."""


def build_args(args: MsServerImageArgs) -> dict[str, str]:
    """The Dockerfile's build arguments (strings, as docker passes them)."""
    ids = args.id_build_args("the ms-server image")
    return {"BASE_IMAGE": args.base_image, "USER_GROUP": args.group, "USER": args.user, **ids}


def _build(args: MsServerImageArgs) -> Optional[BuiltImageArgs]:
    if not args.build:
        return None
    if not args.context:
        raise ValueError("context: required to build the ms-server image")
    return args.built(DOCKERFILE, args.context, build_args(args))


class MsServerImage(ImageComponent):
    """`mindie:ms_server_image:MsServerImage`: the image the ms-server Deployment runs."""

    def __init__(self, name: str, args: MsServerImageArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mindie:ms_server_image:MsServerImage", name, args.reference, _build(args), opts)
