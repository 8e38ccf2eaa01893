"""TLS and secrets: TLS on in staging/prod, the seed's certificate policy, key material only in secrets."""

from __future__ import annotations

import re
from typing import Any, Optional

from pulumi_policy import Severity

from domain.pki import (
    INTERMEDIATE_CN,
    INTERMEDIATE_SUBJECT,
    MAX_VALIDITY_DAYS,
    MAX_VALIDITY_HOURS,
    ORGANIZATION,
    RSA_BITS,
)
from domain.tls_switches import TLS_SWITCHES

from .access import (
    env_entries,
    find_keys,
    fmt,
    get,
    json_documents,
    kind_of,
    number,
    object_name,
    walk,
)
from .kinds import TLS_CERT_REQUEST, TLS_LOCALLY_SIGNED, TLS_PRIVATE_KEY, TLS_SELF_SIGNED, WORKLOAD_KINDS
from .registry import rule
from .views import ResourceContext, StackResource, StackView

MIN_RSA_BITS = RSA_BITS
STRONG_CURVES = ("P384", "P521")
"""ECDSA curves at least as strong as RSA 4096's ~140-bit level (P-384: 192-bit)."""

PEM_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
PASSPHRASE_KEY = re.compile(r"(passw(or)?d|passphrase|pwd|secret_?key)", re.IGNORECASE)
PATH_LIKE = re.compile(r"\.{0,2}/?[\w.\-]+(/[\w.\-]+)*/?")
"""A value that names a file (e.g. `security/pass/key_pwd.txt`) is a reference, not a passphrase."""


def tls_switches(stack: StackView) -> list[tuple[str, Any, Optional[str]]]:
    """(where, value, urn) of every TLS switch the stack declares."""
    found: list[tuple[str, Any, Optional[str]]] = []
    for key in ("enableTls", "enable_tls"):
        if get(stack.outputs, key) is not None:
            urn = stack.stack.urn if stack.stack else None
            found.append((f"stack output {key}", get(stack.outputs, key), urn))
    for w in stack.workloads("server"):
        for where, env in env_entries(w.props):
            if get(env, "name") == "MINDIE_USE_HTTPS" and get(env, "value") is not None:
                where_env = f"{object_name(w.props)} {where} env MINDIE_USE_HTTPS"
                found.append((where_env, get(env, "value"), w.urn))
    for cm in stack.of_kind("ConfigMap"):
        for key, doc in json_documents(cm.props).items():
            for path, value in find_keys(doc, lambda k: k in TLS_SWITCHES):
                found.append((f"ConfigMap {object_name(cm.props)}/{key} {path}", value, cm.urn))
    return found


