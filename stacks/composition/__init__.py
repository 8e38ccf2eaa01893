"""Compose a whole MindIE deployment from validated settings.

Order matters only through data: every namespaced object takes the namespace
from the Namespace component's output, so Pulumi orders them itself.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.ca import CertificateAuthority
from components.mindie_image import MindieImage, MindieImageArgs
from components.motor import Motor, MotorArgs
from components.ms_server import MsServer, MsServerArgs
from components.ms_server_image import MsServerImage, MsServerImageArgs
from components.namespace import Namespace, NamespaceArgs
from components.network import ExternalAccess, NetworkPolicies, NetworkPoliciesArgs
from components.rbac import DeployerRbac, DeployerRbacArgs
from components.server import SERVER_IDENTITIES, ServerGroup, ServerGroupArgs, all_endpoints
from stacks.settings.images import ImageBuild
from stacks.settings.motor import motor_deployed, prefix_cache_required
from stacks.settings.ms_server import ImageSource, MsServerSettings
from stacks.settings.promotion import release_output
from stacks.settings.runtime_user import RuntimeUser
from stacks.settings.servers import ascend_home
from stacks.settings.stack import Entry, Environment, Settings, rollout_plans, server_groups, uses_host_path
from stacks.settings.tls import ca_args

from . import accepted_findings

# ConfigMaps and Secrets are updated in place. The provider's default replaces them on any data
# change, and a named one is deleted first, which makes the engine replace every Deployment that
# mounts it: all its pods deleted at once, outside the rolling-update bounds. In place, the pod
# template's checksum annotation rolls exactly the pods whose configuration changed, within those
# bounds (docs/lifecycle.md). Found by the engine tier (a replica change replaced the controller).
MUTABLE_CONFIG = {"enable_config_map_mutable": True, "enable_secret_mutable": True}


def kubernetes_provider(settings: Settings, stack: str) -> k8s.Provider:
    """The explicit provider every Kubernetes object uses (never the ambient default)."""
    target = settings.kubernetes
    if target.render_yaml_to_directory:
        return k8s.Provider(f"{stack}-k8s", render_yaml_to_directory=target.render_yaml_to_directory,
                            **MUTABLE_CONFIG)
    return k8s.Provider(
        f"{stack}-k8s",
        kubeconfig=target.kubeconfig,
        context=target.context,
        enable_server_side_apply=target.enable_server_side_apply,
        **MUTABLE_CONFIG,
    )


def build(settings: Settings, stack: str) -> dict[str, Any]:
    """Declare every component; return the stack outputs."""
    # Findings accepted on purpose carry checkov's skip annotation with the reason (issue 17).
    pulumi.runtime.register_stack_transformation(accepted_findings.transformation(settings.environment.value))
    opts = pulumi.ResourceOptions(providers={"kubernetes": kubernetes_provider(settings, stack)})
    # Lifecycle convention (issue 8, docs/lifecycle.md): components holding state take `protect`;
    # in prod their stateful children get protect + retain_on_delete, so `pulumi destroy` cannot take them.
    protect = settings.environment is Environment.PROD
    namespace = Namespace(
        settings.namespace,
        NamespaceArgs(
            name=settings.namespace,
            pod_security=pod_security_level(settings),
            extra_labels={"mindie.huawei.com/environment": settings.environment.value},
            protect=protect,
        ),
        opts=opts,
    )
    ca = CertificateAuthority(
        f"{settings.namespace}-ca",
        ca_args(settings.tls, namespace.name, settings.namespace, protect=protect),
        opts=opts,
    )
    outputs: dict[str, Any] = {
        "environment": settings.environment.value,
        "namespace": namespace.name,
        "entry": settings.entry.value,
        "serverName": settings.infer_server.server_name,
        "enableTls": settings.infer_server.mindie_server_config.enable_tls,
        **ca_outputs(ca),
    }
    deployed = ["server"]
    if settings.ms_server is not None:
        deployed.append("ms-server")
        outputs.update(
            ms_server_deployer(
                settings.ms_server,
                settings.runtime_user,
                namespace.name,
                kubeclient_cn=ca.kubeclient_cn,
                security_secrets=identities(ca, "msserver", "kubeclient", "mindieclient-mgmt"),
                tls_checksum=ca.checksum,
                protect=protect,
                opts=opts,
                enable_tls=settings.infer_server.mindie_server_config.enable_tls,
            )
        )
    outputs.update(server_instance_groups(settings, namespace, ca, opts))
    if motor_deployed(settings.entry is Entry.COORDINATOR, settings.motor):
        deployed += ["coordinator", "controller"]
        outputs.update(motor_pair(settings, namespace, ca, outputs["serverEndpoints"], protect, opts))
    network = network_policies(settings, namespace, deployed, opts)
    outputs["networkPolicies"] = network.names
    # promotion (issue 8): what release runs here and where it came from
    outputs["release"] = release_output(settings)
    return outputs


def pod_security_level(settings: Settings) -> str:
    """The Pod Security level the namespace enforces: the tightest its workloads allow.

    The seed's hostPath volumes (ms-server directories, the servers' model directory) are
    refused by the baseline and restricted profiles, so choosing one relaxes the namespace.
    """
    ms_host_path = settings.ms_server is not None and settings.ms_server.uses_host_path
    return "privileged" if ms_host_path or uses_host_path(settings) else "restricted"


def ca_outputs(ca: CertificateAuthority) -> dict[str, Any]:
    """Names only; every certificate's not-after and serial (hex, for mindie:tls.crl.revoked)."""
    return {
        "kubeclientCn": ca.kubeclient_cn,
        "tlsSecrets": ca.security_secrets,
        "tlsChecksum": ca.checksum,
        "tlsNotAfter": ca.not_after,
        "tlsSerials": ca.serials,
        # whether the root is the stand-in (dev only: staging and prod require mindie:tls.rootCa)
        "tlsRootCa": "stand-in (self-signed, dev only)" if ca.root_is_standin else "cluster CA (config)",
    }


