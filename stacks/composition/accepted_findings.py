"""Scanner findings this program accepts on purpose, written into the manifests with the reason.

CI runs checkov on every committed stack's manifests (`.ci/run`) and allows no unexplained
failure. Where a finding is accepted deliberately, the workload carries checkov's own skip
annotation `checkov.io/skip<n>: <check>=<reason>` so that the reason travels with the object a
reviewer or an admission scanner sees. The decision is made per object from what it declares
(a stack transformation sees every workload's final inputs), never as a blanket skip:

- CKV_K8S_43 / CKV_K8S_15 (image by digest / pull policy Always): only outside prod. Prod
  requires digests (stacks.settings.stack: prod images; policy `workload-image-digest`), and a digest
  makes IfNotPresent pull exactly the tested bytes.
- CKV_K8S_40 (UID >= 10000): the MindIE images run as their own non-root user, the seed's
  UID 1001 that owns the installed files; another UID could not read or execute them.
- CKV_K8S_22 (read-only root filesystem): only for a container that does not have it; the
  MindIE Server writes below its install directory at start (logs, its own runtime files), and
  which paths exactly cannot be checked without the image: every file it reads is already a
  staged copy, and mindie:servers.securityContext.readOnlyRootFilesystem turns it on.
- CKV_K8S_8 (liveness): only for the coordinator with its liveness probe off, as the seed
  advises (a probe timing out under load restarts it and drops every in-flight request).
- CKV_K8S_9 (readiness): only for the controller container, which no Service routes to
  (readiness would gate nothing); it has startup and liveness probes.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi

WORKLOADS = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
)

REASONS = {  # checkov splits "<check>=<reason>" on "=": a reason never holds one
    "CKV_K8S_43": "outside prod an image may be referenced by tag; prod requires a digest "
    "(settings and policy workload-image-digest)",
    "CKV_K8S_15": "outside prod images are pulled IfNotPresent from the environment's registry; prod pins "
    "digests, so IfNotPresent pulls exactly the tested bytes",
    "CKV_K8S_40": "runs as the MindIE image's own non-root user (the seed's UID 1001, owner of the installed "
    "files); a UID of 10000 or more could not read them",
    "CKV_K8S_22": "the MindIE Server writes below its install directory at start (logs, runtime files) and "
    "the full list is not verifiable without the image; opt in with "
    "mindie:servers.securityContext.readOnlyRootFilesystem",
    "CKV_K8S_8": "coordinator liveness is off as the seed advises: a probe timing out under load restarts "
    "it and drops every in-flight request (mindie:motor.coordinator.liveness_probe)",
    "CKV_K8S_9": "the controller receives no Service traffic, so readiness would gate nothing; it has "
    "startup and liveness probes",
}

HIGH_UID = 10000


def _get(obj: Any, name: str) -> Any:
    """A field of a props dict or of a pulumi input type (snake_case or camelCase)."""
    if obj is None:
        return None
    camel = name.split("_")[0] + "".join(p.title() for p in name.split("_")[1:])
    if isinstance(obj, dict):
        return obj.get(name, obj.get(camel))
    return getattr(obj, name, None)


def findings(props: Any, environment: str) -> list[str]:
    """The checks accepted for this workload (sorted), decided from its declared pod spec."""
    pod = _get(_get(_get(props, "spec"), "template"), "spec")
    accepted: set[str] = set()
    if environment != "prod":
        accepted |= {"CKV_K8S_43", "CKV_K8S_15"}
    pod_security = _get(pod, "security_context")
    for container in list(_get(pod, "containers") or []) + list(_get(pod, "init_containers") or []):
        security = _get(container, "security_context")
        uid = _get(security, "run_as_user") or _get(pod_security, "run_as_user")
        if isinstance(uid, int) and uid < HIGH_UID:
            accepted.add("CKV_K8S_40")
        if _get(security, "read_only_root_filesystem") is not True:
            accepted.add("CKV_K8S_22")
    for container in _get(pod, "containers") or []:
        name = _get(container, "name")
        if name == "coordinator" and _get(container, "liveness_probe") is None:
            accepted.add("CKV_K8S_8")
        if name == "controller" and _get(container, "readiness_probe") is None:
            accepted.add("CKV_K8S_9")
    return sorted(accepted)


def annotations(props: Any, environment: str) -> dict[str, str]:
    return {
        f"checkov.io/skip{i}": f"{check}={REASONS[check]}"
        for i, check in enumerate(findings(props, environment), 1)
    }


def transformation(environment: str):
    """A stack transformation adding the skip annotations to every workload's metadata."""

    def add(args: pulumi.ResourceTransformationArgs) -> Optional[pulumi.ResourceTransformationResult]:
        if args.type_ not in WORKLOADS:
            return None
        extra = annotations(args.props, environment)
        meta = _get(args.props, "metadata")
        if not extra or meta is None:
            return None
        current = dict(_get(meta, "annotations") or {})
        if isinstance(meta, dict):
            meta["annotations"] = {**current, **extra}
        else:
            pulumi.set(meta, "annotations", {**current, **extra})
        return pulumi.ResourceTransformationResult(args.props, args.opts)

    return add
