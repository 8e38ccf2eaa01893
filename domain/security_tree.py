"""The seed's `security/` tree: an identity's CA Secret keys and where each file lands.

The CA component issues one Kubernetes Secret per identity (`mindie-tls-<identity>`) with the keys
below; every MindIE Motor process (ms-server, Coordinator, Controller, http_client_ctl) reads them
from the seed's tree inside that identity's directory: ca/, certs/, keys/, pass/.

    <identity dir>/ca/ca.pem            the CA its peer's certificate chains to
    <identity dir>/certs/cert.pem       its certificate (+ the issuing CA)
    <identity dir>/keys/cert.key.pem    its key (AES-256 encrypted, except PLAIN_KEY_IDENTITIES)
    <identity dir>/pass/key_pwd.txt     the key's passphrase (plain text: Motor's DecryptPassword)
    <identity dir>/ca/crl.pem           the issuing CA's CRL

Use: `secret_keys(identity)` for a Secret volume's items, `tree(identity)` for what to stage where,
`tls_items(identity_dir)` for a Motor config's `*_tls_items` block pointing at a staged tree.
"""

CA_CERT = "ca.pem"
CERT = "cert.pem"
KEY = "cert.key.pem"
KEY_PASSWORD = "key_pwd.txt"
CRL = "crl.pem"

TREE: tuple[tuple[str, str], ...] = (
    (CA_CERT, "ca/ca.pem"),
    (CERT, "certs/cert.pem"),
    (KEY, "keys/cert.key.pem"),
    (KEY_PASSWORD, "pass/key_pwd.txt"),
    (CRL, "ca/crl.pem"),
)
"""Secret key -> path inside an identity's directory, in the Secret's key order."""

PLAIN_KEY_IDENTITIES = ("mindieserver", "mindieserver-mgmt")
"""Keys MindIE-LLM loads without a password (http_ssl.cpp LoadPrivateKey at 8b4871a): no key_pwd.txt."""


def secret_keys(identity: str) -> tuple[str, ...]:
    """The keys of `identity`'s Secret."""
    return tuple(key for key, _ in tree(identity))


def tree(identity: str, crl: bool = True) -> tuple[tuple[str, str], ...]:
    """(Secret key, path inside the identity's directory) for each file `identity`'s Secret holds;
    `crl` False leaves the CRL out (a reader that never checks one)."""
    skip = {KEY_PASSWORD} if identity in PLAIN_KEY_IDENTITIES else set()
    if not crl:
        skip.add(CRL)
    return tuple((key, path) for key, path in TREE if key not in skip)


def path(identity_dir: str, key: str) -> str:
    """Where Secret key `key` lands below `identity_dir`."""
    return f"{identity_dir}/{dict(TREE)[key]}"


def tls_items(identity_dir: str, crl: bool = True) -> dict[str, str]:
    """A MindIE Motor `*_tls_items` block for the tree at `identity_dir`.

    `crl` False: `tls_crl` is "" (no CRL check, for a peer whose issuer is not the one whose CRL the
    Secret carries: an OpenSSL CRL check with the wrong issuer's CRL fails every handshake).
    No kmcKsf* keys: Motor at 28a7e9f reads tls_passwd as plain text (ConfigParams.cpp DecryptPassword).
    """
    return {
        "ca_cert": path(identity_dir, CA_CERT),
        "tls_cert": path(identity_dir, CERT),
        "tls_key": path(identity_dir, KEY),
        "tls_passwd": path(identity_dir, KEY_PASSWORD),
        "tls_crl": path(identity_dir, CRL) if crl else "",
    }
