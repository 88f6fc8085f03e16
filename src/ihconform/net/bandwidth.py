"""Uplink bandwidth, measured on the host that owns the uplink, and judged with its error.

Why on the host: the harness may sit anywhere; only the host that owns the uplinks can bind
its source address or interface, so every command runs there over the run's transport
(``host_transport``), with each argument quoted. Three methods, as the inventory chooses:

- ``iperf3``: ``iperf3 -c SERVER -B SOURCE -t SECS -J`` (upload) and ``-R`` (download); the
  rate is ``end.sum_received`` (what actually arrived).
- ``http``: curl, bound with ``--interface``; download is a time-bounded GET of a large file on a
  connection warmed by a 256 KiB range, upload a POST whose size follows the download rate so it
  lasts about SECS; rate = bytes / total time as curl reports it.
- ``speedtest``: ``speedtest-cli --mini URL --source SOURCE --json`` (or speedtest.net when no
  URL is declared); its own download/upload figures.

The verdict rule (:func:`judge_series`): a series of N repeats gives a median and a spread.
The uncertainty band is ``median ± max(u × median, (max − min) / 2)``, where ``u`` is the
method's relative accuracy measured in the lab (docs/network.md). If the whole band is at or
above the threshold the direction passes, if it is entirely below it fails, otherwise the
result is *inside the band*: reported with its samples as not decidable, never rounded
either way.

Measurements are serialised process-wide (:data:`MEASURE_LOCK`): two uplinks measured at the
same time would share the CPU and, often, the test server, and both would read low.

With ``Plan.observe`` the same session also reads what shows the uplink is its own
(:mod:`ihconform.net.egress`): the interface counters before and after the series, the egress
address a reflector on the internet saw, and the first hops beyond the customer edge. A failure
to read one of them is recorded in ``Series.unobserved`` (the judge says 未检查 for that part);
it never stops the bandwidth series.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ihconform.errors import FactUnavailable
from ihconform.net import egress as egress_obs
from ihconform.transport.base import CommandResult, quote_command

Runner = Callable[[str, float], CommandResult]
Direction = Literal["download", "upload"]
MEASURE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Sample:
    direction: Direction
    mbps: float
    seconds: float
    command: str
    note: str = ""
    nbytes: int = 0  # payload bytes the measurement moved (0: the tool does not say)


@dataclass
class Series:
    """All samples of one uplink, with the raw outputs kept for evidence."""

    method: str
    samples: list[Sample] = field(default_factory=list)
    raw: list[dict[str, Any]] = field(default_factory=list)
    egress: set[str] = field(default_factory=set)  # source/egress addresses seen
    isp_reported: set[str] = field(default_factory=set)  # speedtest's client.isp
    wall_seconds: float = 0.0
    load: list[str] = field(default_factory=list)  # the host's /proc/loadavg before and after
    outside_egress: str = ""  # the client address the reflector saw
    hops: tuple[egress_obs.Hop, ...] = ()  # TTL-limited probes beyond the customer edge
    share: egress_obs.LinkShare | None = None  # the uplink interface's bytes during the series
    unobserved: dict[str, str] = field(default_factory=dict)  # observation -> why it could not be read

    def values(self, direction: Direction) -> list[float]:
        return [s.mbps for s in self.samples if s.direction == direction]


# ---- commands and parsers (pure) ----------------------------------------------------------------


def iperf3_command(server: str, secs: float, *, source: str = "", interface: str = "",
                   reverse: bool = False, port: int = 5201) -> str:
    template, args = "iperf3 -c %s -p %s -t %s -J", [server, port, _num(secs)]
    if source:
        template += " -B %s"
        args.append(source)
    elif interface:
        template += " --bind-dev %s"
        args.append(interface)
    if reverse:
        template += " -R"
    return quote_command(template, *args)


def parse_iperf3(text: str) -> tuple[float, str]:
    """(Mbit/s received, local address) from ``iperf3 -J``. Raises FactUnavailable on errors."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FactUnavailable(f"iperf3 printed no JSON: {text.strip()[:200]}") from exc
    if doc.get("error"):
        raise FactUnavailable(f"iperf3: {doc['error']}")
    end = doc.get("end") or {}
    received = (end.get("sum_received") or {}).get("bits_per_second")
    if received is None:
        raise FactUnavailable("iperf3 JSON has no end.sum_received")
    connected = (doc.get("start") or {}).get("connected") or [{}]
    return float(received) / 1e6, str(connected[0].get("local_host", ""))


#: Bytes fetched first on the same connection before the timed download (see below).
WARMUP_BYTES = 262144


