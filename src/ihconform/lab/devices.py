"""The lab's network devices (``lab up --devices``, issue 15): two FRR core routers and an nftables
firewall, each an SSH host of its own on the LAN, judged as ``network_devices``.

Why SSH hosts: a router is reached like a vendor device, over SSH to its CLI. The routers run real
FRR daemons (zebra, vrrpd) inside the host's namespaces, and the probe account's login shell is
``vtysh``, so netmiko meets FRR's own prompt and ``show running-config``. The firewall holds a
real forward-chain rule set in its kernel; the probe account may run exactly ``nft list ruleset``
through sudo (a read-only sudoers rule), nothing else as root, and the firewall's rsyslogd
forwards to the central log host. Every device runs a real net-snmp agent answering SNMPv3 only;
the routers' vty listens on the loopback only (``-A 127.0.0.1``).

Each ``single-core``/``core-*``/``fw-*`` variant flips one device control on one device
(plan.VARIANTS; ``fw-no-remote-log`` the two units that read the firewall's forwarding,
``fw-any-any`` the three an accept-all rule breaks; docs/devices.md).
"""

from __future__ import annotations

import dataclasses
import functools
import grp
import ipaddress
import os
import pwd
from pathlib import Path
from typing import Any

from ihconform.lab import baseline, hosts, plan
from ihconform.lab.proc import LabError, host_exec, run, wait_for

DEVICES_INVENTORY = "devices-inventory.yaml"
VTYSH = "/usr/bin/vtysh"
FRR_BIN = Path("/usr/lib/frr")


#: the variant that opens each router's vty over telnet, and the one that grants SNMP ``public``
TELNET_ROUTER, SNMP_ROUTER = "core1", "core2"
#: core-no-snmp: the router that runs no SNMP agent; core-vty-open: the one whose vty has no access-class
NO_SNMP_ROUTER, OPEN_VTY_ROUTER = "core1", "core2"
#: the vty ports of the daemons the routers run (FRR: zebra 2601, vrrpd 2619)
VTY_PORTS = {"zebra": 2601, "vrrpd": 2619}
SNMPD = Path("/usr/sbin/snmpd")
RSYSLOGD = Path("/usr/sbin/rsyslogd")


def telnet_on(variants: tuple[str, ...], host_id: str) -> bool:
    return host_id == TELNET_ROUTER and "core-telnet" in variants


def built(variants: tuple[str, ...]) -> tuple[plan.HostSpec, ...]:
    """The device hosts this lab builds (``single-core``: core2 is left out). A device's input
    firewall lets the LAN reach its SNMP agent (the monitoring platform polls it with SNMPv3),
    and under ``core-telnet`` also core1's vty ports."""
    out = []
    for h in plan.DEVICE_HOSTS:
        if h.id == "core2" and "single-core" in variants:
            continue
        h = dataclasses.replace(h, udp_ports=(161,),
                                tcp_ports=tuple(VTY_PORTS.values()) if telnet_on(variants, h.id) else ())
        out.append(h)
    return tuple(out)


def snmpd_conf(host_id: str, variants: tuple[str, ...]) -> str:
    """A device's net-snmp agent: SNMPv3 only (one authPriv user for the monitoring platform); under
    ``core-snmp-public`` core2 also grants the default community ``public`` (read-only)."""
    conf = ("# ihconform lab: the device's SNMP agent\nagentAddress udp:161\n"
            f"sysLocation ihconform lab {host_id}\nsysContact noc@lab.invalid\n"
            "createUser ihmon SHA ihlab-snmp-auth AES ihlab-snmp-priv\nrouser ihmon priv\n")
    if host_id == SNMP_ROUTER and "core-snmp-public" in variants:
        conf += "rocommunity public\n"
    return conf


def frr_conf(host_id: str, variants: tuple[str, ...] = ()) -> str:
    """A core router: VRRP towards its peer on the LAN, its management restricted, logging on.
    (Its vty listens on the loopback only: the daemons start with ``-A 127.0.0.1``; under
    ``core-telnet`` core1's vty is open to the network with a line password, as FRR's sample
    configuration has it.)"""
    prio = 200 if host_id == "core1" else 100
    vty_password = "password ihlab-vty\n" if telnet_on(variants, host_id) else ""
    return (f"frr defaults traditional\nhostname {host_id}\nlog syslog informational\n"
            f"service password-encryption\n{vty_password}!\n"
            f"interface eth0\n description lan\n vrrp 10 version 3\n vrrp 10 priority {prio}\n"
            f" vrrp 10 ip {plan.VRRP_ADDR}\nexit\n!\n"
            + "".join(f"interface {ifname}\n description {ifname[:-1]} zone\n ip address {_zone_addr(net, host_id)}\n"
                      "exit\n!\n" for ifname, net in plan.DEVICE_ZONES)
            +
            f"access-list MGMT seq 5 permit {plan.LAN}\naccess-list MGMT seq 10 deny any\n!\n"
            "line vty\n exec-timeout 5 0\n"
            + ("" if host_id == OPEN_VTY_ROUTER and "core-vty-open" in variants else " access-class MGMT\n")
            + "exit\n!\nend\n")


