"""Messages (issue 13 §7): the cause first, one line, the right exit code."""

from __future__ import annotations

import json
import re

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
