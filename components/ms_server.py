"""The ms-server Deployer: its ms_server.json, Deployment, Service and status volume.

After the seed's "K8s集群部署Deployer服务端" sample Deployment, with these changes
(each explained where it is made and in docs/ms-server.md):

- ms_server refuses a config or certificate file that is a symlink, is not owned
  by its own UID, or is more open than 0640 (MindIE's PathCheck/CheckOwner).
  ConfigMap and Secret volumes are root-owned symlink farms, so an init container
  (same image, same UID) stages ms_server.json and the security trees into
  memory-backed emptyDirs owned by that UID, with the seed's modes (0640 config,
  0400 certificates and keys, 0700 directories). The main container mounts the
  staged copies read-only at the seed's paths.
- Status data (status.json) lives on a PersistentVolumeClaim by default, logs on an
  emptyDir: no hostPath, so the pod passes Pod Security "restricted". The seed's
  hostPath layout is available behind `storage.mode = host_path`.
- The container starts `./bin/ms_server ./conf/ms_server.json` directly in the
  install directory (workingDir), not through `bash -c`: the seed's `bin/bash -c
  "cd ... && ..."` keeps bash as PID 1, which does not pass SIGTERM on, so the
  graceful stop ms_server implements never ran before the kill.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from domain import security_tree
from domain.enums import MotorLogLevel
from domain.hashing import sha256_hex
from domain.host_paths import forbidden_host_path, shared_top_level
from domain.kubernetes import MS_SERVER
from domain.mindie_server_paths import service_install_path

from . import staging
from .k8s_helpers import container_security_context, pod_security_context, state_claim
from .labels import selector_labels, standard_labels

COMPONENT = MS_SERVER
APP_NAME = "ms-server"
DEPLOYMENT_NAME = "ms-server"  # the seed's metadata.name
CONTAINER_NAME = "mindie-ms"  # the seed's container name
CONFIG_FILE = "ms_server.json"
LOG_DIR = "/var/log/mindie-ms"  # the seed: must be this path in a container
DATA_DIR = "/var/lib/mindie-ms"
STATUS_FILE = f"{DATA_DIR}/status.json"
MASTER_SELECTOR = {"masterselector": "dls-master-node"}  # the seed: only on the management node
CONTROL_PLANE_TAINTS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")

IDENTITY_DIRS = {"msserver": "msserver", "kubeclient": "kubeclient", "mindieclient-mgmt": "mindieclient"}
"""CA identity -> the seed's directory under mindie-service/latest/security. ms_server's
`client_mindie_tls_items` calls the servers' management port (SingleNodeServer.cpp: /v2/health/*,
/info on mindieServerMngPort), which verifies against managementTlsCaFile: the management-plane client."""
IDENTITIES = tuple(IDENTITY_DIRS)

SOURCE = staging.SOURCE


def tls_items(install_path: str, identity: str, check_crl: bool) -> dict[str, str]:
    """The TLS block for `identity`, pointing at the mounted tree `<install>/security/<identity>/security`.

    `check_crl`: the CA Secrets carry the intermediate CA's CRL; it is only meaningful where
    the peer's certificate is issued by that intermediate (msctl's client certificate).
    The API server's certificate comes from the Kubernetes root CA, which publishes no CRL
    (the seed says so), and the MindIE Servers' from the business CA: an OpenSSL CRL check
    with the wrong issuer's CRL fails every handshake, so those stay "" (no check).
    """
    # deployer/server/main.cpp IsJsonValid names exactly the five keys of a Motor tls_items block.
    return security_tree.tls_items(identity_dir(install_path, identity), crl=check_crl)


def identity_dir(install_path: str, identity: str) -> str:
    """The seed's tree of `identity` in the install directory: `<install>/security/<dir>/security`."""
    return f"{install_path}/{_tree(identity)}"


def _tree(identity: str) -> str:
    return f"security/{IDENTITY_DIRS.get(identity, identity)}/security"


