"""PostgreSQL 15 and MariaDB on db01, configured the way the database checks expect.

Why both engines: the harness has a check family per engine, and a hospital system often runs
one for the HIS and another for the application. Data directories, sockets, logs and
certificates all live in the runtime folder; initialisation runs inside the host so its
temporary files land in the host's private /tmp.
"""

from __future__ import annotations

import functools
import os
import pwd
import secrets
import shutil
import socket
from pathlib import Path

from ihconform.lab import plan
from ihconform.lab.context import LabContext, Service
from ihconform.lab.proc import LabError, detach, host_exec, run, start_daemon, tail, wait_for

PG_CTL = plan.PG_BIN / "pg_ctl"
INITDB = plan.PG_BIN / "initdb"


def _own(path: Path, user: str, mode: int) -> None:
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, mode)


def pg_paths(runtime: Path, host_id: str) -> dict[str, Path]:
    base = runtime / "hosts" / host_id / "pg"
    return {"base": base, "data": base / "data", "sock": base / "sock", "log": base / "postgres.log",
            "archive": base / "archive", "pwfile": base / "pwfile"}


def pg_conf(address: str, sock: Path, archive: Path, *, ssl: bool, md5: bool = False) -> str:
    """Settings appended to postgresql.conf (the last occurrence of a setting wins). ``md5``:
    passwords stored as MD5 (variant pg-md5), below PostgreSQL 15's stock scram-sha-256."""
    lines = [
        "# ihconform lab",
        f"listen_addresses = '{address}'",
        "port = 5432",
        f"unix_socket_directories = '{sock}'",
        "max_connections = 30",
        "shared_buffers = 16MB",
        "fsync = off",
        f"password_encryption = '{'md5' if md5 else 'scram-sha-256'}'",
        f"ssl = {'on' if ssl else 'off'}",
    ]
    if ssl:
        lines += ["ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'", "ssl_ca_file = 'root.crt'",
                  "ssl_min_protocol_version = 'TLSv1.2'"]
    lines += [
        "logging_collector = on",
        "log_directory = 'log'",
        "log_filename = 'postgresql-%a.log'",
        "log_truncate_on_rotation = on",
        "log_rotation_age = 1d",
        "log_connections = on",
        "log_disconnections = on",
        "log_line_prefix = '%m [%p] %q%u@%d %h '",
        "log_statement = 'ddl'",
        "archive_mode = on",
        f"archive_command = 'test ! -f {archive}/%f && cp %p {archive}/%f'",
        "idle_session_timeout = '10min'",
        "idle_in_transaction_session_timeout = '5min'",
    ]
    return "\n".join(lines) + "\n"


def pg_hba(network_trust: bool, *, ssl: bool = True) -> str:
    """Local peer for the OS accounts; network lines only ``hostssl`` with SCRAM (``host``
    when the server offers no TLS, variant pg-no-tls: a hostssl line could never match)."""
    lines = ["# ihconform lab", "local\tall\tall\t\t\tpeer"]
    if network_trust:
        lines.append(f"host\tall\tall\t{plan.LAN}\ttrust")
    kind = "hostssl" if ssl else "host"
    lines += [f"{kind}\tall\tall\t{plan.LAN}\tscram-sha-256",
              f"{kind}\tall\tall\t127.0.0.1/32\tscram-sha-256"]
    return "\n".join(lines) + "\n"