def server_instance_groups(
    settings: Settings, namespace: Namespace, ca: CertificateAuthority, opts: pulumi.ResourceOptions
) -> dict[str, Any]:
    """One ServerGroup per instance group, with its rollout plan (validated with the settings)."""
    entry_is_coordinator = settings.entry is Entry.COORDINATOR
    # entry=coordinator with Motor's cache_affinity gives the servers prefix cache (rule: settings/motor.py).
    prefix_cache = prefix_cache_required(entry_is_coordinator, settings.motor)
    plans = rollout_plans(settings)
    install_path = settings.infer_server.mindie_server_config.mies_install_path
    image = mindie_image(
        "mindie-server",
        settings.servers.image,
        settings.servers.image_build,
        settings.runtime_user,
        ascend_home(settings.servers, install_path),
        install_path,
    )
    servers = [
        ServerGroup(
            group.server.server_name,
            ServerGroupArgs(
                namespace=namespace.name,
                server=group.server,
                servers=settings.servers,
                model=group.model,
                entry_is_server=not entry_is_coordinator,
                prefix_cache=prefix_cache,
                tls_secrets=identities(ca, *SERVER_IDENTITIES),
                tls_checksum=ca.checksum,
                rollout=plan,
                # a group naming its own image (a 310P group's 300I-Duo variant) runs it; the others
                # run mindie:servers.image, or the image this stack derives from it
                image=image.image_ref if group.image == settings.servers.image else group.image,
                runtime_user=settings.runtime_user,
            ),
            opts=opts,
        )
        for group, plan in zip(server_groups(settings), plans, strict=True)
    ]
    return {
        "serverImage": {"reference": image.image_ref, "digest": image.digest},
        "serverEndpoints": all_endpoints(servers),
        "rolloutPlan": [plan.as_output() for plan in plans],
        "prefixCache": prefix_cache,
    }


def motor_pair(
    settings: Settings,
    namespace: Namespace,
    ca: CertificateAuthority,
    server_endpoints: pulumi.Output[list[dict[str, Any]]],
    protect: bool,
    opts: pulumi.ResourceOptions,
) -> dict[str, Any]:
    """The Coordinator/Controller pair, finding the servers through their endpoints output."""
    server_config = settings.infer_server.mindie_server_config
    tls = server_config.enable_tls
    mies_install_path = settings.motor.mies_install_path or server_config.mies_install_path
    image = (
        mindie_image(
            "mindie-ms",
            settings.motor.image,
            settings.motor.image_build,
            settings.runtime_user,
            f"{settings.motor.mindie_user_home_path.rstrip('/')}/Ascend",
            mies_install_path,
        )
        if settings.motor.image is not None
        else None
    )
    motor = Motor(
        "mindie-ms",
        MotorArgs(
            namespace=namespace.name,
            motor=settings.motor,
            mies_install_path=mies_install_path,
            servers=server_endpoints,
            server_infer_port=server_config.infer_port,
            server_management_port=server_config.management_port,
            server_metrics_port=settings.servers.engine.metrics_port,
            entry_is_coordinator=settings.entry is Entry.COORDINATOR,
            node_port=settings.infer_server.service_port,
            enable_tls=tls,
            security_secrets=(
                identities(ca, "coordinator", "controller", "mindieclient", "mindieclient-mgmt")
                if tls
                else None
            ),
            tls_checksum=ca.checksum if tls else None,
            protect=protect,
            instance=settings.namespace,
            image=image.image_ref if image is not None else None,
            runtime_user=settings.runtime_user,
        ),
        opts=opts,
    )
    outputs: dict[str, Any] = {
        "coordinatorService": motor.coordinator_service, "controllerStateClaim": motor.state_claim,
    }
    if image is not None:
        outputs["motorImage"] = {"reference": image.image_ref, "digest": image.digest}
    return outputs


