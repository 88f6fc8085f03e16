"""Network and security device controls (issue 15): 安全区域边界 L3-ABS1, 安全通信网络 L3-CNS1 and
安全管理中心 L3-SMC1 on switches, routers and firewalls, online or from an exported configuration.

Each probe reads one parsed configuration (facts/devices_config.py) and quotes the lines its
verdict rests on in ``observed["lines"]``. Which devices a control applies to is data
(``roles`` in the profile): a control a device's roles do not call for is 不适用 with the reason.
A listing cut short (the session dropped before ``return``/``end``) is 检查错误 through
FactUnavailable, never 符合. Password policy, lockout, idle time-out, remote logging and time
source of devices are judged by the one neutral probe per control (facts/neutral.py adapters).
"""

from __future__ import annotations

from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.facts.devices import (
    LINUX_BASED,
    DeviceView,
    device_facts,
    mgmt_evidence,
    observes_log_forwarding,
    snmp_v3_evidence,
)
from ihconform.facts.devices_config import DeviceConfig, Rule
from ihconform.facts.neutral import RemoteLogging, neutral
from ihconform.inventory import Inventory
from ihconform.registry import probe
from ihconform.runcache import EvidenceSink, RunCache


def _applies(check: Check, d: DeviceView) -> bool:
    """Whether the control's ``roles`` include one of the device's (else it is recorded 不适用)."""
    roles = set(check.list_param("roles"))
    if roles & set(d.device.roles) or (d.device.platform == "linux_nftables" and "firewall" in roles):
        return True
    check.not_applicable(f"device roles {list(d.device.roles) or '(none)'} are not among {sorted(roles)} "
                         f"that this control applies to")
    return False


def _linux_based(check: Check, d: DeviceView, what: str) -> bool:
    if d.device.platform in LINUX_BASED:
        check.not_applicable(f"{d.device.platform}: {what} of a Linux-based device is judged on its host "
                             f"(host-os controls), not in the routing/filtering configuration")
        return True
    return False


#: dialects whose management statements (telnet/SSH/HTTP/SNMP, VTY, AAA) the parser does not read
#: yet: their management controls are 未检查, never guessed
MGMT_UNREAD = ("stoneos",)


def _mgmt_unread(check: Check, d: DeviceView) -> bool:
    if d.config.dialect in MGMT_UNREAD:
        check.not_checked(f"{d.device.platform}: the management statements of this platform are not read yet "
                          f"(docs/devices.md); judge them from the device's administration pages")
        return True
    return False


def _filters(c: DeviceConfig) -> list[str]:
    return [f"{ch.name}: default {ch.default}" + (f" ({ch.default_line})" if ch.default_line else
                                                  " (platform default)") for ch in c.chains]


# ---- 安全管理中心 / management of the device ----------------------------------------------------


@probe("device.mgmt_protocols", facts=(), parts=("SSH for management", "telnet off", "plain HTTP off",
                                                  "no default SNMP community", "SNMPv3 only"))
def test_mgmt_protocols(check: Check, device: DeviceView) -> None:
    """管理信息传输路径安全 (L3-SMC1-08): management only over SSH/HTTPS/SNMPv3. Telnet counts as
    off only where the configuration says so (the server disabled, or every VTY SSH-only). On a
    Linux-based device (FRR, nftables) the cleartext services are daemons of their own, not
    configuration statements: what answers on its management address is observed instead."""
    if device.device.platform in LINUX_BASED and device.device.config_file is None:
        _observed_mgmt_protocols(check, device)
        return
    if _linux_based(check, device, "remote management") or _mgmt_unread(check, device):
        return
    c = device.config
    weak = {s.lower() for s in check.list_param("weak_communities")}
    vty_protocols = {p for v in c.vtys for p in v.protocols}
    vty_ssh_only = bool(c.vtys) and all(v.protocols and set(v.protocols) <= {"ssh"} for v in c.vtys)
    telnet_on = c.telnet is True or "telnet" in vty_protocols
    telnet_off = not telnet_on and (c.telnet is False or vty_ssh_only)
    ssh = c.ssh is True or "ssh" in vty_protocols
    bad_comm = sorted(x for x in c.snmp_communities if x.lower() in weak)
    check.judge_parts(
        {"SSH for management": ssh, "telnet off": telnet_off, "plain HTTP off": c.http is not True,
         "no default SNMP community": not bad_comm,
         "SNMPv3 only": not c.snmp_communities or check.param("allow_snmp_v2c") is True},
        observed={"telnet": c.telnet, "vty_protocols": sorted(vty_protocols), "ssh": c.ssh, "http": c.http,
                  "https": c.https, "snmp_communities": ["<default: " + x + ">" if x.lower() in weak else "<set>"
                                                         for x in c.snmp_communities],
                  "snmp_v3": c.snmp_v3,
                  "lines": [*c.evidence.get("telnet", ()), *c.evidence.get("ssh", ()), *c.evidence.get("http", ()),
                            *c.evidence.get("snmp", ())]},
        expected={"management": "SSH (and HTTPS/SNMPv3) only", "telnet": "disabled",
                  "snmp_communities": f"none of {sorted(weak)}; none at all (v1/v2c off)"})