def start_postgres(ctx: LabContext, host_id: str, address: str, *, hardened: bool = True) -> None:
    """initdb, configure and start one cluster on ``host_id`` (listening on ``address``)."""
    init = ctx.inits[host_id]
    p = pg_paths(ctx.runtime, host_id)
    p["base"].mkdir(parents=True, exist_ok=True)
    for key, mode in (("data", 0o700), ("sock", 0o755), ("archive", 0o700)):
        p[key].mkdir(exist_ok=True)
        _own(p[key], "postgres", mode)
    password = secrets.token_urlsafe(18)
    p["pwfile"].write_text(password + "\n")
    _own(p["pwfile"], "postgres", 0o600)
    p["log"].touch()
    _own(p["log"], "postgres", 0o640)
    run(host_exec(init, ["runuser", "-u", "postgres", "--", INITDB, "-D", p["data"], "-U", "postgres",
                         f"--pwfile={p['pwfile']}", "--auth-local=peer", "--auth-host=scram-sha-256",
                         "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]), timeout=60)
    tls = hardened and not plan.variant_on(ctx.variants, "pg-no-tls", host_id)
    if tls:
        cert = ctx.ca.issue(f"pg-{host_id}", [f"{host_id}.lab"], [address])
        files = ((cert.cert, "server.crt"), (cert.key, "server.key"), (ctx.ca.cert_path, "root.crt"))
        for src, name in files:
            shutil.copyfile(src, p["data"] / name)
            _own(p["data"] / name, "postgres", 0o600)
    with (p["data"] / "postgresql.conf").open("a") as f:
        f.write(pg_conf(address, p["sock"], p["archive"], ssl=tls,
                        md5=plan.variant_on(ctx.variants, "pg-md5", host_id)))
    (p["data"] / "pg_hba.conf").write_text(pg_hba(host_id == "db01" and ctx.has("pg-trust"),
                                                  ssl=not plan.variant_on(ctx.variants, "pg-no-tls", host_id)))
    _own(p["data"] / "pg_hba.conf", "postgres", 0o600)
    res = run(host_exec(init, ["runuser", "-u", "postgres", "--", PG_CTL, "-D", p["data"], "-l", p["log"],
                               "-w", "-t", "30", "-s", "start"]), check=False, timeout=60)
    if res.returncode != 0:
        raise LabError(f"PostgreSQL on {host_id} did not start: {res.stderr.strip()}\n{tail(p['log'])}")
    app_pw = secrets.token_urlsafe(18)
    ctx.secrets[f"pg-{host_id}-his_app"] = app_pw
    run(host_exec(init, ["runuser", "-u", "postgres", "--", plan.PG_BIN / "psql", "-h", p["sock"],
                         "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres"]),
        input=f"CREATE ROLE his_app LOGIN PASSWORD '{app_pw}' CONNECTION LIMIT 20;\n"
              "CREATE DATABASE his OWNER his_app;\n")


def my_paths(runtime: Path) -> dict[str, Path]:
    base = runtime / "hosts" / "db01" / "mariadb"
    return {"base": base, "data": base / "data", "sock": base / "mysqld.sock", "cnf": base / "my.cnf",
            "log": base / "error.log", "audit": base / "server_audit.log", "pid": base / "mysqld.pid"}


def my_cnf(p: dict[str, Path], address: str, audit: bool) -> str:
    lines = [
        "# ihconform lab", "[client-server]", f"socket = {p['sock']}", "", "[mariadbd]",
        "user = mysql", f"datadir = {p['data']}", f"pid-file = {p['pid']}", f"log_error = {p['log']}",
        f"bind-address = {address}", "port = 3306", f"tmpdir = {p['base']}",
        "skip-name-resolve", "local_infile = 0", "symbolic-links = 0",
        "innodb_buffer_pool_size = 16M", "performance_schema = OFF", "innodb_flush_log_at_trx_commit = 0",
        "require_secure_transport = ON", f"ssl_ca = {p['base'] / 'ca.crt'}",
        f"ssl_cert = {p['base'] / 'server.crt'}", f"ssl_key = {p['base'] / 'server.key'}",
        "tls_version = TLSv1.2,TLSv1.3",
        "wait_timeout = 600", "interactive_timeout = 600", "max_connect_errors = 10",
    ]
    if audit:
        lines += ["plugin_load_add = server_audit", "server_audit_logging = ON",
                  "server_audit_events = CONNECT,QUERY_DDL,QUERY_DCL",
                  f"server_audit_file_path = {p['audit']}", "server_audit_file_rotations = 9"]
    return "\n".join(lines) + "\n"


def start_mariadb(ctx: LabContext) -> None:
    host = plan.HOST_BY_ID["db01"]
    init = ctx.inits["db01"]
    p = my_paths(ctx.runtime)
    p["base"].mkdir(parents=True, exist_ok=True)
    _own(p["base"], "mysql", 0o750)
    cert = ctx.ca.issue("mariadb-db01", [host.fqdn], [host.address])
    for src, name in ((cert.cert, "server.crt"), (cert.key, "server.key"), (ctx.ca.cert_path, "ca.crt")):
        shutil.copyfile(src, p["base"] / name)
        _own(p["base"] / name, "mysql", 0o600)
    audit = Path("/usr/lib/mysql/plugin/server_audit.so").exists()
    p["cnf"].write_text(my_cnf(p, host.address, audit))
    os.chmod(p["cnf"], 0o644)
    run(host_exec(init, ["mariadb-install-db", f"--defaults-file={p['cnf']}", "--user=mysql",
                         "--auth-root-authentication-method=socket", "--skip-test-db"]), timeout=60)
    start_daemon(host_exec(init, detach(["/usr/sbin/mariadbd", f"--defaults-file={p['cnf']}"])),
                 p["base"] / "start.log")
    wait_for("MariaDB socket on db01 to accept connections", functools.partial(_accepts, p["sock"]), 30)
    app_pw = secrets.token_urlsafe(18)
    ctx.secrets["mariadb-db01-his_app"] = app_pw
    # app_pw is token_urlsafe output: letters, digits, - and _ only, safe inside quotes.
    sql = ("DELETE FROM mysql.global_priv WHERE User='';\n"  # noqa: S608
           f"CREATE USER 'his_app'@'198.51.100.%' IDENTIFIED BY '{app_pw}' REQUIRE SSL;\n"
           "CREATE DATABASE his;\nGRANT ALL ON his.* TO 'his_app'@'198.51.100.%';\nFLUSH PRIVILEGES;\n")
    run(["mariadb", "--no-defaults", f"--socket={p['sock']}", "-u", "root"], input=sql)


def _accepts(path: Path) -> bool:
    """Whether a server accepts connections on the UNIX socket ``path``. Not whether the file
    exists: the file can be there while nothing listens on it yet, and a client then gets
    "Can't connect ... (111)", connection refused (seen once in CI)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def register(ctx: LabContext) -> None:
    db = plan.HOST_BY_ID["db01"].ns
    ctx.add(Service("postgresql", "database", db, (("tcp", 5432),)))
    ctx.add(Service("mariadb", "database", db, (("tcp", 3306),)))
    if ctx.has("db-on-app"):
        ctx.add(Service("postgresql-app01", "database", plan.HOST_BY_ID["app01"].ns, (("tcp", 5432),),
                        note="variant db-on-app"))
    if ctx.has("socket-db"):  # listen_addresses = '': no TCP socket to wait for
        ctx.add(Service("postgresql-app01", "database", plan.HOST_BY_ID["app01"].ns, (),
                        note="variant socket-db: Unix socket only"))
