"""Rollout arithmetic at its edges, Kubernetes' rounding, packing and deadlock detection (pure)."""

from __future__ import annotations

import math

import pytest

from stacks.settings.errors import SettingsError
from stacks.settings.rollout import (
    GroupDemand,
    Pool,
    kubernetes_fenceposts,
    min_percent_for_one_pod,
    pack,
    plan,
    plan_all,
    surge_pods,
    unavailable_pods,
)


def demand(replicas=4, chips=8, surge="0%", unavailable="25%", npu="Ascend910", group="g", setting="s"):
    return GroupDemand(
        group=group,
        setting=setting,
        npu_type=npu,
        replicas=replicas,
        chips_per_pod=chips,
        max_surge=surge,
        max_unavailable=unavailable,
    )


@pytest.mark.parametrize(
    ("replicas", "percent", "surge", "unavailable"),
    [
        (1, "0%", 0, 0),
        (1, "1%", 1, 0),  # surge rounds up, unavailable down
        (1, "50%", 1, 0),
        (1, "99%", 1, 0),
        (1, "100%", 1, 1),
        (2, "50%", 1, 1),
        (3, "25%", 1, 0),
        (3, "33%", 1, 0),
        (3, "34%", 2, 1),
        (4, "25%", 1, 1),
        (10, "33%", 4, 3),
        (256, "100%", 256, 256),
        (256, "0%", 0, 0),
        (7, "10%", 1, 0),  # 0.7: no float surprise either way
    ],
)
def test_seed_rounding(replicas, percent, surge, unavailable):
    assert surge_pods(replicas, percent) == surge
    assert unavailable_pods(replicas, percent) == unavailable


def test_integer_arithmetic_matches_kubernetes_float_formula_everywhere():
    # Kubernetes: math.Ceil / math.Floor of float64(percent) * float64(replicas) / 100.
    for replicas in range(1, 257):
        for p in range(101):
            assert surge_pods(replicas, f"{p}%") == math.ceil(p * replicas / 100), (replicas, p)
            assert unavailable_pods(replicas, f"{p}%") == math.floor(p * replicas / 100), (replicas, p)


def test_kubernetes_raises_unavailable_to_one_when_both_round_to_zero():
    assert kubernetes_fenceposts(1, "0%", "50%") == (0, 1)
    assert kubernetes_fenceposts(3, "0%", "25%") == (0, 1)
    assert kubernetes_fenceposts(3, "25%", "25%") == (1, 0)  # surge > 0: no fallback
    assert kubernetes_fenceposts(4, "0%", "25%") == (0, 1)  # already 1


def test_min_percent_for_one_pod_is_the_smallest():
    for replicas in range(1, 257):
        p = min_percent_for_one_pod(replicas)
        assert unavailable_pods(replicas, f"{p}%") >= 1, replicas
        assert p == 1 or unavailable_pods(replicas, f"{p - 1}%") == 0, replicas


def test_plan_one_replica_replace_in_place():
    result = plan(demand(replicas=1, surge="0%", unavailable="100%"))
    assert (result.surge_pods, result.unavailable_pods, result.effective_unavailable_pods) == (0, 1, 1)
    assert result.min_serving_replicas == 0
    assert (result.peak_pods, result.peak_chips) == (1, 8)
    assert result.waves == 1 and result.can_progress and not result.kubernetes_fallback


def test_plan_one_replica_surge_first():
    result = plan(demand(replicas=1, surge="100%", unavailable="0%"))
    assert (result.surge_pods, result.effective_unavailable_pods) == (1, 0)
    assert result.min_serving_replicas == 1
    assert (result.peak_pods, result.peak_chips) == (2, 16)
    assert result.waves == 1 and result.can_progress


def test_plan_seed_example_uses_kubernetes_fallback():
    result = plan(demand(replicas=1, surge="0%", unavailable="50%"))
    assert result.unavailable_pods == 0 and result.effective_unavailable_pods == 1
    assert result.kubernetes_fallback
    assert result.min_serving_replicas == 0 and result.waves == 1


def test_plan_waves_and_capacity_limited_surge():
    result = plan(demand(replicas=10, surge="30%", unavailable="10%"), capacity_pods=11)
    assert (result.surge_pods, result.effective_unavailable_pods) == (3, 1)
    assert result.schedulable_surge_pods == 1  # only one free slot
    assert result.waves == 5  # ceil(10 / (1 + 1))
    assert result.peak_pods == 13 and result.peak_chips == 104
    assert plan(demand(replicas=10, surge="30%", unavailable="10%")).waves == 3  # ceil(10 / 4)


def test_plan_without_room_deadlocks():
    result = plan(demand(replicas=1, surge="100%", unavailable="0%"), capacity_pods=1)
    assert result.schedulable_surge_pods == 0 and not result.can_progress and result.waves == 0


def test_plan_output_is_camel_case():
    out = plan(demand()).as_output()
    assert out["peakChips"] == 32 and out["minServingReplicas"] == 3 and out["capacityPods"] is None


def test_pack_first_fit_decreasing():
    assert pack([8, 8], Pool(2, 8)) == [0, 0]
    assert pack([8, 8, 8], Pool(2, 8)) is None
    assert pack([2, 4, 2, 8], Pool(2, 8)) == [0, 0]
    assert pack([4, 4, 4], Pool(2, 8)) == [0, 4]
    assert pack([], Pool(1, 4)) == [4]


