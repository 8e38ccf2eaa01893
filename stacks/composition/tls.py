"""The CA's outputs as the components take them."""

from __future__ import annotations

import pulumi

from components.ca import CertificateAuthority


def identities(ca: CertificateAuthority, *names: str) -> dict[str, pulumi.Output[str]]:
    """The CA's Secret names for just the identities a component mounts (least privilege)."""
    return {name: ca.security_secrets[name] for name in names}
