"""The site inventory: what is tested, and how to reach it.

Secrets are never written here: a password or token is named by the environment variable
that holds it, a key by its file, or the SSH agent is used. A literal ``password:`` key is
an unknown key and rejected.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from ihconform.errors import ConfigError, Location
from ihconform.profile import Frozen, ObjectType
from ihconform.yamlio import SourceDoc, load_yaml, read_text, validate

ObjId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Role = Literal["app", "db", "web", "av", "bastion", "backup", "log", "router", "measure", "other", "vantage"]
#: A host with this role is a place the harness works *from* (the outside vantage of exposure
#: scans), not part of the system under test: no control is judged on it and no facts are gathered.
VANTAGE_ROLE = "vantage"


class Institution(Frozen):
    name: str = Field(min_length=1)
    licence_number: str = ""  # 《医疗机构执业许可证》登记号
    credit_code: str = ""  # 统一社会信用代码

    @field_validator("credit_code")
    @classmethod
    def _credit_code(cls, v: str) -> str:
        if v and not (len(v) == 18 and v.isalnum() and v.upper() == v):
            raise ValueError("统一社会信用代码 must be 18 upper-case letters or digits")
        return v


class Hosting(Frozen):
    """Where the system runs. ``cloud`` brings in the 云计算安全扩展要求 (profile
    ``mlps-l3-cloud``, tenant side): GB/T 22239 applies them to a system on a cloud platform, and
    the platform's own 等保 level is what 8.2.6.1 a) (and 8.2.2.1 a) on the provider's side) asks
    about, so a cloud declaration names the provider and that level."""

    kind: Literal["on-premises", "idc", "cloud"]
    provider: str = ""  # 云服务商, e.g. 某云计算有限公司
    platform: str = ""  # 云平台名称, e.g. 重庆市卫生健康云
    platform_mlps_level: int | None = Field(default=None, ge=1, le=5)  # 云平台的等保级别
    region: str = ""  # 地域/可用区, e.g. 西南（重庆）

    @model_validator(mode="after")
    def _cloud_names_provider(self) -> Hosting:
        if self.kind == "cloud" and (not self.provider or self.platform_mlps_level is None):
            raise ValueError("hosting kind cloud needs provider and platform_mlps_level")
        return self


class SystemUnderTest(Frozen):
    name: str = Field(min_length=1)
    version: str = ""
    mlps_level: int = Field(default=3, ge=1, le=5)
    mlps_filing_number: str = ""  # 等保备案证明编号
    location: str = ""  # where the servers are (for 第十九条), e.g. 重庆市两江新区 某IDC
    hosting: Hosting | None = None  # not declared: no extension profile is brought in


class Tester(Frozen):
    """Who tests and who signs: the cover and the signature page (编制 / 审核 / 批准) of the report.

    Without an ``organisation`` the report is the institution's own 自查 report; with one, a
    预检 report by that organisation. Neither is the official 等保 测评 conclusion. ``ihconform run``
    options (``--tester-org``, ``--tester``, ``--report-number``) override these fields.
    """

    organisation: str = ""  # 测试单位
    testers: tuple[str, ...] = ()  # 测试人员
    prepared_by: str = ""  # 编制
    reviewed_by: str = ""  # 审核
    approved_by: str = ""  # 批准
    report_number: str = ""  # 报告编号; default IHC-<date>-<run id>
    report_date: str = ""  # 报告日期 (YYYY-MM-DD); default the run's date in 北京时间


class Auth(Frozen):
    """How to authenticate. Exactly what is named is used; nothing is guessed."""

    key_file: Path | None = None
    key_passphrase_env: EnvName | None = None
    agent: bool = False
    password_env: EnvName | None = None


class Sudo(Frozen):
    """sudo for the facts that need root, in one call per run. The password, if any, comes
    from an environment variable or a file readable by the owner only; it is never stored."""

    enabled: bool = False
    password_env: EnvName | None = None
    password_file: Path | None = None


class Host(Frozen):
    id: ObjId
    address: str = Field(min_length=1)
    port: int = Field(default=22, ge=1, le=65535)
    user: str = ""
    auth: Auth | None = None
    jump: ObjId | None = None  # id of another host used as a jump host
    sudo: Sudo = Sudo()
    roles: tuple[Role, ...] = ()
    host_key: str = ""  # pinned "ssh-ed25519 AAAA..."; else known_hosts is used
    connection: Literal["ssh", "local", "recorded"] = "ssh"
    # which collector gathers its facts (facts/contract.py COLLECTORS); "linux" covers the Linux
    # releases and 国产 distributions alike
    platform: Literal["linux", "windows"] = "linux"
    #: A recorded answer judged instead of a live host. Windows: the JSON file the
    #: administrator's run of ``ihconform collect-script windows`` wrote (its digest goes into the
    #: evidence). Linux, with ``connection: recorded``: the folder of a recorded batch answer
    #: (``<section>.txt`` + ``exit_codes.json``, transport/recorded.py).
    offline: Path | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=600)
    location: str = ""
    #: Addresses the outside reaches this host at (public, NAT or WAN side), scanned from the
    #: outside vantage with ``address``.
    public_addresses: tuple[str, ...] = ()


#: The database engines an inventory may declare (``validate`` lists them for an unknown one).
#: postgresql/mysql/mariadb are read by their own client on the host; oracle, sqlserver, dm and
#: kingbase through their Python driver from the tester (``ihconform.facts.db_driver``).
DbEngine = Literal["postgresql", "mysql", "mariadb", "oracle", "sqlserver", "dm", "kingbase"]


#: Device platforms (issue 15): the netmiko device types of the vendors assessors meet, ``frr``
#: (vtysh) and ``linux_nftables`` (``nft list ruleset``) for the lab and Linux boundary firewalls.
DevicePlatform = Literal["huawei_vrp", "hp_comware", "ruijie_os", "cisco_ios", "hillstone_stoneos",
                         "huawei_usg", "linux_nftables", "frr"]
DeviceRole = Literal["core", "access", "border", "firewall", "waf", "ids", "bastion", "log-audit", "router"]


class NetworkDevice(Frozen):
    """A switch, router or security device (issue 15): reached over SSH like a host, or judged
    offline from an exported configuration (``config_file``, hashed into the evidence)."""

    id: ObjId
    platform: DevicePlatform
    address: str = ""
    port: int = Field(default=22, ge=1, le=65535)
    user: str = ""
    auth: Auth | None = None
    jump: ObjId | None = None  # id of a host used as a jump host
    host_key: str = ""  # pinned "ssh-ed25519 AAAA..."; else known_hosts is used
    roles: tuple[DeviceRole, ...] = ()
    config_file: Path | None = None  # offline: the saved `display current-configuration` / `show running-config`
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    location: str = ""

    @model_validator(mode="after")
    def _reached_somehow(self) -> NetworkDevice:
        if not self.address and self.config_file is None:
            raise ValueError("a network device needs an address (online) or a config_file (offline)")
        return self


class Database(Frozen):
    id: ObjId
    host: ObjId
    engine: DbEngine
    port: int = Field(ge=1, le=65535)
    tls_required: bool = True
    socket: str = ""  # unix socket dir (PostgreSQL) or file (MySQL) the client uses on the host
    admin_user: str = ""  # OS account the client runs as (default: postgres / root)
    audit_table: str = ""  # application audit table, for retention (四(四))
    audit_retention_days: int | None = None
    # Driver engines (oracle, sqlserver, dm, kingbase): a read-only account named by reference,
    # the address to connect to (default: the host's), the service/database name, the CA to verify TLS.
    address: str = ""
    service: str = ""  # Oracle service name, SQL Server/Kingbase database, DM schema (empty: engine default)
    username_env: EnvName | None = None
    password_env: EnvName | None = None
    ca_file: Path | None = None


class TlsEndpoint(Frozen):
    id: ObjId
    host: str = Field(min_length=1)  # the name the certificate must match (SNI)
    address: str = ""
    port: int = Field(default=443, ge=1, le=65535)
    ca_file: Path | None = None
    exposed: bool = True  # reachable from outside the server network
    gm: bool = False  # also probe TLCP / RFC 8998 SM suites


class Uplink(Frozen):
    id: ObjId
    isp: str = Field(min_length=1)  # 宽带网络供应商
    host: ObjId  # the host that owns this uplink; measurements run there
    source: str = ""  # source address to bind
    interface: str = ""
    gateway: str = ""
    contracted_mbps: float = Field(default=0, ge=0)
    method: Literal["iperf3", "speedtest", "http"] = "iperf3"
    server: str = ""  # iperf3 server address, speedtest mini URL, or HTTP base URL
    repeats: int = Field(default=3, ge=1, le=20)
    # An echo service on the internet that answers with the client address it saw (the egress
    # address as the outside sees it); without it the providers' independence is not checked.
    reflector: str = Field(default="", pattern=r"^(https?://\S+)?$")
    edge_hops: int = Field(default=0, ge=0, le=5)  # the site's own routers before the provider's

    @model_validator(mode="after")
    def _bind(self) -> Uplink:
        if not self.source and not self.interface:
            raise ValueError("an uplink needs a source address or an interface to bind")
        return self


class AvEndpoint(Frozen):
    protocol: Literal["stun-udp", "stun-tcp", "turn-udp", "turn-tcp", "sip-udp", "sip-tcp",
                      "sip-tls", "https", "wss"]
    address: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    url: str = ""
    username_env: EnvName | None = None
    password_env: EnvName | None = None


class AvSystem(Frozen):
    id: ObjId
    name: str = Field(min_length=1)
    vendor: str = ""
    host: ObjId | None = None
    endpoints: tuple[AvEndpoint, ...] = Field(min_length=1)


class Bmc(Frozen):
    id: ObjId
    server: ObjId  # the host whose power supplies it reports
    url: str = Field(min_length=1)  # Redfish service root, e.g. http://198.51.100.41:8000
    username_env: EnvName | None = None
    password_env: EnvName | None = None
    ca_file: Path | None = None


class Ups(Frozen):
    id: ObjId
    address: str = Field(min_length=1)
    port: int = Field(default=3493, ge=1, le=65535)
    name: str = Field(min_length=1)  # NUT ups name
    feed: str = ""  # which power feed it is on (A / B)
    username_env: EnvName | None = None
    password_env: EnvName | None = None


class Power(Frozen):
    bmcs: tuple[Bmc, ...] = ()
    ups: tuple[Ups, ...] = ()


class Platform(Frozen):
    """The provincial supervision platform and the dedicated line to it (第十九条)."""

    url: str = Field(min_length=1)
    address: str = ""
    prefix: str = ""  # the platform's network, e.g. 198.51.100.224/28
    interface: str = ""  # the dedicated-line interface on the app hosts
    gateway: str = ""
    hosts: tuple[ObjId, ...] = ()  # hosts that must reach it over the line
    ca_file: Path | None = None


class ClinicalInterface(Frozen):
    id: ObjId
    kind: Literal["his", "lis", "pacs", "ris", "emr", "other"]
    protocol: Literal["dicom", "hl7-mllp", "https"]
    address: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    ae_title: str = ""
    url: str = ""
    tls: bool = False


class Evidence(Frozen):
    attestations: Path | None = None  # a ledger YAML file, or a folder of them (docs/evidence.md)
    waivers: Path | None = None
    keyring: Path | None = None  # public keys trusted to sign attestations and waivers


class Vantage(Frozen):
    """Where "outside" is: the place exposure scans run from."""

    outside: Literal["local"] | ObjId = "local"
    server_networks: tuple[str, ...] = ()

    @field_validator("server_networks")
    @classmethod
    def _nets(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for net in v:
            ipaddress.ip_network(net, strict=False)
        return v


class Defaults(Frozen):
    user: str = ""
    port: int = Field(default=22, ge=1, le=65535)
    auth: Auth | None = None
    known_hosts: Path | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=600)
    env_file: Path | None = None  # KEY=value file (mode 0600) of the variables *_env names refer to


class Inventory(Frozen):
    institution: Institution
    system: SystemUnderTest
    defaults: Defaults = Defaults()
    hosts: tuple[Host, ...] = ()
    databases: tuple[Database, ...] = ()
    tls_endpoints: tuple[TlsEndpoint, ...] = ()
    uplinks: tuple[Uplink, ...] = ()
    av_systems: tuple[AvSystem, ...] = ()
    power: Power = Power()
    platform: Platform | None = None
    clinical_interfaces: tuple[ClinicalInterface, ...] = ()
    network_devices: tuple[NetworkDevice, ...] = ()
    vantage: Vantage = Vantage()
    evidence: Evidence = Evidence()
    tester: Tester = Tester()

    @property
    def targets(self) -> tuple[Host, ...]:
        """The hosts under test: every host but the harness's own vantage points."""
        return tuple(h for h in self.hosts if VANTAGE_ROLE not in h.roles)

    def host(self, host_id: str) -> Host:
        for h in self.hosts:
            if h.id == host_id:
                return h
        raise KeyError(host_id)


