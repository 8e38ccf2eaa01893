"""Write the CA chain a preview computed under build/<stack>/tls/ (for mindiectl/artefacts.py).

    tls/root/cert.pem [key.pem]          the cluster root (key only for the dev stand-in)
    tls/intermediate/{cert,key,cert.key}.pem
    tls/crl.pem                          the intermediate's CRL
    tls/business-ca/, tls/management-ca/ {cert.pem, crl.pem[, key.pem, cert.key.pem]}
    tls/<identity>/cert.pem              the leaf alone
                  /chain.pem             leaf + issuing CA (the Secret's cert.pem)
                  /key.pem, cert.key.pem plain and AES-256 encrypted key
                  /key_pwd.txt, ca.pem, crl.pem

Everything is taken from what the run recorded (the same bytes the Secrets carry), so
`openssl verify` on these files checks what `pulumi up` would deploy. Files holding keys
or passphrases are 0600, directories 0700.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from .runtime import Resource, RunResult
from .safefs import atomic_write, make_private_dirs

CA_TYPE = "mindie:ca:CertificateAuthority"
SECRET_FILES = ("key.pem", "cert.key.pem", "key_pwd.txt")


def _write(path: Path, text: Optional[Any]) -> None:
    if not isinstance(text, str) or not text:
        return
    make_private_dirs(path.parent)  # every folder below out/ 0700, whatever the umask
    atomic_write(path, text, mode=0o600 if path.name in SECRET_FILES else 0o644)


def write_tls(result: RunResult, out: Path) -> None:
    authorities = result.by_type(CA_TYPE)
    for ca in authorities:
        folder = out / "tls" if len(authorities) == 1 else out / "tls" / ca.name
        kids: dict[str, Resource] = {
            r.name[len(ca.name) + 1 :]: r for r in result.resources if r.parent == ca.urn
        }

        def out_of(suffix: str, key: str, kids: dict[str, Resource] = kids) -> Optional[Any]:
            r = kids.get(suffix)
            return None if r is None else r.outputs.get(key)

        root_dir = folder / "root"
        if "root-cert" in kids:
            _write(root_dir / "cert.pem", out_of("root-cert", "certPem"))
            _write(root_dir / "key.pem", out_of("root-key", "privateKeyPem"))
        else:
            cert = out_of("intermediate-cert", "ca_cert_pem")
            _write(root_dir / "cert.pem", cert)
        _write(folder / "intermediate" / "cert.pem", out_of("intermediate-cert", "cert_pem"))
        _write(folder / "intermediate" / "key.pem", out_of("intermediate-key", "privateKeyPem"))
        _write(folder / "intermediate" / "cert.key.pem", out_of("intermediate-key-enc", "encrypted_key_pem"))
        _write(folder / "crl.pem", out_of("crl", "crl_pem"))
        for plane in ("business-ca", "management-ca"):
            _write(
                folder / plane / "cert.pem",
                out_of(f"{plane}-cert", "certPem") or out_of(f"{plane}-crl", "ca_cert_pem"),
            )
            _write(folder / plane / "crl.pem", out_of(f"{plane}-crl", "crl_pem"))
            _write(folder / plane / "key.pem", out_of(f"{plane}-key", "privateKeyPem"))
            _write(folder / plane / "cert.key.pem", out_of(f"{plane}-key-enc", "encrypted_key_pem"))
        for suffix, secret in kids.items():
            if not suffix.endswith("-secret") or suffix == "server-ca-secret":
                continue
            identity = suffix[: -len("-secret")]
            data = secret.inputs.get("stringData") or {}
            target = folder / identity
            _write(target / "cert.pem", out_of(f"{identity}-cert", "certPem"))
            _write(target / "chain.pem", data.get("cert.pem"))
            _write(target / "key.pem", out_of(f"{identity}-key", "privateKeyPem"))
            for name in ("cert.key.pem", "key_pwd.txt", "ca.pem", "crl.pem"):
                _write(target / name, data.get(name))