def _observed_mgmt_protocols(check: Check, d: DeviceView) -> None:
    """SMC1-08 on a Linux-based device reached online: the session itself was SSH (its host key
    verified); no telnet/vty or plain-HTTP port answers the harness; no SNMP agent answers a
    default community. A port or GET that could not be tried is 检查错误, never 符合."""
    if d.facts.error:
        raise FactUnavailable(f"device {d.device.id}: {d.facts.error}")
    telnet = tuple(int(x) for x in check.list_param("telnet_ports"))
    http = tuple(int(x) for x in check.list_param("http_ports"))
    weak = tuple(check.list_param("weak_communities"))
    obs, refs = mgmt_evidence(d.device, telnet + http, weak, d.cache, d.sink)
    for r in refs:
        check.attach(r)
    if obs.errors:
        raise FactUnavailable(f"device {d.device.id}: the management address could not be observed: "
                              + "; ".join(obs.errors))
    open_telnet = obs.open_ports(telnet)
    open_http = obs.open_ports(http)
    answered = sorted(c for c, v in obs.snmp.items() if v is not None)
    vty = [ln for v in d.config.vtys for ln in v.lines] if d.config.dialect == "ios" else []
    check.judge_parts(
        {"SSH for management": bool(d.facts.identity.get("host_key")), "telnet off": not open_telnet,
         "plain HTTP off": not open_http, "no default SNMP community": not answered},
        observed={"ssh_session": d.facts.identity.get("host_key", ""),
                  "telnet_open": {str(p.port): p.banner for p in open_telnet},
                  "http_open": {str(p.port): p.banner for p in open_http},
                  "snmp_answered_communities": [f"<default: {c}>" for c in answered],
                  "snmp_sysdescr": [obs.snmp[c] for c in answered],
                  "ports_tried": {str(p.port): p.state for p in obs.ports},
                  "lines": [f"tcp/{p.port} open: {p.banner or '(no greeting)'}" for p in open_telnet + open_http]
                  + [f"SNMPv2c GET sysDescr.0 community <default: {c}> answered: {obs.snmp[c]}" for c in answered]
                  + vty},
        expected={"management": "SSH only (the session)", "telnet/vty ports": f"none of {list(telnet)} answers",
                  "http ports": f"none of {list(http)} answers",
                  "snmp": f"no answer to the communities {list(weak)}"},
        reason="" if not (open_telnet or open_http or answered) else "answering from the harness: " + "; ".join(
            [f"telnet/vty tcp/{p.port}" for p in open_telnet] + [f"http tcp/{p.port}" for p in open_http]
            + [f"SNMP community <default: {c}>" for c in answered]))


@probe("device.mgmt_acl", facts=())
def test_mgmt_acl(check: Check, device: DeviceView) -> None:
    """管理区域 / 管理地址限制 (L3-SMC1-07): every VTY line restricts who may log in by an ACL.
    FRR's own management plane is its vty, and ``line vty`` / ``access-class`` is FRR's own
    statement of who may reach it, so an FRR router is judged on it (the SSH login to vtysh is
    its host's sshd and firewall); an nftables firewall has no vty: its host's."""
    if device.device.platform != "frr" and _linux_based(check, device, "the management source (sshd/firewall)"):
        return
    if _mgmt_unread(check, device):
        return
    c = device.config
    if not c.vtys:
        raise FactUnavailable(f"device {device.device.id}: no VTY line in the configuration; "
                              "the management source cannot be read")
    open_lines = [v.name for v in c.vtys if not v.acl]
    check.judge(not open_lines, observed={"vty_acl": {v.name: v.acl or None for v in c.vtys},
                                          "lines": list(c.evidence.get("vty", ()))},
                expected="an inbound ACL (acl N inbound / access-class N in) on every VTY line",
                reason=f"VTY without a source ACL: {', '.join(open_lines)}" if open_lines else
                "every VTY line restricted to the management addresses")