@dataclass(frozen=True)
class TestObject:
    """One object a control is judged on: its type, id, and the inventory entry behind it."""

    type: ObjectType
    id: str
    label: str
    ref: Frozen | None = None  # the inventory entry (Host, Database, ...); None for the site


def objects(inv: Inventory) -> Iterator[TestObject]:
    """Every test object the inventory declares, in a stable order."""
    yield TestObject(ObjectType.SITE, "site", inv.system.name)
    for h in inv.targets:
        if h.platform == "windows":
            yield TestObject(ObjectType.HOST_OS_WINDOWS, h.id, f"{h.id} ({h.address}, Windows)", h)
        else:
            yield TestObject(ObjectType.HOST_OS, h.id, f"{h.id} ({h.address})", h)
    for h in inv.targets:
        if "app" in h.roles or "web" in h.roles:
            yield TestObject(ObjectType.WEB_SERVER, f"{h.id}:web", f"{h.id} web server", h)
    for d in inv.databases:
        yield TestObject(ObjectType.DATABASE, d.id, f"{d.id} ({d.engine}@{d.host}:{d.port})", d)
    for t in inv.tls_endpoints:
        yield TestObject(ObjectType.TLS_ENDPOINT, t.id, f"{t.host}:{t.port}", t)
    for u in inv.uplinks:
        yield TestObject(ObjectType.UPLINK, u.id, f"{u.id} ({u.isp})", u)
    for a in inv.av_systems:
        yield TestObject(ObjectType.AV_SYSTEM, a.id, a.name, a)
    for b in inv.power.bmcs:
        yield TestObject(ObjectType.POWER, b.id, f"BMC {b.id} ({b.server})", b)
    for ups in inv.power.ups:
        yield TestObject(ObjectType.POWER, ups.id, f"UPS {ups.name}@{ups.address} feed {ups.feed}", ups)
    if inv.platform is not None:
        yield TestObject(ObjectType.PLATFORM_LINK, "platform", inv.platform.url, inv.platform)
    for c in inv.clinical_interfaces:
        yield TestObject(ObjectType.CLINICAL_INTERFACE, c.id, f"{c.kind.upper()} {c.address}:{c.port}", c)
    for n in inv.network_devices:
        where = f"{n.address}:{n.port}" if n.address else f"config {n.config_file.name if n.config_file else ''}"
        yield TestObject(ObjectType.NETWORK_DEVICE, n.id, f"{n.id} ({n.platform} {where})", n)


