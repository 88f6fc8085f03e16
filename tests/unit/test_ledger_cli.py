"""``ihconform attest`` and ``ihconform waiver``: files hashed when attached, records signed,
check exit codes, bilingual help, and the shipped sample ledger verifying against its keyring."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from ihconform.cli import main
from ihconform.ledger.core import load_ledger

from ..conftest import FIXTURES

SAMPLE = FIXTURES / "ledger"


def attest_add(ledger: Path, *extra: str) -> int:
    return main(["attest", "add", "--ledger", str(ledger), "--control", "CQ-A1-4.1-c", "--statement", "双路市电供电",
                 "--attester", "张三", "--role", "信息科科长", "--organisation", "示例医院",
                 "--valid-until", "2099-12-31", "--result", "pass", *extra])


def test_help_is_bilingual(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["attest", "--help"])
    out = capsys.readouterr().out
    assert "添加证明材料 / add an attestation" in out and "签名证明材料 / sign an attestation" in out
    with pytest.raises(SystemExit):
        main(["waiver", "--help"])
    assert "添加豁免 / add a waiver" in capsys.readouterr().out


def test_add_hashes_files_then_sign_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "contract.pdf").write_bytes(b"contract v1")
    ledger = tmp_path / "attestations.yaml"
    key = tmp_path / "k.pem"
    assert main(["attest", "keygen", "--out", str(key), "--owner", "张三"]) == 0
    assert "keys:" in capsys.readouterr().out
    assert attest_add(ledger, "--id", "ATT-1", "--file", f"{tmp_path / 'contract.pdf'}:contract") == 0
    rec = yaml.safe_load(ledger.read_text())["attestations"][0]
    assert rec["files"] == [{"path": "contract.pdf", "sha256": hashlib.sha256(b"contract v1").hexdigest(),
                             "type": "contract"}]
    assert main(["attest", "check", "--ledger", str(ledger)]) == 1  # unsigned
    assert main(["attest", "sign", "--ledger", str(ledger), "ATT-1", "--key", str(key)]) == 0
    assert main(["attest", "check", "--ledger", str(ledger)]) == 0
    (tmp_path / "contract.pdf").write_bytes(b"contract v2")
    capsys.readouterr()
    assert main(["attest", "check", "--ledger", str(ledger)]) == 1
    assert "file-changed" in capsys.readouterr().out
    assert main(["attest", "list", "--ledger", str(ledger)]) == 0


def test_duplicate_id_and_missing_file_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = tmp_path / "a.yaml"
    assert attest_add(ledger, "--id", "ATT-1") == 0
    before = ledger.read_text()
    assert attest_add(ledger, "--id", "ATT-1") == 2
    assert attest_add(ledger, "--id", "ATT-2", "--file", str(tmp_path / "nope.pdf")) == 2
    assert ledger.read_text() == before
    err = capsys.readouterr().err
    assert "already exists" in err and "attached file not found" in err and "Traceback" not in err


def test_folder_ledger_one_file_per_record(tmp_path: Path) -> None:
    d = tmp_path / "ledger"
    d.mkdir()
    key = tmp_path / "k.pem"
    main(["attest", "keygen", "--out", str(key)])
    assert attest_add(d, "--id", "ATT-A", "--key", str(key)) == 0
    assert attest_add(d, "--id", "ATT-B", "--key", str(key)) == 0
    assert sorted(p.name for p in d.iterdir()) == ["ATT-A.yaml", "ATT-B.yaml"]
    assert [c.state for c in load_ledger(d, None).attestations] == ["valid", "valid"]


def test_waiver_add_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    w = tmp_path / "waivers.yaml"
    common = ["--control", "L3-PES1-19", "--justification", "电池更换中", "--compensating-control", "UPS A 带载",
              "--risk", "高", "--approver", "王五", "--approver-role", "院长", "--approver-organisation", "示例医院"]
    assert main(["waiver", "add", "--ledger", str(w), "--id", "W-1", "--valid-until", "2099-01-01", *common]) == 0
    assert main(["waiver", "check", "--ledger", str(w)]) == 0
    # a waiver recorded back then (today it is refused: a past --valid-until, test_messages.py)
    assert main(["waiver", "add", "--ledger", str(w), "--id", "W-0", "--valid-from", "2020-01-01",
                 "--valid-until", "2020-12-31", "--today", "2020-06-01", *common]) == 0
    capsys.readouterr()
    assert main(["waiver", "check", "--ledger", str(w)]) == 1
    captured = capsys.readouterr()
    assert "expired on 2020-12-31" in captured.err
    assert yaml.safe_load(w.read_text())["waivers"][0]["risk"] == "high"


def test_inventory_without_ledger_is_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("institution: {name: 医院}\nsystem: {name: 系统}\n", encoding="utf-8")
    assert main(["attest", "list", "-i", str(inv)]) == 2
    assert "evidence.attestations" in capsys.readouterr().err


def test_sample_ledger_verifies_against_its_keyring(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "ledger"
    shutil.copytree(SAMPLE, d)
    ring = ["--keyring", str(d / "keyring.yaml")]
    assert main(["attest", "check", "--ledger", str(d / "attestations.yaml"), *ring]) == 0
    assert main(["waiver", "check", "--ledger", str(d / "waivers.yaml"), *ring]) == 0
    (d / "docs" / "mlps-report.txt").write_text("edited", encoding="utf-8")
    capsys.readouterr()
    assert main(["attest", "check", "--ledger", str(d / "attestations.yaml"), *ring]) == 1
    assert "docs/mlps-report.txt" in capsys.readouterr().out
