"""Dynamic resources for the CA material pulumi-tls cannot produce.

- `EncryptedKey`: a private key delivered AES-256 encrypted (PKCS#8, PBES2/AES-256-CBC),
  as the seed's `openssl genrsa -aes256` delivers it; re-encrypted when key or passphrase change.
- `Crl`: a CRL signed by a CA, listing revoked serials; re-issued (CRL number + 1) when the
  list or the CA changes, or when `pulumi up` runs within `renew_before_hours` of nextUpdate.
- `CaCert`: a CA certificate signed from a CSR with an exact path length. pulumi-tls 5.6.2
  cannot emit `pathlen:0`: it sets Go's `x509.Certificate.MaxPathLen = 0` without
  `MaxPathLenZero`, which Go encodes as "no limit".
- `Passphrase`: a generated passphrase meeting the seed's rule, kept in state.

These are real Pulumi resources: `pulumi up` runs the providers below in Pulumi's Python
dynamic-provider host, which unpickles them with dill. dill pickles these classes by
reference, so this module must stay importable from the project directory (the host's
working directory) and free of import side effects (it declares no resources; of the project it
imports only `domain`, the standard-library facts). Offline,
`mindiectl.emulators.dynamic` unpickles the very same provider the same way and calls it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import secrets
import string
from typing import Any, Optional

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from domain.hashing import sha256_hex
from domain.passphrase import PASSPHRASE_RULE, passphrase_problem
from domain.pki import CA_KEY_USAGES, REVOCATION_REASONS

RFC3339 = "%Y-%m-%dT%H:%M:%SZ"


def now() -> _dt.datetime:
    """The providers' clock (UTC, whole seconds). Tests move it to exercise renewal."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0)


def _time(text: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _load_key(pem: str):
    from cryptography.hazmat.primitives import serialization

    # The keys come from pulumi-tls outputs or validated settings; OpenSSL's RSA consistency
    # check costs ~0.25 s per 4096-bit key on every `pulumi up`.
    return serialization.load_pem_private_key(pem.encode(), None, unsafe_skip_rsa_key_validation=True)


def _load_cert(pem: str):
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem.encode())


def _spki(public_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _hash_for(key):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _check_ca(cert_pem: str, key_pem: str) -> tuple[Any, Any]:
    cert, key = _load_cert(cert_pem), _load_key(key_pem)
    if _spki(cert.public_key()) != _spki(key.public_key()):
        raise ValueError("CA private key does not match the CA certificate")
    return cert, key


def _aki(issuer_cert):
    from cryptography import x509

    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key())


# --- EncryptedKey ------------------------------------------------------------------------------


def encrypt_key(private_key_pem: str, passphrase: str) -> str:
    """PKCS#8 EncryptedPrivateKeyInfo, PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC): what
    `openssl genrsa -aes256` writes with OpenSSL 3, readable by every OpenSSL since 1.0."""
    from cryptography.hazmat.primitives import serialization

    return (
        _load_key(private_key_pem)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase.encode()),
        )
        .decode()
    )


class EncryptedKeyProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        if passphrase_problem(str(news.get("passphrase") or "")) is None:
            return CheckResult(news, [])
        # The engine prints check failures: say the rule, nothing about the secret (not even its length).
        return CheckResult(news, [CheckFailure("passphrase", f"does not meet the rule: {PASSPHRASE_RULE}")])

    def _outs(self, props: dict[str, Any]) -> dict[str, Any]:
        key = _load_key(props["private_key_pem"])
        return {
            "private_key_pem": props["private_key_pem"],
            "passphrase": props["passphrase"],
            "encrypted_key_pem": encrypt_key(props["private_key_pem"], props["passphrase"]),
            "public_key_sha256": hashlib.sha256(_spki(key.public_key())).hexdigest(),
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._outs(props)
        return CreateResult(f"key-{outs['public_key_sha256'][:32]}", outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("private_key_pem", "passphrase") if olds.get(k) != news.get(k)]
        if not olds.get("encrypted_key_pem"):
            changed.append("encrypted_key_pem")
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._outs(news))


class EncryptedKey(Resource, module="mindie", name="EncryptedKey"):
    """`private_key_pem` encrypted under `passphrase`; all three are secret."""

    encrypted_key_pem: pulumi.Output[str]
    public_key_sha256: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        private_key_pem: pulumi.Input[str],
        passphrase: pulumi.Input[str],
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        props = {
            "private_key_pem": pulumi.Output.secret(private_key_pem),
            "passphrase": pulumi.Output.secret(passphrase),
            "encrypted_key_pem": None,
            "public_key_sha256": None,
        }
        # All three declared: a policy pack sees only declared secret outputs, not that an input was
        # an Output.secret (the real engine's `secrets-key-material` check found this; docs/engine.md).
        opts = pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                additional_secret_outputs=["private_key_pem", "passphrase", "encrypted_key_pem"]
            ),
        )
        super().__init__(EncryptedKeyProvider(), name, props, opts)


