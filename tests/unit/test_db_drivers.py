"""Oracle, SQL Server, 达梦 DM8 and 人大金仓 KingbaseES through the driver path, end to end on
recorded result sets (tests/fixtures/databases, shapes and sources in SOURCES.md).

The real path runs: inventory -> read-only account from the environment -> connector -> one
session -> the engine's batch of queries -> contract sections -> posture -> the mlps-l3 controls'
probes. Only the driver's ``connect`` is replaced by the recorded-cursor fake.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ihconform.catalog import load_profile
from ihconform.check import Check
from ihconform.errors import FactUnavailable, NotChecked
from ihconform.facts import db_driver, transcripts
from ihconform.facts.collect import HostFacts
from ihconform.facts.contract import SectionStatus
from ihconform.inventory import Database, Host, Institution, Inventory, SystemUnderTest
from ihconform.inventory import TestObject as Obj
from ihconform.probes import db as dp
from ihconform.profile import ObjectType
from ihconform.results import Status
from tests.fixtures.databases.recorded import HERE, RecordedConnection, connector
from tests.fixtures.facts.factsfix import with_text

PASS, FAIL, PARTIAL, NC = Status.PASS, Status.FAIL, Status.PARTIAL, Status.NOT_CHECKED
PROBES = {"db.accounts": dp.test_accounts, "db.password_encryption": dp.test_password_encryption,
          "db.idle_lockout": dp.test_idle_lockout, "db.tls": dp.test_tls, "db.audit": dp.test_audit,
          "db.superusers": dp.test_superusers}
PORTS = {"oracle": 1521, "sqlserver": 1433, "dm": 5236, "kingbase": 54321}

#: engine -> variant -> control -> verdict. Every stock miss is the vendor's documented default
#: (SOURCES.md); the hardened recordings pass all but what cannot be read through a session.
EXPECTED: dict[str, dict[str, dict[str, Status]]] = {
    "oracle": {
        # SCOTT keeps its default password and no verify function; DEFAULT allows 10 failures and
        # unlimited idle; the tester's plain TCP session was accepted; HIS holds DBA; SCOTT has a 10G verifier
        "stock": {"db.accounts": PARTIAL, "db.idle_lockout": FAIL, "db.tls": FAIL, "db.audit": PASS,
                  "db.superusers": PARTIAL, "db.password_encryption": FAIL},
        # the server's sqlnet.ora (read on the database host) requires encryption
        "hardened": {"db.accounts": PASS, "db.idle_lockout": PASS, "db.tls": PASS, "db.audit": PASS,
                     "db.superusers": PASS, "db.password_encryption": PASS},
    },
    "sqlserver": {
        "stock": {"db.accounts": PARTIAL, "db.idle_lockout": FAIL, "db.tls": FAIL, "db.audit": FAIL,
                  "db.superusers": FAIL, "db.password_encryption": PASS},
        "hardened": {"db.accounts": PASS, "db.idle_lockout": PASS, "db.tls": PASS, "db.audit": PASS,
                     "db.superusers": PASS, "db.password_encryption": PASS},
    },
    "dm": {
        # DM's documented default FAILED_NUM 3 already meets the lockout part; idle is unlimited
        "stock": {"db.accounts": PARTIAL, "db.idle_lockout": PARTIAL, "db.tls": FAIL, "db.audit": FAIL,
                  "db.superusers": PARTIAL, "db.password_encryption": NC},
        "hardened": {"db.accounts": PASS, "db.idle_lockout": PASS, "db.tls": PASS, "db.audit": PASS,
                     "db.superusers": PASS, "db.password_encryption": NC},
    },
    "kingbase": {
        "stock": {"db.accounts": PARTIAL, "db.idle_lockout": FAIL, "db.tls": FAIL, "db.audit": FAIL,
                  "db.superusers": PARTIAL, "db.password_encryption": FAIL},
        "hardened": {"db.accounts": PASS, "db.idle_lockout": PASS, "db.tls": PASS, "db.audit": PASS,
                     "db.superusers": PASS, "db.password_encryption": PASS},
    },
}


def _inventory(engine: str) -> tuple[Inventory, Database]:
    db = Database(id=f"{engine}-his", host="dbsrv", engine=engine, port=PORTS[engine],
                  username_env="IHC_DB_RO_USER", password_env="IHC_DB_RO_PASSWORD")
    inv = Inventory(institution=Institution(name="测试医院"), system=SystemUnderTest(name="HIS"),
                    hosts=(Host(id="dbsrv", address="198.51.100.10", roles=("db",)),), databases=(db,))
    return inv, db


def _check(probe_id: str, db: Database, inv: Inventory) -> Check:
    control = next(c for c in load_profile("mlps-l3").controls if c.probe == probe_id)
    return Check(control, Obj(ObjectType.DATABASE, db.id, db.id, db), inv)


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IHC_DB_RO_USER", "ihc_audit")
    monkeypatch.setenv("IHC_DB_RO_PASSWORD", "not-a-real-secret")


def _host(db: Database, variant: str = "") -> HostFacts:
    """The database host's batch: for Oracle, its sqlnet.ora/listener.ora section where recorded."""
    facts = HostFacts(host_id=db.host)
    path = HERE / f"{db.engine}-{variant}.netconf.txt"
    if path.exists():
        return with_text(facts, f"db.{db.id}", path.read_text(), inventory=_inventory(db.engine)[0])
    return facts


