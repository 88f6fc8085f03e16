"""The exposure verdict on recorded scan results, and the outside vantage as an inventory host:
a place the harness scans from, never judged itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from ihconform.catalog import load_profile
from ihconform.check import Check
from ihconform.errors import ConfigError, FactUnavailable
from ihconform.inventory import Host, Institution, Inventory, SystemUnderTest, Vantage, load_inventory, objects
from ihconform.inventory import TestObject as Obj
from ihconform.net.exposure import ExposureScan
from ihconform.probes import exposure as ep
from ihconform.profile import ObjectType
from ihconform.results import Status
from ihconform.runcache import EvidenceSink, RunCache

NETWORK = Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "network.yaml"
INV = Inventory(
    institution=Institution(name="x"), system=SystemUnderTest(name="y"),
    hosts=(Host(id="app01", address="198.51.100.20", roles=("app", "web"),
                public_addresses=("198.51.100.130", "198.51.100.134")),
           Host(id="db01", address="198.51.100.10", roles=("db",)),
           Host(id="scan01", address="198.51.100.158", roles=("vantage",))),
    vantage=Vantage(outside="scan01", server_networks=("198.51.100.0/25",)),
)


def scan(open_tcp: dict[str, list[int]]) -> ExposureScan:
    s = ExposureScan("-sT -Pn -n", vantage="scan01")
    s.open_tcp.update(open_tcp)
    s.services.update({a: {p: "svc" for p in ports} for a, ports in open_tcp.items()})
    return s


def judge(host_id: str, result: ExposureScan, tmp_path: Path) -> Check:
    control = next(c for c in load_profile(str(NETWORK)).controls if c.probe == ep.PROBE_ID)
    h = INV.host(host_id)
    check = Check(control, Obj(ObjectType.HOST_OS, h.id, h.id, h), INV)
    cache = RunCache(parallel=1)
    ports = str(control.param("ports"))
    cache.start(f"exposure:{ports}", lambda: result)
    try:
        ep.test_open_ports(check, cache, EvidenceSink(tmp_path), lambda _h: pytest.fail("no scan expected"))
    finally:
        cache.close()
    return check


def test_the_vantage_is_not_under_test() -> None:
    assert [h.id for h in INV.targets] == ["app01", "db01"]
    assert "scan01" not in {o.id for o in objects(INV)}
    # every address of the hosts under test is scanned, the public ones included
    assert ep._addresses(INV) == ["198.51.100.10", "198.51.100.130", "198.51.100.134", "198.51.100.20"]
    assert ep.vantage_inside(INV) == []  # 198.51.100.158 is outside 198.51.100.0/25


def test_a_public_address_with_a_port_off_the_allow_list_fails(tmp_path: Path) -> None:
    check = judge("app01", scan({"198.51.100.20": [], "198.51.100.130": [80, 443, 22],
                                 "198.51.100.134": [80, 443], "198.51.100.10": []}), tmp_path)
    assert check.verdict is not None and check.verdict.status is Status.FAIL
    assert "198.51.100.130:22" in check.verdict.reason
    assert check.verdict.observed["open_tcp"]["198.51.100.134"] == [80, 443]


def test_published_ports_only_pass_and_name_every_address(tmp_path: Path) -> None:
    check = judge("app01", scan({"198.51.100.20": [], "198.51.100.130": [80, 443],
                                 "198.51.100.134": [80, 443], "198.51.100.10": []}), tmp_path)
    assert check.verdict is not None and check.verdict.status is Status.PASS
    assert "198.51.100.130 80,443" in check.verdict.reason and "198.51.100.20 none" in check.verdict.reason


def test_an_address_the_scan_did_not_report_is_an_error_not_a_pass(tmp_path: Path) -> None:
    with pytest.raises(FactUnavailable, match=r"198\.51\.100\.134: nmap returned nothing"):
        judge("app01", scan({"198.51.100.20": [], "198.51.100.130": [80, 443]}), tmp_path)
    timed = scan({"198.51.100.20": [], "198.51.100.130": [80, 443]})
    timed.unscanned["198.51.100.134"] = "nmap gave up on it (--host-timeout): its ports were not all probed"
    with pytest.raises(FactUnavailable, match="host-timeout"):
        judge("app01", timed, tmp_path)


def test_a_vantage_host_takes_no_other_role(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text("institution: {name: x}\nsystem: {name: y}\nhosts:\n"
                    "  - {id: a, address: 198.51.100.20}\n"
                    "  - {id: s, address: 198.51.100.158, roles: [vantage, app]}\n"
                    "vantage: {outside: s}\n")
    with pytest.raises(ConfigError) as err:
        load_inventory(path)
    assert "takes no other role" in str(err.value) and ":5" in str(err.value)
