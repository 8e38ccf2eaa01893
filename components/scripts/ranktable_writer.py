#!/usr/bin/env python3
"""Writes MindIE Motor's global rank table from the pods the Kubernetes API lists.

Runs as a sidecar of the Controller pod (stdlib only: it ships in a ConfigMap
and runs with the image's python3, nothing is installed). What the scripts'
gen_global_ranktable.py does once with kubectl after `deploy.sh`, this does
continuously:

- it reads the declared `server_list.json` (server groups: selector, replica
  count, ports; generated from the server component's endpoints) and its own
  `writer.json` (namespace, the coordinator's selector, paths, refresh period);
- it lists the pods of the namespace with the pod's projected service-account
  token (RBAC: get/list/watch on pods of this namespace, nothing else);
- it writes `global_ranktable.json` atomically (temporary file in the same
  directory, fsync, rename) into the emptyDir the Controller reads, with
  `status: completed` only when every expected server pod is Running, Ready
  and has an IP, and the coordinator has an IP; `initializing` before;
- it waits on a watch of the pods (a change rewrites at once) bounded by the
  refresh period (a full re-list at least that often).

The format follows MindIE's global_ranktable.json (see docs/motor.md): groups
"2" (servers), "1" (controller), "0" (coordinator), `server_count` as a string,
`server_id` the node's IP, `server_ip` the pod IP, and for servers
`predict_port` / `mgmt_port` (strings, as MindIE's generator writes them) and
`device` from the Ascend device plugin's pod annotation when present.

`build_ranktable` and the helpers above it are pure functions (tests import
this module); everything below `# --- runtime` talks to the API and the disk.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import ssl
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any, Optional

VERSION = "1.0"
COMPLETED = "completed"
INITIALIZING = "initializing"
SERVER_GROUP = "2"
CONTROLLER_GROUP = "1"
COORDINATOR_GROUP = "0"
DEVICE_ANNOTATION = "ascend.kubectl.kubernetes.io/ascend-910-configuration"
"""Written by the Ascend device plugin on every pod it gives NPUs (the hccl rank table's source)."""
FILE_MODE = 0o640
"""MindIE refuses group/other-writable files; the controller runs as the same UID/GID."""

log = logging.getLogger("ranktable-writer")


# --- pure functions ---------------------------------------------------------------------


def selector_matches(selector: Mapping[str, str], labels: Optional[Mapping[str, str]]) -> bool:
    """matchLabels semantics: every selector pair is among the labels (an empty selector matches nothing)."""
    labels = labels or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_running(pod: Mapping[str, Any]) -> bool:
    """Running, not being deleted, and with an IP."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    running = status.get("phase") == "Running" and not meta.get("deletionTimestamp")
    return running and bool(status.get("podIP"))


def pod_ready(pod: Mapping[str, Any]) -> bool:
    """pod_running and the Ready condition True (all containers pass their readiness probes)."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return pod_running(pod) and ready


def _name(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("name", ""))


def pod_devices(pod: Mapping[str, Any]) -> Optional[list[dict[str, str]]]:
    """The NPUs the device plugin assigned (its annotation), as rank-table `device` entries; None if absent.

    device_logical_id / rank_id are the device's index inside the pod, as MindIE's
    own single-node generator sets them ("单机场景直接使用rank_id").
    """
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEVICE_ANNOTATION)
    if not raw:
        return None
    try:
        devices = json.loads(raw).get("devices") or []
        found = []
        for index, d in enumerate(devices):
            found.append(
                {
                    "device_id": str(d["device_id"]),
                    "device_ip": str(d["device_ip"]),
                    "device_logical_id": str(index),
                    "rank_id": str(index),
                }
            )
        return found or None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def server_entry(pod: Mapping[str, Any], group: Mapping[str, Any]) -> dict[str, Any]:
    status = pod.get("status") or {}
    entry: dict[str, Any] = {
        "server_id": str(status.get("hostIP") or status["podIP"]),
        "server_ip": str(status["podIP"]),
        "predict_port": str(group["infer_port"]),
        "mgmt_port": str(group["management_port"]),
    }
    devices = pod_devices(pod)
    if devices:
        entry["device"] = devices
    return entry


def pick_coordinator(pods: Iterable[Mapping[str, Any]], selector: Mapping[str, str]):
    """The coordinator pod: running with an IP; a Ready one first, then the newest (a rollout)."""
    candidates = [p for p in pods if selector_matches(selector, (p.get("metadata") or {}).get("labels"))]
    candidates = [p for p in candidates if pod_running(p)]
    if not candidates:
        return None

    def rank(p):
        created = str((p.get("metadata") or {}).get("creationTimestamp", ""))
        return (pod_ready(p), created, _name(p))

    return max(candidates, key=rank)


