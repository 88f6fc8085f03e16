"""Database facts: queried with the engine's own client, on the database host, in its batch.

Why the client on the host (over SSH) and not a direct connection from the tester:

- **No database credentials.** The client runs as the engine's OS account (``postgres``
  through peer authentication on the Unix socket; ``root`` through MariaDB's
  ``unix_socket`` plugin), so the tester never holds, types or stores a database password.
- **It works wherever SSH works**, through the bastion (``jump``), with the database port
  closed to the tester, as it should be at level 3.
- **It sees the effective configuration**: ``pg_settings``, ``pg_hba_file_rules``,
  ``SHOW GLOBAL VARIABLES`` are what the running server uses, not a file that may not be loaded.
- **One round trip**: the queries are sections of the host's one batched script (root
  sections, inside the one sudo call), one client process per database.

Every query runs read-only (PostgreSQL: ``default_transaction_read_only`` in ``PGOPTIONS``;
MySQL/MariaDB: ``SET SESSION TRANSACTION READ ONLY`` first), with a statement timeout.
Password hashes never leave the host: the SQL reduces them to a scheme (SCRAM, MD5, NONE).
Every SQL text and argument is shell-quoted (:func:`quote_command`, :func:`shlex.quote`).

达梦 (DM) and 人大金仓 (KingbaseES) are an extension point: :data:`SECTION_BUILDERS` maps an
engine to the function that builds its section; dm and kingbase have none yet, and their
probes report 未检查 with the reason (see docs/probes.md).
"""

# SQL here is built from constants, values escaped by _sql_literal(), and identifiers that
# matched _IDENT; S608 cannot see that.
# ruff: noqa: S608

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from ihconform.errors import FactUnavailable, NotChecked
from ihconform.facts.collect import HostFacts, Section
from ihconform.facts.host import split_sections
from ihconform.inventory import Database
from ihconform.transport.base import quote_command

#: The fact family a database probe names in ``@probe(facts=...)``: every database section
#: of the host (``db.<id>``), built from the inventory by :func:`database_sections`.
DB_FACTS = "db"
#: The family of the application audit-table queries (``dbaudit.<id>``); a separate section
#: with its own timeout, because ``min(ts)`` on a large unindexed table may take a while.
DB_AUDIT_FACTS = "dbaudit"

PG_SETTINGS: tuple[str, ...] = (
    "server_version_num", "ssl", "ssl_min_protocol_version", "password_encryption", "idle_session_timeout",
    "idle_in_transaction_session_timeout", "log_connections", "log_disconnections", "logging_collector",
    "log_line_prefix", "log_statement", "log_destination", "log_file_mode", "shared_preload_libraries",
    "archive_mode", "archive_command", "archive_library", "wal_level", "data_checksums", "listen_addresses",
    "pgaudit.log", "credcheck.max_auth_failure", "auth_delay.milliseconds",
)
_PG_ROLES = (
    "SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolreplication, rolbypassrls, "
    "CASE WHEN rolpassword IS NULL THEN 'NONE' WHEN rolpassword LIKE 'SCRAM-SHA-256$%' THEN 'SCRAM-SHA-256' "
    "WHEN rolpassword LIKE 'md5%' THEN 'MD5' ELSE 'OTHER' END, coalesce(rolvaliduntil::text, '') "
    "FROM pg_authid ORDER BY rolname"
)
_PG_HBA = (
    "SELECT line_number, type, array_to_string(database, ','), array_to_string(user_name, ','), "
    "coalesce(address, ''), coalesce(netmask, ''), coalesce(auth_method, ''), coalesce(error, '') "
    "FROM pg_hba_file_rules ORDER BY line_number"
)
_PG_ARCHIVER = (
    "SELECT archived_count, coalesce(extract(epoch FROM last_archived_time)::bigint::text, ''), "
    "failed_count, extract(epoch FROM now())::bigint, (SELECT count(*) FROM pg_stat_replication) "
    "FROM pg_stat_archiver"
)

