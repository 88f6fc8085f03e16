"""人大金仓 KingbaseES (V8R6): the read-only queries and their :class:`DbPosture`.

KingbaseES speaks a PostgreSQL-compatible protocol and keeps ``pg_settings``/``pg_authid``
(also under ``sys_`` names). Its own parameters, as KingbaseES's security guide
(《KingbaseES 安全指南》, help.kingbase.com.cn, kes/v8r6 safety-guide) documents them:
``passwordcheck.enable`` with ``passwordcheck.password_length`` (plugin ``passwordcheck``),
account lockout through plugin ``sys_audlog`` (``sys_audlog.error_user_connect_times``: failures
before lock, default 0 = off), audit through plugin ``sys_audit`` (``sysaudit.enable``), ``ssl``,
``client_idle_timeout`` (seconds, 0 = off). Names read from documentation, not a live server
(none can run here): the profile and docs/databases.md say so.
"""

# the IN lists are built from the module's own constant names
# ruff: noqa: S608

from __future__ import annotations

from ihconform.facts.contract import HostFacts
from ihconform.facts.db_driver import Query, rows
from ihconform.facts.db_posture import DbAccount, DbPosture

SETTINGS = ("server_version", "ssl", "password_encryption", "shared_preload_libraries", "passwordcheck.enable",
            "passwordcheck.password_length", "sys_audlog.error_user_connect_times", "sysaudit.enable",
            "client_idle_timeout", "log_connections")

QUERIES: tuple[Query, ...] = (
    Query("settings", "SELECT name, setting FROM pg_settings WHERE name IN ("
          + ", ".join(f"'{s}'" for s in SETTINGS) + ")"),
    Query("roles", "SELECT rolname, rolcanlogin, rolsuper, CASE WHEN rolpassword IS NULL THEN 'NONE' "
          "WHEN rolpassword LIKE 'SCRAM-SHA-256$%' THEN 'SCRAM-SHA-256' WHEN rolpassword LIKE 'md5%' THEN 'MD5' "
          "WHEN rolpassword LIKE 'sm3%' THEN 'SM3' ELSE 'OTHER' END AS scheme FROM pg_authid"),
    Query("hba", "SELECT type, coalesce(address, '') AS address, coalesce(auth_method, '') AS method "
          "FROM pg_hba_file_rules WHERE type <> 'local'"),
)

#: The KingbaseES 三权分立 administrators (system, security, audit) created at initialisation.
SEPARATION_ACCOUNTS = ("system", "sso", "sao")


def _on(v: str | None) -> bool:
    return str(v or "").lower() in ("on", "true", "1", "yes")


def _int(v: str | None) -> int:
    s = str(v or "").strip()
    return int(s) if s.isdigit() else 0


def posture(facts: HostFacts) -> DbPosture:
    s = {str(r["name"]): str(r["setting"]) for r in rows(facts, "settings")}
    roles = rows(facts, "roles")
    hba = rows(facts, "hba")
    libs = {x.strip() for x in s.get("shared_preload_libraries", "").split(",") if x.strip()}
    accounts = tuple(DbAccount(name=str(r["rolname"]), can_login=bool(r["rolcanlogin"]),
                               has_password=str(r["scheme"]) != "NONE", superuser=bool(r["rolsuper"]))
                     for r in roles)
    fails = _int(s.get("sys_audlog.error_user_connect_times")) if "sys_audlog" in libs else 0
    idle = _int(s.get("client_idle_timeout"))
    plain = sorted(f"{r['type']} {r['address']}".strip() for r in hba if str(r["type"]) in ("host", "hostnossl"))
    weak = tuple(sorted(f"{r['rolname']} {str(r['scheme']).lower()}" for r in roles
                        if bool(r["rolcanlogin"]) and str(r["scheme"]) in ("MD5", "OTHER")))
    return DbPosture(
        engine="kingbase", version=s.get("server_version", ""), accounts=accounts,
        complexity="passwordcheck" in libs and _on(s.get("passwordcheck.enable")),
        min_length=_int(s.get("passwordcheck.password_length")) or None,
        max_failed_logins=fails or None,
        idle_timeout_s=idle or None, idle_supported=True,
        audit_on="sys_audit" in libs and _on(s.get("sysaudit.enable")),
        audit_detail={"sysaudit.enable": s.get("sysaudit.enable"), "shared_preload_libraries": sorted(libs),
                      "log_connections": s.get("log_connections")},
        tls_required=_on(s.get("ssl")) and not plain,
        tls_detail={"ssl": s.get("ssl"), "non_tls_network_rules": plain},
        weak_hash_accounts=weak,
    )