def build_ranktable(
    server_list: Mapping[str, Any],
    pods: Iterable[Mapping[str, Any]],
    controller_ip: Optional[str],
    coordinator_selector: Mapping[str, str],
    controller_node_ip: Optional[str] = None,
) -> dict[str, Any]:
    """global_ranktable.json from the declared server list and the pods of the namespace.

    Servers: every Ready pod of every declared group (declared group order, then pod
    name: a stable order, so an unchanged cluster gives byte-identical output). The
    coordinator needs only to run with an IP: its readiness waits for the controller,
    which waits for this table. `completed` iff each group has at least its declared
    replicas Ready (a rollout's surge pods are listed too) and both Motor IPs are known.
    """
    pods = list(pods)
    servers: list[dict[str, Any]] = []
    complete = True
    for group in server_list.get("groups", []):
        selector = group.get("selector") or {}
        ready = sorted(
            (p for p in pods if selector_matches(selector, (p.get("metadata") or {}).get("labels"))),
            key=_name,
        )
        ready = [p for p in ready if pod_ready(p)]
        if len(ready) < int(group.get("replicas", 0)) or not ready:
            complete = False
        servers += [server_entry(p, group) for p in ready]

    coordinator = pick_coordinator(pods, coordinator_selector)
    groups: list[dict[str, Any]] = [
        {"group_id": SERVER_GROUP, "server_count": str(len(servers)), "server_list": servers}
    ]
    if controller_ip:
        groups.append(
            {
                "group_id": CONTROLLER_GROUP,
                "server_count": "1",
                "server_list": [
                    {"server_id": controller_node_ip or controller_ip, "server_ip": controller_ip}
                ],
            }
        )
    else:
        complete = False
    if coordinator is not None:
        status = coordinator.get("status") or {}
        groups.append(
            {
                "group_id": COORDINATOR_GROUP,
                "server_count": "1",
                "server_list": [
                    {"server_id": str(status.get("hostIP") or status["podIP"]), "server_ip": status["podIP"]}
                ],
            }
        )
    else:
        complete = False
    return {
        "version": VERSION,
        "status": COMPLETED if complete else INITIALIZING,
        "server_group_list": groups,
    }


def render(table: Mapping[str, Any]) -> str:
    """The file's content: canonical JSON (stable key order), newline-terminated."""
    return json.dumps(table, indent=2, sort_keys=True) + "\n"


def summary(table: Mapping[str, Any]) -> str:
    counts = {g["group_id"]: g["server_count"] for g in table["server_group_list"]}
    return f"status={table['status']} servers={counts.get(SERVER_GROUP, '0')} groups={sorted(counts)}"


# --- runtime --------------------------------------------------------------------------------


def write_atomic(path: str, content: str) -> bool:
    """Replace `path` with `content` (same-directory temporary file, fsync, rename). False: unchanged."""
    try:
        with open(path, encoding="utf-8") as current:
            if current.read() == content:
                return False
    except FileNotFoundError:
        pass
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".global_ranktable.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return True


class Api:
    """The few Kubernetes API calls the writer makes, with the projected token (re-read each call:
    the kubelet rotates it)."""

    def __init__(self, config: Mapping[str, Any]):
        host = os.environ.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # IPv6 service IP
        self.base = f"https://{host}:{port}"
        self.token_path = config["token_path"]
        self.namespace = config["namespace"]
        self.context = ssl.create_default_context(cafile=config["ca_path"])

    def _get(self, path: str, query: Mapping[str, str], timeout: float):
        url = f"{self.base}{path}?{urllib.parse.urlencode(query)}"
        with open(self.token_path, encoding="utf-8") as f:
            token = f.read().strip()
        request = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
        )
        return urllib.request.urlopen(request, context=self.context, timeout=timeout)  # noqa: S310

    def list_pods(self) -> tuple[list[dict[str, Any]], str]:
        with self._get(f"/api/v1/namespaces/{self.namespace}/pods", {}, timeout=30) as response:
            body = json.load(response)
        return body.get("items") or [], str((body.get("metadata") or {}).get("resourceVersion", ""))

    def wait_for_change(self, resource_version: str, seconds: int) -> bool:
        """Watch the namespace's pods from resource_version for at most `seconds`. True: something changed."""
        query = {
            "watch": "1",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(seconds),
            "allowWatchBookmarks": "false",
        }
        with self._get(f"/api/v1/namespaces/{self.namespace}/pods", query, timeout=seconds + 15) as response:
            for line in response:
                if line.strip():
                    return True  # any event (ADDED, MODIFIED, DELETED, ERROR: re-list)
        return False


def load_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def heartbeat(config: dict, name: str) -> None:
    """Touch <health_dir>/<name>: the container's probes read its age (alive, ready)."""
    folder = config.get("health_dir")
    if not folder:
        return
    path = os.path.join(folder, name)
    try:
        with open(path, "a", encoding="utf-8"):
            pass
        os.utime(path, None)
    except OSError as error:  # a probe will report it; the table matters more
        log.warning("cannot touch %s (%s)", path, error)


def run(config_path: str) -> None:
    config = load_json(config_path)
    refresh = int(config["refresh_seconds"])
    output = config["output_path"]
    controller_ip = os.environ.get("POD_IP")
    node_ip = os.environ.get("NODE_IP")
    api = Api(config)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))

    # Until the API answers, the controller reads an explicit "initializing" table.
    server_list = load_json(config["server_list_path"])
    first = build_ranktable(server_list, [], controller_ip, config["coordinator_selector"], node_ip)
    if write_atomic(output, render(first)):
        log.info("wrote %s (%s)", output, summary(first))

    failures = 0
    while not stopping:
        heartbeat(config, "alive")
        try:
            server_list = load_json(config["server_list_path"])
            pods, version = api.list_pods()
            table = build_ranktable(server_list, pods, controller_ip, config["coordinator_selector"], node_ip)
            if write_atomic(output, render(table)):
                log.info("wrote %s (%s)", output, summary(table))
            heartbeat(config, "ready")
            failures = 0
            if api.wait_for_change(version, refresh):
                time.sleep(1)  # let a burst of pod updates settle before re-listing
        except Exception as error:  # noqa: BLE001 - keep the last good table, retry with backoff
            failures += 1
            delay = min(refresh, 2 ** min(failures, 6))
            log.warning("refresh failed (%s: %s); retrying in %ss", type(error).__name__, error, delay)
            time.sleep(delay)


def main(argv: list[str]) -> int:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if len(argv) != 2:
        print("usage: ranktable_writer.py <writer.json>", file=sys.stderr)
        return 2
    run(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
