"""Run the Pulumi program (`__main__.py`, unchanged) under Pulumi's official mock runtime.

This is the same program `pulumi up` runs; only the engine is replaced. A
`RecordingMonitor` (a `pulumi.runtime.mocks.MockMonitor`) sees every raw
registration (parent, dependencies, options, secret inputs) and answers with
outputs computed by the emulators in `mindiectl.emulators`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import runpy
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from google.protobuf import struct_pb2
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from . import emulators
from .emulators import Context, Emulated, ResourceCall
from .secret_values import REDACTED, unwrap, wrap
from .state import StackState

PROJECT_DIR = Path(__file__).resolve().parent.parent
STACK_REFERENCE = "pulumi:pulumi:StackReference"


@dataclass
class Resource:
    """One registered resource as the engine would record it."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    id: Optional[str] = None
    provider: str = ""
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_inputs: list[str] = field(default_factory=list)
    secret_outputs: list[str] = field(default_factory=list)
    additional_secret_outputs: list[str] = field(default_factory=list)
    """As the program declared them (ResourceOptions): all a policy pack is told about secrets."""
    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    read: bool = False
    """A read of an existing resource (ReadResource, e.g. a StackReference), not one the stack owns."""


@dataclass
class RunResult:
    project: str
    stack: str
    resources: list[Resource]
    outputs: dict[str, Any]
    secret_outputs: list[str]
    notes: list[str]
    logs: list[str]

    def by_type(self, type_token: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> Resource:
        found = [r for r in self.by_type(type_token) if name is None or r.name == name]
        if len(found) != 1:
            raise LookupError(f"{len(found)} resources of type {type_token} named {name}")
        return found[0]


class _Mocks(mocks.Mocks):
    """Unused by RecordingMonitor (it calls the emulators itself); required by set_mocks."""

    def new_resource(self, args: mocks.MockResourceArgs):  # pragma: no cover
        return args.name, dict(args.inputs)

    def call(self, args: mocks.MockCallArgs):
        return {}, None


class StackReferenceError(Exception):
    """A `pulumi.StackReference` the offline run cannot answer (no outputs for that stack)."""


StackOutputs = Mapping[str, Mapping[str, Any]]
"""stack name -> that stack's outputs (as in its build/<stack>/outputs.json)."""


def work_dir() -> Path:
    """Where the stack files and what is generated from them live (build/, .mindie/state/):
    $MINDIE_STACK_DIR when set (a copy of the stacks keeps its own keys and artefacts,
    never mixed with the committed stacks'), else the project."""
    return Path(os.environ.get("MINDIE_STACK_DIR") or PROJECT_DIR)


def saved_outputs(stack: str) -> Optional[dict[str, Any]]:
    """A stack's outputs from its last offline preview (build/<stack>/outputs.json), like the
    outputs of its last deployment that a real StackReference reads; None when never previewed.
    ValueError (or OSError) when the file is there but holds no outputs."""
    path = work_dir() / "build" / stack / "outputs.json"
    if not path.exists():
        return None
    outputs = json.loads(path.read_text())
    if not isinstance(outputs, dict):
        raise ValueError(f"a JSON {type(outputs).__name__}, not an object")
    return outputs


class RecordingMonitor(mocks.MockMonitor):
    """A MockMonitor that records raw registrations and asks the emulators for outputs."""

    def __init__(self, ctx: Context, stack_outputs: Optional[StackOutputs] = None):
        super().__init__(_Mocks())
        self.ctx = ctx
        self.stack_outputs_of = dict(stack_outputs or {})
        self.reference_errors: list[str] = []
        self.recorded: dict[str, Resource] = {}
        self.stack_urn = ""
        self.component_outputs: dict[str, dict[str, Any]] = {}
        self.stack_outputs: dict[str, Any] = {}
        self.stack_secret_outputs: list[str] = []

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            self.stack_urn = urn
            return resource_pb2.RegisterResourceResponse(urn=urn)
        mocks._ensure_event_loop()
        raw_inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        inputs, secret_inputs = unwrap(raw_inputs)
        call = ResourceCall(
            type=request.type,
            name=request.name,
            urn=urn,
            parent=request.parent,
            inputs=inputs,
            custom=bool(request.custom),
            provider=request.provider,
        )
        answer = self._emulate(call)
        secret_outputs = sorted(set(request.additionalSecretOutputs) | set(answer.secret_outputs))
        state = dict(answer.outputs)
        # The engine keeps an input secret in the outputs, and honours additionalSecretOutputs.
        secret_roots = {p.split(".")[0].split("[")[0] for p in secret_inputs}
        for key in state:
            if key in secret_outputs or key in secret_roots:
                state[key] = wrap(state[key])
        self.recorded[urn] = Resource(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=bool(request.custom),
            id=answer.id,
            provider=request.provider,
            dependencies=sorted(set(request.dependencies)),
            property_dependencies={
                k: sorted(v.urns) for k, v in request.propertyDependencies.items() if v.urns
            },
            inputs=inputs,
            outputs=answer.outputs,
            secret_inputs=secret_inputs,
            secret_outputs=[k for k in state if rpc.is_rpc_secret(state[k])],
            additional_secret_outputs=list(request.additionalSecretOutputs),
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            ignore_changes=list(request.ignoreChanges),
        )
        obj = _sync_await(rpc.serialize_properties(state, {}))
        self.resources[urn] = mocks.MockMonitor.ResourceRegistration(urn, answer.id or "", state)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=answer.id or "", object=obj)

    def ReadResource(self, request):  # noqa: N802 - gRPC method name
        """Reads: `pulumi.StackReference` answered with the referenced stack's outputs."""
        if request.type != STACK_REFERENCE:
            return super().ReadResource(request)
        mocks._ensure_event_loop()
        urn = self.make_urn(request.parent, request.type, request.name)
        name = request.id or str(rpc.deserialize_properties(request.properties).get("name", ""))
        try:
            outputs = self._referenced_outputs(name)
        except StackReferenceError as err:
            # Raising here would only surface as an unretrieved future; run_program raises it.
            self.reference_errors.append(str(err))
            outputs = {}
        secret_names = sorted(k for k, v in outputs.items() if v == REDACTED)
        state = {
            "name": name,
            "outputs": {k: (wrap(v) if k in secret_names else v) for k, v in outputs.items()},
            "secretOutputNames": secret_names,
        }
        self.recorded[urn] = Resource(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=True,
            id=name,
            provider=request.provider,
            inputs={"name": name},
            outputs={"name": name, "outputs": outputs, "secretOutputNames": secret_names},
            secret_outputs=[f"outputs.{k}" for k in secret_names],
            read=True,
        )
        obj = _sync_await(rpc.serialize_properties(state, {}))
        self.resources[urn] = mocks.MockMonitor.ResourceRegistration(urn, name, state)
        return resource_pb2.ReadResourceResponse(urn=urn, properties=obj)

    def _referenced_outputs(self, name: str) -> dict[str, Any]:
        """Outputs of `stack`, `project/stack` or `org/project/stack` (this project only)."""
        parts = name.split("/")
        project = parts[-2] if len(parts) >= 2 else self.ctx.project
        stack = parts[-1]
        if project != self.ctx.project:
            raise StackReferenceError(
                f"StackReference {name!r}: project {project!r} is not {self.ctx.project!r}; "
                "offline runs only know this project's stacks"
            )
        if stack in self.stack_outputs_of:
            return dict(self.stack_outputs_of[stack])
        try:
            saved = saved_outputs(stack)
        except (OSError, ValueError) as err:  # not readable, not JSON, not an object
            raise StackReferenceError(
                f"StackReference {name!r}: build/{stack}/outputs.json holds no outputs ({err}); run "
                f"`python -m mindiectl preview --stack {stack}` again"
            ) from None
        if saved is None:
            raise StackReferenceError(
                f"StackReference {name!r}: no outputs for stack {stack!r}; run "
                f"`python -m mindiectl preview --stack {stack}` first (build/{stack}/outputs.json "
                "stands for its last deployment)"
            )
        self.ctx.note(f"StackReference {name}: build/{stack}/outputs.json (its last offline preview)")
        return saved

    def _emulate(self, call: ResourceCall) -> Emulated:
        if not call.custom:
            return Emulated(None, {})
        emulator = emulators.lookup(call.type)
        if emulator is None:
            self.ctx.note(f"{call.type}: no offline emulator; only its inputs are known")
            return Emulated(f"{call.name}-id", dict(call.inputs))
        return emulator(call, self.ctx)

    def RegisterResourceOutputs(self, request):  # noqa: N802 - gRPC method name
        mocks._ensure_event_loop()
        if request.urn == self.stack_urn:
            # The engine keeps a None output as null (`pulumi stack output` shows it), where the
            # SDK's deserializer drops it (found by the engine tier's differential test).
            outputs, secret = unwrap(_with_nulls(request.outputs))
        else:
            outputs, secret = unwrap(rpc.deserialize_properties(request.outputs, keep_unknowns=True))
        if request.urn == self.stack_urn:
            self.stack_outputs = outputs
            self.stack_secret_outputs = secret
        else:
            self.component_outputs[request.urn] = outputs
        return super().RegisterResourceOutputs(request)