MY_VARIABLES: tuple[str, ...] = (
    "version", "version_comment", "have_ssl", "ssl_cert", "require_secure_transport", "tls_version",
    "wait_timeout", "interactive_timeout", "log_bin", "general_log", "log_error", "default_authentication_plugin",
    "authentication_policy", "max_password_errors", "server_audit_logging", "server_audit_events",
    "audit_log_policy", "default_password_lifetime", "local_infile", "bind_address", "gtid_mode",
    # MySQL 8 validate_password component (dotted) and 5.7 plugin (underscored); connection_control
    "validate_password.policy", "validate_password.length", "validate_password_policy", "validate_password_length",
    "connection_control_failed_connections_threshold",
)
#: ``INVALID``: MariaDB's 'invalid' marker, or the sentinel MySQL stores for its reserved
#: accounts (5.7 ``*THISISNOTAVALIDPASSWORDTHATCANBEUSEDHERE``, 8.x ``$A$005$THISISACOMBINATION
#: OFINVALIDSALTANDPASSWORDTHATMUSTNEVERBRBEUSED``; MySQL manual "Reserved Accounts"): no
#: password can match it.
_MY_USERS = ("SELECT User, Host, plugin, IF(authentication_string = '', 'EMPTY', "
             "IF(authentication_string = 'invalid' OR authentication_string LIKE '%THISIS%VALID%', "
             "'INVALID', 'SET')), Super_priv, "
             "Grant_priv, IF(password_expired = 'Y', 'Y', 'N') FROM mysql.user ORDER BY User, Host")

#: The scheme the role query reports for a role with no stored password.
NO_PASSWORD = "NONE"  # noqa: S105 - a marker, not a secret
#: Plain identifiers only (``db.schema.table``): the name goes into SQL text.
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$")


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _pg_prefix(db: Database, dbname: str) -> str:
    """``runuser -u <os account> -- env PGOPTIONS=... psql ...`` with every argument quoted."""
    argv = ["runuser", "-u", db.admin_user or "postgres", "--", "env",
            "PGOPTIONS=-c default_transaction_read_only=on -c statement_timeout=5000",
            "psql", "-X", "-A", "-t", "-q", "-F", "|", "-p", str(db.port), "-d", dbname]
    if db.socket:
        argv[argv.index("-p"):argv.index("-p")] = ["-h", db.socket]
    # cd /: the engine account may not enter the login user's working directory
    return "cd / && " + " ".join(shlex.quote(a) for a in argv)


def _pg_section(db: Database) -> Section:
    settings = ("SELECT name, setting FROM pg_settings WHERE name IN ("
                + ", ".join(_sql_literal(s) for s in PG_SETTINGS) + ") ORDER BY name")
    parts: list[str] = []
    for header, sql in (("settings", settings), ("roles", _PG_ROLES), ("hba", _PG_HBA),
                        ("archiver", _PG_ARCHIVER)):
        parts += ["-c", f"SELECT '## {header}'", "-c", sql]
    command = _pg_prefix(db, "postgres") + " " + " ".join(shlex.quote(p) for p in parts)
    return Section(f"{DB_FACTS}.{db.id}", command, root=True, timeout=15, ok_codes=(0, 1))


def _my_client(db: Database, sql: str) -> str:
    """The MariaDB/MySQL client on the socket, as root (``unix_socket``) or ``admin_user``."""
    run_as = quote_command("runuser -u %s -- ", db.admin_user) if db.admin_user else ""
    sock = quote_command(" -S %s", db.socket) if db.socket else ""
    return ('cd / && m=$(command -v mariadb || command -v mysql) && ' + run_as
            + '"$m" --protocol=socket' + sock + quote_command(" -N -B -e %s", sql))


