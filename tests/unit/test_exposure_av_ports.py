"""exposure.open_ports with the AV system's declared ports: STUN/TURN 3478 and SIP 5060/5061
published by the video service are allowed on its host when the inventory declares them; the
same ports on a host that declares nothing still fail (a fixed 80/443 list is the default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ihconform.check import Check
from ihconform.inventory import AvEndpoint, AvSystem, Host, Institution, Inventory, SystemUnderTest, Vantage
from ihconform.probes import exposure as ep
from ihconform.results import Status
from tests.unit.test_exposure_probe import judge, scan

AV = AvSystem(id="video", name="远程视频", host="av01", endpoints=(
    AvEndpoint(protocol="stun-tcp", address="198.51.100.131", port=3478),
    AvEndpoint(protocol="sip-tcp", address="198.51.100.131", port=5060),
    AvEndpoint(protocol="sip-udp", address="198.51.100.131", port=5062),
    AvEndpoint(protocol="sip-tls", address="198.51.100.131", port=5061)))
INV = Inventory(
    institution=Institution(name="x"), system=SystemUnderTest(name="y"),
    hosts=(Host(id="av01", address="198.51.100.30", roles=("av",), public_addresses=("198.51.100.131",)),
           Host(id="app01", address="198.51.100.20", roles=("app", "web")),
           Host(id="scan01", address="198.51.100.158", roles=("vantage",))),
    vantage=Vantage(outside="scan01", server_networks=("198.51.100.0/25",)),
    av_systems=(AV,),
)


def test_declared_av_tcp_ports_are_allowed_on_their_host() -> None:
    assert ep.declared_av_tcp_ports(INV, INV.host("av01")) == {
        3478: "video stun-tcp", 5060: "video sip-tcp", 5061: "video sip-tls"}  # sip-udp: not a TCP port
    assert ep.declared_av_tcp_ports(INV, INV.host("app01")) == {}


def _judge(host_id: str, open_tcp: dict[str, list[int]], tmp_path: Path) -> Check:
    """The shared judge of test_exposure_probe (network.yaml control) on this inventory."""
    import tests.unit.test_exposure_probe as base

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(base, "INV", INV)
        return judge(host_id, scan(open_tcp), tmp_path)


def test_video_ports_pass_where_declared_and_fail_elsewhere(tmp_path: Path) -> None:
    av = {"198.51.100.30": [443], "198.51.100.131": [443, 3478, 5060, 5061]}
    check = _judge("av01", av, tmp_path)
    assert check.verdict is not None and check.verdict.status is Status.PASS, check.verdict
    assert check.verdict.observed["declared_av_ports"] == ["3478 (video stun-tcp)", "5060 (video sip-tcp)",
                                                           "5061 (video sip-tls)"]
    app = {"198.51.100.20": [443, 5060]}
    check = _judge("app01", app, tmp_path)
    assert check.verdict is not None and check.verdict.status is Status.FAIL
    assert "198.51.100.20:5060" in check.verdict.reason
