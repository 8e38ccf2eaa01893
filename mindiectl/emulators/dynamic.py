"""Python dynamic providers (`pulumi-python:dynamic...`): run the program's own provider.

The engine gives a dynamic resource's inputs, including the dill-pickled provider under
`__provider`, to Pulumi's dynamic-provider host (`python -m pulumi.dynamic`), which
unpickles the provider and calls Check, then Create, or Diff and Update on later runs.
This emulator does the same with the same code path (base64 + `dill.loads` inside
`pulumi.runtime._serialization._deserialize`, like `pulumi.dynamic.__main__.get_provider`),
so the offline preview executes exactly the provider `pulumi up` would. The offline
state plays the part of the stack's state: a later run calls `diff(id, olds, news)`
and keeps, updates or re-creates, as the engine would.
"""

from __future__ import annotations

import base64
from typing import Any

from ..plain_json import plain
from .base import Context, Emulated, ResourceCall, emulates

PROVIDER_KEY = "__provider"

_CACHE: dict[str, Any] = {}


def load_provider(serialized: str) -> Any:
    """Unpickle a serialized dynamic provider exactly as the dynamic-provider host does."""
    import dill
    from pulumi.runtime._serialization import _deserialize

    provider = _CACHE.get(serialized)
    if provider is None:
        provider = _deserialize(lambda: dill.loads(base64.b64decode(serialized)))
        _CACHE[serialized] = provider
    return provider


class DynamicProviderError(Exception):
    """A dynamic provider's Check reported failures (the engine would fail the update)."""


@emulates("pulumi-python:dynamic*")
def dynamic_resource(call: ResourceCall, ctx: Context) -> Emulated:
    serialized = call.inputs.get(PROVIDER_KEY)
    if not isinstance(serialized, str):
        ctx.note(f"{call.type} {call.name}: no serialized provider; only its inputs are known")
        return Emulated(f"{call.name}-id", dict(call.inputs))
    provider = load_provider(serialized)
    previous = ctx.state.previous(call.urn)
    olds = dict(previous["outputs"]) if previous else {}
    checked = provider.check(olds, dict(call.inputs))
    if checked.failures:
        problems = "; ".join(f"{f.property}: {f.reason}" for f in checked.failures)
        raise DynamicProviderError(f"{call.type} {call.name}: check failed: {problems}")
    news = dict(checked.inputs)
    news[PROVIDER_KEY] = serialized

    if previous is not None:
        rid = previous.get("id") or ""
        diff = provider.diff(rid, olds, news)
        if diff.changes is None:  # DIFF_UNKNOWN: the engine compares inputs itself
            changed = previous.get("last_inputs") != plain(news)
            replace = changed
        else:
            changed = bool(diff.changes)
            replace = bool(diff.replaces)
        if not changed:
            return Emulated(rid, olds)
        if not replace:
            result = provider.update(rid, olds, news)
            outs = {**(result.outs or {}), PROVIDER_KEY: serialized}
            ctx.state.store(call.urn, plain(news), outs, id=rid, last_inputs=plain(news))
            return Emulated(rid, outs)
    created = provider.create(news)
    outs = {**(created.outs or {}), PROVIDER_KEY: serialized}
    ctx.state.store(call.urn, plain(news), outs, id=created.id, last_inputs=plain(news))
    return Emulated(created.id, outs)
