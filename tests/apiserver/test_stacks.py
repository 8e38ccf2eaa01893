"""Every committed stack against a real API server (`pytest -m apiserver`; tools/kube/build first).

For each stack, in this order (the tests of one stack share its applied objects and the last one
deletes them): the preview's manifests are server-side applied in dependency order and all
accepted; what was declared is what the server keeps; the namespace's Pod Security labels are the
program's and every Pod the controllers make from the Deployments is admitted at that level, while
a pod weakened on purpose is refused; RBAC of the Deployer (kubeclient certificate CN) and of the
rank-table writer's service account grants exactly the declared verbs and nothing else; the
kubeclient certificate from the CA component authenticates; deletion leaves nothing behind.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from components.rbac import SEED_RULES

from ..helpers import STACKS
from .controlplane import ControlPlane, ControlPlaneError, Kube, Response, wait_for

pytestmark = pytest.mark.apiserver

APPLY_ORDER = (
    "Namespace",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "ClusterRole",
    "Role",
    "ClusterRoleBinding",
    "RoleBinding",
    "Service",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "Deployment",
)
"""Dependency order: the namespace first, what pods reference (service accounts, secrets, config,
claims) and RBAC before the workloads; deletion runs in reverse."""

PSS_LABEL = "pod-security.kubernetes.io/"
WAIT = 120
"""Upper bound (s) of every wait on the controllers."""

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
PROBED = (
    # (group, resource) the RBAC matrix asks about: the seed's four plus what must stay out of reach.
    ("apps", "deployments"),
    ("", "pods"),
    ("", "configmaps"),
    ("", "services"),
    ("", "secrets"),
    ("", "serviceaccounts"),
    ("", "persistentvolumeclaims"),
    ("", "events"),
    ("apps", "replicasets"),
    ("apps", "daemonsets"),
    ("apps", "statefulsets"),
    ("batch", "jobs"),
    ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "rolebindings"),
    ("networking.k8s.io", "networkpolicies"),
)
CLUSTER_PROBES = (
    # Cluster-scoped requests nobody in this program may make.
    ("", "nodes", "get", ""),
    ("", "nodes", "list", ""),
    ("", "namespaces", "create", ""),
    ("", "namespaces", "delete", ""),
    ("", "persistentvolumes", "create", ""),
    ("rbac.authorization.k8s.io", "clusterroles", "escalate", ""),
    ("rbac.authorization.k8s.io", "clusterroles", "bind", ""),
    ("rbac.authorization.k8s.io", "clusterrolebindings", "create", ""),
    ("", "users", "impersonate", ""),
    ("", "serviceaccounts", "impersonate", ""),
    ("certificates.k8s.io", "certificatesigningrequests", "create", ""),
)
HOME_PROBES = (
    # In the stack's own namespace: subresources a rule on the parent resource does not carry, and
    # the RBAC verbs that would let a subject grant itself more (escalate, bind, impersonate).
    ("", "pods", "create", "exec"),
    ("", "pods", "get", "log"),
    ("", "pods", "create", "eviction"),
    ("apps", "deployments", "update", "scale"),
    ("", "serviceaccounts", "create", "token"),
    ("rbac.authorization.k8s.io", "roles", "escalate", ""),
    ("rbac.authorization.k8s.io", "roles", "bind", ""),
    ("rbac.authorization.k8s.io", "clusterroles", "bind", ""),
    ("", "serviceaccounts", "impersonate", ""),
)


@dataclass
class Deployed:
    stack: str
    out: Path
    manifests: list[tuple[str, dict]]
    results: list[tuple[str, Response]] = field(default_factory=list)
    deleted: bool = False

    def of_kind(self, kind: str) -> list[dict]:
        return [obj for _, obj in self.manifests if obj["kind"] == kind]

    def one(self, kind: str) -> dict:
        objs = self.of_kind(kind)
        assert len(objs) == 1, f"{self.stack}: expected one {kind}, got {len(objs)}"
        return objs[0]

    @property
    def namespace(self) -> str:
        return self.one("Namespace")["metadata"]["name"]

    def live(self) -> None:
        assert not self.deleted, "this stack's objects were already deleted (test order broke)"


def load_manifests(out: Path) -> list[tuple[str, dict]]:
    """(file name, object) of every manifest the preview wrote, in apply order."""
    loaded = []
    for path in sorted((out / "manifests").glob("*.yaml")):
        for obj in yaml.safe_load_all(path.read_text()):
            if obj:
                loaded.append((path.name, obj))
    unknown = sorted({obj["kind"] for _, obj in loaded} - set(APPLY_ORDER))
    assert not unknown, f"no apply order for kinds {unknown}: add them to APPLY_ORDER"
    return sorted(loaded, key=lambda item: APPLY_ORDER.index(item[1]["kind"]))


@pytest.fixture(scope="module", params=STACKS)
def deployed(request, control_plane: ControlPlane, previews: dict[str, Path]):
    stack = request.param
    state = Deployed(stack, previews[stack], load_manifests(previews[stack]))
    admin = control_plane.admin
    for name, obj in state.manifests:
        resp = admin.request(
            "PATCH",
            admin.object_path(obj),
            obj,
            query={"fieldManager": "mindie-apiserver-test", "force": "true", "fieldValidation": "Strict"},
            content_type="application/apply-patch+yaml",
        )
        state.results.append((name, resp))
    yield state
    # Whatever the tests did (a failure before or during the deletion test), the next stack starts
    # on a server without this one's objects: deleting what is already gone is a 404.
    for _, obj in reversed(state.manifests):
        admin.delete(obj)
    try:
        wait_gone(admin, state)
    except ControlPlaneError:
        pass


def wait_gone(admin: Kube, state: Deployed) -> None:
    """Until no object of the stack answers a GET (bounded); the error names what is left."""
    left: list[str] = []

    def none_left() -> bool:
        left[:] = [
            f"{o['kind']}/{o['metadata']['name']}"
            for _, o in state.manifests
            if admin.get(admin.object_path(o)).status != 404
        ]
        return not left

    try:
        wait_for(f"{state.stack}: every object deleted", none_left, WAIT, interval=1)
    except ControlPlaneError as err:
        raise ControlPlaneError(f"{err}; still present: {left}") from None


# --- apply ----------------------------------------------------------------------------------------


def test_every_manifest_is_applied(deployed: Deployed):
    """Server-side apply with strict field validation: unknown or duplicate fields, invalid values
    and admission refusals all fail here, each named with the server's message."""
    refused = [
        f"{name}: {resp.status} {resp.message}"
        for name, resp in deployed.results
        if resp.status not in (200, 201)
    ]
    assert not refused, f"{deployed.stack}: the API server refused:\n" + "\n".join(refused)
    warned = [f"{name}: {w}" for name, resp in deployed.results for w in resp.warnings]
    assert not warned, f"{deployed.stack}: the API server warned:\n" + "\n".join(warned)
    assert len(deployed.results) == len(list((deployed.out / "manifests").glob("*.yaml")))


