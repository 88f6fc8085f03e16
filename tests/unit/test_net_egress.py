"""Uplink independence: the observation commands and parsers (reflector, traceroute, counters),
the bandwidth session that reads them, and the providers judgement on recorded observations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest

from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.inventory import Uplink
from ihconform.net import bandwidth, egress, paths
from ihconform.probes.uplink import _Independence, _trace_target
from ihconform.results import Status
from ihconform.transport.base import CommandResult

_ROW = "{:>6}: {} 10 0 0 0 0 0 0 {} 10 0 0 0 0 0 0\n"
NETDEV = ("Inter-|   Receive                                                |  Transmit\n"
          " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls "
          "carrier compressed\n"
          + _ROW.format("lo", 100, 100) + _ROW.format("eth0", "{e_rx}", "{e_tx}")
          + _ROW.format("wan-a", "{a_rx}", "{a_tx}") + _ROW.format("wan-b", "{b_rx}", "{b_tx}"))
ADDRS = ("1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
         "2: eth0@if5    inet 198.51.100.20/25 brd 198.51.100.127 scope global eth0\n"
         "3: wan-a@if7    inet 198.51.100.130/30 scope global wan-a\n"
         "4: wan-b@if9    inet 198.51.100.134/30 scope global wan-b\n")
TRACE_B = ("traceroute to 198.51.100.200 (198.51.100.200), 3 hops max, 60 byte packets\n"
           " 1  198.51.100.133  0.061 ms\n 2  198.51.100.162  0.080 ms\n 3  198.51.100.200  0.1 ms\n")


def _res(cmd: str, out: str, rc: int = 0, err: str = "") -> CommandResult:
    return CommandResult(cmd, rc, out.encode(), err.encode())


def test_commands_are_bounded_and_quoted() -> None:
    assert egress.traceroute_command("198.51.100.200", source="198.51.100.134") == \
        "traceroute -n -q 1 -w 1 -f 1 -m 3 -s 198.51.100.134 198.51.100.200"
    assert egress.traceroute_command("198.51.100.200", interface="wan b", first=2) == \
        "traceroute -n -q 1 -w 1 -f 2 -m 4 -i 'wan b' 198.51.100.200"
    with pytest.raises(ValueError):
        egress.traceroute_command("inet.lab; id", source="198.51.100.134")
    assert egress.reflector_command("http://198.51.100.200/ip?a=1&b=2", "198.51.100.134") == \
        "curl -sS --interface 198.51.100.134 --max-time 5 'http://198.51.100.200/ip?a=1&b=2'"


def test_parsers() -> None:
    assert egress.parse_reflector(_res("c", "198.51.100.137\n")) == "198.51.100.137"
    with pytest.raises(FactUnavailable, match="did not answer with an address"):
        egress.parse_reflector(_res("c", "<html>404</html>"))
    with pytest.raises(FactUnavailable, match="reflector failed"):
        egress.parse_reflector(_res("c", "", 7, "Failed to connect"))
    hops = egress.parse_traceroute(_res("t", TRACE_B + " 4  *\n"))
    assert [(h.ttl, h.address) for h in hops] == [(1, "198.51.100.133"), (2, "198.51.100.162"),
                                                   (3, "198.51.100.200"), (4, "")]
    with pytest.raises(FactUnavailable, match="not installed"):
        egress.parse_traceroute(_res("t", "", 127, "sh: 1: traceroute: not found"))
    counters = egress.parse_netdev(NETDEV.format(e_rx=1, e_tx=2, a_rx=3, a_tx=4, b_rx=5, b_tx=6))
    assert counters == {"lo": (100, 100), "eth0": (1, 2), "wan-a": (3, 4), "wan-b": (5, 6)}
    with pytest.raises(FactUnavailable, match="cannot read interface counters"):
        egress.parse_netdev("")
    assert egress.owner_of(ADDRS, "198.51.100.134") == "wan-b"
    with pytest.raises(FactUnavailable, match="no interface holds"):
        egress.owner_of(ADDRS, "198.51.100.99")


class Host:
    """app01 as recorded: iperf3 moves 10 MB a test through ``via`` (the interface the traffic
    really leaves by); the reflector answers ``seen``."""

    def __init__(self, via: str = "wan-b", seen: str = "198.51.100.134", trace: str = TRACE_B) -> None:
        self.via, self.seen, self.trace = via, seen, trace
        self.moved = 0
        self.commands: list[str] = []

    def __call__(self, cmd: str, timeout: float) -> CommandResult:
        self.commands.append(cmd)
        if cmd.startswith("iperf3"):
            self.moved += 10_000_000
            return _res(cmd, json.dumps({"start": {"connected": [{"local_host": "198.51.100.134"}]},
                                         "end": {"sum_received": {"bits_per_second": 19e6, "bytes": 10_000_000}}}))
        if cmd == egress.NETDEV_COMMAND:
            on = {k: self.moved * 1.04 if k == self.via else 0 for k in ("wan-a", "wan-b")}
            return _res(cmd, NETDEV.format(e_rx=5000, e_tx=5000, a_rx=int(on["wan-a"]), a_tx=0,
                                           b_rx=int(on["wan-b"]), b_tx=0))
        if cmd == egress.ADDR_COMMAND:
            return _res(cmd, ADDRS)
        if cmd.startswith("curl"):
            return _res(cmd, self.seen + "\n")
        if cmd.startswith("traceroute"):
            return _res(cmd, self.trace)
        if cmd == "cat /proc/loadavg":
            return _res(cmd, "0.1 0.1 0.1 1/1 1")
        return _res(cmd, "", 127, "not found")


def _plan(**kw: object) -> bandwidth.Plan:
    args: dict[str, object] = {"method": "iperf3", "server": "198.51.100.200", "source": "198.51.100.134",
                               "interface": "", "repeats": 1, "seconds": 2, "observe": True,
                               "reflector": "http://198.51.100.200/ip", "trace_to": "198.51.100.200"}
    args.update(kw)
    return bandwidth.Plan(**args)  # type: ignore[arg-type]


def test_the_bandwidth_session_reads_counters_reflector_and_hops() -> None:
    host = Host()
    s = bandwidth.measure(host, _plan())
    assert s.values("upload") == [19.0] and s.unobserved == {}
    assert s.outside_egress == "198.51.100.134"
    assert [h.address for h in s.hops] == ["198.51.100.133", "198.51.100.162", "198.51.100.200"]
    assert s.share is not None and s.share.interface == "wan-b" and s.share.measured_bytes == 20_000_000
    assert s.share.share == pytest.approx(1.04)
    # counters bracket the measurement; the reflector and trace come after it
    kinds = [c.split()[0] for c in host.commands]
    assert kinds.index("iperf3") > kinds.index("cat") and kinds[-3:-1] == ["curl", "traceroute"]
    no_reflector = bandwidth.measure(Host(), _plan(reflector=""))
    assert "no reflector declared" in no_reflector.unobserved["egress"]
    assert not bandwidth.measure(Host(), bandwidth.Plan("iperf3", "198.51.100.200", "198.51.100.134", "", 1, 2)).hops


UPLINKS = [Uplink(id="isp-a", isp="电信", host="app01", source="198.51.100.130", interface="wan-a",
                  server="198.51.100.200", reflector="http://198.51.100.200/ip"),
           Uplink(id="isp-b", isp="联通", host="app01", source="198.51.100.134", interface="wan-b",
                  server="198.51.100.200", reflector="http://198.51.100.200/ip")]
ROUTES = {"isp-a": paths.Route("198.51.100.200", "wan-a", "198.51.100.129", "198.51.100.130", "101", "", ""),
          "isp-b": paths.Route("198.51.100.200", "wan-b", "198.51.100.133", "198.51.100.134", "102", "", "")}
TRACE_A = " 1  198.51.100.129  0.05 ms\n 2  198.51.100.200  0.07 ms\n"


def _judge(a: Host, b: Host, plan_a: bandwidth.Plan | None = None) -> tuple[dict[str, bool | None], list[str]]:
    series = {"isp-a": bandwidth.measure(a, plan_a or _plan(source="198.51.100.130")),
              "isp-b": bandwidth.measure(b, _plan())}
    seen = _Independence.observe(UPLINKS, ROUTES, series, 0.8)
    parts = seen.parts(2)
    return parts, seen.findings(parts, 2)


def test_independent_uplinks_pass_every_part() -> None:
    parts, why = _judge(Host("wan-a", "198.51.100.130", TRACE_A), Host())
    assert parts == dict.fromkeys(parts, True) and why == []


def test_same_egress_seen_outside_is_not_two_providers() -> None:
    parts, why = _judge(Host("wan-a", "198.51.100.137", TRACE_A), Host(seen="198.51.100.137"))
    assert parts["distinct_egress_seen"] is False and parts["distinct_providers"] is True  # names still differ
    assert any("isp-a and isp-b leave from the same address 198.51.100.137" in w for w in why)


def test_same_first_provider_hop_is_not_two_providers() -> None:
    parts, why = _judge(Host("wan-a", "198.51.100.130", TRACE_A), Host(trace=TRACE_A))
    assert parts["distinct_first_hop"] is False
    assert any("enter the same provider router 198.51.100.129" in w for w in why)


def test_traffic_leaving_through_the_other_link_is_found() -> None:
    parts, why = _judge(Host("wan-a", "198.51.100.130", TRACE_A), Host(via="wan-a"))
    assert parts["traffic_on_own_link"] is False
    assert any("isp-b: wan-b carried 0% of the 20.0 MB measured (need >= 80%); wan-a moved" in w for w in why)


def test_without_a_reflector_the_egress_part_is_unknown_never_true() -> None:
    parts, _ = _judge(Host("wan-a", "198.51.100.130", TRACE_A), Host(),
                      plan_a=_plan(source="198.51.100.130", reflector=""))
    assert parts["distinct_egress_seen"] is None
    assert parts["distinct_first_hop"] is True


def test_a_silent_first_hop_or_the_server_itself_is_unknown() -> None:
    parts, _ = _judge(Host("wan-a", "198.51.100.130", " 1  *\n 2  198.51.100.200  0.1 ms\n"), Host())
    assert parts["distinct_first_hop"] is None
    parts, _ = _judge(Host("wan-a", "198.51.100.130", " 1  198.51.100.200  0.1 ms\n"), Host())
    assert parts["distinct_first_hop"] is None


def test_the_trace_goes_to_a_literal_server_else_the_reflector() -> None:
    def up(server: str, reflector: str) -> Uplink:
        return Uplink(id="u", isp="x", host="h", source="198.51.100.134", server=server, reflector=reflector)

    assert _trace_target(up("198.51.100.200", "")) == "198.51.100.200"
    assert _trace_target(up("", "http://198.51.100.201/ip")) == "198.51.100.201"
    assert _trace_target(up("http://speedtest.example/", "http://198.51.100.201/ip")) == "198.51.100.201"
    assert _trace_target(up("http://speedtest.example/", "")) == ""


# ---- the providers control end to end on a recorded app01 -------------------------------------


class App01:
    """Both uplinks' host: routes as declared; iperf3 bound to a source moves 10 MB through
    ``via[source]``; the reflector answers ``seen[source]``; traceroute answers ``traces[source]``."""

    ROUTE: ClassVar[dict[str, tuple[str, str, int]]] = {
        "198.51.100.130": ("198.51.100.129", "wan-a", 101), "198.51.100.134": ("198.51.100.133", "wan-b", 102)}

    def __init__(self, seen: dict[str, str], via: dict[str, str] | None = None) -> None:
        self.seen = seen
        self.via = via or {"198.51.100.130": "wan-a", "198.51.100.134": "wan-b"}
        self.traces = {"198.51.100.130": TRACE_A, "198.51.100.134": TRACE_B}
        self.moved = {"wan-a": 0, "wan-b": 0}

    def run(self, cmd: str, *, timeout: float = 60.0) -> CommandResult:
        words = cmd.split()
        if cmd.startswith("ip route get"):
            gw, dev, table = self.ROUTE[words[5]]
            return _res(cmd, f"198.51.100.200 from {words[5]} via {gw} dev {dev} table {table}\n")
        if cmd.startswith("iperf3"):
            self.moved[self.via[words[words.index("-B") + 1]]] += 10_000_000
            return _res(cmd, json.dumps({"end": {"sum_received": {"bits_per_second": 19e6, "bytes": 10_000_000}}}))
        if cmd == egress.NETDEV_COMMAND:
            return _res(cmd, NETDEV.format(e_rx=1, e_tx=1, a_rx=self.moved["wan-a"], a_tx=0,
                                           b_rx=self.moved["wan-b"], b_tx=0))
        if cmd == egress.ADDR_COMMAND:
            return _res(cmd, ADDRS)
        if cmd.startswith("curl"):
            src = words[words.index("--interface") + 1]
            return _res(cmd, self.seen[src] + "\n")
        if cmd.startswith("traceroute"):
            return _res(cmd, self.traces[words[words.index("-s") + 1]])
        return _res(cmd, "0.1 0.1 0.1 1/1 1" if cmd == "cat /proc/loadavg" else "", 0)


def _providers(host: App01, tmp_path: Path, reflectors: tuple[str, str] = ("http://198.51.100.200/ip",) * 2) -> Check:
    from ihconform import catalog
    from ihconform.inventory import Inventory
    from ihconform.probes.uplink import test_distinct_isps
    from ihconform.runcache import EvidenceSink, RunCache

    control = catalog.load_profile("cq-ih-basic-2023").control("CQ-A1-4.3-b")
    ups = tuple(u.model_copy(update={"reflector": r, "repeats": 1}) for u, r in zip(UPLINKS, reflectors, strict=True))
    check = Check(control, None, Inventory.model_construct(uplinks=ups))  # type: ignore[arg-type,call-arg]
    cache = RunCache(1)
    try:
        test_distinct_isps(check, lambda _h: host, cache, EvidenceSink(tmp_path))  # type: ignore[arg-type,return-value]
    finally:
        cache.close()
    assert check.verdict is not None
    return check


def test_providers_pass_when_shown_and_say_what_was_declared(tmp_path: Path) -> None:
    v = _providers(App01({"198.51.100.130": "198.51.100.130", "198.51.100.134": "198.51.100.134"}), tmp_path).verdict
    assert v is not None and v.status is Status.PASS, v
    assert "independent as observed" in v.reason and "inventory says '联通'" in v.reason
    assert (tmp_path / "evidence" / "uplink" / "site" / "independence.json").is_file()


def test_one_egress_for_both_is_decisively_not_two_providers(tmp_path: Path) -> None:
    v = _providers(App01({"198.51.100.130": "198.51.100.137", "198.51.100.134": "198.51.100.137"}), tmp_path).verdict
    assert v is not None and v.status is Status.FAIL, v
    assert "same address 198.51.100.137" in v.reason and "decisive: distinct_egress_seen" in v.reason


def test_no_reflector_is_never_a_pass_but_a_shown_failure_still_decides(tmp_path: Path) -> None:
    seen = {"198.51.100.130": "198.51.100.130", "198.51.100.134": "198.51.100.134"}
    v = _providers(App01(seen), tmp_path / "a", ("http://198.51.100.200/ip", "")).verdict
    assert v is not None and v.status is Status.NOT_CHECKED, v
    assert "isp-b egress: no reflector declared" in v.reason
    misrouted = App01(seen, via={"198.51.100.130": "wan-a", "198.51.100.134": "wan-a"})
    v = _providers(misrouted, tmp_path / "b", ("http://198.51.100.200/ip", "")).verdict
    assert v is not None and v.status is Status.FAIL, v
    assert "isp-b: wan-b carried 0%" in v.reason and "decisive: traffic_on_own_link" in v.reason