def _judge(probe_id: str, db: Database, inv: Inventory, variant: str = "") -> Check:
    check = _check(probe_id, db, inv)
    PROBES[probe_id](check, _host(db, variant))
    return check


@pytest.mark.parametrize(("engine", "variant"), [(e, v) for e in EXPECTED for v in EXPECTED[e]])
def test_recorded_verdicts_per_control(engine: str, variant: str, account: None,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[RecordedConnection] = []
    monkeypatch.setitem(db_driver.CONNECTORS, engine, connector(engine, variant, seen=seen))
    inv, db = _inventory(engine)
    got = {}
    for probe_id in EXPECTED[engine][variant]:
        check = _judge(probe_id, db, inv, variant)
        assert check.verdict is not None
        got[probe_id] = check.verdict.status
    assert got == EXPECTED[engine][variant]
    # one session per instance, every query of the batch sent once, in order
    assert len(seen) == 1
    assert seen[0].executed == [q.sql for q in db_driver.queries_for(engine)]
    # what a session cannot show is 未检查 with the reason, never judged from the host's facts
    for probe_id, fn in (("db.hba", dp.test_hba), ("db.offsite_realtime", dp.test_offsite_realtime)):
        with pytest.raises(NotChecked, match="not read through its driver session"):
            fn(_check(probe_id, db, inv), HostFacts(host_id=db.host))


def test_reasons_name_what_was_read(account: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(db_driver.CONNECTORS, "oracle", connector("oracle", "stock"))
    inv, db = _inventory("oracle")
    v = _judge("db.accounts", db, inv).verdict
    assert v is not None and v.observed["default_password"] == ["SCOTT"]
    v = _judge("db.superusers", db, inv).verdict
    assert v is not None and v.observed["superusers"] == ["HIS", "SYS", "SYSTEM"]
    v = _judge("db.idle_lockout", db, inv).verdict
    assert v is not None and v.observed == {"max_failed_logins": 10, "idle_timeout_s": None}
    monkeypatch.setitem(db_driver.CONNECTORS, "sqlserver", connector("sqlserver", "stock"))
    inv, db = _inventory("sqlserver")
    v = _judge("db.superusers", db, inv).verdict
    assert v is not None and v.observed["superusers"] == ["his", "sa"]
    assert any("xp_cmdshell" in f for f in v.observed["privilege_findings"])
    v = _judge("db.accounts", db, inv).verdict
    assert v is not None and v.observed["without_password"] == ["lis_ro"]


@pytest.mark.parametrize("engine", list(EXPECTED))
def test_connection_dropped_mid_query_is_an_error(engine: str, account: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    names = [q.name for q in db_driver.queries_for(engine)]
    drop = names[len(names) // 2]
    seen: list[RecordedConnection] = []
    monkeypatch.setitem(db_driver.CONNECTORS, engine, connector(engine, "hardened", drop_at=drop, seen=seen))
    inv, db = _inventory(engine)
    for probe_id in PROBES:
        with pytest.raises(FactUnavailable, match=f"session lost during query '{drop}'"):
            _judge(probe_id, db, inv)
    facts = db_driver.INSTANCES.get(db, inv)
    statuses = {c["section"]: c["status"] for c in facts.transcript()["commands"]}
    assert statuses[drop] == SectionStatus.FAILED.value
    assert all(statuses[n] == "complete" for n in names[:names.index(drop)])
    assert all(statuses[n] == "absent" for n in names[names.index(drop) + 1:])  # never sent
    assert len(seen) == 1 and len(seen[0].executed) == names.index(drop) + 1


def test_refused_query_and_cut_answer_are_never_facts(account: None) -> None:
    _, db = _inventory("dm")
    recorded = connector("dm", "hardened")(db, "198.51.100.10", "u", "p")
    recorded.results["parameters"]["sql"] = "SELECT something else"  # the server does not know our SQL
    facts = db_driver.run_batch(db, recorded)
    assert facts.status("parameters") is SectionStatus.FAILED and not facts.error
    with pytest.raises(FactUnavailable, match="ProgrammingError"):
        db_driver.posture_of("dm", facts)
    facts = db_driver.run_batch(db, connector("dm", "hardened")(db, "198.51.100.10", "u", "p"), max_rows=2)
    assert facts.status("users") is SectionStatus.CUT
    with pytest.raises(FactUnavailable, match="cut"):
        db_driver.posture_of("dm", facts)


def test_no_account_or_no_driver_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    inv, db = _inventory("oracle")
    monkeypatch.delenv("IHC_DB_RO_USER", raising=False)
    facts = db_driver.collect_instance(db, inv)
    assert "IHC_DB_RO_USER is not set" in facts.error
    monkeypatch.setenv("IHC_DB_RO_USER", "u")
    monkeypatch.setenv("IHC_DB_RO_PASSWORD", "p")
    monkeypatch.setitem(sys.modules, "oracledb", None)  # import oracledb -> ImportError
    facts = db_driver.collect_instance(db, inv)
    assert "driver 'oracledb' is not installed" in facts.error


def test_oracle_tls_requirement_comes_from_the_host(account: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """An encrypted session alone never passes db.tls: the server's sqlnet.ora decides; without an
    Oracle instance on the host it is 未检查, with the host unreadable 检查错误."""
    monkeypatch.setitem(db_driver.CONNECTORS, "oracle", connector("oracle", "hardened"))
    inv, db = _inventory("oracle")
    host = _host(db, "hardened")
    check = _check("db.tls", db, inv)
    dp.test_tls(check, host)
    assert check.verdict is not None and check.verdict.status is Status.PASS
    assert check.verdict.observed["SQLNET.ENCRYPTION_SERVER"] == "REQUIRED"
    accepted = (HERE / "oracle-hardened.netconf.txt").read_text().replace("ENCRYPTION_SERVER = REQUIRED",
                                                                          "ENCRYPTION_SERVER = REQUESTED")
    tcps = "(PROTOCOL = TCPS)(HOST = dbsrv)(PORT = 2484))"
    accepted = accepted.replace(tcps, tcps + "(ADDRESS = (PROTOCOL = TCP)(PORT = 1521))")
    for text, want in ((accepted, Status.FAIL), ("## absent\n", NC)):
        check = _check("db.tls", db, inv)
        dp.test_tls(check, with_text(HostFacts(host_id=db.host), f"db.{db.id}", text, inventory=inv))
        assert check.verdict is not None and check.verdict.status is want
    with pytest.raises(FactUnavailable, match="not gathered"):
        dp.test_tls(_check("db.tls", db, inv), HostFacts(host_id=db.host))


def test_a_driver_session_is_in_the_run_evidence(account: None, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    """The instance read through its driver leaves the same evidence a host batch does: its
    transcript (query, status, digest per section) and raw answers under evidence/databases/."""
    monkeypatch.setitem(db_driver.CONNECTORS, "sqlserver", connector("sqlserver", "stock"))
    monkeypatch.setattr(db_driver, "INSTANCES", db_driver.InstanceCache())
    monkeypatch.setattr(transcripts, "INSTANCES", db_driver.INSTANCES)
    inv, db = _inventory("sqlserver")
    _judge("db.accounts", db, inv)
    refs = transcripts.write_collected_evidence(tmp_path, {})
    assert set(refs) == {f"transcript:db:{db.id}", f"facts:db:{db.id}"}
    record = json.loads((tmp_path / refs[f"transcript:db:{db.id}"].path).read_text(encoding="utf-8"))
    assert record["commands"] and {c["status"] for c in record["commands"]} == {"complete"}
    assert refs[f"transcript:db:{db.id}"].path == f"evidence/databases/{db.id}/transcript.json"