def iperf3_bytes(text: str) -> int:
    """Bytes received in an ``iperf3 -J`` test (``end.sum_received.bytes``; 0 when absent)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return 0
    return int(((doc.get("end") or {}).get("sum_received") or {}).get("bytes") or 0)


def curl_download_command(url: str, secs: float, bind: str) -> str:
    """A time-bounded GET, after a 256 KiB warm-up range on the same connection (``--next``
    reuses it). Why: in the lab a cold download that followed an upload or an earlier cut-off
    download read 80-87 % of an 8 Mbit link in some samples (probably the kernel's cached
    ssthresh for the destination), while the warmed transfer read a steady 95 %."""
    return quote_command("curl -sS -o /dev/null --interface %s --max-time %s -r 0-%s %s "
                         "--next -sS -o /dev/null --interface %s --max-time %s "
                         "-w '%%{size_download} %%{time_total} %%{local_ip}' %s",
                         bind, _num(secs + 5), WARMUP_BYTES - 1, url, bind, _num(secs), url)


def curl_upload_command(url: str, nbytes: int, max_secs: float, bind: str) -> str:
    return quote_command("head -c %s /dev/zero | curl -sS -o /dev/null --interface %s --max-time %s "
                         "-X POST -H 'Content-Type: application/octet-stream' -T - "
                         "-w '%%{size_upload} %%{time_total} %%{local_ip}' %s",
                         nbytes, bind, _num(max_secs), url)


def parse_curl(res: CommandResult, *, upload: bool) -> tuple[float, float, str, str]:
    """(Mbit/s, seconds, local ip, note). curl exit 28 (time limit) is the normal end of a
    time-bounded download; for an upload it means the size was not all sent (noted)."""
    parts = res.text.split()
    if len(parts) < 2 or res.exit_code not in (0, 28):
        raise FactUnavailable(f"curl failed ({res.exit_code}): "
                              f"{res.stderr.decode('utf-8', 'replace').strip()[:200] or res.text[:200]}")
    nbytes, secs = float(parts[0]), float(parts[1])
    if secs <= 0 or nbytes <= 0:
        raise FactUnavailable(f"curl moved {nbytes:.0f} bytes in {secs} s")
    note = "upload cut at the time limit (rate may read high by the socket buffer)" \
        if upload and res.exit_code == 28 else ""
    return nbytes * 8 / secs / 1e6, secs, parts[2] if len(parts) > 2 else "", note


def speedtest_command(url: str, source: str, timeout: float) -> str:
    template, args = "speedtest-cli --json --secure --timeout %s", [_num(timeout)]
    if url:
        template = "speedtest-cli --json --timeout %s --mini %s"
        args.append(url)
    if source:
        template += " --source %s"
        args.append(source)
    return quote_command(template, *args)


def parse_speedtest(text: str) -> tuple[float, float, str, str]:
    """(download Mbit/s, upload Mbit/s, client ip, client isp) from ``speedtest-cli --json``."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FactUnavailable(f"speedtest-cli printed no JSON: {text.strip()[:200]}") from exc
    client = doc.get("client") or {}
    return (float(doc["download"]) / 1e6, float(doc["upload"]) / 1e6, str(client.get("ip", "")),
            str(client.get("isp", "")))


def speedtest_bytes(text: str) -> tuple[int, int]:
    """(bytes_received, bytes_sent) of a ``speedtest-cli --json`` run (0 when absent)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return 0, 0
    return int(doc.get("bytes_received") or 0), int(doc.get("bytes_sent") or 0)


def _num(x: float) -> str:
    return f"{x:g}"


# ---- measuring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How to measure one uplink (from the inventory and the profile parameters)."""

    method: str
    server: str  # iperf3 address, speedtest mini URL ("" = speedtest.net), HTTP base URL
    source: str
    interface: str
    repeats: int
    seconds: float  # per direction and repeat (iperf3, http)
    http_download_path: str = "/speedtest/random4000x4000.jpg"
    http_upload_path: str = "/speedtest/upload.php"
    timeout: float = 60.0
    observe: bool = False  # also read counters, the reflector and the first hops (module doc)
    reflector: str = ""  # URL of an echo service that answers with the client address
    trace_to: str = ""  # literal address the TTL-limited probes go towards
    edge_hops: int = 0  # the customer's own routers between the host and the provider


