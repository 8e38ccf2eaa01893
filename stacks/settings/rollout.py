"""Rolling-update planning for the MindIE Server instance groups, as pure functions.

The seed defines the two rollout knobs of infer_server.json as

    unavailable = floor(replicas x max_unavailable)
    surge       = ceil(replicas x max_surge)

which is exactly how the Kubernetes Deployment controller resolves percentages
(`deploymentutil.ResolveFenceposts`: maxSurge rounds up, maxUnavailable rounds
down), with one difference the seed does not mention: when BOTH resolve to 0
Kubernetes sets maxUnavailable to 1 "on the theory that surge might not work due
to quota". The plan below reports both the seed's number and the one Kubernetes
will use (`effective_unavailable`).

The deadlock this module exists for: every surge pod needs `npu_chip_num` NPU
chips on ONE node. If the cluster has no such room left beside the running
replicas, the surge pod stays Pending; if at the same time maxUnavailable
resolved to 0, the controller never deletes an old pod to make room, and the
rollout never moves. With a declared `mindie:npuInventory` the plan proves this
before anything is declared and names the fix.

Capacity is modelled per NPU type as `nodes` x `chipsPerNode`; a pod fits on a
node when the node has `npu_chip_num` free chips (single-node instances never
span nodes). Several groups of one NPU type share that capacity: a group's
rollout is checked with every other group at its steady size (rollouts of two
groups that run at the same time compete for the same spare room). Packing is
first-fit decreasing, i.e. the best case for the scheduler: a deadlock reported
here cannot be avoided by any placement, while a fragmented cluster can still
stall a rollout this check lets through.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional

from domain import rollout

from .errors import SettingsError
from .fields import percent_value


def surge_pods(replicas: int, max_surge: str) -> int:
    """ceil(replicas x max_surge), exactly (domain.rollout)."""
    return rollout.surge_pods(replicas, percent_value(max_surge))


def unavailable_pods(replicas: int, max_unavailable: str) -> int:
    """floor(replicas x max_unavailable)."""
    return rollout.unavailable_pods(replicas, percent_value(max_unavailable))


def kubernetes_fenceposts(replicas: int, max_surge: str, max_unavailable: str) -> tuple[int, int]:
    """(surge, unavailable) as the Deployment controller resolves them (ResolveFenceposts)."""
    surge = surge_pods(replicas, max_surge)
    unavailable = unavailable_pods(replicas, max_unavailable)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def min_percent_for_one_pod(replicas: int) -> int:
    """The smallest max_unavailable percentage with floor(replicas x p / 100) >= 1."""
    return -(-100 // replicas)


@dataclass(frozen=True)
class GroupDemand:
    """What one instance group asks of the cluster."""

    group: str
    """Instance group name (its server_name)."""
    setting: str
    """Config path of the group, for messages (e.g. `mindie:inferServer`)."""
    npu_type: str
    replicas: int
    chips_per_pod: int
    max_surge: str
    max_unavailable: str


@dataclass(frozen=True)
class Pool:
    """Declared capacity of one NPU type."""

    nodes: int
    chips_per_node: int


@dataclass(frozen=True)
class RolloutPlan:
    """What a rolling update of one group will do, and whether it can finish."""

    group: str
    npu_type: str
    replicas: int
    chips_per_pod: int
    max_surge: str
    max_unavailable: str
    surge_pods: int
    """ceil(replicas x max_surge): extra pods the rollout may create."""
    unavailable_pods: int
    """floor(replicas x max_unavailable): the seed's number."""
    effective_unavailable_pods: int
    """What Kubernetes uses: 1 when surge and unavailable both round to 0."""
    kubernetes_fallback: bool
    """True when Kubernetes raised maxUnavailable from 0 to 1 (the seed's formula says 0)."""
    min_serving_replicas: int
    """Replicas the controller keeps available throughout the rollout."""
    peak_pods: int
    """replicas + surge: the most pods of this group at once."""
    peak_chips: int
    """peak_pods x chips per pod: NPU chips the rollout needs at its peak."""
    capacity_pods: Optional[int]
    """Pods of this group the declared inventory can hold beside the other groups (None: no inventory)."""
    schedulable_surge_pods: int
    """Surge pods that can actually start (all of them without an inventory)."""
    waves: int
    """Batches of pods replaced at once: ceil(replicas / (schedulable surge + unavailable))."""
    can_progress: bool

    def as_output(self) -> dict[str, Any]:
        """camelCase dict for the stack output."""
        return {_camel(k): v for k, v in asdict(self).items()}

    def summary(self) -> str:
        capacity = (
            "no inventory declared"
            if self.capacity_pods is None
            else (f"room for {self.capacity_pods} pods of {self.chips_per_pod} chips")
        )
        fallback = " (Kubernetes raises 0 to 1)" if self.kubernetes_fallback else ""
        return (
            f"rollout {self.group}: {self.replicas} x {self.chips_per_pod} {self.npu_type} chips, "
            f"surge {self.surge_pods} (max_surge {self.max_surge}), unavailable "
            f"{self.unavailable_pods}{fallback} (max_unavailable {self.max_unavailable}); "
            f"peak {self.peak_pods} pods / {self.peak_chips} chips, at least "
            f"{self.min_serving_replicas} serving, {self.waves} wave(s); {capacity}"
        )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def pack(pods: Sequence[int], pool: Pool) -> Optional[list[int]]:
    """First-fit decreasing: free chips per node after placing `pods`, or None if they do not fit."""
    free = [pool.chips_per_node] * pool.nodes
    for chips in sorted(pods, reverse=True):
        for i, room in enumerate(free):
            if room >= chips:
                free[i] -= chips
                break
        else:
            return None
    return free


