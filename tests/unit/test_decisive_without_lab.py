"""Decisive sub-checks the namespace lab cannot break on its own, judged on recorded facts.

Every decisive part of the shipped profiles is shown either by a lab variant
(tests/integration/test_default_profile_lab.py, test_network_lab.py) or here; docs/probes.md
("Decisive sub-checks: where each is shown") says which, and why no variant. Here: the
providers control's ``count``, ``distinct_paths`` and ``distinct_first_hop`` (the lab's two
uplinks are wired apart, and a line that shares the other's interface and gateway, or enters
the other provider's router first, would be a second network build), each ending the control
不符合 on its own with the decisive part named.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from ihconform import catalog
from ihconform.check import Check
from ihconform.inventory import Inventory, Uplink
from ihconform.probes import uplink
from ihconform.results import Status
from ihconform.runcache import EvidenceSink, RunCache
from tests.unit.test_net_egress import TRACE_A, UPLINKS, App01

#: Both lines independent as observed: each egress is its own source address.
OWN_EGRESS = {"198.51.100.130": "198.51.100.130", "198.51.100.134": "198.51.100.134"}
REFLECTOR = "http://198.51.100.200/ip"


def providers(host: App01, tmp_path: Path, uplinks: tuple[Uplink, ...] = tuple(UPLINKS),
              control_id: str = "CQ-A1-4.3-b", profile: str = "cq-ih-basic-2023") -> Check:
    control = catalog.load_profile(profile).control(control_id)
    ups = tuple(u.model_copy(update={"reflector": REFLECTOR, "repeats": 1}) for u in uplinks)
    check = Check(control, None, Inventory.model_construct(uplinks=ups))  # type: ignore[arg-type,call-arg]
    cache = RunCache(1)
    try:
        uplink.test_distinct_isps(check, lambda _h: host, cache, EvidenceSink(tmp_path))  # type: ignore[arg-type,return-value]
    finally:
        cache.close()
    assert check.verdict is not None
    return check


def test_the_recorded_pair_passes_so_each_failure_below_is_its_own(tmp_path: Path) -> None:
    v = providers(App01(OWN_EGRESS), tmp_path).verdict
    assert v is not None and v.status is Status.PASS, v


def test_one_uplink_alone_is_decisively_not_two_providers(tmp_path: Path) -> None:
    for profile, cid in (("cq-ih-basic-2023", "CQ-A1-4.3-b"), ("mlps-l3", "L3-CNS1-05.lines")):
        v = providers(App01(OWN_EGRESS), tmp_path / cid, uplinks=(UPLINKS[0],), control_id=cid,
                      profile=profile).verdict
        assert v is not None and v.status is Status.FAIL, (cid, v)
        assert "only 1 uplink(s) declared, need 2" in v.reason and "decisive: count" in v.reason, v.reason


class SharedPath(App01):
    """Both declared lines leave through wan-a to ISP A's router: one path, two names."""

    ROUTE: ClassVar[dict[str, tuple[str, str, int]]] = {
        "198.51.100.130": ("198.51.100.129", "wan-a", 101), "198.51.100.134": ("198.51.100.129", "wan-a", 101)}


def test_two_lines_on_one_interface_and_next_hop_are_decisively_one(tmp_path: Path) -> None:
    v = providers(SharedPath(OWN_EGRESS), tmp_path).verdict
    assert v is not None and v.status is Status.FAIL, v
    assert "the uplinks share interface and first hop" in v.reason and "decisive: distinct_paths" in v.reason


def test_entering_the_same_provider_router_is_decisively_not_two_providers(tmp_path: Path) -> None:
    host = App01(OWN_EGRESS)
    host.traces = {"198.51.100.130": TRACE_A, "198.51.100.134": TRACE_A}  # both enter 198.51.100.129 first
    v = providers(host, tmp_path).verdict
    assert v is not None and v.status is Status.FAIL, v
    assert "enter the same provider router 198.51.100.129" in v.reason
    assert "decisive: distinct_first_hop" in v.reason