def measure(run: Runner, plan: Plan) -> Series:
    """Run the series (serialised with every other measurement of this process)."""
    with MEASURE_LOCK:
        t0 = time.monotonic()
        series = Series(plan.method)
        series.load.append(_loadavg(run))
        before = _counters(run, series) if plan.observe else None
        for i in range(plan.repeats):
            if plan.method == "iperf3":
                _iperf3_round(run, plan, series, i)
            elif plan.method == "http":
                _http_round(run, plan, series, i)
            elif plan.method == "speedtest":
                _speedtest_round(run, plan, series, i)
            else:
                raise FactUnavailable(f"unknown bandwidth method {plan.method!r}")
        if plan.observe:
            _observe(run, plan, series, before)
        series.load.append(_loadavg(run))
        series.wall_seconds = round(time.monotonic() - t0, 2)
        return series


def _counters(run: Runner, series: Series) -> dict[str, tuple[int, int]] | None:
    res = run(egress_obs.NETDEV_COMMAND, 10.0)
    try:
        if res.exit_code != 0:
            raise FactUnavailable(f"`{egress_obs.NETDEV_COMMAND}` failed ({res.exit_code})")
        return egress_obs.parse_netdev(res.text)
    except FactUnavailable as exc:
        series.unobserved["counters"] = str(exc)
        return None


def _observe(run: Runner, plan: Plan, series: Series, before: dict[str, tuple[int, int]] | None) -> None:
    """Counters after the series, then the reflector and the trace (each failure kept, not raised)."""
    after = _counters(run, series)
    try:
        if before is None or after is None:
            raise FactUnavailable(series.unobserved.get("counters", "cannot read /proc/net/dev"))
        iface = plan.interface
        if plan.source:
            res = run(egress_obs.ADDR_COMMAND, 10.0)
            iface = egress_obs.owner_of(res.text, plan.source)
        measured = sum(s.nbytes for s in series.samples)
        if measured <= 0:
            raise FactUnavailable(f"{plan.method} did not report the bytes it moved")
        series.share = egress_obs.link_share(before, after, iface, measured)
    except FactUnavailable as exc:
        series.unobserved["counters"] = str(exc)
    bind = plan.source or plan.interface
    if plan.reflector:
        cmd = egress_obs.reflector_command(plan.reflector, bind)
        res = run(cmd, egress_obs.REFLECTOR_TIMEOUT_S + 5.0)
        series.raw.append({"observation": "reflector", "command": cmd, "exit_code": res.exit_code,
                           "stdout": res.text[-2000:], "stderr": res.stderr.decode("utf-8", "replace")[-500:]})
        try:
            series.outside_egress = egress_obs.parse_reflector(res)
        except FactUnavailable as exc:
            series.unobserved["egress"] = str(exc)
    else:
        series.unobserved["egress"] = "no reflector declared for this uplink (inventory uplinks[*].reflector)"
    if plan.trace_to:
        cmd = egress_obs.traceroute_command(plan.trace_to, source=plan.source, interface=plan.interface,
                                            first=plan.edge_hops + 1)
        res = run(cmd, egress_obs.TRACE_WAIT_S * egress_obs.TRACE_HOPS + 10.0)
        series.raw.append({"observation": "traceroute", "command": cmd, "exit_code": res.exit_code,
                           "stdout": res.text[-2000:], "stderr": res.stderr.decode("utf-8", "replace")[-500:]})
        try:
            series.hops = egress_obs.parse_traceroute(res)
        except FactUnavailable as exc:
            series.unobserved["hops"] = str(exc)
    else:
        series.unobserved["hops"] = "no literal test-server address to trace towards"


def _loadavg(run: Runner) -> str:
    """The measuring host's load average: a loaded CPU makes every method read low, so the
    evidence shows it next to the samples (empty when the host has no /proc/loadavg)."""
    res = run("cat /proc/loadavg", 10.0)
    return res.text.strip() if res.exit_code == 0 else ""


def _exec(run: Runner, cmd: str, timeout: float, series: Series, i: int) -> tuple[CommandResult, float]:
    t0 = time.monotonic()
    res = run(cmd, timeout)
    secs = round(time.monotonic() - t0, 3)
    series.raw.append({"repeat": i + 1, "command": cmd, "exit_code": res.exit_code, "seconds": secs,
                       "stdout": res.text[-20000:], "stderr": res.stderr.decode("utf-8", "replace")[-2000:]})
    return res, secs


#: An iperf3 server runs one test at a time and needs a moment after each to listen again; a
#: client that comes back at once (our next direction) or meets another client gets this error.
BUSY = "the server is busy running a test"
#: Also transient: a server finishing its previous test resets the next connection, at connect or
#: at the first control message, or refuses it while it closes and reopens its listening socket
#: between tests (all three seen in CI). A server that is really gone is still refused after the
#: retries (about 5 s), and the measurement is 检查错误.
TRANSIENT = (BUSY, "Connection reset by peer", "unable to connect to server: Connection refused")
BUSY_RETRIES, BUSY_WAIT_S = 4, 0.5


