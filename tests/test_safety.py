"""Issue 17: nothing lost, nothing leaked, nothing injected (files, locks, secrets, hostile input).

Each test reproduces a failure class found by probing the commands on the code before the fix;
none runs a full preview (they exercise the refusal paths and the file helpers directly), so
the module stays fast.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from mindiectl import safefs, stackfile
from mindiectl.__main__ import main
from mindiectl.runtime import PROJECT_DIR, RunResult
from mindiectl.stack_run import write_atomically
from mindiectl.state import SECRET_DIGEST_KEY, StackState, StateError
from stacks.settings.errors import SettingsError
from stacks.settings.stack import load_settings

DEMO = "mindie-demo-passphrase"


@pytest.fixture
def stacks(stack_copy: Path, monkeypatch) -> Path:
    monkeypatch.setenv(stackfile.PASSPHRASE_ENV, DEMO)
    return stack_copy


def empty_result(stack: str = "dev") -> RunResult:
    return RunResult("mindie", stack, [], {"environment": stack}, [], [], [])


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def no_traceback(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# --------------------------------------------------------------------------- --out never deletes


@pytest.mark.parametrize("command", ["preview", "check"])
def test_out_refuses_a_folder_with_someone_elses_files(stacks: Path, tmp_path: Path, capsys, command):
    victim = tmp_path / "photos"
    victim.mkdir()
    (victim / "holiday.jpg").write_bytes(b"\xff\xd8 not ours")
    assert main([command, "--stack", "dev", "--out", str(victim)]) == 2
    assert "did not write" in no_traceback(capsys)
    assert tree(victim) == {"holiday.jpg": b"\xff\xd8 not ours"}


@pytest.mark.parametrize("where", ["stacks", "state", "parent", "root", "project"])
def test_out_refuses_the_project_stack_and_state_folders_and_their_parents(stacks: Path, capsys, where):
    target = {
        "stacks": stacks,
        "state": stacks / ".mindie",
        "parent": stacks.parent,
        "root": Path("/"),
        "project": PROJECT_DIR,
    }[where]
    (stacks / ".mindie").mkdir(exist_ok=True)
    (stacks / ".mindie" / "keep").write_text("state")
    before = tree(stacks)
    assert main(["preview", "--stack", "dev", "--out", str(target)]) == 2
    assert "--out" in no_traceback(capsys)
    assert tree(stacks) == before


def test_out_recognises_an_output_folder_of_an_earlier_version(stacks: Path, tmp_path: Path):
    earlier = tmp_path / "build" / "dev"
    (earlier / "manifests").mkdir(parents=True)
    (earlier / "resources.json").write_text("[]")
    safefs.check_out_dir(earlier, [])  # only this tool's artefact names: replaceable
    (earlier / "notes.txt").write_text("mine")
    with pytest.raises(safefs.UnsafePathError, match="did not write"):
        safefs.check_out_dir(earlier, [])


def test_out_refuses_a_symlink_and_a_file(stacks: Path, tmp_path: Path, capsys):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert main(["preview", "--stack", "dev", "--out", str(link)]) == 2
    assert "symbolic link" in no_traceback(capsys)
    file = tmp_path / "file"
    file.write_text("keep")
    assert main(["preview", "--stack", "dev", "--out", str(file)]) == 2
    assert "not a folder" in no_traceback(capsys)
    assert file.read_text() == "keep" and link.is_symlink()


def test_out_replaces_only_its_own_folder_by_an_atomic_swap(tmp_path: Path, monkeypatch):
    out = tmp_path / "build" / "dev"
    write_atomically(empty_result(), out, protected=[])
    assert (out / safefs.MARKER).is_file() and (out / "outputs.json").is_file()
    (out / "stale.txt").write_text("from the last run")
    swaps: list[tuple[Path, Path]] = []
    real = safefs._exchange

    def exchange(a: Path, b: Path) -> bool:
        swaps.append((a, b))
        assert b.exists()  # the destination is never absent, not even between the renames
        return real(a, b)

    monkeypatch.setattr(safefs, "_exchange", exchange)
    write_atomically(empty_result(), out, protected=[])
    assert swaps and not (out / "stale.txt").exists()
    assert [p.name for p in out.parent.iterdir()] == ["dev"]  # no staging debris


def test_stale_staging_folders_of_killed_runs_are_removed_only_when_ours(tmp_path: Path):
    out = tmp_path / "dev"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    ).stdout.strip()
    ours = tmp_path / ".dev-aaaaaa"
    ours.mkdir()
    (ours / safefs.MARKER).write_text(f"written by mindiectl (pid {dead}); ...\n")
    (ours / "key.pem").write_text("debris")
    foreign = tmp_path / ".dev-bbbbbb"
    foreign.mkdir()
    (foreign / "data").write_text("not ours")
    live = tmp_path / ".dev-cccccc"
    live.mkdir()
    (live / safefs.MARKER).write_text(f"written by mindiectl (pid {os.getppid()}); ...\n")
    assert safefs.clean_stale_staging(out) == [ours]
    assert not ours.exists() and foreign.exists() and live.exists()


# --------------------------------------------------------------------------- atomic writes


def test_atomic_write_keeps_mode_and_symlink_and_ignores_a_planted_temp_symlink(tmp_path: Path, monkeypatch):
    real = tmp_path / "real.yaml"
    real.write_text("old\n")
    os.chmod(real, 0o640)
    link = tmp_path / "Pulumi.dev.yaml"
    link.symlink_to(real)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    names = iter(["planted", "planted", "fresh"])
    monkeypatch.setattr(safefs.secrets, "token_hex", lambda n: next(names))
    (tmp_path / ".real.yaml.planted.tmp").symlink_to(victim)
    safefs.atomic_write(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert victim.read_text() == "precious"


def test_atomic_write_interrupted_leaves_the_old_file_and_no_temp(tmp_path: Path, monkeypatch):
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text("old\n")

    def killed(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(safefs.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        safefs.atomic_write(path, "new\n")
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_temp_files_of_killed_writers_are_cleaned_only_when_ours_and_old(tmp_path: Path):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("old\n")
    stale = tmp_path / ".Pulumi.dev.yaml.0123456789abcdef.tmp"
    fresh = tmp_path / ".Pulumi.dev.yaml.fedcba9876543210.tmp"
    other = tmp_path / ".Pulumi.dev.yaml.notours.tmp"
    for f in (stale, fresh, other):
        f.write_text("")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    safefs.atomic_write(path, "new\n")
    assert not stale.exists() and fresh.exists() and other.exists()


def test_sigkill_during_a_write_leaves_the_file_wholly_old(tmp_path: Path):
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text("old\n" * 1000)
    script = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(PROJECT_DIR)!r})
        from mindiectl import safefs
        real = os.fsync
        def slow(fd):
            print("writing", flush=True); time.sleep(30); real(fd)
        os.fsync = slow
        safefs.atomic_write({str(path)!r}, "new\\n" * 1000)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert path.read_text() == "old\n" * 1000


def test_concurrent_state_saves_never_leave_a_broken_file(tmp_path: Path):
    path = tmp_path / "state" / "dev.json"
    errors: list[BaseException] = []

    def saver(tag: str) -> None:
        try:
            for i in range(20):
                state = StackState(path)
                state.store(f"urn:{tag}", {"i": i}, {"value": "x" * 5000})
                state.save()
        except BaseException as err:  # pragma: no cover - the failure being tested for
            errors.append(err)

    threads = [threading.Thread(target=saver, args=(t,)) for t in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert isinstance(json.loads(path.read_text()), dict)
    assert sorted(p.name for p in path.parent.iterdir()) == ["dev.json"]


# --------------------------------------------------------------------------- per-stack lock


def test_a_second_run_on_a_locked_stack_waits_then_refuses(tmp_path: Path, capsys):
    locks = tmp_path / "locks"
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(PROJECT_DIR)!r})
        from mindiectl import safefs
        with safefs.stack_lock("dev", Path({str(locks)!r})):
            print("locked", flush=True); time.sleep(30)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(safefs.UnsafePathError, match="still locked by another mindiectl run"):
            with safefs.stack_lock("dev", locks, timeout=0.3):
                pytest.fail("entered a locked stack")
        assert "another run holds stack dev" in capsys.readouterr().err
        with safefs.stack_lock("staging", locks, timeout=0.3):  # other stacks are not blocked
            with safefs.stack_lock("staging", locks, timeout=0.3):  # re-entrant in one process
                pass
    finally:
        holder.kill()
        holder.wait()
    with safefs.stack_lock("dev", locks, timeout=5):  # released when its holder dies
        pass


def test_imports_of_one_stack_are_serialised(stacks: Path, tmp_path: Path, monkeypatch):
    from mindiectl import legacy

    entered: list[str] = []
    real = safefs.stack_lock

    def spy(stack, lock_dir, timeout=None):
        entered.append(stack)
        return real(stack, lock_dir, timeout)

    monkeypatch.setattr(safefs, "stack_lock", spy)
    source = tmp_path / "infer_server.json"
    source.write_text(json.dumps(json.loads(stackfile.load("dev").config["mindie:inferServer"])))
    legacy.import_file(source, "dev", None)
    assert entered == ["dev"]
    assert (stacks / ".mindie" / "locks" / "dev.lock").exists()


# --------------------------------------------------------------------------- secrets


def _prod_with_plain_root_key(stacks: Path) -> stackfile.StackConfig:
    """prod with its root CA key in plain text beside the secure keyPassphrase."""
    key = json.loads(stackfile.load("prod").config["mindie:tls"])["rootCa"]["keyPem"]
    doc = stackfile.read_document(stacks / "Pulumi.prod.yaml")
    doc["config"]["mindie:tls"]["rootCa"]["keyPem"] = key
    stackfile.write_document(stacks / "Pulumi.prod.yaml", doc)
    return stackfile.load("prod")


def test_plaintext_root_key_beside_a_secret_sibling_is_refused(stacks: Path):
    cfg = _prod_with_plain_root_key(stacks)
    assert "mindie:tls" in cfg.secret_keys  # the top-level key still "is secret" (keyPassphrase)
    with pytest.raises(SettingsError) as info:
        load_settings(cfg.config.get, list(cfg.config), cfg.secrets)
    assert "mindie:tls.rootCa.keyPem: a CA private key entered as plain text" in str(info.value)
    assert "PRIVATE KEY" not in str(info.value)


def test_a_secret_where_it_would_be_used_in_plain_text_is_refused_without_echo(stacks: Path, capsys):
    source = stacks / "v"
    source.write_text("Top_Secret_Value")
    assert main(["secret", "--stack", "dev", "mindie:namespace", "--file", str(source)]) == 0
    cfg = stackfile.load("dev")
    with pytest.raises(SettingsError) as info:
        load_settings(cfg.config.get, list(cfg.config), cfg.secrets)
    assert "mindie:namespace: entered as a secret" in str(info.value)
    assert "Top_Secret_Value" not in str(info.value)
    capsys.readouterr()
    assert main(["preview", "--stack", "dev", "--out", str(stacks / "out")]) == 2
    err = no_traceback(capsys)
    assert "mindie:namespace" in err and "Top_Secret_Value" not in err


def test_export_never_prints_a_secure_value(stacks: Path, capsys):
    source = stacks / "v"
    source.write_text("/opt/Secret_Install_Path")
    key = "mindie:inferServer.mindie_server_config.mies_install_path"
    assert main(["secret", "--stack", "dev", key, "--file", str(source)]) == 0
    capsys.readouterr()
    assert main(["export", "--stack", "dev"]) == 2
    captured = capsys.readouterr()
    assert "Secret_Install_Path" not in captured.out + captured.err
    assert f"{key}: is a secret" in captured.err


def test_error_messages_hide_values_under_a_secret_path():
    from stacks.settings.stack import _under_secret

    assert _under_secret("mindie:tls.rootCa.keyPem", {"mindie:tls.rootCa.keyPem"})
    assert _under_secret("mindie:tls", {"mindie:tls.rootCa.keyPem"})  # holds one
    assert not _under_secret("mindie:tls.validityDays", {"mindie:tls.rootCa.keyPem"})


def test_offline_state_keeps_no_decrypted_config_secret(tmp_path: Path):
    secret = "-----BEGIN RSA PRIVATE KEY-----\nMIIEsecret\n-----END RSA PRIVATE KEY-----\n"
    path = tmp_path / "state" / "prod.json"
    state = StackState(path, secrets=[secret])
    state.store("urn:crl", {"k": 1}, {"ca_private_key_pem": secret, "crl_pem": "public"})
    state.save()
    text = path.read_text()
    assert "MIIEsecret" not in text and SECRET_DIGEST_KEY in text
    again = StackState(path, secrets=[secret])
    assert again.previous("urn:crl")["outputs"]["ca_private_key_pem"] == secret
    rotated = StackState(path, secrets=["another secret value"])
    assert rotated.previous("urn:crl")["outputs"]["ca_private_key_pem"].startswith("[secret sha256:")


def test_preview_hands_the_stack_secrets_to_the_state(stacks: Path, monkeypatch):
    from mindiectl import stack_run

    seen: dict[str, StackState] = {}

    def fake_run(stack, config, secret_keys, state, stack_outputs=None):
        seen["state"] = state
        tls = json.loads(config["mindie:tls"])
        state.store("urn:x", {}, {"key": tls["rootCa"]["keyPem"]})
        return empty_result(stack)

    monkeypatch.setattr(stack_run, "run_program", fake_run)
    stack_run.run_stack("prod")
    text = (stacks / ".mindie" / "state" / "prod.json").read_text()
    assert "PRIVATE KEY" not in text and SECRET_DIGEST_KEY in text


def test_key_and_state_folders_are_private_under_umask_000(tmp_path: Path):
    old = os.umask(0)
    try:
        state = StackState(tmp_path / ".mindie" / "state" / "dev.json")
        state.save()
        out = tmp_path / "build" / "dev"
        write_atomically(empty_result(), out, protected=[])
        from mindiectl.tls_files import _write

        _write(out / "tls" / "root" / "key.pem", "k")
        _write(out / "tls" / "root" / "cert.pem", "c")
    finally:
        os.umask(old)

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    assert mode(tmp_path / ".mindie") == 0o700 and mode(tmp_path / ".mindie" / "state") == 0o700
    assert mode(tmp_path / ".mindie" / "state" / "dev.json") == 0o600
    assert mode(out) == 0o700 and mode(out / "tls") == 0o700 and mode(out / "tls" / "root") == 0o700
    assert mode(out / "tls" / "root" / "key.pem") == 0o600


# --------------------------------------------------------------------------- hostile stack files

BAD_DOCUMENTS = {
    "date": ("config:\n  mindie:environment: dev\n  mindie:when: 2024-01-01\n", "YAML date"),
    "binary": ("config:\n  mindie:blob: !!binary aGVsbG8=\n", "!!binary"),
    "set": ("config:\n  mindie:s: !!set {a, b}\n", "!!set"),
    "tag": ("config:\n  mindie:x: !evil boom\n", "YAML tag"),
    "list": ("- a\n- b\n", "not a list"),
    "scalar": ("just text\n", "not a scalar"),
    "config-list": ("config:\n  - a\n", "config: must be a mapping"),
    "huge-int": ("config:\n  mindie:n: " + "9" * 5000 + "\n", "integer"),
    "deep": ("config:\n  mindie:x: " + "[" * 100000 + "]" * 100000 + "\n", "Pulumi.dev.yaml"),
    "alias-bomb": (
        "config:\n  mindie:x: &a [1,1,1,1,1,1,1,1,1,1]\n"
        + "".join(
            f"  mindie:y{i}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
            f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
            f"*{chr(97 + i)},*{chr(97 + i)}]\n"
            for i in range(9)
        ),
        "YAML aliases",
    ),
    "long-string": ("config:\n  mindie:x: " + "a" * (stackfile.MAX_STRING + 1) + "\n", "more than the limit"),
}


@pytest.mark.parametrize("name", sorted(BAD_DOCUMENTS))
def test_hostile_stack_files_get_a_message_not_a_traceback(stacks: Path, capsys, name):
    text, expected = BAD_DOCUMENTS[name]
    (stacks / "Pulumi.dev.yaml").write_text(text)
    started = time.monotonic()
    assert main(["preview", "--stack", "dev", "--out", str(stacks / "out")]) == 2
    assert time.monotonic() - started < 10
    err = no_traceback(capsys)
    assert expected in err and len(err) < 1000
    assert not (stacks / "out").exists()


def test_stack_file_that_is_not_utf8_or_too_big_or_a_fifo(stacks: Path, capsys):
    path = stacks / "Pulumi.dev.yaml"
    path.write_bytes("config: {}\n".encode("utf-16"))
    assert main(["preview", "--stack", "dev"]) == 2
    assert "not UTF-8" in no_traceback(capsys)
    path.write_bytes(b"config:\n  a: " + b"x" * (stackfile.MAX_STACK_FILE_BYTES + 1))
    assert main(["preview", "--stack", "dev"]) == 2
    assert "limit" in no_traceback(capsys)
    path.unlink()
    os.mkfifo(path)
    assert main(["preview", "--stack", "dev"]) == 2
    assert "not a regular file" in no_traceback(capsys)


@pytest.mark.parametrize("stack", ["a/b", "..", "../etc/x", "dev\n", ""])
def test_stack_names_with_paths_are_refused(stacks: Path, capsys, stack):
    source = stacks / "v"
    source.write_text("x")
    assert main(["secret", "--stack", stack, "mindie:tls.keyPassphrase", "--file", str(source)]) == 2
    assert "not a stack name" in no_traceback(capsys)
    assert main(["preview", "--stack", stack]) == 2
    assert "not a stack name" in no_traceback(capsys)


def test_truncated_or_unreadable_state_is_a_message(stacks: Path, capsys, monkeypatch):
    state = stacks / ".mindie" / "state" / "dev.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"urn:a": {"fingerprint": "x", "outp')
    assert main(["preview", "--stack", "dev", "--out", str(stacks / "out")]) == 2
    assert "not a mindiectl state file" in no_traceback(capsys)
    with pytest.raises(StateError):
        StackState(state)


def test_read_only_output_folder_is_a_message(stacks: Path, capsys, monkeypatch):
    from mindiectl import stack_run

    monkeypatch.setattr(stack_run, "run_stack", lambda *a, **k: empty_result())

    def denied(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied", str(stacks / "build"))

    monkeypatch.setattr(safefs, "new_staging_dir", denied)
    assert main(["preview", "--stack", "dev"]) == 2
    assert "cannot write (Permission denied)" in no_traceback(capsys)


# --------------------------------------------------------------------------- hostile imports


def _import(path: Path, capsys) -> str:
    started = time.monotonic()
    assert main(["import", str(path), "--stack", "dev"]) == 2
    assert time.monotonic() - started < 10
    return no_traceback(capsys)


def test_hostile_infer_server_files(stacks: Path, tmp_path: Path, capsys):
    before = (stacks / "Pulumi.dev.yaml").read_bytes()
    utf16 = tmp_path / "utf16.json"
    utf16.write_text('{"server_name": "x"}', encoding="utf-16")
    assert "UTF-16" in _import(utf16, capsys)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"server_name": "caf\xe9"}')
    assert "not UTF-8" in _import(latin, capsys)
    big_int = tmp_path / "int.json"
    big_int.write_text('{"replicas": ' + "9" * 5000 + "}")
    assert "digits" in _import(big_int, capsys)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000)
    assert "nested too deeply" in _import(deep, capsys)
    assert "not a regular file" in _import(Path("/dev/zero"), capsys)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert "not a regular file" in _import(fifo, capsys)
    assert (stacks / "Pulumi.dev.yaml").read_bytes() == before


# --------------------------------------------------------------------------- mindiectl secret


def test_secret_refuses_to_replace_a_block_a_scalar_or_an_empty_segment(stacks: Path, capsys):
    path = stacks / "Pulumi.dev.yaml"
    before = path.read_bytes()
    source = stacks / "v"
    source.write_text("Secret-Value-1")
    for key, message in (
        ("mindie:inferServer", "holds a mapping"),
        ("mindie:inferServer.replicas.x", "not a mapping"),
        ("mindie:tls..keyPassphrase", "empty path segment"),
        ("mindie:tls.keyPassphrase.", "empty path segment"),
    ):
        assert main(["secret", "--stack", "dev", key, "--file", str(source)]) == 2
        assert message in no_traceback(capsys)
        assert path.read_bytes() == before
    assert main(["secret", "--stack", "dev", "mindie:inferServer", "--file", str(source), "--force"]) == 0
    assert "Secret-Value-1" not in path.read_text()
