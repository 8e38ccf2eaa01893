"""The CA chain (issue 3): real certificates checked with openssl and cryptography."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components import staging
from components.ca import CLUSTER_IDENTITIES, IDENTITIES, PLAIN_KEY_IDENTITIES, PLANE_OF
from domain import security_tree
from mindiectl import artefacts, stackfile
from mindiectl.runtime import PROJECT_DIR, RunResult, run_program
from mindiectl.state import StackState
from stacks.settings.errors import SettingsError
from stacks.settings.stack import load_settings

from .helpers import Secret

CA = "mindie-ca"
SECRET = "kubernetes:core/v1:Secret"
TLS_LSC = "tls:index/locallySignedCert:LocallySignedCert"
DYN = "pulumi-python:dynamic/mindie:"


def cert_of(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def child(result: RunResult, suffix: str, type_: str | None = None):
    found = [r for r in result.resources if r.name == f"{CA}-{suffix}" and (type_ is None or r.type == type_)]
    assert len(found) == 1, suffix
    return found[0]


def secret_data(result: RunResult, identity: str) -> dict[str, str]:
    return child(result, f"{identity}-secret", SECRET).inputs["stringData"]


def openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def dev(session_state) -> RunResult:
    cfg = stackfile.load("dev")
    return run_program("dev", dict(cfg.config), cfg.secret_keys, session_state("dev"))


@pytest.fixture
def fresh(tmp_path: Path):
    """fresh(tls_overrides=None): run dev with a state of its own (the shared one stays as is)."""
    state = StackState(tmp_path / "fresh-state.json")

    def run(tls: dict | None = None) -> RunResult:
        cfg = stackfile.load("dev")
        config = dict(cfg.config)
        secret = list(cfg.secret_keys)
        if tls is not None:  # entered as `pulumi config set --secret --path 'mindie:tls...'`
            config["mindie:tls"] = json.dumps(tls)
            secret.append("mindie:tls")
        return run_program("dev", config, secret, state)

    return run


@pytest.fixture(scope="module")
def dev_files(dev, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dev") / "out"
    artefacts.write_all(dev, out)
    return out / "tls"


# --- what openssl accepts ------------------------------------------------------------------------


@pytest.mark.parametrize("identity", CLUSTER_IDENTITIES)
def test_openssl_x509_strict_accepts_every_cluster_leaf(dev_files: Path, identity: str):
    done = openssl(
        "verify",
        "-x509_strict",
        "-CAfile",
        "root/cert.pem",
        "-untrusted",
        "intermediate/cert.pem",
        f"{identity}/cert.pem",
        cwd=dev_files,
    )
    assert done.returncode == 0 and done.stdout.strip() == f"{identity}/cert.pem: OK", done.stderr


def test_openssl_accepts_the_secret_chain_as_shipped(dev_files: Path):
    # cert.pem of the Secret is leaf + intermediate, ca.pem the root: what the components load.
    done = openssl(
        "verify",
        "-x509_strict",
        "-CAfile",
        "msserver/ca.pem",
        "-untrusted",
        "msserver/chain.pem",
        "msserver/cert.pem",
        cwd=dev_files,
    )
    assert done.returncode == 0, done.stderr


def test_openssl_accepts_mindieclient_against_the_business_ca(dev_files: Path):
    done = openssl(
        "verify", "-x509_strict", "-CAfile", "business-ca/cert.pem", "mindieclient/cert.pem", cwd=dev_files
    )
    assert done.returncode == 0, done.stderr


def test_openssl_verifies_the_crl_against_the_intermediate(dev_files: Path):
    done = openssl(
        "crl", "-in", "crl.pem", "-noout", "-verify", "-CAfile", "intermediate/cert.pem", cwd=dev_files
    )
    assert done.returncode == 0 and "verify OK" in done.stderr + done.stdout
    wrong = openssl("crl", "-in", "crl.pem", "-noout", "-verify", "-CAfile", "root/cert.pem", cwd=dev_files)
    assert "verify OK" not in wrong.stderr + wrong.stdout


def test_openssl_rejects_a_leaf_with_keycertsign_like_the_seeds(dev_files: Path, tmp_path: Path):
    """The seed's leaf profile (CA:false + keyCertSign) fails -x509_strict: why we deviate."""
    inter = cert_of((dev_files / "intermediate/cert.pem").read_text())
    key = serialization.load_pem_private_key((dev_files / "intermediate/key.pem").read_bytes(), None)
    leaf_key = serialization.load_pem_private_key((dev_files / "msserver/key.pem").read_bytes(), None)
    now = dt.datetime.now(dt.UTC)
    bad = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .issuer_name(inter.subject)
        .public_key(leaf_key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, False, False, False), critical=True
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(inter.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "bad.pem").write_bytes(bad.public_bytes(serialization.Encoding.PEM))
    done = openssl(
        "verify",
        "-x509_strict",
        "-CAfile",
        str(dev_files / "root/cert.pem"),
        "-untrusted",
        str(dev_files / "intermediate/cert.pem"),
        str(tmp_path / "bad.pem"),
        cwd=tmp_path,
    )
    assert done.returncode != 0


