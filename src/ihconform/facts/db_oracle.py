"""Oracle (11g–23ai): the read-only queries and their reduction to :class:`DbPosture`.

Views and columns as documented in the Oracle Database Reference (DBA_USERS, DBA_PROFILES,
DBA_USERS_WITH_DEFPWD, DBA_ROLE_PRIVS, V$PARAMETER, V$OPTION, AUDIT_UNIFIED_ENABLED_POLICIES,
V$SESSION_CONNECT_INFO, SYS_CONTEXT('USERENV', ...)). The read-only account needs ``SELECT ANY
DICTIONARY`` (or ``SELECT_CATALOG_ROLE``) and ``AUDIT_VIEWER`` for unified auditing; nothing is
written. Password hashes never leave the server: only ``PASSWORD_VERSIONS`` (which hash schemes
an account has) is read.
"""

# the IN lists are built from the module's own constant names
# ruff: noqa: S608

from __future__ import annotations

import re

from ihconform.errors import FactUnavailable
from ihconform.facts.contract import HostFacts, Section
from ihconform.facts.db_driver import Query, rows
from ihconform.facts.db_posture import DbAccount, DbPosture

PARAMETERS = ("audit_trail", "audit_sys_operations", "o7_dictionary_accessibility", "remote_login_passwordfile",
              "sec_case_sensitive_logon", "sec_max_failed_login_attempts")

QUERIES: tuple[Query, ...] = (
    Query("version", "SELECT banner FROM v$version WHERE banner LIKE 'Oracle%'"),
    Query("parameters", "SELECT name, value FROM v$parameter WHERE name IN ("
          + ", ".join(f"'{p}'" for p in PARAMETERS) + ")"),
    Query("unified", "SELECT value FROM v$option WHERE parameter = 'Unified Auditing'"),
    Query("audit_policies", "SELECT policy_name, enabled_option, entity_name, success, failure "
          "FROM audit_unified_enabled_policies"),
    Query("users", "SELECT username, account_status, profile, authentication_type, password_versions "
          "FROM dba_users"),
    Query("profiles", "SELECT profile, resource_name, limit FROM dba_profiles WHERE resource_name IN "
          "('FAILED_LOGIN_ATTEMPTS', 'PASSWORD_LOCK_TIME', 'PASSWORD_LIFE_TIME', 'PASSWORD_VERIFY_FUNCTION', "
          "'IDLE_TIME')"),
    Query("default_passwords", "SELECT username FROM dba_users_with_defpwd"),
    Query("dba_grants", "SELECT grantee FROM dba_role_privs WHERE granted_role = 'DBA'"),
    Query("session", "SELECT sys_context('USERENV', 'NETWORK_PROTOCOL') AS protocol, "
          "(SELECT LISTAGG(network_service_banner, '; ') WITHIN GROUP (ORDER BY network_service_banner) "
          "FROM v$session_connect_info WHERE sid = sys_context('USERENV', 'SID')) AS banners FROM dual"),
)

#: Accounts Oracle creates itself; locked ones are not users (``DBA_USERS.ORACLE_MAINTAINED``).
_OPEN = "OPEN"


def _limit(profiles: dict[tuple[str, str], str], profile: str, resource: str) -> str:
    """A profile's limit, resolving DEFAULT to the DEFAULT profile's value (as Oracle does)."""
    value = profiles.get((profile, resource), "DEFAULT")
    if value == "DEFAULT" and profile != "DEFAULT":
        value = profiles.get(("DEFAULT", resource), "UNLIMITED")
    return value


def _int_or_none(v: str) -> int | None:
    try:
        return int(float(v))
    except ValueError:
        return None  # UNLIMITED / NULL


