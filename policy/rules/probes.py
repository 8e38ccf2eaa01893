"""Probes: every MindIE Server container is probed, within the seed's ranges."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from domain.probes import INIT_DELAY, PROBE_FAILURE_THRESHOLD, PROBE_TIMEOUT

from .access import component, fmt, get, npu_counts, number, pod_spec, seq
from .kinds import WORKLOAD_KINDS
from .registry import rule
from .views import ResourceContext

PROBE_RANGES = {
    # infer_server.json table 2: liveness_timeout / readiness_timeout [1, 600] s,
    # liveness_failure_threshold / readiness_failure_threshold [1, 10].
    "livenessProbe": {"timeoutSeconds": PROBE_TIMEOUT, "failureThreshold": PROBE_FAILURE_THRESHOLD},
    "readinessProbe": {"timeoutSeconds": PROBE_TIMEOUT, "failureThreshold": PROBE_FAILURE_THRESHOLD},
}
PROBE_DEFAULTS = {"timeoutSeconds": 1, "failureThreshold": 3}
"""Kubernetes' defaults when a probe leaves the field out."""
STARTUP_WINDOW = INIT_DELAY
"""init_delay [10, 1800] s: the startup probe's window (initialDelay + period x failureThreshold)."""


def server_containers(props: Any) -> list[tuple[str, Any]]:
    """The main containers of a server pod (those that get NPUs, else all regular containers)."""
    main = [
        (f"containers[{get(c, 'name', default='?')}]", c) for c in seq(get(pod_spec(props), "containers"))
    ]
    with_npu = [(w, c) for w, c in main if npu_counts(c)]
    return with_npu or main


@rule(
    "server-probes",
    "probes",
    "Every MindIE Server container has a startup, a readiness and a liveness probe.",
    "Declare startupProbe (init_delay), readinessProbe and livenessProbe as the Deployer did "
    "(http_client_ctl on the management port).",
    types=WORKLOAD_KINDS,
)
def server_probes(props: Any, ctx: ResourceContext) -> list[str]:
    if component(props) != "server":
        return []
    return [
        f"{where}: no {probe}"
        for where, c in server_containers(props)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe")
        if get(c, probe) is None
    ]


@rule(
    "server-probe-ranges",
    "probes",
    "Server probe settings stay within the seed's ranges: liveness/readiness timeoutSeconds "
    "{}-{} and failureThreshold {}-{}; the startup window (initialDelaySeconds + periodSeconds x "
    "failureThreshold) {}-{} s (init_delay).".format(*PROBE_TIMEOUT, *PROBE_FAILURE_THRESHOLD, *INIT_DELAY),
    "Take the probe values from mindie:inferServer (liveness_timeout, readiness_timeout, "
    "*_failure_threshold, init_delay) within the seed's ranges.",
    types=WORKLOAD_KINDS,
    severity=Severity.MEDIUM,
)
def server_probe_ranges(props: Any, ctx: ResourceContext) -> list[str]:
    if component(props) != "server":
        return []
    problems = []
    for where, c in server_containers(props):
        for probe, ranges in PROBE_RANGES.items():
            if get(c, probe) is None:
                continue
            for key, (lo, hi) in ranges.items():
                value = number(get(c, probe, key, default=PROBE_DEFAULTS[key]))
                if value is None or not lo <= value <= hi:
                    problems.append(f"{where}: {probe}.{key} = {fmt(value)}: allowed {lo} to {hi}")
        startup = get(c, "startupProbe")
        if startup is not None:
            window = (number(get(startup, "initialDelaySeconds", default=0)) or 0) + (
                number(get(startup, "periodSeconds", default=10)) or 0
            ) * (number(get(startup, "failureThreshold", default=3)) or 0)
            lo, hi = STARTUP_WINDOW
            if not lo <= window <= hi:
                problems.append(
                    f"{where}: startupProbe window {fmt(window)} s: allowed {lo} to {hi} (init_delay)"
                )
    return problems
