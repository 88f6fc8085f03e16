"""L3-ABS1-01 / L3-CES1-18: from outside, only the ports the site means to publish answer.

One nmap scan of every host address per run (run cache, started at collection), from the
inventory's ``vantage.outside`` (here, or a host over its transport). Each host is judged
against the allow-list: ``allowed_tcp`` for every host, plus ``bastion_allowed_tcp`` on hosts
with the bastion role (the declared administration entry). Database and administration ports
and the high-risk list are named in the reason when found open.
"""

from __future__ import annotations

import dataclasses

from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.inventory import Host, Inventory
from ihconform.net import exposure
from ihconform.plan import RunPlan
from ihconform.registry import probe
from ihconform.runcache import EvidenceSink, RunCache

PROBE_ID = "exposure.open_ports"


def _addresses(inv: Inventory) -> list[str]:
    return sorted({h.address for h in inv.hosts})


def _compute(inv: Inventory, ports: str, transport_for: object = None) -> exposure.ExposureScan:
    if inv.vantage.outside == "local":
        return exposure.scan_local(_addresses(inv), ports)
    if transport_for is None:
        raise FactUnavailable(f"vantage {inv.vantage.outside}: no connection to run nmap there")
    t = transport_for(inv.vantage.outside)  # type: ignore[operator]
    return exposure.scan_remote(lambda c, to: t.run(c, timeout=to), inv.vantage.outside, _addresses(inv), ports)


def ihc_prefetch(plan: RunPlan, cache: RunCache) -> None:
    pairs = plan.by_probe.get(PROBE_ID, [])
    if pairs and plan.inventory.vantage.outside == "local":
        ports = str(pairs[0].control.parameters["ports"].value)
        cache.start(f"exposure:{ports}", lambda: _compute(plan.inventory, ports))


@probe(PROBE_ID, facts=())
def test_open_ports(check: Check, run_cache: RunCache, evidence: EvidenceSink, host_transport: object) -> None:
    host = check.obj.ref
    if not isinstance(host, Host):
        raise FactUnavailable(f"{check.obj.id} is not a host")
    ports = str(check.param("ports"))
    allowed = {int(p) for p in check.list_param("allowed_tcp")}
    if "bastion" in host.roles:
        allowed |= {int(p) for p in check.list_param("bastion_allowed_tcp")}
    high_risk = {int(p) for p in check.list_param("high_risk_ports")}
    db_admin = {int(p) for p in check.list_param("db_admin_ports")}
    scan = run_cache.get(f"exposure:{ports}", lambda: _compute(check.inventory, ports, host_transport))
    check.attach(evidence.write(("exposure", "nmap.xml"), scan.xml, kind="nmap-xml"))
    check.attach(evidence.write(("exposure", "summary.json"), dataclasses.asdict(scan) | {"xml": "(nmap.xml)"},
                                kind="nmap-summary"))
    if host.address not in scan.open_tcp:
        raise FactUnavailable(f"nmap returned nothing for {host.address}")
    open_ports = scan.open_tcp[host.address]
    extra = [p for p in open_ports if p not in allowed]
    flags = [f"{p}({scan.services[host.address].get(p, '')})" + (" 高危/high-risk" if p in high_risk else "")
             + (" 数据库或管理端口/db-admin" if p in db_admin else "") for p in extra]
    check.judge(not extra, observed={"open_tcp": open_ports, "vantage": scan.vantage, "nmap": scan.arguments},
                expected={"allowed_tcp": sorted(allowed)},
                reason=(f"{host.address} 从外部可达的非许可端口 / reachable from outside, not allowed: "
                        f"{', '.join(flags)}" if extra else f"{host.address}: 仅开放许可端口 / only allowed ports open "
                                      f"({', '.join(map(str, open_ports)) or 'none'})"))