def mindie_image(
    name: str,
    reference: str,
    build: ImageBuild | None,
    runtime_user: RuntimeUser,
    ascend: str | None,
    mies_install_path: str,
) -> MindieImage:
    """The non-root MindIE image a component runs: derived from the stock image, or `reference` as is."""
    return MindieImage(
        name,
        MindieImageArgs(
            reference=reference,
            build=build is not None,
            base_image=build.base_reference() if build else "",
            user=build.user if build else "mindie",
            uid=runtime_user.uid,
            gid=runtime_user.gid,
            # The Ascend tree the user must own: the seed's /home/{user}/Ascend, the stock image's
            # /usr/local/Ascend; without a '/mindie/' in the install path, the install tree itself.
            ascend_home=ascend or mies_install_path,
            mies_install_path=mies_install_path,
            push=build.push if build else True,
            platform=build.platform if build else None,
        ),
    )


def network_policies(
    settings: Settings, namespace: Namespace, deployed: list[str], opts: pulumi.ResourceOptions
) -> NetworkPolicies:
    """Ingress rules for the deployed components; the entry is open on its entry port only."""
    ms = settings.ms_server
    api = settings.network.api_server
    # The API server's endpoint: mindie:network.apiServer, else ms_server.json's k8s_apiserver_ip:port.
    api_cidrs, api_ports = list(api.cidrs), set(api.ports)
    if not api_cidrs and ms is not None:
        host_bits = 32 if ":" not in ms.k8s_apiserver_ip else 128
        api_cidrs, api_ports = [f"{ms.k8s_apiserver_ip}/{host_bits}"], api_ports | {ms.k8s_apiserver_port}
    return NetworkPolicies(
        f"{settings.namespace}-network",
        NetworkPoliciesArgs(
            namespace=namespace.name,
            entry=settings.entry.value,
            # server: its infer_port; coordinator: its predict port (ms_coordinator.json http_config).
            entry_ports=[
                settings.infer_server.mindie_server_config.infer_port
                if settings.entry is Entry.SERVER
                else settings.motor.coordinator.ports.predict
            ],
            deployed=deployed,
            entry_sources=settings.network.entry_sources,
            api_server=ExternalAccess(ports=sorted(api_ports), cidrs=api_cidrs),
            # The Deployer's API creates Deployments: only msctl's sources, on its port. The servers'
            # metrics port: only the scrapers mindie:servers.metricsSources names.
            external={
                **(
                    {
                        "ms-server": ExternalAccess(
                            ports=[ms.port],
                            cidrs=ms.msctl_source_cidrs,
                            namespaces=list(ms.msctl.source_namespaces),
                        )
                    }
                    if ms is not None
                    else {}
                ),
                "server": ExternalAccess(
                    ports=[settings.servers.engine.metrics_port],
                    cidrs=list(settings.servers.metrics_sources.cidrs),
                    namespaces=list(settings.servers.metrics_sources.namespaces),
                ),
            },
        ),
        opts=opts,
    )


def ms_server_deployer(
    ms: MsServerSettings,
    runtime_user: RuntimeUser,
    namespace: pulumi.Input[str],
    kubeclient_cn: pulumi.Input[str],
    security_secrets: dict[str, pulumi.Input[str]],
    tls_checksum: pulumi.Input[str] | None,
    protect: bool,
    opts: pulumi.ResourceOptions,
    enable_tls: bool = True,
) -> dict[str, Any]:
    """The ms-server image, RBAC and Deployment from `mindie:msServer`; returns its stack outputs."""
    image = MsServerImage(
        "ms-server",
        MsServerImageArgs(
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
        ),
    )
    DeployerRbac(
        "ms-server",
        DeployerRbacArgs(namespace=namespace, kubeclient_cn=kubeclient_cn, scope=ms.rbac.scope.value),
        opts=opts,
    )
    storage = ms.storage
    server = MsServer(
        "ms-server",
        MsServerArgs(
            namespace=namespace,
            image=image.image_ref,
            k8s_apiserver_ip=ms.k8s_apiserver_ip,
            security_secrets=security_secrets,
            tls_checksum=tls_checksum,
            user=ms.user,
            uid=runtime_user.uid,
            gid=runtime_user.gid,
            ip=ms.ip,
            port=ms.port,
            k8s_apiserver_port=ms.k8s_apiserver_port,
            log_level=ms.log_level.value,
            # Unset: the servers' enable_tls (SingleNodeServer.cpp ParseMindIEConfigParams wants them equal).
            client_mindie_server_tls_enable=(
                enable_tls
                if ms.client_mindie_server_tls_enable is None
                else ms.client_mindie_server_tls_enable
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
            msctl_log_level=ms.msctl.log_level.value,
            protect=protect,
            version=ms.image.tag,
        ),
        opts=opts,
    )
    return {
        "msServerImage": image.image_ref,
        "msServerImageDigest": image.digest,
        "msServerEndpoint": server.endpoint,
        "msctlConfig": server.msctl,
    }


def identities(ca: CertificateAuthority, *names: str) -> dict[str, pulumi.Output[str]]:
    """The CA's Secret names for just the identities a component mounts (least privilege)."""
    return {name: ca.security_secrets[name] for name in names}
