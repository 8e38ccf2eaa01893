"""`mindie:tls`: the CA chain of the cluster-management components (the seed's 准备TLS证书).

Every secret in here (CA private keys, the key passphrase) is a `SecretStr`: it is
never printed, and validation errors about it never echo the value. Set them the
way Pulumi stores secrets, e.g.

    pulumi config set --path --secret 'mindie:tls.rootCa.keyPem' < /etc/kubernetes/pki/ca.key
    pulumi config set --path 'mindie:tls.rootCa.certPem' < /etc/kubernetes/pki/ca.crt
    pulumi config set --path --secret 'mindie:tls.keyPassphrase' '<passphrase>'
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field, SecretStr, model_validator

from domain.passphrase import passphrase_problem
from domain.pki import MAX_VALIDITY_DAYS, REVOCATION_REASONS, RSA_BITS

from .fields import IntRange, Pattern, StrictBool, StrictModel, StrictStr


def _check_passphrase(value: SecretStr) -> SecretStr:
    problem = passphrase_problem(value.get_secret_value())
    if problem:
        raise ValueError(problem)
    return value


Passphrase = Annotated[SecretStr, AfterValidator(_check_passphrase)]


def _check_cert_pem(value: str) -> str:
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(value.encode())
    except ValueError:
        raise ValueError("not a PEM certificate (-----BEGIN CERTIFICATE-----)") from None
    if len(certs) != 1:
        raise ValueError(f"must hold exactly one certificate (has {len(certs)})")
    try:
        bc = certs[0].extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise ValueError("is not a CA certificate (basicConstraints CA:TRUE missing)")
    return value


CertPem = Annotated[StrictStr, AfterValidator(_check_cert_pem)]


DEMO_CA_MARK = "DEMO ONLY"
"""Subject O= of the demo root CAs committed in Pulumi.staging.yaml / Pulumi.prod.yaml
(`O=DEMO ONLY - not a cluster CA`): their key's passphrase is public (docs/tls.md)."""


class CaMaterial(StrictModel):
    """A CA certificate and its private key (PEM)."""

    cert_pem: CertPem = Field(alias="certPem", description="CA certificate, PEM.")
    key_pem: SecretStr = Field(
        alias="keyPem", description="CA private key, PEM (unencrypted PKCS#1/PKCS#8/SEC1). Secret."
    )

    @model_validator(mode="after")
    def _key_matches(self) -> CaMaterial:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        try:
            key = serialization.load_pem_private_key(self.key_pem.get_secret_value().encode(), None)
        except (ValueError, TypeError):
            raise ValueError(
                "keyPem: not an unencrypted PEM private key (decrypt it first: openssl pkey -in ca.key)"
            ) from None
        cert = x509.load_pem_x509_certificate(self.cert_pem.encode())
        fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if key.public_key().public_bytes(*fmt) != cert.public_key().public_bytes(*fmt):
            raise ValueError("keyPem does not belong to certPem (public keys differ)")
        return self

    def is_demo(self) -> bool:
        """True for a certificate whose subject Organization marks it as this repository's demo CA."""
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        cert = x509.load_pem_x509_certificate(self.cert_pem.encode())
        return any(
            DEMO_CA_MARK in str(a.value).upper()
            for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        )

    def not_after(self) -> str:
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(self.cert_pem.encode())
        return cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


class KeyAlgorithm(StrEnum):
    RSA = "RSA"
    ECDSA = "ECDSA"


class EcdsaCurve(StrEnum):
    P256 = "P256"
    P384 = "P384"


RevocationReason = StrEnum("RevocationReason", [(member, name) for member, name, _ in REVOCATION_REASONS])
"""RFC 5280 5.3.1 CRLReason, as `mindie:tls.crl.revoked[].reason` names it (domain.pki)."""


_HEX_SERIAL = re.compile(r"^(0x)?[0-9A-Fa-f]{1,2}(:?[0-9A-Fa-f]{1,2})*$")


def _check_serial(value: str) -> str:
    if not _HEX_SERIAL.fullmatch(value):
        raise ValueError(
            'must be a hexadecimal serial as `openssl x509 -noout -serial` prints it, e.g. "3F0A9C..." '
            "(colons allowed)"
        )
    number = int(value.lower().removeprefix("0x").replace(":", ""), 16)
    if not 0 < number < 2**159:
        raise ValueError("out of range: a certificate serial is 1 to 2^159-1 (RFC 5280 4.1.2.2)")
    return value


