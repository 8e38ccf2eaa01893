"""Where the Motor pods find their files, and the form of the JSON files they read.

The config generators (stacks/composition/motor_files.py) write these paths into
ms_coordinator.json, ms_controller.json and http_client_ctl.json; the components mount
the files there. One home for both sides.
"""

from __future__ import annotations

import json
from typing import Any

CONFIG_DIR = "/mnt/mindie/conf"
"""Where the staged (copied, components/staging.py) JSON files are mounted read-only."""
SECURITY_DIR = "/mnt/mindie/security"
"""Staged certificates: <SECURITY_DIR>/self (the pod's own identity), /mindieclient (towards the
servers' inference port, business CA) and /mindieclient-mgmt (towards their management and metrics
ports, management CA: the port verifies clients against managementTlsCaFile)."""
CLIENT_IDENTITIES = ("mindieclient", "mindieclient-mgmt")
"""The client identities towards the servers, staged under SECURITY_DIR/<identity>."""
COORDINATOR_JSON = f"{CONFIG_DIR}/ms_coordinator.json"
CONTROLLER_JSON = f"{CONFIG_DIR}/ms_controller.json"
HTTP_CLIENT_CTL_JSON = f"{CONFIG_DIR}/http_client_ctl.json"
RANKTABLE_DIR = "/mnt/mindie/ranktable"
"""Writable directory of the global rank table (the writer sidecar writes it, the controller reads it)."""
RANKTABLE_FILE = f"{RANKTABLE_DIR}/global_ranktable.json"
WRITER_HEALTH_DIR = "/mnt/mindie/ranktable-writer-health"
"""The writer's heartbeat files (`alive`: its loop turns; `ready`: its last listing succeeded),
on a tiny emptyDir of its own: its probes read their age (issue 17: probes on every container)."""
WRITER_DIR = "/mnt/mindie/ranktable-writer"
"""The writer sidecar's program, its writer.json and the declared server_list.json (read-only)."""
TOKEN_DIR = "/var/run/secrets/mindie/serviceaccount"
"""The writer's projected API credentials (token, ca.crt, namespace); mounted in the sidecar only."""


def dump(data: Any) -> str:
    """Canonical JSON (sorted keys, stable), the content of a ConfigMap key."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
