"""MySQL 8.0 as its own engine beside MariaDB, judged per control on recorded client output
(db/stock/db.my80.txt: as installed; db/hardened/db.my80.txt: validate_password,
connection_control, audit_log, require_secure_transport)."""

from __future__ import annotations

from ihconform.facts.collect import HostFacts
from ihconform.inventory import Database
from ihconform.probes import db as dp
from ihconform.results import Status
from tests.fixtures.facts.factsfix import HERE, LAB, db_check, local_db, with_text

MY80 = local_db("mariadb", "my80").model_copy(update={"engine": "mysql"})
PASS, FAIL, PARTIAL = Status.PASS, Status.FAIL, Status.PARTIAL

EXPECTED = {
    # stock: no validate_password; 8 h timeouts and no lockout; TLS offered but not required; no
    # audit plugin; 'legacy' still on mysql_native_password; mysql.session is reserved, not a superuser
    "stock": {"db.accounts": PARTIAL, "db.idle_lockout": FAIL, "db.tls": PARTIAL, "db.audit": PARTIAL,
              "db.superusers": PASS, "db.password_encryption": FAIL},
    "hardened": {"db.accounts": PASS, "db.idle_lockout": PASS, "db.tls": PASS, "db.audit": PASS,
                 "db.superusers": PASS, "db.password_encryption": PASS},
}
FNS = {"db.accounts": dp.test_accounts, "db.idle_lockout": dp.test_idle_lockout, "db.tls": dp.test_tls,
       "db.audit": dp.test_audit, "db.superusers": dp.test_superusers,
       "db.password_encryption": dp.test_password_encryption}


def facts(variant: str, db: Database = MY80) -> HostFacts:
    inv = LAB.model_copy(update={"databases": (db,)})
    return with_text(HostFacts(host_id=db.host), f"db.{db.id}", (HERE / "db" / variant / "db.my80.txt").read_text(),
                     inventory=inv)


def test_mysql8_verdicts_per_control() -> None:
    for variant, want in EXPECTED.items():
        got = {}
        for pid in want:
            check = db_check(pid, MY80)
            FNS[pid](check, facts(variant))
            assert check.verdict is not None
            got[pid] = check.verdict.status
        assert got == want, variant


def test_validate_password_is_read() -> None:
    check = db_check("db.accounts", MY80)
    dp.test_accounts(check, facts("hardened"))
    assert check.verdict is not None and check.verdict.observed["validate_password.policy"] == "MEDIUM"
    check = db_check("db.accounts", MY80)
    dp.test_accounts(check, facts("stock"))
    assert check.verdict is not None and check.verdict.reason.startswith("unmet: password complexity")
    # LOW checks the length only: not complexity
    low = (HERE / "db" / "hardened" / "db.my80.txt").read_text().replace("policy\tMEDIUM", "policy\tLOW")
    inv = LAB.model_copy(update={"databases": (MY80,)})
    check = db_check("db.accounts", MY80)
    dp.test_accounts(check, with_text(HostFacts(host_id="vm"), "db.my80", low, inventory=inv))
    assert check.verdict is not None and check.verdict.status is PARTIAL
