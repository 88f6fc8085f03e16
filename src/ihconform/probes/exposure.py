"""L3-ABS1-01 / L3-CES1-18: from outside, only the ports the site means to publish answer.

One nmap scan per run of every address of the hosts under test (each host's ``address`` and
its ``public_addresses``; run cache, started at collection), from the
inventory's ``vantage.outside`` (here, or a host over its transport). A vantage whose address
lies inside ``vantage.server_networks`` is not outside: the probe then reports 未检查 rather
than judge the LAN's view as exposure. Each host is judged
against the allow-list: ``allowed_tcp`` for every host, plus ``bastion_allowed_tcp`` on hosts
with the bastion role (the declared administration entry). Database and administration ports
and the high-risk list are named in the reason when found open.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from collections.abc import Callable

from ihconform.check import Check
from ihconform.errors import FactUnavailable, NotChecked
from ihconform.inventory import Host, Inventory
from ihconform.net import exposure
from ihconform.plan import RunPlan
from ihconform.registry import probe
from ihconform.runcache import EvidenceSink, RunCache
from ihconform.transport.base import Transport

PROBE_ID = "exposure.open_ports"


def _host_addresses(host: Host) -> list[str]:
    """Where the outside may reach ``host``: its address and its declared public addresses."""
    return list(dict.fromkeys((host.address, *host.public_addresses)))


def _addresses(inv: Inventory) -> list[str]:
    return sorted({a for h in inv.targets for a in _host_addresses(h)})


def _compute(inv: Inventory, ports: str,
             transport_for: Callable[[str], Transport] | None = None) -> exposure.ExposureScan:
    if inv.vantage.outside == "local":
        return exposure.scan_local(_addresses(inv), ports)
    if transport_for is None:
        raise FactUnavailable(f"vantage {inv.vantage.outside}: no connection to run nmap there")
    t = transport_for(inv.vantage.outside)
    return exposure.scan_remote(lambda c, to: t.run(c, timeout=to), inv.vantage.outside, _addresses(inv), ports)


def ihc_prefetch(plan: RunPlan, cache: RunCache) -> None:
    pairs = plan.by_probe.get(PROBE_ID, [])
    if not pairs or plan.inventory.vantage.outside != "local":
        return
    try:
        if vantage_inside(plan.inventory):
            return  # the probe reports 未检查; no scan to start
    except FactUnavailable:
        return  # the probe raises the same error for each host (检查错误); nothing to prefetch
    ports = str(pairs[0].control.parameters["ports"].value)
    cache.start(f"exposure:{ports}", lambda: _compute(plan.inventory, ports))


def vantage_inside(inv: Inventory) -> list[str]:
    """The vantage's own addresses that lie inside ``vantage.server_networks``.

    A scan from inside the server network shows what the LAN can reach, not what the outside
    can, so such a run must not judge exposure. For ``local`` the address is the one the
    kernel would use towards each host (no packet is sent: a UDP socket is only connected)."""
    nets = [ipaddress.ip_network(n, strict=False) for n in inv.vantage.server_networks]
    if inv.vantage.outside != "local":
        own = {inv.host(inv.vantage.outside).address}
    else:
        own = set()
        for addr in _addresses(inv):
            with socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.connect((addr, 9))
                except OSError as exc:
                    raise FactUnavailable(f"no route from the vantage to {addr}: {exc}") from exc
                own.add(s.getsockname()[0])
    inside: list[str] = []
    for a in sorted(own):
        try:
            ip = ipaddress.ip_address(a)
        except ValueError:
            continue  # a host declared by name: cannot be compared, scanned as declared
        if any(ip in n for n in nets):
            inside.append(a)
    return inside


#: AV endpoint protocols that listen on TCP (the exposure scan is a TCP scan).
_AV_TCP = ("stun-tcp", "turn-tcp", "sip-tcp", "sip-tls", "https", "wss")


def declared_av_tcp_ports(inv: Inventory, host: Host) -> dict[int, str]:
    """TCP ports the inventory's AV systems publish on ``host`` (STUN/TURN 3478, SIP 5060/5061,
    their HTTPS/WSS signalling): an endpoint whose address is one of the host's addresses, or
    any endpoint of an AV system declared on the host. Port -> which AV system declares it.
    A fixed 80/443 allow-list would otherwise fail the video service the hospital must run."""
    mine = set(_host_addresses(host))
    out: dict[int, str] = {}
    for av in inv.av_systems:
        for ep in av.endpoints:
            if ep.protocol in _AV_TCP and (ep.address in mine or av.host == host.id):
                out[ep.port] = f"{av.id} {ep.protocol}"
    return out


@probe(PROBE_ID, facts=())
def test_open_ports(check: Check, run_cache: RunCache, evidence: EvidenceSink,
                    host_transport: Callable[[str], Transport]) -> None:
    host = check.obj.ref
    if not isinstance(host, Host):
        raise FactUnavailable(f"{check.obj.id} is not a host")
    ports = str(check.param("ports"))
    if host.connection == "recorded":  # judged on a recording: its address is not reached at all
        raise NotChecked(f"录制主机 / {host.id} is judged on a recording ({host.offline}); a port scan needs the "
                         "live host")
    if host.connection == "local" or ipaddress.ip_address(host.address).is_loopback:
        # The machine scanning itself sees its own loopback and every port: not the outside view.
        raise NotChecked(f"扫描对象即本机 / {host.address} is the scanning machine itself; exposure is judged "
                         "from an outside vantage (vantage.outside) against the host's network address")
    inside = vantage_inside(check.inventory)
    if inside:
        raise NotChecked(f"扫描位置不在外部 / the declared outside vantage ({check.inventory.vantage.outside}, "
                         f"{', '.join(inside)}) is inside the server networks "
                         f"{', '.join(check.inventory.vantage.server_networks)}: a scan from there shows what "
                         "the LAN reaches, not the outside; declare vantage.outside as a host outside them")
    allowed = {int(p) for p in check.list_param("allowed_tcp")}
    if "bastion" in host.roles:
        allowed |= {int(p) for p in check.list_param("bastion_allowed_tcp")}
    av_ports = declared_av_tcp_ports(check.inventory, host)
    allowed |= set(av_ports)
    high_risk = {int(p) for p in check.list_param("high_risk_ports")}
    db_admin = {int(p) for p in check.list_param("db_admin_ports")}
    scan = run_cache.get(f"exposure:{ports}", lambda: _compute(check.inventory, ports, host_transport))
    check.attach(evidence.write(("exposure", "nmap.xml"), scan.xml, kind="nmap-xml"))
    check.attach(evidence.write(("exposure", "summary.json"), dataclasses.asdict(scan) | {"xml": "(nmap.xml)"},
                                kind="nmap-summary"))
    addresses = _host_addresses(host)
    missing = [a for a in addresses if a not in scan.open_tcp]
    if missing:
        raise FactUnavailable("未完成扫描 / not scanned to the end: " + "; ".join(
            f"{a}: {scan.unscanned.get(a, 'nmap returned nothing')}" for a in missing))
    open_by_addr = {a: scan.open_tcp[a] for a in addresses}
    flags = [f"{a}:{p}({scan.services[a].get(p, '')})" + (" 高危/high-risk" if p in high_risk else "")
             + (" 数据库或管理端口/db-admin" if p in db_admin else "")
             for a, ports in open_by_addr.items() for p in ports if p not in allowed]
    seen = "; ".join(f"{a} {','.join(map(str, ports)) or 'none'}" for a, ports in open_by_addr.items())
    check.judge(not flags, observed={"open_tcp": open_by_addr, "vantage": scan.vantage, "nmap": scan.arguments,
                                     "declared_av_ports": [f"{p} ({who})" for p, who in sorted(av_ports.items())]},
                expected={"allowed_tcp": sorted(allowed)},
                reason=(f"从外部可达的非许可端口 / reachable from outside, not allowed: {', '.join(flags)}" if flags
                        else f"仅开放许可端口 / only allowed ports open ({seen})"))
