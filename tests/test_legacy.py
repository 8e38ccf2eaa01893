"""mindiectl import/export: the seed's infer_server.json in and out of stack config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mindiectl.__main__ import main
from mindiectl.legacy import export_stack, import_file
from stacks.settings.errors import SettingsError

from .helpers import copy_stacks

DATA = Path(__file__).parent / "data"
SEED = DATA / "infer_server_seed.json"  # verbatim from the seed, missing comma included


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch copy of the committed stack files."""
    return copy_stacks(tmp_path)


def fixed_seed(tmp_path: Path) -> Path:
    """The seed example with its missing comma fixed and memory brought into range."""
    text = SEED.read_text().replace('"npu_fault_reschedule": true\n', '"npu_fault_reschedule": true,\n')
    text = text.replace('"memory":   500000', '"memory":   256000')
    path = tmp_path / "infer_server.json"
    path.write_text(text)
    return path


def test_seed_syntax_error_reported_with_line_and_column(project: Path, capsys):
    before = (project / "Pulumi.dev.yaml").read_text()
    with pytest.raises(Exception) as info:
        import_file(SEED, "dev", None, project)
    expected = "infer_server_seed.json: JSON syntax error at line 28 column 5: Expecting ',' delimiter"
    assert expected in str(info.value)
    assert (project / "Pulumi.dev.yaml").read_text() == before


def test_cli_reports_syntax_error_without_traceback(capsys):
    code = main(["import", str(SEED), "--stack", "dev"])
    err = capsys.readouterr().err
    assert code == 2
    assert "line 28 column 5" in err and "Traceback" not in err


def test_out_of_range_memory_names_field_and_writes_nothing(project: Path, tmp_path: Path):
    path = fixed_seed(tmp_path)
    path.write_text(path.read_text().replace('"memory":   256000', '"memory":   500000'))
    before = (project / "Pulumi.dev.yaml").read_text()
    expected = r"resource_requests.memory = 500000: out of range: allowed 1000 to 256000"
    with pytest.raises(Exception, match=expected):
        import_file(path, "dev", None, project)
    assert (project / "Pulumi.dev.yaml").read_text() == before


def test_import_keeps_other_keys_and_comments(project: Path, tmp_path: Path):
    import_file(fixed_seed(tmp_path), "dev", None, project)
    text = (project / "Pulumi.dev.yaml").read_text()
    assert "# dev: a developer's stack." in text
    assert "renderYamlToDirectory: build/dev/rendered" in text
    assert "replicas: 1" in text and "cpu_core: 32000" in text


def comments(text: str) -> list[str]:
    """Every comment in a YAML text, whole-line or inline, in order (the dev file has no '#' in values)."""
    return [line[line.index("#") :].strip() for line in text.splitlines() if "#" in line]


def test_import_keeps_every_comment_of_the_server_block(project: Path, tmp_path: Path):
    stack = project / "Pulumi.dev.yaml"
    before = stack.read_text()
    assert "# MB" in comments(before) and any("issue 5" in c for c in comments(before))
    source = fixed_seed(tmp_path)  # other values than dev's: memory, cpu_core, npu type, replicas...
    import_file(source, "dev", None, project)
    after = stack.read_text()
    assert after != before
    assert comments(after) == comments(before)
    assert "      memory: 256000       # MB" in after  # the inline unit comment stays on its key
    assert json.loads(export_stack("dev", project)) == json.loads(source.read_text())


def test_import_of_the_stacks_own_server_changes_nothing(project: Path, tmp_path: Path):
    stack = project / "Pulumi.dev.yaml"
    before = stack.read_text()
    exported = tmp_path / "infer_server.json"
    exported.write_text(export_stack("dev", project))
    import_file(exported, "dev", None, project)
    assert stack.read_text() == before


def test_round_trip_import_then_export(project: Path, tmp_path: Path):
    source = fixed_seed(tmp_path)
    import_file(source, "dev", None, project)
    assert json.loads(export_stack("dev", project)) == json.loads(source.read_text())


def test_import_creates_new_stack_file(project: Path, tmp_path: Path):
    import_file(fixed_seed(tmp_path), "dev2", "dev", project)
    exported = json.loads(export_stack("dev2", project))
    assert exported["server_name"] == "mindie-server"
    assert "mindie:environment: dev" in (project / "Pulumi.dev2.yaml").read_text()


def test_import_into_a_new_staging_stack_needs_its_root_ca_and_cluster(project: Path, tmp_path: Path):
    """The whole stack is validated before writing: a bare staging stack names no root CA or cluster."""
    with pytest.raises(SettingsError) as err:
        import_file(fixed_seed(tmp_path), "staging2", "staging", project)
    assert "mindie:tls.rootCa: required in staging" in str(err.value)
    assert "mindie:kubernetes: required in staging" in str(err.value)
    assert not (project / "Pulumi.staging2.yaml").exists()


def test_new_stack_needs_environment(project: Path, tmp_path: Path):
    with pytest.raises(Exception, match="needs --environment"):
        import_file(fixed_seed(tmp_path), "qa", None, project)
    assert not (project / "Pulumi.qa.yaml").exists()


@pytest.mark.parametrize("value", ["foo", "Staging", ""])
def test_bad_environment_value_is_named(project: Path, tmp_path: Path, value: str, capsys, monkeypatch):
    monkeypatch.setenv("MINDIE_STACK_DIR", str(project))
    args = ["import", str(fixed_seed(tmp_path)), "--stack", "qa", "--environment", value]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"--environment {value!r}: not one of dev, staging, prod" in err
    assert "needs --environment" not in err
    assert not (project / "Pulumi.qa.yaml").exists()


def test_export_prints_seed_keys_in_order(capsys):
    assert main(["export", "--stack", "prod"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data)[:3] == ["server_name", "replicas", "service_port"]
    assert data["resource_requests"]["npu_type"] == "Ascend910"
