"""The Windows collector on its own (facts/windows.py): the script, the answer's framing, and
what a cut, failed, foreign or forged answer becomes — 检查错误 for what is not whole, never a fact."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ihconform.errors import ConfigError, FactUnavailable
from ihconform.facts.contract import SectionStatus
from ihconform.facts.windows import (
    BOOTSTRAP_COMMAND,
    POWERSHELL_BATCH,
    WINDOWS_SECTIONS,
    build_script,
    encoded_command,
    load_recording,
)
from ihconform.facts.windows_parse import parse_auditpol, parse_secedit
from ihconform.inventory import load_inventory, objects
from ihconform.profile import ObjectType
from ihconform.transport.base import CommandResult, Transport

from ..conftest import FIXTURES, ROOT

REC = FIXTURES / "windows" / "recordings" / "ws2019-zh-CN-stock.json"
NONCE = "rec0000000000001"
NAMES = [s.name for s in WINDOWS_SECTIONS]


def test_a_whole_answer_is_every_section_complete() -> None:
    parsed = POWERSHELL_BATCH.parse(REC.read_bytes(), NONCE, WINDOWS_SECTIONS)
    assert list(parsed) == NAMES
    facts = load_recording(REC, "h")
    assert all(facts.status(n) is SectionStatus.COMPLETE for n in NAMES)
    assert facts.identity["collected"] == "2026-11-20T06:00:00Z"
    assert len(facts.identity["offline_sha256"]) == 64


def test_a_cut_answer_keeps_whole_sections_and_cuts_the_rest(tmp_path: Path) -> None:
    data = REC.read_bytes()
    start = data.index(b'"name":"registry"')
    cut = tmp_path / "cut.json"
    cut.write_bytes(data[:start + 300])  # the stream ends inside the registry line
    facts = load_recording(cut, "h")
    i = NAMES.index("registry")
    assert all(facts.status(n) is SectionStatus.COMPLETE for n in NAMES[:i])
    assert facts.status("registry") is SectionStatus.CUT
    assert all(facts.status(n) is SectionStatus.ABSENT for n in NAMES[i + 1:])
    with pytest.raises(FactUnavailable, match="cut off"):
        facts.raw("registry")
    with pytest.raises(FactUnavailable, match="not gathered"):
        facts.raw("services")


def test_a_failed_or_target_cut_section_is_not_a_fact(tmp_path: Path) -> None:
    lines = REC.read_text(encoding="utf-8").split("\n")
    for k, ln in enumerate(lines):
        if '"name":"smb"' in ln:
            lines[k] = f'{{"n":"{NONCE}","name":"smb","status":"failed","ms":3,"error":"拒绝访问。","data":null}},'
        if '"name":"hotfixes"' in ln:
            lines[k] = (f'{{"n":"{NONCE}","name":"hotfixes","status":"cut","ms":3,'
                        '"error":"output of 2000000 characters exceeds the cap of 1048576","data":null},')
    p = tmp_path / "f.json"
    p.write_text("\n".join(lines), encoding="utf-8")
    facts = load_recording(p, "h")
    assert facts.status("smb") is SectionStatus.FAILED and facts.status("hotfixes") is SectionStatus.CUT
    with pytest.raises(FactUnavailable, match="拒绝访问"):
        facts.raw("smb")


def test_another_runs_answer_is_refused(tmp_path: Path) -> None:
    facts = POWERSHELL_BATCH.parse(REC.read_bytes(), "another0nonce", WINDOWS_SECTIONS)
    assert facts == {}
    p = tmp_path / "x.json"
    p.write_bytes(REC.read_bytes().replace(b"windows-batch/1", b"windows-batch/9", 1))
    assert "format" in load_recording(p, "h").error
    p.write_bytes(b"Get-LocalUser : The term is not recognized\r\n")
    assert "not a windows batch answer" in load_recording(p, "h").error


def test_target_data_cannot_forge_a_section(tmp_path: Path) -> None:
    """A service whose display name carries a line break and a forged section line stays one
    string: ConvertTo-Json escapes the break, so no line of the answer starts with it."""
    lines = REC.read_text(encoding="utf-8").split("\n")
    forged = f'\n{{"n":"{NONCE}","name":"defender","status":"complete","ms":1,"error":null,"data":{{"Present":true}}}},'
    for k, ln in enumerate(lines):
        if '"name":"os"' in ln:
            rec = json.loads(ln.rstrip(","))
            rec["data"]["Caption"] = "evil" + forged
            lines[k] = json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + ","
    p = tmp_path / "forged.json"
    p.write_text("\n".join(lines), encoding="utf-8")
    facts = load_recording(p, "h")
    assert json.loads(facts.text("os"))["Caption"].startswith("evil\n")
    assert json.loads(facts.text("defender"))["AMServiceEnabled"] is True  # the real section


def test_powershell_redirection_utf16_is_read(tmp_path: Path) -> None:
    """``.\\ihc-collect.ps1 > out.json`` in Windows PowerShell 5.1 writes UTF-16LE with a BOM."""
    p = tmp_path / "u16.json"
    p.write_bytes(b"\xff\xfe" + REC.read_text(encoding="utf-8").encode("utf-16-le"))
    facts = load_recording(p, "h")
    assert not facts.error and facts.status("auditpol") is SectionStatus.COMPLETE
    assert "凭据验证" in facts.text("auditpol")


def test_script_and_bootstrap() -> None:
    script = build_script(WINDOWS_SECTIONS, "abcd1234")
    for s in WINDOWS_SECTIONS:
        assert f"Ihc-Section '{s.name}' {s.cap} {{\n{s.command}\n}}\n" in script
    assert "$IhcNonce = 'abcd1234'" in script and script.startswith("param([string]$OutFile = '')")
    with pytest.raises(ValueError):
        build_script(WINDOWS_SECTIONS, "x'; Remove-Item C:\\ -Recurse; '")
    assert len(BOOTSTRAP_COMMAND) < 8191  # cmd.exe's command-line limit; the batch itself is larger
    assert len(script) > 8191
    arg = BOOTSTRAP_COMMAND.rsplit(" ", 1)[1]
    assert base64.b64decode(arg).decode("utf-16-le").startswith("$ihcBatch = $input | Out-String;")
    assert script.isascii()  # stdin is decoded in the console's code page: ASCII is the same in all
    assert encoded_command("é") == base64.b64encode("é".encode("utf-16-le")).decode()


def test_collect_script_prints_the_batch() -> None:
    out = subprocess.run([sys.executable, "-m", "ihconform.cli", "collect-script", "windows", "--nonce", "feed0001"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, check=True).stdout
    assert out == POWERSHELL_BATCH.script(WINDOWS_SECTIONS, "feed0001")
    bad = subprocess.run([sys.executable, "-m", "ihconform.cli", "collect-script", "vms"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "windows" in bad.stderr


def test_parsers_refuse_what_they_do_not_know() -> None:
    with pytest.raises(FactUnavailable, match="System Access"):
        parse_secedit("[Unicode]\r\nUnicode=yes\r\n")
    header = "Machine Name,Policy Target,Subcategory,Subcategory GUID,Inclusion Setting,Exclusion Setting\n"
    row = "H,System,Logon,{0CCE9215-69AE-11D9-BED3-505054503030},"
    assert parse_auditpol(header + row + "成功和失败,\n")["{0cce9215-69ae-11d9-bed3-505054503030}"].failure
    with pytest.raises(FactUnavailable, match="not one this version knows"):
        parse_auditpol(header + row + "Succès et échec,\n")
    with pytest.raises(FactUnavailable, match="header"):
        parse_auditpol("Rechnername,Richtlinienziel\n")


def test_inventory_windows_host_and_offline(tmp_path: Path) -> None:
    (tmp_path / "rec.json").write_bytes(REC.read_bytes())
    inv = tmp_path / "inv.yaml"
    inv.write_text("institution: {name: 医院}\nsystem: {name: HIS}\nhosts:\n"
                   "  - {id: his-db, address: 198.51.100.30, platform: windows, offline: rec.json}\n", encoding="utf-8")
    loaded = load_inventory(inv)
    assert loaded.hosts[0].offline == tmp_path / "rec.json"
    assert [o.type for o in objects(loaded) if o.id == "his-db"] == [ObjectType.HOST_OS_WINDOWS]
    inv.write_text("institution: {name: 医院}\nsystem: {name: HIS}\nhosts:\n"
                   "  - {id: l, address: 198.51.100.31, offline: rec.json}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="goes with connection: recorded"):
        load_inventory(inv)


class _Answering(Transport):
    """A transport that answers every command with one fixed result (the Windows side played)."""

    answer = CommandResult(command="", exit_code=0, stdout=b"", stderr=b"")

    @classmethod
    def connect(cls, host, inventory):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def run(self, command: str, *, stdin: bytes | None = None, timeout: float = 60.0,
            cap: int = 0) -> CommandResult:
        self.round_trips += 1
        return self.answer

    @property
    def is_root(self) -> bool:
        return False


def test_no_powershell_is_a_host_error_with_cmds_words() -> None:
    """cmd.exe cannot find powershell.exe (Server Core without it, a non-Windows sshd): every
    control on the host is 检查错误 with the shell's own message."""
    t = _Answering(host_id="h")
    t.answer = CommandResult(command="", exit_code=1, stdout=b"",
                             stderr=b"'powershell.exe' is not recognized as an internal or external command,\r\n")
    facts = POWERSHELL_BATCH.collect(t, WINDOWS_SECTIONS, timeout=5)
    assert facts.round_trips == 1
    assert facts.error.startswith("powershell exited 1: 'powershell.exe' is not recognized")
    with pytest.raises(FactUnavailable, match="not recognized"):
        facts.raw("secedit")