def _zone_addr(net: str, host_id: str) -> str:
    """The router's own address in a zone: .1 for core1, .2 for core2 of the zone's subnet."""
    n = ipaddress.ip_network(net)
    return f"{n.network_address + (1 if host_id == 'core1' else 2)}/{n.prefixlen}"


def fw_ruleset(variants: tuple[str, ...]) -> str:
    """A firewall's boundary rule set (a table of its own; the host's baseline input firewall
    stays): the app zone reaches the web service, the db zone only PostgreSQL from the app zone."""
    log = "fw-no-log" not in variants
    rules = []
    if "fw-any-any" in variants:
        rules.append("accept")
    if "fw-stateless" not in variants:
        rules.append("ct state established,related accept")
    web = 'iifname "eth0" oifname "app0" ip daddr 198.51.100.20 tcp dport { 80, 443 } accept'
    rules += [web, 'iifname "app0" oifname "db0" ip daddr 198.51.100.10 tcp dport 5432 accept']
    if "fw-shadowed" in variants:  # the web rule again: dead, the first one already decides its packets
        rules.append(web)
    if "fw-broad-rule" in variants:  # the app zone out to the LAN, any address, any port (no other
        rules.append('iifname "app0" oifname "eth0" accept')  # rule for that direction: none shadowed)
    if log:
        rules.append('log prefix "ihfw-drop " drop')
    policy = "accept" if "fw-policy-accept" in variants else "drop"
    body = "\n".join(f"\t\t{r}" for r in rules)
    return ("table inet ihfw {\n\tchain forward {\n"
            f"\t\ttype filter hook forward priority filter; policy {policy};\n{body}\n\t}}\n}}\n")


def _etc_edit(upper: Path, name: str, edit: Any) -> None:
    p = upper / name
    st = p.stat()
    p.write_text(edit(p.read_text()))
    os.chown(p, st.st_uid, st.st_gid)
    os.chmod(p, st.st_mode & 0o7777)


def prepare(runtime: Path, variants: tuple[str, ...], probe: baseline.Probe, shadow_gid: int,
            have_pwq: bool) -> dict[str, hosts.HostKeys]:
    """The device hosts' folders and /etc: the hardened baseline of every lab host, then FRR's
    configuration and vtysh as the probe's shell on the routers, the nft sudo rule on fw1."""
    if not (FRR_BIN / "zebra").exists() or not Path(VTYSH).exists():
        raise LabError("lab up --devices needs FRR (Debian frr; bootstrap.sh install)")
    if not SNMPD.exists() or not RSYSLOGD.exists():
        raise LabError("lab up --devices needs net-snmp's agent and rsyslog (Debian snmpd, rsyslog; "
                       "bootstrap.sh install)")
    keys = {h.id: hosts.prepare(runtime, h, variants, probe, shadow_gid, have_pwq) for h in built(variants)}
    frr = pwd.getpwnam("frr")
    frrvty = grp.getgrnam("frrvty").gr_gid
    for h in built(variants):
        upper = hosts.host_dir(runtime, h.id) / "etc-upper"
        snmp = upper / "snmp"
        snmp.mkdir(exist_ok=True)
        (snmp / "snmpd.conf").write_text(snmpd_conf(h.id, variants))
        os.chown(snmp / "snmpd.conf", 0, grp.getgrnam("Debian-snmp").gr_gid)
        os.chmod(snmp / "snmpd.conf", 0o640)
        if h.id.startswith("core"):
            d = upper / "frr"
            d.mkdir(exist_ok=True)
            for name, text in (("frr.conf", frr_conf(h.id, variants)), ("vtysh.conf", ""),
                               ("daemons", "zebra=yes\nvrrpd=yes\n")):
                (d / name).write_text(text)
                os.chown(d / name, frr.pw_uid, frrvty)
                os.chmod(d / name, 0o640)
            os.chown(d, frr.pw_uid, frr.pw_gid)
            os.chmod(d, 0o755)  # noqa: S103  (the routers' /etc/frr, as Debian ships it)
            _etc_edit(upper, "passwd", lambda t: "".join(
                ln.rsplit(":", 1)[0] + f":{VTYSH}\n" if ln.startswith(plan.PROBE_USER + ":") else ln + "\n"
                for ln in t.splitlines()))
            _etc_edit(upper, "group", lambda t: "".join(
                (ln + ("," if not ln.endswith(":") else "") + plan.PROBE_USER if ln.startswith("frrvty:") else ln)
                + "\n" for ln in t.splitlines()))
        else:
            # sudoers: the last matching rule wins, so this one sorts after the baseline's
            sudoers = upper / "sudoers.d" / "zz-ihlab-device"
            sudoers.parent.mkdir(exist_ok=True)
            sudoers.write_text(f"# ihconform lab: the probe reads the firewall's rule set, nothing else\n"
                               f"{plan.PROBE_USER} ALL=(root) NOPASSWD: /usr/sbin/nft list ruleset\n")
            os.chmod(sudoers, 0o440)
            (hosts.host_dir(runtime, h.id) / "fw.nft").write_text(fw_ruleset(variants if h.id == "fw1" else ()))
            # the firewall's syslog daemon: the baseline's forwarding to the central log host, without
            # the system socket (/dev is the machine's); fw-no-remote-log: fw1 forwards nothing
            (upper / "rsyslog.conf").write_text(
                "# ihconform lab firewall\nmodule(load=\"imuxsock\" SysSock.Use=\"off\")\n"
                "$IncludeConfig /etc/rsyslog.d/*.conf\n*.*\t-/var/log/syslog\n")
            if h.id == "fw1" and "fw-no-remote-log" in variants:
                (upper / "rsyslog.d" / "50-ih-forward.conf").write_text(
                    "# ihconform lab: fw-no-remote-log (the records stay on the firewall)\n")
    return keys