@probe("device.admin_auth", facts=())
def test_admin_auth(check: Check, device: DeviceView) -> None:
    """管理员身份鉴别 (L3-SMC1-01): administrators log in with their own accounts through AAA or
    local users on every VTY, not a shared line password."""
    if _linux_based(check, device, "administrator login") or _mgmt_unread(check, device):
        return
    c = device.config
    good = tuple(check.list_param("auth_modes"))
    weak = [v.name for v in c.vtys if not any(v.auth.startswith(m) for m in good)]
    check.judge_parts(
        {"AAA or local accounts": c.aaa or bool(c.local_users), "every VTY authenticates an account": bool(c.vtys)
         and not weak},
        observed={"aaa": c.aaa, "local_users": list(c.local_users), "vty_auth": {v.name: v.auth for v in c.vtys},
                  "lines": [*c.evidence.get("aaa", ()), *c.evidence.get("vty", ())]},
        expected={"vty authentication": f"one of {list(good)}", "accounts": "named administrator accounts"})


@probe("device.monitoring", facts=())
def test_monitoring(check: Check, device: DeviceView) -> None:
    """运行状况集中监测 (L3-SMC1-09): the device reports to a monitoring station (SNMP trap /
    notification receiver). A Linux-based device's agent (net-snmp) is not in its routing or
    filtering configuration. Reached online, what the harness can see is whether an SNMPv3
    agent answers on its management address: none answering is 不符合 (nothing to monitor the
    device by); one answering shows the device *can* be polled, not that a platform does (its
    trap receivers and users are in snmpd.conf, which the device session does not read), so it
    is 未检查 with the agent's engine ID as the observation, never 符合 on readiness alone."""
    if device.device.platform in LINUX_BASED and device.device.config_file is None:
        if device.facts.error:
            raise FactUnavailable(f"device {device.device.id}: {device.facts.error}")
        engine, err, refs = snmp_v3_evidence(device.device, device.cache, device.sink)
        for r in refs:
            check.attach(r)
        if err:
            raise FactUnavailable(f"device {device.device.id}: SNMPv3 discovery could not be sent: {err}")
        expected = "the device in a monitoring platform's polling or trap destinations"
        if engine is None:
            check.judge(False, observed={"snmpv3_engine_id": None, "lines": ["SNMPv3 discovery: no answer"]},
                        expected=expected,
                        reason="no SNMPv3 agent answers on the management address: nothing to monitor the device by")
            return
        check.not_checked(
            f"an SNMPv3 agent answers (engine ID {engine}): the device can be polled, but whether a monitoring "
            "platform polls it or receives its traps is in snmpd.conf, which the device session does not read; "
            "the platform's list of monitored objects is the evidence (L3-SMC1-09)",
            observed={"snmpv3_engine_id": engine, "lines": [f"SNMPv3 discovery: engine {engine}"]},
            expected=expected)
        return
    if _linux_based(check, device, "monitoring") or _mgmt_unread(check, device):
        return
    c = device.config
    check.judge(bool(c.snmp_targets), observed={"snmp_targets": list(c.snmp_targets),
                                                "lines": list(c.evidence.get("monitor", ()))},
                expected="an SNMP trap/notification receiver (snmp-agent target-host / snmp-server host)",
                reason="" if c.snmp_targets else "no monitoring receiver configured")


# ---- 安全区域边界 / boundary filtering ----------------------------------------------------------


@probe("device.default_deny", facts=())
def test_default_deny(check: Check, device: DeviceView) -> None:
    """默认拒绝 (L3-ABS1-05): on a boundary device every filter in force denies what no rule permits
    (nft base chains with ``policy drop``; ACLs ending in deny any where the platform permits
    by default; security policies whose default action is deny)."""
    if not _applies(check, device):
        return
    c = device.config
    hooks = set(check.list_param("hooks"))
    chains = [ch for ch in c.chains if not ch.hook or ch.hook in hooks]
    # a permit-everything rule makes the filter's effective default permit, whatever its last line says
    open_ = [ch.name for ch in chains if ch.default != "deny" or any(r.any_any for r in ch.rules)]
    check.judge_parts(
        {"a filter in force": bool(chains), "every filter denies by default": bool(chains) and not open_},
        observed={"filters": _filters(c), "not_deny_by_default": open_,
                  "lines": [ch.default_line for ch in chains if ch.default_line]
                  + [r.line for ch in chains for r in ch.rules if r.any_any]},
        expected=f"filters on {sorted(hooks)} (and applied ACLs / security policies) deny by default")