# --- certificate contents --------------------------------------------------------------------------


def test_intermediate_is_mindiems_with_pathlen_zero(dev: RunResult):
    cert = cert_of(child(dev, "intermediate-cert").outputs["cert_pem"])
    root = cert_of(child(dev, "root-cert").outputs["certPem"])
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "mindiems"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "msgroup"
    assert len(cert.subject) == 2 and cert.issuer == root.subject
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.key_encipherment
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert (
        aki.key_identifier == root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    )
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert cert.public_key().key_size == 4096
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=365)


EKU = {
    "msserver": [ExtendedKeyUsageOID.SERVER_AUTH],
    "kubeclient": [ExtendedKeyUsageOID.CLIENT_AUTH],
    "msclientuser": [ExtendedKeyUsageOID.CLIENT_AUTH],
    "coordinator": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    "controller": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    "mindieclient": [ExtendedKeyUsageOID.CLIENT_AUTH],
    "mindieserver": [ExtendedKeyUsageOID.SERVER_AUTH],
    "mindieserver-mgmt": [ExtendedKeyUsageOID.SERVER_AUTH],
    "mindieclient-mgmt": [ExtendedKeyUsageOID.CLIENT_AUTH],
}
ISSUER = {"cluster": "intermediate-cert", "business": "business-ca-cert", "management": "management-ca-cert"}


@pytest.mark.parametrize("identity", IDENTITIES)
def test_leaf_profile(dev: RunResult, identity: str):
    cert = cert_of(child(dev, f"{identity}-cert").outputs["certPem"])
    issuer_name = ISSUER[PLANE_OF[identity]]
    issuer_res = child(dev, issuer_name)
    issuer = cert_of(issuer_res.outputs.get("cert_pem") or issuer_res.outputs["certPem"])
    assert cert.subject.rfc4514_string() == f"CN={identity},O=msgroup"  # Go's order: O then CN
    assert cert.issuer == issuer.subject
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca and bc.value.path_length is None
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment
    assert not ku.key_cert_sign and not ku.crl_sign  # RFC 5280: not on CA:false (the seed's deviation)
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == EKU[identity]
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert (
        aki.key_identifier
        == issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    )
    assert cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert cert.public_key().key_size == 4096
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=365)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)


def test_server_certificates_name_the_in_cluster_services(dev: RunResult):
    cert = cert_of(child(dev, "msserver-cert").outputs["certPem"])
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )
    assert names == [
        "ms-server",
        "ms-server.mindie",
        "ms-server.mindie.svc",
        "ms-server.mindie.svc.cluster.local",
    ]
    kube = cert_of(child(dev, "kubeclient-cert").outputs["certPem"])
    with pytest.raises(x509.ExtensionNotFound):
        kube.extensions.get_extension_for_class(x509.SubjectAlternativeName)


@pytest.mark.parametrize("identity", IDENTITIES)
def test_secret_layout_and_chain_order(dev: RunResult, identity: str):
    data = secret_data(dev, identity)
    plain = identity in PLAIN_KEY_IDENTITIES
    expected = ["ca.pem", "cert.pem", "cert.key.pem", "crl.pem"] + ([] if plain else ["key_pwd.txt"])
    assert sorted(data) == sorted(expected)
    chain = x509.load_pem_x509_certificates(data["cert.pem"].encode())
    leaf = cert_of(child(dev, f"{identity}-cert").outputs["certPem"])
    assert chain[0] == leaf and len(chain) == 2 and chain[1].subject == leaf.issuer
    anchors = x509.load_pem_x509_certificates(data["ca.pem"].encode())
    # ca.pem: exactly the CA of the peer (a plane identity's peers are issued by its own plane CA).
    plane = PLANE_OF[identity]
    anchor = {"cluster": "root-cert", "business": "business-ca-cert", "management": "management-ca-cert"}
    anchor = anchor[plane]
    assert anchors == [cert_of(child(dev, anchor).outputs["certPem"])]
    assert data["crl.pem"].count("BEGIN X509 CRL") == 1
    # MindIE-LLM 8b4871a loads the server keys without a password (http_ssl.cpp LoadPrivateKey).
    assert ("ENCRYPTED" in data["cert.key.pem"]) is not plain
    secret = child(dev, f"{identity}-secret", SECRET)
    assert secret.inputs["type"] == "Opaque"
    assert secret.inputs["metadata"]["labels"]["app.kubernetes.io/component"] == "ca"


