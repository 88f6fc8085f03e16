"""The lab's address plan, hosts and defect variants: pure data, no side effects.

Why one module: every other part of the lab (namespaces, configs, inventory, tear-down)
derives its names and addresses from here, so a rename or re-address is one edit, and the
tear-down can find everything the bring-up may have made even without a state file.

Only 198.51.100.0/24 (TEST-NET-2) is used. 192.0.2.0/24 is the VM's own network and
203.0.113.0/24 is where the package registries resolve on this workplace.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_RUNTIME = Path("/run/ihlab")

LAB_RANGE = ipaddress.ip_network("198.51.100.0/24")
LAN = ipaddress.ip_network("198.51.100.0/25")
LAN_PREFIX = 25
ROOT_VETH = "ihlab0"  # root-namespace end of the link into the switch namespace
ROOT_ADDR = "198.51.100.126"  # the harness's own address on the lab LAN ("outside")
SWITCH_NS = "ih-sw"
BRIDGE = "br0"
NS_PREFIX = "ih-"

# WAN side (all inside 198.51.100.128/25, unreachable from the root namespace).
WAN_A_APP, WAN_A_ISP = "198.51.100.130", "198.51.100.129"  # app01 wan-a <-> ISP A (.128/30)
WAN_B_APP, WAN_B_ISP = "198.51.100.134", "198.51.100.133"  # app01 wan-b <-> ISP B (.132/30)
CORE_A_ISP, CORE_A_INET = "198.51.100.137", "198.51.100.138"  # ISP A <-> internet (.136/30)
CORE_B_ISP, CORE_B_INET = "198.51.100.141", "198.51.100.142"  # ISP B <-> internet (.140/30)
INET_SERVER = "198.51.100.200"  # speedtest + iperf3 server, /32 on the internet's lo
DL_GATEWAY = "198.51.100.145"  # the platform side of the dedicated line (.144/29)
DL_PREFIX_LEN = 29
PLATFORM_PREFIX = "198.51.100.224/28"
PLATFORM_ADDR = "198.51.100.225"
PLATFORM_NAME = "platform.lab"

PROBE_USER = "ihprobe"
PROBE_HOME = "/home/ihprobe"

ISP_A_NAME = "ISP-A Lab Telecom"
ISP_B_NAME = "ISP-B Lab Cable"
DEFAULT_RATES_MBIT = {"isp-a": 50, "isp-b": 20}
SLOW_RATE_MBIT = 8

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass(frozen=True)
class HostSpec:
    """One SSH host: its own net, UTS, mount, IPC and PID namespaces, sshd and /etc."""

    id: str
    address: str
    roles: tuple[str, ...]
    tcp_ports: tuple[int, ...] = ()  # service ports opened in its nftables input policy
    udp_ports: tuple[int, ...] = ()
    udp_ranges: tuple[tuple[int, int], ...] = ()
    dl_address: str = ""  # address on the dedicated line to the platform, if any
    fleet: bool = False  # a minimal fleet host (issue 9): the probe may come from the harness too
    release: str = ""  # a release host: runs in its own debootstrapped root (lab/roots.py), stock
    outside: bool = False  # the outside vantage: on the internet, managed over its own link

    @property
    def ns(self) -> str:
        return NS_PREFIX + self.id

    @property
    def switch_port(self) -> str:
        return "p-" + self.id

    @property
    def fqdn(self) -> str:
        return f"{self.id}.lab"


BASTION = HostSpec("bastion", "198.51.100.1", ("bastion", "log"), tcp_ports=(514,))
HOSTS: tuple[HostSpec, ...] = (
    BASTION,
    HostSpec("db01", "198.51.100.10", ("db",), tcp_ports=(5432, 3306)),
    HostSpec("app01", "198.51.100.20", ("app", "web"), tcp_ports=(80, 443), dl_address="198.51.100.146"),
    HostSpec("app02", "198.51.100.21", ("app", "web"), tcp_ports=(80, 443), dl_address="198.51.100.147"),
    HostSpec("av1", "198.51.100.30", ("av",), tcp_ports=(3478,), udp_ports=(3478,),
             udp_ranges=((49160, 49200),)),
    HostSpec("av2", "198.51.100.31", ("av",), tcp_ports=(5060,), udp_ports=(5060,)),
    HostSpec("his01", "198.51.100.50", ("other",), tcp_ports=(11112, 2575)),
)
HOST_BY_ID = {h.id: h for h in HOSTS}

# The outside vantage: a tester's scanning machine on the internet (exposure scans run there).
# Its own namespace with sshd, one interface into the internet and one management link to the
# harness (the way a tester reaches a cloud VM); it never forwards between the two. Not a host
# under test: the inventory gives it the role ``vantage``.
SCAN_MGMT_ROOT, SCAN_MGMT = "198.51.100.157", "198.51.100.158"  # harness <-> scan01 (.156/30)
SCAN_INET_GW, SCAN_INET = "198.51.100.153", "198.51.100.154"  # internet <-> scan01 (.152/30)
SCAN_NET = "198.51.100.152/30"
SCAN_ROOT_VETH = "ihlab-scan"
SCANNER = HostSpec("scan01", SCAN_MGMT, ("vantage",), outside=True)

LOG_HOST = BASTION.address  # rsyslog forwarding target and NTP server named in the baseline

# Plain namespaces (no sshd): routers, the "internet", the platform and the power network.
ISPA_NS, ISPB_NS, INET_NS, PLATFORM_NS, POWER_NS = "ih-ispa", "ih-ispb", "ih-inet", "ih-plat", "ih-power"
POWER_ADDR = "198.51.100.40"  # NUT upsd
POWER_SWITCH_PORT = "p-power"
BMC_ADDRS = {"db01": "198.51.100.41", "app01": "198.51.100.42", "app02": "198.51.100.43",
             "his01": "198.51.100.44"}
REDFISH_PORT = 8000
UPS_UNITS = (("upsa", "A"), ("upsb", "B"))

ALL_NAMESPACES: tuple[str, ...] = (
    SWITCH_NS, *(h.ns for h in HOSTS), SCANNER.ns, ISPA_NS, ISPB_NS, INET_NS, PLATFORM_NS, POWER_NS)

#: The fleet (``lab up --fleet N``): up to 50 minimal SSH hosts f01..f50 at .60-.109 on the LAN,
#: for scale benchmarks. Their namespace names are fixed here, so ``down`` finds them without
#: a state file, like every other part of the lab.
FLEET_MAX = 50
FLEET_FIRST_ADDR = 60


def fleet_hosts(n: int) -> tuple[HostSpec, ...]:
    """The first ``n`` fleet hosts (``0 <= n <= FLEET_MAX``); role ``other``, no service ports."""
    if not 0 <= n <= FLEET_MAX:
        raise ValueError(f"fleet size {n}: choose 0 to {FLEET_MAX}")
    return tuple(HostSpec(f"f{i:02d}", str(LAN.network_address + FLEET_FIRST_ADDR + i - 1), ("other",),
                          fleet=True) for i in range(1, n + 1))


FLEET_NAMESPACES: tuple[str, ...] = tuple(h.ns for h in fleet_hosts(FLEET_MAX))

#: Release hosts (``lab up --release NAME``): one stock host per Debian release, on its own root
#: file system, at .112.. on the LAN; ids by Debian version (deb11, deb12, deb13). Fixed, like the
#: fleet's, so ``down`` finds them without a state file.
RELEASE_VERSIONS = {"bullseye": "11", "bookworm": "12", "trixie": "13"}
RELEASE_FIRST_ADDR = 112


def release_hosts(names: tuple[str, ...] | list[str]) -> tuple[HostSpec, ...]:
    """The stock hosts of these releases, in the order of ``RELEASE_VERSIONS``. Raises ValueError."""
    unknown = [n for n in names if n not in RELEASE_VERSIONS]
    if unknown:
        raise ValueError(f"unknown release(s): {', '.join(unknown)}; known: {', '.join(RELEASE_VERSIONS)}")
    return tuple(HostSpec(f"deb{v}", str(LAN.network_address + RELEASE_FIRST_ADDR + i), ("other",), fleet=True,
                          release=name)
                 for i, (name, v) in enumerate(RELEASE_VERSIONS.items()) if name in names)


RELEASE_NAMESPACES: tuple[str, ...] = tuple(h.ns for h in release_hosts(list(RELEASE_VERSIONS)))

DICOM_PORT, DICOM_AE = 11112, "IHLAB-PACS"
HL7_PORT = 2575
STUN_PORT, SIP_PORT = 3478, 5060
TURN_USER, TURN_REALM = "ihlab", "lab.example"


@dataclass(frozen=True)
class Variant:
    name: str
    zh: str
    en: str
    conflicts: tuple[str, ...] = field(default=())


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("db-on-app", "应用服务器上另跑数据库", "a PostgreSQL also runs on app01", conflicts=("socket-db",)),
    Variant("one-isp", "只有一条宽带线路", "only ISP A is present (no wan-b, no ISP B)"),
    Variant("slow-isp", "ISP B 限速 8 Mbit", "ISP B shaped to 8 Mbit/s", conflicts=("one-isp",)),
    Variant("av-down", "一套音视频系统未运行", "av2 (kamailio SIP) is not running"),
    Variant("weak-tls", "弱 TLS：1.0/1.1、CBC、过期证书",
            "app01:443 serves TLS 1.0/1.1, CBC suites and an expired certificate"),
    Variant("root-login", "允许 root 口令登录",
            "app01 sshd: PermitRootLogin yes, PasswordAuthentication yes"),
    Variant("match-root-login", "Match 块放开 root 登录",
            "app01 sshd: global PermitRootLogin stays no; a final \"Match User root\" block sets "
            "PermitRootLogin yes"),
    Variant("match-password", "Match 块放开口令登录",
            "app01 sshd: global PasswordAuthentication stays no; a final \"Match Address 198.51.100.0/24\" "
            "block sets PasswordAuthentication yes"),
    Variant("pg-trust", "pg_hba 网络行为 trust", "pg_hba: host all all 198.51.100.0/25 trust"),
    Variant("psu-failed", "一个电源模块故障",
            "db01's BMC: PSU 2 UnavailableOffline/Critical, Redundancy Warning"),
    Variant("ups-on-battery", "UPS 电池供电", "upsb status OB DISCHRG"),
    Variant("short-retention", "日志只保留四周", "app01 logrotate: weekly, rotate 4"),
    Variant("exposed-admin", "管理端口暴露在互联网",
            "app01's sshd listens on every address and its firewall takes SSH from anywhere, so the "
            "internet reaches port 22 on its uplink addresses"),
    Variant("hostkey-changed", "主机密钥已变更",
            "app01's host key differs from the one pinned in the inventory"),
    Variant("empty-password", "默认账户空口令可登录",
            "app01: the default account games has /bin/bash and an empty hash in /etc/shadow"),
    Variant("socket-db", "应用服务器上数据库仅监听 Unix 套接字",
            "a PostgreSQL with listen_addresses = '' (Unix socket only) runs on app01",
            conflicts=("db-on-app",)),
    Variant("uid0-extra", "第二个 UID 0 账户", "app01: an account toor with UID 0 (locked, nologin)"),
    Variant("tmout-zero", "TMOUT=0（shell 永不超时）", "app01: /etc/profile.d/ih-tmout.sh sets TMOUT=0"),
    # One decisive sub-check each (issue 20), on disjoint (control, object) pairs so that they
    # can share one bring-up: DECISIVE_HOSTS says where each one lives.
    Variant("ssh-cbc", "SSH 放开 CBC 加密算法", "app01 sshd: Ciphers also offers aes256-cbc"),
    Variant("ssh-md5", "SSH 放开 MD5 消息认证码", "app02 sshd: MACs also offers hmac-md5"),
    Variant("ssh-group1", "SSH 放开 1024 位 DH 密钥交换",
            "his01 sshd: KexAlgorithms also offers diffie-hellman-group1-sha1"),
    Variant("sshd-empty-passwords", "sshd 允许空口令", "db01 sshd: PermitEmptyPasswords yes"),
    Variant("telnet", "明文远程登录端口", "av1: a cleartext login listener on tcp/23 (a telnetd stand-in)"),
    Variant("direct-admin", "绕过堡垒机直接管理",
            "av2 sshd: AllowUsers also admits the probe account from the harness's address, not only "
            "from the bastion"),
    Variant("same-isp-name", "两条线路同一供应商",
            f"the inventory names {ISP_A_NAME} as the provider of both uplinks (the lines themselves are "
            "unchanged)", conflicts=("one-isp",)),
    Variant("nginx-root", "nginx 工作进程以 root 运行", "app02 nginx: user root (workers run as root)"),
    Variant("no-access-log", "nginx 关闭访问日志", "app01 nginx: access_log off"),
    Variant("null-suite", "提供 NULL 加密套件",
            "app02:443 also accepts the NULL-encryption suites ECDHE-*-NULL-SHA (security level 0)"),
    Variant("pg-no-tls", "数据库端口不提供 TLS",
            "db01 PostgreSQL: ssl = off, pg_hba network lines host (not hostssl) with SCRAM",
            conflicts=("pg-trust",)),
    Variant("pg-md5", "PostgreSQL 口令以 MD5 保存",
            "db01 PostgreSQL 15: password_encryption = md5, his_app's password stored as md5"),
    Variant("middleware", "应用服务器上的 Apache 与 Tomcat",
            "Apache httpd and Tomcat on app01 (hardened) and app02 (Debian stock, only the ports changed)"),
    Variant("isp-via-a", "第二条线路经第一家运营商出口",
            "ISP B's router reaches the internet through ISP A, behind A's carrier NAT: one egress address "
            "for both lines, B's upload at A's rate", conflicts=("one-isp",)),
    # network devices (`lab up --devices`, lab/devices.py): each flips one device control
    Variant("single-core", "只有一台核心路由器", "--devices: core2 is not built; core1 alone (its VRRP has no peer)"),
    Variant("fw-any-any", "防火墙存在全通规则", "--devices: fw1's forward chain accepts everything before its rules"),
    Variant("fw-policy-accept", "防火墙默认允许", "--devices: fw1's forward chain has policy accept"),
    Variant("fw-stateless", "防火墙无状态规则", "--devices: fw1's forward chain has no ct state rule"),
    Variant("fw-no-log", "防火墙不记录日志", "--devices: fw1's chains log nothing"),
    Variant("core-telnet", "核心路由器开放 telnet 管理",
            "--devices: core1's FRR vty (zebra 2601, vrrpd 2619) listens on the LAN over telnet with a line "
            "password, its input firewall open to it"),
    Variant("core-snmp-public", "SNMP 默认团体名 public",
            "--devices: core2's snmpd also grants the read-only community public"),
    Variant("core-no-snmp", "核心路由器未纳入监测", "--devices: core1 runs no SNMP agent"),
    Variant("core-vty-open", "核心路由器管理地址不受限", "--devices: core2's line vty has no access-class"),
    Variant("fw-no-remote-log", "防火墙日志不外发",
            "--devices: fw1's rsyslog forwards nothing to the central log host (its forwarding drop-in emptied)"),
    Variant("fw-shadowed", "防火墙存在冗余规则",
            "--devices: fw1's web rule appears twice; the second is shadowed by the first"),
    Variant("fw-broad-rule", "防火墙规则未限定地址和端口",
            "--devices: fw1 lets the app zone out to the LAN with no destination address or port"),
)}

#: Network devices (``lab up --devices``, issue 15): two FRR core routers whose probe account has
#: vtysh as its login shell, and an nftables firewall; SSH hosts of their own on the LAN, reached
#: directly from the harness (``fleet``), declared as ``network_devices`` in devices-inventory.yaml.
DEVICE_HOSTS: tuple[HostSpec, ...] = (
    HostSpec("core1", "198.51.100.5", ("other",), fleet=True),
    HostSpec("core2", "198.51.100.6", ("other",), fleet=True),
    HostSpec("fw1", "198.51.100.7", ("other",), fleet=True),
    HostSpec("fw2", "198.51.100.8", ("other",), fleet=True),  # the firewall pair's standby (variants: fw1 only)
)
#: the zones the devices separate: (interface, subnet) — a veth of its own per zone on every device
#: (this kernel has no 8021q module), each router with its own address in the zone's subnet
DEVICE_ZONES = (("app0", "198.51.100.160/29"), ("db0", "198.51.100.168/29"))
DEVICE_NAMESPACES: tuple[str, ...] = tuple(h.ns for h in DEVICE_HOSTS)
VRRP_ADDR = "198.51.100.4"


#: The variants that each break one decisive sub-check, and the host each one changes
#: ("inventory": only what the inventory declares).
DECISIVE_HOSTS: dict[str, str] = {
    "ssh-cbc": "app01", "ssh-md5": "app02", "ssh-group1": "his01", "sshd-empty-passwords": "db01",
    "telnet": "av1", "direct-admin": "av2", "same-isp-name": "inventory",
    "nginx-root": "app02", "no-access-log": "app01", "null-suite": "app02", "pg-no-tls": "db01", "pg-md5": "db01",
}


def variant_on(variants: tuple[str, ...], name: str, host_id: str) -> bool:
    """Variant ``name`` is chosen and changes host ``host_id``."""
    return name in variants and DECISIVE_HOSTS.get(name) == host_id


def check_variants(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Validate and normalise variant names (sorted, unique). Raises ValueError."""
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s): {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    chosen = tuple(sorted(set(names)))
    for n in chosen:
        clash = [c for c in VARIANTS[n].conflicts if c in chosen]
        if clash:
            raise ValueError(f"variant {n} cannot be combined with {', '.join(clash)}")
    return chosen


def etc_hosts(host: HostSpec | None, variants: tuple[str, ...]) -> str:
    """The per-host /etc/hosts: there is no DNS inside the namespaces, so every name is here."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    if host is not None:
        lines.append(f"127.0.1.1\t{host.fqdn} {host.id}")
    for h in HOSTS:
        if host is None or h.id != host.id:
            lines.append(f"{h.address}\t{h.fqdn} {h.id}")
    lines.append(f"{POWER_ADDR}\tpower.lab ups.lab")
    for server, addr in BMC_ADDRS.items():
        lines.append(f"{addr}\tbmc-{server}.lab")
    lines.append(f"{PLATFORM_ADDR}\t{PLATFORM_NAME}")
    if host is not None and host.id == "app01":
        lines.append(f"{INET_SERVER}\twww.speedtest.net speedtest.lab")
    return "\n".join(lines) + "\n"


def public_addresses(host_id: str, variants: tuple[str, ...]) -> tuple[str, ...]:
    """Where the internet reaches a host: app01's uplink addresses (the ones these variants build)."""
    return tuple(str(u["source"]) for u in uplinks(variants)) if host_id == "app01" else ()


def uplinks(variants: tuple[str, ...]) -> list[dict[str, str | int]]:
    """The uplinks built for these variants, with their tc rate in Mbit/s."""
    out: list[dict[str, str | int]] = [
        {"id": "isp-a", "isp": ISP_A_NAME, "ns": ISPA_NS, "dev": "wan-a", "source": WAN_A_APP,
         "gateway": WAN_A_ISP, "core_isp": CORE_A_ISP, "core_inet": CORE_A_INET,
         "rate": DEFAULT_RATES_MBIT["isp-a"], "table": 101},
    ]
    if "one-isp" not in variants:
        out.append(
            {"id": "isp-b", "isp": ISP_A_NAME if "same-isp-name" in variants else ISP_B_NAME, "ns": ISPB_NS,
             "dev": "wan-b", "source": WAN_B_APP,
             "gateway": WAN_B_ISP, "core_isp": CORE_B_ISP, "core_inet": CORE_B_INET,
             "rate": SLOW_RATE_MBIT if "slow-isp" in variants else DEFAULT_RATES_MBIT["isp-b"],
             "table": 102})
    return out
