"""pulumi-tls 5.6.2 offline: keys, CSRs and certificates computed from the actual inputs.

Each function follows what the provider (terraform-provider-tls on Go's crypto/x509) does,
so a wrong input gives a wrong certificate here too:
- PrivateKey: RSA (rsaBits, default 2048), ECDSA (ecdsaCurve, default P224), ED25519;
  `privateKeyPem` is PKCS#1 / SEC1 / PKCS#8 as Go marshals them.
- CertRequest / SelfSignedCert subjects in Go's RDN order (C, ST, L, street, postalCode,
  O, OU, CN, serialNumber), strings as PrintableString when possible.
- Certificates: serial random < 2^128; notBefore = now, notAfter = now + validityPeriodHours;
  allowedUses -> keyUsage (critical) and extendedKeyUsage; basicConstraints critical,
  CA:isCaCertificate; `maxPathLength` 0 means *no* pathlen (Go: MaxPathLen 0 without
  MaxPathLenZero); a CA gets a subject key identifier, as does setSubjectKeyId; the
  authority key identifier is the issuer's SKI unless self-signed (setAuthorityKeyId).
- readyForRenewal: once now >= validityEndTime - earlyRenewalHours the provider plans a
  replacement; the emulator then issues a new certificate, like the next `pulumi up`.

Generated keys and certificates are kept in the offline state (StackState), keyed by the
inputs that force a replacement, so repeated previews give identical bytes.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import ipaddress
import secrets
import threading
from collections.abc import Callable
from typing import Any, Optional

from domain.pki import KEY_USAGES

from .base import Context, Emulated, ResourceCall, emulates

KEY_POOL: Optional[dict[tuple, str]] = None
"""Tests only: when a dict, generated keys are shared per (algorithm, size, resource name)
across the session's stacks and state files (RSA-4096 generation takes ~1 s per key)."""
_POOL_LOCK = threading.Lock()


def now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def go_time_text(moment: _dt.datetime) -> str:
    """A UTC time as Go's time.Time.MarshalText writes it (RFC 3339 with nanoseconds, trailing
    zeros dropped): the provider's validityStartTime/validityEndTime. Found by the engine tier's
    differential test; the provider's source: hashicorp/terraform-provider-tls@1f1283d7
    internal/provider/common_cert.go createCertificate (`template.NotBefore = overridableTimeFunc()`,
    `template.NotBefore.MarshalText()`). The certificate itself holds whole seconds (UTCTime)."""
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


# --- keys --------------------------------------------------------------------------------------


