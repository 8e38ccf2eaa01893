"""`mindiectl promote --from <stack> --to <stack> [--dry-run] [--force]`: promote a tested release.

Copies the RELEASE settings (stacks/settings/promotion.py: CLASSIFICATION) from
Pulumi.<from>.yaml into Pulumi.<to>.yaml, leaves the target's ENVIRONMENT
settings alone, keeps comments and key order (ruamel round-trip), records
`mindie:release: {fromStack, fingerprint}` in the target and prints the diff.
A component key holding both kinds (e.g. mindie:motor) is promoted only when
both stacks configure it (see docs/lifecycle.md).

Safety, in order:
1. both stacks take their release from config (not `mindie:releaseFrom`);
2. one stage at a time along dev -> staging -> prod (same stage allowed, e.g. a
   second prod region); skipping a stage or going back needs --force;
3. the source must pass the gate (`gate_problems`);
4. the new target settings must validate and carry the source's fingerprint;
5. the promoted target is written as a candidate beside the stack files, gated, and only a
   candidate that passes is renamed over the target (a kill leaves it wholly old or new).
`--dry-run` stops after printing the diff. Exit codes: 0 promoted (or nothing to
do), 1 refused or rolled back, 2 unreadable stack file.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ruamel.yaml.comments import CommentedMap

from stacks.settings import promotion
from stacks.settings.errors import SettingsError
from stacks.settings.promotion import ORDER, Kind, SettingNode
from stacks.settings.stack import PROJECT, Settings, load_settings

from . import progress, safefs, stackfile
from .plain_json import plain
from .stack_run import REFERENCE_KEY, USER_ERRORS, default_state, locked, run_or_exit, run_stack

PREFIX = f"{PROJECT}:"
RECORD_KEY = f"{PREFIX}release"

GATE = "check"
"""What `gate_problems` runs: `mindiectl check` (settings, the policy pack at the stack's
environment levels, strict Kubernetes schemas)."""

Gate = Callable[[str, Optional[Path], Optional[Path]], list[str]]


class PromotionError(Exception):
    """The promotion was refused (nothing written) or rolled back (file restored)."""

    def __init__(self, message: str, problems: Optional[list[str]] = None):
        self.problems = list(problems or [])
        super().__init__(message + "".join(f"\n  - {p}" for p in self.problems))


def gate_problems(
    stack: str, project_dir: Optional[Path] = None, state_dir: Optional[Path] = None
) -> list[str]:
    """[] when `stack` may take part in a promotion; else one line per problem.

    The gate is `mindiectl check`: the stack file reads, the settings validate,
    the unchanged program runs offline, no mandatory policy is violated and every
    manifest passes the strict Kubernetes schema.
    """
    from .check import check  # the policy pack: loaded only when a gate runs

    state = (state_dir / f"{stack}.json") if state_dir else default_state(stack, project_dir)
    progress.step(f"gate {stack}: offline preview + policy check")
    try:
        result = run_stack(stack, state, project_dir=project_dir)
    except SettingsError as err:
        return err.problems
    except USER_ERRORS as err:
        return [str(err)]
    return [f"{f.rule} ({f.resource}): {f.message}" for f in check(result).mandatory]


# --------------------------------------------------------------------------- the plan


@dataclass
class Change:
    path: str
    """`mindie:<key>.<sub>...` of a leaf that changed."""
    before: Any
    after: Any

    def __str__(self) -> str:
        return f"{self.path}: {_show(self.before)} -> {_show(self.after)}"


@dataclass
class Promotion:
    source: str
    target: str
    fingerprint: str
    """The target's release fingerprint after the promotion (the source's unless keys were skipped)."""
    before: str
    """The target file's text before."""
    after: str
    """The target file's text after the promotion."""
    changes: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Top-level keys not promoted because only one of the two stacks configures them."""
    written: bool = False

    def diff(self) -> str:
        name = f"Pulumi.{self.target}.yaml"
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"{name} (before)",
                tofile=f"{name} (promoted from {self.source})",
            )
        )


def plan(source: str, target: str, project_dir: Optional[Path] = None, force: bool = False) -> Promotion:
    """Compute the promoted target file without touching anything; raise PromotionError."""
    if source == target:
        raise PromotionError(f"--from and --to are both {source!r}")
    src_cfg, tgt_cfg = stackfile.load(source, project_dir), stackfile.load(target, project_dir)
    _refuse_references(src_cfg, tgt_cfg)
    warnings = _check_order(src_cfg.config, tgt_cfg.config, source, target, force)
    src_settings = _settings(src_cfg, "source")

    src_doc = stackfile.read_document(src_cfg.path)
    tgt_doc = stackfile.read_document(tgt_cfg.path)
    before = tgt_cfg.path.read_text()
    src_map, tgt_map = src_doc.get("config") or CommentedMap(), tgt_doc.get("config")
    if tgt_map is None:
        tgt_map = tgt_doc["config"] = CommentedMap()
    before_plain = plain(tgt_map)
    secrets = _secure_release_values(src_map)
    if secrets:
        raise PromotionError("release settings must not be secrets (each stack encrypts its own)", secrets)
    skipped = _sync(src_map, tgt_map, promotion.setting_tree(Settings), skipped=[])
    warnings += _skipped_warnings(skipped, src_map, source, target)

    new_settings = _promoted_settings(tgt_map, tgt_cfg, target)
    _check_release_copied(src_settings, new_settings, skipped)
    got = promotion.release_fingerprint(new_settings)
    _record(tgt_map, source, got)
    after = _dump(tgt_doc)
    changes = _changes(before_plain, plain(tgt_map))
    return Promotion(source, target, got, before, after, changes, warnings, skipped=skipped)


def _refuse_references(*cfgs: stackfile.StackConfig) -> None:
    """A stack taking its release through a StackReference is promoted by deploying it."""
    for cfg in cfgs:
        if cfg.config.get(REFERENCE_KEY):
            raise PromotionError(
                f"{cfg.stack} takes its release from {cfg.config[REFERENCE_KEY]!r} through a StackReference "
                f"({REFERENCE_KEY}); promote by deploying it (`pulumi up`), or remove {REFERENCE_KEY}"
            )


def _skipped_warnings(skipped: list[str], src_map: Mapping[str, Any], source: str, target: str) -> list[str]:
    """One warning per mixed key configured in only one of the two stacks."""
    warnings = []
    for key in skipped:
        if key not in src_map:
            what = f"{key} is not configured in {source}: not promoted, {target} keeps its own"
        else:
            what = f"{key} is not configured in {target}: not promoted, {target} stays without it"
        warnings.append(f"{what} (configure it in both {source} and {target} to promote it)")
    return warnings


def _promoted_settings(tgt_map: CommentedMap, tgt_cfg: stackfile.StackConfig, target: str) -> Settings:
    """The target's settings as they would load after the promotion (its secrets kept)."""
    new_config = {str(k): stackfile.encode_value(v) for k, v in tgt_map.items() if not _is_secure(v)}
    new_config.update({k: v for k, v in tgt_cfg.config.items() if k in tgt_cfg.secret_keys})
    try:
        return load_settings(new_config.get, list(new_config), tgt_cfg.secrets)
    except SettingsError as err:
        raise PromotionError(
            f"{target} would not validate after the promotion; nothing written", err.problems
        ) from None