def plan(demand: GroupDemand, capacity_pods: Optional[int] = None) -> RolloutPlan:
    """The plan of one group; `capacity_pods` = how many of its pods fit (None: unknown)."""
    r = demand.replicas
    surge = surge_pods(r, demand.max_surge)
    unavailable = unavailable_pods(r, demand.max_unavailable)
    k_surge, k_unavailable = kubernetes_fenceposts(r, demand.max_surge, demand.max_unavailable)
    spare = None if capacity_pods is None else max(0, capacity_pods - r)
    schedulable = k_surge if spare is None else min(k_surge, spare)
    per_wave = schedulable + k_unavailable
    return RolloutPlan(
        group=demand.group,
        npu_type=demand.npu_type,
        replicas=r,
        chips_per_pod=demand.chips_per_pod,
        max_surge=demand.max_surge,
        max_unavailable=demand.max_unavailable,
        surge_pods=surge,
        unavailable_pods=unavailable,
        effective_unavailable_pods=k_unavailable,
        kubernetes_fallback=k_unavailable != unavailable,
        min_serving_replicas=r - min(k_unavailable, r),
        peak_pods=r + k_surge,
        peak_chips=(r + k_surge) * demand.chips_per_pod,
        capacity_pods=capacity_pods,
        schedulable_surge_pods=schedulable,
        waves=math.ceil(r / per_wave) if per_wave else 0,
        can_progress=per_wave > 0,
    )


def plan_all(
    demands: Sequence[GroupDemand], inventory: Optional[Mapping[str, Pool]] = None
) -> list[RolloutPlan]:
    """Plan every group; raise SettingsError naming each group that cannot run or roll out."""
    problems: list[str] = []
    plans: list[RolloutPlan] = []
    for demand in demands:
        capacity = None
        if inventory is not None:
            capacity, problem = _capacity(demand, demands, inventory)
            if problem:
                problems.append(problem)
                continue
        result = plan(demand, capacity)
        if not result.can_progress:
            problems.append(_deadlock_message(demand, result, inventory))
        plans.append(result)
    if problems:
        raise SettingsError(problems)
    return plans


def _capacity(
    demand: GroupDemand, demands: Sequence[GroupDemand], inventory: Mapping[str, Pool]
) -> tuple[Optional[int], Optional[str]]:
    """Pods of `demand` that fit beside the other groups of its NPU type, or a problem."""
    pool = inventory.get(demand.npu_type)
    if pool is None:
        declared = ", ".join(sorted(inventory)) or "none"
        return None, (
            f'{demand.setting}: group "{demand.group}" needs {demand.npu_type} chips but '
            f"mindie:npuInventory declares no {demand.npu_type} capacity (declared: {declared}); "
            f"add mindie:npuInventory.{demand.npu_type}: {{nodes: N, chipsPerNode: M}}"
        )
    where = f"mindie:npuInventory.{demand.npu_type} ({pool.nodes} nodes x {pool.chips_per_node} chips)"
    if demand.chips_per_pod > pool.chips_per_node:
        return None, (
            f"{demand.setting}.resource_requests.npu_chip_num = {demand.chips_per_pod}: a pod needs "
            f"{demand.chips_per_pod} {demand.npu_type} chips on one node but {where} has at most "
            f"{pool.chips_per_node} per node; lower npu_chip_num or declare larger nodes"
        )
    same_type = [d for d in demands if d.npu_type == demand.npu_type]
    others = [d.chips_per_pod for d in same_type if d is not demand for _ in range(d.replicas)]
    steady = others + [demand.chips_per_pod] * demand.replicas
    free = pack(steady, pool)
    if free is None:
        need = sum(steady)
        groups = ", ".join(f"{d.group} {d.replicas} x {d.chips_per_pod}" for d in same_type)
        return None, (
            f"{demand.setting}.replicas = {demand.replicas}: the {demand.npu_type} groups ({groups}) "
            f"need {need} chips in whole pods but {where} cannot hold them even before a rollout; "
            f"lower replicas or declare more capacity"
        )
    return demand.replicas + sum(room // demand.chips_per_pod for room in free), None


def _deadlock_message(
    demand: GroupDemand, result: RolloutPlan, inventory: Optional[Mapping[str, Pool]]
) -> str:
    pool = (inventory or {}).get(demand.npu_type)
    where = (
        f"mindie:npuInventory.{demand.npu_type} ({pool.nodes} nodes x {pool.chips_per_node} chips)"
        if pool
        else "the declared inventory"
    )
    minimum = min_percent_for_one_pod(demand.replicas)
    return (
        f'{demand.setting}: the rolling update of group "{demand.group}" can never make progress: '
        f'max_unavailable "{demand.max_unavailable}" of {demand.replicas} replicas rounds down to 0 pods, '
        f'so Kubernetes first needs a surge pod (max_surge "{demand.max_surge}" -> '
        f"{result.surge_pods}) with {demand.chips_per_pod} {demand.npu_type} chips on one node, and "
        f"{where} has no such room beside the {demand.replicas} running replicas. Fix: raise "
        f'max_unavailable to at least "{minimum}%", or set max_surge to "0%" (Kubernetes then '
        f"replaces one pod at a time), or add a node with {demand.chips_per_pod} free "
        f"{demand.npu_type} chips"
    )
