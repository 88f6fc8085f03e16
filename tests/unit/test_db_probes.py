"""Database probes on recorded client output: PostgreSQL 15 and MariaDB 10.11 configured
weakly and hardened (tests/fixtures/facts/db), and the lab's db01."""

from __future__ import annotations

import pytest

from ihconform.check import Check, Verdict
from ihconform.errors import FactUnavailable, NotChecked
from ihconform.facts.collect import HostFacts
from ihconform.facts.host import HostView
from ihconform.inventory import Database
from ihconform.inventory import TestObject as Obj
from ihconform.probes import db as dp
from ihconform.profile import ObjectType
from ihconform.results import Status
from tests.fixtures.facts.factsfix import (
    HERE,
    LAB,
    LAB_DBS,
    db_check,
    db_facts_from,
    load_dir,
    local_db,
    text,
    with_text,
)

PASS, FAIL, PARTIAL, NA = Status.PASS, Status.FAIL, Status.PARTIAL, Status.NOT_APPLICABLE
PG, MY = local_db("postgresql", "pg1"), local_db("mariadb", "my1")


@pytest.fixture(scope="module")
def lab_db01() -> HostFacts:
    return load_dir(HERE / "lab" / "db01", "db01")


def judge(fn, probe_id: str, db: Database, facts: HostFacts, **overrides: object):  # type: ignore[no-untyped-def]
    check = db_check(probe_id, db, **overrides)
    if fn in (dp.test_backup,):
        fn(check, facts, HostView(facts))
    else:
        fn(check, facts)
    assert check.verdict is not None
    return check.verdict


def test_accounts() -> None:
    assert judge(dp.test_accounts, "db.accounts", PG, db_facts_from("hardened", PG)).status is PASS
    v = judge(dp.test_accounts, "db.accounts", PG, db_facts_from("weak", PG))
    assert v.status is FAIL and v.observed["login_roles_without_password"] == ["nopw"]
    assert judge(dp.test_accounts, "db.accounts", MY, db_facts_from("hardened", MY)).status is PASS
    v = judge(dp.test_accounts, "db.accounts", MY, db_facts_from("weak", MY))
    assert v.status is FAIL
    assert v.observed == {"anonymous": ["''@'localhost'"], "empty_password": ["'nopw'@'%'"]}


def test_password_encryption() -> None:
    assert judge(dp.test_password_encryption, "db.password_encryption", PG,
                 db_facts_from("hardened", PG)).status is PASS
    # md5 on PostgreSQL 15 is not its stock default (scram-sha-256 since 14): decisive fail
    v = judge(dp.test_password_encryption, "db.password_encryption", PG, db_facts_from("weak", PG))
    assert v.status is FAIL and v.observed["roles_with_weak_hash"] == ["app md5"]
    assert v.observed["stock_default_in_use"] == [] and "decisive" in v.reason
    # MariaDB: ed25519 for 'his'; root and mysql have no password (unix_socket): pass
    assert judge(dp.test_password_encryption, "db.password_encryption", MY,
                 db_facts_from("hardened", MY)).status is PASS
    # MariaDB's stock plugin is mysql_native_password: a finding, not a fail
    v = judge(dp.test_password_encryption, "db.password_encryption", MY, db_facts_from("weak", MY))
    assert v.status is PARTIAL and v.observed["weak_accounts"] == ["'app'@'%' mysql_native_password"]
    assert v.observed["stock_default_in_use"] == ["mysql_native_password"]
    v = judge(dp.test_password_encryption, "db.password_encryption", MY, db_facts_from("weak", MY),
              stock_defaults=[])
    assert v.status is FAIL


def test_idle_lockout() -> None:
    v = judge(dp.test_idle_lockout, "db.idle_lockout", PG, db_facts_from("hardened", PG))
    assert v.status is PARTIAL and v.reason == "unmet: login-failure lockout"
    # auth_delay is loaded; a site that accepts it as the lockout mechanism says so in the profile
    assert judge(dp.test_idle_lockout, "db.idle_lockout", PG, db_facts_from("hardened", PG),
                 lockout_libraries=["credcheck", "auth_delay"]).status is PASS
    assert judge(dp.test_idle_lockout, "db.idle_lockout", PG, db_facts_from("weak", PG)).status is FAIL
    assert judge(dp.test_idle_lockout, "db.idle_lockout", MY, db_facts_from("hardened", MY)).status is PASS
    v = judge(dp.test_idle_lockout, "db.idle_lockout", MY, db_facts_from("weak", MY))
    assert v.status is FAIL and v.observed["wait_timeout"] == 28800


