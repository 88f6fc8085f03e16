"""达梦 DM8: the read-only queries and their :class:`DbPosture`.

Views and parameters as the DM8 system administrator's manual (《DM8 系统管理员手册》) and its
dm.ini parameter list document them: ``V$DM_INI`` (PWD_POLICY bit set: 1 not the user name, 2
length >= PWD_MIN_LEN, 4 an upper-case letter, 8 a digit, 16 a punctuation mark; ENABLE_AUDIT 0
off, 1 ordinary audit, 2 ordinary and real-time; ENABLE_ENCRYPT 0 plain, 1 SSL encryption, 2 SSL
authentication only; COMM_ENCRYPT_NAME), ``DBA_USERS`` with ``SYSUSERS`` (per-user FAILED_NUM,
LOCK_TIME in minutes, CONN_IDLE_TIME in minutes, 0 = unlimited), ``DBA_ROLE_PRIVS`` and
``V$VERSION``. 三权分立 (security edition): SYSDBA administers, SYSAUDITOR audits, SYSSSO sets
security; none of them is an application account.
"""

# the IN lists are built from the module's own constant names
# ruff: noqa: S608

from __future__ import annotations

from ihconform.facts.contract import HostFacts
from ihconform.facts.db_driver import Query, rows
from ihconform.facts.db_posture import DbAccount, DbPosture

PARAMETERS = ("PWD_POLICY", "PWD_MIN_LEN", "ENABLE_AUDIT", "ENABLE_ENCRYPT", "COMM_ENCRYPT_NAME",
              "COMPATIBLE_MODE")

QUERIES: tuple[Query, ...] = (
    Query("version", "SELECT banner FROM v$version"),
    Query("parameters", "SELECT para_name, para_value FROM v$dm_ini WHERE para_name IN ("
          + ", ".join(f"'{p}'" for p in PARAMETERS) + ")"),
    Query("users", "SELECT u.username, u.account_status, s.failed_num, s.lock_time, s.conn_idle_time "
          "FROM dba_users u JOIN sysusers s ON u.user_id = s.id"),
    Query("dba_grants", "SELECT grantee, granted_role FROM dba_role_privs WHERE granted_role IN "
          "('DBA', 'DB_AUDIT_ADMIN', 'DB_POLICY_ADMIN')"),
)

#: The PWD_POLICY bits that make a password complex (length and at least two character classes).
COMPLEX_BITS = 2 | 4 | 8
#: 三权分立 system accounts: administrators by design, not application accounts.
SEPARATION_ACCOUNTS = ("SYSDBA", "SYSAUDITOR", "SYSSSO", "SYS")


def _int(v: object, default: int = 0) -> int:
    try:
        return int(str(v).strip())
    except ValueError:
        return default


def posture(facts: HostFacts) -> DbPosture:
    p = {str(r["para_name"]).upper(): str(r["para_value"]) for r in rows(facts, "parameters")}
    users = rows(facts, "users")
    grants = rows(facts, "dba_grants")
    version = str((rows(facts, "version") or [{"banner": ""}])[0]["banner"])
    dbas = {str(g["grantee"]) for g in grants if str(g["granted_role"]) == "DBA"}
    open_users = [u for u in users if str(u["account_status"]).upper() == "OPEN"]
    policy = 0 if p.get("COMPATIBLE_MODE", "0") == "1" else _int(p.get("PWD_POLICY"))  # SQL92 mode disables it
    accounts = tuple(DbAccount(name=str(u["username"]), can_login=str(u["account_status"]).upper() == "OPEN",
                               has_password=True, superuser=str(u["username"]) in dbas,
                               policy_enforced=policy & COMPLEX_BITS == COMPLEX_BITS) for u in users)
    fails = [_int(u["failed_num"]) for u in open_users]
    idle = [_int(u["conn_idle_time"]) for u in open_users]
    audit = _int(p.get("ENABLE_AUDIT"))
    encrypt = _int(p.get("ENABLE_ENCRYPT"))
    return DbPosture(
        engine="dm", version=version, accounts=accounts,
        complexity=policy & COMPLEX_BITS == COMPLEX_BITS, min_length=_int(p.get("PWD_MIN_LEN"), 0) or None,
        max_failed_logins=None if not fails or 0 in fails else max(fails),
        idle_timeout_s=None if not idle or 0 in idle else 60 * max(idle), idle_supported=True,
        audit_on=audit in (1, 2),
        audit_detail={"ENABLE_AUDIT": audit, "auditor_accounts": sorted(
            str(g["grantee"]) for g in grants if str(g["granted_role"]) == "DB_AUDIT_ADMIN")},
        tls_required=encrypt == 1,
        tls_detail={"ENABLE_ENCRYPT": encrypt, "COMM_ENCRYPT_NAME": p.get("COMM_ENCRYPT_NAME"),
                    "PWD_POLICY": policy},
        weak_hash_accounts=None,
        unreadable={"weak_hash_accounts": "DM stores one server-chosen hash scheme; no per-account scheme view"},
    )