def _my_section(db: Database) -> Section:
    variables = ("SHOW GLOBAL VARIABLES WHERE Variable_name IN ("
                 + ", ".join(_sql_literal(v) for v in MY_VARIABLES) + ")")
    sql = "; ".join([
        "SET SESSION TRANSACTION READ ONLY", "SET SESSION max_statement_time = 5" if db.engine == "mariadb"
        else "SET SESSION max_execution_time = 5000",
        "SELECT '## variables'", variables,
        "SELECT '## plugins'", "SELECT PLUGIN_NAME, PLUGIN_STATUS FROM information_schema.PLUGINS "
        "WHERE PLUGIN_TYPE IN ('AUDIT', 'AUTHENTICATION', 'PASSWORD VALIDATION')",
        "SELECT '## users'", _MY_USERS,
        # replicas connected to this server now: one "Binlog Dump" (GTID) thread each
        "SELECT '## replicas'", "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
        "WHERE COMMAND LIKE 'Binlog Dump%'",
    ]) + ";"
    return Section(f"{DB_FACTS}.{db.id}", _my_client(db, sql), root=True, timeout=15)


def _pg_audit_section(db: Database) -> Section | None:
    """Age in seconds of the oldest row of the application audit table.

    The timestamp column is found from the catalog (the first ``timestamp``/``date``
    column), and the dynamic query runs through ``query_to_xml`` so it stays one read-only
    SELECT. ``audit_table`` is ``database.schema.table`` or ``database.table``."""
    parts = db.audit_table.split(".")
    if not _IDENT.match(db.audit_table) or len(parts) < 2:
        return None
    dbname, schema, table = (parts[0], "public", parts[1]) if len(parts) == 2 else parts
    rel = _sql_literal(f'"{schema}"."{table}"')
    sql = (
        "SELECT '## audit', c.attname, (xpath('/row/a/text()', query_to_xml(format("
        "'SELECT extract(epoch FROM now() - min(%I))::bigint AS a, count(*) AS n FROM %s', "
        f"c.attname, {rel}::regclass), false, true, '')))[1]::text, "
        "(xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', "
        f"{rel}::regclass), false, true, '')))[1]::text "
        f"FROM pg_attribute c WHERE c.attrelid = {rel}::regclass AND c.attnum > 0 AND NOT c.attisdropped "
        "AND c.atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) "
        "ORDER BY c.attnum LIMIT 1"
    )
    prefix = _pg_prefix(db, dbname).replace("statement_timeout=5000", "statement_timeout=50000")
    return Section(f"{DB_AUDIT_FACTS}.{db.id}", prefix + " " + quote_command("-c %s", sql), root=True,
                   timeout=60)


def _my_audit_section(db: Database) -> Section | None:
    parts = db.audit_table.split(".")
    if not _IDENT.match(db.audit_table) or len(parts) != 2:
        return None
    schema, table = parts
    find = ("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = " + _sql_literal(schema)
            + " AND TABLE_NAME = " + _sql_literal(table)
            + " AND DATA_TYPE IN ('datetime', 'timestamp', 'date') ORDER BY ORDINAL_POSITION LIMIT 1")
    sql = "; ".join([
        "SET SESSION TRANSACTION READ ONLY", f"SET @c = ({find})",
        f"SET @q = CONCAT('SELECT ''## audit'', ''', @c, ''', TIMESTAMPDIFF(SECOND, MIN(`', @c, "
        f"'`), NOW()), COUNT(*) FROM `{schema}`.`{table}`')",
        "PREPARE s FROM @q", "EXECUTE s",
    ]) + ";"
    return Section(f"{DB_AUDIT_FACTS}.{db.id}", _my_client(db, sql), root=True, timeout=60)


