"""Two things a hostile or unusual site exposed: target text on every output goes through one
sanitiser (ihconform.text), and a passphrase-protected SSH key loads (paramiko wants bytes)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import paramiko
import pytest

from ihconform.cli import summarize
from ihconform.inventory import Auth
from ihconform.text import printable
from ihconform.transport.ssh import _load_keys

HOSTILE = "ok\x1b[2J\x1b]0;pwned\x07 <b>\udcff\x85 end\ttab\nline"


def test_printable_replaces_controls_surrogates_and_c1() -> None:
    out = printable(HOSTILE)
    assert "\x1b" not in out and "\x07" not in out and "\udcff" not in out and "\x85" not in out
    assert out.encode("utf-8")  # a lone surrogate would raise here
    assert "<b>" in out and "\ttab\nline" in out  # markup is each format's business; lines stay
    assert "\n" not in printable(HOSTILE, lines=False) and "\t" not in printable(HOSTILE, lines=False)


def test_terminal_summary_carries_no_escape_sequence() -> None:
    doc = {
        "summary": {"status": "fail", "exit_code": 1, "controls": {"fail": 1}, "objects": {"fail": 1},
                    "high_risk_failures": [], "score": None},
        "run": {"duration_s": 1.0},
        "controls": [{"control_id": "C-1", "status": "fail", "status_zh": "不符合", "title_zh": "标题"}],
        "results": [{"control_id": "C-1", "object_id": "h1", "status": "fail", "reason": HOSTILE, "waiver": None}],
    }
    buf = io.StringIO()
    summarize(json.loads(json.dumps(doc)), Path("results.json"), buf)
    text = buf.getvalue()
    assert "C-1" in text and "ok" in text
    assert "\x1b" not in text and "\x07" not in text


def test_passphrase_protected_key_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "id_rsa"
    paramiko.RSAKey.generate(2048).write_private_key_file(str(key_file), password="correct horse")
    monkeypatch.setenv("IHC_TEST_KEY_PASS", "correct horse")
    keys = _load_keys(Auth(key_file=key_file, key_passphrase_env="IHC_TEST_KEY_PASS"))
    assert [k.get_name() for k in keys] == ["ssh-rsa"]
