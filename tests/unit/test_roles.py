"""Database engines found from listeners, Unix sockets and processes, and the DB/app separation
control (附录1 四(一)) judged on them: a database with networking off is still a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from ihconform import inventory as inv
from ihconform.catalog import load_profile
from ihconform.check import Check, Verdict
from ihconform.facts.collect import HostFacts
from ihconform.facts.host import HostView
from ihconform.facts.roles import detect_roles
from ihconform.probes import servers
from ihconform.results import Status
from tests.fixtures.facts.factsfix import HERE, LAB, load_dir, text, with_text

CQ = load_profile(str(Path(servers.__file__).resolve().parents[1] / "profiles" / "cq-ih-basic-2023.yaml"))
#: MariaDB started with skip-networking on app01: no TCP listener, one Unix socket, one process.
SKIP_NETWORKING_SOCKET = ('u_str LISTEN 0      80     /run/mysqld/mysqld.sock 52011 * 0 '
                          'users:(("mariadbd",pid=301,fd=19))\n')
SKIP_NETWORKING_PROCESS = "    301 mysql    mariadbd        /usr/sbin/mariadbd --skip-networking\n"


@pytest.fixture(scope="module")
def site() -> dict[str, HostFacts]:
    return {h: load_dir(HERE / "lab" / h, h) for h in ("bastion", "db01", "app01")}


def separation(site_facts: dict[str, HostFacts]) -> Verdict:
    control = next(c for c in CQ.controls if c.probe == "servers.role_separation")
    lab = LAB.model_copy(update={"hosts": tuple(h for h in LAB.hosts if h.id in site_facts)})
    check = Check(control, inv.TestObject(inv.ObjectType.SITE, "site", "lab"), lab)
    servers.test_role_separation(check, site_facts)
    assert check.verdict is not None
    return check.verdict


def test_db01_found_three_ways(site: dict[str, HostFacts]) -> None:
    d = detect_roles(HostView(site["db01"]))
    assert d.databases == ("mariadb", "postgresql") and d.db_ports == (3306, 5432)
    assert "postgresql: tcp/5432 (postgres)" in d.evidence
    assert "mariadb: unix /run/ihlab/hosts/db01/mariadb/mysqld.sock (mariadbd)" in d.evidence
    assert "postgresql: process postgres" in d.evidence


def test_conforming_lab_is_separated(site: dict[str, HostFacts]) -> None:
    v = separation(site)
    assert v.status is Status.PASS, v.reason
    assert v.observed["db01"]["databases_in_inventory"] == ["mariadb", "postgresql"]


def test_unix_socket_only_database_on_the_app_host_fails(site: dict[str, HostFacts]) -> None:
    app01 = with_text(site["app01"], "listen_unix", SKIP_NETWORKING_SOCKET)
    app01 = with_text(app01, "processes", text(app01, "processes") + SKIP_NETWORKING_PROCESS)
    d = detect_roles(HostView(app01))
    assert d.databases == ("mariadb",) and d.db_ports == ()  # no TCP listener at all
    v = separation({**site, "app01": app01})
    assert v.status is Status.FAIL
    assert "app01: database engine (mariadb) on an application host" in v.reason


@pytest.mark.parametrize(("socket", "process", "engine"), [
    # socket alone (owner hidden): PostgreSQL with listen_addresses = '' by its socket name
    ("u_str LISTEN 0 244 /var/run/postgresql/.s.PGSQL.5432 6001 * 0\n", "", "postgresql"),
    # process alone (socket list unreadable or empty)
    ("", "    402 postgres postgres        /usr/lib/postgresql/15/bin/postgres -D /srv/pg\n", "postgresql"),
    # netstat -xlp when ss is missing
    ("unix  2      [ ACC ]     STREAM     LISTENING     52011    301/mariadbd         /run/mysqld/mysqld.sock\n",
     "", "mariadb"),
])
def test_each_way_alone_finds_the_engine(site: dict[str, HostFacts], socket: str, process: str, engine: str) -> None:
    app01 = with_text(site["app01"], "listen_unix", socket)
    app01 = with_text(app01, "processes", text(app01, "processes") + process)
    assert detect_roles(HostView(app01)).databases == (engine,)


def test_exporters_and_clients_are_not_databases(site: dict[str, HostFacts]) -> None:
    lines = ("    501 prometheus postgres_export /usr/bin/postgres_exporter\n"
             "    502 www-data mysql           mysql -h db01\n"
             "    503 www-data psql            psql -h db01\n")
    app01 = with_text(site["app01"], "processes", text(site["app01"], "processes") + lines)
    assert detect_roles(HostView(app01)).databases == ()


def test_detected_engines_are_named_as_the_inventory_names_them() -> None:
    """Role separation shows the detected engines beside the inventory's ``databases:`` of the
    host: one engine must not appear under two names (SQL Server was ``mssql`` here and
    ``sqlserver`` in the inventory). Redis and MongoDB are detected but not declarable."""
    from typing import get_args

    from ihconform.facts.roles import DB_ENGINES, DB_PORTS, DB_SERVER_PROCESSES, DB_SOCKET_NAMES
    from ihconform.inventory import DbEngine

    named = {*DB_ENGINES.values(), *DB_SERVER_PROCESSES.values(), *DB_PORTS.values(),
             *(engine for _, engine in DB_SOCKET_NAMES)}
    assert named - {"redis", "mongodb"} <= set(get_args(DbEngine))
