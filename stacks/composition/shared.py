"""Mappings more than one component's composition uses: the MindIE image, the CA identities a pod mounts."""

from __future__ import annotations

import pulumi

from components.ca import CertificateAuthority
from components.mindie_image import MindieImage, MindieImageArgs
from stacks.settings.images import ImageBuild
from stacks.settings.runtime_user import RuntimeUser


def mindie_image(
    name: str,
    reference: str,
    build: ImageBuild | None,
    runtime_user: RuntimeUser,
    ascend: str | None,
    mies_install_path: str,
) -> MindieImage:
    """The non-root MindIE image a component runs: derived from the stock image, or `reference` as is."""
    return MindieImage(
        name,
        MindieImageArgs(
            reference=reference,
            build=build is not None,
            base_image=build.base_reference() if build else "",
            user=build.user if build else "mindie",
            uid=runtime_user.uid,
            gid=runtime_user.gid,
            # The Ascend tree the user must own: the seed's /home/{user}/Ascend, the stock image's
            # /usr/local/Ascend; without a '/mindie/' in the install path, the install tree itself.
            ascend_home=ascend or mies_install_path,
            mies_install_path=mies_install_path,
            push=build.push if build else True,
            platform=build.platform if build else None,
        ),
    )


def identities(ca: CertificateAuthority, *names: str) -> dict[str, pulumi.Output[str]]:
    """The CA's Secret names for just the identities a component mounts (least privilege)."""
    return {name: ca.security_secrets[name] for name in names}