def _shadowed(rules: tuple[Rule, ...]) -> list[tuple[str, str]]:
    """(rule, the earlier rule that already matches everything it matches)."""
    found = []
    for j, r in enumerate(rules):
        for earlier in rules[:j]:
            if earlier.covers(r):
                found.append((r.line, earlier.line))
                break
    return found


@probe("device.rule_set", facts=(), parts=("no any-any permit", "no shadowed rules"))
def test_rule_set(check: Check, device: DeviceView) -> None:
    """访问控制规则最小化 (L3-ABS1-06): no permit-everything rule, and no rule an earlier one already
    decides (shadowed or duplicate), each counted and listed."""
    if not _applies(check, device):
        return
    c = device.config
    rules = [r for ch in c.chains for r in ch.rules]
    any_any = [r.line for r in rules if r.any_any and r.src != "lo"]
    shadow = [s for ch in c.chains for s in _shadowed(ch.rules)]
    if not rules:  # nothing to minimise is not a minimal rule set: the boundary filters nothing
        check.judge(False, observed={"filters": _filters(c), "rules": 0}, expected="a filtering rule set",
                    reason="no filtering rule in force")
        return
    check.judge_parts(
        {"no any-any permit": not any_any, "no shadowed rules": not shadow},
        observed={"rules": len(rules), "any_any_permit": any_any,
                  "shadowed": [{"rule": r, "shadowed_by": by} for r, by in shadow], "lines": any_any + [
                      r for r, _ in shadow]},
        expected="no permit any-any; no rule made dead by an earlier one")


@probe("device.five_tuple", facts=())
def test_five_tuple(check: Check, device: DeviceView) -> None:
    """按地址、端口和协议控制 (L3-ABS1-07): every permit names the destination address or the
    protocol and port it lets through; a permit that names neither is not a 5-tuple rule."""
    if not _applies(check, device):
        return
    c = device.config
    rules = [r for ch in c.chains for r in ch.rules if r.action == "permit" and r.src != "lo"
             and not r.proto.startswith("ct-state")]
    wide = [r.line for r in rules if r.dst == "any" and r.dport == "any" and r.proto in ("any", "tcp", "udp")]
    check.judge(bool(c.chains) and not wide,
                observed={"permit_rules": len(rules), "without_destination_or_port": wide, "lines": wide},
                expected="each permit restricted by destination address or protocol and port",
                reason=(f"{len(wide)} permit rule(s) name no destination and no port" if wide else
                        "no filter in force" if not c.chains else "every permit names its destination or port"))


@probe("device.stateful", facts=())
def test_stateful(check: Check, device: DeviceView) -> None:
    """会话状态 (L3-ABS1-08): the firewall tracks sessions (nft ``ct state established,related``;
    USG/StoneOS are stateful unless session checking is turned off)."""
    if not _applies(check, device):
        return
    c = device.config
    if c.dialect == "nft":
        ok, how = bool(c.stateful), "ct state rule"
    elif device.device.platform in tuple(check.list_param("stateful_platforms")):
        ok, how = c.stateful is not False, "stateful by platform unless turned off"
    else:
        ok, how = False, "ACL packet filtering is stateless"
    check.judge(ok, observed={"stateful": c.stateful, "how": how, "lines": list(c.evidence.get("stateful", ()))},
                expected="connection tracking decides return traffic",
                reason="" if ok else f"{device.device.platform}: {how}" if c.dialect != "nft"
                else "no ct state established,related rule: return traffic is not tracked")


@probe("device.security_profiles", facts=())
def test_security_profiles(check: Check, device: DeviceView) -> None:
    """入侵防范 (L3-ABS1-10) / 恶意代码防范 (L3-ABS1-14) at the boundary: the permit rules of a security
    device carry the IPS or AV profile (``profile ips …`` / ``profile av …``)."""
    if not _applies(check, device):
        return
    kind = str(check.param("profile"))
    if device.device.platform not in tuple(check.list_param("platforms")):
        check.not_checked(f"{device.device.platform} has no {kind.upper()} engine whose profiles the configuration "
                          f"shows; attest the device that provides it")
        return
    c = device.config
    permits = [r for ch in c.chains for r in ch.rules if r.action == "permit"]
    without = [r.line for r in permits if kind not in r.profiles]
    check.judge(bool(permits) and not without,
                observed={"permit_rules": len(permits), f"without_{kind}": without, "lines": without or
                          [r.line for r in permits]},
                expected=f"every permit rule carries a {kind} profile",
                reason=f"{len(without)} permit rule(s) without a {kind} profile" if without else
                ("no permit rule" if not permits else f"{kind} profile on every permit rule"))


