"""Bandwidth: the command lines (quoted), the parsers, the series runner with a recorded host,
the uncertainty-band rule, and route parsing."""

from __future__ import annotations

import json

import pytest

from ihconform.errors import FactUnavailable
from ihconform.net import bandwidth, paths
from ihconform.transport.base import CommandResult


def _res(cmd: str, out: str, rc: int = 0, err: str = "") -> CommandResult:
    return CommandResult(cmd, rc, out.encode(), err.encode())


def _iperf(mbps: float, local: str = "198.51.100.130") -> str:
    return json.dumps({"start": {"connected": [{"local_host": local}]},
                       "end": {"sum_received": {"bits_per_second": mbps * 1e6}}})


# ---- the rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(("samples", "outcome"), [
    ([14.3, 14.4, 14.3], "pass"),  # a 15 Mbit link through iperf3 (95.6 %)
    ([7.65, 7.70, 7.69], "fail"),  # 8 Mbit
    ([9.6, 9.62, 9.58], "inside-band"),  # 10 Mbit: 9.6 ± 0.96 straddles 10
    ([19.1], "pass"),
    ([12.0, 4.0, 12.1], "inside-band"),  # a wild spread widens the band beyond the method's ±10 %
])
def test_band_rule(samples: list[float], outcome: str) -> None:
    j = bandwidth.judge_direction(samples, 10.0, 0.10, "download")
    assert j.outcome == outcome
    assert j.low <= j.median <= j.high


def test_band_edges_are_inclusive_above_and_strict_below() -> None:
    assert bandwidth.judge_direction([10 / 0.9], 10, 0.10, "upload").outcome == "pass"
    assert bandwidth.judge_direction([10 / 1.1 - 0.001], 10, 0.10, "upload").outcome == "fail"
    with pytest.raises(FactUnavailable):
        bandwidth.judge_direction([], 10, 0.1, "upload")


# ---- commands and parsers ---------------------------------------------------------------------


def test_commands_quote_every_argument() -> None:
    evil = "198.51.100.200; rm -rf /"
    cmd = bandwidth.iperf3_command(evil, 2, source="198.51.100.130", reverse=True)
    assert cmd == "iperf3 -c '198.51.100.200; rm -rf /' -p 5201 -t 2 -J -B 198.51.100.130 -R"
    assert "--bind-dev wan-b" in bandwidth.iperf3_command("198.51.100.200", 2, interface="wan-b")
    up = bandwidth.curl_upload_command("http://198.51.100.200/up'", 1000, 6, "wan-a")
    assert up.startswith("head -c 1000 /dev/zero | curl") and "'http://198.51.100.200/up'\"'\"''" in up
    down = bandwidth.curl_download_command("http://198.51.100.200/big", 2, "198.51.100.134")
    assert "-r 0-262143 http://198.51.100.200/big --next" in down and down.count("--interface 198.51.100.134") == 2
    assert "--mini http://speedtest.lab/ --source 198.51.100.134" in bandwidth.speedtest_command(
        "http://speedtest.lab/", "198.51.100.134", 10)


def test_parsers() -> None:
    assert bandwidth.parse_iperf3(_iperf(47.8)) == (47.8, "198.51.100.130")
    with pytest.raises(FactUnavailable, match="unable to connect"):
        bandwidth.parse_iperf3(json.dumps({"error": "unable to connect to server"}))
    with pytest.raises(FactUnavailable, match="no JSON"):
        bandwidth.parse_iperf3("iperf3: error")
    mbps, secs, ip, note = bandwidth.parse_curl(_res("c", "2500000 2.0 198.51.100.130", 28), upload=False)
    assert (mbps, secs, ip, note) == (10.0, 2.0, "198.51.100.130", "")
    assert bandwidth.parse_curl(_res("c", "2500000 2.0 x", 28), upload=True)[3].startswith("upload cut")
    with pytest.raises(FactUnavailable, match="curl failed"):
        bandwidth.parse_curl(_res("c", "", 7, "Failed to connect"), upload=False)
    st = json.dumps({"download": 46.7e6, "upload": 49.4e6, "client": {"ip": "198.51.100.130", "isp": "ISP-A"}})
    assert bandwidth.parse_speedtest(st) == (46.7, 49.4, "198.51.100.130", "ISP-A")


class FakeHost:
    """A recorded host: answers each command by its kind, keeps what was asked."""

    def __init__(self, down: float, up: float) -> None:
        self.down, self.up = down, up
        self.commands: list[str] = []

    def __call__(self, cmd: str, timeout: float) -> CommandResult:
        self.commands.append(cmd)
        if cmd.startswith("iperf3"):
            return _res(cmd, _iperf(self.down if " -R" in cmd else self.up))
        if cmd.startswith("curl"):
            return _res(cmd, f"{int(self.down * 1e6 / 8 * 2)} 2.0 198.51.100.134", 28)
        if cmd.startswith("head -c"):
            nbytes = int(cmd.split()[2])
            return _res(cmd, f"{nbytes} {nbytes * 8 / (self.up * 1e6):.3f} 198.51.100.134")
        if cmd == "cat /proc/loadavg":
            return _res(cmd, "0.50 0.40 0.30 1/100 4242\n")
        if cmd.startswith("speedtest-cli"):
            return _res(cmd, json.dumps({"download": self.down * 1e6, "upload": self.up * 1e6,
                                         "client": {"ip": "198.51.100.134", "isp": "ISP-B Lab Cable"}}))
        return _res(cmd, "", 127, "not found")