def test_no_ca_private_key_leaves_the_state(dev: RunResult):
    """The seed mounted both plane CA keys into every server pod for gen_cert; now no Secret holds one."""
    assert not [r for r in dev.resources if r.name.endswith("server-ca-secret")]
    ca_keys = [
        child(dev, f"{kind}-key").outputs["privateKeyPem"] for kind in ("business-ca", "management-ca")
    ]
    for r in dev.resources:
        if r.type == SECRET:
            for value in (r.inputs.get("stringData") or {}).values():
                assert all(key.strip() not in value for key in ca_keys)


def test_encrypted_key_decrypts_with_the_passphrase_and_not_without(dev: RunResult):
    data = secret_data(dev, "msserver")
    assert data["cert.key.pem"].startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    plain = child(dev, "msserver-key").outputs["privateKeyPem"]
    key = serialization.load_pem_private_key(data["cert.key.pem"].encode(), data["key_pwd.txt"].encode())
    expected = serialization.load_pem_private_key(plain.encode(), None)
    assert key.private_numbers() == expected.private_numbers()
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(data["cert.key.pem"].encode(), None)
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(data["cert.key.pem"].encode(), b"Wrong-Passphrase-1")


def test_encryption_is_aes256_pbes2(dev_files: Path):
    done = openssl("asn1parse", "-in", "msserver/cert.key.pem", cwd=dev_files)
    assert "PBES2" in done.stdout and "aes-256-cbc" in done.stdout and "hmacWithSHA256" in done.stdout


def test_generated_passphrase_meets_the_seeds_rule(dev: RunResult):
    from domain.passphrase import passphrase_problem

    text = secret_data(dev, "kubeclient")["key_pwd.txt"]
    assert len(text) == 24 and passphrase_problem(text) is None


# --- secrets, outputs, lifecycle -------------------------------------------------------------------


def test_key_material_is_secret_everywhere(dev: RunResult, dev_files: Path):
    for identity in IDENTITIES:
        secret = child(dev, f"{identity}-secret", SECRET)
        assert {"stringData"} <= set(secret.secret_inputs) or {
            f"stringData.{k}" for k in secret.inputs["stringData"]
        } <= set(secret.secret_inputs)
        assert "privateKeyPem" in child(dev, f"{identity}-key").secret_outputs
        if identity in PLAIN_KEY_IDENTITIES:
            continue  # delivered unencrypted (MindIE-LLM 8b4871a); the Secret value is secret (above)
        enc = child(dev, f"{identity}-key-enc")
        assert {"encrypted_key_pem", "private_key_pem", "passphrase"} <= set(enc.secret_outputs)
    assert "caPrivateKeyPem" in child(dev, "msserver-cert").secret_inputs
    written = (dev_files.parent / "resources.json").read_text() + (
        dev_files.parent / "outputs.json"
    ).read_text()
    written += "".join(p.read_text() for p in (dev_files.parent / "manifests").glob("*.yaml"))
    assert "PRIVATE KEY" not in written and "[secret]" in written
    assert secret_data(dev, "msserver")["key_pwd.txt"] not in written
    for f in dev_files.rglob("*"):
        if f.name in ("key.pem", "cert.key.pem", "key_pwd.txt"):
            assert f.stat().st_mode & 0o777 == 0o600, f


def test_stack_outputs(dev: RunResult, fresh):
    out = dev.outputs
    assert out["kubeclientCn"] == "kubeclient"
    assert out["tlsRootCa"].startswith("stand-in")
    assert set(out["tlsNotAfter"]) == {
        "root",
        "intermediate",
        "crl",
        "business-ca",
        "management-ca",
        *IDENTITIES,
    }
    assert out["tlsSecrets"] == {i: f"mindie-tls-{i}" for i in IDENTITIES}
    assert "serverCaSecret" not in out
    leaf = cert_of(child(dev, "msserver-cert").outputs["certPem"])
    assert out["tlsSerials"]["msserver"] == f"{leaf.serial_number:X}"
    # The provider's validityEndTime keeps sub-second digits (docs/engine.md); the certificate whole seconds.
    not_after = dt.datetime.fromisoformat(out["tlsNotAfter"]["msserver"])
    assert not_after.replace(microsecond=0) == leaf.not_valid_after_utc
    assert len(out["tlsChecksum"]) == 64
    renamed = fresh({"kubeclientCn": "mindie-deployer"})
    assert renamed.outputs["kubeclientCn"] == "mindie-deployer"
    kube = cert_of(child(renamed, "kubeclient-cert").outputs["certPem"])
    assert kube.subject.rfc4514_string() == "CN=mindie-deployer,O=msgroup"


def test_repeated_runs_give_identical_material(dev: RunResult, run_stack):
    again = run_stack("dev")
    for r in dev.resources:
        if r.type.startswith(("tls:", DYN)):
            assert again.one(r.type, r.name).outputs == r.outputs, r.name
    assert again.outputs["tlsChecksum"] == dev.outputs["tlsChecksum"]


