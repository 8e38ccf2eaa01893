"""How the program labels and sizes its Kubernetes objects: what its manifests carry and the policy reads.

Workloads are told apart by `app.kubernetes.io/component`, NPUs are the Ascend device plugin's
extended resources on nodes labelled `accelerator`, the entry is a NodePort in the cluster's default range.
"""

COMPONENT_LABEL = "app.kubernetes.io/component"
ENVIRONMENT_LABEL = "mindie.huawei.com/environment"
"""On the stack's Namespace: the environment (dev, staging, prod) the stack deploys."""
ENVIRONMENTS = ("dev", "staging", "prod")

SERVER = "server"
COORDINATOR = "coordinator"
CONTROLLER = "controller"
MS_SERVER = "ms-server"
MINDIE_WORKLOADS = (SERVER, COORDINATOR, CONTROLLER, MS_SERVER)
"""The MindIE components' `app.kubernetes.io/component` values (the server's Deployments, Motor's
Coordinator and Controller, the ms-server Deployer)."""

NPU_RESOURCE_PREFIX = "huawei.com/"
NPU_TYPES = ("Ascend910", "Ascend310P")
NPU_RESOURCES = tuple(NPU_RESOURCE_PREFIX + npu for npu in NPU_TYPES)
"""The Ascend device plugin's extended resources (the seed: huawei.com/Ascend910)."""


def npu_resource(npu_type: str) -> str:
    """`huawei.com/Ascend910` for "Ascend910"."""
    return NPU_RESOURCE_PREFIX + npu_type


NPU_NODE_LABEL = "accelerator"
"""Node label of the Ascend device plugin's NPU nodes (the servers' nodeSelector, as the Deployer's)."""


def accelerator(npu_type: str) -> str:
    """The NPU_NODE_LABEL value of a node with `npu_type` NPUs: `huawei-Ascend910` for "Ascend910"."""
    return f"huawei-{npu_type}"


NPU_NODE_VALUES = tuple(accelerator(npu) for npu in NPU_TYPES)
"""Its values on NPU nodes: huawei-Ascend910, huawei-Ascend310P."""


NODE_PORT_RANGE = (30000, 32767)
"""Kubernetes' default NodePort range, inclusive (the seed's service_port range)."""