@probe("device.audit", facts=(), parts=("logging on", "filter decisions logged"))
def test_audit(check: Check, device: DeviceView) -> None:
    """边界安全审计 (L3-ABS1-16): the boundary device keeps logging on and logs its filter decisions
    (info-center / logging on; nft ``log`` rules)."""
    if not _applies(check, device):
        return
    c = device.config
    logged = bool(c.evidence.get("audit")) if c.dialect == "nft" else (
        c.audit is not False and any(" log" in r.line or "logging" in r.line for ch in c.chains for r in ch.rules))
    check.judge_parts({"logging on": c.audit is not False, "filter decisions logged": logged},
                      observed={"audit": c.audit, "lines": list(c.evidence.get("audit", ()))},
                      expected="logging on and denied/permitted traffic logged")


@probe("device.log_host", facts=())
def test_log_host(check: Check, device: DeviceView) -> None:
    """边界审计记录保护 (L3-ABS1-18): the boundary device's records leave it for a log server."""
    if not _applies(check, device):
        return
    if not observes_log_forwarding(device.device.platform, device.facts) and _linux_based(
            check, device, "log forwarding (rsyslog/journald)"):
        return
    rl = neutral(RemoteLogging, device.device.platform, device.facts)
    need = check.int_param("min_targets")
    check.judge(len(rl.targets) >= need, observed={"targets": list(rl.targets), "lines": list(rl.rules) or rl.source},
                expected=f">= {need} remote log host(s)",
                reason="" if rl.targets else "no remote log host (info-center loghost / logging host / "
                "rsyslog forwarding)")


# ---- 安全通信网络 / architecture ------------------------------------------------------------------


@probe("device.zones", facts=())
def test_zones(check: Check, device: DeviceView) -> None:
    """网络区域划分 (L3-CNS1-03): the core or boundary device separates the network into VLANs or
    security zones (application, database, management …)."""
    if not _applies(check, device):
        return
    c = device.config
    need = check.int_param("min_zones")
    # VLANs and security zones by name; on a router, the subnets of its routed interfaces
    # (a VLAN interface and its subnet are one zone, so the larger count is taken, not the sum)
    seen = sorted(set(c.vlans) | set(c.zones))
    if len(c.subnets) > len(seen):
        seen = sorted(c.subnets)
    check.judge(len(seen) >= need, observed={"vlans": list(c.vlans), "zones": list(c.zones),
                                             "subnets": list(c.subnets),
                                             "lines": [*c.evidence.get("vlan", ()), *c.evidence.get("zone", ())]},
                expected=f">= {need} VLANs or security zones", reason="" if len(seen) >= need else
                f"{len(seen)} VLAN/zone(s): the network is not split into zones on this device")


#: statements that make one declared device two physical ones (a stack / cluster)
STACK_PREFIXES = ("irf member", "stack slot", "css enable")


@probe("device.redundancy", facts=())
def test_redundancy(check: Check, inventory: Inventory, run_cache: RunCache, evidence: EvidenceSink) -> None:
    """关键网络设备冗余 (L3-CNS1-05): every role the profile names as key (core, border, firewall)
    has two devices, or its one device is a stack (IRF, iStack, CSS). VRRP is listed as the way the
    pair shares its address, but one device with VRRP and no declared peer is one device."""
    roles = list(check.list_param("roles"))
    observed: dict[str, object] = {}
    problems = []
    for role in roles:
        devs = [d for d in inventory.network_devices if role in d.roles]
        if not devs:
            continue
        lines = [(d.id, ln) for d in devs
                 for ln in DeviceView(d, device_facts(d, inventory, run_cache, evidence)).config.vrrp]
        stacked = [f"{i}: {ln}" for i, ln in lines if ln.startswith(STACK_PREFIXES)]
        observed[role] = {"devices": [d.id for d in devs], "stack": stacked,
                          "vrrp": [f"{i}: {ln}" for i, ln in lines if not ln.startswith(STACK_PREFIXES)]}
        if len(devs) < 2 and not stacked:
            problems.append(f"{role}: one device ({devs[0].id}), not a stack")
    if not observed:
        check.not_checked(f"no network device with a role among {roles} declared in the inventory "
                          f"(network_devices:); declare them to judge their redundancy")
        return
    check.judge(not problems, observed=observed, expected="two devices or one stack per key role",
                reason="; ".join(problems) or "every key role is redundant")