def start(runtime: Path, variants: tuple[str, ...], inits: dict[str, int]) -> None:
    """Start the device hosts (sshd), then FRR on the routers and the rule set on fw1."""
    for h in built(variants):
        init = hosts.start(runtime, h)
        inits[h.id] = init
        for ifname, _net in plan.DEVICE_ZONES:  # the zones' interfaces the configurations name
            run(["ip", "-n", h.ns, "link", "add", ifname, "type", "veth", "peer", "name", f"{ifname}-p"])
            for dev in (ifname, f"{ifname}-p"):
                run(["ip", "-n", h.ns, "link", "set", dev, "up"])
        if not (h.id == NO_SNMP_ROUTER and "core-no-snmp" in variants):
            run(host_exec(init, ["sh", "-c", "mkdir -p /run/snmp && chown Debian-snmp:Debian-snmp /run/snmp && "
                                 f"SNMP_PERSISTENT_DIR=/run/snmp {SNMPD} -C -c /etc/snmp/snmpd.conf "
                                 "-u Debian-snmp -g Debian-snmp -p /run/snmp/snmpd.pid -LF 3 /var/log/snmpd.log"]))
        if h.id.startswith("core"):
            run(host_exec(init, ["sh", "-c", "mkdir -p /run/frr && chown frr:frr /run/frr && "
                                 "ip link set lo up"]))
            bind = [] if telnet_on(variants, h.id) else ["-A", "127.0.0.1"]  # the vty on the loopback only
            for daemon in VTY_PORTS:
                run(host_exec(init, [FRR_BIN / daemon, "-d", "-f", "/etc/frr/frr.conf", "-u", "frr", "-g", "frr",
                                     *bind]))
            wait_for(f"{h.id} vrrpd", functools.partial(_vty_ready, init), 10)
        else:
            run(["ip", "netns", "exec", h.ns, "nft", "-f", hosts.host_dir(runtime, h.id) / "fw.nft"])
            run(host_exec(init, [RSYSLOGD, "-f", "/etc/rsyslog.conf", "-i", "/run/rsyslogd.pid"]))


def _vty_ready(init: int) -> bool:
    return run(host_exec(init, ["test", "-S", "/run/frr/vrrpd.vty"]), check=False).returncode == 0


def inventory(runtime: Path, variants: tuple[str, ...], pinned: dict[str, str]) -> dict[str, Any]:
    """devices-inventory.yaml: the devices as ``network_devices``, reached directly, keys pinned."""
    secrets = runtime / "secrets"
    devices: list[dict[str, Any]] = []
    for h in built(variants):
        core = h.id.startswith("core")
        devices.append({"id": h.id, "platform": "frr" if core else "linux_nftables", "address": h.address,
                        "roles": ["core"] if core else ["firewall", "border"], "host_key": pinned[h.id],
                        "location": "ihconform lab (network namespace)"})
    return {
        "institution": {"name": "示例互联网医院（实验环境） / ihconform Lab Internet Hospital",
                        "licence_number": "LAB-0000-0000"},
        "system": {"name": "实验环境网络设备 / lab network devices", "version": "lab", "mlps_level": 3,
                   "location": "本机网络命名空间 / network namespaces on this machine"},
        "defaults": {"user": plan.PROBE_USER, "auth": {"key_file": str(secrets / "id_ed25519")},
                     "known_hosts": str(runtime / "known_hosts"), "timeout_s": 10},
        "network_devices": devices,
    }
