"""Helpers shared by the tests (config of committed stacks, nested edits)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

from mindiectl import stackfile
from mindiectl.runtime import PROJECT_DIR

STACKS = stackfile.list_stacks(PROJECT_DIR)
DEMO_PASSPHRASE = "mindie-demo-passphrase"
"""PULUMI_CONFIG_PASSPHRASE of the committed demo stacks (docs/tls.md): demo only, never production."""


def copy_stacks(folder: Path) -> Path:
    """The committed Pulumi.<stack>.yaml files copied into `folder` (created): stacks to change."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in PROJECT_DIR.glob("Pulumi.*.yaml"):
        shutil.copy(f, folder / f.name)
    return folder


def stack_config(stack: str) -> dict[str, str]:
    return dict(stackfile.load(stack).config)


def environment_of(stack: str) -> str:
    """The committed stack's `mindie:environment` (a stack's name need not be its environment)."""
    return stackfile.load(stack, PROJECT_DIR).config["mindie:environment"]


def secret_keys(stack: str) -> list[str]:
    """The keys a committed stack holds as secrets (what `pulumi up` marks secret)."""
    return list(stackfile.load(stack).secret_keys)


def infer_server(stack: str = "dev") -> dict[str, Any]:
    """A committed stack's inferServer object (a fresh copy to modify)."""
    return copy.deepcopy(json.loads(stack_config(stack)["mindie:inferServer"]))


def set_path(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """data with `a.b.c` set (or deleted when value is DELETE)."""
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return data


DELETE = object()


class Secret:
    """An override entered as a secret (`pulumi config set --secret [--path]`): run_stack marks
    its key secret, as the CLI does for a key with any secure value under it."""

    def __init__(self, value: Any):
        self.value = value


VARIANTS = {"Ascend910": "800I-A2", "Ascend310P": "300I-Duo"}


def match_image_to_npu(config: dict[str, str]) -> dict[str, str]:
    """config with mindie:servers.image switched to the variant of inferServer's NPU type.

    The committed stacks run Ascend910 on the 800I-A2 image; a test that moves the group to Ascend310P
    must also move it to the 300I-Duo image (stacks/settings/servers.py hardware_problems refuses a mismatch,
    as MindIE's images are built per device). Only the variant in the tag changes.
    """
    servers = json.loads(config.get("mindie:servers", "{}"))
    server = json.loads(config.get("mindie:inferServer", "{}"))
    npu = (server.get("resource_requests") or {}).get("npu_type")
    image = servers.get("image")
    if npu not in VARIANTS or not image:
        return config
    for variant in VARIANTS.values():
        image = image.replace(variant, VARIANTS[npu])
    servers["image"] = image
    return {**config, "mindie:servers": json.dumps(servers)}