def test_a_new_passphrase_re_encrypts_and_changes_the_checksum(fresh):
    first = fresh()
    other = fresh({"keyPassphrase": "Another-Pass-42"})
    data = secret_data(other, "msserver")
    assert data["key_pwd.txt"] == "Another-Pass-42"
    serialization.load_pem_private_key(data["cert.key.pem"].encode(), b"Another-Pass-42")
    assert other.outputs["tlsChecksum"] != first.outputs["tlsChecksum"]
    assert other.outputs["tlsSerials"] == first.outputs["tlsSerials"]  # certificates untouched


def test_revoked_serial_appears_in_the_crl(fresh, tmp_path: Path):
    before = fresh()
    serial = before.outputs["tlsSerials"]["msclientuser"]
    number = int(child(before, "crl").outputs["crl_number"])
    revoked = fresh(
        {
            "crl": {
                "revoked": [
                    {
                        "serial": ":".join(serial[i : i + 2] for i in range(0, len(serial), 2)),
                        "reason": "keyCompromise",
                    }
                ]
            }
        }
    )
    crl_res = child(revoked, "crl")
    crl = x509.load_pem_x509_crl(crl_res.outputs["crl_pem"].encode())
    entry = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
    assert entry is not None
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        == x509.ReasonFlags.key_compromise
    )
    assert int(crl_res.outputs["crl_number"]) == number + 1  # re-issued by the provider's update
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == number + 1
    inter = cert_of(child(revoked, "intermediate-cert").outputs["cert_pem"])
    assert crl.is_signature_valid(inter.public_key()) and crl.issuer == inter.subject
    (tmp_path / "crl.pem").write_text(crl_res.outputs["crl_pem"])
    (tmp_path / "ca.pem").write_text(inter.public_bytes(serialization.Encoding.PEM).decode())
    done = openssl("crl", "-in", "crl.pem", "-noout", "-text", "-verify", "-CAfile", "ca.pem", cwd=tmp_path)
    assert "verify OK" in done.stderr + done.stdout and serial in done.stdout
    assert revoked.outputs["tlsChecksum"] != before.outputs["tlsChecksum"]
    assert revoked.outputs["tlsSerials"] == before.outputs["tlsSerials"]  # only the CRL changed


def test_renewal_reissues_before_expiry(monkeypatch, tmp_path: Path):
    import components.ca_material as material
    from mindiectl.emulators import tls

    cfg = stackfile.load("dev")
    state = StackState(tmp_path / "state.json")
    first = run_program("dev", dict(cfg.config), cfg.secret_keys, state)
    later = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=336)
    monkeypatch.setattr(tls, "now", lambda: later)
    monkeypatch.setattr(material, "now", lambda: later)
    second = run_program("dev", dict(cfg.config), cfg.secret_keys, state)
    for name in ("intermediate", *IDENTITIES):
        assert second.outputs["tlsSerials"][name] != first.outputs["tlsSerials"][name], name
    assert second.outputs["tlsSerials"]["intermediate"]
    # The self-signed CAs (365 days by default) renew too, with the same key: same SKI, new validity.
    assert second.outputs["tlsNotAfter"]["root"] > first.outputs["tlsNotAfter"]["root"]
    assert child(second, "root-key").outputs == child(first, "root-key").outputs
    assert second.outputs["tlsNotAfter"]["crl"] > first.outputs["tlsNotAfter"]["crl"]  # CRL re-issued too
    assert second.outputs["tlsChecksum"] != first.outputs["tlsChecksum"]


def test_prod_uses_the_configured_root_and_protects_ca_keys(run_stack):
    prod = run_stack("prod")
    assert prod.outputs["tlsRootCa"] == "cluster CA (config)"
    assert not [r for r in prod.resources if r.name == f"{CA}-root-cert"]
    tls_cfg = json.loads(stackfile.load("prod").config["mindie:tls"])
    root = cert_of(tls_cfg["rootCa"]["certPem"])
    inter = cert_of(child(prod, "intermediate-cert").outputs["cert_pem"])
    assert inter.issuer == root.subject and inter.verify_directly_issued_by(root) is None
    assert prod.outputs["tlsNotAfter"]["root"] == root.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    for suffix in ("intermediate-key", "business-ca-key", "management-ca-key"):
        assert child(prod, suffix).protect and child(prod, suffix).retain_on_delete, suffix
    assert not child(prod, "msserver-key").protect  # leaves renew by replacement
    assert not child(prod, "intermediate-cert").protect
    assert secret_data(prod, "msserver")["key_pwd.txt"] == "Demo-Prod-Key-1"
    assert "mindie:tls" in stackfile.load("prod").secret_keys