_SUFFIX = {
    "": 1,
    "m": Decimal("0.001"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def _quantity(text: str) -> Decimal | None:
    """A resource.Quantity's value ('8000m' == '8'): the server stores quantities canonically."""
    match = re.fullmatch(r"([+-]?[0-9.]+)(|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)", text)
    return Decimal(match[1]) * _SUFFIX[match[2]] if match else None


def _same(declared, stored) -> bool:
    if declared == stored:
        return True
    if isinstance(declared, str) and isinstance(stored, str):
        a, b = _quantity(declared), _quantity(stored)
        return a is not None and a == b
    return False


def _subset(declared, stored, path="") -> list[str]:
    """Where `stored` lacks or changes a declared value (the server may add defaults, not alter)."""
    if isinstance(declared, dict):
        if not isinstance(stored, dict):
            return [f"{path}: declared an object, stored {stored!r}"]
        return [d for k, v in declared.items() for d in _subset(v, stored.get(k), f"{path}.{k}")]
    if isinstance(declared, list):
        if not isinstance(stored, list) or len(stored) != len(declared):
            return [f"{path}: declared {declared!r}, stored {stored!r}"]
        pairs = enumerate(zip(declared, stored, strict=True))
        return [d for i, (a, b) in pairs for d in _subset(a, b, f"{path}[{i}]")]
    return [] if _same(declared, stored) else [f"{path}: declared {declared!r}, stored {stored!r}"]


@pytest.mark.parametrize(
    "kind",
    [
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "PersistentVolumeClaim",
        "Deployment",
        "ConfigMap",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "ServiceAccount",
        "Namespace",
    ],
)
def test_objects_are_stored_as_declared(deployed: Deployed, control_plane: ControlPlane, kind: str):
    """Every declared field comes back unchanged (NodePorts inside the server's range, claims,
    budgets and policies as written); `data` of Secrets is compared in its own test."""
    deployed.live()
    admin = control_plane.admin
    if not deployed.of_kind(kind):
        pytest.skip(f"{deployed.stack} declares no {kind}")
    diffs = []
    for obj in deployed.of_kind(kind):
        stored = admin.get(admin.object_path(obj))
        assert stored.status == 200, f"{kind}/{obj['metadata']['name']}: {stored.status} {stored.message}"
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        diffs += [f"{kind}/{obj['metadata']['name']}{d}" for d in _subset(body, stored.body)]
    assert not diffs, "\n".join(diffs)


def test_secrets_are_stored_as_declared(deployed: Deployed, control_plane: ControlPlane):
    deployed.live()
    admin = control_plane.admin
    for obj in deployed.of_kind("Secret"):
        stored = admin.get(admin.object_path(obj)).body
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in obj.get("stringData", {}).items()}
        declared = {**obj.get("data", {}), **encoded}
        assert stored.get("data", {}) == declared, f"Secret/{obj['metadata']['name']}: keys or values differ"
        assert stored.get("type") == obj.get("type", "Opaque")


def test_node_ports_are_inside_the_service_node_port_range(deployed: Deployed):
    """The default --service-node-port-range (30000-32767) accepted every declared nodePort: the
    apply test would have failed otherwise; here the declared values are listed against it."""
    ports = [
        p["nodePort"]
        for s in deployed.of_kind("Service")
        for p in s["spec"].get("ports", [])
        if "nodePort" in p
    ]
    assert all(30000 <= p <= 32767 for p in ports), ports


# --- Pod Security -----------------------------------------------------------------------------------


def test_namespace_carries_the_programs_pod_security_labels(deployed: Deployed, control_plane: ControlPlane):
    deployed.live()
    labels = deployed.one("Namespace")["metadata"]["labels"]
    declared = {k: v for k, v in labels.items() if k.startswith(PSS_LABEL)}
    stored = control_plane.admin.get(f"/api/v1/namespaces/{deployed.namespace}").body["metadata"]["labels"]
    assert PSS_LABEL + "enforce" in declared, "the program sets no Pod Security enforce level"
    assert {k: v for k, v in stored.items() if k.startswith(PSS_LABEL)} == declared


def _selector(deployment: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(deployment["spec"]["selector"]["matchLabels"].items()))


def _controller_pods(deployed: Deployed, admin: Kube) -> list[str]:
    """Waits until each Deployment's pods exist; returns why not where they do not (the ReplicaSet's
    ReplicaFailure condition names the refused pod and the reason)."""
    ns = deployed.namespace
    level = deployed.one("Namespace")["metadata"]["labels"][PSS_LABEL + "enforce"]
    problems = []
    for dep in deployed.of_kind("Deployment"):
        name, want = dep["metadata"]["name"], dep["spec"].get("replicas", 1)
        selector = _selector(dep)

        def state(name=name, want=want, selector=selector):
            pods = admin.get(f"/api/v1/namespaces/{ns}/pods", query={"labelSelector": selector}).body["items"]
            if len(pods) >= want:
                return ("ok", pods)
            rsets = admin.get(
                f"/apis/apps/v1/namespaces/{ns}/replicasets", query={"labelSelector": selector}
            ).body["items"]
            for rs in rsets:
                for cond in rs.get("status", {}).get("conditions", []):
                    if cond["type"] == "ReplicaFailure" and cond["status"] == "True":
                        return ("refused", f"ReplicaSet {rs['metadata']['name']}: {cond['message']}")
            return None

        try:
            verdict, detail = wait_for(f"pods of Deployment {name}", state, WAIT, interval=1)
        except ControlPlaneError as err:
            problems.append(f"Deployment {name}: {err}")
            continue
        if verdict == "refused":
            problems.append(f"Deployment {name} (enforce={level}): {detail}")
            continue
        for pod in detail:
            assert pod["metadata"]["namespace"] == ns and not pod["spec"].get("nodeName")
    return problems


def test_every_controller_made_pod_is_admitted(deployed: Deployed, control_plane: ControlPlane):
    """Deployment -> ReplicaSet -> Pods (kube-controller-manager): the ReplicaSet controller's pod
    creations pass Pod Security at the namespace's enforce level (no kubelet: they stay Pending)."""
    deployed.live()
    problems = _controller_pods(deployed, control_plane.admin)
    assert not problems, f"{deployed.stack}: pods not admitted:\n" + "\n".join(problems)


def _label_selector(selector: dict) -> str:
    """A metav1.LabelSelector as a labelSelector query string (the API server evaluates it)."""
    terms = [f"{k}={v}" for k, v in sorted(selector.get("matchLabels", {}).items())]
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], ",".join(expr.get("values", []))
        terms.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }[op]
        )
    return ",".join(terms)


