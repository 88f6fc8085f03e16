"""SQL Server (2012–2022) over the network: the read-only queries and their :class:`DbPosture`.

Catalog views and functions as documented in the SQL Server Transact-SQL reference:
``sys.sql_logins`` (is_policy_checked, is_expiration_checked), ``sys.server_principals``,
``sys.server_role_members``, ``sys.configurations`` (xp_cmdshell, c2 audit mode, common criteria
compliance enabled), ``sys.server_audits`` with ``sys.dm_server_audit_status``,
``sys.server_audit_specifications``, ``sys.dm_server_registry`` (ForceEncryption, AuditLevel),
``sys.dm_exec_connections`` (encrypt_option), ``SERVERPROPERTY``. The account needs
``VIEW SERVER STATE`` and ``VIEW ANY DEFINITION``; ``PWDCOMPARE`` tells an empty password
without reading the hash out.
"""

from __future__ import annotations

from ihconform.facts.contract import HostFacts
from ihconform.facts.db_driver import Query, rows
from ihconform.facts.db_posture import DbAccount, DbPosture

QUERIES: tuple[Query, ...] = (
    Query("version", "SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(64)) AS version, "
          "CAST(SERVERPROPERTY('ProductLevel') AS nvarchar(64)) AS level, "
          "CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition"),
    Query("logins", "SELECT name, principal_id, is_disabled, is_policy_checked, is_expiration_checked, "
          "CASE WHEN password_hash IS NULL THEN 1 ELSE 0 END AS no_password, "
          "PWDCOMPARE('', password_hash) AS empty_password FROM sys.sql_logins"),
    Query("sysadmins", "SELECT m.name, m.type_desc, m.is_disabled FROM sys.server_role_members rm "
          "JOIN sys.server_principals r ON rm.role_principal_id = r.principal_id "
          "JOIN sys.server_principals m ON rm.member_principal_id = m.principal_id WHERE r.name = 'sysadmin'"),
    Query("configurations", "SELECT name, CAST(value_in_use AS int) AS value FROM sys.configurations "
          "WHERE name IN ('xp_cmdshell', 'c2 audit mode', 'common criteria compliance enabled', "
          "'Ole Automation Procedures', 'remote admin connections')"),
    Query("registry", "SELECT value_name, CAST(value_data AS nvarchar(256)) AS value_data "
          "FROM sys.dm_server_registry WHERE value_name IN ('ForceEncryption', 'AuditLevel')"),
    Query("audits", "SELECT a.name, a.type_desc, a.on_failure_desc, s.status_desc FROM sys.server_audits a "
          "LEFT JOIN sys.dm_server_audit_status s ON a.audit_id = s.audit_id"),
    Query("audit_specs", "SELECT name, is_state_enabled FROM sys.server_audit_specifications"),
    Query("session", "SELECT encrypt_option, net_transport, auth_scheme FROM sys.dm_exec_connections "
          "WHERE session_id = @@SPID"),
)

#: ``AuditLevel`` in the registry: 0 none, 1 successful logins, 2 failed logins, 3 both.
AUDIT_LEVELS = {0: "none", 1: "success only", 2: "failure only", 3: "success and failure"}
#: The well-known sa login is principal_id 1 whatever it is renamed to.
SA_PRINCIPAL_ID = 1


def _true(v: object) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes")


def posture(facts: HostFacts) -> DbPosture:
    ver = rows(facts, "version")
    logins = rows(facts, "logins")
    admins = rows(facts, "sysadmins")
    conf = {str(r["name"]).lower(): int(r["value"]) for r in rows(facts, "configurations")}
    reg = {str(r["value_name"]): str(r["value_data"]) for r in rows(facts, "registry")}
    audits = rows(facts, "audits")
    specs = rows(facts, "audit_specs")
    session = rows(facts, "session")
    admin_names = {str(a["name"]) for a in admins if not _true(a["is_disabled"])}
    accounts = tuple(DbAccount(
        name=str(lg["name"]), can_login=not _true(lg["is_disabled"]),
        has_password=not _true(lg["no_password"]) and not _true(lg["empty_password"]),
        superuser=str(lg["name"]) in admin_names, policy_enforced=_true(lg["is_policy_checked"]),
    ) for lg in logins)
    sa = next((lg for lg in logins if int(lg["principal_id"]) == SA_PRINCIPAL_ID), None)
    enabled = [lg for lg in logins if not _true(lg["is_disabled"])]
    level = int(reg["AuditLevel"]) if reg.get("AuditLevel", "").isdigit() else None
    started = sorted(str(a["name"]) for a in audits if str(a["status_desc"] or "").upper() == "STARTED")
    on_specs = sorted(str(s["name"]) for s in specs if _true(s["is_state_enabled"]))
    findings = []
    if conf.get("xp_cmdshell"):
        findings.append("xp_cmdshell enabled (operating-system commands from SQL)")
    if conf.get("ole automation procedures"):
        findings.append("Ole Automation Procedures enabled")
    if sa is not None and not _true(sa["is_disabled"]):
        findings.append(f"sa (principal 1, named {sa['name']!r}) is enabled")
    force = reg.get("ForceEncryption")
    sess = session[0] if session else {}
    policy_all = bool(enabled) and all(_true(lg["is_policy_checked"]) for lg in enabled)
    return DbPosture(
        engine="sqlserver",
        version=" ".join(str(ver[0][k]) for k in ("version", "level", "edition")) if ver else "",
        accounts=accounts,
        complexity=policy_all or not enabled,
        min_length=None,
        # CHECK_POLICY applies the Windows account-lockout policy of the server to SQL logins
        max_failed_logins=None,
        idle_timeout_s=None, idle_supported=False,
        audit_on=(level in (2, 3)) and (bool(started and on_specs) or _true(conf.get("c2 audit mode", 0))
                                         or _true(conf.get("common criteria compliance enabled", 0))),
        audit_detail={"login_auditing": AUDIT_LEVELS.get(level, "unknown") if level is not None else None,
                      "server_audits_started": started, "audit_specifications_enabled": on_specs,
                      "c2_audit_mode": conf.get("c2 audit mode"),
                      "common_criteria_compliance": conf.get("common criteria compliance enabled")},
        tls_required=None if force is None else force == "1",
        tls_detail={"ForceEncryption": force, "tester_session_encrypt_option": sess.get("encrypt_option"),
                    "tester_session_transport": sess.get("net_transport")},
        privilege_findings=tuple(findings),
        weak_hash_accounts=(),  # SQL Server 2012+ stores SHA-512 salted hashes for every SQL login
        unreadable={"max_failed_logins": "SQL logins with CHECK_POLICY use the Windows account-lockout policy of "
                    "the server (judged on the Windows host); the threshold is not visible from SQL",
                    "idle_timeout": "SQL Server has no server-side idle-session time-out"},
        )


def lockout_delegated(p: DbPosture) -> bool:
    """Every enabled SQL login is under CHECK_POLICY (lockout delegated to Windows)."""
    enabled = [a for a in p.accounts if a.can_login]
    return bool(enabled) and all(a.policy_enforced for a in enabled)