@pytest.mark.parametrize("method", ["iperf3", "http", "speedtest"])
def test_measure_series(method: str) -> None:
    host = FakeHost(19.1, 19.0)
    server = {"iperf3": "198.51.100.200", "http": "http://198.51.100.200", "speedtest": "http://speedtest.lab/"}
    plan = bandwidth.Plan(method, server[method], "198.51.100.134", "wan-b", repeats=3, seconds=2)
    s = bandwidth.measure(host, plan)
    assert len(s.values("download")) == 3 and len(s.values("upload")) == 3
    assert all(abs(v - 19.05) < 0.1 for v in s.values("download") + s.values("upload"))
    assert len(s.raw) == len(host.commands) - 2  # every measurement kept; loadavg before and after
    assert s.load == ["0.50 0.40 0.30 1/100 4242"] * 2
    assert s.egress == {"198.51.100.130" if method == "iperf3" else "198.51.100.134"}
    assert [j.outcome for j in bandwidth.judge_series(s, 10, 0.1)] == ["pass", "pass"]


def test_measure_failures_are_errors() -> None:
    plan = bandwidth.Plan("iperf3", "", "198.51.100.134", "", 1, 2)
    with pytest.raises(FactUnavailable, match="server address"):
        bandwidth.measure(FakeHost(1, 1), plan)
    plan = bandwidth.Plan("http", "198.51.100.200", "198.51.100.134", "", 1, 2)
    with pytest.raises(FactUnavailable, match="base URL"):
        bandwidth.measure(FakeHost(1, 1), plan)


# ---- routes -----------------------------------------------------------------------------------


def test_route_get_parsing_and_command() -> None:
    out = "198.51.100.200 from 198.51.100.134 via 198.51.100.133 dev wan-b table 102 uid 1000 \n    cache \n"
    asked: list[str] = []

    def run(cmd: str, timeout: float) -> CommandResult:
        asked.append(cmd)
        return _res(cmd, out)

    r = paths.route_get(run, "198.51.100.200", source="198.51.100.134")
    assert asked == ["ip route get 198.51.100.200 from 198.51.100.134"]
    assert (r.dev, r.via, r.table, r.first_hop) == ("wan-b", "198.51.100.133", "102", "198.51.100.133")
    direct = paths.parse_route_get("198.51.100.225 dev dl0 src 198.51.100.146 uid 0\n    cache", "198.51.100.225")
    assert (direct.dev, direct.via, direct.src, direct.first_hop) == ("dl0", "", "198.51.100.146", "198.51.100.225")
    with pytest.raises(FactUnavailable, match="no route"):
        paths.parse_route_get("", "198.51.100.1")
    with pytest.raises(ValueError):
        paths.route_get(run, "platform.lab")  # names are refused: no DNS on the hosts
    with pytest.raises(FactUnavailable, match="failed"):
        paths.route_get(lambda c, t: _res(c, "", 2, "RTNETLINK answers: Network is unreachable"), "198.51.100.9")


def test_a_busy_iperf3_server_is_retried_then_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bandwidth, "BUSY_WAIT_S", 0.0)
    busy = json.dumps({"error": "the server is busy running a test. try again later"})
    answers = [busy, busy, _iperf(19.0), _iperf(19.1)]

    def run(cmd: str, timeout: float) -> CommandResult:
        return _res(cmd, "0.1 0.1 0.1 1/1 1" if cmd.startswith("cat") else answers.pop(0), 0)

    s = bandwidth.measure(run, bandwidth.Plan("iperf3", "198.51.100.200", "198.51.100.134", "", 1, 2))
    assert s.values("download") == [19.0] and s.values("upload") == [19.1]
    assert sum(1 for r in s.raw if "busy" in r["stdout"]) == 2  # the retries stay in the evidence

    def always_busy(cmd: str, timeout: float) -> CommandResult:
        return _res(cmd, "" if cmd.startswith("cat") else busy, 1)

    with pytest.raises(FactUnavailable, match="busy"):
        bandwidth.measure(always_busy, bandwidth.Plan("iperf3", "198.51.100.200", "", "wan-b", 1, 2))


def test_a_reset_connection_from_a_finishing_iperf3_server_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen in CI: the server, still closing its previous test, resets the next connection, or
    refuses it while it reopens its listening socket."""
    monkeypatch.setattr(bandwidth, "BUSY_WAIT_S", 0.0)
    reset = json.dumps({"error": "unable to connect to server: Connection reset by peer"})
    control = json.dumps({"error": "unable to receive control message: Connection reset by peer"})
    refused = json.dumps({"error": "unable to connect to server: Connection refused"})
    answers = [reset, control, refused, _iperf(19.0), _iperf(19.1)]

    def run(cmd: str, timeout: float) -> CommandResult:
        return _res(cmd, "0.1 0.1 0.1 1/1 1" if cmd.startswith("cat") else answers.pop(0), 0)

    s = bandwidth.measure(run, bandwidth.Plan("iperf3", "198.51.100.200", "198.51.100.134", "", 1, 2))
    assert s.values("download") == [19.0] and s.values("upload") == [19.1]

    def gone(cmd: str, timeout: float) -> CommandResult:  # no server at all: 检查错误 after the retries
        return _res(cmd, "" if cmd.startswith("cat") else refused, 1)

    with pytest.raises(FactUnavailable, match="Connection refused"):
        bandwidth.measure(gone, bandwidth.Plan("iperf3", "198.51.100.200", "", "wan-b", 1, 2))