def test_security_tree_layout():
    # What the copy step stages for an identity: every tree file at 0400 (Motor's DecryptPassword /
    # HttpClientAsync checks), read from components.staging, not from the constants.
    staged = {f.source: (f.dest, f.mode) for f in staging.tls_files("coordinator", "/src", "security/self")}
    assert staged == {
        "/src/ca.pem": ("security/self/ca/ca.pem", 0o400),
        "/src/cert.pem": ("security/self/certs/cert.pem", 0o400),
        "/src/cert.key.pem": ("security/self/keys/cert.key.pem", 0o400),
        "/src/key_pwd.txt": ("security/self/pass/key_pwd.txt", 0o400),
        "/src/crl.pem": ("security/self/ca/crl.pem", 0o400),
    }
    plain = {f.dest for f in staging.tls_files("mindieserver", "/src", "security/s", crl=False)}
    assert plain == {"security/s/ca/ca.pem", "security/s/certs/cert.pem", "security/s/keys/cert.key.pem"}


def test_security_tree_per_identity():
    # A plain-key identity's Secret has no passphrase file; its tree leaves pass/ out.
    for identity in IDENTITIES:
        keys = security_tree.secret_keys(identity)
        assert ("key_pwd.txt" not in keys) == (identity in PLAIN_KEY_IDENTITIES)
        assert keys == tuple(key for key, _ in security_tree.tree(identity))
    assert security_tree.tls_items("/s") == {
        "ca_cert": "/s/ca/ca.pem",
        "tls_cert": "/s/certs/cert.pem",
        "tls_key": "/s/keys/cert.key.pem",
        "tls_passwd": "/s/pass/key_pwd.txt",
        "tls_crl": "/s/ca/crl.pem",
    }
    assert security_tree.tls_items("/s", crl=False)["tls_crl"] == ""
    assert [k for k, _ in security_tree.tree("mindieclient-mgmt", crl=False)] == [
        "ca.pem",
        "cert.pem",
        "cert.key.pem",
        "key_pwd.txt",
    ]


# --- settings errors -------------------------------------------------------------------------------


def error_of(run_stack, stack: str, tls: dict) -> str:
    with pytest.raises(SettingsError) as err:
        run_stack(stack, overrides={"mindie:tls": Secret(tls)})
    return str(err.value)


def test_weak_passphrase_is_refused_without_echoing_it(run_stack):
    text = error_of(run_stack, "dev", {"keyPassphrase": "alllowercase"})
    assert "mindie:tls.keyPassphrase: too weak: needs at least two of lower case, upper case, digit" in text
    assert "alllowercase" not in text
    assert "mindie:tls.keyPassphrase: too weak: must be 8 to 256 characters long (has 5)" in error_of(
        run_stack, "dev", {"keyPassphrase": "Ab1!x"}
    )


def test_plaintext_passphrase_is_refused_even_in_dev(run_stack):
    with pytest.raises(SettingsError) as err:
        run_stack("dev", overrides={"mindie:tls": {"keyPassphrase": "Good-Pass-42"}})
    text = str(err.value)
    assert (
        "mindie:tls.keyPassphrase: a passphrase entered as plain text" in text
        and "pulumi config set --secret --path 'mindie:tls.keyPassphrase' '<passphrase>'" in text
    )
    assert "Good-Pass-42" not in text
    # the same value entered as a secret is accepted
    run_stack("dev", overrides={"mindie:tls": Secret({"keyPassphrase": "Good-Pass-42"})})


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_plaintext_ca_keys_are_refused(stack: str):
    """Every CA key and the passphrase are named when `mindie:tls` is not a secret value."""
    cfg = stackfile.load(stack)
    tls_cfg = json.loads(cfg.config["mindie:tls"])
    root = tls_cfg["rootCa"]
    tls_cfg.update(businessCa=root, managementCa=root, keyPassphrase="Good-Pass-42")
    config = {**cfg.config, "mindie:tls": json.dumps(tls_cfg)}
    plain = [k for k in cfg.secret_keys if k != "mindie:tls"]
    with pytest.raises(SettingsError) as err:
        load_settings(config.get, list(config), plain)
    text = str(err.value)
    for field, source in [
        ("rootCa.keyPem", "< ca.key"),
        ("businessCa.keyPem", "< business-ca.key"),
        ("managementCa.keyPem", "< management-ca.key"),
        ("keyPassphrase", "'<passphrase>'"),
    ]:
        assert (
            f"mindie:tls.{field}: " in text
            and f"pulumi config set --secret --path 'mindie:tls.{field}' {source}" in text
        ), field
    assert "PRIVATE KEY" not in text and "Good-Pass-42" not in text
    assert load_settings(config.get, list(config), cfg.secret_keys).tls.business_ca is not None


