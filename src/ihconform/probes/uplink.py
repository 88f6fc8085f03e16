"""附录1 四(三): two broadband uplinks from different providers, each of at least 10 Mbit/s.

Every measurement runs on the host that owns the uplink, over the run's SSH connection
(``host_transport``), bound to the uplink's source address or interface. The bandwidth
verdict respects measurement error (:mod:`ihconform.net.bandwidth`): a median whose whole
uncertainty band is above the threshold passes, one whose band is below fails, and one whose
band straddles it is reported 未检查 ("inside the uncertainty band") with every sample, never
decided by rounding.

Providers are judged as observed, not as declared (issue 20): the same measurement session reads
the egress address a reflector on the internet saw, the first provider hops and the interface
counters (:mod:`ihconform.net.egress`); two uplinks that share an egress address or a first
provider router, or an uplink whose measured traffic left through another interface, are not
two providers whatever names the inventory gives (docs/network.md).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ihconform.check import Check, decisive_note
from ihconform.errors import FactUnavailable
from ihconform.inventory import Uplink
from ihconform.net import bandwidth, paths
from ihconform.net import egress as egress_obs
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


def _trace_target(u: Uplink) -> str:
    """Where the TTL-limited probes go: the test server, else the reflector ("" if neither is a
    literal address)."""
    for where in (u.server, u.reflector):
        try:
            if where:
                return _address_of(where)
        except FactUnavailable:
            continue
    return ""


def _measured(check: Check, u: Uplink, host_transport: HostTransport,
              run_cache: RunCache) -> tuple[bandwidth.Series, int]:
    """The uplink's series and the repeats it ran: one per run for every control that asks with
    the same ``seconds``/``max_seconds`` (the bandwidth and the providers control share it, so the
    counters, the reflector and the trace belong to the very measurement the bandwidth is)."""
    secs = check.float_param("seconds")
    budget = check.float_param("max_seconds")
    per_repeat = {"iperf3": 2 * (secs + 0.5), "http": 2 * (secs + 0.5), "speedtest": 11.0}[u.method]
    repeats = max(1, min(u.repeats, math.floor(budget / per_repeat)))
    plan = bandwidth.Plan(method=u.method, server=u.server, source=u.source, interface=u.interface,
                          repeats=repeats, seconds=secs, observe=True, reflector=u.reflector,
                          trace_to=_trace_target(u), edge_hops=u.edge_hops)
    series = run_cache.get(f"uplink.bandwidth:{u.id}:{u.method}:{secs:g}:{repeats}",
                           lambda: bandwidth.measure(_runner(host_transport(u.host)), plan))
    return series, repeats


@probe("uplink.bandwidth", facts=())
def test_bandwidth(check: Check, host_transport: HostTransport, run_cache: RunCache,
                   evidence: EvidenceSink) -> None:
    u = _uplink(check)
    threshold = check.float_param("min_mbps")
    secs = check.float_param("seconds")
    budget = check.float_param("max_seconds")
    rel = check.float_param(f"uncertainty_{u.method}")
    directions = tuple(str(d) for d in check.list_param("directions"))
    series, repeats = _measured(check, u, host_transport, run_cache)
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


# ---- independence of the providers, as observed ------------------------------------------------


@dataclass(frozen=True)
class _Seen:
    """One uplink as observed: what the outside saw, where it entered a provider, what it carried."""

    id: str
    declared_isp: str
    route: paths.Route
    egress: str  # address the reflector saw ("" unread)
    first_hop: str  # first provider router that answered ("" unread)
    hops: tuple[str, ...]
    share: egress_obs.LinkShare | None
    unread: dict[str, str]


def _pairs_sharing(values: dict[str, str]) -> list[tuple[str, list[str]]]:
    """(value, uplinks) for every non-empty value held by more than one uplink."""
    by: dict[str, list[str]] = {}
    for uid, v in values.items():
        if v:
            by.setdefault(v, []).append(uid)
    return [(v, ids) for v, ids in sorted(by.items()) if len(ids) > 1]


@dataclass(frozen=True)
class _Independence:
    """The site's uplinks as observed, and the parts of the providers control they decide.

    Why every declared uplink must prove itself (not just N of them): the inventory credits each
    line to a provider; a line that shares its egress or its first provider router with another,
    or whose measured traffic left through another interface, makes that credit false."""

    seen: tuple[_Seen, ...]
    min_share: float

    @classmethod
    def observe(cls, ups: list[Uplink], routes: dict[str, paths.Route], series: dict[str, bandwidth.Series],
                min_share: float) -> _Independence:
        out = []
        for u in ups:
            s = series[u.id]
            unread = dict(s.unobserved)
            target = _trace_target(u)
            first = s.hops[0].address if s.hops else ""
            if s.hops and not first:
                unread["hops"] = f"no answer at TTL {s.hops[0].ttl} (the first router beyond the customer edge)"
            elif first and first == target:
                unread["hops"] = f"the test server {target} answered at the first hop: no provider router seen"
                first = ""
            out.append(_Seen(u.id, u.isp, routes[u.id], s.outside_egress, first,
                             tuple(h.address or "*" for h in s.hops), s.share, unread))
        return cls(tuple(out), min_share)

    def _short(self) -> list[_Seen]:
        return [x for x in self.seen if x.share is not None and x.share.share < self.min_share]

    def parts(self, need: int) -> dict[str, bool | None]:
        """True/False as observed; None when some uplink could not be read and nothing read fails."""
        def tri(values: dict[str, str]) -> bool | None:
            if _pairs_sharing(values):
                return False
            return None if any(not v for v in values.values()) else True

        shares_unread = any(x.share is None for x in self.seen)
        return {
            "count": len(self.seen) >= need,
            "distinct_providers": len({" ".join(x.declared_isp.lower().split()) for x in self.seen}) >= need,
            "distinct_paths": len({(x.route.dev, x.route.first_hop) for x in self.seen}) >= need,
            "distinct_egress_seen": tri({x.id: x.egress for x in self.seen}),
            "distinct_first_hop": tri({x.id: x.first_hop for x in self.seen}),
            "traffic_on_own_link": False if self._short() else None if shares_unread else True,
        }

    def findings(self, parts: dict[str, bool | None], need: int) -> list[str]:
        why: list[str] = []
        if parts["count"] is False:
            why.append(f"只有 {len(self.seen)} 条宽带线路 / only {len(self.seen)} uplink(s) declared, need {need}")
        if parts["distinct_providers"] is False:
            why.append("清单所列供应商相同 / the inventory names the same provider for the uplinks")
        if parts["distinct_paths"] is False:
            why.append("线路经同一接口与下一跳 / the uplinks share interface and first hop")
        for addr, ids in _pairs_sharing({x.id: x.egress for x in self.seen}):
            why.append(f"出口地址相同 / {' and '.join(ids)} leave from the same address {addr} as seen from "
                       "outside (reflector): not two providers")
        for addr, ids in _pairs_sharing({x.id: x.first_hop for x in self.seen}):
            why.append(f"首个运营商路由器相同 / {' and '.join(ids)} enter the same provider router {addr}: "
                       "not two providers")
        for x in self._short():
            assert x.share is not None
            other = max(x.share.other_bytes.items(), key=lambda kv: kv[1], default=("-", 0))
            why.append(f"流量未经所声明线路 / {x.id}: {x.share.interface} carried {x.share.share:.0%} of the "
                       f"{x.share.measured_bytes / 1e6:.1f} MB measured (need >= {self.min_share:.0%}); "
                       f"{other[0]} moved {other[1] / 1e6:.1f} MB")
        return why

    def unread(self, names: list[str]) -> list[str]:
        key = {"distinct_egress_seen": "egress", "distinct_first_hop": "hops", "traffic_on_own_link": "counters"}
        return [f"{x.id} {key[n]}: {x.unread.get(key[n], 'not read')}" for n in names for x in self.seen
                if key[n] in x.unread or (n == "traffic_on_own_link" and x.share is None)]

    def summary(self) -> str:
        return (f"{len(self.seen)} 条线路经观测相互独立 / {len(self.seen)} uplinks independent as observed: "
                + "; ".join(f"{x.id} egress {x.egress}, first provider hop {x.first_hop}, "
                            f"{x.share.interface if x.share else '?'} carried "
                            f"{x.share.share if x.share else 0:.0%} of its measurement" for x in self.seen))

    def observed(self) -> dict[str, Any]:
        return {x.id: {"isp_declared": x.declared_isp, "dev": x.route.dev, "route_first_hop": x.route.first_hop,
                       "kernel_source": x.route.src, "egress_seen": x.egress, "first_provider_hop": x.first_hop,
                       "hops": list(x.hops),
                       "link_share": round(x.share.share, 3) if x.share else None,
                       "interface": x.share.interface if x.share else "",
                       "unread": x.unread} for x in self.seen}

    def evidence(self) -> dict[str, Any]:
        return {"min_link_share": self.min_share, "uplinks": {
            x.id: {**self.observed()[x.id], "route": dataclasses.asdict(x.route),
                   "counters": dataclasses.asdict(x.share) if x.share else None} for x in self.seen}}


@probe("uplink.distinct_isps", facts=(), parts=("count", "distinct_providers", "distinct_paths", "distinct_egress_seen",
                                               "distinct_first_hop", "traffic_on_own_link"))
def test_distinct_isps(check: Check, host_transport: HostTransport, run_cache: RunCache,
                       evidence: EvidenceSink) -> None:
    """Site-wide: at least N uplinks, from providers that are different as observed, not only as
    declared: different egress addresses seen from outside, different first provider hops, and
    the measured traffic on each uplink's own interface (:mod:`ihconform.net.egress`)."""
    need = check.int_param("min_uplinks")
    min_share = check.float_param("min_link_share")
    ups = list(check.inventory.uplinks)
    routes = {u.id: _route(u, host_transport, run_cache) for u in ups}
    series = {u.id: _measured(check, u, host_transport, run_cache)[0] for u in ups}
    seen = _Independence.observe(ups, routes, series, min_share)
    check.attach(evidence.write(("uplink", "site", "independence.json"), seen.evidence(), kind="uplink-independence"))
    parts = seen.parts(need)
    failed = [k for k, v in parts.items() if v is False]
    unknown = [k for k, v in parts.items() if v is None]
    decided = [d for d in check.control.decisive if parts.get(d.part) is False]
    declared = "; ".join(f"{u.id}: 清单称 / inventory says {u.isp!r}" for u in ups)
    expected = (f">= {need} uplinks from different providers, shown: distinct egress seen outside, distinct "
                f"first provider hops, >= {min_share:.0%} of each measurement on its own interface")
    why = "; ".join(seen.findings(parts, need))
    if decided:
        why += decisive_note(decided)
    if failed and (decided or not unknown):
        reason = f"{why} ({declared})"
        if unknown:  # a decisive failure decides whatever the unread parts would say
            check.judge(False, observed=seen.observed(), expected=expected, reason=reason)
        else:
            check.judge_parts({k: bool(v) for k, v in parts.items()}, observed=seen.observed(),
                              expected=expected, reason=reason)
    elif unknown:
        check.not_checked("线路独立性未能观测 / independence not observed: "
                          + "; ".join(seen.unread(unknown)) + (f"; {why}" if why else "") + f" ({declared})",
                          observed=seen.observed(), expected=expected)
    else:
        check.judge_parts({k: bool(v) for k, v in parts.items()}, observed=seen.observed(), expected=expected,
                          reason=f"{seen.summary()} ({declared})")