def test_tls() -> None:
    assert judge(dp.test_tls, "db.tls", PG, db_facts_from("hardened", PG)).status is PASS
    v = judge(dp.test_tls, "db.tls", PG, db_facts_from("weak", PG))
    assert v.status is PARTIAL and len(v.observed["non_tls_network_lines"]) == 2
    assert judge(dp.test_tls, "db.tls", MY, db_facts_from("hardened", MY)).status is PASS
    v = judge(dp.test_tls, "db.tls", MY, db_facts_from("weak", MY))
    assert v.status is PARTIAL and v.reason == "unmet: TLS available, require_secure_transport = ON"
    local_only = PG.model_copy(update={"tls_required": False})
    assert judge(dp.test_tls, "db.tls", local_only, db_facts_from("weak", local_only)).status is NA


def test_hba() -> None:
    assert judge(dp.test_hba, "db.hba", PG, db_facts_from("hardened", PG)).status is PASS
    v = judge(dp.test_hba, "db.hba", PG, db_facts_from("weak", PG))
    assert v.status is FAIL and "decisive: no trust on network lines" in v.reason  # host all all 0.0.0.0/0 trust
    assert v.observed["forbidden_method_lines"] == ["line 2: host all all 0.0.0.0 trust"]
    assert v.observed["world_open_lines"] == ["line 2: host all all 0.0.0.0/0.0.0.0 trust"]
    assert judge(dp.test_hba, "db.hba", MY, db_facts_from("hardened", MY)).status is PASS
    v = judge(dp.test_hba, "db.hba", MY, db_facts_from("weak", MY))
    assert v.status is FAIL and v.observed["accounts_from_any_host"] == ["'app'@'%'", "'nopw'@'%'"]


def test_audit(lab_db01: HostFacts) -> None:
    v = judge(dp.test_audit, "db.audit", PG, db_facts_from("hardened", PG))
    assert v.status is PARTIAL and "statements audited" in v.reason
    assert judge(dp.test_audit, "db.audit", LAB_DBS[0], lab_db01).status is PASS  # log_statement = ddl
    assert judge(dp.test_audit, "db.audit", PG, db_facts_from("weak", PG)).status is PARTIAL
    v = judge(dp.test_audit, "db.audit", MY, db_facts_from("hardened", MY))
    assert v.status is PASS and v.observed["audit_plugins_active"] == ["server_audit"]
    v = judge(dp.test_audit, "db.audit", MY, db_facts_from("weak", MY))
    assert v.status is PARTIAL and v.reason == "my1: no audit plugin active"


def test_superusers() -> None:
    assert judge(dp.test_superusers, "db.superusers", PG, db_facts_from("hardened", PG)).status is PASS
    v = judge(dp.test_superusers, "db.superusers", PG, db_facts_from("weak", PG))
    assert v.status is FAIL and v.observed["superusers"] == ["app", "postgres"]
    v = judge(dp.test_superusers, "db.superusers", MY, db_facts_from("hardened", MY))
    assert v.status is PASS and v.observed["superusers"] == ["mysql", "root"]  # unix_socket root counts
    v = judge(dp.test_superusers, "db.superusers", MY, db_facts_from("weak", MY))
    assert v.status is FAIL and "app" in v.reason


def test_backup(lab_db01: HostFacts) -> None:
    pg_lab = LAB_DBS[0]
    v = judge(dp.test_backup, "db.backup", pg_lab, lab_db01)
    assert v.status is PARTIAL and v.reason == "unmet: scheduled backup job"
    cron = text(lab_db01, "crontabs").replace(
        "## timers", "/var/spool/cron/crontabs/postgres:0 1 * * * pg_dumpall -f /backup/all.sql\n## timers")
    assert judge(dp.test_backup, "db.backup", pg_lab, with_text(lab_db01, "crontabs", cron)).status is PASS
    v = judge(dp.test_backup, "db.backup", LAB_DBS[1], lab_db01)
    assert v.status is FAIL and v.observed["log_bin"] == "OFF"
    weak_on_lab_host = db_facts_from("weak", PG.model_copy(update={"host": "db01"}), host=lab_db01)
    v = judge(dp.test_backup, "db.backup", PG.model_copy(update={"host": "db01"}), weak_on_lab_host)
    assert v.status is FAIL and v.observed["archive_mode"] == "off"


def test_app_audit_retention() -> None:
    v = judge(dp.test_app_audit_retention, "db.app_audit_retention", PG, db_facts_from("hardened", PG))
    assert v.status is FAIL and v.observed["oldest_record_days"] == 30.0 and v.observed["rows"] == 2
    # a site cannot lower the legal floor by declaring a shorter retention...
    short = PG.model_copy(update={"audit_retention_days": 20})
    assert judge(dp.test_app_audit_retention, "db.app_audit_retention", short,
                 db_facts_from("hardened", short)).status is FAIL
    v = judge(dp.test_app_audit_retention, "db.app_audit_retention", MY, db_facts_from("hardened", MY))
    assert v.status is PASS and v.observed["oldest_record_days"] == 200.0
    # ...but a longer declared retention raises it
    long = MY.model_copy(update={"audit_retention_days": 365})
    assert judge(dp.test_app_audit_retention, "db.app_audit_retention", long,
                 db_facts_from("hardened", long)).status is FAIL


