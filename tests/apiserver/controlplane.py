"""A throwaway Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

The binaries come from `tools/kube/build` (built from Go modules, cached per machine). Everything
listens on 127.0.0.1 only, on free ports, with data and certificates in a temporary directory made
for this run; `ControlPlane.stop()` ends exactly the processes `start()` began (also after a failed
start) and every wait is bounded.

The API server runs as a cluster would judge our manifests: `--authorization-mode=RBAC`, the
PodSecurity admission plugin on (namespace labels choose the level), service-account signing keys
(so TokenRequest and projected tokens work) and `--allow-privileged=true`, so a privileged pod is
refused by Pod Security, not by the flag. The controller manager turns Deployments into ReplicaSets
and Pods (no kubelet runs: pods stay Pending, which is enough for admission) and finalizes
namespace deletion.

`Kube` is a small HTTPS client (stdlib only) that authenticates with a client certificate.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = "127.0.0.1"
REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tools" / "kube" / "build"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")
SERVICE_CIDR = "10.0.0.0/24"
"""Only allocated from (Service clusterIPs); no traffic goes there: no kubelet or proxy runs."""


class ControlPlaneError(RuntimeError):
    pass


def binaries_dir(timeout: float = 5400) -> Path:
    """$MINDIE_KUBE_BIN, else the folder `tools/kube/build` prints last (it reuses a cached build)."""
    env = os.environ.get("MINDIE_KUBE_BIN")
    if env:
        folder = Path(env)
    else:
        try:
            run = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise ControlPlaneError(f"{BUILD_SCRIPT} did not finish in {timeout:.0f} s") from err
        if run.returncode != 0:
            raise ControlPlaneError(f"{BUILD_SCRIPT} failed ({run.returncode}):\n{run.stderr[-3000:]}")
        folder = Path(run.stdout.strip().splitlines()[-1])
    missing = [b for b in BINARIES if not os.access(folder / b, os.X_OK)]
    if missing:
        raise ControlPlaneError(f"{folder} lacks {', '.join(missing)}: run tools/kube/build")
    return folder


def free_port() -> int:
    """A port the kernel reports free on loopback (a start that loses the race fails and is retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


# --- certificates made at start ---------------------------------------------------------------


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert(subject: x509.Name, key, issuer: x509.Name, issuer_key, *, ca: bool, eku=None, ips=()):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=not ca,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if ips:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


@dataclass
class Pki:
    """The test's own CA, the API server's serving certificate, an admin client certificate
    (O=system:masters) and the service-account signing key pair."""

    ca: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path

    @classmethod
    def make(cls, folder: Path) -> Pki:
        folder.mkdir(mode=0o700)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name("mindie apiserver-test CA")
        ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
        serving_key = ec.generate_private_key(ec.SECP256R1())
        serving = _cert(
            _name("kube-apiserver"),
            serving_key,
            ca_name,
            ca_key,
            ca=False,
            eku=[ExtendedKeyUsageOID.SERVER_AUTH],
            ips=[LOOPBACK],
        )
        admin_key = ec.generate_private_key(ec.SECP256R1())
        admin = _cert(
            _name("apiserver-test-admin", "system:masters"),
            admin_key,
            ca_name,
            ca_key,
            ca=False,
            eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
        )
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = serialization.Encoding.PEM
        pki = cls(
            ca=folder / "ca.pem",
            serving_cert=folder / "serving.pem",
            serving_key=folder / "serving-key.pem",
            admin_cert=folder / "admin.pem",
            admin_key=folder / "admin-key.pem",
            sa_key=folder / "sa-key.pem",
            sa_pub=folder / "sa.pub",
        )
        pki.ca.write_bytes(ca.public_bytes(pem))
        pki.serving_cert.write_bytes(serving.public_bytes(pem))
        _write_private(pki.serving_key, _key_pem(serving_key))
        pki.admin_cert.write_bytes(admin.public_bytes(pem))
        _write_private(pki.admin_key, _key_pem(admin_key))
        _write_private(pki.sa_key, _key_pem(sa_key))
        pki.sa_pub.write_bytes(
            sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        return pki


# --- HTTPS client -------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    body: Any
    warnings: list[str]

    @property
    def message(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("message", self.body))
        return str(self.body)


class Kube:
    """Requests to the API server as one client certificate (or bearer token)."""

    def __init__(
        self,
        port: int,
        ca: Path,
        cert: Path | None = None,
        key: Path | None = None,
        token: str | None = None,
        timeout: float = 30,
    ):
        self.port = port
        self.timeout = timeout
        self.token = token
        self.context = ssl.create_default_context(cafile=str(ca))
        if cert is not None:
            self.context.load_cert_chain(str(cert), str(key) if key else None)
        self._resources: dict[str, list[dict]] = {}

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict | None = None,
        content_type: str = "application/json",
    ) -> Response:
        if query:
            path = f"{path}?{urllib.parse.urlencode(query)}"
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        conn = http.client.HTTPSConnection(LOOPBACK, self.port, context=self.context, timeout=self.timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            warnings = [v for k, v in resp.getheaders() if k.lower() == "warning"]
        finally:
            conn.close()
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Response(resp.status, parsed, warnings)

    def get(self, path: str, **kw) -> Response:
        return self.request("GET", path, **kw)

    # --- discovery: kind -> REST path -----------------------------------------------------------

    def resource_for(self, api_version: str, kind: str) -> dict:
        """The discovery entry (name, namespaced, verbs) of a kind."""
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if base not in self._resources:
            resp = self.get(base)
            if resp.status != 200:
                raise ControlPlaneError(f"discovery of {base}: {resp.status} {resp.message}")
            self._resources[base] = resp.body["resources"]
        for res in self._resources[base]:
            if res["kind"] == kind and "/" not in res["name"]:
                return {**res, "base": base}
        raise ControlPlaneError(f"the API server serves no {kind} in {api_version}")

    def object_path(self, obj: dict, *, name: bool = True) -> str:
        res = self.resource_for(obj["apiVersion"], obj["kind"])
        meta = obj.get("metadata", {})
        path = res["base"]
        if res["namespaced"]:
            path += f"/namespaces/{meta.get('namespace') or 'default'}"
        path += f"/{res['name']}"
        return f"{path}/{meta['name']}" if name else path

    def apply(self, obj: dict, manager: str = "mindie-apiserver-test", dry_run: bool = False) -> Response:
        """Server-side apply: PATCH application/apply-patch+yaml (JSON is YAML) with a field manager."""
        query = {"fieldManager": manager, "force": "true"}
        if dry_run:
            query["dryRun"] = "All"
        return self.request(
            "PATCH", self.object_path(obj), obj, query=query, content_type="application/apply-patch+yaml"
        )

    def delete(self, obj: dict) -> Response:
        return self.request(
            "DELETE",
            self.object_path(obj),
            {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
        )


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy; ControlPlaneError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, http.client.HTTPException) as err:
            last = err
        else:
            if last:
                return last
        time.sleep(interval)
    raise ControlPlaneError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


# --- the processes ------------------------------------------------------------------------------


@dataclass
class ControlPlane:
    """`start()` then `stop()`; `admin` is a client in group system:masters."""

    bin_dir: Path
    work: Path
    client_cas: Iterable[Path] = ()
    """Extra roots the API server accepts client certificates from (e.g. a stack's root CA)."""
    startup_timeout: float = 180
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    port: int = 0
    pki: Pki | None = None
    admin: Kube | None = None

    def start(self) -> ControlPlane:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = self.work / f"{name}.log"
        self.logs[name] = log
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [str(self.bin_dir / name), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.work,
                preexec_fn=_die_with_parent,
            )
        self.procs[name] = proc
        return proc

    def _alive(self, name: str) -> bool:
        code = self.procs[name].poll()
        if code is not None:
            raise ControlPlaneError(f"{name} exited with {code}:\n{self.log_tail(name)}")
        return True

    def log_tail(self, name: str, lines: int = 30) -> str:
        try:
            return "\n".join(self.logs[name].read_text(errors="replace").splitlines()[-lines:])
        except (KeyError, OSError):
            return "(no log)"

    def _start(self) -> None:
        self.pki = pki = Pki.make(self.work / "pki")
        client_ca = self.work / "client-ca.pem"
        client_ca.write_bytes(b"".join(p.read_bytes() for p in (pki.ca, *self.client_cas)))

        etcd_port, peer_port = free_port(), free_port()
        etcd_url = f"http://{LOOPBACK}:{etcd_port}"
        peer_url = f"http://{LOOPBACK}:{peer_port}"
        self._spawn(
            "etcd",
            [
                "--name=test",
                f"--data-dir={self.work / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=test={peer_url}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        wait_for("etcd /health", lambda: self._alive("etcd") and _etcd_healthy(etcd_port), 60)

        self.port = free_port()
        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                f"--bind-address={LOOPBACK}",
                f"--advertise-address={LOOPBACK}",
                f"--secure-port={self.port}",
                # A loopback advertise address may not be an Endpoints address: no reconciler.
                "--endpoint-reconciler-type=none",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={client_ca}",
                "--anonymous-auth=false",
                "--authorization-mode=RBAC",
                "--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,PodSecurity",
                "--allow-privileged=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--service-account-issuer=https://{LOOPBACK}:{self.port}",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                "--profiling=false",
                "--v=0",
            ],
        )
        self.admin = Kube(self.port, pki.ca, pki.admin_cert, pki.admin_key)
        wait_for(
            "kube-apiserver /readyz",
            lambda: self._alive("kube-apiserver") and self._ready(),
            self.startup_timeout,
        )

        kubeconfig = self.work / "controller-manager.kubeconfig"
        kubeconfig.write_text(json.dumps(self.kubeconfig(pki.admin_cert, pki.admin_key)))
        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={kubeconfig}",
                "--leader-elect=false",
                f"--bind-address={LOOPBACK}",
                "--secure-port=0",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--v=0",
            ],
        )
        # The service-account controller makes `default` in every namespace: the controllers run.
        wait_for(
            "kube-controller-manager (default ServiceAccount)",
            lambda: (
                self._alive("kube-controller-manager")
                and self.admin.get("/api/v1/namespaces/default/serviceaccounts/default").status == 200
            ),
            self.startup_timeout,
        )

    def _ready(self) -> bool:
        return self.admin.get("/readyz").status == 200

    def kubeconfig(self, cert: Path, key: Path) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "test",
            "clusters": [
                {
                    "name": "test",
                    "cluster": {
                        "server": f"https://{LOOPBACK}:{self.port}",
                        "certificate-authority": str(self.pki.ca),
                    },
                }
            ],
            "users": [{"name": "test", "user": {"client-certificate": str(cert), "client-key": str(key)}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
        }

    def client(self, cert: Path | None = None, key: Path | None = None, token: str | None = None) -> Kube:
        return Kube(self.port, self.pki.ca, cert, key, token)

    def stop(self, grace: float = 15) -> None:
        """SIGTERM what start() began (newest first), SIGKILL what is still running after `grace` s."""
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(grace)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(grace)
        self.procs.clear()


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the test process dies, even by SIGKILL (Linux
    PR_SET_PDEATHSIG), so a killed test run leaves no control plane behind."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _etcd_healthy(port: int) -> bool:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    try:
        conn.request("GET", "/health")
        return json.loads(conn.getresponse().read()).get("health") == "true"
    finally:
        conn.close()