def _iperf3_round(run: Runner, plan: Plan, series: Series, i: int) -> None:
    if not plan.server:
        raise FactUnavailable("iperf3 needs the uplink's server address in the inventory")
    for direction, reverse in (("download", True), ("upload", False)):
        cmd = iperf3_command(plan.server, plan.seconds, source=plan.source, interface=plan.interface,
                             reverse=reverse)
        for attempt in range(BUSY_RETRIES + 1):
            res, secs = _exec(run, cmd, plan.seconds + plan.timeout, series, i)
            if res.exit_code != 0 and not res.text.strip().startswith("{"):
                raise FactUnavailable(f"`{cmd}` failed ({res.exit_code}): "
                                      f"{res.stderr.decode('utf-8', 'replace').strip()[:200]}")
            if not any(t in res.text for t in TRANSIENT) or attempt == BUSY_RETRIES:
                break
            time.sleep(BUSY_WAIT_S * (attempt + 1))  # the server is between tests or serving another client
        mbps, local = parse_iperf3(res.text)
        if local:
            series.egress.add(local)
        series.samples.append(Sample(direction, round(mbps, 3), secs, cmd,  # type: ignore[arg-type]
                                     nbytes=iperf3_bytes(res.text)))


def _http_round(run: Runner, plan: Plan, series: Series, i: int) -> None:
    if not plan.server.startswith(("http://", "https://")):
        raise FactUnavailable(f"the http method needs an http(s) base URL, not {plan.server!r}")
    bind = plan.source or plan.interface
    base = plan.server.rstrip("/")
    cmd = curl_download_command(base + plan.http_download_path, plan.seconds, bind)
    res, _ = _exec(run, cmd, plan.seconds + plan.timeout, series, i)
    down, secs, local, note = parse_curl(res, upload=False)
    series.samples.append(Sample("download", round(down, 3), secs, cmd, note,
                                 nbytes=int(float(res.text.split()[0])) + WARMUP_BYTES))
    nbytes = max(65536, int(down * 1e6 / 8 * plan.seconds))  # about SECS at the download rate
    cmd = curl_upload_command(base + plan.http_upload_path, nbytes, plan.seconds * 3, bind)
    res, _ = _exec(run, cmd, plan.seconds * 3 + plan.timeout, series, i)
    up, secs, local2, note = parse_curl(res, upload=True)
    series.samples.append(Sample("upload", round(up, 3), secs, cmd, note, nbytes=int(float(res.text.split()[0]))))
    series.egress.update(x for x in (local, local2) if x)


def _speedtest_round(run: Runner, plan: Plan, series: Series, i: int) -> None:
    cmd = speedtest_command(plan.server, plan.source, 10)
    res, secs = _exec(run, cmd, plan.timeout, series, i)
    if res.exit_code != 0:
        raise FactUnavailable(f"`{cmd}` failed ({res.exit_code}): "
                              f"{res.stderr.decode('utf-8', 'replace').strip()[-300:]}")
    down, up, ip, isp = parse_speedtest(res.text)
    received, sent = speedtest_bytes(res.text)
    series.samples.append(Sample("download", round(down, 3), secs, cmd, nbytes=received))
    series.samples.append(Sample("upload", round(up, 3), secs, cmd, nbytes=sent))
    if ip:
        series.egress.add(ip)
    if isp:
        series.isp_reported.add(isp)


# ---- judging with the uncertainty band ----------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    direction: str
    outcome: Literal["pass", "fail", "inside-band"]
    median: float
    low: float
    high: float
    spread: float
    samples: tuple[float, ...]


def judge_direction(values: list[float], threshold: float, rel_uncertainty: float, direction: str) -> Judgement:
    """Apply the documented rule to one direction's samples (see the module doc)."""
    if not values:
        raise FactUnavailable(f"no {direction} samples")
    med = statistics.median(values)
    spread = max(values) - min(values)
    half = max(rel_uncertainty * med, spread / 2)
    low, high = med - half, med + half
    outcome: Literal["pass", "fail", "inside-band"] = (
        "pass" if low >= threshold else "fail" if high < threshold else "inside-band")
    return Judgement(direction, outcome, round(med, 3), round(low, 3), round(high, 3), round(spread, 3),
                     tuple(values))


def judge_series(series: Series, threshold: float, rel_uncertainty: float,
                 directions: tuple[str, ...] = ("download", "upload")) -> list[Judgement]:
    return [judge_direction(series.values(d), threshold, rel_uncertainty, d)  # type: ignore[arg-type]
            for d in directions]
