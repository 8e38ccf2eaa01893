"""The MindIE Server instance groups from the settings: one ServerGroup per group, with its rollout plan.

`server_group_args` maps one group's settings to the component's plain args; the files it hands over are
rendered by server_files.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import pulumi

from components.ca import CertificateAuthority
from components.namespace import Namespace
from components.server import Claim, HostPath, Rollout, ServerGroup, ServerGroupArgs, all_endpoints
from domain.enums import PullPolicy
from domain.images import image_tag
from domain.mindie_server_paths import SERVER_IDENTITIES
from stacks.settings.fields import quantity_bytes
from stacks.settings.infer_server import InferServer, Scheduler
from stacks.settings.motor import prefix_cache_required
from stacks.settings.rollout import RolloutPlan, kubernetes_fenceposts
from stacks.settings.runtime_user import RuntimeUser
from stacks.settings.servers import (
    HostPathVolume,
    ModelSource,
    ServersSettings,
    ascend_home,
)
from stacks.settings.stack import Entry, Settings, rollout_plans, server_groups

from .images import mindie_image
from .server_files import config_files, fault_scheduling, limit_factor, ring_controller
from .tls import identities


def rollout(plan: RolloutPlan) -> Rollout:
    """What the component does with a group's rollout plan: log it, time the Deployment, register it."""
    return Rollout(
        summary=plan.summary(),
        waves=plan.waves,
        output=plan.as_output(),
        surge_unchecked=plan.effective_unavailable_pods == 0 and plan.capacity_pods is None,
    )


def _host_path(volume: Optional[HostPathVolume]) -> Optional[HostPath]:
    return None if volume is None else HostPath(path=volume.path, type=volume.type.value)


def server_group_args(
    *,
    namespace: pulumi.Input[str],
    server: InferServer,
    servers: ServersSettings,
    model: ModelSource,
    entry_is_server: bool = True,
    prefix_cache: bool = False,
    tls_secrets: Optional[Mapping[str, pulumi.Input[str]]] = None,
    tls_checksum: Optional[pulumi.Input[str]] = None,
    rollout_plan: Optional[RolloutPlan] = None,
    image: Optional[pulumi.Input[str]] = None,
    runtime_user: Optional[RuntimeUser] = None,
) -> ServerGroupArgs:
    """One group's ServerGroupArgs: `server` is its complete infer_server.json (extra groups: inferServer
    with their overrides), `servers` is `mindie:servers`, `image` None: `servers.image`."""
    cfg = server.mindie_server_config
    req = server.resource_requests
    user = runtime_user if runtime_user is not None else RuntimeUser()
    data = servers.writable_data
    _, unavailable = kubernetes_fenceposts(server.replicas, server.max_surge, server.max_unavailable)
    return ServerGroupArgs(
        namespace=namespace,
        group=server.server_name,
        files=config_files(server, servers, model, prefix_cache),
        image=image if image is not None else servers.image,
        image_pull_policy=PullPolicy(servers.image_pull_policy.value),
        # the version label from the configured reference (a derived image's is an Output)
        version=image_tag(image if isinstance(image, str) else servers.image),
        mies_install_path=cfg.mies_install_path,
        enable_tls=cfg.enable_tls,
        replicas=server.replicas,
        max_surge=server.max_surge,
        max_unavailable=server.max_unavailable,
        pdb_max_unavailable=unavailable,
        termination_grace_period_seconds=server.termination_grace_period_seconds,
        init_delay=server.init_delay,
        detect_server_inner_error=server.detect_server_inner_error,
        readiness_timeout=server.readiness_timeout,
        readiness_failure_threshold=server.readiness_failure_threshold,
        liveness_timeout=server.liveness_timeout,
        liveness_failure_threshold=server.liveness_failure_threshold,
        infer_port=cfg.infer_port,
        management_port=cfg.management_port,
        metrics_port=servers.engine.metrics_port,
        service_port=server.service_port,
        npu_type=req.npu_type.value,
        npu_chip_num=req.npu_chip_num,
        memory_mi=req.memory,
        cpu_millicores=req.cpu_core,
        limit_factor=limit_factor(servers.limit_policy),
        volcano=server.scheduler is Scheduler.VOLCANO,
        ring_controller=ring_controller(server, servers),
        fault_scheduling=fault_scheduling(server),
        npu_fault_reschedule=server.npu_fault_reschedule,
        model_mount_path=model.mount_path,
        model_host_path=_host_path(model.host_path),
        model_claim=(
            Claim(
                claim_name=model.persistent_volume_claim.claim_name,
                read_only=model.persistent_volume_claim.read_only,
            )
            if model.persistent_volume_claim is not None
            else None
        ),
        data_mount_path=data.mount_path,
        data_host_path=_host_path(data.host_path),
        data_size_limit=data.size_limit,
        shm_size_limit=servers.shm_size_limit,
        shm_size_bytes=quantity_bytes(servers.shm_size_limit),
        mount_driver_from_host=servers.mount_driver_from_host,
        uid=user.uid,
        gid=user.gid,
        supplemental_groups=list(servers.security_context.supplemental_groups),
        read_only_root_filesystem=servers.security_context.read_only_root_filesystem,
        entry_is_server=entry_is_server,
        tls_secrets=tls_secrets,
        tls_checksum=tls_checksum,
        rollout=rollout(rollout_plan) if rollout_plan is not None else None,
    )


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
            server_group_args(
                namespace=namespace.name,
                server=group.server,
                servers=settings.servers,
                model=group.model,
                entry_is_server=not entry_is_coordinator,
                prefix_cache=prefix_cache,
                tls_secrets=identities(ca, *SERVER_IDENTITIES),
                tls_checksum=ca.checksum,
                rollout_plan=plan,
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
