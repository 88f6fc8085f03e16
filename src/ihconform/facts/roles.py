"""Role detection: what a host really runs, from its listening sockets and processes.

A declared role is a claim; the detected role is evidence. Detection looks at processes
that *listen* (a stopped client binary is not a database server), falling back to the
process table when socket owners are not visible.
"""

from __future__ import annotations

from dataclasses import dataclass

from ihconform.facts.host import HostView

DB_ENGINES: dict[str, str] = {
    "postgres": "postgresql", "postmaster": "postgresql", "mysqld": "mysql", "mariadbd": "mariadb",
    "dmserver": "dm", "kingbase": "kingbase", "redis-server": "redis", "mongod": "mongodb",
    "ora_pmon": "oracle", "sqlservr": "mssql",
}
APP_SERVERS: dict[str, str] = {
    "nginx": "nginx", "httpd": "apache", "apache2": "apache", "java": "java/tomcat", "node": "node",
    "gunicorn": "gunicorn", "uwsgi": "uwsgi", "php-fpm": "php-fpm", "tongweb": "tongweb",
}
DB_PORTS = {5432: "postgresql", 3306: "mysql", 5236: "dm", 54321: "kingbase", 6379: "redis",
            27017: "mongodb", 1521: "oracle", 1433: "mssql"}


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

    @property
    def roles(self) -> set[str]:
        out = set()
        if self.databases:
            out.add("db")
        if self.app_servers:
            out.add("app")
        return out


def detect_roles(view: HostView) -> DetectedRoles:
    dbs: set[str] = set()
    apps: set[str] = set()
    ports: set[int] = set()
    owners_known = False
    for s in view.listening:
        if s.process:
            owners_known = True
        if (e := _engine(s.process, DB_ENGINES)) is not None:
            dbs.add(e)
            ports.add(s.port)
        elif s.port in DB_PORTS and s.proto == "tcp" and not s.process:
            dbs.add(DB_PORTS[s.port])
            ports.add(s.port)
        if (a := _engine(s.process, APP_SERVERS)) is not None:
            apps.add(a)
    if not owners_known:  # socket owners hidden (no root): use the process table
        for _user, comm, _args in view.processes:
            if (e := _engine(comm, DB_ENGINES)) is not None:
                dbs.add(e)
            if (a := _engine(comm, APP_SERVERS)) is not None:
                apps.add(a)
    return DetectedRoles(tuple(sorted(dbs)), tuple(sorted(apps)), tuple(sorted(ports)))