# --- Crl ---------------------------------------------------------------------------------------


def _reason_flag(reason: str):
    """cryptography's ReasonFlags for a revocation reason; None for unspecified (no reasonCode)."""
    from cryptography import x509

    flags = {name: flag for _, name, flag in REVOCATION_REASONS}
    if reason not in flags:
        raise ValueError(f"unknown revocation reason {reason!r} (one of {', '.join(flags)})")
    return getattr(x509.ReasonFlags, flags[reason]) if flags[reason] else None


def serial_hex(number: int) -> str:
    return f"{number:X}"


class CrlProvider(ResourceProvider):
    """A v2 CRL with CRL number and authority key identifier, signed by the CA."""

    def _issue(self, props: dict[str, Any], number: int, first_seen: dict[str, str]) -> dict[str, Any]:
        from cryptography import x509

        ca_cert, ca_key = _check_ca(props["ca_cert_pem"], props["ca_private_key_pem"])
        issued = now()
        next_update = issued + _dt.timedelta(hours=int(props["next_update_hours"]))
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(issued)
            .next_update(next_update)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(_aki(ca_cert), critical=False)
        )
        seen: dict[str, str] = {}
        for entry in props.get("revoked") or []:
            serial = int(str(entry["serial"]).lower().removeprefix("0x").replace(":", ""), 16)
            key = serial_hex(serial)
            when = entry.get("revoked_at") or first_seen.get(key) or issued.strftime(RFC3339)
            seen[key] = when
            revoked = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(_time(when))
            flag = _reason_flag(str(entry.get("reason") or "unspecified"))
            if flag is not None:
                revoked = revoked.add_extension(x509.CRLReason(flag), critical=False)
            builder = builder.add_revoked_certificate(revoked.build())
        crl = builder.sign(ca_key, _hash_for(ca_key))
        from cryptography.hazmat.primitives import serialization

        return {
            **{
                k: props[k]
                for k in (
                    "ca_cert_pem",
                    "ca_private_key_pem",
                    "revoked",
                    "next_update_hours",
                    "renew_before_hours",
                )
            },
            "crl_pem": crl.public_bytes(serialization.Encoding.PEM).decode(),
            "crl_number": number,
            "this_update": issued.strftime(RFC3339),
            "next_update": next_update.strftime(RFC3339),
            "revoked_at": seen,
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._issue(props, 1, {})
        return CreateResult(f"crl-{sha256_hex(props['ca_cert_pem'])[:16]}", outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("ca_cert_pem", "ca_private_key_pem", "revoked", "next_update_hours", "renew_before_hours")
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        if olds.get("next_update"):
            renew_at = _time(olds["next_update"]) - _dt.timedelta(hours=int(news["renew_before_hours"]))
            if now() >= renew_at:
                changed.append("next_update")
        else:
            changed.append("crl_pem")
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        number = int(olds.get("crl_number") or 0) + 1
        return UpdateResult(self._issue(news, number, dict(olds.get("revoked_at") or {})))


def _declare_key_secret(opts: Optional[pulumi.ResourceOptions]) -> pulumi.ResourceOptions:
    """Declare the CA key secret, not only pass it as Output.secret: a policy pack is told only the
    declared secret outputs (the real engine's `secrets-key-material` check found this; docs/engine.md)."""
    return pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(additional_secret_outputs=["ca_private_key_pem"])
    )


class Crl(Resource, module="mindie", name="Crl"):
    """The CRL of a CA (`crl_pem`), re-issued before `next_update` by `pulumi up`."""

    crl_pem: pulumi.Output[str]
    crl_number: pulumi.Output[int]
    this_update: pulumi.Output[str]
    next_update: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        ca_cert_pem: pulumi.Input[str],
        ca_private_key_pem: pulumi.Input[str],
        revoked: list[dict[str, Any]],
        next_update_hours: int,
        renew_before_hours: int,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        props = {
            "ca_cert_pem": ca_cert_pem,
            "ca_private_key_pem": pulumi.Output.secret(ca_private_key_pem),
            "revoked": revoked,
            "next_update_hours": next_update_hours,
            "renew_before_hours": renew_before_hours,
            "crl_pem": None,
            "crl_number": None,
            "this_update": None,
            "next_update": None,
            "revoked_at": None,
        }
        super().__init__(CrlProvider(), name, props, _declare_key_secret(opts))


# --- CaCert ------------------------------------------------------------------------------------


class CaCertProvider(ResourceProvider):
    """Signs a CA certificate: subject and key from the CSR; CA:TRUE with an exact pathlen."""

    REPLACE_ON = (
        "cert_request_pem",
        "ca_cert_pem",
        "ca_private_key_pem",
        "validity_period_hours",
        "max_path_length",
        "allowed_uses",
    )

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = [
            CheckFailure("allowed_uses", f"unsupported key usage {u!r}")
            for u in news.get("allowed_uses") or []
            if u not in CA_KEY_USAGES
        ]
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        ca_cert, ca_key = _check_ca(props["ca_cert_pem"], props["ca_private_key_pem"])
        csr = x509.load_pem_x509_csr(props["cert_request_pem"].encode())
        if not csr.is_signature_valid:
            raise ValueError("certificate request signature is invalid")
        start = now()
        end = start + _dt.timedelta(hours=int(props["validity_period_hours"]))
        uses = set(props.get("allowed_uses") or [])
        flags = {flag: name in uses for name, flag in CA_KEY_USAGES.items()}
        serial = x509.random_serial_number()
        cert = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(ca_cert.subject)
            .public_key(csr.public_key())
            .serial_number(serial)
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(
                x509.BasicConstraints(ca=True, path_length=int(props["max_path_length"])), critical=True
            )
            .add_extension(x509.KeyUsage(encipher_only=False, decipher_only=False, **flags), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False)
            .add_extension(_aki(ca_cert), critical=False)
            .sign(ca_key, _hash_for(ca_key))
        )
        outs = {
            **{k: props[k] for k in (*self.REPLACE_ON, "early_renewal_hours")},
            "cert_pem": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "serial": serial_hex(serial),
            "validity_start_time": start.strftime(RFC3339),
            "validity_end_time": end.strftime(RFC3339),
            "ready_for_renewal": False,
        }
        return CreateResult(str(serial), outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in self.REPLACE_ON if olds.get(k) != news.get(k)]
        if olds.get("validity_end_time"):
            renew_at = _time(olds["validity_end_time"]) - _dt.timedelta(
                hours=int(news.get("early_renewal_hours") or 0)
            )
            if now() >= renew_at:
                replaces.append("ready_for_renewal")
        changes = bool(replaces) or olds.get("early_renewal_hours") != news.get("early_renewal_hours")
        return DiffResult(changes=changes, replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult({**olds, "early_renewal_hours": news.get("early_renewal_hours")})


class CaCert(Resource, module="mindie", name="CaCert"):
    """A subordinate CA certificate with basicConstraints CA:TRUE, pathlen `max_path_length`."""

    cert_pem: pulumi.Output[str]
    serial: pulumi.Output[str]
    validity_start_time: pulumi.Output[str]
    validity_end_time: pulumi.Output[str]
    ready_for_renewal: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        cert_request_pem: pulumi.Input[str],
        ca_cert_pem: pulumi.Input[str],
        ca_private_key_pem: pulumi.Input[str],
        validity_period_hours: int,
        early_renewal_hours: int,
        max_path_length: int,
        allowed_uses: list[str],
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        props = {
            "cert_request_pem": cert_request_pem,
            "ca_cert_pem": ca_cert_pem,
            "ca_private_key_pem": pulumi.Output.secret(ca_private_key_pem),
            "validity_period_hours": validity_period_hours,
            "early_renewal_hours": early_renewal_hours,
            "max_path_length": max_path_length,
            "allowed_uses": allowed_uses,
            "cert_pem": None,
            "serial": None,
            "validity_start_time": None,
            "validity_end_time": None,
            "ready_for_renewal": None,
        }
        super().__init__(CaCertProvider(), name, props, _declare_key_secret(opts))


# --- Passphrase --------------------------------------------------------------------------------

SPECIALS = "!#%+,-.:=@^_~"


def generate_passphrase(length: int) -> str:
    """Random, with lower, upper, digit and special characters (the seed's rule, all four)."""
    alphabet = string.ascii_letters + string.digits + SPECIALS
    while True:
        text = "".join(secrets.choice(alphabet) for _ in range(length))
        if all(
            any(c in group for c in text)
            for group in (string.ascii_lowercase, string.ascii_uppercase, string.digits, SPECIALS)
        ):
            return text


class PassphraseProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        result = generate_passphrase(int(props["length"]))
        return CreateResult(f"passphrase-{secrets.token_hex(8)}", {**props, "result": result})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in ("length", "keepers") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)


class Passphrase(Resource, module="mindie", name="Passphrase"):
    """A generated passphrase (`result`, secret), stable until `length` or `keepers` change."""

    result: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        length: int = 24,
        keepers: Optional[dict[str, str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        props = {"length": length, "keepers": keepers or {}, "result": None}
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["result"])
        )
        super().__init__(PassphraseProvider(), name, props, opts)