def _selected(admin: Kube, ns: str, selector: dict) -> list[str]:
    pods = admin.get(f"/api/v1/namespaces/{ns}/pods", query={"labelSelector": _label_selector(selector)})
    return [p["metadata"]["name"] for p in pods.body["items"]]


def test_selectors_select_the_stacks_pods(deployed: Deployed, control_plane: ControlPlane):
    """Every Service, PodDisruptionBudget and NetworkPolicy (its podSelector and the in-namespace pod
    selectors of its ingress rules) selects pods the controllers made for this stack, and the
    disruption controller counts each budget's pods from their Deployment."""
    deployed.live()
    admin, ns = control_plane.admin, deployed.namespace
    missing = _controller_pods(deployed, admin)
    assert not missing, "\n".join(missing)
    empty = []
    for svc in deployed.of_kind("Service"):
        if svc["spec"].get("selector") and not _selected(admin, ns, {"matchLabels": svc["spec"]["selector"]}):
            empty.append(f"Service/{svc['metadata']['name']}")
    for pol in deployed.of_kind("NetworkPolicy"):
        selectors = [("podSelector", pol["spec"]["podSelector"])]
        for i, rule in enumerate(pol["spec"].get("ingress", [])):
            selectors += [
                (f"ingress[{i}].from", peer["podSelector"])
                for peer in rule.get("from", [])
                if "podSelector" in peer and "namespaceSelector" not in peer
            ]
        empty += [
            f"NetworkPolicy/{pol['metadata']['name']} {where}"
            for where, sel in selectors
            if sel and not _selected(admin, ns, sel)
        ]
    for pdb in deployed.of_kind("PodDisruptionBudget"):
        name = pdb["metadata"]["name"]
        pods = _selected(admin, ns, pdb["spec"]["selector"])
        if not pods:
            empty.append(f"PodDisruptionBudget/{name}")
            continue

        def counted(name=name, want=len(pods)):  # noqa: B008 - bound per budget, as intended
            status = admin.get(f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/{name}").body["status"]
            return status.get("expectedPods") == want

        wait_for(f"PodDisruptionBudget/{name} expectedPods == {len(pods)}", counted, WAIT, interval=1)
    assert not empty, f"{deployed.stack}: selecting no pod:\n" + "\n".join(empty)


def _pod_from(dep: dict, name: str) -> dict:
    template = copy.deepcopy(dep["spec"]["template"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": dep["metadata"]["namespace"],
            "labels": {"mindie-test": "weakened"},
        },
        "spec": template["spec"],
    }


def _privileged(pod: dict) -> dict:
    pod["spec"]["containers"][0].setdefault("securityContext", {})["privileged"] = True
    pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    return pod


def _host_etc(pod: dict) -> dict:
    volume = {"name": "host-etc", "hostPath": {"path": "/etc/kubernetes"}}
    pod["spec"].setdefault("volumes", []).append(volume)
    pod["spec"]["containers"][0].setdefault("volumeMounts", []).append(
        {"name": "host-etc", "mountPath": "/host/etc", "readOnly": True}
    )
    return pod


@pytest.mark.parametrize(
    "weaken,reasons",
    [
        (_privileged, ["privileged", "allowPrivilegeEscalation"]),
        (_host_etc, ["hostPath", "host-etc"]),
        (lambda p: _host_etc(_privileged(p)), ["privileged", "hostPath"]),
    ],
    ids=["privileged", "hostPath-etc", "both"],
)
def test_a_weakened_pod_is_refused(deployed: Deployed, control_plane: ControlPlane, weaken, reasons):
    """The same pod spec as the stack's first Deployment is admitted (dry run); made privileged
    and/or given a hostPath under /etc, Pod Security refuses it with the violated checks named."""
    deployed.live()
    admin = control_plane.admin
    dep = deployed.of_kind("Deployment")[0]
    path = f"/api/v1/namespaces/{deployed.namespace}/pods"
    plain = admin.request("POST", path, _pod_from(dep, "mindie-test-plain"), query={"dryRun": "All"})
    assert plain.status == 201, f"the unweakened pod of {dep['metadata']['name']}: {plain.message}"
    weakened = admin.request("POST", path, weaken(_pod_from(dep, "mindie-test-weakened")))
    assert weakened.status == 403, f"a weakened pod was accepted: {weakened.status}"
    assert "violates PodSecurity" in weakened.message, weakened.message
    for reason in reasons:
        assert reason in weakened.message, weakened.message


# --- RBAC -------------------------------------------------------------------------------------------


def _sar(
    admin: Kube,
    user: str,
    groups: list[str],
    group: str,
    resource: str,
    verb: str,
    namespace: str,
    sub: str = "",
) -> bool:
    attrs = {"group": group, "resource": resource, "verb": verb}
    if namespace:
        attrs["namespace"] = namespace
    if sub:
        attrs["subresource"] = sub
    resp = admin.request(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": groups, "resourceAttributes": attrs},
        },
    )
    assert resp.status == 201, resp.message
    return bool(resp.body["status"].get("allowed"))