def test_app_audit_retention_without_table_is_not_checked(lab_db01: HostFacts) -> None:
    with pytest.raises(NotChecked, match="no audit_table"):
        judge(dp.test_app_audit_retention, "db.app_audit_retention", LAB_DBS[0], lab_db01)


def test_app_audit_retention_missing_table_is_an_error() -> None:
    facts = db_facts_from("hardened", PG)
    missing = (HERE / "db" / "missing-table.dbaudit.pg1.txt").read_text()
    facts = with_text(facts, "dbaudit.pg1", missing, 1)
    with pytest.raises(FactUnavailable):
        judge(dp.test_app_audit_retention, "db.app_audit_retention", PG, facts)


@pytest.mark.parametrize("engine", ["oracle", "sqlserver", "dm", "kingbase"])
def test_driver_engines_without_an_account_are_errors(engine: str, lab_db01: HostFacts) -> None:
    """Once an extension point (未检查), now read through the driver: an inventory that names no
    read-only account makes every control on the instance 检查错误 naming what is missing."""
    db = Database(id=f"{engine}1", host="db01", engine=engine, port=5236)  # type: ignore[arg-type]
    for fn, pid in ((dp.test_accounts, "db.accounts"), (dp.test_tls, "db.tls"), (dp.test_audit, "db.audit")):
        with pytest.raises(FactUnavailable, match="names no read-only account"):
            judge(fn, pid, db, lab_db01)


def test_lab_db01_verdicts(lab_db01: HostFacts) -> None:
    pg, my = LAB_DBS
    for fn, pid in ((dp.test_accounts, "db.accounts"), (dp.test_tls, "db.tls"), (dp.test_hba, "db.hba")):
        assert judge(fn, pid, pg, lab_db01).status is PASS, pid
        assert judge(fn, pid, my, lab_db01).status is PASS, pid


def test_a_failed_query_is_an_error_not_a_pass() -> None:
    bad = "psql: error: connection to server on socket \"/x/.s.PGSQL.5432\" failed: No such file or directory\n"
    facts = with_text(db_facts_from("hardened", PG), "db.pg1", bad, 2)
    with pytest.raises(FactUnavailable, match="exited 2"):
        judge(dp.test_tls, "db.tls", PG, facts)
    # exit 1 with an ERROR inside one part: that part is missing, never judged from nothing
    partial = text(db_facts_from("hardened", PG), "db.pg1").replace(
        "## hba\n", "## hba\nERROR:  permission denied for view pg_hba_file_rules\n")
    facts = with_text(db_facts_from("hardened", PG), "db.pg1", partial, 1)
    with pytest.raises(FactUnavailable, match="hba query failed"):
        judge(dp.test_hba, "db.hba", PG, facts)


STOCK = HERE / "db" / "stock"
MY57 = local_db("mariadb", "my57").model_copy(update={"engine": "mysql"})
MY80 = local_db("mariadb", "my80").model_copy(update={"engine": "mysql"})
PG13 = local_db("postgresql", "pg13")


def stock_facts(db: Database) -> HostFacts:
    """The documented stock state of an engine not installed here (db/stock/README.md)."""
    inv = LAB.model_copy(update={"databases": (db,)})
    return with_text(HostFacts(host_id=db.host), f"db.{db.id}", (STOCK / f"db.{db.id}.txt").read_text(),
                     inventory=inv)


def test_stock_default_hashing_is_a_finding_not_a_fail() -> None:
    """MySQL 5.7 (mysql_native_password) and PostgreSQL 13 (md5) as installed: 部分符合."""
    v = judge(dp.test_password_encryption, "db.password_encryption", MY57, stock_facts(MY57))
    assert v.status is PARTIAL and v.observed["stock_default_in_use"] == ["mysql_native_password"]
    assert v.observed["server_version"] == "5.7.44"
    # the reserved accounts' sentinel is not a weak hash of a usable account
    assert v.observed["weak_accounts"] == ["'app'@'198.51.100.%' mysql_native_password",
                                           "'root'@'localhost' mysql_native_password"]
    v = judge(dp.test_password_encryption, "db.password_encryption", PG13, stock_facts(PG13))
    assert v.status is PARTIAL and v.observed["stock_default_in_use"] == ["md5"]
    # MySQL 8.0: mysql_native_password is no longer the default, so an account still on it fails
    v = judge(dp.test_password_encryption, "db.password_encryption", MY80, stock_facts(MY80))
    assert v.status is FAIL and v.observed["weak_accounts"] == ["'legacy'@'198.51.100.%' mysql_native_password"]