def serial_int(value: str) -> int:
    return int(value.lower().removeprefix("0x").replace(":", ""), 16)


def _check_time(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError('must be an RFC 3339 time with zone, e.g. "2025-01-31T00:00:00Z"') from None
    if parsed.tzinfo is None:
        raise ValueError('must carry a time zone, e.g. "2025-01-31T00:00:00Z"')
    return value


class Revoked(StrictModel):
    """One revoked certificate listed in the intermediate's CRL."""

    serial: Annotated[StrictStr, AfterValidator(_check_serial)] = Field(
        description="Serial number in hex (the `tlsSerials` stack output, or `openssl x509 -serial`)."
    )
    reason: RevocationReason = Field(RevocationReason.UNSPECIFIED, description="CRL reason code.")
    revoked_at: Optional[Annotated[StrictStr, AfterValidator(_check_time)]] = Field(
        None,
        alias="revokedAt",
        description="Revocation time (RFC 3339); default: when the serial first appears in the CRL.",
    )


class CrlSettings(StrictModel):
    """The intermediate's certificate revocation list (the reason the intermediate exists)."""

    revoked: list[Revoked] = Field(default_factory=list, description="Certificates to revoke.")
    next_update_days: IntRange(1, 90, "days") = Field(  # type: ignore[valid-type]
        30, alias="nextUpdateDays", description="CRL nextUpdate = issue time + this many days."
    )
    renew_before_days: IntRange(0, 89, "days") = Field(  # type: ignore[valid-type]
        7,
        alias="renewBeforeDays",
        description="`pulumi up` re-issues the CRL this many days before its nextUpdate.",
    )

    @model_validator(mode="after")
    def _renew_before_next_update(self) -> CrlSettings:
        if self.renew_before_days >= self.next_update_days:
            raise ValueError(
                f"renewBeforeDays = {self.renew_before_days}: must be less than "
                f"nextUpdateDays = {self.next_update_days}"
            )
        serials = [serial_int(r.serial) for r in self.revoked]
        dupes = sorted({f"{s:X}" for s in serials if serials.count(s) > 1})
        if dupes:
            raise ValueError(f"revoked: serial listed twice: {', '.join(dupes)}")
        return self


def _check_san(value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    label = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
    if len(value) > 253 or not re.fullmatch(rf"{label}(\.{label})*", value):
        raise ValueError("must be an IP address or a lower-case DNS name (RFC 1123)")
    return value


San = Annotated[StrictStr, AfterValidator(_check_san)]


class SanSettings(StrictModel):
    """Subject alternative names of the server certificates. A single-label entry is a
    Service name: it is expanded to <name>, <name>.<ns>, <name>.<ns>.svc and
    <name>.<ns>.svc.cluster.local; dotted names and IP addresses are used as given."""

    msserver: list[San] = Field(
        default_factory=lambda: ["ms-server"], description="ms_server (Deployer) server certificate."
    )
    coordinator: list[San] = Field(
        default_factory=lambda: ["mindie-ms-coordinator-infer"],
        description="Coordinator certificate (server and client).",
    )
    controller: list[San] = Field(
        default_factory=lambda: ["mindie-ms-controller"],
        description="Controller certificate (server and client).",
    )


CommonName = Pattern(
    r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$",
    "must be 1 to 64 characters of letters, digits, space, '.', '_', '@', '-'",
)


class TlsSettings(StrictModel):
    """`mindie:tls`: cluster root CA, validity and renewal, key type, passphrase, CRL, SANs."""

    root_ca: Optional[CaMaterial] = Field(
        None,
        alias="rootCa",
        description="The cluster root CA (/etc/kubernetes/pki/ca.crt and ca.key); keyPem secret. "
        "Required in staging and prod; unset in dev: a self-signed stand-in (never trusted by "
        "a cluster).",
    )
    allow_demo_root_ca: StrictBool = Field(
        False,
        alias="allowDemoRootCa",
        description="Accept a root CA whose subject says `O=DEMO ONLY` in staging and prod (the committed "
        "demo CA, whose key anyone can decrypt). Only for offline previews: remove it, with the "
        "demo CA, before a real deployment.",
    )
    business_ca: Optional[CaMaterial] = Field(
        None,
        alias="businessCa",
        description="Business-plane CA the MindIE Servers issue their certificates from (gen_cert.json); "
        "unset: a self-signed CA per stack.",
    )
    management_ca: Optional[CaMaterial] = Field(
        None,
        alias="managementCa",
        description="CA of the servers' management-plane certificates (gen_management_cert.json); "
        "unset: a self-signed CA per stack.",
    )
    key_passphrase: Optional[Passphrase] = Field(
        None,
        alias="keyPassphrase",
        description="Passphrase of every delivered encrypted key (secret); >= 8 characters, at least two "
        "of lower case, upper case, digit, special. Unset: generated per stack, kept in state.",
    )
    validity_days: IntRange(1, MAX_VALIDITY_DAYS, "days") = Field(  # type: ignore[valid-type]
        MAX_VALIDITY_DAYS,
        alias="validityDays",
        description="Validity of the intermediate and every leaf certificate.",
    )
    early_renewal_days: IntRange(0, 180, "days") = Field(  # type: ignore[valid-type]
        30,
        alias="earlyRenewalDays",
        description="`pulumi up` re-issues a certificate this many days before it expires.",
    )
    ca_validity_days: IntRange(1, 3650, "days") = Field(  # type: ignore[valid-type]
        MAX_VALIDITY_DAYS,
        alias="caValidityDays",
        description="Validity of the self-signed CAs this program creates (stand-in root, business, "
        "management); re-issued with the same key before expiry. Above 365 needs the policy "
        "pack's selfSignedCaMaxHours.",
    )
    key_algorithm: KeyAlgorithm = Field(
        KeyAlgorithm.RSA, alias="keyAlgorithm", description="Key algorithm of every generated key."
    )
    rsa_bits: Literal[3072, 4096] = Field(
        RSA_BITS, alias="rsaBits", description="RSA key size (the seed: 4096)."
    )
    ecdsa_curve: EcdsaCurve = Field(EcdsaCurve.P384, alias="ecdsaCurve", description="Curve when ECDSA.")
    kubeclient_cn: CommonName = Field(  # type: ignore[valid-type]
        "kubeclient",
        alias="kubeclientCn",
        description="CN of the kubeclient certificate = the user the RBAC binding names.",
    )
    sans: SanSettings = Field(default_factory=SanSettings, description="Server certificate SANs.")
    crl: CrlSettings = Field(default_factory=CrlSettings, description="The intermediate's CRL.")

    @model_validator(mode="after")
    def _renewal_inside_validity(self) -> TlsSettings:
        if self.early_renewal_days >= self.validity_days:
            raise ValueError(
                f"earlyRenewalDays = {self.early_renewal_days}: must be less than "
                f"validityDays = {self.validity_days} (or every `pulumi up` would re-issue)"
            )
        return self


SECRET_FIELDS: dict[tuple[str, ...], str] = {
    ("rootCa", "keyPem"): "< ca.key",
    ("businessCa", "keyPem"): "< business-ca.key",
    ("managementCa", "keyPem"): "< management-ca.key",
    ("keyPassphrase",): "'<passphrase>'",
}
"""Key material in `mindie:tls` (path below the key -> how the fix command reads the value)."""


def plaintext_secret_problems(raw_tls: object, secrets: object, key: str = "mindie:tls") -> list[str]:
    """One problem per CA private key or passphrase in `mindie:tls` that was not entered as a
    secret (`pulumi config set --secret --path`).

    `secrets`: the secret config paths. Checked leaf by leaf whenever the leaves are known
    (`mindie:tls.rootCa.keyPem`: mindiectl, or the stack file under the CLI): a plaintext key
    beside a secret sibling is refused. Only when nothing but the top-level key is known (a
    bool, or no leaf path) does a secret `mindie:tls` count for all its leaves. It applies in
    every environment: a plaintext key in a committed dev stack file leaks exactly like one in prod.
    """
    if isinstance(secrets, bool):
        paths = {key} if secrets else set()
    else:
        paths = set(secrets)  # type: ignore[arg-type]
    leaf_known = any(p.startswith(key + ".") for p in paths)
    if not isinstance(raw_tls, dict) or (key in paths and not leaf_known):
        return []
    problems = []
    for path, source in SECRET_FIELDS.items():
        node: object = raw_tls
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            continue
        dotted = f"{key}.{'.'.join(path)}"
        if dotted in paths:
            continue
        what = "a passphrase" if path[-1] == "keyPassphrase" else "a CA private key"
        problems.append(
            f"{dotted}: {what} entered as plain text (it would sit unencrypted in the stack file "
            f"and in state): set it as a secret: pulumi config set --secret --path '{dotted}' {source}"
        )
    return problems