def _rbac_mismatches(
    admin: Kube,
    user: str,
    groups: list[str],
    granted: set[tuple[str, str, str]],
    home: str,
    cluster_wide: bool,
) -> list[str]:
    """Ask the authorizer about every (resource, verb) in the home namespace, another namespace and
    cluster-wide; `granted` is exactly what must be allowed (in `home`, or everywhere when
    cluster_wide). Returns what differs."""
    wrong = []
    for (group, resource), verb, ns in itertools.product(PROBED, VERBS, (home, "default", "kube-system", "")):
        want = (group, resource, verb) in granted and (ns == home or cluster_wide)
        got = _sar(admin, user, groups, group, resource, verb, ns)
        if got != want:
            wrong.append(
                f"{verb} {resource or '?'}.{group or 'core'} in {ns or 'all namespaces'}: "
                f"{'allowed' if got else 'denied'}, want {'allowed' if want else 'denied'}"
            )
    probes = [(*p, "") for p in CLUSTER_PROBES] + [(*p, home) for p in HOME_PROBES]
    for group, resource, verb, sub, ns in probes:
        if _sar(admin, user, groups, group, resource, verb, ns, sub):
            what = f"{resource}/{sub}" if sub else resource
            wrong.append(f"{verb} {what}.{group or 'core'} in {ns or 'the cluster'}: allowed, want denied")
    return wrong


