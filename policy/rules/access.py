"""Access helpers over resource properties (Mapping / Sequence only: they work on pulumi_policy's proxies)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any, Optional

from domain.kubernetes import COMPONENT_LABEL, NPU_RESOURCES
from domain.rollout import scaled_pods


def is_map(value: Any) -> bool:
    return isinstance(value, Mapping)


def is_seq(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def get(node: Any, *path: Any, default: Any = None) -> Any:
    """node[path[0]][path[1]]... or `default` when any step is missing or None."""
    for key in path:
        if isinstance(key, int):
            if not is_seq(node) or not -len(node) <= key < len(node):
                return default
        elif not is_map(node) or key not in node:
            return default
        node = node[key]
        if node is None:
            return default
    return node


def seq(value: Any) -> list[Any]:
    """A list of a Sequence's items ([] for anything else)."""
    return [value[i] for i in range(len(value))] if is_seq(value) else []


def plain(value: Any) -> Any:
    """A plain dict/list copy of a (proxied) value, for messages and JSON."""
    if is_map(value):
        return {k: plain(value[k]) for k in value}
    if is_seq(value):
        return [plain(v) for v in seq(value)]
    return value


def number(value: Any) -> Optional[float]:
    """Numbers arrive as floats from the engine; numeric strings (quantities) too."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(plain(value)) if is_map(value) or is_seq(value) else repr(value)


def kind_of(resource_type: str) -> str:
    """`kubernetes:apps/v1:Deployment` -> `Deployment`; '' for other providers."""
    if not resource_type.startswith("kubernetes:"):
        return ""
    return resource_type.rsplit(":", 1)[-1]


def labels(props: Any) -> Mapping[str, Any]:
    return get(props, "metadata", "labels", default={})


def component(props: Any) -> str:
    """The workload's `app.kubernetes.io/component` (object labels, else pod-template labels)."""
    value = get(labels(props), COMPONENT_LABEL)
    if value is None:
        value = get(pod_template(props), "metadata", "labels", COMPONENT_LABEL)
    return str(value or "")


def object_name(props: Any) -> str:
    return str(get(props, "metadata", "name", default=""))


def namespace_of(props: Any) -> str:
    return str(get(props, "metadata", "namespace", default=""))


def pod_template(props: Any) -> Any:
    kind = get(props, "kind")
    if kind == "Pod":
        return props
    if kind == "CronJob":
        return get(props, "spec", "jobTemplate", "spec", "template", default={})
    return get(props, "spec", "template", default={})


def pod_spec(props: Any) -> Any:
    return get(pod_template(props), "spec", default={})


CONTAINER_KEYS = ("initContainers", "containers", "ephemeralContainers")


def containers(spec: Any, keys: Sequence[str] = CONTAINER_KEYS) -> list[tuple[str, Any]]:
    """(label, container) for init, regular and ephemeral containers (those under `keys`)."""
    found = []
    for key in keys:
        for c in seq(get(spec, key)):
            found.append((f"{key}[{get(c, 'name', default='?')}]", c))
    return found


ContainerCheck = Callable[[Any, Any], Iterable[str]]
"""check(pod spec, container) -> the container's problems."""


def per_container(props: Any, check: ContainerCheck, keys: Sequence[str] = CONTAINER_KEYS) -> list[str]:
    """ "<container label>: <problem>" for every problem `check` finds in a container of the pod."""
    spec = pod_spec(props)
    return [f"{where}: {problem}" for where, c in containers(spec, keys) for problem in check(spec, c)]


def env_entries(props: Any) -> list[tuple[str, Any]]:
    """(container label, env entry) for every env entry of every container of the pod."""
    return [(where, env) for where, c in containers(pod_spec(props)) for env in seq(get(c, "env"))]


def npu_counts(container: Any) -> dict[str, tuple[Any, Any]]:
    """NPU resource -> (request, limit) for the NPU resources a container mentions."""
    requests = get(container, "resources", "requests", default={})
    limits = get(container, "resources", "limits", default={})
    found = {}
    for npu in NPU_RESOURCES:
        if npu in requests or npu in limits:
            found[npu] = (get(requests, npu), get(limits, npu))
    return found


def json_documents(configmap: Any) -> dict[str, Any]:
    """key -> parsed JSON for every `*.json` entry of a ConfigMap's data (unparseable ones skipped)."""
    docs = {}
    data = get(configmap, "data", default={})
    for key in data:
        if str(key).endswith(".json") and isinstance(data[key], str):
            try:
                docs[str(key)] = json.loads(data[key])
            except json.JSONDecodeError:
                continue
    return docs


def walk(value: Any, path: str = "", last: str = "") -> Iterable[tuple[str, str, Any]]:
    """(path, last mapping key, leaf) for every leaf under value."""
    if is_map(value):
        for k in value:
            yield from walk(value[k], f"{path}.{k}" if path else str(k), str(k))
    elif is_seq(value):
        for i, v in enumerate(seq(value)):
            yield from walk(v, f"{path}[{i}]", last)
    else:
        yield path, last, value


def find_keys(value: Any, wanted: Callable[[str], bool]) -> list[tuple[str, Any]]:
    """(path, value) for every mapping entry whose key satisfies `wanted` (any depth)."""
    found: list[tuple[str, Any]] = []

    def visit(node: Any, path: str) -> None:
        if is_map(node):
            for k in node:
                sub = f"{path}.{k}" if path else str(k)
                if wanted(str(k)):
                    found.append((sub, node[k]))
                visit(node[k], sub)
        elif is_seq(node):
            for i, v in enumerate(seq(node)):
                visit(v, f"{path}[{i}]")

    visit(value, "")
    return found


def percent_or_int(value: Any, replicas: int, round_up: bool) -> Optional[int]:
    """A rolling-update bound resolved like the Deployment controller (and the seed)."""
    if isinstance(value, str) and value.endswith("%"):
        try:
            pct = Fraction(float(value[:-1]))
        except (ValueError, OverflowError):
            return None
        return scaled_pods(replicas, pct, round_up)
    n = number(value)
    return None if n is None else int(n)