def _check_release_copied(src_settings: Settings, new_settings: Settings, skipped: list[str]) -> None:
    """Every promoted part's release now equals the source's."""
    src_parts = promotion.part_fingerprints(src_settings)
    new_parts = promotion.part_fingerprints(new_settings)
    for key in src_parts:
        if f"{PREFIX}{key}" not in skipped and src_parts[key] != new_parts.get(key):
            # a classification bug, never a user error: do not write a half-promoted file
            raise PromotionError(f"internal: the release of {PREFIX}{key} differs after the copy")


def promote(
    source: str,
    target: str,
    *,
    dry_run: bool = False,
    force: bool = False,
    project_dir: Optional[Path] = None,
    state_dir: Optional[Path] = None,
    gate: Gate = gate_problems,
    log: Callable[[str], None] = lambda _line: None,
) -> Promotion:
    """Plan, gate the source, gate the candidate target, then put it in place.

    Staged: the promoted target is written as a candidate in a private folder beside the stack
    files (with copies of the other stack files), gated there, and only then renamed over
    Pulumi.<target>.yaml (safefs.atomic_write semantics: same folder, fsync, rename). A kill at
    any instant leaves the target wholly old or wholly new-and-checked. Both stacks are locked
    for the whole promotion."""
    if source == target:
        raise PromotionError(f"--from and --to are both {source!r}")
    first, second = sorted((source, target))  # one order for every run: no lock-order deadlock
    with locked(first, project_dir), locked(second, project_dir):
        result = plan(source, target, project_dir, force)
        for warning in result.warnings:
            log(f"warning: {warning}")
        problems = gate(source, project_dir, state_dir)
        if problems:
            raise PromotionError(f"source stack {source} fails the gate ({GATE}); nothing written", problems)
        log(f"source {source} passes the gate ({GATE})")
        if dry_run or result.after == result.before:
            return result
        path = stackfile.stack_path(target, project_dir)
        states = state_dir if state_dir is not None else default_state(target, project_dir).parent
        with _candidate(path, result.after) as staged:
            problems = gate(target, staged, states)
            if problems:
                raise PromotionError(
                    f"target stack {target} fails the gate ({GATE}) after the promotion; "
                    f"Pulumi.{target}.yaml not changed",
                    problems,
                )
            if path.read_text() != result.before:
                raise PromotionError(f"Pulumi.{target}.yaml changed during the promotion; nothing written")
            stackfile.write_document_text(path, result.after)
        log(f"target {target} passes the gate ({GATE})")
        result.written = True
        return result


