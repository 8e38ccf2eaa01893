"""mindie:tls -> the CertificateAuthority's args; its stack outputs; its Secrets per component."""

from __future__ import annotations

from typing import Any, Optional

import pulumi

from components.ca import CertificateAuthority, CertificateAuthorityArgs
from stacks.settings.tls import CaMaterial, TlsSettings


def ca_args(
    tls: TlsSettings, namespace: pulumi.Input[str], instance: str, protect: bool
) -> CertificateAuthorityArgs:
    """The CertificateAuthority args for these settings (secrets passed on as secrets)."""
    root, business, management = _pair(tls.root_ca), _pair(tls.business_ca), _pair(tls.management_ca)
    return CertificateAuthorityArgs(
        namespace=namespace,
        instance=instance,
        root_ca_cert_pem=root[0],
        root_ca_key_pem=_secret(root[1]),
        business_ca_cert_pem=business[0],
        business_ca_key_pem=_secret(business[1]),
        management_ca_cert_pem=management[0],
        management_ca_key_pem=_secret(management[1]),
        key_passphrase=_secret(tls.key_passphrase.get_secret_value() if tls.key_passphrase else None),
        validity_days=tls.validity_days,
        early_renewal_days=tls.early_renewal_days,
        ca_validity_days=tls.ca_validity_days,
        key_algorithm=tls.key_algorithm.value,
        rsa_bits=tls.rsa_bits,
        ecdsa_curve=tls.ecdsa_curve.value,
        kubeclient_cn=tls.kubeclient_cn,
        sans={
            "msserver": list(tls.sans.msserver),
            "coordinator": list(tls.sans.coordinator),
            "controller": list(tls.sans.controller),
        },
        revoked=[
            {"serial": r.serial, "reason": r.reason.value, "revoked_at": r.revoked_at}
            for r in tls.crl.revoked
        ],
        crl_next_update_days=tls.crl.next_update_days,
        crl_renew_before_days=tls.crl.renew_before_days,
        protect=protect,
    )


def _pair(ca: Optional[CaMaterial]) -> tuple[Optional[str], Optional[str]]:
    return (None, None) if ca is None else (ca.cert_pem, ca.key_pem.get_secret_value())


def _secret(value: Optional[str]) -> Optional[pulumi.Output[str]]:
    return None if value is None else pulumi.Output.secret(value)


def ca_outputs(ca: CertificateAuthority) -> dict[str, Any]:
    """Names only; every certificate's not-after and serial (hex, for mindie:tls.crl.revoked)."""
    return {
        "kubeclientCn": ca.kubeclient_cn,
        "tlsSecrets": ca.security_secrets,
        "tlsChecksum": ca.checksum,
        "tlsNotAfter": ca.not_after,
        "tlsSerials": ca.serials,
        # whether the root is the stand-in (dev only: staging and prod require mindie:tls.rootCa)
        "tlsRootCa": "stand-in (self-signed, dev only)" if ca.root_is_standin else "cluster CA (config)",
    }


def identities(ca: CertificateAuthority, *names: str) -> dict[str, pulumi.Output[str]]:
    """The CA's Secret names for just the identities a component mounts (least privilege)."""
    return {name: ca.security_secrets[name] for name in names}
