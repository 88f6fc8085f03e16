"""Namespaces, links, routes and traffic shaping of the lab.

Why this shape (switch namespace, root veth, WAN /30s): the root namespace gets exactly one
interface (``ihlab0``, 198.51.100.126/25) and one ``unreachable 198.51.100.0/24`` route, so
lab traffic can never leave the machine through the default route, and the tear-down has
little to undo there. Everything else lives in namespaces that ``ip netns del`` removes.
"""

from __future__ import annotations

import ipaddress
import json
import os

from ihconform.lab import plan
from ihconform.lab.proc import LabError, run

TBF_BURST = "32kb"
TBF_LATENCY = "50ms"


class RangeInUse(LabError):
    """198.51.100.0/24 is already used in the root namespace: the lab refuses to start."""


def range_conflicts() -> list[str]:
    """Root-namespace addresses and routes that overlap the lab range (empty when free)."""
    found: list[str] = []
    addrs = json.loads(run(["ip", "-j", "addr", "show"]).stdout or "[]")
    for link in addrs:
        for a in link.get("addr_info", []):
            try:
                net = ipaddress.ip_network(f"{a['local']}/{a.get('prefixlen', 32)}", strict=False)
            except (KeyError, ValueError):
                continue
            if net.version == 4 and net.overlaps(plan.LAB_RANGE):
                found.append(f"address {a['local']}/{a.get('prefixlen')} on {link.get('ifname')}")
    for family_table in (["ip", "-j", "-4", "route", "show", "table", "all"],):
        routes = json.loads(run(family_table).stdout or "[]")
        for r in routes:
            dst = r.get("dst", "")
            if dst in ("", "default") or r.get("type") in ("local", "broadcast"):
                continue
            try:
                net = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
            except ValueError:
                continue
            if net.overlaps(plan.LAB_RANGE):
                found.append(f"route {dst} ({r.get('type', 'unicast')} dev {r.get('dev', '-')})")
    return found


def lab_namespaces() -> list[str]:
    """The lab's namespaces that exist now."""
    out = run(["ip", "-j", "netns", "list"]).stdout.strip()
    names = {n["name"] for n in json.loads(out)} if out else set()
    return [ns for ns in (*plan.ALL_NAMESPACES, *plan.FLEET_NAMESPACES, *plan.RELEASE_NAMESPACES,
                          *plan.DEVICE_NAMESPACES) if ns in names]


def add_ns(ns: str, *, forward: bool = False) -> None:
    run(["ip", "netns", "add", ns])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    if forward:
        run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])


def _veth(ns_a: str, dev_a: str, ns_b: str, dev_b: str) -> None:
    run(["ip", "-n", ns_a, "link", "add", dev_a, "type", "veth", "peer", "name", dev_b, "netns", ns_b])


def _addr_up(ns: str, dev: str, cidr: str) -> None:
    run(["ip", "-n", ns, "addr", "add", cidr, "dev", dev])
    run(["ip", "-n", ns, "link", "set", dev, "up"])


def build_switch() -> None:
    """The LAN switch (a bridge in its own namespace) and the root namespace's port on it."""
    add_ns(plan.SWITCH_NS)
    run(["ip", "-n", plan.SWITCH_NS, "link", "add", plan.BRIDGE, "type", "bridge"])
    run(["ip", "-n", plan.SWITCH_NS, "link", "set", plan.BRIDGE, "up"])
    run(["ip", "link", "add", plan.ROOT_VETH, "type", "veth", "peer", "name", "p-root",
         "netns", plan.SWITCH_NS])
    run(["ip", "-n", plan.SWITCH_NS, "link", "set", "p-root", "master", plan.BRIDGE, "up"])
    run(["ip", "addr", "add", f"{plan.ROOT_ADDR}/{plan.LAN_PREFIX}", "dev", plan.ROOT_VETH])
    run(["ip", "link", "set", plan.ROOT_VETH, "up"])
    run(["ip", "route", "add", "unreachable", str(plan.LAB_RANGE)])