def test_stock_version_limits() -> None:
    entries = ["postgresql:13:md5", "mysql:5.7:mysql_native_password", "mariadb:*:mysql_native_password"]
    assert dp.stock_default_hashes(entries, "postgresql", (13, 16)) == {"md5"}
    assert dp.stock_default_hashes(entries, "postgresql", (14, 0)) == set()
    assert dp.stock_default_hashes(entries, "postgresql", ()) == set()  # unknown version: never assumed
    assert dp.stock_default_hashes(entries, "mysql", (5, 7, 44)) == {"mysql_native_password"}
    assert dp.stock_default_hashes(entries, "mysql", (8, 0, 36)) == set()
    assert dp.stock_default_hashes(entries, "mariadb", (10, 11, 6)) == {"mysql_native_password"}


def test_reserved_system_accounts_are_not_superusers() -> None:
    """mysql.session holds SUPER but cannot log in (MySQL 5.7/8.0 Reserved Accounts)."""
    for db in (MY57, MY80):
        v = judge(dp.test_superusers, "db.superusers", db, stock_facts(db))
        assert v.status is PASS and v.observed["superusers"] == ["root"]
        assert v.observed["reserved_system_accounts_not_counted"] == ["'mysql.session'@'localhost'"]
    # the same account with a usable password is a superuser like any other
    text = (STOCK / "db.my80.txt").read_text().replace(
        "mysql.session\tlocalhost\tcaching_sha2_password\tINVALID",
        "mysql.session\tlocalhost\tcaching_sha2_password\tSET")
    inv = LAB.model_copy(update={"databases": (MY80,)})
    facts = with_text(HostFacts(host_id="vm"), "db.my80", text, inventory=inv)
    v = judge(dp.test_superusers, "db.superusers", MY80, facts)
    assert v.status is FAIL and "mysql.session" in v.reason


def offsite_check(db: Database) -> Check:
    """The shipped L3-CES1-30 (异地实时备份) on ``db``."""
    from ihconform.catalog import load_profile

    profile = load_profile(str(HERE.parents[2] / "src" / "ihconform" / "profiles" / "mlps-l3.yaml"))
    return Check(profile.control("L3-CES1-30"), Obj(ObjectType.DATABASE, db.id, db.id, db), LAB)


def offsite(db: Database, facts: HostFacts) -> Verdict:
    check = offsite_check(db)
    dp.test_offsite_realtime(check, facts)
    assert check.verdict is not None
    return check.verdict


def test_local_archive_and_dump_are_not_offsite_realtime(lab_db01: HostFacts) -> None:
    """The lab's PostgreSQL archives WAL with a local cp and no replica is connected: 不符合,
    even with a nightly pg_basebackup (which db.backup, L3-CES1-29, accepts)."""
    cron = text(lab_db01, "crontabs").replace(
        "## timers", "/etc/cron.d/pgbackup:15 2 * * * postgres pg_basebackup -D /backup/base -Ft -z\n## timers")
    facts = with_text(lab_db01, "crontabs", cron)
    v = offsite(LAB_DBS[0], facts)
    assert v.status is FAIL and v.observed["replicas_connected"] == 0 and "不构成异地实时备份" in v.reason


def test_a_connected_replica_or_an_off_host_archive_is_offsite_realtime(lab_db01: HostFacts) -> None:
    pg_text = text(lab_db01, "db.pg-db01")
    replica = with_text(lab_db01, "db.pg-db01", pg_text.replace("\n0||0|1795354786|0", "\n0||0|1795354786|1"))
    assert offsite(LAB_DBS[0], replica).status is PASS
    barman = pg_text.replace(
        "archive_command|test ! -f /run/ihlab/hosts/db01/pg/archive/%f && cp %p /run/ihlab/hosts/db01/pg/archive/%f",
        "archive_command|barman-wal-archive backup1 pg %p")
    v = offsite(LAB_DBS[0], with_text(lab_db01, "db.pg-db01", barman))
    assert v.status is PASS and v.observed["remote_wal_archive"] == "barman-wal-archive backup1 pg %p"


def test_mysql_offsite_needs_a_binlog_replica(lab_db01: HostFacts) -> None:
    my_text = text(lab_db01, "db.mariadb-db01")
    with pytest.raises(FactUnavailable, match="replicas"):  # recorded before the query existed
        offsite(LAB_DBS[1], lab_db01)
    none = with_text(lab_db01, "db.mariadb-db01", my_text + "## replicas\n0\n")
    assert offsite(LAB_DBS[1], none).status is FAIL
    one = with_text(lab_db01, "db.mariadb-db01", my_text + "## replicas\n1\n")
    assert offsite(LAB_DBS[1], one).status is PASS
