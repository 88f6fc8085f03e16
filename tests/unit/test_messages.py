"""Messages (issue 13 §7): the cause first, one line, the right exit code."""

from __future__ import annotations

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