def _cert_subject(path: Path) -> tuple[str, list[str]]:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_pem_x509_certificate(path.read_bytes())
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return cn, orgs


def test_deployer_rbac_grants_exactly_the_seed_rules(deployed: Deployed, control_plane: ControlPlane):
    """The kubeclient certificate's user (CN, groups = O + system:authenticated, as the x509
    authenticator sees it) may do the seed's verbs on the seed's resources, in the stack namespace
    only (RoleBinding) or everywhere (ClusterRoleBinding), and nothing else: no secrets, nodes, other
    namespaces, subresources, escalate, bind or impersonate."""
    deployed.live()
    cn, orgs = _cert_subject(deployed.out / "tls" / "kubeclient" / "cert.pem")
    bindings = [
        b
        for b in deployed.of_kind("RoleBinding") + deployed.of_kind("ClusterRoleBinding")
        if any(s.get("kind") == "User" and s.get("name") == cn for s in b.get("subjects", []))
    ]
    assert len(bindings) == 1, f"bindings of User {cn}: {bindings}"
    cluster_wide = bindings[0]["kind"] == "ClusterRoleBinding"
    granted = {(g, r, v) for g, r, verbs in SEED_RULES for v in verbs}
    wrong = _rbac_mismatches(
        control_plane.admin, cn, [*orgs, "system:authenticated"], granted, deployed.namespace, cluster_wide
    )
    assert not wrong, f"{deployed.stack}: Deployer user {cn}:\n" + "\n".join(wrong)