def _check_refs(inv: Inventory, doc: SourceDoc) -> None:
    """Cross-references: ids unique per section, and every host named exists."""
    host_ids = {h.id for h in inv.hosts}

    def fail(msg: str, key: tuple[str | int, ...]) -> None:
        raise ConfigError(msg, doc.location(key), field=".".join(str(k) for k in key))

    sections: dict[str, tuple[Frozen, ...]] = {
        "hosts": inv.hosts, "databases": inv.databases, "tls_endpoints": inv.tls_endpoints,
        "uplinks": inv.uplinks, "av_systems": inv.av_systems,
        "clinical_interfaces": inv.clinical_interfaces, "network_devices": inv.network_devices,
    }
    for name, items in sections.items():
        seen: set[str] = set()
        for i, item in enumerate(items):
            oid = str(getattr(item, "id", ""))
            if oid in seen:
                fail(f"duplicate id {oid!r}", (name, i, "id"))
            seen.add(oid)
    for i, h in enumerate(inv.hosts):
        if VANTAGE_ROLE in h.roles and len(h.roles) > 1:
            fail(f"a {VANTAGE_ROLE} host is not under test; it takes no other role", ("hosts", i, "roles"))
        if h.platform == "linux" and (h.offline is not None) != (h.connection == "recorded"):
            fail("a Linux host's offline recording goes with connection: recorded, and connection: recorded "
                 "needs offline: <folder>", ("hosts", i, "offline" if h.offline is not None else "connection"))
        if h.platform == "windows" and h.connection == "recorded":
            fail("a Windows host's recording is offline: <file>; connection stays ssh", ("hosts", i, "connection"))
        if h.platform == "windows" and h.connection == "local" and h.offline is None:
            fail("a Windows host is reached over ssh, or read from an offline recording", ("hosts", i, "connection"))
        if h.jump is not None and (h.jump not in host_ids or h.jump == h.id):
            fail(f"jump host {h.jump!r} is not another host of this inventory", ("hosts", i, "jump"))
    for i, n in enumerate(inv.network_devices):
        if n.jump is not None and n.jump not in host_ids:
            fail(f"jump host {n.jump!r} is not a host of this inventory", ("network_devices", i, "jump"))
    for i, d in enumerate(inv.databases):
        if d.host not in host_ids:
            fail(f"unknown host {d.host!r}", ("databases", i, "host"))
    for i, u in enumerate(inv.uplinks):
        if u.host not in host_ids:
            fail(f"unknown host {u.host!r}", ("uplinks", i, "host"))
    for i, a in enumerate(inv.av_systems):
        if a.host is not None and a.host not in host_ids:
            fail(f"unknown host {a.host!r}", ("av_systems", i, "host"))
    for i, b in enumerate(inv.power.bmcs):
        if b.server not in host_ids:
            fail(f"unknown host {b.server!r}", ("power", "bmcs", i, "server"))
    if inv.platform is not None:
        for i, hid in enumerate(inv.platform.hosts):
            if hid not in host_ids:
                fail(f"unknown host {hid!r}", ("platform", "hosts", i))
    if inv.vantage.outside != "local" and inv.vantage.outside not in host_ids:
        fail(f"unknown host {inv.vantage.outside!r}", ("vantage", "outside"))


