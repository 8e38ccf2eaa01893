"""Shared domain facts: the bottom layer.

What MindIE, the seed and Kubernetes fix, in one home each: enums of MindIE's config values, image
references, hashing, host paths a pod must never mount, JSON numbers. Imported by the settings layer
(`stacks.settings`), the components (`components`), the policy pack (`policy`) and `mindiectl`; it
imports nothing of them.

Standard library only: the policy pack imports it inside the CrossGuard host, whose virtualenv has
only `policy/requirements.txt`.
"""
