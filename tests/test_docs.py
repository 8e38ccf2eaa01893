"""Generated documentation stays in step with the code that generates it."""

from __future__ import annotations

from mindiectl.diagrams import README_BEGIN, readme_block
from mindiectl.docs import REFERENCE, reference
from mindiectl.runtime import PROJECT_DIR


def test_config_reference_is_generated_from_the_model():
    assert REFERENCE.read_text() == reference(), "run `python -m mindiectl docs`"


def test_reference_lists_every_infer_server_key_with_its_range():
    text = reference()
    assert "| `mindie:inferServer.resource_requests.npu_chip_num` | integer | required | 1 to 8 |" in text
    assert "| `mindie:inferServer.service_port` | integer | required | 30000 to 32767 |" in text


def test_readme_component_diagram_is_generated_from_prod(run_stack):
    readme = (PROJECT_DIR / "README.md").read_text()
    assert README_BEGIN in readme
    assert readme_block(run_stack("prod")) in readme, "run `python -m mindiectl graph --stack prod --readme`"


def test_readme_gives_the_two_setup_commands_ci_uses():
    readme = (PROJECT_DIR / "README.md").read_text()
    ci = (PROJECT_DIR / ".ci" / "run").read_text()
    assert "python -m mindiectl preview --stack dev" in readme
    assert "python -m pytest -q" in readme and "python -m pytest -q" in ci