def plug_lan(ns: str, port: str, cidrs: list[str]) -> None:
    """Connect namespace ``ns`` to the switch as ``eth0`` with the given addresses."""
    run(["ip", "-n", plan.SWITCH_NS, "link", "add", port, "type", "veth", "peer", "name", "eth0",
         "netns", ns])
    run(["ip", "-n", plan.SWITCH_NS, "link", "set", port, "master", plan.BRIDGE, "up"])
    for cidr in cidrs:
        run(["ip", "-n", ns, "addr", "add", cidr, "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])


def shape(ns: str, dev: str, mbit: float) -> None:
    """(Re)shape one router interface with a token bucket (the kernel has no netem)."""
    run(["ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", "tbf",
         "rate", f"{mbit:g}mbit", "burst", TBF_BURST, "latency", TBF_LATENCY])


def build_wan(variants: tuple[str, ...]) -> None:
    """ISP routers, the internet, and app01's uplinks with source policy routing."""
    app = plan.HOST_BY_ID["app01"].ns
    add_ns(plan.INET_NS)
    run(["ip", "-n", plan.INET_NS, "addr", "add", f"{plan.INET_SERVER}/32", "dev", "lo"])
    for i, up in enumerate(plan.uplinks(variants)):
        ns, dev = str(up["ns"]), str(up["dev"])
        add_ns(ns, forward=True)
        _veth(ns, "to-app", app, dev)
        _addr_up(ns, "to-app", f"{up['gateway']}/30")
        _addr_up(app, dev, f"{up['source']}/30")
        inet_dev = f"from-{up['id']}"
        _veth(ns, "to-inet", plan.INET_NS, inet_dev)
        _addr_up(ns, "to-inet", f"{up['core_isp']}/30")
        _addr_up(plan.INET_NS, inet_dev, f"{up['core_inet']}/30")
        run(["ip", "-n", ns, "route", "add", f"{plan.INET_SERVER}/32", "via", str(up["core_inet"])])
        run(["ip", "-n", plan.INET_NS, "route", "add", f"{up['source']}/32", "via", str(up["core_isp"])])
        run(["ip", "-n", app, "route", "add", "default", "via", str(up["gateway"]), "dev", dev,
             "metric", str(100 * (i + 1))])
        run(["ip", "-n", app, "route", "add", "default", "via", str(up["gateway"]), "dev", dev,
             "table", str(up["table"])])
        run(["ip", "-n", app, "rule", "add", "from", str(up["source"]), "lookup", str(up["table"]),
             "pref", str(1000 + i + 1)])
        for d in ("to-app", "to-inet"):  # download = egress to app01, upload = egress to the internet
            shape(ns, d, float(up["rate"]))
    if "isp-via-a" in variants:
        route_b_through_a()


#: Variant isp-via-a: a link between the two ISP routers (.160/30, unused elsewhere).
VIA_A_B_END, VIA_A_A_END = "198.51.100.161", "198.51.100.162"
CARRIER_NAT = """table ip nat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "to-inet" masquerade
  }
}
"""


def route_b_through_a() -> None:
    """Variant ``isp-via-a`` (issue 20): ISP B's router sends internet traffic through ISP A,
    which puts every customer flow behind its one carrier-NAT address. What the finding showed:
    the internet sees one egress address for both lines, and B's upload runs at A's shaping (the
    A-to-internet link), while B's own link, route and declared name are unchanged."""
    a, b = plan.ISPA_NS, plan.ISPB_NS
    _veth(b, "to-ispa", a, "from-ispb")
    _addr_up(b, "to-ispa", f"{VIA_A_B_END}/30")
    _addr_up(a, "from-ispb", f"{VIA_A_A_END}/30")
    run(["ip", "-n", b, "route", "replace", f"{plan.INET_SERVER}/32", "via", VIA_A_A_END])
    run(["ip", "-n", a, "route", "add", f"{plan.WAN_B_APP}/32", "via", VIA_A_B_END])
    run(["ip", "netns", "exec", a, "nft", "-f", "-"], input=CARRIER_NAT)


def build_outside(variants: tuple[str, ...]) -> None:
    """The outside vantage's two links: management from the harness, and into the internet,
    whose ISPs route its network back (so app01's public addresses answer it)."""
    s = plan.SCANNER
    run(["ip", "link", "add", plan.SCAN_ROOT_VETH, "type", "veth", "peer", "name", "mgmt0", "netns", s.ns])
    run(["ip", "addr", "add", f"{plan.SCAN_MGMT_ROOT}/30", "dev", plan.SCAN_ROOT_VETH])
    run(["ip", "link", "set", plan.SCAN_ROOT_VETH, "up"])
    _addr_up(s.ns, "mgmt0", f"{plan.SCAN_MGMT}/30")
    _veth(plan.INET_NS, "to-scan", s.ns, "inet0")
    _addr_up(plan.INET_NS, "to-scan", f"{plan.SCAN_INET_GW}/30")
    _addr_up(s.ns, "inet0", f"{plan.SCAN_INET}/30")
    run(["ip", "-n", s.ns, "route", "add", "default", "via", plan.SCAN_INET_GW])
    # the internet now carries traffic between the scanner and the ISPs, not only to its own server
    run(["ip", "netns", "exec", plan.INET_NS, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
    # The internet does not route the hospital's LAN. Left to the internet namespace, every probe
    # of a LAN address came back as a rate-limited ICMP "network unreachable" or not at all, and
    # a default-profile run spent 125 s in one scan with every LAN host timing out (20-60 s even
    # with the rate limit lifted); an unreachable route on the scanner answers at once, with the
    # same verdict: filtered (host-unreach), nothing open.
    run(["ip", "-n", s.ns, "route", "add", "unreachable", str(plan.LAN)])
    for up in plan.uplinks(variants):
        run(["ip", "-n", str(up["ns"]), "route", "add", plan.SCAN_NET, "via", str(up["core_inet"])])


def build_platform() -> None:
    """The provincial platform behind a dedicated line (a small bridge) from each app host."""
    add_ns(plan.PLATFORM_NS)
    ns = plan.PLATFORM_NS
    run(["ip", "-n", ns, "addr", "add", f"{plan.PLATFORM_ADDR}/32", "dev", "lo"])
    run(["ip", "-n", ns, "link", "add", "br-dl", "type", "bridge"])
    _addr_up(ns, "br-dl", f"{plan.DL_GATEWAY}/{plan.DL_PREFIX_LEN}")
    for h in plan.HOSTS:
        if not h.dl_address:
            continue
        port = f"dl-{h.id}"
        _veth(ns, port, h.ns, "dl0")
        run(["ip", "-n", ns, "link", "set", port, "master", "br-dl", "up"])
        _addr_up(h.ns, "dl0", f"{h.dl_address}/{plan.DL_PREFIX_LEN}")
        run(["ip", "-n", h.ns, "route", "add", plan.PLATFORM_PREFIX, "via", plan.DL_GATEWAY, "dev", "dl0"])


def build_power() -> None:
    """The power-management network: NUT and one Redfish address per server's BMC."""
    add_ns(plan.POWER_NS)
    addrs = [plan.POWER_ADDR, *plan.BMC_ADDRS.values()]
    cidrs = [f"{a}/{plan.LAN_PREFIX}" for a in addrs]
    plug_lan(plan.POWER_NS, plan.POWER_SWITCH_PORT, cidrs)


def teardown() -> list[str]:
    """Delete the lab's namespaces, root veth and unreachable route. Returns what failed."""
    problems: list[str] = []
    for ns in lab_namespaces():
        res = run(["ip", "netns", "del", ns], check=False)
        if res.returncode != 0:
            problems.append(f"ip netns del {ns}: {res.stderr.strip()}")
    for veth in (plan.ROOT_VETH, plan.SCAN_ROOT_VETH):
        if os.path.exists(f"/sys/class/net/{veth}"):
            res = run(["ip", "link", "del", veth], check=False)
            # Deleting a namespace removes its veth pairs asynchronously: "Cannot find device"
            # after the check above means the kernel got there first, which is the goal.
            if res.returncode != 0 and os.path.exists(f"/sys/class/net/{veth}"):
                problems.append(f"ip link del {veth}: {res.stderr.strip()}")
    routes = json.loads(run(["ip", "-j", "-4", "route", "show", "type", "unreachable"]).stdout or "[]")
    for r in routes:
        if r.get("dst") == str(plan.LAB_RANGE):
            res = run(["ip", "route", "del", "unreachable", str(plan.LAB_RANGE)], check=False)
            if res.returncode != 0:
                problems.append(f"ip route del unreachable {plan.LAB_RANGE}: {res.stderr.strip()}")
    return problems


def listening(ns: str) -> set[tuple[str, str, int]]:
    """(proto, address, port) of every listening socket in namespace ``ns``."""
    res = run(["ip", "netns", "exec", ns, "ss", "-Hlntu"], check=False)
    out: set[tuple[str, str, int]] = set()
    if res.returncode != 0:
        return out
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        proto, local = parts[0], parts[4]
        addr, _, port = local.rpartition(":")
        if port.isdigit():
            out.add((proto, addr.strip("[]").split("%")[0], int(port)))
    return out
