"""mindie:msServer -> the ms-server Deployer's image, RBAC and Deployment; their stack outputs."""

from __future__ import annotations

from typing import Any, Optional

import pulumi

from components.ca import CertificateAuthority
from components.ms_server import IDENTITIES, MsServer, MsServerArgs
from components.ms_server_image import MsServerImage, MsServerImageArgs
from components.rbac import DeployerRbac, DeployerRbacArgs
from domain.enums import MotorLogLevel
from domain.images import image_tag
from stacks.settings.ms_server import ImageSource, MsServerSettings
from stacks.settings.runtime_user import RuntimeUser
from stacks.settings.stack import Settings

from .tls import identities


def ms_server_deployer(
    settings: Settings,
    namespace: pulumi.Input[str],
    ca: CertificateAuthority,
    protect: bool,
    opts: pulumi.ResourceOptions,
) -> dict[str, Any]:
    """The ms-server image, RBAC and Deployment from `mindie:msServer`; returns its stack outputs."""
    ms = settings.ms_server
    if ms is None:
        raise ValueError("ms_server_deployer: mindie:msServer is not set")
    image = MsServerImage("ms-server", ms_server_image_args(ms, settings.runtime_user))
    DeployerRbac(
        "ms-server",
        DeployerRbacArgs(namespace=namespace, kubeclient_cn=ca.kubeclient_cn, scope=ms.rbac.scope.value),
        opts=opts,
    )
    server = MsServer(
        "ms-server",
        ms_server_args(
            ms,
            settings.runtime_user,
            namespace=namespace,
            image=image.image_ref,
            security_secrets=identities(ca, *IDENTITIES),
            tls_checksum=ca.checksum,
            servers_tls=settings.infer_server.mindie_server_config.enable_tls,
            protect=protect,
        ),
        opts=opts,
    )
    return {
        "msServerImage": image.image_ref,
        "msServerImageDigest": image.digest,
        "msServerEndpoint": server.endpoint,
        "msctlConfig": server.msctl,
    }


def ms_server_image_args(ms: MsServerSettings, runtime_user: RuntimeUser) -> MsServerImageArgs:
    return MsServerImageArgs(
        reference=ms.image.reference,
        build=ms.image.source is ImageSource.BUILD,
        context=ms.image.context,
        base_image=ms.image.base_reference(),
        user=ms.user,
        group=ms.effective_group,
        uid=runtime_user.uid,
        gid=runtime_user.gid,
        push=ms.image.push,
        platform=ms.image.platform,
    )


def ms_server_args(
    ms: MsServerSettings,
    runtime_user: RuntimeUser,
    *,
    namespace: pulumi.Input[str],
    image: pulumi.Input[str],
    security_secrets: dict[str, pulumi.Input[str]],
    tls_checksum: Optional[pulumi.Input[str]],
    servers_tls: bool,
    protect: bool,
) -> MsServerArgs:
    """The one mapping of `mindie:msServer` (and the servers' enable_tls) onto the component's args."""
    storage = ms.storage
    return MsServerArgs(
        namespace=namespace,
        image=image,
        k8s_apiserver_ip=ms.k8s_apiserver_ip,
        security_secrets=security_secrets,
        tls_checksum=tls_checksum,
        user=ms.user,
        uid=runtime_user.uid,
        gid=runtime_user.gid,
        ip=ms.ip,
        port=ms.port,
        k8s_apiserver_port=ms.k8s_apiserver_port,
        log_level=MotorLogLevel(ms.log_level.value),
        # Unset: the servers' enable_tls (SingleNodeServer.cpp ParseMindIEConfigParams wants them equal).
        client_mindie_server_tls_enable=(
            servers_tls if ms.client_mindie_server_tls_enable is None else ms.client_mindie_server_tls_enable
        ),
        termination_grace_period_seconds=ms.termination_grace_period_seconds,
        requests=ms.resources.requests.model_dump(),
        limits=ms.resources.limits.model_dump(),
        host_path=ms.uses_host_path,
        host_logs=storage.host_paths.logs,
        host_data=storage.host_paths.data,
        host_security=storage.host_paths.security,
        storage_size=storage.size,
        storage_class=storage.storage_class,
        log_size_limit=storage.log_size_limit,
        pull_secret=ms.image.pull_secret,
        service_cluster_ip=ms.service_cluster_ip,
        msctl_dst_ip=ms.msctl.dst_ip,
        msctl_security_dir=ms.msctl.security_dir,
        msctl_timeout=ms.msctl.timeout,
        msctl_log_level=MotorLogLevel(ms.msctl.log_level.value),
        protect=protect,
        version=image_tag(ms.image.reference),
    )
