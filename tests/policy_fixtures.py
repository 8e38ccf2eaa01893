"""Synthetic Kubernetes/TLS resources for the policy rules, and helpers that evaluate a rule
through pulumi_policy's own types (args, unknown-checking proxies, report_violation)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Optional

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policy.rules import by_name, to_policy

NPU = "huawei.com/Ascend910"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CLUSTERROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
CERT_REQUEST = "tls:index/certRequest:CertRequest"
LOCALLY_SIGNED = "tls:index/locallySignedCert:LocallySignedCert"
STACK = "pulumi:pulumi:Stack"
PROVIDER = "pulumi:providers:kubernetes"
KEY_PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIJKQIBAAKCAgEA\n-----END RSA PRIVATE KEY-----\n"


def labels(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "mindie",
        "app.kubernetes.io/instance": "mindie",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "mindie",
        "app.kubernetes.io/managed-by": "pulumi",
    }


def deployment(
    component: str = "server", name: str | None = None, npu: Optional[int] = 8, replicas: float = 2.0
) -> dict[str, Any]:
    """A Deployment that passes every workload rule (numbers as floats, as the engine sends them)."""
    name = name or f"mindie-{component}"
    resources: dict[str, Any] = {
        "requests": {"cpu": "8000m", "memory": "64000Mi"},
        "limits": {"cpu": "16000m", "memory": "128000Mi"},
    }
    if npu is not None:
        resources["requests"][NPU] = float(npu)
        resources["limits"][NPU] = float(npu)
    container: dict[str, Any] = {
        "name": component,
        "image": "registry.example.com/mindie:2.0.RC1",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "runAsUser": 1001.0,
            "runAsGroup": 1001.0,
        },
        "resources": resources,
        "ports": [{"containerPort": 1025.0, "name": "infer"}],
    }
    if component == "server":
        probe = {"exec": {"command": ["http_client_ctl", "$(POD_IP)", "1026", "/v2/health/live", "10", "0"]}}
        container.update(
            {
                "startupProbe": {
                    **probe,
                    "periodSeconds": 1.0,
                    "failureThreshold": 180.0,
                    "timeoutSeconds": 10.0,
                },
                "readinessProbe": {
                    **probe,
                    "periodSeconds": 5.0,
                    "failureThreshold": 1.0,
                    "timeoutSeconds": 10.0,
                },
                "livenessProbe": {
                    **probe,
                    "periodSeconds": 3.0,
                    "failureThreshold": 2.0,
                    "timeoutSeconds": 10.0,
                },
                "env": [{"name": "MINDIE_USE_HTTPS", "value": "true"}],
            }
        )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "mindie", "labels": labels(component)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "mindie"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "0%", "maxUnavailable": "50%"},
            },
            "template": {
                "metadata": {"labels": labels(component)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "fsGroup": 1001.0},
                    "containers": [container],
                    "volumes": [{"name": "config", "configMap": {"name": f"{name}-config"}}],
                },
            },
        },
    }


def server_configmap(world_size: int = 8, https: bool = True, name: str = "mindie-server-config") -> dict:
    import json

    config = {
        "ServerConfig": {"httpsEnabled": https, "port": 1025},
        "BackendConfig": {
            "npuDeviceIds": [list(range(world_size))],
            "ModelDeployConfig": {"ModelConfig": [{"worldSize": world_size, "modelName": "llama"}]},
        },
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "mindie", "labels": labels("server")},
        "data": {"config.json": json.dumps(config)},
    }


def configmap(data: dict[str, str]) -> dict:
    """A ConfigMap `c` holding `data`."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}


def service(component: str, type_: str = "ClusterIP", node_port: Optional[int] = None) -> dict:
    port: dict[str, Any] = {"name": "infer", "port": 1025.0, "targetPort": 1025.0}
    if node_port is not None:
        port["nodePort"] = float(node_port)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"mindie-{component}", "namespace": "mindie", "labels": labels(component)},
        "spec": {"type": type_, "selector": {"app.kubernetes.io/name": "mindie"}, "ports": [port]},
    }