def generate_key_pem(algorithm: str, rsa_bits: int, curve: str) -> str:
    """A new private key as the provider writes `privateKeyPem`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if algorithm == "RSA":
        key: Any = rsa.generate_private_key(65537, rsa_bits)
        fmt = serialization.PrivateFormat.TraditionalOpenSSL
    elif algorithm == "ECDSA":
        curves = {"P224": ec.SECP224R1, "P256": ec.SECP256R1, "P384": ec.SECP384R1, "P521": ec.SECP521R1}
        if curve not in curves:
            raise ValueError(f"tls.PrivateKey: unsupported ecdsaCurve {curve!r}")
        key = ec.generate_private_key(curves[curve]())
        fmt = serialization.PrivateFormat.TraditionalOpenSSL
    elif algorithm == "ED25519":
        key = ed25519.Ed25519PrivateKey.generate()
        fmt = serialization.PrivateFormat.PKCS8
    else:
        raise ValueError(f"tls.PrivateKey: unsupported algorithm {algorithm!r}")
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def _pooled_key(name: str, algorithm: str, rsa_bits: int, curve: str) -> str:
    if KEY_POOL is None:
        return generate_key_pem(algorithm, rsa_bits, curve)
    slot = (algorithm, rsa_bits, curve, name)
    with _POOL_LOCK:
        if slot not in KEY_POOL:
            KEY_POOL[slot] = generate_key_pem(algorithm, rsa_bits, curve)
        return KEY_POOL[slot]


def key_outputs(private_key_pem: str) -> dict[str, Any]:
    """Every output of tls.PrivateKey derived from the key itself."""
    from cryptography.hazmat.primitives import serialization

    key = _load_key(private_key_pem)
    pub = key.public_key()
    pem, plain = serialization.Encoding.PEM, serialization.NoEncryption()
    spki = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    openssh = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    blob = __import__("base64").b64decode(openssh.split()[1])
    md5 = hashlib.md5(blob).hexdigest()  # noqa: S324 - the provider's MD5 fingerprint output
    sha = __import__("base64").b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return {
        "privateKeyPem": private_key_pem,
        "privateKeyPemPkcs8": key.private_bytes(pem, serialization.PrivateFormat.PKCS8, plain).decode(),
        "privateKeyOpenssh": key.private_bytes(pem, serialization.PrivateFormat.OpenSSH, plain).decode(),
        "publicKeyPem": pub.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        "publicKeyOpenssh": openssh + "\n",
        "publicKeyFingerprintMd5": ":".join(md5[i : i + 2] for i in range(0, 32, 2)),
        "publicKeyFingerprintSha256": f"SHA256:{sha}",
        "id": hashlib.sha1(spki).hexdigest(),  # noqa: S324 - the provider's id: hash of the public key
    }


@emulates("tls:index/privateKey:PrivateKey")
def private_key(call: ResourceCall, ctx: Context) -> Emulated:
    algorithm = str(call.inputs.get("algorithm") or "")
    bits = int(call.inputs.get("rsaBits") or 2048)
    curve = str(call.inputs.get("ecdsaCurve") or "P224")
    replace = {"algorithm": algorithm, "rsaBits": bits, "ecdsaCurve": curve}
    outs = ctx.state.reuse(
        call.urn, replace, lambda: key_outputs(_pooled_key(call.name, algorithm, bits, curve))
    )
    outputs = {**call.inputs, "algorithm": algorithm, "rsaBits": bits, "ecdsaCurve": curve, **outs}
    return Emulated(outs["id"], outputs)


# --- names and extensions ------------------------------------------------------------------------


def go_name(subject: Optional[dict[str, Any]]):
    """pkix.Name.ToRDNSequence order and encodings for the provider's `subject` block."""
    from cryptography import x509
    from cryptography.x509.name import _ASN1Type
    from cryptography.x509.oid import NameOID

    subject = subject or {}
    order = [
        ("country", NameOID.COUNTRY_NAME),
        ("province", NameOID.STATE_OR_PROVINCE_NAME),
        ("locality", NameOID.LOCALITY_NAME),
        ("streetAddresses", NameOID.STREET_ADDRESS),
        ("postalCode", NameOID.POSTAL_CODE),
        ("organization", NameOID.ORGANIZATION_NAME),
        ("organizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
        ("commonName", NameOID.COMMON_NAME),
        ("serialNumber", NameOID.SERIAL_NUMBER),
    ]
    printable = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")
    rdns = []
    for key, oid in order:
        value = subject.get(key)
        values = value if isinstance(value, list) else ([value] if value else [])
        for text in values:
            kind = _ASN1Type.PrintableString if set(text) <= printable else _ASN1Type.UTF8String
            rdns.append(x509.RelativeDistinguishedName([x509.NameAttribute(oid, text, _type=kind)]))
    if subject.get("emailAddress"):
        rdns.append(
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(
                        NameOID.EMAIL_ADDRESS, subject["emailAddress"], _type=_ASN1Type.IA5String
                    )
                ]
            )
        )
    return x509.Name(rdns)


def _sans(dns: list[str], ips: list[str], uris: list[str]):
    from cryptography import x509

    names: list[Any] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    names += [x509.UniformResourceIdentifier(u) for u in uris]
    return x509.SubjectAlternativeName(names) if names else None


def _ext_key_usages() -> dict[str, Any]:
    from cryptography.x509.oid import ExtendedKeyUsageOID as E
    from cryptography.x509.oid import ObjectIdentifier

    return {
        "any_extended": E.ANY_EXTENDED_KEY_USAGE,
        "server_auth": E.SERVER_AUTH,
        "client_auth": E.CLIENT_AUTH,
        "code_signing": E.CODE_SIGNING,
        "email_protection": E.EMAIL_PROTECTION,
        "ipsec_end_system": ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
        "ipsec_tunnel": ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
        "ipsec_user": ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
        "timestamping": E.TIME_STAMPING,
        "ocsp_signing": E.OCSP_SIGNING,
        "microsoft_server_gated_crypto": ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
        "netscape_server_gated_crypto": ObjectIdentifier("2.16.840.1.113730.4.1"),
        "microsoft_commercial_code_signing": ObjectIdentifier("1.3.6.1.4.1.311.2.1.22"),
        "microsoft_kernel_code_signing": ObjectIdentifier("1.3.6.1.4.1.311.61.1.1"),
    }