#: The extension point: engine -> builder of its main fact section. 达梦 (``dm``) and
#: 人大金仓 (``kingbase``) plug in here (``disql`` / ``ksql`` on the host, as root or the
#: engine's OS account) together with a parser; until then they are 未检查.
SECTION_BUILDERS: dict[str, Callable[[Database], Section]] = {
    "postgresql": _pg_section,
    "mysql": _my_section,
    "mariadb": _my_section,
    # the driver engines are queried from the tester (facts/db_driver.py); on their host the batch
    # only reads the server's network configuration where a probe needs it (Oracle sqlnet.ora)
    "oracle": lambda db: _oracle_netconf(db.id),
}
AUDIT_SECTION_BUILDERS: dict[str, Callable[[Database], Section | None]] = {
    "postgresql": _pg_audit_section,
    "mysql": _my_audit_section,
    "mariadb": _my_audit_section,
}


def _oracle_netconf(db_id: str) -> Section:
    from ihconform.facts.db_oracle import netconf_section  # the Oracle module imports the driver module

    return netconf_section(db_id)


def database_sections(db: Database, families: set[str] | None) -> list[Section]:
    """The sections for one database, limited to the requested fact families."""
    out: list[Section] = []
    if (families is None or DB_FACTS in families) and db.engine in SECTION_BUILDERS:
        out.append(SECTION_BUILDERS[db.engine](db))
    if (families is None or DB_AUDIT_FACTS in families) and db.audit_table \
            and db.engine in AUDIT_SECTION_BUILDERS:
        sec = AUDIT_SECTION_BUILDERS[db.engine](db)
        if sec is not None:
            out.append(sec)
    return out


# ---- parsing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PgRole:
    name: str
    can_login: bool
    superuser: bool
    create_role: bool
    replication: bool
    bypass_rls: bool
    password: str  # the stored scheme only: NONE, SCRAM-SHA-256, MD5, OTHER
    valid_until: str


#: Addresses (with a zero netmask) that match every client.
_ANY_ADDR = ("0.0.0.0", "::")  # noqa: S104 - recognised in pg_hba rules, not bound


@dataclass(frozen=True)
class HbaRule:
    line: int
    type: str  # local, host, hostssl, hostnossl, hostgssenc, hostnogssenc
    databases: str
    users: str
    address: str
    netmask: str
    method: str
    error: str

    @property
    def network(self) -> bool:
        return self.type != "local"

    @property
    def world_open(self) -> bool:
        """Matches any client address: ``all``, 0.0.0.0/0 or ::/0."""
        if self.address == "all":
            return True
        return self.address in _ANY_ADDR and self.netmask in (*_ANY_ADDR, "")

    @property
    def loopback(self) -> bool:
        return self.address.startswith("127.") or self.address == "::1" or self.address == "samehost"


@dataclass(frozen=True)
class MyUser:
    user: str
    host: str
    plugin: str
    auth: str  # EMPTY or SET
    super_priv: bool
    grant_priv: bool
    password_expired: bool


@dataclass
class DbFacts:
    """What one database's section says, parsed; ``engine`` decides which fields are filled."""

    engine: str
    settings: dict[str, str] = field(default_factory=dict)  # pg_settings or global variables
    roles: list[PgRole] = field(default_factory=list)
    hba: list[HbaRule] = field(default_factory=list)
    users: list[MyUser] = field(default_factory=list)
    plugins: dict[str, str] = field(default_factory=dict)  # MySQL/MariaDB plugin -> status
    archiver: dict[str, int | None] = field(default_factory=dict)
    #: Replicas connected now (pg_stat_replication rows; MySQL/MariaDB binlog dump threads);
    #: None when the section did not report it.
    replicas: int | None = None

    @property
    def is_pg(self) -> bool:
        return self.engine == "postgresql"


def _errors(lines: list[str]) -> list[str]:
    return [ln for ln in lines if re.match(r"^(psql:|ERROR|FATAL|runuser:|ERROR \d+)", ln)]


def _need(groups: dict[str, list[str]], name: str, where: str) -> list[str]:
    if name not in groups:
        head = (groups.get("") or ["no output"])[0]
        raise FactUnavailable(f"{where}: query output has no {name!r} part: {head[:200]}")
    errs = _errors(groups[name])
    if errs:
        raise FactUnavailable(f"{where}: {name} query failed: {errs[0][:200]}")
    return groups[name]


