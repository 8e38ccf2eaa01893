"""What the image components share: build an image with pulumi-docker, or pass a reference through.

`ImageComponent` is the base of `MindieImage` (components/mindie_image.py) and `MsServerImage`
(components/ms_server_image.py); each keeps its own type token, so their URNs do not change.
`built_image` is the one place that declares a `docker.Image` and turns it into what a Deployment runs.

`image_ref` is what the pods run: the pushed image's `repo_digest` (repository@sha256:..., unique per
build, so a rebuild rolls the pods), else the tag. `digest` says honestly what is known: the digest
after a push, and otherwise why there is none (skip_push; an offline or first preview, where the
provider has not pushed yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker

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


@dataclass(kw_only=True)
class ImageArgs:
    """What every image component takes: the image to run, or to build and push under that name."""

    reference: str
    """Image the pods run; when building, the name the image is tagged and pushed as."""
    uid: int
    """The runtime UID (mindie:runtimeUser, never 0): the image's user, the UID the pods run as."""
    gid: int
    """The runtime GID (the seed: equal to uid)."""
    build: bool = False
    """True: build the component's Dockerfile with pulumi-docker; False: run `reference` as is."""
    push: bool = True
    """Push the built image (False: skip_push, local image only)."""
    platform: Optional[str] = None
    """Target platform, e.g. linux/arm64."""

    def built(self, dockerfile: str, context: str, build_args: dict[str, str]) -> BuiltImageArgs:
        return BuiltImageArgs(self.reference, dockerfile, context, build_args, self.push, self.platform)

    def id_build_args(self, what: str) -> dict[str, str]:
        """UID and GID build arguments: the runtime user's, never root, equal (the seed: GID = UID)."""
        if self.uid == 0 or self.gid == 0:
            raise ValueError(f"uid/gid = 0: {what} needs a non-root user")
        if self.gid != self.uid:
            raise ValueError(f"gid = {self.gid}: must equal uid = {self.uid}")
        return {"UID": str(self.uid), "GID": str(self.gid)}


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


class ImageComponent(pulumi.ComponentResource):
    """An image a Deployment runs: built from `build` when given, else `reference` as is."""

    image_ref: pulumi.Output[str]
    digest: pulumi.Output[str]

    def __init__(
        self,
        type_token: str,
        name: str,
        reference: str,
        build: Optional[BuiltImageArgs],
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__(type_token, name, None, opts)
        self.image: Optional[docker.Image] = None
        if build is not None:
            self.image, self.image_ref, self.digest = built_image(name, build, self)
        else:
            self.image_ref = pulumi.Output.from_input(reference)
            self.digest = pulumi.Output.from_input(existing_digest(reference))
        self.register_outputs({"imageRef": self.image_ref, "digest": self.digest})
