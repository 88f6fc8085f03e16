"""Role detection: what a host really runs, from its listening sockets and processes.

A declared role is a claim; the detected role is evidence. A database engine is found three
ways, each enough on its own: a TCP/UDP listener it owns (or a well-known database port), a
Unix-domain listening socket it owns or that bears a database's socket name (MariaDB with
``skip-networking``, PostgreSQL with ``listen_addresses = ''`` listen only there), and a
server process in the process table (named exactly: ``postgres_exporter`` is no database).
Application servers are found from listeners, falling back to the process table when socket
owners are not visible.
"""

from __future__ import annotations

from dataclasses import dataclass

from ihconform.facts.contract import HostFacts
from ihconform.facts.host import HostView, process_base

DB_ENGINES: dict[str, str] = {
    "postgres": "postgresql", "postmaster": "postgresql", "mysqld": "mysql", "mariadbd": "mariadb",
    "dmserver": "dm", "kingbase": "kingbase", "redis-server": "redis", "mongod": "mongodb",
    "ora_pmon": "oracle", "sqlservr": "sqlserver",
}
APP_SERVERS: dict[str, str] = {
    "nginx": "nginx", "httpd": "apache", "apache2": "apache", "java": "java/tomcat", "node": "node",
    "gunicorn": "gunicorn", "uwsgi": "uwsgi", "php-fpm": "php-fpm", "tongweb": "tongweb",
}
#: Server process names (exact) -> engine: what ``ps`` shows for a running database server.
DB_SERVER_PROCESSES: dict[str, str] = {
    "postgres": "postgresql", "postmaster": "postgresql", "mysqld": "mysql", "mariadbd": "mariadb",
    "dmserver": "dm", "kingbase": "kingbase", "redis-server": "redis", "mongod": "mongodb",
    "sqlservr": "sqlserver", "oracle": "oracle",
}
#: Socket file names databases create (PostgreSQL ``.s.PGSQL.<port>``, MySQL/MariaDB ``mysqld.sock``
#: or ``mysql.sock``, Redis ``redis*.sock``, MongoDB ``mongodb-<port>.sock``, KingbaseES ``.s.KINGBASE.<port>``).
DB_SOCKET_NAMES: tuple[tuple[str, str], ...] = (
    (".s.PGSQL.", "postgresql"), (".s.KINGBASE.", "kingbase"), ("mysqld.sock", "mysql"), ("mysql.sock", "mysql"),
    ("mariadb.sock", "mariadb"), ("redis", "redis"), ("mongodb-", "mongodb"),
)
DB_PORTS = {5432: "postgresql", 3306: "mysql", 5236: "dm", 54321: "kingbase", 6379: "redis",
            27017: "mongodb", 1521: "oracle", 1433: "sqlserver"}


def _engine(name: str, table: dict[str, str]) -> str | None:
    base = name.split("/")[-1].split(":")[0]
    for key, engine in table.items():
        if base == key or base.startswith(key):
            return engine
    return None


@dataclass(frozen=True)
class DetectedRoles:
    databases: tuple[str, ...]  # engines seen listening, e.g. ("postgresql", "mariadb")
    app_servers: tuple[str, ...]
    db_ports: tuple[int, ...]
    evidence: tuple[str, ...] = ()  # how each engine was found, e.g. "mariadb: unix /run/m.sock (mariadbd)"

    @property
    def roles(self) -> set[str]:
        out = set()
        if self.databases:
            out.add("db")
        if self.app_servers:
            out.add("app")
        return out


def _socket_engine(path: str, owner: str) -> str | None:
    if (e := _engine(owner, DB_ENGINES)) is not None:
        return e
    name = path.rsplit("/", 1)[-1]
    return next((engine for mark, engine in DB_SOCKET_NAMES if mark in name and not owner), None)


def detect_roles(view: HostView) -> DetectedRoles:
    """Database engines and application servers on one host, with how each was found."""
    dbs: set[str] = set()
    apps: set[str] = set()
    ports: set[int] = set()
    why: set[str] = set()
    owners_known = False
    for s in view.listening:
        if s.process:
            owners_known = True
        if (e := _engine(s.process, DB_ENGINES)) is not None:
            dbs.add(e)
            ports.add(s.port)
            why.add(f"{e}: {s.proto}/{s.port} ({s.process})")
        elif s.port in DB_PORTS and s.proto == "tcp" and not s.process:
            dbs.add(DB_PORTS[s.port])
            ports.add(s.port)
            why.add(f"{DB_PORTS[s.port]}: tcp/{s.port} (owner not visible)")
        if (a := _engine(s.process, APP_SERVERS)) is not None:
            apps.add(a)
    for u in view.unix_listening:
        if (e := _socket_engine(u.path, u.process)) is not None:
            dbs.add(e)
            why.add(f"{e}: unix {u.path} ({u.process or 'owner not visible'})")
    for _user, comm, args in view.processes:
        names = process_base(comm, args)
        engine = next((DB_SERVER_PROCESSES[n] for n in sorted(names) if n in DB_SERVER_PROCESSES), None)
        if engine is None and any(n.startswith("ora_pmon_") for n in names):
            engine = "oracle"
        if engine is not None:
            dbs.add(engine)
            why.add(f"{engine}: process {comm}")
        if not owners_known and (a := _engine(comm, APP_SERVERS)) is not None:  # owners hidden (no root)
            apps.add(a)
    return DetectedRoles(tuple(sorted(dbs)), tuple(sorted(apps)), tuple(sorted(ports)), tuple(sorted(why)))


#: Windows application servers by process name (Get-Process ProcessName, no ``.exe``).
WINDOWS_APP_SERVERS: dict[str, str] = {
    "w3wp": "iis", "tomcat": "java/tomcat", "java": "java/tomcat", "nginx": "nginx", "httpd": "apache",
    "node": "node", "php-cgi": "php",
}


def detect_roles_windows(facts: HostFacts) -> DetectedRoles:
    """Database engines and application servers on a Windows host, from its TCP listeners and
    their owning processes (facts/windows.py ``listening``)."""
    from ihconform.facts.windows_parse import WindowsView

    dbs: set[str] = set()
    apps: set[str] = set()
    ports: set[int] = set()
    why: set[str] = set()
    for _addr, port, proc in WindowsView(facts).listening:
        name = proc.lower()
        engine = _engine(name, DB_ENGINES) or DB_SERVER_PROCESSES.get(name)
        if engine is not None:
            dbs.add(engine)
            ports.add(port)
            why.add(f"{engine}: tcp/{port} ({proc})")
        elif (a := _engine(name, WINDOWS_APP_SERVERS)) is not None:
            apps.add(a)
    return DetectedRoles(tuple(sorted(dbs)), tuple(sorted(apps)), tuple(sorted(ports)), tuple(sorted(why)))


def detect_host_roles(facts: HostFacts) -> DetectedRoles:
    """:func:`detect_roles` or :func:`detect_roles_windows`, by the platform the facts came from."""
    if facts.identity.get("platform") == "windows":
        return detect_roles_windows(facts)
    return detect_roles(HostView(facts))