@contextlib.contextmanager
def _candidate(path: Path, text: str) -> Iterator[Path]:
    """A private folder beside `path` holding every stack file, `path`'s replaced by `text`."""
    folder = safefs.marked_dir(path.parent, ".mindiectl-promote-")  # stale ones of killed runs go
    try:
        for other in path.parent.glob("Pulumi.*.yaml"):
            if other.is_file():
                shutil.copyfile(other, folder / other.name)
        (folder / path.name).write_text(text)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- order of stages


def _check_order(
    src: Mapping[str, str], tgt: Mapping[str, str], source: str, target: str, force: bool
) -> list[str]:
    env_src, env_tgt = src.get(f"{PREFIX}environment"), tgt.get(f"{PREFIX}environment")
    if env_src not in ORDER or env_tgt not in ORDER:
        raise PromotionError(
            f"both stacks must declare {PREFIX}environment as one of {', '.join(ORDER)} "
            f"({source}: {env_src!r}, {target}: {env_tgt!r})"
        )
    step = ORDER.index(env_tgt) - ORDER.index(env_src)
    if step in (0, 1):
        return []
    what = (
        f"skips {', '.join(ORDER[ORDER.index(env_src) + 1 : ORDER.index(env_tgt)])}"
        if step > 1
        else "goes backwards"
    )
    message = f"{source} ({env_src}) -> {target} ({env_tgt}) {what}; promotion goes {' -> '.join(ORDER)}"
    if not force:
        raise PromotionError(message + " (use --force to do it anyway)")
    return [message + " (--force)"]


def _settings(cfg: stackfile.StackConfig, role: str) -> Any:
    try:
        return load_settings(cfg.config.get, list(cfg.config), cfg.secrets)
    except SettingsError as err:
        raise PromotionError(
            f"{role} stack {cfg.stack} has invalid settings; nothing written", err.problems
        ) from None


# --------------------------------------------------------------------------- editing the document


def _sync(
    src: Mapping[str, Any], tgt: CommentedMap, node: SettingNode, skipped: Optional[list[str]] = None
) -> list[str]:
    """Make the release part of `tgt` equal to that of `src`; never touch anything else.

    At the top level (`skipped` is a list), a key holding both kinds (a component with its own
    environment settings, e.g. mindie:motor) is promoted only when BOTH stacks configure it:
    a stack that does not configure a component has not tested its release, and a target that
    does not configure it has no environment settings for it. Such keys are returned.
    """
    root = skipped is not None
    keys = list(src) + [k for k in tgt if k not in src]
    for key in keys:
        child = _model_node(node, key, root)
        if child is None:
            continue
        if root and promotion.is_mixed(child.path) and (key not in src) != (key not in tgt):
            skipped.append(str(key))
            continue
        if promotion.is_mixed(child.path):
            _sync_mixed(src, tgt, key, child)
        elif promotion.kind_of(child.path) is Kind.RELEASE:
            _sync_release(src, tgt, key)
    return skipped if skipped is not None else []


def _model_node(node: SettingNode, key: Any, root: bool) -> Optional[SettingNode]:
    """The settings-model node of `key`, or None for a key that is never copied."""
    name = str(key)
    if root:
        if not name.startswith(PREFIX):
            return None  # other namespaces (kubernetes:..., pulumi:...) belong to the stack
        name = name[len(PREFIX) :]
    return node.child(name)  # None: unknown to the model; the gate reports it


