"""附录1 四(三): two broadband uplinks from different providers, each of at least 10 Mbit/s.

Every measurement runs on the host that owns the uplink, over the run's SSH connection
(``host_transport``), bound to the uplink's source address or interface. The bandwidth
verdict respects measurement error (:mod:`ihconform.net.bandwidth`): a median whose whole
uncertainty band is above the threshold passes, one whose band is below fails, and one whose
band straddles it is reported 未检查 ("inside the uncertainty band") with every sample, never
decided by rounding.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.inventory import Uplink
from ihconform.net import bandwidth, paths
from ihconform.registry import probe
from ihconform.runcache import EvidenceSink, RunCache
from ihconform.transport.base import CommandResult, Transport

HostTransport = Callable[[str], Transport]


def _uplink(check: Check) -> Uplink:
    ref = check.obj.ref
    if not isinstance(ref, Uplink):
        raise FactUnavailable(f"{check.obj.id} is not an uplink")
    return ref


def _runner(t: Transport) -> Callable[[str, float], CommandResult]:
    return lambda cmd, timeout: t.run(cmd, timeout=timeout)


def _route(u: Uplink, host_transport: HostTransport, run_cache: RunCache) -> paths.Route:
    dest = u.server if u.method == "iperf3" else ""
    if not dest:
        dest = _address_of(u.server)
    return run_cache.get(f"uplink.route:{u.id}", lambda: paths.route_get(
        _runner(host_transport(u.host)), dest, source=u.source, oif=u.interface if not u.source else ""))


def _address_of(server: str) -> str:
    """The literal address inside a URL (routes are proven to addresses; no DNS on the host)."""
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(server).hostname or server
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise FactUnavailable(f"cannot prove the path to {server!r}: give the test server as an address "
                              "(or an URL with a literal address)") from None
    return host


@probe("uplink.bandwidth", facts=())
def test_bandwidth(check: Check, host_transport: HostTransport, run_cache: RunCache,
                   evidence: EvidenceSink) -> None:
    u = _uplink(check)
    threshold = check.float_param("min_mbps")
    secs = check.float_param("seconds")
    budget = check.float_param("max_seconds")
    rel = check.float_param(f"uncertainty_{u.method}")
    directions = tuple(str(d) for d in check.list_param("directions"))
    per_repeat = {"iperf3": 2 * (secs + 0.5), "http": 2 * (secs + 0.5), "speedtest": 11.0}[u.method]
    repeats = max(1, min(u.repeats, math.floor(budget / per_repeat)))
    plan = bandwidth.Plan(method=u.method, server=u.server, source=u.source, interface=u.interface,
                          repeats=repeats, seconds=secs)
    series = run_cache.get(f"uplink.bandwidth:{u.id}:{u.method}:{secs:g}:{repeats}",
                           lambda: bandwidth.measure(_runner(host_transport(u.host)), plan))
    judged = bandwidth.judge_series(series, threshold, rel, directions)
    data = {"uplink": u.id, "isp": u.isp, "method": u.method, "repeats": repeats,
            "repeats_declared": u.repeats, "seconds_per_direction": secs, "threshold_mbps": threshold,
            "relative_uncertainty": rel, "wall_seconds": series.wall_seconds, "loadavg": series.load,
            "samples": [dataclasses.asdict(s) for s in series.samples],
            "judgements": [dataclasses.asdict(j) for j in judged], "raw": series.raw}
    check.attach(evidence.write(("uplink", u.id, "bandwidth.json"), data, kind="bandwidth-samples"))
    observed = {j.direction: {"median_mbps": j.median, "band": [j.low, j.high], "samples": list(j.samples),
                              "outcome": j.outcome} for j in judged}
    observed["method"] = u.method  # type: ignore[assignment]
    expected = f">= {threshold:g} Mbit/s each direction (band ±max({rel:.0%}, spread/2))"
    summary = "; ".join(f"{j.direction} {j.median:g} Mbit/s [{j.low:g}–{j.high:g}]" for j in judged)
    note = "" if repeats == u.repeats else f" (repeats capped {u.repeats}->{repeats} by max_seconds={budget:g})"
    if any(j.outcome == "fail" for j in judged):
        bad = [j.direction for j in judged if j.outcome == "fail"]
        check.judge(False, observed=observed, expected=expected,
                    reason=f"{u.isp} 带宽不足 / below {threshold:g} Mbit/s ({', '.join(bad)}): {summary}{note}")
    elif all(j.outcome == "pass" for j in judged):
        check.judge(True, observed=observed, expected=expected, reason=f"{u.isp}: {summary}{note}")
    else:
        check.not_checked(f"测量值落在不确定区间内，无法判定 / inside the uncertainty band of {u.method}, "
                          f"not decidable: {summary}; re-measure with more repeats or iperf3{note}",
                          observed=observed, expected=expected)


@probe("uplink.path", facts=())
def test_path(check: Check, host_transport: HostTransport, run_cache: RunCache, evidence: EvidenceSink) -> None:
    """The bound source really leaves through the declared interface and gateway."""
    u = _uplink(check)
    route = _route(u, host_transport, run_cache)
    check.attach(evidence.write(("uplink", u.id, "route.json"), dataclasses.asdict(route), kind="route"))
    parts: dict[str, bool] = {}
    if u.interface:
        parts["interface"] = route.dev == u.interface
    if u.gateway:
        parts["gateway"] = route.via == u.gateway
    if u.source:
        parts["source"] = route.src in ("", u.source)
    if not parts:
        raise FactUnavailable(f"uplink {u.id} declares neither interface nor gateway to compare with")
    check.judge_parts(parts, observed={"dev": route.dev, "via": route.via, "src": route.src, "table": route.table,
                                       "command": route.command},
                      expected={"dev": u.interface or "(any)", "via": u.gateway or "(any)"},
                      reason=(f"经 / via {route.via or 'direct'} dev {route.dev}" if all(parts.values()) else
                              f"路由与声明不符 / route differs from the declaration: {route.raw}"))


@probe("uplink.distinct_isps", facts=())
def test_distinct_isps(check: Check, host_transport: HostTransport, run_cache: RunCache,
                       evidence: EvidenceSink) -> None:
    """Site-wide: at least N uplinks, from different declared providers, on different paths."""
    need = check.int_param("min_uplinks")
    ups = list(check.inventory.uplinks)
    routes: dict[str, paths.Route] = {}
    for u in ups:
        routes[u.id] = _route(u, host_transport, run_cache)
    check.attach(evidence.write(("uplink", "site", "routes.json"),
                                {k: dataclasses.asdict(v) for k, v in routes.items()}, kind="route"))
    isps = {u.id: " ".join(u.isp.lower().split()) for u in ups}
    hops = {u.id: (routes[u.id].dev, routes[u.id].first_hop) for u in ups}
    egress = {u.id: routes[u.id].src or u.source for u in ups}
    parts = {
        "count": len(ups) >= need,
        "distinct_providers": len(set(isps.values())) >= need,
        "distinct_paths": len(set(hops.values())) >= need,
        "distinct_egress": len({e for e in egress.values() if e}) >= need,
    }
    observed = {u.id: {"isp": u.isp, "dev": hops[u.id][0], "first_hop": hops[u.id][1], "egress": egress[u.id]}
                for u in ups}
    why = []
    if not parts["count"]:
        why.append(f"只有 {len(ups)} 条宽带线路 / only {len(ups)} uplink(s) declared, need {need}")
    if not parts["distinct_providers"]:
        why.append("宽带供应商相同 / the uplinks are not from different providers")
    if not parts["distinct_paths"]:
        why.append("线路经同一接口与下一跳 / the uplinks share interface and first hop")
    if not parts["distinct_egress"]:
        why.append("出口地址相同 / the uplinks share an egress address")
    check.judge(all(parts.values()), observed=observed, expected=f">= {need} uplinks, distinct providers and paths",
                      reason="; ".join(why) or f"{len(ups)} 条线路来自不同供应商 / {len(ups)} uplinks, "
                                               f"providers: {', '.join(sorted({u.isp for u in ups}))}")