def network_policy(component: str, sources: list[str], entry_ports: list[int] = ()) -> dict:
    rules: list[dict[str, Any]] = [
        {
            "from": [
                {
                    "podSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/component": s,
                            "app.kubernetes.io/part-of": "mindie",
                        }
                    }
                }
                for s in sources
            ]
        }
    ]
    if entry_ports:
        rules.append({"ports": [{"port": float(p), "protocol": "TCP"} for p in entry_ports]})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": f"mindie-{component}-ingress",
            "namespace": "mindie",
            "labels": labels(component),
        },
        "spec": {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/component": component,
                    "app.kubernetes.io/part-of": "mindie",
                }
            },
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }


MS_ROLE_RULES = [
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create", "delete", "get", "patch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "patch"]},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "delete"]},
    {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "delete", "create"]},
]


def cluster_role(rules: list[dict] | None = None) -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "ms-role", "labels": labels("ms-server")},
        "rules": copy.deepcopy(MS_ROLE_RULES if rules is None else rules),
    }


def binding(subject: str = "kubeclient") -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "ms-role-bind", "labels": labels("ms-server")},
        "subjects": [{"kind": "User", "name": subject, "apiGroup": "rbac.authorization.k8s.io"}],
        "roleRef": {"kind": "ClusterRole", "name": "ms-role", "apiGroup": "rbac.authorization.k8s.io"},
    }


# ---------------------------------------------------------------------------------------------
# Evaluation through pulumi_policy's types
# ---------------------------------------------------------------------------------------------


def options(secret: list[str] = ()) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), list(secret), None)


def resource_violations(
    rule: str, type_: str, props: dict, config: dict | None = None, secret: list[str] = ()
) -> list[str]:
    """Messages a resource policy reports for `props` (wrapped in the unknown-checking proxy)."""
    found: list[str] = []
    args = ResourceValidationArgs(
        type_,
        unknown_checking_proxy(copy.deepcopy(props)),
        f"urn:pulumi:t::mindie::{type_}::x",
        "x",
        options(secret),
        None,
        config or {},
        {},
    )
    to_policy(by_name(rule)).validate(args, lambda message, urn=None: found.append(message))
    return found


class Stack:
    """A synthetic stack: resources (type, name, props) + outputs, evaluated like AnalyzeStack."""

    def __init__(self, stack: str = "prod", outputs: dict | None = None):
        self.stack = stack
        self.outputs = outputs if outputs is not None else {}
        self.items: list[dict[str, Any]] = []

    def urn(self, type_: str, name: str) -> str:
        return f"urn:pulumi:{self.stack}::mindie::{type_}::{name}"

    def add(
        self,
        type_: str,
        name: str,
        props: dict,
        deps: dict[str, list[str]] | None = None,
        secret: list[str] = (),
    ) -> str:
        self.items.append({"type": type_, "name": name, "props": props, "deps": deps or {}, "secret": secret})
        return self.urn(type_, name)

    def find(self, name: str) -> dict:
        return next(i["props"] for i in self.items if i["name"] == name)

    def violations(self, rule: str, config: dict | None = None) -> list[tuple[str, Optional[str]]]:
        resources = [
            PolicyResource(
                STACK,
                unknown_checking_proxy(copy.deepcopy(self.outputs)),
                self.urn(STACK, f"mindie-{self.stack}"),
                f"mindie-{self.stack}",
                options(),
                None,
                None,
                [],
                {},
            )
        ]
        by_urn = {}
        for item in self.items:
            r = PolicyResource(
                item["type"],
                unknown_checking_proxy(copy.deepcopy(item["props"])),
                self.urn(item["type"], item["name"]),
                item["name"],
                options(item["secret"]),
                None,
                None,
                [],
                {},
            )
            resources.append(r)
            by_urn[r.urn] = r
        for item in self.items:
            r = by_urn[self.urn(item["type"], item["name"])]
            r.property_dependencies = {k: [by_urn[u] for u in v] for k, v in item["deps"].items()}
            r.dependencies = [by_urn[u] for v in item["deps"].values() for u in v]
        found: list[tuple[str, Optional[str]]] = []
        args = StackValidationArgs(resources, config or {}, {})
        to_policy(by_name(rule)).validate(args, lambda message, urn=None: found.append((message, urn)))
        return found


