"""Emulator details the real-engine tier (tests/test_engine.py, docs/engine.md) pins down, checked
here in the default run so they stay fixed without Go.

Upstream rules:
- hashicorp/terraform-provider-tls@1f1283d7 internal/provider/common_cert.go createCertificate:
  NotBefore = time.Now(); validityStartTime/EndTime = NotBefore/NotAfter.MarshalText() (RFC 3339 with
  nanoseconds, trailing zeros dropped).
- Go crypto/x509 CreateCertificate: the authority key identifier is the parent's SKI only when issuer
  != subject; a self-signed certificate carries template.AuthorityKeyId, which the provider sets (to
  the certificate's own SKI) only with setAuthorityKeyId.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from cryptography import x509

from mindiectl.emulators import Context, ResourceCall, tls
from mindiectl.state import StackState

GO_TIME_TEXT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z")


def emulate(type_token: str, name: str, inputs: dict) -> dict:
    call = ResourceCall(
        type=type_token,
        name=name,
        urn=f"urn:pulumi:t::p::{type_token}::{name}",
        parent="",
        inputs=inputs,
        custom=True,
    )
    fn = {
        "tls:index/privateKey:PrivateKey": tls.private_key,
        "tls:index/selfSignedCert:SelfSignedCert": tls.self_signed_cert,
    }[type_token]
    return fn(call, Context(stack="t", project="p", state=StackState(None))).outputs


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (dt.datetime(2026, 12, 2, 10, 33, 14, 123450, tzinfo=dt.UTC), "2026-12-02T10:33:14.12345Z"),
        (dt.datetime(2026, 12, 2, 10, 33, 14, 0, tzinfo=dt.UTC), "2026-12-02T10:33:14Z"),
        (dt.datetime(2026, 12, 2, 10, 33, 14, 500000, tzinfo=dt.UTC), "2026-12-02T10:33:14.5Z"),
    ],
)
def test_go_time_text_is_marshal_text(moment, text):
    assert tls.go_time_text(moment) == text


@pytest.fixture(scope="module")
def key_pem() -> str:
    return emulate("tls:index/privateKey:PrivateKey", "k", {"algorithm": "ECDSA", "ecdsaCurve": "P256"})[
        "privateKeyPem"
    ]


def self_signed(key_pem: str, **extra) -> dict:
    return emulate(
        "tls:index/selfSignedCert:SelfSignedCert",
        "ca",
        {
            "privateKeyPem": key_pem,
            "subject": {"commonName": "mindie-root"},
            "validityPeriodHours": 24,
            "allowedUses": ["cert_signing", "crl_signing"],
            "isCaCertificate": True,
            **extra,
        },
    )


def test_validity_times_keep_sub_seconds(key_pem, monkeypatch):
    fixed = dt.datetime(2026, 12, 2, 10, 33, 14, 250000, tzinfo=dt.UTC)
    monkeypatch.setattr(tls, "now", lambda: fixed)
    out = self_signed(key_pem)
    assert out["validityStartTime"] == "2026-12-02T10:33:14.25Z"
    assert out["validityEndTime"] == "2026-12-03T10:33:14.25Z"
    cert = x509.load_pem_x509_certificate(out["certPem"].encode())
    # The certificate holds whole seconds (UTCTime): the sub-second part is only in the outputs.
    assert cert.not_valid_before_utc == fixed.replace(microsecond=0)


def test_validity_times_in_go_format(key_pem):
    out = self_signed(key_pem)
    assert GO_TIME_TEXT.fullmatch(out["validityStartTime"]), out["validityStartTime"]
    assert GO_TIME_TEXT.fullmatch(out["validityEndTime"]), out["validityEndTime"]


def test_self_signed_has_no_authority_key_id_unless_asked(key_pem):
    cert = x509.load_pem_x509_certificate(self_signed(key_pem)["certPem"].encode())
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    asked = x509.load_pem_x509_certificate(self_signed(key_pem, setAuthorityKeyId=True)["certPem"].encode())
    aki = asked.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = asked.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_policy_pack_sees_only_declared_secret_outputs():
    """The engine tells a policy pack only the program's additional_secret_outputs (its props are
    plain values): an undeclared Output.secret input looks plain, as under `pulumi up`."""
    from mindiectl.check import _secret_paths
    from mindiectl.runtime import Resource

    resource = Resource(
        urn="urn:x",
        type="pulumi-python:dynamic/mindie:Crl",
        name="crl",
        parent="",
        custom=True,
        secret_inputs=["ca_private_key_pem"],
        secret_outputs=["ca_private_key_pem"],
    )
    assert _secret_paths(resource) == []
    resource.additional_secret_outputs = ["ca_private_key_pem"]
    assert _secret_paths(resource) == ["ca_private_key_pem"]
