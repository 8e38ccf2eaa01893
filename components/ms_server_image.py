"""The ms-server image: built with pulumi-docker from images/ms-server/Dockerfile, or an existing reference.

`image_ref` is what the Deployment runs. For a built image it is the pushed
image's `repo_digest` (repository@sha256:..., unique per build, so a rebuild
rolls the pod), falling back to the tag when there is no digest (skip_push, or
offline where the digest cannot be known).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker

from stacks.settings.runtime_user import RUNTIME_GID, RUNTIME_UID

from .mindie_image import BuiltImageArgs, built_image, existing_digest

DOCKERFILE = "images/ms-server/Dockerfile"
"""Relative to the project directory (the Pulumi program's working directory), so the
resource inputs are the same on every machine."""


@dataclass
class MsServerImageArgs:
    reference: str
    """Image reference to run; when building, the name the image is tagged and pushed as."""
    build: bool = False
    """True: build the Dockerfile with pulumi-docker; False: use `reference` as is."""
    context: Optional[str] = None
    """Build context: the directory holding the unpacked `mindie-service/` tree."""
    base_image: str = "ubuntu:22.04"
    """Base image (BASE_IMAGE build arg), `name:tag` or `name:tag@sha256:...` when pinned."""
    user: str = "msuser"
    """USER build arg: the dedicated non-root user."""
    group: str = "msuser"
    """USER_GROUP build arg (the seed: same as USER)."""
    uid: int = RUNTIME_UID
    """UID build arg (never 0): mindie:runtimeUser, the same UID the pods run as."""
    gid: int = RUNTIME_GID
    """GID build arg (the seed: equal to UID)."""
    push: bool = True
    """Push the built image (False: skip_push, local image only)."""
    platform: Optional[str] = None
    """Target platform, e.g. linux/arm64."""


def build_args(args: MsServerImageArgs) -> dict[str, str]:
    """The Dockerfile's build arguments (strings, as docker passes them)."""
    if args.uid == 0:
        raise ValueError("uid = 0: the ms-server image needs a non-root UID")
    if args.gid != args.uid:
        raise ValueError(f"gid = {args.gid}: must equal uid = {args.uid}")
    return {
        "BASE_IMAGE": args.base_image,
        "USER_GROUP": args.group,
        "USER": args.user,
        "UID": str(args.uid),
        "GID": str(args.gid),
    }


class MsServerImage(pulumi.ComponentResource):
    """`mindie:ms_server_image:MsServerImage`: the image the ms-server Deployment runs."""

    image_ref: pulumi.Output[str]
    digest: pulumi.Output[str]

    def __init__(self, name: str, args: MsServerImageArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mindie:ms_server_image:MsServerImage", name, None, opts)
        self.image: Optional[docker.Image] = None
        if args.build:
            if not args.context:
                raise ValueError("context: required to build the ms-server image")
            self.image, self.image_ref, self.digest = built_image(
                name,
                BuiltImageArgs(
                    reference=args.reference,
                    dockerfile=DOCKERFILE,
                    context=args.context,
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