def test_nested_path_secret_marks_the_whole_key_secret(tmp_path: Path, monkeypatch):
    """The stack file loader, like the CLI: one `--path --secret` value makes `mindie:tls` secret."""
    monkeypatch.setenv("MINDIE_STACK_DIR", str(tmp_path))
    path = tmp_path / "Pulumi.dev.yaml"
    dev_file = (PROJECT_DIR / "Pulumi.dev.yaml").read_text()
    path.write_text(dev_file + "  mindie:tls:\n    keyPassphrase: Good-Pass-42\n")
    cfg = stackfile.load("dev")
    assert "mindie:tls" not in cfg.secret_keys
    with pytest.raises(SettingsError, match=r"mindie:tls\.keyPassphrase: a passphrase entered as plain text"):
        load_settings(cfg.config.get, list(cfg.config), cfg.secret_keys)
    stackfile.set_secret(path, "mindie:tls.keyPassphrase", "Good-Pass-42")
    cfg = stackfile.load("dev")
    assert "mindie:tls" in cfg.secret_keys and "Good-Pass-42" not in path.read_text()
    settings = load_settings(cfg.config.get, list(cfg.config), cfg.secret_keys)
    assert settings.tls.key_passphrase.get_secret_value() == "Good-Pass-42"


def test_validity_above_365_days_is_refused(run_stack):
    # the whole mindie:tls is entered as a secret here (error_of): its values are never echoed
    assert "mindie:tls.validityDays: out of range: allowed 1 to 365 days (inclusive)" in error_of(
        run_stack, "dev", {"validityDays": 400}
    )


def test_prod_without_root_ca_is_refused(run_stack):
    text = error_of(run_stack, "prod", {"keyPassphrase": "Demo-Prod-Key-1"})
    assert "mindie:tls.rootCa: required in prod" in text


def settings_of(stack: str, tls: dict | None = None, kubernetes: dict | None = None):
    """load_settings of a committed stack with mindie:tls / mindie:kubernetes replaced ({}: unset)."""
    cfg = stackfile.load(stack)
    config = dict(cfg.config)
    for key, value in (("mindie:tls", tls), ("mindie:kubernetes", kubernetes)):
        if value == {}:
            config.pop(key, None)
        elif value is not None:
            config[key] = json.dumps(value)
    return load_settings(config.get, list(config), cfg.secret_keys)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_need_a_root_ca_and_an_explicit_cluster(stack: str):
    tls_cfg = json.loads(stackfile.load(stack).config["mindie:tls"])
    no_root = {k: v for k, v in tls_cfg.items() if k != "rootCa"}
    with pytest.raises(SettingsError) as err:
        settings_of(stack, tls=no_root, kubernetes={})
    text = str(err.value)
    assert f"mindie:tls.rootCa: required in {stack}: the cluster root CA" in text
    assert "the self-signed stand-in is for dev only" in text and "staging only" not in text
    assert "pulumi config set --secret --path 'mindie:tls.rootCa.keyPem' < ca.key" in text
    assert (
        f"mindie:kubernetes: required in {stack}: an explicit target, one of kubernetes.context, "
        "kubernetes.kubeconfig or kubernetes.renderYamlToDirectory"
    ) in text
    # enableServerSideApply alone names no cluster
    with pytest.raises(SettingsError, match=f"mindie:kubernetes: required in {stack}"):
        settings_of(stack, kubernetes={"enableServerSideApply": True})
    for target in (
        {"context": "prod-cluster"},
        {"kubeconfig": "/etc/mindie/kubeconfig"},
        {"renderYamlToDirectory": "out"},
    ):
        assert settings_of(stack, kubernetes=target).tls.root_ca is not None


def test_dev_may_use_the_stand_in_root_and_the_ambient_context(run_stack):
    settings = settings_of("dev", tls={}, kubernetes={})
    assert settings.tls.root_ca is None and settings.kubernetes.context is None
    assert run_stack("dev").outputs["tlsRootCa"] == "stand-in (self-signed, dev only)"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_demo_root_ca_is_refused_outside_dev_unless_allowed(run_stack, stack: str):
    tls_cfg = json.loads(stackfile.load(stack).config["mindie:tls"])
    assert tls_cfg["allowDemoRootCa"] is True  # the committed stacks opt in, loudly
    assert "DEMO ONLY" in cert_of(tls_cfg["rootCa"]["certPem"]).subject.rfc4514_string()
    del tls_cfg["allowDemoRootCa"]
    text = error_of(run_stack, stack, tls_cfg)
    assert "mindie:tls.rootCa: is the repository's DEMO root CA (subject O=DEMO ONLY..." in text
    assert f"refused in {stack}" in text and "tls.allowDemoRootCa" in text and "PRIVATE KEY" not in text
    tls_cfg["allowDemoRootCa"] = False
    assert "DEMO root CA" in error_of(run_stack, stack, tls_cfg)