def _check_files(inv: Inventory, doc: SourceDoc) -> Inventory:
    """Resolve referenced files relative to the inventory and require that they exist."""
    base = doc.path.parent

    def fix(p: Path | None, key: tuple[str | int, ...]) -> Path | None:
        if p is None:
            return None
        full = p.expanduser()
        full = full if full.is_absolute() else base / full
        if not full.exists():
            raise ConfigError(f"referenced file not found: {full}", doc.location(key),
                              field=".".join(str(k) for k in key))
        return full

    updates: dict[str, object] = {}
    hosts = []
    for i, h in enumerate(inv.hosts):
        if h.auth and h.auth.key_file:
            h = h.model_copy(update={"auth": h.auth.model_copy(
                update={"key_file": fix(h.auth.key_file, ("hosts", i, "auth", "key_file"))})})
        if h.offline is not None:
            h = h.model_copy(update={"offline": fix(h.offline, ("hosts", i, "offline"))})
        if h.sudo.password_file:
            h = h.model_copy(update={"sudo": h.sudo.model_copy(
                update={"password_file": fix(h.sudo.password_file, ("hosts", i, "sudo", "password_file"))})})
        hosts.append(h)
    updates["hosts"] = tuple(hosts)
    d = inv.defaults
    if d.known_hosts:
        d = d.model_copy(update={"known_hosts": fix(d.known_hosts, ("defaults", "known_hosts"))})
    if d.env_file:
        d = d.model_copy(update={"env_file": fix(d.env_file, ("defaults", "env_file"))})
    if d.auth and d.auth.key_file:
        d = d.model_copy(update={"auth": d.auth.model_copy(
            update={"key_file": fix(d.auth.key_file, ("defaults", "auth", "key_file"))})})
    updates["defaults"] = d
    devices = []
    for i, n in enumerate(inv.network_devices):
        if n.config_file:
            n = n.model_copy(update={"config_file": fix(n.config_file, ("network_devices", i, "config_file"))})
        if n.auth and n.auth.key_file:
            n = n.model_copy(update={"auth": n.auth.model_copy(
                update={"key_file": fix(n.auth.key_file, ("network_devices", i, "auth", "key_file"))})})
        devices.append(n)
    updates["network_devices"] = tuple(devices)
    updates["tls_endpoints"] = tuple(
        t.model_copy(update={"ca_file": fix(t.ca_file, ("tls_endpoints", i, "ca_file"))})
        for i, t in enumerate(inv.tls_endpoints)
    )
    if inv.platform is not None:
        updates["platform"] = inv.platform.model_copy(
            update={"ca_file": fix(inv.platform.ca_file, ("platform", "ca_file"))})
    updates["evidence"] = Evidence(
        attestations=fix(inv.evidence.attestations, ("evidence", "attestations")),
        waivers=fix(inv.evidence.waivers, ("evidence", "waivers")),
        keyring=fix(inv.evidence.keyring, ("evidence", "keyring")),
    )
    return inv.model_copy(update=updates)