def _sync_mixed(src: Mapping[str, Any], tgt: CommentedMap, key: Any, child: SettingNode) -> None:
    """Sync inside a key holding both kinds; created in `tgt` if needed, dropped again if left empty."""
    s, t = src.get(key), tgt.get(key)
    if not isinstance(s, Mapping) and s is not None:
        return  # not an object: validation reports it
    created = False
    if t is None:
        t, created = CommentedMap(), True
        stackfile.insert_like(tgt, src, key, t)
    if isinstance(t, CommentedMap):
        _sync(s or {}, t, child)
        if created and not t:
            del tgt[key]


def _sync_release(src: Mapping[str, Any], tgt: CommentedMap, key: Any) -> None:
    """A release key: copied from `src`, or removed from `tgt` when `src` lacks it."""
    if key in src:
        stackfile.mirror(src, tgt, key)
    elif key in tgt:
        stackfile.delete_keeping_comments(tgt, key)


def _record(tgt: CommentedMap, source: str, fp: str) -> None:
    record = tgt.get(RECORD_KEY)
    if isinstance(record, CommentedMap):
        record["fromStack"] = source
        record["fingerprint"] = fp
        return
    value = CommentedMap([("fromStack", source), ("fingerprint", fp)])
    if RECORD_KEY in tgt:
        tgt[RECORD_KEY] = value
        return
    tgt[RECORD_KEY] = value
    tgt.yaml_set_comment_before_after_key(
        RECORD_KEY, before="Written by `mindiectl promote`: where this stack's release came from.", indent=2
    )


def _is_secure(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"secure"}


def _secure_release_values(src: Mapping[str, Any]) -> list[str]:
    plain = {str(k)[len(PREFIX) :]: v for k, v in src.items() if str(k).startswith(PREFIX)}
    release, _ = promotion.split(plain, promotion.setting_tree(Settings))
    found: list[str] = []

    def walk(value: Any, path: str) -> None:
        if _is_secure(value):
            found.append(f"{PREFIX}{path}")
        elif isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, f"{path}.{k}")

    for key, value in release.items():
        walk(value, str(key))
    return found


def _dump(doc: Any) -> str:
    buf = io.StringIO()
    stackfile.round_trip_yaml().dump(doc, buf)
    return buf.getvalue()


_MISSING = object()


def _changes(before: Mapping[str, Any], after: Mapping[str, Any], prefix: str = "") -> list[Change]:
    out: list[Change] = []
    for key in list(before) + [k for k in after if k not in before]:
        path = f"{prefix}.{key}" if prefix else key
        b, a = before.get(key, _MISSING), after.get(key, _MISSING)
        if isinstance(b, Mapping) and isinstance(a, Mapping) and not _is_secure(b):
            out.extend(_changes(b, a, path))
        elif b != a:
            out.append(Change(path, b, a))
    return out


def _show(value: Any) -> str:
    return "(unset)" if value is _MISSING else repr(value)


# --------------------------------------------------------------------------- command line


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "promote",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="The source and target are gated with `mindiectl check` (their `secure:` values are\n"
        "decrypted with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE, as the Pulumi CLI\n"
        "does). Stack files are read from $MINDIE_STACK_DIR when set, else the project.\n"
        "Exit codes: 0 promoted (or nothing to do), 1 refused or rolled back,\n"
        "2 unreadable stack file.",
    )
    p.add_argument("--from", dest="source", required=True, help="source stack (tested release)")
    p.add_argument("--to", dest="target", required=True, help="target stack (next stage)")
    p.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    p.add_argument("--force", action="store_true", help="allow skipping a stage or going backwards")
    p.add_argument(
        "--state-dir",
        type=Path,
        help="offline state directory for the gate runs (default .mindie/state/, "
        "under $MINDIE_STACK_DIR when set)",
    )
    p.set_defaults(func=main)


@run_or_exit
def main(args: argparse.Namespace) -> int:
    def say(line: str) -> None:
        print(line)

    say(f"Promoting the release of {args.source} to {args.target}" + (" (dry run)" if args.dry_run else ""))
    try:
        result = promote(
            args.source,
            args.target,
            dry_run=args.dry_run,
            force=args.force,
            state_dir=args.state_dir,
            log=say,
        )
    except PromotionError as err:
        print(f"refused: {err}", file=sys.stderr)
        return 1
    say(f"release fingerprint {result.fingerprint}")
    if not result.changes:
        say(f"{args.target} already runs this release: nothing to change")
        return 0
    say(f"changes in Pulumi.{args.target}.yaml:")
    for change in result.changes:
        say(f"  {change}")
    say(result.diff().rstrip("\n"))
    say("dry run: nothing written" if args.dry_run else f"written: Pulumi.{args.target}.yaml")
    return 0
