"""Database facts through the engine's own Python driver: Oracle, SQL Server, 达梦 DM8, 金仓 KingbaseES.

Why a driver from the tester and not a client on the host (as for PostgreSQL and MariaDB,
:mod:`ihconform.facts.db`): these engines' clients are rarely on the host's ``PATH`` (Oracle
Instant Client, ``sqlcmd`` on Windows, ``disql``/``ksql`` under the vendor's install folder), the
host may be Windows, and the vendor's own read-only audit account is how field assessors query
them. So each instance is one driver session, one batch of queries, under a read-only account the
inventory names by reference (``username_env``/``password_env``), with TLS verified where the
driver allows it.

The batch follows the collector contract (:mod:`ihconform.facts.contract`): every query is a
:class:`Section` whose ``command`` is its SQL text; its answer is the result set as JSON (columns
and rows, capped at ``MAX_ROWS``); its status is ``complete``, ``cut`` (more rows than the cap),
``failed`` (the server refused the query: the error is the output) or ``absent``. A lost session
(PEP 249 ``OperationalError``/``InterfaceError``: the connection dropped, the server went away) ends
the batch: the instance's ``error`` says where, so every control on it is 检查错误, never a verdict
on half an answer. The transcript (SQL, digest of each answer) is the evidence, as for hosts.

Drivers (imported only when an instance of that engine is collected; not installed is 检查错误):
Oracle ``oracledb`` in thin mode (pure Python, no Instant Client); SQL Server ``pytds``
(python-tds: pure Python, TLS through the standard ``ssl`` module with CA verification, no
FreeTDS build as ``pymssql`` needs); DM8 ``dmPython`` (the vendor's, its wheel carries the client
library); KingbaseES ``ksycopg2`` (the vendor's psycopg2 fork), else ``psycopg`` over its
PostgreSQL-compatible protocol.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ihconform.errors import FactUnavailable
from ihconform.facts.contract import HostFacts, Section, SectionResult
from ihconform.facts.db_posture import DbPosture
from ihconform.inventory import Database, Inventory
from ihconform.secrets import env_secret

#: Rows kept per query; a longer answer is ``cut`` (never judged as if complete).
MAX_ROWS = 5000
#: The family name of a driver instance's facts (``HostFacts.host_id`` is ``db:<id>``).
DRIVER_FAMILY = "dbi"
#: Engines collected through a driver -> the module holding their ``QUERIES`` (the per-engine SQL,
#: in one place) and ``posture(facts) -> DbPosture``.
DRIVER_MODULES: dict[str, str] = {
    "oracle": "ihconform.facts.db_oracle",
    "sqlserver": "ihconform.facts.db_sqlserver",
    "dm": "ihconform.facts.db_dm",
    "kingbase": "ihconform.facts.db_kingbase",
}
#: PEP 249 exception class names that mean the session itself is gone, not just this query.
SESSION_LOST = ("OperationalError", "InterfaceError")


class Cursor(Protocol):
    """The part of a PEP 249 cursor used here."""

    description: Sequence[Sequence[Any]] | None

    def execute(self, operation: str) -> object: ...

    def fetchmany(self, size: int) -> Sequence[Sequence[Any]]: ...

    def close(self) -> None: ...


class Connection(Protocol):
    """The part of a PEP 249 connection used here."""

    def cursor(self) -> Cursor: ...

    def close(self) -> None: ...


Connector = Callable[[Database, str, str, str], Connection]


@dataclass(frozen=True)
class Query:
    """One read-only query of an engine's batch: its section name and SQL."""

    name: str
    sql: str


def queries_for(engine: str) -> tuple[Query, ...]:
    found: tuple[Query, ...] = importlib.import_module(DRIVER_MODULES[engine]).QUERIES
    return found


def posture_of(engine: str, facts: HostFacts) -> DbPosture:
    """The engine-neutral posture from an instance's complete answers (FactUnavailable otherwise)."""
    if facts.error:
        raise FactUnavailable(f"database {facts.host_id.removeprefix('db:')}: {facts.error}")
    build: Callable[[HostFacts], DbPosture] = importlib.import_module(DRIVER_MODULES[engine]).posture
    return build(facts)


def sections_of(engine: str, db_id: str) -> list[Section]:
    """The batch as contract sections (``<query>``; ``command`` is the SQL text)."""
    return [Section(q.name, q.sql, timeout=30, ok_codes=(0,)) for q in queries_for(engine)]


def _cell(v: Any) -> Any:
    if v is None or isinstance(v, (int, float, str, bool)):
        return v
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    return str(v)


def _lost(exc: BaseException) -> bool:
    return any(c.__name__ in SESSION_LOST for c in type(exc).__mro__)


def run_batch(db: Database, conn: Connection, *, max_rows: int = MAX_ROWS) -> HostFacts:
    """Run the engine's queries on one open session, in order; never raises for the target's
    answers (a refused query is a failed section, a lost session the instance's ``error``)."""
    facts = HostFacts(host_id=f"db:{db.id}", round_trips=1)
    start = time.monotonic()
    for spec in sections_of(db.engine, db.id):
        facts.specs[spec.name] = spec
    for spec in facts.specs.values():
        t0 = time.monotonic()
        try:
            cur = conn.cursor()
            try:
                cur.execute(spec.command)
                columns = [str(d[0]).lower() for d in (cur.description or ())]
                rows = list(cur.fetchmany(max_rows + 1))
            finally:
                cur.close()
        except Exception as exc:  # any driver error is recorded, never raised into a probe
            message = f"{type(exc).__name__}: {exc}".strip()
            facts.sections[spec.name] = SectionResult(spec.name, spec.command, 1, message.encode(), False,
                                                      False, int((time.monotonic() - t0) * 1000))
            if _lost(exc):
                facts.error = f"database session lost during query {spec.name!r}: {message[:300]}"
                break
            continue
        cut = len(rows) > max_rows
        body = json.dumps({"columns": columns, "rows": [[_cell(v) for v in r] for r in rows[:max_rows]]},
                          ensure_ascii=False, sort_keys=True)
        facts.sections[spec.name] = SectionResult(spec.name, spec.command, 0, body.encode(), cut, False,
                                                  int((time.monotonic() - t0) * 1000))
    facts.duration_s = time.monotonic() - start
    return facts