def _writer_service_account(deployed: Deployed) -> str | None:
    for dep in deployed.of_kind("Deployment"):
        spec = dep["spec"]["template"]["spec"]
        if any(c["name"] == "ranktable-writer" for c in spec["containers"] + spec.get("initContainers", [])):
            return spec.get("serviceAccountName")
    return None


def test_ranktable_writer_may_only_read_pods_of_its_namespace(
    deployed: Deployed, control_plane: ControlPlane
):
    """The rank-table writer's service account: get/list/watch pods in the stack namespace, nothing
    else (SubjectAccessReview), and a real token for it (TokenRequest) lists pods and is refused
    secrets and other namespaces."""
    deployed.live()
    sa = _writer_service_account(deployed)
    if sa is None:
        declared = [o["metadata"]["name"] for o in deployed.of_kind("ServiceAccount")]
        assert not declared, f"ServiceAccounts {declared} but no ranktable-writer container: test outdated?"
        pytest.skip(f"{deployed.stack} runs no rank-table writer (no Motor controller)")
    ns = deployed.namespace
    user = f"system:serviceaccount:{ns}:{sa}"
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"]
    granted = {("", "pods", v) for v in ("get", "list", "watch")}
    wrong = _rbac_mismatches(control_plane.admin, user, groups, granted, ns, cluster_wide=False)
    assert not wrong, f"{deployed.stack}: {user}:\n" + "\n".join(wrong)

    token = control_plane.admin.request(
        "POST",
        f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 600},
        },
    )
    assert token.status == 201, token.message
    writer = control_plane.client(token=token.body["status"]["token"])
    assert writer.get(f"/api/v1/namespaces/{ns}/pods").status == 200
    assert writer.get(f"/api/v1/namespaces/{ns}/secrets").status == 403
    assert writer.get("/api/v1/namespaces/default/pods").status == 403


def test_kubeclient_certificate_authenticates_end_to_end(deployed: Deployed, control_plane: ControlPlane):
    """With the stack's root CA as the API server's client CA, the kubeclient certificate (sent with
    its chain, as ms-server would) is authenticated as its CN and is authorized per its binding."""
    deployed.live()
    tls = deployed.out / "tls" / "kubeclient"
    cn, orgs = _cert_subject(tls / "cert.pem")
    client = control_plane.client(tls / "chain.pem", tls / "key.pem")
    review = client.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    assert review.status == 201, f"{review.status} {review.message}"
    info = review.body["status"]["userInfo"]
    assert info["username"] == cn
    assert set(orgs) <= set(info["groups"])
    ns = deployed.namespace
    first = deployed.of_kind("Deployment")[0]["metadata"]["name"]
    assert client.get(f"/apis/apps/v1/namespaces/{ns}/deployments/{first}").status == 200
    assert client.get(f"/api/v1/namespaces/{ns}/pods").status == 200
    assert client.get(f"/api/v1/namespaces/{ns}/secrets").status == 403
    assert client.get("/api/v1/nodes").status == 403