def _load_key(pem: str):
    from cryptography.hazmat.primitives import serialization

    # Keys here were generated by the (emulated) provider or validated as settings; OpenSSL's
    # RSA consistency check costs ~0.25 s per 4096-bit key and would dominate a warm preview.
    return serialization.load_pem_private_key(pem.encode(), None, unsafe_skip_rsa_key_validation=True)


def _sig_hash(key):
    """Go's default signature hash for the signing key (SHA-256 for RSA and P-256)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {384: hashes.SHA384(), 521: hashes.SHA512()}.get(key.curve.key_size, hashes.SHA256())
    return hashes.SHA256()


def key_algorithm(key) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ED25519"
    return "ECDSA" if isinstance(key, ec.EllipticCurvePrivateKey) else "RSA"


def _certificate_options(inputs: dict[str, Any], subject) -> tuple[bool, list[str], Optional[int]]:
    """(is CA, allowed uses, max path length) of the inputs, refused as Go's x509 would refuse them."""
    is_ca = bool(inputs.get("isCaCertificate"))
    uses = [str(u) for u in inputs.get("allowedUses") or []]
    unknown = [u for u in uses if u not in KEY_USAGES and u not in _ext_key_usages()]
    if unknown:
        raise ValueError(f"allowedUses: unsupported value(s) {unknown}")
    max_path = inputs.get("maxPathLength")
    max_path = None if max_path is None else int(max_path)
    if max_path is not None and max_path > 0 and not is_ca:
        raise ValueError("x509: only CAs are allowed to specify MaxPathLen")
    if is_ca and not subject.rdns:
        raise ValueError("Invalid Certificate Subject: must contain at least one Distinguished Name for a CA")
    return is_ca, uses, max_path


def _with_usages(builder, uses: list[str], is_ca: bool, max_path: Optional[int]):
    """Key usage, extended key usage and basic constraints extensions."""
    from cryptography import x509

    flags = {flag: name in uses for name, flag in KEY_USAGES.items()}
    if any(flags.values()):
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    ekus = [_ext_key_usages()[u] for u in uses if u in _ext_key_usages()]
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    # Go: MaxPathLen 0 without MaxPathLenZero (the provider never sets it) encodes "no limit".
    path_len = max_path if is_ca and max_path is not None and max_path > 0 else None
    return builder.add_extension(x509.BasicConstraints(ca=is_ca, path_length=path_len), critical=True)


def _with_key_ids(builder, inputs: dict[str, Any], is_ca: bool, public_key, issuer_cert, self_signed: bool):
    """Subject and authority key identifier extensions."""
    from cryptography import x509

    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    if is_ca or inputs.get("setSubjectKeyId"):
        builder = builder.add_extension(ski, critical=False)
    if self_signed:
        if inputs.get("setAuthorityKeyId"):
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
            )
        return builder
    try:
        parent_ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return builder
    return builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(parent_ski), critical=False
    )


def build_certificate(
    inputs: dict[str, Any], subject, sans, public_key, issuer_cert, signing_key, self_signed: bool
) -> dict[str, Any]:
    """Go's x509.CreateCertificate as the provider's createCertificate drives it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    is_ca, uses, max_path = _certificate_options(inputs, subject)
    start = now()
    end = start + _dt.timedelta(hours=int(inputs.get("validityPeriodHours") or 0))
    serial = secrets.randbelow(2**128) or 1
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if self_signed else issuer_cert.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(end)
    )
    builder = _with_usages(builder, uses, is_ca, max_path)
    builder = _with_key_ids(builder, inputs, is_ca, public_key, issuer_cert, self_signed)
    if sans is not None:
        builder = builder.add_extension(sans, critical=False)
    cert = builder.sign(signing_key, _sig_hash(signing_key))
    return {
        "certPem": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "validityStartTime": go_time_text(start),
        "validityEndTime": go_time_text(end),
        "readyForRenewal": False,
        "id": str(serial),
    }


def _renewing(
    ctx: Context, call: ResourceCall, replace: dict[str, Any], create: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Stored certificate unless a replacing input changed or it is ready for renewal."""
    outs = ctx.state.reuse(call.urn, replace, create)
    early = int(call.inputs.get("earlyRenewalHours") or 0)
    end = _dt.datetime.fromisoformat(outs["validityEndTime"].replace("Z", "+00:00"))
    if now() >= end - _dt.timedelta(hours=early):
        outs = create()  # the provider plans a replacement: readyForRenewal forces it
        ctx.state.store(call.urn, replace, outs)
    return outs


_CERT_REPLACE = ("allowedUses", "validityPeriodHours", "isCaCertificate", "maxPathLength", "setSubjectKeyId")


