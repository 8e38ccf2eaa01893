"""mindiectl preview: every committed stack previews; output is deterministic; bad config writes nothing."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mindiectl.__main__ import main
from mindiectl.runtime import PROJECT_DIR

from .helpers import STACKS, copy_stacks, environment_of


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stack_previews(stack: str, tmp_path: Path, capsys):
    out = tmp_path / stack
    assert main(["preview", "--stack", stack, "--out", str(out), "--state", str(tmp_path / "s.json")]) == 0
    printed = capsys.readouterr().out
    assert "pulumi:pulumi:Stack" in printed and f"mindie-{stack}" in printed
    resources = json.loads((out / "resources.json").read_text())
    assert {"urn", "type", "name", "parent", "dependencies"} <= set(resources[0])
    # a stack's name need not be its environment (e.g. a user's stack `qa` with environment staging)
    environment = environment_of(stack)
    outputs = json.loads((out / "outputs.json").read_text())
    assert outputs["environment"] == environment
    namespace = yaml.safe_load((out / "manifests" / "namespace.mindie.yaml").read_text())
    assert namespace["metadata"]["labels"]["mindie.huawei.com/environment"] == environment
    assert (out / "graph.mmd").read_text().startswith("graph TD")
    assert (out / "graph.dot").read_text().startswith("digraph")


def test_two_previews_identical(tmp_path: Path):
    state = str(tmp_path / "state.json")
    for name in ("a", "b"):
        args = ["preview", "--stack", "prod", "--quiet", "--out", str(tmp_path / name), "--state", state]
        assert main(args) == 0
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and files_a
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_bad_config_writes_nothing(tmp_path: Path, capsys, monkeypatch):
    copy_stacks(tmp_path)
    (tmp_path / "Pulumi.dev.yaml").write_text(
        (tmp_path / "Pulumi.dev.yaml").read_text().replace("npu_chip_num: 1", "npu_chip_num: 9")
    )
    monkeypatch.setenv("MINDIE_STACK_DIR", str(tmp_path))
    out = tmp_path / "out"
    code = main(["preview", "--stack", "dev", "--out", str(out), "--state", str(tmp_path / "s.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert "mindie:inferServer.resource_requests.npu_chip_num = 9: out of range: allowed 1 to 8" in err
    assert "Traceback" not in err
    assert not out.exists() and not (tmp_path / "s.json").exists()


def test_tree_nests_children_under_components(run_stack):
    result = run_stack("dev")
    ns = result.one("kubernetes:core/v1:Namespace")
    component = result.one("mindie:namespace:Namespace")
    assert ns.parent == component.urn


def test_every_kubernetes_object_uses_the_explicit_provider(run_stack):
    result = run_stack("dev")
    for r in result.resources:
        if r.custom and r.type.startswith("kubernetes:"):
            assert "pulumi:providers:kubernetes::dev-k8s" in r.provider, r.urn


@pytest.mark.parametrize("stack", STACKS)
def test_every_manifest_passes_strict_schema(stack: str, run_stack):
    from mindiectl.render import manifests
    from mindiectl.schema import schema_errors

    for filename, manifest in manifests(run_stack(stack)).items():
        assert schema_errors(manifest) == [], filename


def test_stack_dir_keeps_its_own_build_and_state(tmp_path: Path, project_dir: Path, monkeypatch):
    """With MINDIE_STACK_DIR, build/ and .mindie/state/ default to live under it, not the project."""
    from mindiectl.stack_run import default_out, default_state

    copy_stacks(tmp_path)
    assert default_out("dev") == project_dir / "build" / "dev"
    assert default_state("dev") == project_dir / ".mindie" / "state" / "dev.json"
    monkeypatch.setenv("MINDIE_STACK_DIR", str(tmp_path))
    assert default_out("dev") == tmp_path / "build" / "dev"
    assert default_state("dev") == tmp_path / ".mindie" / "state" / "dev.json"
    assert main(["preview", "--stack", "dev", "--quiet"]) == 0
    assert json.loads((tmp_path / "build" / "dev" / "outputs.json").read_text())["environment"] == "dev"
    assert (tmp_path / ".mindie" / "state" / "dev.json").is_file()


def test_help_documents_the_environment(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "MINDIE_STACK_DIR" in out and "PULUMI_CONFIG_PASSPHRASE" in out


def test_every_command_and_option_has_help(capsys):
    """`<command> --help` starts with a one-line summary; every option says what it is; each
    module registers exactly the commands the table gives it."""
    import argparse

    from mindiectl.__main__ import COMMANDS, register_module

    for module in sorted({module for module, _ in COMMANDS.values()}):
        sub = argparse.ArgumentParser().add_subparsers()
        register_module(module, sub)
        assert set(sub.choices) == {name for name, (m, _) in COMMANDS.items() if m == module}
        for action in sub._choices_actions:
            assert action.help == COMMANDS[action.dest][1]
            for option in sub.choices[action.dest]._actions:
                assert option.help, f"{action.dest} {option.option_strings or option.dest}"
    for command in COMMANDS:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        lines = capsys.readouterr().out.splitlines()
        assert lines[lines.index("") + 1].strip(), command  # the description after the usage
    with pytest.raises(SystemExit):
        main(["promote", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "PULUMI_CONFIG_PASSPHRASE" in out
    assert "(default .mindie/state/, under $MINDIE_STACK_DIR when set)" in out


def test_help_loads_neither_pulumi_nor_any_command_module():
    """`--help` lists every command from the table alone: no command module, no Pulumi SDK."""
    code = (
        "import sys\nfrom mindiectl.__main__ import main\ntry:\n    main(['--help'])\n"
        "except SystemExit:\n    pass\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pulumi', 'pulumi_kubernetes', 'pulumi_policy', 'stacks', 'components') "
        "or m in ('mindiectl.check', 'mindiectl.preview', 'mindiectl.runtime', 'mindiectl.stack_run'))\n"
        "print('LOADED', loaded)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    ).stdout
    assert "LOADED []" in out, out
    from mindiectl.__main__ import COMMANDS

    flat = " ".join(out.split())
    for name, (_, summary) in COMMANDS.items():
        assert f"{name} {summary}" in flat


# --------------------------------------------------------------------------- how mindiectl is put together


def module_imports(top: str) -> dict[str, set[str]]:
    """module -> the modules of package `top` it imports, at the top of the file or inside a function."""
    modules = {}
    for path in (PROJECT_DIR / top).rglob("*.py"):
        parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                anchor = package[: len(package) - node.level + 1] if node.level else []
                base = ".".join(anchor + ([node.module] if node.module else []))
                found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
        edges[name] = {m for m in found if m in modules and m != name}
    return edges


def cycle_in(edges: dict[str, set[str]]) -> list[str]:
    """One import cycle (its modules in order, the first repeated at the end), else []."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str]:
        if module in path:
            return path[path.index(module) :] + [module]
        if module in done:
            return []
        for imported in sorted(edges[module]):
            found = visit(imported, path + [module])
            if found:
                return found
        done.add(module)
        return []

    return next((c for c in (visit(m, []) for m in sorted(edges)) if c), [])


def test_mindiectl_has_no_import_cycle():
    """Counting imports inside functions: the commands, the one writer module and what it writes
    import downwards only (a registry that modules append to, or a lazy import back, is a cycle)."""
    edges = module_imports("mindiectl")
    writers = {f"mindiectl.{m}" for m in ("render", "diagrams", "tls_files", "image_files")}
    assert writers <= edges["mindiectl.artefacts"]
    assert cycle_in(edges) == []
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the walk finds one


def absolute_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.add(node.module or "")
    return found


def test_nothing_below_mindiectl_imports_it():
    """mindiectl may use the program's packages; none of them (nor the program) may use mindiectl."""
    paths = [PROJECT_DIR / "__main__.py"]
    for top in ("stacks", "components", "domain", "policy"):
        paths += sorted((PROJECT_DIR / top).rglob("*.py"))
    for path in paths:
        assert not [m for m in absolute_imports(path) if m.split(".")[0] == "mindiectl"], path
