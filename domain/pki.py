"""The seed's certificate policy: who the intermediate CA is, key size, validity."""

ORGANIZATION = "msgroup"
INTERMEDIATE_CN = "mindiems"
"""The only intermediate CA name the ms components accept (the seed: CN=mindiems, O=msgroup)."""
INTERMEDIATE_SUBJECT = {"commonName": INTERMEDIATE_CN, "organization": ORGANIZATION}
"""The intermediate's subject in pulumi-tls' spelling (CertRequest `subject`)."""

RSA_BITS = 4096
"""The seed's key size (openssl genrsa 4096)."""
MAX_VALIDITY_DAYS = 365
"""The seed's openssl -days 365: the longest an issued certificate may live."""
MAX_VALIDITY_HOURS = MAX_VALIDITY_DAYS * 24

CA_KEY_USAGES = {
    "digital_signature": "digital_signature",
    "content_commitment": "content_commitment",
    "key_encipherment": "key_encipherment",
    "data_encipherment": "data_encipherment",
    "key_agreement": "key_agreement",
    "cert_signing": "key_cert_sign",
    "crl_signing": "crl_sign",
}
"""pulumi-tls `allowed_uses` names -> the field of cryptography's `x509.KeyUsage` each sets, for what
a CA signs (the intermediate CA's material, components/ca_material.py)."""
KEY_USAGES = {**CA_KEY_USAGES, "encipher_only": "encipher_only", "decipher_only": "decipher_only"}
"""Every key usage pulumi-tls accepts (mindiectl's TLS emulator): encipher/decipher-only qualify
key_agreement and are never a CA's."""

REVOCATION_REASONS = (
    ("UNSPECIFIED", "unspecified", None),
    ("KEY_COMPROMISE", "keyCompromise", "key_compromise"),
    ("CA_COMPROMISE", "cACompromise", "ca_compromise"),
    ("AFFILIATION_CHANGED", "affiliationChanged", "affiliation_changed"),
    ("SUPERSEDED", "superseded", "superseded"),
    ("CESSATION_OF_OPERATION", "cessationOfOperation", "cessation_of_operation"),
    ("CERTIFICATE_HOLD", "certificateHold", "certificate_hold"),
    ("PRIVILEGE_WITHDRAWN", "privilegeWithdrawn", "privilege_withdrawn"),
)
"""RFC 5280 5.3.1 CRLReason (removeFromCRL belongs to delta CRLs only): (enum member, the name a
stack writes, cryptography's `x509.ReasonFlags` attribute). `unspecified` writes no reasonCode: RFC
5280 recommends omitting it."""
