"""NPUs and rollouts: NPU counts agree with the config, rolling updates can complete on the NPUs there are."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from .access import (
    containers,
    find_keys,
    fmt,
    get,
    is_map,
    json_documents,
    namespace_of,
    npu_counts,
    number,
    object_name,
    percent_or_int,
    plain,
    pod_spec,
    seq,
)
from .kinds import WORKLOAD_KINDS
from .registry import rule
from .views import ResourceContext, StackResource, StackView


@rule(
    "npu-request-equals-limit",
    "npu-rollout",
    "NPU requests equal NPU limits (extended resources cannot be overcommitted) and are positive integers.",
    "Set the same count for huawei.com/Ascend910 (or Ascend310P) under resources.requests and limits.",
    types=WORKLOAD_KINDS,
)
def npu_request_equals_limit(props: Any, ctx: ResourceContext) -> list[str]:
    problems = []
    for where, c in containers(pod_spec(props)):
        for npu, (req, lim) in npu_counts(c).items():
            r, lm = number(req), number(lim)
            if r is None or lm is None:
                problems.append(f"{where}: {npu} request {fmt(req)} / limit {fmt(lim)}: both must be set")
            elif r != lm:
                problems.append(f"{where}: {npu} request {fmt(req)} != limit {fmt(lim)}")
            elif r < 1 or not r.is_integer():
                problems.append(f"{where}: {npu} count {fmt(req)} is not a positive integer")
    return problems


def rollout_bounds(props: Any) -> Optional[tuple[int, int, int]]:
    """(replicas, surge pods, unavailable pods) of a RollingUpdate Deployment, else None."""
    if get(props, "kind") != "Deployment":
        return None
    strategy = get(props, "spec", "strategy", default={})
    if get(strategy, "type", default="RollingUpdate") != "RollingUpdate":
        return None
    replicas = int(number(get(props, "spec", "replicas", default=1)) or 0)
    surge = percent_or_int(get(strategy, "rollingUpdate", "maxSurge", default="25%"), replicas, True)
    unavailable = percent_or_int(
        get(strategy, "rollingUpdate", "maxUnavailable", default="25%"), replicas, False
    )
    if surge is None or unavailable is None:
        return None
    return replicas, surge, unavailable


@rule(
    "rollout-can-move",
    "npu-rollout",
    "A rolling update's maxSurge and maxUnavailable never both resolve to 0 pods "
    "(surge = ceil(replicas x max_surge), unavailable = floor(replicas x max_unavailable)).",
    "Raise max_unavailable (e.g. 25%, or 100% for one replica) or max_surge.",
    types=("Deployment",),
)
def rollout_can_move(props: Any, ctx: ResourceContext) -> list[str]:
    bounds = rollout_bounds(props)
    if bounds is None:
        return []
    replicas, surge, unavailable = bounds
    if surge == 0 and unavailable == 0:
        strategy = plain(get(props, "spec", "strategy", "rollingUpdate", default={}))
        return [
            f"replicas {replicas}, rollingUpdate {strategy}: surge and unavailable both resolve to 0 pods"
        ]
    return []


def server_configs(stack: StackView, workload: StackResource) -> list[tuple[StackResource, str, Any]]:
    """(ConfigMap, key, parsed JSON) of the server config.json ConfigMaps a workload mounts."""
    names = {
        str(get(v, "configMap", "name"))
        for v in seq(get(pod_spec(workload.props), "volumes"))
        if get(v, "configMap", "name") is not None
    }
    for v in seq(get(pod_spec(workload.props), "volumes")):
        for src in seq(get(v, "projected", "sources")):
            if get(src, "configMap", "name") is not None:
                names.add(str(get(src, "configMap", "name")))
    found = []
    for cm in stack.of_kind("ConfigMap"):
        if object_name(cm.props) in names and namespace_of(cm.props) == namespace_of(workload.props):
            for key, doc in json_documents(cm.props).items():
                if find_keys(doc, lambda k: k == "worldSize"):
                    found.append((cm, key, doc))
    return found


def declared_groups(stack: StackView) -> list[Any]:
    """The server groups the stack declares in its outputs (the server component's `endpoints` shape)."""
    groups = []
    for key in stack.outputs:
        for item in seq(stack.outputs[key]):
            if is_map(item) and "deployment" in item and "npu_chip_num" in item:
                groups.append(item)
    return groups


@rule(
    "npu-matches-config",
    "npu-rollout",
    "Each server Deployment's NPU count equals its group's npu_chip_num and the worldSize "
    "(and npuDeviceIds) of the config.json it mounts.",
    "Derive the NPU request, worldSize and npuDeviceIds from the same npu_chip_num (the seed: "
    "huawei.com/Ascend910 must match config.json's worldSize).",
    scope="stack",
)
def npu_matches_config(stack: StackView) -> list[tuple[str, Optional[str]]]:
    problems: list[tuple[str, Optional[str]]] = []
    groups = {str(get(g, "deployment")): g for g in declared_groups(stack)}
    for w in stack.workloads("server"):
        counts = [
            number(lim) for _, c in containers(pod_spec(w.props)) for _, (_, lim) in npu_counts(c).items()
        ]
        if not counts:
            problems.append((f"{w.kind} {object_name(w.props)}: a server without an NPU request", w.urn))
            continue
        chips = sum(c or 0 for c in counts)
        group = groups.get(object_name(w.props))
        if group is not None and number(get(group, "npu_chip_num")) != chips:
            problems.append(
                (
                    f"{object_name(w.props)}: NPU count {fmt(chips)} != npu_chip_num "
                    f"{fmt(get(group, 'npu_chip_num'))} of group {get(group, 'group')!r}",
                    w.urn,
                )
            )
        problems += [(message, w.urn) for message in _config_mismatches(stack, w, chips)]
    return problems


def _config_mismatches(stack: StackView, w: StackResource, chips: float) -> list[str]:
    """Where the config.json a server mounts disagrees with its NPU count (worldSize, npuDeviceIds)."""
    problems = []
    name = object_name(w.props)
    for cm, key, doc in server_configs(stack, w):
        source = f"{object_name(cm.props)}/{key}"
        for path, value in find_keys(doc, lambda k: k == "worldSize"):
            if number(value) != chips:
                problems.append(f"{name}: NPU count {fmt(chips)} != {source} {path} = {fmt(value)}")
        for path, value in find_keys(doc, lambda k: k == "npuDeviceIds"):
            problems += [
                f"{name}: {source} {path} lists {len(seq(ids))} devices, the pod gets {fmt(chips)}"
                for ids in seq(value)
                if len(seq(ids)) != chips
            ]
    return problems


def npu_inventory(stack: StackView) -> Mapping[str, Any]:
    """The declared NPU capacity: policy config `npuInventory`, else the stack output `npuInventory`."""
    return get(stack.config, "npuInventory") or get(stack.outputs, "npuInventory") or {}


@rule(
    "rollout-fits-npu-inventory",
    "npu-rollout",
    "With the declared NPU inventory, every server group fits and its rolling update can complete: "
    "either maxUnavailable frees a pod's NPUs first, or there are free NPUs for a surge pod on one node.",
    "Raise max_unavailable (so an old pod leaves first), lower max_surge, lower replicas or add capacity "
    "to mindie:npuInventory.",
    scope="stack",
    config={"npuInventory": {"type": "object"}},
)
def rollout_fits_npu_inventory(stack: StackView) -> list[tuple[str, Optional[str]]]:
    inventory = npu_inventory(stack)
    if not inventory:
        return _against_planned_capacity(stack)
    problems: list[tuple[str, Optional[str]]] = []
    for npu_type, groups in sorted(npu_groups(stack).items()):
        problems += _fits_inventory(npu_type, groups, get(inventory, npu_type))
    return problems


NpuGroup = tuple[StackResource, int, int]
"""(workload, NPUs of one pod, replicas)."""


def npu_groups(stack: StackView) -> dict[str, list[NpuGroup]]:
    """NPU type (Ascend910, ...) -> the workloads that request it."""
    by_type: dict[str, list[NpuGroup]] = {}
    for w in stack.workloads():
        replicas = int(number(get(w.props, "spec", "replicas", default=1)) or 0)
        for _, c in containers(pod_spec(w.props)):
            for npu, (_, lim) in npu_counts(c).items():
                by_type.setdefault(npu.split("/", 1)[1], []).append((w, int(number(lim) or 0), replicas))
    return by_type


def _fits_inventory(npu_type: str, groups: list[NpuGroup], capacity: Any) -> list[tuple[str, Optional[str]]]:
    """The groups of one NPU type against that type's inventory (nodes x chipsPerNode)."""
    if capacity is None:
        return [
            (f"{object_name(w.props)} needs {npu_type} but the inventory declares none", w.urn)
            for w, _, _ in groups
        ]
    nodes = int(number(get(capacity, "nodes")) or 0)
    per_node = int(number(get(capacity, "chipsPerNode")) or 0)
    total = nodes * per_node
    used = sum(n * r for _, n, r in groups)
    what = f"{npu_type} inventory {nodes} nodes x {per_node} chips"
    problems: list[tuple[str, Optional[str]]] = []
    if used > total:
        problems.append((f"{what} = {total} chips; the server groups need {used} at steady state", None))
    for w, n, replicas in groups:
        if n > per_node:
            problems.append(
                (f"{object_name(w.props)}: one pod needs {n} chips, a node has {per_node}", w.urn)
            )
            continue
        bounds = rollout_bounds(w.props)
        if bounds is None or bounds[2] >= 1:
            continue  # not a rolling update, or maxUnavailable frees a pod's NPUs first
        surge = bounds[1]
        if len(groups) == 1:
            free_pods = nodes * (per_node // n) - replicas
        else:  # several groups share the nodes: count chips (an optimistic packing)
            free_pods = (total - used) // n
        if surge < 1 or free_pods < 1:
            peak = (replicas + max(surge, 1)) * n
            problems.append(
                (
                    f"{object_name(w.props)}: the rollout needs {peak} {npu_type} chips at peak "
                    f"({replicas} replicas + {surge} surge x {n} chips) but {what} has room for "
                    f"{max(free_pods, 0)} more pod(s), and maxUnavailable rounds to 0: the surge pod stays "
                    "Pending and the rollout never completes",
                    w.urn,
                )
            )
    return problems


def _against_planned_capacity(stack: StackView) -> list[tuple[str, Optional[str]]]:
    """Without a raw inventory: the per-group pod capacity the stack declares (a `rolloutPlan`-like
    output: group/deployment + capacityPods), checked against the Deployments' own rollout settings."""
    problems: list[tuple[str, Optional[str]]] = []
    capacity: dict[str, int] = {}
    for key in stack.outputs:
        for item in seq(stack.outputs[key]):
            # capacityPods null = no inventory declared (the engine keeps a None output as null).
            if not is_map(item) or get(item, "capacityPods") is None:
                continue
            if "deployment" in item or "group" in item:
                target = str(get(item, "deployment") or get(item, "group"))
                capacity[target] = int(number(get(item, "capacityPods")) or 0)
    for w in stack.workloads():
        name = object_name(w.props)
        bounds = rollout_bounds(w.props)
        if name not in capacity or bounds is None:
            continue
        replicas, surge, unavailable = bounds
        slots = capacity[name]
        if replicas > slots:
            problems.append(
                (f"{name}: {replicas} replicas but the NPU inventory has room for {slots} pods", w.urn)
            )
        elif unavailable < 1 and (surge < 1 or slots - replicas < 1):
            problems.append(
                (
                    f"{name}: the rollout cannot complete: maxUnavailable rounds to 0 and the inventory has "
                    f"room for {slots} pods, {replicas} in use, surge {surge}: the surge pod stays Pending",
                    w.urn,
                )
            )
    return problems