def is_off(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off"))


@rule(
    "tls-enabled",
    "tls-secrets",
    "In staging and prod TLS is on everywhere: mindie_server_config.enable_tls, the server's httpsEnabled "
    "and MINDIE_USE_HTTPS, the probes' and Motor's tls_enable, ms_server.json's client TLS switches.",
    "Set mindie:inferServer.mindie_server_config.enable_tls: true (the seed warns that plain HTTP is a "
    "high network security risk).",
    scope="stack",
    severity=Severity.CRITICAL,
)
def tls_enabled(stack: StackView) -> list[tuple[str, Optional[str]]]:
    if stack.environment not in ("staging", "prod"):
        return []
    return [
        (f"{where} = {fmt(value)} in {stack.environment}", urn)
        for where, value, urn in tls_switches(stack)
        if is_off(value)
    ]


def _subject_of(r: StackResource) -> dict[str, str]:
    return {k: str(get(r.props, "subject", k, default="")) for k in INTERMEDIATE_SUBJECT}


INTERMEDIATE = f"CN={INTERMEDIATE_CN}, O={ORGANIZATION}"


def _wrong_subject(name: str, csr: StackResource) -> Optional[str]:
    """Why `csr` is not the intermediate's (the message names `name`), or None."""
    subject = _subject_of(csr)
    if subject == INTERMEDIATE_SUBJECT:
        return None
    return (
        f"{name}: intermediate subject CN={subject['commonName']}, O={subject['organization']}; "
        f"expected {INTERMEDIATE}"
    )


@rule(
    "tls-intermediate-subject",
    "tls-secrets",
    f"The intermediate CA (a CA certificate signed by another CA) has the subject {INTERMEDIATE}, "
    "the only intermediate the ms components accept.",
    f"Issue the intermediate from a CSR with subject common_name={INTERMEDIATE_CN}, "
    f"organization={ORGANIZATION}.",
    scope="stack",
)
def tls_intermediate_subject(stack: StackView) -> list[tuple[str, Optional[str]]]:
    problems: list[tuple[str, Optional[str]]] = []
    for csr in stack.of_type(TLS_CERT_REQUEST):
        # a CSR named for the intermediate, however it is then signed (pulumi-tls or a dynamic resource)
        if "intermediate" in csr.name and (why := _wrong_subject(csr.name, csr)):
            problems.append((why, csr.urn))
    for cert in stack.of_type(TLS_LOCALLY_SIGNED):
        if get(cert.props, "isCaCertificate") is not True:
            continue
        deps = cert.property_dependencies.get("certRequestPem", []) or cert.dependencies
        csrs = [r for u in deps if (r := stack.by_urn(u)) is not None and r.type == TLS_CERT_REQUEST]
        if not csrs:
            problems.append((f"{cert.name}: cannot find the CSR of this CA certificate", cert.urn))
        problems += [(why, cert.urn) for csr in csrs if (why := _wrong_subject(cert.name, csr))]
    return problems


@rule(
    "tls-key-strength",
    "tls-secrets",
    f"Private keys are RSA with at least {RSA_BITS} bits, or ECDSA P384/P521 when config chooses a stronger "
    "alternative (config `allowEcdsa`).",
    f"Use algorithm RSA with rsa_bits {RSA_BITS} (pulumi-tls defaults to 2048).",
    types=(TLS_PRIVATE_KEY,),
    config={"allowEcdsa": {"type": "boolean"}},
)
def tls_key_strength(props: Any, ctx: ResourceContext) -> list[str]:
    algorithm = str(get(props, "algorithm", default=""))
    if algorithm == "RSA":
        bits = number(get(props, "rsaBits", default=2048))
        if bits is None or bits < MIN_RSA_BITS:
            return [
                f"RSA key of {fmt(bits)} bits (pulumi-tls default 2048); at least {MIN_RSA_BITS} required"
            ]
        return []
    if algorithm == "ECDSA" and get(ctx.config, "allowEcdsa") is True:
        curve = str(get(props, "ecdsaCurve", default="P224"))
        return [] if curve in STRONG_CURVES else [f"ECDSA curve {curve}; only {list(STRONG_CURVES)} allowed"]
    return [f"algorithm {algorithm or '(none)'}: RSA >= {MIN_RSA_BITS} required"]


@rule(
    "tls-validity",
    "tls-secrets",
    f"Certificates are valid for at most {MAX_VALIDITY_DAYS} days ({MAX_VALIDITY_HOURS} hours), as the "
    f"seed's openssl -days {MAX_VALIDITY_DAYS}. A self-signed CA may get a longer, explicitly reviewed limit "
    "(config `selfSignedCaMaxHours`).",
    f"Set validity_period_hours <= {MAX_VALIDITY_HOURS} and early_renewal_hours so that `pulumi up` "
    "re-issues in time (in-cluster trust anchors are rotated by the program, pods roll on checksum/tls).",
    types=(TLS_LOCALLY_SIGNED, TLS_SELF_SIGNED),
    config={"selfSignedCaMaxHours": {"type": "integer"}},
)
def tls_validity(props: Any, ctx: ResourceContext) -> list[str]:
    limit = MAX_VALIDITY_HOURS
    exception = number(get(ctx.config, "selfSignedCaMaxHours"))
    if ctx.type == TLS_SELF_SIGNED and get(props, "isCaCertificate") is True and exception:
        limit = int(exception)
    hours = number(get(props, "validityPeriodHours"))
    if hours is None or hours > limit or hours <= 0:
        value = fmt(get(props, "validityPeriodHours"))
        return [f"validityPeriodHours {value}: allowed 1 to {limit}"]
    return []


def is_reference(value: str) -> bool:
    """A file path rather than a secret value (contains a slash or names a .txt/.pem/.key file)."""
    return bool(PATH_LIKE.fullmatch(value)) and ("/" in value or value.endswith((".txt", ".pem", ".key")))


def key_material(props: Any) -> list[tuple[str, str]]:
    """(path, what) of private keys (PEM) and passphrases (by key name) in props."""
    found = []
    for path, last, value in walk(props):
        if not isinstance(value, str) or not value:
            continue
        if PEM_PRIVATE_KEY.search(value):
            found.append((path, "a private key"))
        elif PASSPHRASE_KEY.search(last) and not is_reference(value) and not last.endswith("Ref"):
            found.append((path, "a passphrase"))
    return found


def _env_passphrases(props: Any) -> list[tuple[str, str]]:
    """Container env entries named like a passphrase with a literal value."""
    found = []
    for where, env in env_entries(props):
        value = get(env, "value")
        named = PASSPHRASE_KEY.search(str(get(env, "name", default="")))
        if named and value and not is_reference(str(value)):
            found.append((f"{where} env {get(env, 'name')}", "a passphrase"))
    return found


DYNAMIC_PROVIDER = "pulumi:providers:pulumi-python"
"""The engine's default provider for Python dynamic resources. Its inputs are a copy of the whole
stack config (a staging/prod root CA key included): secret config stays a Pulumi secret, but a pack is
not told so (no additional_secret_outputs on a default provider), so checking it would flag every
`pulumi config set --secret` key. Found by the engine tier (docs/engine.md); mindiectl's mock runtime
registers no default providers."""


@rule(
    "secrets-key-material",
    "tls-secrets",
    "Private keys and passphrases live only in Kubernetes Secrets or Pulumi secrets: never in a ConfigMap, "
    "an env value, an annotation or a plain (non-secret) property.",
    "Put the material in the CA component's Secrets (mounted as files) and keep Pulumi values "
    "pulumi.Output.secret / additional_secret_outputs.",
    severity=Severity.CRITICAL,
)
def secrets_key_material(props: Any, ctx: ResourceContext) -> list[str]:
    kind = kind_of(ctx.type)
    if kind == "Secret" or ctx.type == DYNAMIC_PROVIDER:
        return []
    found = key_material(props) + (_env_passphrases(props) if kind in WORKLOAD_KINDS else [])
    if kind == "ConfigMap":  # the generated JSON configs: a passphrase key must hold a file path
        for key, doc in json_documents(props).items():
            found += [(f"data.{key}:{path}", what) for path, what in key_material(doc)]
    problems = []
    for path, what in found:
        root = re.split(r"[.\[]", path)[0]
        if kind:  # a Kubernetes object other than a Secret: readable by anyone who can read it
            problems.append(f"{path} holds {what} in a {kind}")
        elif root not in ctx.secret_paths:
            problems.append(f"{path} holds {what} but is not a Pulumi secret")
    return problems


@rule(
    "secrets-stack-outputs",
    "tls-secrets",
    "No stack output carries a private key or passphrase unless it is a Pulumi secret.",
    "Export key material with pulumi.Output.secret (or do not export it at all).",
    scope="stack",
    severity=Severity.CRITICAL,
)
def secrets_stack_outputs(stack: StackView) -> list[tuple[str, Optional[str]]]:
    if stack.stack is None:
        return []
    return [
        (f"stack output {path} holds {what} in plain text", stack.stack.urn)
        for path, what in key_material(stack.outputs)
        if re.split(r"[.\[]", path)[0] not in stack.stack.secret_paths
    ]
