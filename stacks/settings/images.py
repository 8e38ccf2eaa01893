"""How a non-root MindIE image is derived from the stock one: `servers.imageBuild`, `motor.image_build`.

The stock MindIE image installs as root (directories 750, `bin` 550, `gen_cert` and
`scripts` 500: `Ascend-MindIE-Motor@28a7e9f:build/service/install.sh` chmod_authority),
so a pod running as the runtime UID cannot even enter the install tree. The seed
prepares a non-root image instead (its image sections; /home/{user}/Ascend). When a
build is configured, the program derives that image from the stock one with
images/mindie/Dockerfile (components/mindie_image.py) and runs it; without one, the
component's `image` setting names an image that was prepared already (CI, or by hand),
as `mindie:msServer.image` with source existing does.
"""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from domain.images import MAX_REFERENCE_LENGTH, REFERENCE, REFERENCE_FORM, image_tag, is_pinned

from .fields import Digest, LinuxName, Pattern, StrictBool, StrictModel, StrictStr
from .release import STOCK_IMAGE


def _short_enough(reference: str) -> bool:
    return len(reference) <= MAX_REFERENCE_LENGTH


ImageRef = Pattern(REFERENCE.pattern, f"must be {REFERENCE_FORM}", also=_short_enough)
"""An image reference (domain.images.REFERENCE, at most 255 characters): every image setting."""

TaggedImageRef = Pattern(
    REFERENCE.pattern,
    'must be an image reference with an explicit tag or digest, e.g. "mindie:2.0.RC1-800I-A2"',
    also=lambda value: _short_enough(value) and (image_tag(value) is not None or is_pinned(value)),
)
"""An image reference naming its tag or digest (Motor's images: "latest" is never implied)."""


def qualified(reference: str) -> bool:
    """True when the reference names its registry host (what a push needs)."""
    first = reference.split("/", 1)[0]
    return "/" in reference and ("." in first or ":" in first or first == "localhost")


class ImageBuild(StrictModel):
    """Build the derived non-root image from the stock MindIE image and push it as the component's image."""

    base_image: ImageRef = Field(  # type: ignore[valid-type]
        STOCK_IMAGE,
        alias="baseImage",
        description="The stock MindIE image (FROM), of the KMC-free line (2.3.0 or later).",
    )
    base_digest: Optional[Digest] = Field(  # type: ignore[valid-type]
        None,
        alias="baseDigest",
        description="Pin the stock image by digest (sha256:...); required in prod.",
    )
    user: LinuxName = Field(  # type: ignore[valid-type]
        "mindie",
        description="Name of the image's user (its home: /home/<user>); its UID is mindie:runtimeUser.",
    )
    push: StrictBool = Field(True, description="Push to the registry (false: local image only).")
    platform: Optional[StrictStr] = Field(
        None,
        pattern=r"^linux/(amd64|arm64)$",
        description="Build platform: linux/arm64 (Atlas 800I A2) or linux/amd64.",
    )

    def base_reference(self) -> str:
        return f"{self.base_image}@{self.base_digest}" if self.base_digest else self.base_image


def build_problems(path: str, reference: str, build: ImageBuild) -> list[str]:
    """What a built image's name must satisfy (shared with msServer.image source build)."""
    problems = []
    if "@" in reference:
        problems.append(f"{path} = {reference!r}: a built image is named by tag, not by digest")
    elif build.push and not qualified(reference):
        problems.append(
            f"{path} = {reference!r}: pushing needs a fully qualified name (registry host first, "
            "e.g. registry.example.com/mindie/mindie-server:2.3.0-nonroot)"
        )
    if "@" in build.base_image:
        problems.append(f"{path}: give the stock image's digest in baseDigest, not in baseImage")
    return problems