def test_plan_all_without_inventory_never_fails_on_capacity():
    plans = plan_all([demand(replicas=256, surge="100%", unavailable="0%")])
    assert plans[0].capacity_pods is None and plans[0].can_progress


def test_deadlock_detected_with_fix():
    with pytest.raises(SettingsError) as info:
        plan_all(
            [demand(replicas=3, surge="25%", unavailable="25%", setting="mindie:inferServer", group="srv")],
            {"Ascend910": Pool(3, 8)},
        )
    (message,) = info.value.problems
    assert message.startswith('mindie:inferServer: the rolling update of group "srv" can never make progress')
    assert 'max_unavailable "25%" of 3 replicas rounds down to 0 pods' in message
    assert '(max_surge "25%" -> 1) with 8 Ascend910 chips on one node' in message
    assert "mindie:npuInventory.Ascend910 (3 nodes x 8 chips)" in message
    assert 'raise max_unavailable to at least "34%"' in message
    assert 'set max_surge to "0%"' in message and "add a node with 8 free Ascend910 chips" in message


def test_no_deadlock_with_one_spare_slot_or_one_unavailable_pod():
    plans = plan_all([demand(replicas=3, surge="25%", unavailable="25%")], {"Ascend910": Pool(4, 8)})
    assert plans[0].capacity_pods == 4 and plans[0].schedulable_surge_pods == 1 and plans[0].waves == 3
    plans = plan_all([demand(replicas=3, surge="25%", unavailable="34%")], {"Ascend910": Pool(3, 8)})
    assert plans[0].schedulable_surge_pods == 0 and plans[0].waves == 3
    plans = plan_all([demand(replicas=3, surge="0%", unavailable="25%")], {"Ascend910": Pool(3, 8)})
    assert plans[0].effective_unavailable_pods == 1 and plans[0].can_progress


def test_spare_chips_on_a_node_count_only_in_whole_pods():
    # 2 nodes x 8 chips, 3 pods of 4: one node has 4 free -> exactly one surge pod fits.
    plans = plan_all([demand(replicas=3, chips=4, surge="34%", unavailable="0%")], {"Ascend910": Pool(2, 8)})
    assert plans[0].capacity_pods == 4 and plans[0].schedulable_surge_pods == 1
    # 3 nodes x 6 chips, 3 pods of 4: 2 chips free per node, no room for a 4-chip pod.
    with pytest.raises(SettingsError):
        plan_all([demand(replicas=3, chips=4, surge="34%", unavailable="0%")], {"Ascend910": Pool(3, 6)})


def test_groups_of_one_type_share_capacity():
    a = demand(replicas=2, chips=8, surge="0%", unavailable="50%", group="a")
    b = demand(
        replicas=1,
        chips=8,
        surge="100%",
        unavailable="0%",
        group="b",
        setting="mindie:servers.extraGroups[0]",
    )
    with pytest.raises(SettingsError) as info:
        plan_all([a, b], {"Ascend910": Pool(3, 8)})
    assert len(info.value.problems) == 1 and 'group "b"' in info.value.problems[0]
    plans = plan_all([a, b], {"Ascend910": Pool(4, 8)})
    assert [p.capacity_pods for p in plans] == [3, 2]


def test_other_npu_types_do_not_share_capacity():
    a = demand(replicas=2, chips=8, npu="Ascend910")
    b = demand(replicas=1, chips=4, surge="100%", unavailable="0%", npu="Ascend310P", group="b")
    plans = plan_all([a, b], {"Ascend910": Pool(2, 8), "Ascend310P": Pool(1, 8)})
    assert plans[1].capacity_pods == 2 and plans[1].can_progress


def test_missing_type_in_inventory():
    with pytest.raises(SettingsError) as info:
        plan_all([demand(npu="Ascend310P", setting="mindie:inferServer")], {"Ascend910": Pool(2, 8)})
    assert info.value.problems == [
        'mindie:inferServer: group "g" needs Ascend310P chips but mindie:npuInventory declares no '
        "Ascend310P capacity (declared: Ascend910); add mindie:npuInventory.Ascend310P: "
        "{nodes: N, chipsPerNode: M}"
    ]


def test_pod_larger_than_a_node():
    with pytest.raises(SettingsError) as info:
        plan_all([demand(chips=8, npu="Ascend310P", setting="x")], {"Ascend310P": Pool(4, 4)})
    assert info.value.problems[0].startswith(
        "x.resource_requests.npu_chip_num = 8: a pod needs 8 Ascend310P chips"
    )


def test_steady_state_over_capacity():
    with pytest.raises(SettingsError) as info:
        plan_all([demand(replicas=5, setting="mindie:inferServer")], {"Ascend910": Pool(4, 8)})
    assert info.value.problems[0].startswith(
        "mindie:inferServer.replicas = 5: the Ascend910 groups (g 5 x 8)"
    )
    assert "need 40 chips in whole pods" in info.value.problems[0]


def test_exactly_full_cluster_rolls_with_one_unavailable():
    plans = plan_all([demand(replicas=4, surge="0%", unavailable="25%")], {"Ascend910": Pool(4, 8)})
    assert plans[0].capacity_pods == 4 and plans[0].waves == 4 and plans[0].min_serving_replicas == 3
