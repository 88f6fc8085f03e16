"""Messages (issue 13 §7): the cause first, one line, the right exit code."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from ihconform.errors import FactUnavailable
from ihconform.facts.collect import failure_cause
from ihconform.facts.db import db_facts
from tests.fixtures.facts.factsfix import db_facts_from, local_db, with_text

PG, MY = local_db("postgresql", "pg1"), local_db("mariadb", "my1")


@pytest.mark.parametrize(("db", "section", "output", "cause"), [
    (PG, "db.pg1", 'psql: error: connection to server on socket "/run/postgresql/.s.PGSQL.5432" failed: '
     'FATAL:  password authentication failed for user "ihc"\n', "FATAL:  password authentication failed"),
    (MY, "db.my1", "ERROR 1045 (28000): Access denied for user 'ihc'@'localhost' (using password: YES)\n",
     "ERROR 1045 (28000): Access denied"),
    (PG, "db.pg1", "## settings\nrunuser: user postgres does not exist\n", "runuser: user postgres does not exist"),
])
def test_a_failed_db_query_reason_starts_with_the_servers_message(db, section, output, cause):
    facts = with_text(db_facts_from("hardened", db), section, output, 2)
    command = facts.specs[section].command
    assert len(command) > 300  # the batch query is long: it used to lead the reason and cut the cause off
    with pytest.raises(FactUnavailable) as e:
        db_facts(facts, db)
    msg = str(e.value)
    error_line = next(ln for ln in output.splitlines() if not ln.startswith("##"))
    assert msg.startswith(f"host {db.host}: {error_line[:60]}"), msg  # the cause first, then the section
    assert cause in msg and "exited 2" in msg
    assert command not in msg and len(msg) < 600 and "\n" not in msg


def test_failure_cause_prefers_the_error_line_over_the_last_line():
    out = "psql: error: FATAL:  database \"x\" does not exist\n\nsome trailing noise\n"
    assert failure_cause(out) == 'psql: error: FATAL:  database "x" does not exist'
    assert failure_cause("just this\nand the last\n") == "and the last"
    assert failure_cause("") == "no output"


# ---- run: unreachable hosts first, progress while reports render, duration of the whole run ----


def test_run_names_unreachable_hosts_on_its_first_line_and_says_when_it_renders(tmp_path):
    from .test_cli import MINI, run_cli

    inv = tmp_path / "inv.yaml"
    inv.write_text("institution: {name: 测试医院}\nsystem: {name: 互联网医院}\nhosts:\n"
                   "  - {id: app01, address: 127.0.0.1, port: 9, user: ihc, timeout_s: 3}\n", encoding="utf-8")
    proc = run_cli("run", "-q", "--formats", "json,junit,html", "-p", str(MINI), "-i", str(inv),
                   "-o", str(tmp_path / "r"))
    assert proc.returncode == 3, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("无法连接的主机 / unreachable hosts (1): app01 (") and "host app01" not in first, first
    assert "正在生成 / rendering report.html …" in proc.stderr
    (folder,) = list((tmp_path / "r").iterdir())
    inner = json.loads((folder / "results.json").read_text(encoding="utf-8"))["run"]["duration_s"]
    shown = float(re.search(r"exit 3 · ([\d.]+) s", proc.stdout).group(1))  # type: ignore[union-attr]
    assert shown >= inner  # the whole run, report rendering included, not just the checks


def test_pdf_rendering_reports_its_stages() -> None:
    """render_pdf says when layout starts and, when it is done, how many pages it laid out."""
    from ihconform.report.pdf import render_pdf
    from ihconform.report.view import build_view

    from .test_report_render import rich_result

    heard: list[str] = []
    pdf = render_pdf(build_view(rich_result()), heard.append)
    assert pdf.startswith(b"%PDF-")
    assert heard[0] == "report.pdf: 排版 / laying out" and len(heard) == 2
    m = re.fullmatch(r"report\.pdf: (\d+) 页已排版写出 / pages laid out and written", heard[1])
    assert m is not None, heard[1]
    assert int(m.group(1)) >= 16  # cover, contents, then each of the 14 sections on its own page
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
        assert re.search(rf"^Pages:\s+{m.group(1)}$", info, re.M), info


@pytest.mark.parametrize("live", [False, True])
def test_render_progress_line(live: bool, capsys: pytest.CaptureFixture[str]) -> None:
    """Stages are lines; on a terminal a line ticks the seconds; the total is said at the end."""
    import time

    from ihconform.run.folder import RenderProgress

    with RenderProgress("report.html, report.pdf", live=live) as progress:
        progress("report.pdf: 排版 / laying out")
        time.sleep(1.2 if live else 0)
    err = capsys.readouterr().err
    assert "正在生成 / rendering report.html, report.pdf …\n" in err
    assert "  report.pdf: 排版 / laying out …\n" in err
    assert re.search(r"报告已生成 / reports rendered in \d+\.\d s\n$", err), err
    ticks = re.findall(r"\r  report\.pdf: 排版 / laying out … (\d+) s", err)
    assert (len(ticks) >= 2 and ticks[-1] == "1") if live else not ticks, err


def test_summary_of_a_run_with_every_host_reached_has_no_unreachable_line(tmp_path):
    import io

    from ihconform.cli import summarize

    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "t.json").write_text(json.dumps({"host": "h1", "error": ""}), encoding="utf-8")
    doc = {"summary": {"status": "pass", "exit_code": 0, "controls": {}, "objects": {}, "high_risk_failures": []},
           "run": {"duration_s": 1.0}, "controls": [], "results": [],
           "evidence": [{"path": "evidence/t.json", "kind": "transcript"}]}
    buf = io.StringIO()
    summarize(doc, tmp_path / "results.json", buf, elapsed=12.25)
    assert "unreachable" not in buf.getvalue() and "exit 0 · 12.2 s" in buf.getvalue()


# ---- attest add / waiver add: a past --valid-until is one line, exit 2 -------------------------

_ATTEST = ("attest", "add", "--id", "ATT-1", "--control", "CQ-A1-4.6-a", "--statement", "s", "--attester", "张三",
           "--role", "科长", "--organisation", "医院", "--result", "pass")
_WAIVE = ("waiver", "add", "--id", "W-1", "--control", "L3-PES1-19", "--justification", "j",
          "--compensating-control", "c", "--risk", "中", "--approver", "王五", "--approver-role", "院长",
          "--approver-organisation", "医院")


@pytest.mark.parametrize("cmd", [_ATTEST, _WAIVE], ids=["attest", "waiver"])
def test_a_past_valid_until_is_one_line_exit_2_and_writes_nothing(tmp_path, cmd):
    from .test_cli import run_cli

    ledger = tmp_path / "ledger.yaml"
    proc = run_cli(*cmd, "--ledger", str(ledger), "--valid-until", "2020-01-31")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr and "validation error" not in proc.stderr, proc.stderr
    assert "--valid-until 2020-01-31" in lines[0] and "is in the past" in lines[0]
    assert not ledger.exists()
    ok = run_cli(*cmd, "--ledger", str(ledger), "--valid-until", "2099-01-31")
    assert ok.returncode == 0 and ledger.exists(), ok.stderr


def test_a_waiver_ending_before_it_starts_is_one_line_exit_2(tmp_path):
    from .test_cli import run_cli

    proc = run_cli(*_WAIVE, "--ledger", str(tmp_path / "w.yaml"), "--valid-from", "2099-06-01",
                   "--valid-until", "2099-01-31")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "is before --valid-from 2099-06-01" in proc.stderr


# ---- attest pubkey: the public half of an existing key --------------------------------------------


@pytest.mark.parametrize("algorithm", ["ed25519", "sm2-sm3"])
def test_pubkey_shows_what_keygen_printed(tmp_path, algorithm):
    from .test_cli import run_cli

    if algorithm == "sm2-sm3":
        pytest.importorskip("gmssl")
    key = tmp_path / "k.pem"
    made = run_cli("attest", "keygen", "--algorithm", algorithm, "--out", str(key), "--owner", "张三")
    assert made.returncode == 0, made.stderr
    shown = run_cli("attest", "pubkey", str(key), "--owner", "张三")
    assert shown.returncode == 0, shown.stderr
    # everything after the private-key line is identical: fingerprint and keyring entry
    assert made.stdout.splitlines()[1:] == shown.stdout.splitlines()[1:]
    assert "public_key:" in shown.stdout and "张三" in shown.stdout


def test_pubkey_of_a_file_that_is_no_key_is_one_line_exit_2(tmp_path):
    from .test_cli import run_cli

    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n", encoding="utf-8")
    for path in (bad, tmp_path / "missing.pem"):
        proc = run_cli("attest", "pubkey", str(path))
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert str(path) in proc.stderr


# ---- records init: the empty ledger files an inventory names ---------------------------------------


def test_records_init_creates_the_files_an_inventory_names_and_it_then_loads(tmp_path):
    from ihconform.inventory import load_inventory

    from .test_cli import run_cli

    inv = tmp_path / "inv.yaml"
    inv.write_text("institution: {name: 测试医院}\nsystem: {name: 互联网医院}\n"
                   "evidence: {attestations: ledger/, waivers: waivers.yaml, keyring: keys/keyring.yaml}\n",
                   encoding="utf-8")
    before = run_cli("validate", "-i", str(inv))
    assert before.returncode == 2 and "referenced file not found" in before.stderr
    proc = run_cli("records", "init", "-i", str(inv))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ledger").is_dir() and (tmp_path / "keys" / "keyring.yaml").is_file()
    loaded = load_inventory(inv)
    assert loaded.evidence.waivers == tmp_path / "waivers.yaml"
    assert run_cli("validate", "-i", str(inv)).returncode == 0
    # attest add fills the folder ledger, and a second init leaves everything as it is
    add = run_cli(*_ATTEST, "-i", str(inv), "--valid-until", "2099-01-31")
    assert add.returncode == 0 and (tmp_path / "ledger" / "ATT-1.yaml").is_file(), add.stderr
    waivers = (tmp_path / "waivers.yaml").read_text(encoding="utf-8")
    again = run_cli("records", "init", "-i", str(inv))
    assert again.returncode == 0 and again.stdout.count("exists, left as is") == 3
    assert (tmp_path / "waivers.yaml").read_text(encoding="utf-8") == waivers


def test_records_init_without_inventory_writes_three_files_and_the_evidence_snippet(tmp_path):
    from .test_cli import run_cli

    proc = run_cli("records", "init", "--dir", str(tmp_path / "ev"))
    assert proc.returncode == 0, proc.stderr
    for name, key in (("attestations.yaml", "attestations: []"), ("waivers.yaml", "waivers: []"),
                      ("keyring.yaml", "keys: []")):
        assert key in (tmp_path / "ev" / name).read_text(encoding="utf-8")
    assert "evidence:\n  attestations:" in proc.stdout


def test_records_init_for_an_inventory_without_evidence_is_one_line_exit_2(tmp_path):
    from .test_cli import run_cli

    inv = tmp_path / "inv.yaml"
    inv.write_text("institution: {name: x}\nsystem: {name: y}\n", encoding="utf-8")
    proc = run_cli("records", "init", "-i", str(inv))
    assert proc.returncode == 2 and "names no evidence files" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# ---- validate: warnings on inputs that load but would make a poor run ------------------------------


def test_validate_warns_on_empty_codes_empty_known_hosts_and_unknown_controls(tmp_path):
    from .test_cli import run_cli

    (tmp_path / "known_hosts").write_text("", encoding="utf-8")
    (tmp_path / "att.yaml").write_text(
        "attestations:\n  - {id: A-1, control: CQ-A1-4.6-x, objects: [site], statement: s, attester: {name: a, "
        "role: b, organisation: c}, date: 2026-01-01, valid_until: 2099-01-01, result: pass}\n", encoding="utf-8")
    (tmp_path / "w.yaml").write_text(
        "waivers:\n  - {id: W-1, control: L3-NOPE-01, objects: ['*'], justification: j, compensating_control: c, "
        "risk: low, approver: {name: a, role: b, organisation: c}, valid_from: 2026-01-01, "
        "valid_until: 2099-01-01}\n", encoding="utf-8")
    inv = tmp_path / "inv.yaml"
    inv.write_text("institution: {name: 测试医院}\nsystem: {name: 互联网医院}\n"
                   "defaults: {user: ihc, known_hosts: known_hosts}\n"
                   "hosts:\n  - {id: app01, address: 198.51.100.10}\n"
                   "evidence: {attestations: att.yaml, waivers: w.yaml}\n", encoding="utf-8")
    proc = run_cli("validate", "-i", str(inv))
    assert proc.returncode == 0 and "有效 / valid" in proc.stdout
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("警告 / warning: ")]
    text = "\n".join(warnings)
    assert len(warnings) == 6, proc.stderr  # the five above, and the unsigned attestation (ledger.warnings)
    assert "unsigned" in text
    assert "credit_code" in text and "licence_number" in text
    assert "known_hosts" in text and "is empty or missing" in text and "app01" in text
    assert "attestation A-1" in text and "CQ-A1-4.6-x" in text
    assert "waiver W-1" in text and "L3-NOPE-01" in text


def test_validate_of_a_complete_inventory_warns_about_nothing(tmp_path):
    from .test_cli import run_cli

    inv = tmp_path / "inv.yaml"
    inv.write_text("institution: {name: 测试医院, credit_code: 91500000MA5U000000, licence_number: PDY00001X}\n"
                   "system: {name: 互联网医院}\nhosts:\n"
                   "  - {id: app01, address: 198.51.100.10, user: ihc, host_key: 'ssh-ed25519 "
                   "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'}\n", encoding="utf-8")
    proc = run_cli("validate", "-i", str(inv))
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr


@pytest.mark.parametrize(("client", "command", "cause"), [
    ("psql", "psql -X -h /nonexistent-ihc -U ihc -d ihc -Atc {sql}",
     'psql: error: connection to server on socket "/nonexistent-ihc/.s.PGSQL.5432" failed'),
    ("mysql", "mysql -S /nonexistent-ihc.sock -u ihc -Ne {sql}", "ERROR 2002 (HY000): Can't connect"),
])
def test_the_real_clients_failure_leads_the_reason(client, command, cause):
    """The real psql and mysql clients, run through the local transport, fail to connect: the
    reason starts with their own words, not the (long) query."""
    import shlex
    import shutil

    from ihconform.facts.collect import Section, collect

    from .test_collect import local

    if shutil.which(client) is None:
        pytest.skip(f"{client} client not installed")
    sql = shlex.quote("select " + ", ".join(f"'{i}' as c{i}" for i in range(120)))  # a long batch query
    facts = collect(local(), [Section("db.x", command.format(sql=sql), timeout=20)])
    with pytest.raises(FactUnavailable) as e:
        facts.text("db.x")
    msg = str(e.value)
    assert msg.split(": ", 1)[1].startswith(cause), msg
    assert "c119" not in msg and len(msg) < 600 and "\n" not in msg