def _with_nulls(value: Any) -> Any:
    """A protobuf Struct/Value as plain data, keeping nulls (and secret wrappers, for `unwrap`)."""
    if isinstance(value, struct_pb2.Struct):
        return {k: _with_nulls(v) for k, v in value.fields.items()}
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return _with_nulls(value.struct_value)
    if kind == "list_value":
        return [_with_nulls(v) for v in value.list_value.values]
    return None if kind in (None, "null_value") else getattr(value, kind)


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname.lower()}: {record.getMessage()}")


def run_program(
    stack: str,
    config: dict[str, str],
    secret_keys: list[str] | None = None,
    state: StackState | None = None,
    project: str = "mindie",
    program_dir: Path = PROJECT_DIR,
    stack_outputs: Optional[StackOutputs] = None,
) -> RunResult:
    """Run `<program_dir>/__main__.py` for `stack` with `config`; return what it registered.

    `stack_outputs` answers `pulumi.StackReference` reads (stack -> outputs); a stack
    not in it is read from its build/<stack>/outputs.json.
    Exceptions from the program (a SettingsError for bad config) propagate unchanged.
    """
    ctx = Context(stack=stack, project=project, state=state or StackState(None))
    monitor = RecordingMonitor(ctx, stack_outputs)
    logger = logging.getLogger(f"mindiectl.run.{stack}")
    logger.propagate = False
    capture = _LogCapture()
    logger.handlers[:] = [capture]
    logger.setLevel(logging.INFO)

    _reset_runtime()
    # The SDK binds futures to the loop current at registration: create it before set_mocks.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks.set_mocks(_Mocks(), project=project, stack=stack, preview=False, logger=logger, monitor=monitor)
    set_all_config(dict(config), list(secret_keys or []))
    settings.set_root_resource(None)  # so run_in_stack registers exports like the real runtime
    if str(program_dir) not in sys.path:
        sys.path.insert(0, str(program_dir))
    try:
        loop.run_until_complete(
            run_in_stack(lambda: runpy.run_path(str(program_dir / "__main__.py"), run_name="__main__"))
        )
    except Exception:
        if monitor.reference_errors:  # the cause, rather than the program's reaction to empty outputs
            raise StackReferenceError("; ".join(monitor.reference_errors)) from None
        raise
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        _reset_runtime()
    for urn, outputs in monitor.component_outputs.items():
        if urn in monitor.recorded:
            monitor.recorded[urn].outputs = outputs
    return RunResult(
        project=project,
        stack=stack,
        resources=sorted(monitor.recorded.values(), key=lambda r: r.urn),
        outputs=monitor.stack_outputs,
        secret_outputs=monitor.stack_secret_outputs,
        notes=ctx.notes,
        logs=capture.lines,
    )


def _reset_runtime() -> None:
    """Clear what a previous run left in the SDK's process-wide state."""
    settings.SETTINGS.outputs.clear()
    settings.SETTINGS.rpc_manager.clear()
    settings.set_root_resource(None)