def ms_server_config(
    install_path: str,
    ip: str,
    port: int,
    k8s_apiserver_ip: str,
    k8s_apiserver_port: int,
    log_level: MotorLogLevel = MotorLogLevel.INFO,
    client_mindie_server_tls_enable: bool = True,
    server_crl: bool = True,
) -> dict[str, Any]:
    """ms_server.json, key for key as MindIE documents it (配置说明 table 2).

    `server_crl`: check msctl's client certificates against the intermediate's CRL (the CA
    Secrets carry it; a tree imported the seed's way on the node has none).
    """
    return {
        "ip": ip,
        "port": port,
        "k8s_apiserver_ip": k8s_apiserver_ip,
        "k8s_apiserver_port": k8s_apiserver_port,
        "log_info": {
            "log_level": MotorLogLevel(log_level).value,
            # MindIE: in a container these must be exactly these two paths.
            "run_log_path": f"{LOG_DIR}/run/log.txt",
            "operation_log_path": f"{LOG_DIR}/operation/log.txt",
        },
        "ms_status_file": STATUS_FILE,
        "server_tls_items": tls_items(install_path, "msserver", check_crl=server_crl),
        # Always on: the kubeclient certificate is how the API server authenticates ms_server
        # (RBAC subject = its CN); plain HTTP to the API server has no identity at all.
        "client_k8s_tls_enable": True,
        "client_k8s_tls_items": tls_items(install_path, "kubeclient", check_crl=False),
        "client_mindie_server_tls_enable": client_mindie_server_tls_enable,
        "client_mindie_tls_items": tls_items(install_path, "mindieclient-mgmt", check_crl=False),
    }


def render_config(config: Mapping[str, Any]) -> str:
    """The file's bytes: stable key order, so the checksum only moves when content does."""
    return json.dumps(config, indent=4, sort_keys=True) + "\n"


def msctl_config(
    dst_ip: Optional[str],
    dst_port: int,
    security_dir: str,
    timeout: int,
    log_level: MotorLogLevel = MotorLogLevel.INFO,
) -> dict[str, Any]:
    """msctl.json (the seed's 准备Deployer msctl命令行客户端 table 1) for the msclientuser certificate."""
    if not 1 <= timeout <= 60:
        raise ValueError(f"timeout = {timeout}: out of range: allowed 1 to 60 s (inclusive)")
    base = security_dir.rstrip("/")
    return {
        "http": {
            "dstPort": dst_port,
            "dstIP": dst_ip,
            "ca_cert": security_tree.path(base, security_tree.CA_CERT),
            "tls_cert": security_tree.path(base, security_tree.CERT),
            "tls_key": security_tree.path(base, security_tree.KEY),
            # ms-server's certificate is issued by the intermediate whose CRL the CA publishes.
            "tls_crl": security_tree.path(base, security_tree.CRL),
            "timeout": timeout,
        },
        "log_level": MotorLogLevel(log_level).value,
    }


def staged_files(identities: list[str], stage_security: bool) -> list[staging.StagedFile]:
    """ms_server.json (0640) and, from the CA Secrets, every identity's tree (0400): components/staging.py."""
    files = [staging.StagedFile(f"{SOURCE}/config/{CONFIG_FILE}", f"conf/{CONFIG_FILE}", staging.CONFIG_MODE)]
    if stage_security:
        for identity in identities:
            source, tree = f"{SOURCE}/{identity}", _tree(identity)
            files += [
                staging.StagedFile(f"{source}/{key}", f"{tree}/{path}", staging.SECRET_MODE)
                for key, path in security_tree.tree(identity)
            ]
    return files


