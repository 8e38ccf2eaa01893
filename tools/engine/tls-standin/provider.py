# ruff: noqa: N802 - the gRPC servicer methods carry the protocol's names
"""A STAND-IN for pulumi-resource-tls: mindiectl's TLS emulator served over the provider protocol.

Why: the Go module proxy refuses every version of github.com/pulumi/pulumi-tls/provider/v5 (and v4)
with "This module version is not available", so the real provider cannot be built here (see
docs/engine.md for the exact commands). Without some `pulumi-resource-tls` the real engine cannot
run the program at all, so the engine tier runs the real CLI, language runtime and Kubernetes
provider against this stand-in. It computes keys and certificates with the same functions as
`mindiectl preview` (mindiectl/emulators/tls.py): the engine tier therefore proves the engine
lifecycle (preview, up, update, destroy, policy pack, secrets) and the Kubernetes rendering, NOT the
emulator's fidelity to terraform-provider-tls. It behaves like a bridged provider where the engine
can tell: every input change replaces (all of the TLS resources' inputs are ForceNew, except
earlyRenewalHours which is in-place), computed outputs are unknown during preview, the private key
outputs are secret.

The engine starts it as `pulumi-resource-tls <engine address>` and reads its port from stdout.
"""

from __future__ import annotations

import math
import os
import sys
from concurrent import futures
from typing import Any

# The engine starts providers in the project's directory: the emulator is that project's own.
sys.path.insert(0, os.getcwd())

import grpc  # noqa: E402
from google.protobuf import empty_pb2, json_format, struct_pb2  # noqa: E402
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc  # noqa: E402

from mindiectl.emulators import Context, ResourceCall, lookup  # noqa: E402
from mindiectl.state import StackState  # noqa: E402

VERSION = "5.6.2"
"""The pulumi-tls version whose behaviour mindiectl/emulators/tls.py follows."""

SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

SECRET_OUTPUTS = {"privateKeyPem", "privateKeyOpenssh", "privateKeyPemPkcs8"}
IN_PLACE = {"earlyRenewalHours"}
"""The one input the provider updates in place; every other input change forces a new resource."""


def _plain(value: Any) -> tuple[Any, bool]:
    """A wire value without secret wrappers (and integral floats back to ints); True if any was secret."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            inner, _ = _plain(value.get("value"))
            return inner, True
        secret = False
        out = {}
        for k, v in value.items():
            out[k], s = _plain(v)
            secret = secret or s
        return out, secret
    if isinstance(value, list):
        items = [_plain(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value), False
    return value, False


def _from_struct(struct: struct_pb2.Struct) -> tuple[dict[str, Any], set[str]]:
    raw = json_format.MessageToDict(struct) if struct is not None else {}
    values, secrets = {}, set()
    for k, v in raw.items():
        values[k], secret = _plain(v)
        if secret:
            secrets.add(k)
    return values, secrets


def _to_struct(values: dict[str, Any], secrets: set[str]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(
        {
            k: {SECRET_SIG: SECRET_VALUE, "value": v} if k in secrets else v
            for k, v in values.items()
            if v is not None
        }
    )
    return struct


def _has_unknown(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_unknown(v) for v in value)
    return value == UNKNOWN


def _type(urn: str) -> str:
    # urn:pulumi:<stack>::<project>::<parent types$>type::name
    return urn.split("::")[2].split("$")[-1]


def _name(urn: str) -> str:
    return urn.split("::")[3]


class TlsStandIn(provider_pb2_grpc.ResourceProviderServicer):
    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=VERSION)

    def CheckConfig(self, request, context):
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request, context):
        return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_NONE)

    def Configure(self, request, context):
        return provider_pb2.ConfigureResponse(acceptSecrets=True, supportsPreview=True)

    def Check(self, request, context):
        return provider_pb2.CheckResponse(inputs=request.news)

    def Diff(self, request, context):
        olds, _ = _from_struct(request.old_inputs if request.HasField("old_inputs") else request.olds)
        news, _ = _from_struct(request.news)
        changed = sorted(k for k in set(olds) | set(news) if olds.get(k) != news.get(k) and k != "__defaults")
        if not changed:
            return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_NONE)
        replaces = [k for k in changed if k not in IN_PLACE]
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME, diffs=changed, replaces=replaces
        )

    def _emulate(self, urn: str, inputs: dict[str, Any]):
        emulator = lookup(_type(urn))
        if emulator is None:
            raise ValueError(f"the TLS stand-in has no emulator for {_type(urn)}")
        call = ResourceCall(type=_type(urn), name=_name(urn), urn=urn, parent="", inputs=inputs, custom=True)
        return emulator(call, Context(stack="", project="", state=StackState(None)))

    def Create(self, request, context):
        inputs, secret_inputs = _from_struct(request.properties)
        if request.preview and _has_unknown(inputs):
            return provider_pb2.CreateResponse(id="", properties=_to_struct(inputs, secret_inputs))
        try:
            result = self._emulate(request.urn, inputs)
        except (ValueError, KeyError) as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        outputs = result.outputs
        if request.preview:
            # Like a bridged provider: computed outputs are unknown until the resource is created.
            outputs = {k: (v if k in inputs else UNKNOWN) for k, v in outputs.items()}
        secrets = (SECRET_OUTPUTS | secret_inputs) & set(outputs)
        return provider_pb2.CreateResponse(
            id="" if request.preview else result.id or "", properties=_to_struct(outputs, secrets)
        )

    def Read(self, request, context):
        # Nothing lives outside the state: what the engine holds is what exists.
        return provider_pb2.ReadResponse(id=request.id, properties=request.properties, inputs=request.inputs)

    def Update(self, request, context):
        olds, old_secrets = _from_struct(request.olds)
        news, new_secrets = _from_struct(request.news)
        return provider_pb2.UpdateResponse(properties=_to_struct({**olds, **news}, old_secrets | new_secrets))

    def Delete(self, request, context):
        return empty_pb2.Empty()

    def Cancel(self, request, context):
        return empty_pb2.Empty()


def main() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(TlsStandIn(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