#: Inventory documents parsed in this process, by (file, SHA-256 of the text read now). The CLI
#: validates the inventory before a run and the pytest plugin reads it again to plan: the
#: hardened pure-Python YAML loader is the costly part (about 30 ms for 50 hosts), so the same
#: text is parsed once. Validation and the checks of referenced files run on every load, and a
#: changed text is parsed again; nothing here changes a document's data after it is parsed.
_PARSED: dict[tuple[Path, str], SourceDoc] = {}


def load_inventory(path: Path) -> Inventory:
    """Load, validate and cross-check an inventory file. Raises ConfigError on any fault."""
    text = read_text(path)
    key = (path.resolve(), hashlib.sha256(text.encode()).hexdigest())
    doc = _PARSED.get(key)
    if doc is None:
        doc = _PARSED[key] = load_yaml(path, text)
    if not isinstance(doc.data, dict):
        raise ConfigError("an inventory is a mapping (institution, system, hosts, ...)",
                          Location(path, 1, 1))
    inv = validate(doc, Inventory)
    _check_refs(inv, doc)
    return _check_files(inv, doc)


def local_inventory() -> Inventory:
    """The embedded default: this machine alone, reached through the local transport."""
    import socket

    name = socket.gethostname() or "localhost"
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in name)[:60] or "localhost"
    return Inventory(
        institution=Institution(name="（未配置清单 / no inventory）"),
        system=SystemUnderTest(name=f"本机 {name} / this machine"),
        hosts=(Host(id=safe, address="127.0.0.1", connection="local", roles=()),),
    )
