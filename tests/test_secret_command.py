"""mindiectl secret: a new staging stack can be created offline, its root CA stored encrypted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mindiectl import stackfile
from mindiectl.__main__ import main
from mindiectl.runtime import PROJECT_DIR


def test_new_stack_gets_its_root_ca_encrypted_under_its_own_passphrase(tmp_path: Path, monkeypatch, capsys):
    # a real root CA to store: the committed staging stack's (decrypted) demo root
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "mindie-demo-passphrase")
    tls = json.loads(stackfile.load("staging", PROJECT_DIR).config["mindie:tls"])
    monkeypatch.setenv("MINDIE_STACK_DIR", str(tmp_path))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "qa-Passphrase-1")
    for field in ("certPem", "keyPem"):
        source = tmp_path / field
        source.write_text(tls["rootCa"][field])
        assert main(["secret", "--stack", "qa", f"mindie:tls.rootCa.{field}", "--file", str(source)]) == 0
    text = (tmp_path / "Pulumi.qa.yaml").read_text()
    assert "encryptionsalt: v1:" in text and "PRIVATE KEY" not in text
    cfg = stackfile.load("qa")
    assert "mindie:tls" in cfg.secret_keys
    assert json.loads(cfg.config["mindie:tls"])["rootCa"]["keyPem"] == tls["rootCa"]["keyPem"]


def test_secret_refuses_a_key_outside_the_project(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("MINDIE_STACK_DIR", str(tmp_path))
    source = tmp_path / "v"
    source.write_text("x")
    assert main(["secret", "--stack", "qa", "tls.rootCa.keyPem", "--file", str(source)]) == 2
    assert "must be a 'mindie:<setting>" in capsys.readouterr().err
    assert not (tmp_path / "Pulumi.qa.yaml").exists()


def test_secret_without_passphrase_names_the_variable(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("MINDIE_STACK_DIR", str(tmp_path))
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    source = tmp_path / "v"
    source.write_text("secret")
    shutil.copy(PROJECT_DIR / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    assert main(["secret", "--stack", "dev", "mindie:tls.keyPassphrase", "--file", str(source)]) == 2
    assert "PULUMI_CONFIG_PASSPHRASE" in capsys.readouterr().err