@emulates("tls:index/certRequest:CertRequest")
def cert_request(call: ResourceCall, ctx: Context) -> Emulated:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    inputs = call.inputs
    key = _load_key(str(inputs["privateKeyPem"]))
    builder = x509.CertificateSigningRequestBuilder().subject_name(go_name(inputs.get("subject")))
    sans = _sans(
        list(inputs.get("dnsNames") or []),
        list(inputs.get("ipAddresses") or []),
        list(inputs.get("uris") or []),
    )
    if sans is not None:
        builder = builder.add_extension(sans, critical=False)
    replace = {k: inputs.get(k) for k in ("privateKeyPem", "subject", "dnsNames", "ipAddresses", "uris")}
    outs = ctx.state.reuse(
        call.urn,
        replace,
        lambda: {
            "certRequestPem": builder.sign(key, _sig_hash(key))
            .public_bytes(serialization.Encoding.PEM)
            .decode()
        },
    )
    csr_id = hashlib.sha1(outs["certRequestPem"].encode()).hexdigest()  # noqa: S324
    return Emulated(csr_id, {**inputs, **outs, "keyAlgorithm": key_algorithm(key)})


@emulates("tls:index/locallySignedCert:LocallySignedCert")
def locally_signed_cert(call: ResourceCall, ctx: Context) -> Emulated:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    inputs = call.inputs
    ca_key = _load_key(str(inputs["caPrivateKeyPem"]))
    ca_cert = x509.load_pem_x509_certificate(str(inputs["caCertPem"]).encode())
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if ca_key.public_key().public_bytes(*fmt) != ca_cert.public_key().public_bytes(*fmt):
        raise ValueError(f"{call.name}: x509: provided PrivateKey doesn't match parent's PublicKey")
    csr = x509.load_pem_x509_csr(str(inputs["certRequestPem"]).encode())
    try:
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        sans = None
    # Go re-encodes the parsed CSR subject in its own RDN order.
    subject = go_name(_subject_block(csr.subject))

    def create() -> dict[str, Any]:
        return build_certificate(inputs, subject, sans, csr.public_key(), ca_cert, ca_key, self_signed=False)

    replace = {k: inputs.get(k) for k in ("certRequestPem", "caCertPem", "caPrivateKeyPem", *_CERT_REPLACE)}
    outs = _renewing(ctx, call, replace, create)
    return Emulated(outs["id"], {**inputs, **outs, "caKeyAlgorithm": key_algorithm(ca_key)})


@emulates("tls:index/selfSignedCert:SelfSignedCert")
def self_signed_cert(call: ResourceCall, ctx: Context) -> Emulated:
    inputs = call.inputs
    key = _load_key(str(inputs["privateKeyPem"]))
    subject = go_name(inputs.get("subject"))
    sans = _sans(
        list(inputs.get("dnsNames") or []),
        list(inputs.get("ipAddresses") or []),
        list(inputs.get("uris") or []),
    )

    def create() -> dict[str, Any]:
        return build_certificate(inputs, subject, sans, key.public_key(), None, key, self_signed=True)

    replace = {
        k: inputs.get(k)
        for k in (
            "privateKeyPem",
            "subject",
            "dnsNames",
            "ipAddresses",
            "uris",
            "setAuthorityKeyId",
            *_CERT_REPLACE,
        )
    }
    outs = _renewing(ctx, call, replace, create)
    return Emulated(outs["id"], {**inputs, **outs, "keyAlgorithm": key_algorithm(key)})


def _subject_block(name) -> dict[str, Any]:
    """A parsed x509.Name back to the provider's subject fields (as Go's pkix.Name holds it)."""
    from cryptography.x509.oid import NameOID

    fields = {
        NameOID.COUNTRY_NAME: "country",
        NameOID.STATE_OR_PROVINCE_NAME: "province",
        NameOID.LOCALITY_NAME: "locality",
        NameOID.POSTAL_CODE: "postalCode",
        NameOID.ORGANIZATION_NAME: "organization",
        NameOID.ORGANIZATIONAL_UNIT_NAME: "organizationalUnit",
        NameOID.COMMON_NAME: "commonName",
        NameOID.SERIAL_NUMBER: "serialNumber",
        NameOID.EMAIL_ADDRESS: "emailAddress",
    }
    block: dict[str, Any] = {}
    for attr in name:
        if attr.oid == NameOID.STREET_ADDRESS:
            block.setdefault("streetAddresses", []).append(attr.value)
        elif attr.oid in fields:
            block[fields[attr.oid]] = attr.value
    return block