def parse_pg(text: str, where: str) -> DbFacts:
    groups = split_sections(text)
    out = DbFacts("postgresql")
    for line in _need(groups, "settings", where):
        k, _, v = line.partition("|")
        out.settings[k] = v
    for line in _need(groups, "roles", where):
        f = line.split("|")
        if len(f) >= 8:
            out.roles.append(PgRole(f[0], f[1] == "t", f[2] == "t", f[3] == "t", f[4] == "t", f[5] == "t",
                                    f[6], f[7]))
    for line in _need(groups, "hba", where):
        f = line.split("|")
        if len(f) >= 8 and f[0].isdigit():
            out.hba.append(HbaRule(int(f[0]), f[1], f[2], f[3], f[4], f[5], f[6], "|".join(f[7:])))
    arch = groups.get("archiver", [])
    if arch and not _errors(arch):
        f = arch[0].split("|")
        if len(f) >= 5:
            out.archiver = {"archived_count": _int(f[0]), "last_archived": _int(f[1]),
                            "failed_count": _int(f[2]), "now": _int(f[3]), "replicas": _int(f[4])}
            out.replicas = out.archiver["replicas"]
    return out


def parse_my(text: str, where: str) -> DbFacts:
    groups = split_sections(text)
    out = DbFacts("mysql")
    for line in _need(groups, "variables", where):
        k, _, v = line.partition("\t")
        out.settings[k] = v
    for line in _need(groups, "plugins", where):
        k, _, v = line.partition("\t")
        out.plugins[k.lower()] = v
    for line in _need(groups, "users", where):
        f = line.split("\t")
        if len(f) >= 7:
            out.users.append(MyUser(f[0], f[1], f[2], f[3], f[4] == "Y", f[5] == "Y", f[6] == "Y"))
    rep = groups.get("replicas", [])
    if rep and not _errors(rep):
        out.replicas = _int(rep[0])
    return out


def _int(v: str) -> int | None:
    return int(v) if v.strip().lstrip("-").isdigit() else None


def db_facts(facts: HostFacts, db: Database) -> DbFacts:
    """Parsed facts of ``db`` from its host's batch. 达梦/金仓 -> NotChecked (extension point)."""
    if db.engine not in ("postgresql", "mysql", "mariadb"):
        raise NotChecked(f"{db.engine} 数据库尚无自动探针 / no automated probe for {db.engine} yet "
                         "(extension point: ihconform.facts.db.SECTION_BUILDERS); judge it by attestation")
    where = f"database {db.id} ({db.engine} on {db.host})"
    text = facts.text(f"{DB_FACTS}.{db.id}")
    parsed = parse_pg(text, where) if db.engine == "postgresql" else parse_my(text, where)
    parsed.engine = db.engine
    return parsed


@dataclass(frozen=True)
class AuditTableAge:
    column: str
    oldest_age_s: int | None  # None: the table is empty
    rows: int


def audit_table_age(facts: HostFacts, db: Database) -> AuditTableAge:
    """Oldest-row age of the declared application audit table (raises if not queryable)."""
    name = f"{DB_AUDIT_FACTS}.{db.id}"
    if name not in facts.specs:
        raise FactUnavailable(f"database {db.id}: audit_table {db.audit_table!r} was not queried (it must be "
                              "a plain name: database.schema.table for PostgreSQL, schema.table for MySQL)")
    text = facts.text(name)
    sep = "|" if db.engine == "postgresql" else "\t"
    for line in text.splitlines():
        if line.startswith("## audit" + sep):
            f = line.split(sep)
            if len(f) >= 4:
                return AuditTableAge(f[1], _int(f[2]), _int(f[3]) or 0)
    errs = _errors(text.splitlines())
    raise FactUnavailable(f"database {db.id}: audit table {db.audit_table!r}: "
                          + (errs[0][:200] if errs else "no timestamp column found or table missing"))