@dataclass(kw_only=True)
class MsServerArgs:
    namespace: pulumi.Input[str]
    """Namespace of every object (the Namespace component's output)."""
    image: pulumi.Input[str]
    """Image reference the pod runs (MsServerImage.image_ref)."""
    k8s_apiserver_ip: str
    """ms_server.json k8s_apiserver_ip: the API server's IP (the seed: the management node's IP)."""
    uid: int
    """runAsUser (the image's UID, never 0): mindie:runtimeUser."""
    gid: int
    """runAsGroup and fsGroup (the seed: equal to uid)."""
    security_secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Secret name per identity (msserver, kubeclient, mindieclient), keys per the CA contract."""
    tls_checksum: Optional[pulumi.Input[str]] = None
    """The CA component's checksum over issued material: pod annotation checksum/tls."""
    user: str
    """Container user: the install path is /home/<user>/mindie-service/latest."""
    ip: str
    """ms_server.json ip (fallback; MINDIE_MS_SERVER_IP = pod IP takes precedence)."""
    port: int
    """ms_server.json port."""
    k8s_apiserver_port: int
    """ms_server.json k8s_apiserver_port."""
    log_level: MotorLogLevel
    """ms_server.json log_info.log_level."""
    client_mindie_server_tls_enable: bool = True
    """HTTPS towards the MindIE Servers; the mindieclient tree is mounted only when True."""
    termination_grace_period_seconds: int
    """The seed: 5."""
    requests: dict[str, str]
    """Container requests (the seed: 512Mi, 4000m)."""
    limits: dict[str, str]
    """Container limits (the seed: 1024Mi, 4000m)."""
    host_path: bool = False
    """True: the seed's hostPath volumes (logs, data, optionally security); not PSS-restricted."""
    host_logs: str
    """host_path mode: node directory for logs."""
    host_data: str
    """host_path mode: node directory for status.json."""
    host_security: Optional[str] = None
    """host_path mode: the seed's imported security tree on the node (else: the CA Secrets)."""
    storage_size: str
    """PVC size for the status data."""
    storage_class: Optional[str] = None
    """PVC StorageClass; None: the cluster default."""
    log_size_limit: str
    """sizeLimit of the logs emptyDir."""
    pull_secret: Optional[str] = None
    """imagePullSecret name, if any."""
    service_cluster_ip: Optional[str] = None
    """Pin the Service's ClusterIP (msctl's dstIP); None: allocated by the cluster."""
    msctl_dst_ip: Optional[str] = None
    """msctl.json dstIP override; None: the Service's ClusterIP."""
    msctl_security_dir: str
    """Where the operator keeps the msclientuser tree for msctl."""
    msctl_timeout: int
    """msctl.json timeout, 1-60 s."""
    msctl_log_level: MotorLogLevel
    """msctl.json log_level."""
    protect: bool = False
    """Prod: protect the status PVC from `pulumi destroy` and keep it in the cluster on delete."""
    instance: str = "ms-server"
    """app.kubernetes.io/instance label value."""
    version: Optional[str] = None
    """app.kubernetes.io/version label value (e.g. the image tag)."""


