"""Site-wide probes over a mixed estate (附录1 四(一)): a Windows host counts as a server and
its roles are detected from its own listeners, so a Windows HIS database next to Linux
application servers is judged, not turned into 检查错误 by reading Linux sections it has not."""

from __future__ import annotations

from ihconform.catalog import load_profile
from ihconform.check import Check
from ihconform.facts.roles import detect_host_roles
from ihconform.facts.windows import load_recording
from ihconform.inventory import Host, Institution, Inventory, SystemUnderTest
from ihconform.inventory import TestObject as Obj
from ihconform.probes import servers
from ihconform.profile import ObjectType
from ihconform.results import Status
from tests.fixtures.facts.factsfix import HERE, load_dir

from ..conftest import FIXTURES, ROOT

PROFILE = load_profile(str(ROOT / "src" / "ihconform" / "profiles" / "cq-ih-basic-2023.yaml"))
APP = Host(id="vm", address="127.0.0.1", connection="local", roles=("app",))
HIS = Host(id="his-db", address="198.51.100.30", platform="windows", roles=("db",))
INV = Inventory(institution=Institution(name="x"), system=SystemUnderTest(name="y"), hosts=(APP, HIS))


def _site() -> dict[str, object]:
    return {"vm": load_dir(HERE / "host" / "debian12-vm", "vm"),
            "his-db": load_recording(FIXTURES / "windows" / "recordings" / "ws2019-zh-CN-stock.json", "his-db")}


def test_windows_host_roles_from_its_listeners() -> None:
    d = detect_host_roles(_site()["his-db"])  # type: ignore[arg-type]
    assert d.databases == ("sqlserver",) and d.db_ports == (1433,) and not d.app_servers


def test_a_windows_host_counts_as_a_server() -> None:
    check = Check(PROFILE.control("CQ-A1-4.1-a"), Obj(ObjectType.SITE, "site", "y"), INV)
    servers.test_server_count(check, _site())  # type: ignore[arg-type]
    assert check.verdict is not None and check.verdict.status is Status.PASS
    assert check.verdict.observed["distinct_servers"] == 2


def test_role_separation_reads_the_windows_database() -> None:
    check = Check(PROFILE.control("CQ-A1-4.1-b"), Obj(ObjectType.SITE, "site", "y"), INV)
    servers.test_role_separation(check, _site())  # type: ignore[arg-type]
    assert check.verdict is not None
    assert check.verdict.observed["his-db"]["databases"] == ["sqlserver"]  # the inventory's name for the engine
    assert "his-db" not in check.verdict.reason  # declared db, runs SQL Server, no app server: no problem named