def test_a_non_demo_root_ca_needs_no_flag(run_stack, dev: RunResult):
    """The same guard lets a real root through: dev's stand-in (O=mindie..., not DEMO ONLY) as prod's root."""
    root_pem = child(dev, "root-cert").outputs["certPem"]
    assert "DEMO" not in cert_of(root_pem).subject.rfc4514_string()
    tls_cfg = json.loads(stackfile.load("prod").config["mindie:tls"])
    del tls_cfg["allowDemoRootCa"]
    tls_cfg["rootCa"] = {"certPem": root_pem, "keyPem": child(dev, "root-key").outputs["privateKeyPem"]}
    prod = run_stack("prod", overrides={"mindie:tls": Secret(tls_cfg)})
    assert prod.outputs["tlsRootCa"] == "cluster CA (config)"


def test_root_key_must_match_its_certificate(run_stack, dev: RunResult):
    tls_cfg = json.loads(stackfile.load("prod").config["mindie:tls"])
    tls_cfg["rootCa"]["keyPem"] = child(dev, "root-key").outputs["privateKeyPem"]
    text = error_of(run_stack, "prod", tls_cfg)
    assert "mindie:tls.rootCa: keyPem does not belong to certPem" in text and "PRIVATE KEY" not in text


def test_bad_revoked_serial_and_renewal_window(run_stack):
    assert "mindie:tls.crl.revoked[0].serial: must be a hexadecimal serial" in error_of(
        run_stack, "dev", {"crl": {"revoked": [{"serial": "xyz"}]}}
    )
    assert "earlyRenewalDays = 90: must be less than validityDays = 60" in error_of(
        run_stack, "dev", {"validityDays": 60, "earlyRenewalDays": 90}
    )


# --- emulation fidelity ----------------------------------------------------------------------------


def test_pulumi_tls_cannot_express_pathlen_zero():
    """Why the intermediate is signed by a dynamic resource: the provider's max_path_length 0
    reaches Go's x509 as MaxPathLen 0 without MaxPathLenZero, i.e. "no limit"."""
    from mindiectl.emulators.tls import build_certificate, generate_key_pem, go_name

    key = serialization.load_pem_private_key(generate_key_pem("ECDSA", 0, "P256").encode(), None)
    out = build_certificate(
        {
            "isCaCertificate": True,
            "maxPathLength": 0,
            "validityPeriodHours": 1,
            "allowedUses": ["cert_signing"],
        },
        go_name({"commonName": "x"}),
        None,
        key.public_key(),
        None,
        key,
        self_signed=True,
    )
    bc = cert_of(out["certPem"]).extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca and bc.path_length is None
    one = build_certificate(
        {"isCaCertificate": True, "maxPathLength": 1, "validityPeriodHours": 1},
        go_name({"commonName": "x"}),
        None,
        key.public_key(),
        None,
        key,
        self_signed=True,
    )
    assert (
        cert_of(one["certPem"]).extensions.get_extension_for_class(x509.BasicConstraints).value.path_length
        == 1
    )


def test_offline_run_executes_the_pickled_provider(dev: RunResult):
    """The dynamic resource carries the provider the way the dynamic-provider host receives it."""
    import components.ca_material as material
    from mindiectl.emulators.dynamic import load_provider

    enc = child(dev, "msserver-key-enc")
    assert enc.type == f"{DYN}EncryptedKey" and "__provider" in enc.secret_inputs
    provider = load_provider(enc.inputs["__provider"])
    assert type(provider) is material.EncryptedKeyProvider
    assert type(load_provider(child(dev, "crl").inputs["__provider"])) is material.CrlProvider


@pytest.mark.parametrize("weak", ["abc", "abcdefghij", "Aa1\nAa1\nAa1"])
def test_key_encryption_refuses_a_weak_passphrase_without_describing_it(weak):
    """The engine prints a provider's check failures: they state the rule, not the passphrase's
    length or character classes."""
    from components.ca_material import EncryptedKeyProvider

    (failure,) = EncryptedKeyProvider().check({}, {"passphrase": weak}).failures
    assert failure.property == "passphrase"
    assert failure.reason.startswith("does not meet the rule: 8 to 256 characters on one line")
    assert str(len(weak)) not in failure.reason and "has" not in failure.reason
    assert EncryptedKeyProvider().check({}, {"passphrase": "Strong-Passphrase-1"}).failures == []


