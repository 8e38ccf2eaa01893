"""Shared domain facts: the bottom layer.

What MindIE, the seed and Kubernetes fix, in one home each. Imported by the settings layer
(`stacks.settings`), the components (`components`), the policy pack (`policy`) and `mindiectl`; it
imports nothing of them.

- `enums`: MindIE's and Kubernetes' enumerated config values (PullPolicy, Motor and Server log levels).
- `hashing`: the sha256 digests behind `checksum/*` annotations and release fingerprints.
- `host_paths`: host directories a pod must never mount (hostPath), and the shared top-level ones.
- `images`: the image-reference grammar, its tag and repository, what "pinned" means.
- `kubernetes`: label keys, component values, NPU resources and node labels, the NodePort range.
- `mindie_server_paths`: MindIE Server's file layout in the pod, its CA identities and file modes.
- `numbers`: JSON numbers back from the Pulumi engine (3.0 -> 3).
- `passphrase`: the seed's passphrase rule for encrypted keys.
- `pki`: the seed's certificate policy (intermediate CA subject, RSA bits, validity).
- `probes`: the seed's ranges for the servers' probes and start-up window.
- `rbac`: the RBAC API group and the seed's `ms-role` rules.
- `rollout`: how maxSurge / maxUnavailable percentages resolve into pods.
- `security_tree`: the seed's `security/` tree, an identity's Secret keys and where each file lands.
- `tls_switches`: the TLS switches of MindIE's JSON configs the policy requires on.

Standard library only: the policy pack imports it inside the CrossGuard host, whose virtualenv has
only `policy/requirements.txt`.
"""
