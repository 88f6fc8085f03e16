"""附录1 四(一): at least 2 servers, database servers separate from application servers,
and hot redundancy of the application tier (L3-CES1-31). Site-wide: judged over all hosts."""

from __future__ import annotations

import contextlib

from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.facts.collect import HostFacts
from ihconform.facts.host import HostView
from ihconform.facts.roles import detect_host_roles
from ihconform.facts.windows_parse import WindowsView
from ihconform.registry import probe


def _reachable(site_facts: dict[str, HostFacts]) -> tuple[dict[str, HostView], dict[str, str]]:
    views, errors = {}, {}
    for hid, f in sorted(site_facts.items()):
        if f.error:
            errors[hid] = f.error
        else:
            views[hid] = HostView(f)
    return views, errors


@probe("servers.count", facts=("machine_id", "dmi_uuid"))
def test_server_count(check: Check, site_facts: dict[str, HostFacts]) -> None:
    need = check.int_param("min_servers")
    views, errors = _reachable(site_facts)
    identities: dict[str, str] = {}
    for hid, v in views.items():
        uuid = ""
        if v.facts.identity.get("platform") == "windows":  # the Windows batch: its computer name
            mid = f"windows {WindowsView(v.facts).os.get('ComputerName', '')}"
        else:
            mid = v.facts.text("machine_id").strip()
            with contextlib.suppress(FactUnavailable):  # DMI is absent in VMs and namespaces
                uuid = v.facts.text("dmi_uuid").strip()
        key = v.facts.identity.get("host_key", "")
        identities[hid] = "|".join(x for x in (mid, key, uuid) if x)
    distinct = sorted(set(identities.values()))
    dupes = sorted(h for h in identities if list(identities.values()).count(identities[h]) > 1)
    observed = {"distinct_servers": len(distinct), "hosts": sorted(views), "unreachable": errors,
                "same_machine": dupes}
    if len(distinct) < need and errors:
        raise FactUnavailable(f"only {len(distinct)} distinct server(s) verified; "
                              f"{len(errors)} host(s) unreachable: {', '.join(errors)}")
    check.judge(len(distinct) >= need, observed=observed, expected=f">= {need} distinct servers",
                reason=(f"{len(distinct)} 台独立服务器 / distinct servers (machine-id, host key, DMI uuid)"
                        + (f"; hosts that are the same machine: {', '.join(dupes)}" if dupes else "")))


@probe("servers.role_separation", facts=("listen", "listen_unix", "processes"))
def test_role_separation(check: Check, site_facts: dict[str, HostFacts]) -> None:
    """附录1 四(一) 数据库服务器与应用系统服务器需划分: a database engine found on a host by any
    of its listeners (TCP/UDP or a Unix socket) or its server process, on a host that runs or
    is declared an application server, is not separation. Detected databases the inventory
    does not declare are named in the observation (the database inventory is incomplete)."""
    views, errors = _reachable(site_facts)
    if errors:
        raise FactUnavailable("cannot judge role separation: unreachable " + ", ".join(sorted(errors)))
    problems: list[str] = []
    detected: dict[str, dict[str, object]] = {}
    db_hosts, app_hosts = [], []
    for hid, v in views.items():
        d = detect_host_roles(v.facts)
        declared = set(check.inventory.host(hid).roles)
        declared_dbs = sorted({db.engine for db in check.inventory.databases if db.host == hid})
        detected[hid] = {"declared": sorted(declared), "databases": list(d.databases),
                         "app_servers": list(d.app_servers), "found_by": list(d.evidence),
                         "databases_in_inventory": declared_dbs}
        if d.databases:
            db_hosts.append(hid)
        if d.app_servers or "app" in declared:
            app_hosts.append(hid)
        if d.databases and ("app" in declared or d.app_servers):
            problems.append(f"{hid}: database engine ({', '.join(d.databases)}) on an application host")
        if "db" in declared and not d.databases:
            problems.append(f"{hid}: declared db but no database engine is listening")
        if "app" in declared and d.databases:
            problems.append(f"{hid}: declared app but runs {', '.join(d.databases)}")
    if not db_hosts:
        problems.append("no database server found on any host")
    if not app_hosts:
        problems.append("no application server found on any host")
    check.judge(not problems, observed=detected,
                expected="database engines only on hosts that run no application server",
                reason="; ".join(problems) or "数据库服务器与应用服务器已分离 / database and application "
                                              "servers are separate hosts")


@probe("servers.app_redundancy", facts=("listen", "processes"))
def test_app_redundancy(check: Check, site_facts: dict[str, HostFacts]) -> None:
    need = check.int_param("min_app_nodes")
    views, errors = _reachable(site_facts)
    nodes = sorted(hid for hid, v in views.items()
                   if "app" in check.inventory.host(hid).roles and detect_host_roles(v.facts).app_servers)
    if len(nodes) < need and errors:
        raise FactUnavailable(f"{len(nodes)} application node(s) verified; unreachable: "
                              + ", ".join(sorted(errors)))
    check.judge(len(nodes) >= need, observed={"app_nodes": nodes}, expected=f">= {need} running app nodes",
                reason=f"{len(nodes)} 个在运行的应用节点 / running application nodes")