def test_the_leaf_without_its_chain_is_not_authenticated(deployed: Deployed, control_plane: ControlPlane):
    """Control for the test above: the leaf alone does not chain to the trusted root: 401."""
    deployed.live()
    tls = deployed.out / "tls" / "kubeclient"
    client = control_plane.client(tls / "cert.pem", tls / "key.pem")
    assert client.get(f"/api/v1/namespaces/{deployed.namespace}/pods").status == 401


# --- delete -------------------------------------------------------------------------------------------


def test_zz_delete_leaves_nothing(deployed: Deployed, control_plane: ControlPlane):
    """Reverse order deletion; the garbage collector and namespace controller finish the job; no
    object of the stack, no pod and no namespace remain (bounded wait)."""
    deployed.live()
    admin = control_plane.admin
    refused = []
    for _, obj in reversed(deployed.manifests):
        resp = admin.delete(obj)
        if resp.status not in (200, 202):
            refused.append(f"{obj['kind']}/{obj['metadata']['name']}: {resp.status} {resp.message}")
    deployed.deleted = True
    assert not refused, "\n".join(refused)
    wait_gone(admin, deployed)
    ns = deployed.namespace
    assert admin.get(f"/api/v1/namespaces/{ns}").status == 404
    assert admin.get(f"/api/v1/namespaces/{ns}/pods").body["items"] == []
    for kind in ("clusterroles", "clusterrolebindings"):
        path = f"/apis/rbac.authorization.k8s.io/v1/{kind}"
        left = admin.get(path, query={"labelSelector": "app.kubernetes.io/part-of=mindie"}).body["items"]
        assert left == [], [o["metadata"]["name"] for o in left]


# --- rbac.scope variants (not used by a committed stack) ------------------------------------------------

RBAC_KINDS = ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding")


def _isolated(objs: list[dict], ns: str, prefix: str) -> list[dict]:
    """The objects renamed (prefix) into their own namespace, so they never meet a stack's objects."""
    out = []
    for obj in copy.deepcopy(objs):
        meta = obj["metadata"]
        meta["name"] = prefix + meta["name"]
        if "namespace" in meta:
            meta["namespace"] = ns
        if "roleRef" in obj:
            obj["roleRef"]["name"] = prefix + obj["roleRef"]["name"]
        for subject in obj.get("subjects", []):
            if "namespace" in subject:
                subject["namespace"] = ns
        out.append(obj)
    return out


@pytest.mark.parametrize("scope", ["role", "cluster"])
def test_rbac_scope_variants_grant_what_they_say(scope, run_stack, control_plane: ControlPlane):
    """dev with msServer.rbac.scope = role (Role + RoleBinding) or cluster (the seed's
    ClusterRoleBinding): the API server grants the seed's rules in the namespace only, or everywhere."""
    from mindiectl import render

    from ..helpers import stack_config

    ms = json.loads(stack_config("dev")["mindie:msServer"])
    ms.setdefault("rbac", {})["scope"] = scope
    result = run_stack("dev", overrides={"mindie:msServer": ms})
    objs = [m for m in render.manifests(result).values() if m["kind"] in RBAC_KINDS]
    assert {o["kind"] for o in objs} == (
        {"Role", "RoleBinding"} if scope == "role" else {"ClusterRole", "ClusterRoleBinding"}
    )
    ns = f"mindie-scope-{scope}"
    admin = control_plane.admin
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    applied = [namespace, *_isolated(objs, ns, f"scope-{scope}-")]
    try:
        for obj in applied:
            resp = admin.apply(obj)
            assert resp.status in (200, 201), f"{obj['kind']}/{obj['metadata']['name']}: {resp.message}"
        cn = next(s["name"] for o in objs for s in o.get("subjects", []) if s.get("kind") == "User")
        granted = {(g, r, v) for g, r, verbs in SEED_RULES for v in verbs}
        wrong = _rbac_mismatches(
            admin, cn, ["system:authenticated"], granted, ns, cluster_wide=scope == "cluster"
        )
        assert not wrong, f"rbac.scope={scope}:\n" + "\n".join(wrong)
    finally:
        for obj in reversed(applied):
            admin.delete(obj)

        def gone():
            return all(admin.get(admin.object_path(o)).status == 404 for o in applied)

        wait_for(f"rbac.scope={scope} objects deleted", gone, WAIT, interval=1)