def test_passphrase_secrets_round_trip(tmp_path: Path, monkeypatch):
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text("config:\n  mindie:environment: dev  # keep me\n")
    monkeypatch.setenv(stackfile.PASSPHRASE_ENV, "test-only-passphrase")
    stackfile.set_secret(path, "mindie:tls.keyPassphrase", "S3cret-Value")
    stackfile.set_secret(path, "mindie:token", "top")
    text = path.read_text()
    assert "# keep me" in text and "encryptionsalt: v1:" in text and "S3cret" not in text
    cfg = stackfile.load("t", tmp_path)
    assert json.loads(cfg.config["mindie:tls"]) == {"keyPassphrase": "S3cret-Value"}
    assert cfg.config["mindie:token"] == "top"
    assert sorted(cfg.secret_keys) == ["mindie:tls", "mindie:token"]
    monkeypatch.setenv(stackfile.PASSPHRASE_ENV, "wrong")
    with pytest.raises(stackfile.StackFileError, match="incorrect passphrase"):
        stackfile.load("t", tmp_path)
    monkeypatch.delenv(stackfile.PASSPHRASE_ENV)
    with pytest.raises(stackfile.StackFileError, match="set PULUMI_CONFIG_PASSPHRASE"):
        stackfile.load("t", tmp_path)


def test_passphrase_format_matches_pulumi():
    """A value sealed with Pulumi's documented layout: PBKDF2-SHA256 x1e6 -> AES-256-GCM."""
    import base64
    import hashlib

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt, nonce = b"\x01" * 8, b"\x02" * 12
    key = hashlib.pbkdf2_hmac("sha256", b"pw", salt, 1_000_000, 32)

    def seal(text: str) -> str:
        sealed = AESGCM(key).encrypt(nonce, text.encode(), None)
        return f"v1:{base64.b64encode(nonce).decode()}:{base64.b64encode(sealed).decode()}"

    state = f"v1:{base64.b64encode(salt).decode()}:{seal('pulumi')}"
    crypter = stackfile.PassphraseCrypter("pw", state)
    assert crypter.decrypt(seal("hello")) == "hello"
    assert crypter.decrypt(crypter.encrypt("round trip")) == "round trip"
    with pytest.raises(ValueError, match="incorrect passphrase"):
        stackfile.PassphraseCrypter("other", state)


# The dynamic-provider host, as `pulumi up` starts it: the engine execs the plugin script
# `pulumi-resource-pulumi-python` with the working directory set to the program's directory
# (sdk/go/common/resource/plugin/plugin.go: ExecPlugin, `cmd.Dir = pwd`), and the script runs
# `python3 -u -m pulumi.dynamic` (sdk/python/dist/pulumi-resource-pulumi-python); `-m` puts the
# working directory first on sys.path. The host then does base64 + dill.loads under _deserialize
# (pulumi/dynamic/__main__.py: get_provider). dill pickles our provider classes by reference
# (`components.ca_material.<Class>`), so that import must work there, and nowhere else is needed.
_HOST_LOAD = """
import base64, json, sys
import dill
from pulumi.runtime._serialization import _deserialize
payloads = json.load(sys.stdin)
out = {}
for name, payload in payloads.items():
    provider = _deserialize(lambda: dill.loads(base64.b64decode(payload)))
    kind = type(provider)
    # a real method call: diff of identical, empty inputs (no recorded outputs either)
    diff = provider.diff("id", {}, {})
    out[name] = [kind.__module__ + "." + kind.__qualname__, diff.changes]
json.dump(out, sys.stdout)
"""


def _run_like_the_host(payloads: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    return subprocess.run(
        [sys.executable, "-u", "-c", _HOST_LOAD],
        cwd=cwd,
        env=env,
        text=True,
        input=json.dumps(payloads),
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_every_recorded_provider_loads_in_a_fresh_host_process(dev: RunResult, tmp_path: Path):
    project = Path(__file__).resolve().parents[1]
    payloads = {r.name: r.inputs["__provider"] for r in dev.resources if r.type.startswith(DYN)}
    kinds = {r.type.removeprefix(DYN) for r in dev.resources if r.type.startswith(DYN)}
    assert kinds == {"EncryptedKey", "Crl", "CaCert", "Passphrase"}
    done = _run_like_the_host(payloads, cwd=project)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert set(loaded) == set(payloads)
    assert {v[0] for v in loaded.values()} == {f"components.ca_material.{k}Provider" for k in kinds}
    # the unpickled providers run: with identical inputs, a key or CRL without its recorded output
    # (encrypted_key_pem / crl_pem) must be recomputed; a certificate or passphrase has nothing to do
    expected = {
        "EncryptedKeyProvider": True,
        "CrlProvider": True,
        "CaCertProvider": False,
        "PassphraseProvider": False,
    }
    assert {v[0]: v[1] for v in loaded.values()} == {
        f"components.ca_material.{k}": changes for k, changes in expected.items()
    }
    # The constraint, pinned: from any other working directory the import fails, as it would if the
    # program moved out of the project root (Pulumi.yaml `main:`) or the module were renamed.
    elsewhere = _run_like_the_host({"crl": payloads[f"{CA}-crl"]}, cwd=tmp_path)
    assert elsewhere.returncode != 0 and "No module named 'components'" in elsewhere.stderr