def posture(facts: HostFacts) -> DbPosture:
    params = {str(r["name"]).lower(): str(r["value"] or "") for r in rows(facts, "parameters")}
    unified = any(str(r["value"]).upper() == "TRUE" for r in rows(facts, "unified"))
    policies = rows(facts, "audit_policies")
    users = rows(facts, "users")
    profiles = {(str(r["profile"]), str(r["resource_name"])): str(r["limit"]) for r in rows(facts, "profiles")}
    defpwd = {str(r["username"]) for r in rows(facts, "default_passwords")}
    dbas = {str(r["grantee"]) for r in rows(facts, "dba_grants")}
    session = rows(facts, "session")
    version = str((rows(facts, "version") or [{"banner": ""}])[0]["banner"])
    if not session:
        raise FactUnavailable("oracle: the session query returned no row")
    open_users = [u for u in users if str(u["account_status"]).upper() == _OPEN]
    accounts = tuple(DbAccount(
        name=str(u["username"]), can_login=str(u["account_status"]).upper() == _OPEN,
        has_password=None if str(u["authentication_type"]).upper() != "PASSWORD" else True,
        default_password=str(u["username"]) in defpwd, superuser=str(u["username"]) in dbas,
        policy_enforced=_limit(profiles, str(u["profile"]), "PASSWORD_VERIFY_FUNCTION") not in ("NULL", "", "None"),
    ) for u in users)
    # the weakest profile any open account is under decides
    used = sorted({str(u["profile"]) for u in open_users}) or ["DEFAULT"]
    verify = [_limit(profiles, p, "PASSWORD_VERIFY_FUNCTION") for p in used]
    fails = [_int_or_none(_limit(profiles, p, "FAILED_LOGIN_ATTEMPTS")) for p in used]
    idle = [_int_or_none(_limit(profiles, p, "IDLE_TIME")) for p in used]
    trail = params.get("audit_trail", "NONE").upper()
    enabled = sorted({str(p["policy_name"]) for p in policies})
    protocol = str(session[0]["protocol"] or "").lower()
    banners = str(session[0]["banners"] or "")
    encrypted = protocol == "tcps" or "encryption service adapter" in banners.lower()
    findings = []
    if params.get("o7_dictionary_accessibility", "FALSE").upper() == "TRUE":
        findings.append("O7_DICTIONARY_ACCESSIBILITY = TRUE (ANY privileges reach the SYS dictionary)")
    weak = tuple(sorted(f"{u['username']} {u['password_versions']}".strip() for u in open_users
                        if str(u["password_versions"] or "").strip() in ("10G", "10G 11G")))
    return DbPosture(
        engine="oracle", version=version, accounts=accounts,
        complexity=all(v not in ("NULL", "", "None") for v in verify),
        min_length=None,
        max_failed_logins=None if any(f is None for f in fails) else max(f for f in fails if f is not None),
        idle_timeout_s=None if any(i is None for i in idle) else 60 * max(i for i in idle if i is not None),
        idle_supported=True,
        audit_on=trail not in ("NONE", "FALSE", "") or (unified and bool(enabled)) or bool(enabled),
        audit_detail={"audit_trail": trail, "audit_sys_operations": params.get("audit_sys_operations"),
                      "unified_auditing_pure": unified, "unified_policies_enabled": enabled,
                      "profiles_of_open_accounts": used},
        # a plaintext session was accepted: encryption is not required. An encrypted one does not
        # show whether the server would also accept plaintext (REQUESTED vs REQUIRED in sqlnet.ora).
        tls_required=False if not encrypted else None,
        tls_detail={"tester_session_protocol": protocol, "tester_session_encrypted": encrypted,
                    "network_service_banners": banners,
                    "remote_login_passwordfile": params.get("remote_login_passwordfile")},
        privilege_findings=tuple(findings), weak_hash_accounts=weak,
        unreadable={"tls_required": "SQLNET.ENCRYPTION_SERVER / TCPS-only listener are set in sqlnet.ora and "
                    "listener.ora on the server, not in a view; only the tester's own session is seen"},
    )


# ---- the server's network configuration, from the database host's batch ----------------------

#: The running instance's ORACLE_HOME / TNS_ADMIN, taken from its pmon process environment (only
#: those two values leave the host), then sqlnet.ora and listener.ora from there.
_NETCONF = r"""p=$(pgrep -f '^ora_pmon_' | head -n 1); if [ -z "$p" ]; then echo '## absent'; exit 0; fi; \
e=$(tr '\0' '\n' < /proc/$p/environ); oh=$(printf '%s\n' "$e" | sed -n 's/^ORACLE_HOME=//p'); \
ta=$(printf '%s\n' "$e" | sed -n 's/^TNS_ADMIN=//p'); d=${ta:-$oh/network/admin}; \
for f in "$d/sqlnet.ora" "$d/listener.ora"; do if [ -f "$f" ]; then echo "## file $f"; cat "$f"; fi; done; true"""


def netconf_section(db_id: str) -> Section:
    """``db.<id>`` on the database host for an Oracle instance: its sqlnet.ora and listener.ora."""
    return Section(f"db.{db_id}", _NETCONF.replace("\\\n", " "), root=True, timeout=10)


def _ora_params(text: str) -> dict[str, str]:
    """``NAME = value`` lines of sqlnet.ora (case-insensitive names, comments dropped)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line and not line.startswith("("):
            k, _, v = line.partition("=")
            out[k.strip().upper()] = v.strip().strip("()").upper()
    return out


def network_requirement(text: str) -> tuple[bool | None, dict[str, object]]:
    """Whether the server requires encryption, from the host's sqlnet.ora/listener.ora dump:
    ``SQLNET.ENCRYPTION_SERVER = REQUIRED`` (native encryption), or listeners on TCPS only.
    None when no Oracle instance runs on the host."""
    if re.search(r"(?m)^## absent\s*$", text):
        return None, {"oracle_instance_on_host": False}
    files: dict[str, str] = {}
    for part in re.split(r"(?m)^## file ", text)[1:]:
        name, _, body = part.partition("\n")
        files[name.strip()] = body
    sqlnet = next((b for n, b in files.items() if n.endswith("sqlnet.ora")), "")
    listener = next((b for n, b in files.items() if n.endswith("listener.ora")), "")
    params = _ora_params(sqlnet)
    enc = params.get("SQLNET.ENCRYPTION_SERVER", "ACCEPTED")  # Oracle's default: ACCEPTED
    protocols = {m.upper() for m in re.findall(r"PROTOCOL\s*=\s*(\w+)", listener, re.IGNORECASE)}
    tcps_only = bool(protocols) and protocols <= {"TCPS", "IPC"} and "TCPS" in protocols
    return enc == "REQUIRED" or tcps_only, {
        "SQLNET.ENCRYPTION_SERVER": enc, "listener_protocols": sorted(protocols),
        "tcp.validnode_checking": params.get("TCP.VALIDNODE_CHECKING"), "files": sorted(files)}