def rows(facts: HostFacts, name: str) -> list[dict[str, Any]]:
    """The complete result set of query ``name`` as dicts keyed by lower-case column name;
    FactUnavailable (检查错误) for a failed, cut or absent query, or a lost session."""
    data = json.loads(facts.text(name))
    cols: list[str] = data["columns"]
    return [dict(zip(cols, r, strict=False)) for r in data["rows"]]


# ---- connecting ------------------------------------------------------------------------------


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise FactUnavailable(f"database driver {name!r} is not installed ({exc}); pip install {name}") from None


def _oracle(db: Database, address: str, user: str, password: str) -> Connection:
    oracledb = _import("oracledb")  # thin mode is the default: no client library
    params: dict[str, Any] = {"user": user, "password": password, "host": address, "port": db.port,
                              "service_name": db.service or "ORCL"}
    if db.ca_file is not None:  # TCPS with the server certificate verified against this CA
        params.update(protocol="tcps", ssl_server_dn_match=True, wallet_location=None,
                      ssl_context=_ssl_context(db))
    conn: Connection = oracledb.connect(**params)
    return conn


def _sqlserver(db: Database, address: str, user: str, password: str) -> Connection:
    pytds = _import("pytds")
    conn: Connection = pytds.connect(dsn=address, port=db.port, user=user, password=password,
                                     database=db.service or "master", autocommit=True,
                                     cafile=str(db.ca_file) if db.ca_file else None,
                                     validate_host=db.ca_file is not None, login_timeout=15, timeout=30)
    return conn


def _dm(db: Database, address: str, user: str, password: str) -> Connection:
    dm = _import("dmPython")
    kw: dict[str, Any] = {"user": user, "password": password, "server": address, "port": db.port}
    if db.ca_file is not None:
        kw["ssl_path"] = str(db.ca_file.parent)  # the folder holding the client's SSL material
    conn: Connection = dm.connect(**kw)
    return conn


def _kingbase(db: Database, address: str, user: str, password: str) -> Connection:
    try:
        drv = importlib.import_module("ksycopg2")
    except ImportError:
        drv = _import("psycopg")
    ssl = {"sslmode": "verify-full", "sslrootcert": str(db.ca_file)} if db.ca_file else {"sslmode": "prefer"}
    conn: Connection = drv.connect(host=address, port=db.port, user=user, password=password,
                                   dbname=db.service or "test", connect_timeout=15,
                                   options="-c default_transaction_read_only=on -c statement_timeout=30000",
                                   **ssl)
    return conn


def _ssl_context(db: Database) -> Any:
    import ssl

    ctx = ssl.create_default_context(cafile=str(db.ca_file))
    return ctx


CONNECTORS: dict[str, Connector] = {"oracle": _oracle, "sqlserver": _sqlserver, "dm": _dm, "kingbase": _kingbase}


def collect_instance(db: Database, inventory: Inventory, connect: Connector | None = None) -> HostFacts:
    """Open one session to ``db`` and run its batch. A connection that cannot be opened is the
    instance's ``error`` (检查错误 on every control), never an exception."""
    try:
        address = db.address or inventory.host(db.host).address
        if not db.username_env or not db.password_env:
            raise FactUnavailable(f"database {db.id}: the inventory names no read-only account "
                                  "(username_env, password_env)")
        user = env_secret(db.username_env, f"database {db.id} user")
        password = env_secret(db.password_env, f"database {db.id} password")
        conn = (connect or CONNECTORS[db.engine])(db, address, user, password)
    except Exception as exc:  # a refused login or missing driver is that instance's error
        return HostFacts(host_id=f"db:{db.id}", error=f"connect to {db.engine} {db.id}: {exc}"[:400])
    try:
        return run_batch(db, conn)
    finally:
        with contextlib.suppress(Exception):  # closing a dropped session may fail; the facts stand
            conn.close()


class InstanceCache:
    """One session per instance per run: the first probe on an instance collects it, the others wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # the inventory is kept with its facts so its id() cannot be reused while cached
        self._facts: dict[tuple[int, str], tuple[Inventory, HostFacts]] = {}

    def get(self, db: Database, inventory: Inventory, connect: Connector | None = None) -> HostFacts:
        key = (id(inventory), db.id)
        with self._lock:
            if key not in self._facts:
                self._facts[key] = (inventory, collect_instance(db, inventory, connect))
            return self._facts[key][1]

    def all(self) -> dict[str, HostFacts]:
        """Every instance collected so far, keyed ``db:<id>``, for the run's evidence folder."""
        with self._lock:
            return {hf.host_id: hf for _, hf in self._facts.values()}


def driver_posture(db: Database, inventory: Inventory) -> tuple[HostFacts, DbPosture]:
    """The instance's facts (collected once per run) and its posture."""
    facts = INSTANCES.get(db, inventory)
    return facts, posture_of(db.engine, facts)


INSTANCES = InstanceCache()