class MsServer(pulumi.ComponentResource):
    """`mindie:ms_server:MsServer`: ConfigMap, status PVC, Deployment and Service of the ms-server."""

    config_text: str
    config_checksum: str
    msctl: pulumi.Output[dict]
    endpoint: pulumi.Output[str]

    def __init__(self, name: str, args: MsServerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mindie:ms_server:MsServer", name, None, opts)
        if args.uid == 0 or args.gid == 0:
            raise ValueError("uid/gid = 0: the ms-server runs as a dedicated non-root user")
        child = pulumi.ResourceOptions(parent=self)
        install = service_install_path(args.user)
        labels = standard_labels(APP_NAME, args.instance, COMPONENT, args.version)
        selector = selector_labels(APP_NAME, args.instance)

        secrets_from_ca = not (args.host_path and args.host_security)
        config = ms_server_config(
            install,
            args.ip,
            args.port,
            args.k8s_apiserver_ip,
            args.k8s_apiserver_port,
            args.log_level,
            args.client_mindie_server_tls_enable,
            server_crl=secrets_from_ca,
        )
        self.config_text = render_config(config)
        self.config_checksum = sha256_hex(self.config_text)
        self.config_map = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{DEPLOYMENT_NAME}-config", namespace=args.namespace, labels=labels
            ),
            data={CONFIG_FILE: self.config_text},
            opts=child,
        )

        identities = [
            i for i in IDENTITIES if i != "mindieclient-mgmt" or args.client_mindie_server_tls_enable
        ]
        if secrets_from_ca:
            missing = [i for i in identities if i not in args.security_secrets]
            if missing:
                raise ValueError(f"security_secrets: no Secret for {missing} (keys: {identities})")

        self.pvc: Optional[k8s.core.v1.PersistentVolumeClaim] = None
        if not args.host_path:
            # status.json must survive pod restarts and `pulumi up`: a claim with a fixed name that
            # Pulumi only replaces on a spec change, protected (and retained on delete) in prod.
            self.pvc = state_claim(
                f"{name}-status",
                claim_name=f"{DEPLOYMENT_NAME}-status",
                namespace=args.namespace,
                labels=labels,
                storage_class=args.storage_class,
                size=args.storage_size,
                parent=self,
                protect=args.protect,
            )

        volumes, main_mounts, init_mounts = self._volumes(
            args,
            identities,
            secrets_from_ca,
            self.config_map.metadata.name,
            self.pvc.metadata.name if self.pvc else None,
        )
        security = container_security_context(
            run_as_user=args.uid, run_as_group=args.gid, read_only_root_filesystem=True
        )
        annotations: dict[str, pulumi.Input[str]] = {"checksum/config": self.config_checksum}
        if args.tls_checksum is not None and secrets_from_ca:
            annotations["checksum/tls"] = args.tls_checksum

        init = staging.init_container(
            args.image,
            "IfNotPresent",
            staged_files(identities, secrets_from_ca),
            init_mounts,
            run_as_user=args.uid,
            run_as_group=args.gid,
            # the image's conf/ (other JSON ms_server may read) and the log directories the seed
            # pre-creates (0750)
            dirs=[staging.StagedDir(f"{install}/conf", "conf")],
            extra=[f"mkdir -p -m 0750 {LOG_DIR}/run {LOG_DIR}/operation"],
        )
        main = k8s.core.v1.ContainerArgs(
            name=CONTAINER_NAME,
            image=args.image,
            image_pull_policy="IfNotPresent",
            working_dir=install,
            command=["./bin/ms_server", f"./conf/{CONFIG_FILE}"],
            env=[
                k8s.core.v1.EnvVarArgs(name="HSECEASY_PATH", value=f"{install}/lib"),
                k8s.core.v1.EnvVarArgs(
                    name="MINDIE_MS_SERVER_IP",
                    value_from=k8s.core.v1.EnvVarSourceArgs(
                        field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="status.podIP")
                    ),
                ),
            ],
            ports=[k8s.core.v1.ContainerPortArgs(name="https", container_port=args.port, protocol="TCP")],
            # Every long-running container is probed (issue 17). ms_server's API is mutual TLS and
            # has no health endpoint: a TCP connect proves the listener is up without a client cert.
            readiness_probe=k8s.core.v1.ProbeArgs(
                tcp_socket=k8s.core.v1.TCPSocketActionArgs(port=args.port),
                period_seconds=10,
                timeout_seconds=3,
                failure_threshold=3,
            ),
            liveness_probe=k8s.core.v1.ProbeArgs(
                tcp_socket=k8s.core.v1.TCPSocketActionArgs(port=args.port),
                initial_delay_seconds=30,
                period_seconds=20,
                timeout_seconds=5,
                failure_threshold=3,
            ),
            security_context=security,
            resources=k8s.core.v1.ResourceRequirementsArgs(requests=args.requests, limits=args.limits),
            volume_mounts=main_mounts,
        )
        meta = k8s.meta.v1.ObjectMetaArgs(name=DEPLOYMENT_NAME, namespace=args.namespace, labels=labels)
        pod_labels = {**labels, "app": APP_NAME}  # `app: ms-server`: the seed's label, for kubectl -l
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta,
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                revision_history_limit=3,
                # One writer of status.json on a ReadWriteOnce volume, and one listener on the port
                # (the seed warns of port clashes while an old pod is still stopping): never two pods.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels, annotations=annotations),
                    spec=k8s.core.v1.PodSpecArgs(
                        termination_grace_period_seconds=args.termination_grace_period_seconds,
                        # ms_server authenticates to the API server with the kubeclient certificate,
                        # never with a service-account token: no token in the pod.
                        automount_service_account_token=False,
                        enable_service_links=False,
                        node_selector=dict(MASTER_SELECTOR),
                        # The management node usually carries the control-plane taint; the seed
                        # requires the pod there, so tolerate it (no effect on untainted nodes).
                        tolerations=[
                            k8s.core.v1.TolerationArgs(key=key, operator="Exists", effect="NoSchedule")
                            for key in CONTROL_PLANE_TAINTS
                        ],
                        security_context=pod_security_context(
                            run_as_user=args.uid,
                            run_as_group=args.gid,
                            # Group ownership of the volumes, so the UID can read Secret/ConfigMap
                            # files and write the PVC; OnRootMismatch avoids a recursive chown per start.
                            fs_group=args.gid,
                            fs_group_change_policy="OnRootMismatch",
                        ),
                        image_pull_secrets=(
                            [k8s.core.v1.LocalObjectReferenceArgs(name=args.pull_secret)]
                            if args.pull_secret
                            else None
                        ),
                        init_containers=[init],
                        containers=[main],
                        volumes=volumes,
                    ),
                ),
            ),
            opts=child,
        )

        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta,
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                cluster_ip=args.service_cluster_ip,
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="https", port=args.port, target_port="https")],
            ),
            opts=child,
        )
        dst_ip: pulumi.Input[Optional[str]] = (
            args.msctl_dst_ip or args.service_cluster_ip or self.service.spec.cluster_ip
        )
        self.msctl = pulumi.Output.from_input(dst_ip).apply(
            lambda ip: msctl_config(
                ip, args.port, args.msctl_security_dir, args.msctl_timeout, args.msctl_log_level
            )
        )
        self.endpoint = pulumi.Output.concat(
            "https://",
            self.service.metadata.name,
            ".",
            pulumi.Output.from_input(args.namespace),
            ".svc:",
            str(args.port),
        )
        self.register_outputs(
            {"msctl": self.msctl, "endpoint": self.endpoint, "configChecksum": self.config_checksum}
        )

    @staticmethod
    def _volumes(
        args: MsServerArgs,
        identities: list[str],
        secrets_from_ca: bool,
        config_map_name: pulumi.Input[str],
        claim_name: Optional[pulumi.Input[str]],
    ) -> tuple[list, list, list]:
        v1 = k8s.core.v1
        install = service_install_path(args.user)
        volumes = [
            v1.VolumeArgs(
                name="config",
                config_map=v1.ConfigMapVolumeSourceArgs(
                    name=config_map_name,
                    items=[v1.KeyToPathArgs(key=CONFIG_FILE, path=CONFIG_FILE)],
                    default_mode=0o440,
                ),
            ),
            staging.volume(),
        ]
        init_mounts = [
            v1.VolumeMountArgs(name="config", mount_path=f"{SOURCE}/config", read_only=True),
            v1.VolumeMountArgs(name="logs", mount_path=LOG_DIR),
        ]
        main_mounts = [
            staging.mount("conf", f"{install}/conf"),
            v1.VolumeMountArgs(name="logs", mount_path=LOG_DIR),
            v1.VolumeMountArgs(name="data", mount_path=DATA_DIR),
        ]
        if secrets_from_ca:
            # Keys never touch the node's disk: staged into the memory-backed staging volume, read-only.
            main_mounts.insert(1, staging.mount("security", f"{install}/security"))
            for identity in identities:
                secret = args.security_secrets[identity]
                volumes.append(
                    staging.secret_volume(f"tls-{identity}", secret, keys=security_tree.secret_keys(identity))
                )
                init_mounts.append(
                    v1.VolumeMountArgs(
                        name=f"tls-{identity}", mount_path=f"{SOURCE}/{identity}", read_only=True
                    )
                )
        else:
            main_mounts.insert(
                1, v1.VolumeMountArgs(name="security", mount_path=f"{install}/security", read_only=True)
            )
            volumes.append(
                v1.VolumeArgs(
                    name="security",
                    host_path=_host_dir(args.host_security),
                )
            )
        if args.host_path:
            volumes += [
                v1.VolumeArgs(name="logs", host_path=_host_dir(args.host_logs)),
                v1.VolumeArgs(name="data", host_path=_host_dir(args.host_data)),
            ]
        else:
            volumes += [
                v1.VolumeArgs(
                    name="logs", empty_dir=v1.EmptyDirVolumeSourceArgs(size_limit=args.log_size_limit)
                ),
                v1.VolumeArgs(
                    name="data",
                    persistent_volume_claim=v1.PersistentVolumeClaimVolumeSourceArgs(claim_name=claim_name),
                ),
            ]
        return volumes, main_mounts, init_mounts


def _host_dir(path: Optional[str]) -> k8s.core.v1.HostPathVolumeSourceArgs:
    """The seed's hostPath: an existing directory (type Directory: never created by the kubelet)."""
    # The settings refuse these first; the component keeps the seed's rule on its own args too.
    why = forbidden_host_path(path or "")
    if why is None and shared_top_level(path or ""):
        why = "is a shared top-level directory"
    if why:
        raise ValueError(f"hostPath {path!r} {why}: mount a dedicated directory")
    return k8s.core.v1.HostPathVolumeSourceArgs(path=path, type="Directory")