def good_stack(env: str = "prod", entry: str = "coordinator") -> Stack:
    """A complete stack that passes every stack rule."""
    s = Stack(
        env,
        {
            "environment": env,
            "entry": entry,
            "namespace": "mindie",
            "serverName": "mindie-server",
            "enableTls": True,
            "servers": [
                {
                    "group": "default",
                    "deployment": "mindie-server",
                    "service": "mindie-server",
                    "replicas": 2.0,
                    "npu_type": "Ascend910",
                    "npu_chip_num": 8.0,
                    "tls": True,
                }
            ],
            "npuInventory": {"Ascend910": {"nodes": 2.0, "chipsPerNode": 8.0}},
        },
    )
    s.add(PROVIDER, f"{env}-k8s", {"context": f"mindie-{env}"})
    s.add(
        NAMESPACE,
        "mindie-ns",
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": "mindie",
                "labels": {**labels("namespace"), "mindie.huawei.com/environment": env},
            },
        },
    )
    for comp in ("server", "coordinator", "controller", "ms-server"):
        s.add(DEPLOYMENT, f"mindie-{comp}", deployment(comp, npu=8 if comp == "server" else None))
    s.add(CONFIGMAP, "mindie-server-config", server_configmap())
    s.add(
        SERVICE,
        "mindie-server-svc",
        service(
            "server", "NodePort" if entry == "server" else "ClusterIP", 31005 if entry == "server" else None
        ),
    )
    s.add(
        SERVICE,
        "mindie-coordinator-svc",
        service(
            "coordinator",
            "NodePort" if entry == "coordinator" else "ClusterIP",
            31005 if entry == "coordinator" else None,
        ),
    )
    entry_port = [1025]
    s.add(
        NETPOL,
        "np-server",
        network_policy(
            "server", ["controller", "coordinator", "ms-server"], entry_port if entry == "server" else []
        ),
    )
    s.add(
        NETPOL,
        "np-coordinator",
        network_policy("coordinator", ["controller"], entry_port if entry == "coordinator" else []),
    )
    s.add(NETPOL, "np-controller", network_policy("controller", ["coordinator"]))
    ms_np = network_policy("ms-server", [])
    # msctl from the management node only, on the ms-server port (components/network.py).
    ms_np["spec"]["ingress"] = [
        {"from": [{"ipBlock": {"cidr": "10.30.0.11/32"}}], "ports": [{"port": 9789.0, "protocol": "TCP"}]}
    ]
    s.add(NETPOL, "np-ms-server", ms_np)
    s.add(CLUSTERROLE, "ms-role", cluster_role())
    kube_csr = s.add(
        CERT_REQUEST,
        "ca-kubeclient-csr",
        {"subject": {"commonName": "kubeclient", "organization": "msgroup"}},
    )
    s.add(BINDING, "ms-role-bind", binding("kubeclient"), deps={"subjects": [kube_csr]})
    csr = s.add(
        CERT_REQUEST,
        "ca-intermediate-csr",
        {"subject": {"commonName": "mindiems", "organization": "msgroup"}},
    )
    s.add(
        LOCALLY_SIGNED,
        "ca-intermediate",
        {
            "isCaCertificate": True,
            "validityPeriodHours": 8760.0,
            "certRequestPem": "-----BEGIN CERTIFICATE REQUEST-----",
        },
        deps={"certRequestPem": [csr]},
    )
    return s


Mutation = Callable[[Any], None]
