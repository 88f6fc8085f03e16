"""Device configurations read into facts: one small line parser per configuration dialect.

Why our own parsers: the controls read a few dozen well-known statements (``undo telnet server
enable``, ``snmp-agent community``, ``user-interface vty``, ``info-center loghost``, ACL rules,
nftables chain policies), and every verdict must quote the lines it rests on. A block-and-line
reader keeps each statement with its line; hier-config (MIT) is built for remediation diffs and
ciscoconfparse2 is GPL-3.0-only (docs/decisions.md). Four dialects cover the platforms:

- ``vrp``: Huawei VRP, Huawei USG, H3C Comware (``#``-separated blocks, ``undo`` negation,
  ``return`` ends the configuration);
- ``ios``: Cisco IOS, Ruijie RGOS, FRR vtysh (``!``-separated blocks, ``no`` negation, ``end``);
- ``nft``: ``nft list ruleset``;
- ``stoneos``: Hillstone StoneOS (``rule id`` … ``exit`` blocks).

A statement the configuration does not hold is ``None``/empty here; what an absent statement
means (the platform's documented default) is said where it is applied, with its source.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

#: platform -> configuration dialect
DIALECT: dict[str, str] = {
    "huawei_vrp": "vrp", "huawei_usg": "vrp", "hp_comware": "vrp",
    "cisco_ios": "ios", "ruijie_os": "ios", "frr": "ios",
    "linux_nftables": "nft", "hillstone_stoneos": "stoneos",
}

#: the line a complete configuration listing ends with, per dialect (None: no terminator)
TERMINATOR: dict[str, str | None] = {"vrp": "return", "ios": "end", "nft": None, "stoneos": "end"}

ANY = "any"
HOST_WILDCARD = "0.0.0.0"  # noqa: S104 - an ACL wildcard (one host), not a bind address


@dataclass(frozen=True)
class Block:
    """A top-level statement and the indented statements under it."""

    head: str
    children: tuple[str, ...] = ()
    line_no: int = 0


@dataclass(frozen=True)
class Vty:
    """One management line (``user-interface vty 0 4``, ``line vty 0 4``)."""

    name: str
    idle_s: int | None  # None: no time-out statement (the platform default applies)
    idle_disabled: bool  # ``idle-timeout 0 0`` / ``exec-timeout 0 0``: never times out
    acl: str  # inbound ACL restricting the management source ("" none)
    auth: str  # authentication-mode aaa/scheme/password, login local/authentication …
    protocols: tuple[str, ...]  # transport input / protocol inbound (() not stated)
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """One filtering rule, normalised: ``any`` where the rule does not restrict the field."""

    table: str  # ACL number/name, nft chain, security-policy
    action: str  # permit / deny
    proto: str
    src: str
    dst: str
    dport: str
    line: str
    src_zone: str = ANY
    dst_zone: str = ANY
    profiles: tuple[str, ...] = ()  # ips / av profiles bound to a security-policy rule

    @property
    def any_any(self) -> bool:
        """A permit that restricts neither source, destination, protocol nor port."""
        return self.action == "permit" and all(v == ANY for v in (self.proto, self.src, self.dst, self.dport,
                                                                 self.src_zone, self.dst_zone))

    def covers(self, other: Rule) -> bool:
        """Every packet ``other`` matches, this rule matches too (so ``other``, after it, is dead)."""
        def field_covers(a: str, b: str) -> bool:
            if a in (ANY, b):
                return True
            if b == ANY:
                return False
            try:
                inner, outer = ipaddress.ip_network(b, strict=False), ipaddress.ip_network(a, strict=False)
            except ValueError:
                return False
            return inner.version == outer.version and inner.subnet_of(outer)  # type: ignore[arg-type]
        return self.table == other.table and all(field_covers(a, b) for a, b in (
            (self.proto, other.proto), (self.src, other.src), (self.dst, other.dst), (self.dport, other.dport),
            (self.src_zone, other.src_zone), (self.dst_zone, other.dst_zone)))


@dataclass(frozen=True)
class Chain:
    """A filtering table with its default: an nft base chain, an applied ACL, a security policy."""

    name: str
    hook: str  # input / forward / output, or "" where the device has no hooks (ACLs, policies)
    default: str  # permit / deny: what a packet no rule matches meets
    default_line: str  # the line the default rests on ("" when it is the platform's documented default)
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class DeviceConfig:
    """The facts one configuration states, each with the lines it was read from."""

    platform: str
    dialect: str
    hostname: str = ""
    telnet: bool | None = None  # None: not stated (the platform default)
    ssh: bool | None = None
    http: bool | None = None  # plain HTTP management
    https: bool | None = None
    snmp_communities: tuple[str, ...] = ()  # the community names configured (v1/v2c)
    snmp_v3: bool = False
    snmp_targets: tuple[str, ...] = ()  # trap / notification receivers
    vtys: tuple[Vty, ...] = ()
    consoles: tuple[Vty, ...] = ()  # console lines: idle time-out only (no ACL, no protocol)
    aaa: bool = False  # AAA / local authentication of administrators configured
    local_users: tuple[str, ...] = ()
    password_enforced: bool = False
    password_min_length: int | None = None
    password_min_classes: int | None = None
    password_history: int | None = None
    password_max_age_days: int | None = None
    lockout_threshold: int | None = None
    lockout_unlock_s: int | None = None
    lockout_mechanism: str = ""
    log_hosts: tuple[str, ...] = ()
    ntp_servers: tuple[str, ...] = ()
    banner: bool = False
    chains: tuple[Chain, ...] = ()
    stateful: bool | None = None  # None: the platform is stateful by construction or does not say
    vrrp: tuple[str, ...] = ()
    vlans: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    subnets: tuple[str, ...] = ()  # the networks of routed interfaces (a router's zones)
    ips: bool = False
    av: bool = False
    audit: bool | None = None  # logging / info-center on (None: platform default)
    evidence: dict[str, tuple[str, ...]] = field(default_factory=dict)  # control key -> quoted lines


def blocks(text: str, dialect: str) -> list[Block]:
    """Top-level statements with their indented children; separators (``#``/``!``) dropped."""
    out: list[Block] = []
    head: str | None = None
    kids: list[str] = []
    start = head_indent = 0

    def skip(stripped: str) -> bool:
        return not stripped or stripped in ("#", "!") or (dialect == "ios" and stripped.startswith("!"))

    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        stripped = line.strip()
        if dialect == "vrp" and stripped == "#" and head is not None:
            # a "#" closes the block: H3C Comware indents its one-line global statements by a
            # space after it (" sysname X"), so indentation alone does not make a child there
            out.append(Block(head, tuple(kids), start))
            head, kids = None, []
            continue
        if skip(stripped):
            continue
        indent = len(line) - len(line.lstrip())
        if head is not None and indent > head_indent:
            kids.append(stripped)
            continue
        if head is not None:
            out.append(Block(head, tuple(kids), start))
        head, kids, start, head_indent = stripped, [], n, indent
    if head is not None:
        out.append(Block(head, tuple(kids), start))
    return out



def _num(s: str) -> int | None:
    return int(s) if s.isdigit() else None


def _wild(addr: str, wildcard: str) -> str:
    """``10.0.0.0 0.0.0.255`` (wildcard) -> ``10.0.0.0/24``; ``0`` wildcard -> host."""
    try:
        w = int(ipaddress.IPv4Address(wildcard))
        bits = 32 - (w + 1).bit_length() + 1 if w else 32
        return str(ipaddress.ip_network(f"{addr}/{bits}", strict=False))
    except ValueError:
        return addr


def _mask(addr: str, mask: str) -> str:
    try:
        return str(ipaddress.ip_network(f"{addr}/{mask}", strict=False))
    except ValueError:
        return addr


# ---- vrp: Huawei VRP / USG, H3C Comware ----------------------------------------------------

_VRP_RULE = re.compile(r"^rule(?:\s+\d+)?\s+(permit|deny)\b(.*)$")


def _vrp_rule(table: str, line: str) -> Rule | None:
    m = _VRP_RULE.match(line)
    if not m:
        return None
    action, rest = m.group(1), m.group(2).split()
    proto = rest[0] if rest and rest[0] in ("ip", "tcp", "udp", "icmp", "gre", "ospf") else ANY
    src = dst = dport = ANY

    def addr(i: int) -> str:
        if i + 1 < len(rest) and rest[i + 1] == "any":
            return ANY
        if i + 2 < len(rest) and re.match(r"^[\d.]+$", rest[i + 2]):
            return _wild(rest[i + 1], rest[i + 2])
        if i + 1 < len(rest):
            return rest[i + 1] if "/" in rest[i + 1] else _wild(rest[i + 1], HOST_WILDCARD)
        return ANY

    for i, tok in enumerate(rest):
        if tok == "source":
            src = addr(i)
        elif tok == "destination":
            dst = addr(i)
        elif tok == "destination-port" and i + 2 < len(rest):
            dport = rest[i + 2] if rest[i + 1] == "eq" else " ".join(rest[i + 1:i + 4])
    return Rule(table, action, ANY if proto == "ip" else proto, src, dst, dport, line)


def _parse_vrp(platform: str, text: str) -> DeviceConfig:
    bs = blocks(text, "vrp")
    ev: dict[str, list[str]] = {}

    def note(key: str, line: str) -> None:
        ev.setdefault(key, []).append(line)

    cfg: dict[str, object] = {}
    communities: list[str] = []
    targets: list[str] = []
    vtys: list[Vty] = []
    consoles: list[Vty] = []
    users: list[str] = []
    loghosts: list[str] = []
    ntp: list[str] = []
    acls: dict[str, list[Rule]] = {}
    applied: list[tuple[str, str]] = []  # (acl, line) applied to an interface as a packet filter
    vrrp: list[str] = []
    vlans: list[str] = []
    zones: list[str] = []
    policy_rules: list[Rule] = []
    policy_default: tuple[str, str] = ("", "")
    packet_filter_default = ("", "")
    for b in bs:
        h = b.head
        words = h.split()
        if h in ("undo telnet server enable", "undo telnet server-source all-interface") \
                or h.startswith("undo telnet server enable"):
            cfg["telnet"] = False
            note("telnet", h)
        elif h.startswith("telnet server enable") or h == "telnet server-source all-interface":
            cfg["telnet"] = True
            note("telnet", h)
        elif h.startswith(("stelnet server enable", "ssh server enable")):
            cfg["ssh"] = True
            note("ssh", h)
        elif h in ("undo http server enable", "undo ip http enable"):
            cfg["http"] = False
            note("http", h)
        elif h in ("http server enable", "ip http enable"):
            cfg["http"] = True
            note("http", h)
        elif h in ("http secure-server enable", "ip https enable"):
            cfg["https"] = True
            note("http", h)
        elif h.startswith("snmp-agent community"):
            # snmp-agent community read|write [cipher] NAME ...
            rest = [w for w in words[2:] if w not in ("read", "write", "cipher", "simple")]
            communities.append(rest[0] if rest else "")
            note("snmp", h)
        elif h.startswith("snmp-agent sys-info version"):
            cfg["snmp_v3"] = "v3" in words and not any(v in words for v in ("v1", "v2c", "all"))
            if "v1" in words or "v2c" in words or "all" in words:
                cfg["snmp_v12"] = True
            note("snmp", h)
        elif h.startswith("snmp-agent usm-user v3"):
            cfg["snmp_v3"] = cfg.get("snmp_v3", True)
            note("snmp", h)
        elif h.startswith("snmp-agent target-host"):
            m = re.search(r"address (?:udp-domain )?(\S+)", h)
            if m:
                targets.append(m.group(1))
            note("monitor", h)
        elif words[:2] in (["user-interface", "con"], ["line", "con"], ["user-interface", "console"]):
            consoles.append(_vrp_vty(b))
            note("vty", h)
        elif words[:2] in (["user-interface", "vty"], ["line", "vty"]):
            vtys.append(_vrp_vty(b))
            note("vty", h)
            for c in b.children:
                note("vty", " " + c)
        elif h == "aaa":
            for c in b.children:
                if c.startswith("local-user "):
                    users.append(c.split()[1])
                    if "retry-time" in c or "wrong-password" in c:
                        _vrp_lockout(cfg, c)
                        note("lockout", c)
                    elif "password" in c or "service-type" in c:
                        note("aaa", c)
                elif c.startswith(("local-aaa-user password policy", "password history", "password expire",
                                   "password min-length", "password complexity")):
                    _vrp_pw(cfg, c)
                    note("password", c)
                elif c.startswith(("authentication-scheme", "authorization-scheme", "accounting-scheme",
                                   "domain ")):
                    note("aaa", c)
            cfg["aaa"] = True
        elif words[:1] == ["local-user"]:  # Comware: local-user NAME class manage
            users.append(words[1] if len(words) > 1 else "")
            note("aaa", h)
            for c in b.children:
                if c.startswith("password-control"):
                    _vrp_pw(cfg, c)
                    note("password", c)
            cfg["aaa"] = True
        elif h.startswith("password-control"):
            _vrp_pw(cfg, h)
            note("password" if "login-attempt" not in h else "lockout", h)
        elif h.startswith("info-center loghost") and "source" not in words[2:3]:
            loghosts.append(words[2] if len(words) > 2 else "")
            note("log", h)
        elif h.startswith(("undo info-center enable", "info-center enable")):
            cfg["audit"] = not h.startswith("undo")
            note("audit", h)
        elif h.startswith(("ntp-service unicast-server", "ntp unicast-server", "ntp-service unicast-peer")):
            ntp.append(words[2] if len(words) > 2 else "")
            note("ntp", h)
        elif h.startswith(("header login", "header shell", "header motd")):
            cfg["banner"] = True
            note("banner", h)
        elif words[:2] in (["acl", "number"], ["acl", "basic"], ["acl", "advanced"], ["acl", "name"]) \
                or (words[:1] == ["acl"] and len(words) > 1 and words[1].isdigit()):
            name = words[2] if words[1] in ("number", "basic", "advanced", "name") else words[1]
            acls[name] = [r for c in b.children if (r := _vrp_rule(name, c))]
            note("acl", h)
            for c in b.children:
                note("acl", " " + c)
        elif words[:1] == ["interface"]:
            for c in b.children:
                m = re.match(r"^(?:traffic-filter|packet-filter)\s+(?:\S+\s+)?(?:inbound|outbound)\s+acl\s+"
                             r"(?:name\s+)?(\S+)|^packet-filter\s+(?:name\s+)?(\S+)\s+(?:inbound|outbound)", c)
                if m:
                    applied.append((m.group(1) or m.group(2), f"{h}: {c}"))
                    note("acl", f"{h}: {c}")
                if c.startswith("vrrp vrid"):
                    vrrp.append(f"{h}: {c}")
                    note("vrrp", f"{h}: {c}")
            if h.lower().startswith(("interface vlanif", "interface vlan-interface")):
                vlans.append(words[1])
        elif h.startswith("packet-filter default deny"):
            packet_filter_default = ("deny", h)
            note("acl", h)
        elif words[:1] == ["vlan"] and len(words) > 1:
            vlans.extend(words[2:] if words[1] == "batch" else words[1:2])
            note("vlan", h)
        elif h.startswith(("firewall zone", "security-zone name")):
            zones.append(words[-1])
            note("zone", h)
        elif h.startswith(("irf member", "stack slot", "css enable")):
            vrrp.append(h)
            note("vrrp", h)
        elif h == "security-policy":
            policy_rules, policy_default = _usg_policy(b)
            note("policy", h)
            for c in b.children:
                note("policy", " " + c)
        elif h.startswith("sysname"):
            cfg["hostname"] = words[1] if len(words) > 1 else ""
        elif h.startswith(("firewall session link-state check", "undo firewall session link-state check")):
            cfg["stateful"] = not h.startswith("undo")
            note("stateful", h)
    chains: list[Chain] = []
    if platform == "huawei_usg" or policy_rules or policy_default[0]:
        # USG documentation: the default security policy denies ("default action deny" unless changed)
        d, dl = policy_default if policy_default[0] else ("deny", "")
        chains.append(Chain("security-policy", "forward", d, dl, tuple(policy_rules)))
        cfg["ips"] = any("ips" in r.profiles for r in policy_rules if r.action == "permit")
        cfg["av"] = any("av" in r.profiles for r in policy_rules if r.action == "permit")
    for name, line in applied:
        rules = acls.get(name, [])
        # VRP traffic-filter and Comware packet-filter permit what no rule matches (vendor docs),
        # unless the ACL ends with a rule that denies everything, or Comware says
        # `packet-filter default deny`
        last = rules[-1] if rules else None
        if last is not None and last.action == "deny" and all(v == ANY for v in (last.src, last.dst, last.proto,
                                                                                 last.dport)):
            default, dline = "deny", last.line
        elif packet_filter_default[0]:
            default, dline = packet_filter_default
        else:
            default, dline = "permit", ""
        chains.append(Chain(f"acl {name} ({line})", "", default, dline, tuple(rules)))
    return DeviceConfig(
        platform=platform, dialect="vrp", hostname=str(cfg.get("hostname", "")),
        telnet=_b(cfg, "telnet"), ssh=_b(cfg, "ssh"), http=_b(cfg, "http"), https=_b(cfg, "https"),
        snmp_communities=tuple(communities), snmp_v3=bool(cfg.get("snmp_v3")) and not cfg.get("snmp_v12"),
        snmp_targets=tuple(targets), vtys=tuple(vtys), consoles=tuple(consoles), aaa=bool(cfg.get("aaa")),
        local_users=tuple(users),
        password_enforced=bool(cfg.get("pw_enforced")), password_min_length=_i(cfg, "pw_len"),
        password_min_classes=_i(cfg, "pw_classes"), password_history=_i(cfg, "pw_history"),
        password_max_age_days=_i(cfg, "pw_age"), lockout_threshold=_i(cfg, "lock_n"),
        lockout_unlock_s=_i(cfg, "lock_s"), lockout_mechanism=str(cfg.get("lock_mech", "")),
        log_hosts=tuple(loghosts), ntp_servers=tuple(ntp), banner=bool(cfg.get("banner")), chains=tuple(chains),
        stateful=_b(cfg, "stateful"), vrrp=tuple(vrrp), vlans=tuple(vlans), zones=tuple(zones),
        ips=bool(cfg.get("ips")), av=bool(cfg.get("av")), audit=_b(cfg, "audit"),
        evidence={k: tuple(v) for k, v in ev.items()})


def _b(cfg: dict[str, object], key: str) -> bool | None:
    v = cfg.get(key)
    return v if isinstance(v, bool) else None


def _i(cfg: dict[str, object], key: str) -> int | None:
    v = cfg.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _vrp_vty(b: Block) -> Vty:
    idle: int | None = None
    disabled = False
    acl = auth = ""
    protocols: tuple[str, ...] = ()
    for c in b.children:
        w = c.split()
        if w[0] == "idle-timeout" and len(w) >= 2:
            mins, secs = _num(w[1]) or 0, _num(w[2]) if len(w) > 2 else 0
            idle = mins * 60 + (secs or 0)
            disabled = idle == 0
        elif w[0] == "acl" and len(w) >= 3 and w[-1] == "inbound":
            acl = w[1] if w[1] != "ipv6" else w[2]
        elif w[0] == "authentication-mode" and len(w) > 1:
            auth = w[1]
        elif w[:2] == ["protocol", "inbound"] and len(w) > 2:
            protocols = ("ssh", "telnet") if w[2] == "all" else (w[2],)
    return Vty(b.head, idle, disabled, acl, auth, protocols, (b.head, *b.children))


def _vrp_pw(cfg: dict[str, object], line: str) -> None:
    w = line.split()
    nums = [int(x) for x in w if x.isdigit()]
    if line.startswith(("local-aaa-user password policy", "password-control enable", "password complexity")):
        cfg["pw_enforced"] = True
    if "password-control length" in line or "password min-length" in line:
        cfg["pw_len"] = nums[0] if nums else None
    elif "composition" in line and "type-number" in line:
        cfg["pw_classes"] = int(w[w.index("type-number") + 1])
        cfg["pw_enforced"] = True
    elif "history" in line and nums:
        cfg["pw_history"] = nums[-1]
    elif ("aging" in line or "password expire" in line) and nums:
        cfg["pw_age"] = nums[0]
    elif "login-attempt" in line and nums:
        cfg["lock_n"] = nums[0]
        cfg["lock_mech"] = "password-control login-attempt"
        if "lock-time" in w:
            cfg["lock_s"] = int(w[w.index("lock-time") + 1]) * 60
        elif "lock" in w:
            cfg["lock_s"] = 0  # locked until an administrator unlocks
        else:
            cfg["lock_n"] = None  # `exceed unlock`: nothing is locked
    if "complexity" in line and "enable" in line:
        cfg["pw_enforced"] = not line.startswith("undo")


def _vrp_lockout(cfg: dict[str, object], line: str) -> None:
    # local-user wrong-password retry-interval 5 retry-time 5 block-time 10 (VRP)
    w = line.split()
    if "retry-time" in w:
        cfg["lock_n"] = _num(w[w.index("retry-time") + 1])
        cfg["lock_mech"] = "local-user wrong-password"
    if "block-time" in w:
        b = _num(w[w.index("block-time") + 1])
        cfg["lock_s"] = b * 60 if b is not None else None


def _usg_policy(b: Block) -> tuple[list[Rule], tuple[str, str]]:
    """``security-policy`` of a Huawei USG: ``rule name X`` with its fields, then its action."""
    rules: list[Rule] = []
    default = ("", "")
    cur: dict[str, list[str]] | None = None
    name = ""

    def close() -> None:
        if cur is None:
            return
        fields = cur

        def one(key: str) -> str:
            vals = fields.get(key, [])
            if not vals or any(v in ("any",) for v in vals):
                return ANY
            return ",".join(_mask(*v.split()[:2]) if len(v.split()) == 2 else v for v in vals)
        action = (cur.get("action") or ["deny"])[0]
        rules.append(Rule("security-policy", "permit" if action == "permit" else "deny",
                          ANY if one("service") in (ANY,) else one("service"), one("source-address"),
                          one("destination-address"), ANY, f"rule name {name}: " + "; ".join(
                              f"{k} {' '.join(v)}" for k, v in cur.items()),
                          src_zone=one("source-zone"), dst_zone=one("destination-zone"),
                          profiles=tuple(p.split()[0] for p in cur.get("profile", []))))

    for c in b.children:
        w = c.split()
        if w[:2] == ["rule", "name"]:
            close()
            cur, name = {}, " ".join(w[2:])
        elif w[:2] == ["default", "action"]:
            close()
            cur = None
            default = ("permit" if w[2:3] == ["permit"] else "deny", c)
        elif cur is not None and w:
            cur.setdefault(w[0], []).append(" ".join(w[1:]))
    close()
    return rules, default


# ---- ios: Cisco IOS, Ruijie RGOS, FRR ------------------------------------------------------


def _ios_addr(tokens: list[str], i: int) -> tuple[str, int]:
    """One address operand of an IOS ACE starting at ``tokens[i]``: (normalised, next index)."""
    if i >= len(tokens):
        return ANY, i
    t = tokens[i]
    if t == "any":
        return ANY, i + 1
    if t == "host" and i + 1 < len(tokens):
        return f"{tokens[i + 1]}/32", i + 2
    if i + 1 < len(tokens) and re.match(r"^\d+\.\d+\.\d+\.\d+$", tokens[i + 1]):
        return _wild(t, tokens[i + 1]), i + 2
    return (t if "/" in t else f"{t}/32"), i + 1


def _ios_rule(table: str, line: str, extended: bool) -> Rule | None:
    w = line.split()
    if w and w[0].isdigit():  # sequence number
        w = w[1:]
    if w[:1] == ["seq"] and len(w) > 2:  # FRR: access-list NAME seq N permit|deny PREFIX
        w = w[2:]
    if not w or w[0] not in ("permit", "deny"):
        return None
    action = w[0]
    if not extended:
        src, _ = _ios_addr(w, 1)
        return Rule(table, action, ANY, src, ANY, ANY, line)
    proto = w[1] if len(w) > 1 else ANY
    src, i = _ios_addr(w, 2)
    if i < len(w) and w[i] in ("eq", "range", "gt", "lt"):
        i += 2 if w[i] != "range" else 3
    dst, i = _ios_addr(w, i)
    dport = ANY
    if i < len(w) and w[i] == "eq" and i + 1 < len(w):
        dport = w[i + 1]
    return Rule(table, action, ANY if proto == "ip" else proto, src, dst, dport, line)


def _parse_ios(platform: str, text: str) -> DeviceConfig:
    bs = blocks(text, "ios")
    ev: dict[str, list[str]] = {}

    def note(key: str, line: str) -> None:
        ev.setdefault(key, []).append(line)

    cfg: dict[str, object] = {}
    communities: list[str] = []
    targets: list[str] = []
    vtys: list[Vty] = []
    consoles: list[Vty] = []
    users: list[str] = []
    loghosts: list[str] = []
    ntp: list[str] = []
    acls: dict[str, list[Rule]] = {}
    applied: list[tuple[str, str]] = []
    vrrp: list[str] = []
    vlans: list[str] = []
    subnets: list[str] = []
    for b in bs:
        h = b.head
        w = h.split()
        if h.startswith(("banner ", "banner motd", "banner login")):
            cfg["banner"] = True
            note("banner", h)
        elif h == "no enable service telnet-server":
            cfg["telnet"] = False
            note("telnet", h)
        elif h == "enable service telnet-server":
            cfg["telnet"] = True
            note("telnet", h)
        elif h in ("enable service ssh-server", "ip ssh version 2"):
            cfg["ssh"] = True
            note("ssh", h)
        elif h in ("no ip http server", "no enable service web-server", "no enable service web-server http"):
            cfg["http"] = False
            note("http", h)
        elif h in ("ip http server", "enable service web-server", "enable service web-server http"):
            cfg["http"] = True
            note("http", h)
        elif h in ("ip http secure-server", "enable service web-server https"):
            cfg["https"] = True
            note("http", h)
        elif h.startswith("snmp-server community"):
            communities.append(w[2] if len(w) > 2 else "")
            note("snmp", h)
        elif h.startswith(("snmp-server group", "snmp-server user")) and " v3 " in f" {h} ":
            cfg["snmp_v3"] = True
            note("snmp", h)
        elif h.startswith("snmp-server host"):
            targets.append(w[2] if len(w) > 2 else "")
            note("monitor", h)
        elif w[:2] in (["line", "con"], ["line", "console"]):
            consoles.append(_ios_vty(b))
            note("vty", h)
        elif w[:2] == ["line", "vty"]:
            vtys.append(_ios_vty(b))
            note("vty", h)
            for c in b.children:
                note("vty", " " + c)
        elif h.startswith(("aaa new-model", "aaa authentication login")):
            cfg["aaa"] = True
            note("aaa", h)
        elif w[:1] == ["username"] and len(w) > 1:
            users.append(w[1])
            note("aaa", re.sub(r"(secret|password)\s+(\d+\s+)?\S+", r"\1 <hidden>", h))
        elif h.startswith("security passwords min-length"):
            cfg["pw_len"] = _num(w[-1])
            cfg["pw_enforced"] = True
            note("password", h)
        elif h.startswith("password policy"):  # Ruijie
            _rgos_pw(cfg, h)
            note("password", h)
        elif h.startswith("login block-for"):
            # login block-for SECONDS attempts N within SECONDS
            cfg["lock_s"] = _num(w[2]) if len(w) > 2 else None
            cfg["lock_n"] = _num(w[w.index("attempts") + 1]) if "attempts" in w else None
            cfg["lock_mech"] = "login block-for"
            note("lockout", h)
        elif h.startswith("aaa local authentication attempts max-fail"):
            cfg["lock_n"] = _num(w[-1])
            cfg["lock_s"] = 0
            cfg["lock_mech"] = "aaa local authentication attempts max-fail"
            note("lockout", h)
        elif h.startswith(("logging host", "logging server")) or (
                w[:1] == ["logging"] and len(w) == 2 and re.match(r"^\d+\.\d+\.\d+\.\d+$", w[1])):
            loghosts.append(w[-1] if len(w) == 2 else w[2])
            note("log", h)
        elif h in ("no logging on", "logging on"):
            cfg["audit"] = h == "logging on"
            note("audit", h)
        elif h.startswith("log syslog"):  # FRR: the local syslog, forwarded by the host
            note("audit", h)
            cfg["audit"] = True
        elif h.startswith(("ntp server", "ntp peer")):
            ntp.append(w[2] if len(w) > 2 else "")
            note("ntp", h)
        elif w[:1] == ["access-list"] and len(w) > 2:
            num = w[1]
            extended = num.isdigit() and (100 <= int(num) <= 199 or 2000 <= int(num) <= 2699)
            r = _ios_rule(num, " ".join(w[2:]), extended)
            if r is not None:
                acls.setdefault(num, []).append(r)
            note("acl", h)
        elif w[:2] == ["ip", "access-list"] and len(w) > 3:
            name, extended = w[3], w[2] == "extended"
            acls[name] = [r for c in b.children if (r := _ios_rule(name, c, extended))]
            note("acl", h)
            for c in b.children:
                note("acl", " " + c)
        elif w[:1] == ["interface"]:
            for c in b.children:
                m = re.match(r"^ip access-group\s+(\S+)\s+(in|out)", c)
                if m:
                    applied.append((m.group(1), f"{h}: {c}"))
                    note("acl", f"{h}: {c}")
                if c.startswith(("vrrp ", "standby ")):
                    vrrp.append(f"{h}: {c}")
                    note("vrrp", f"{h}: {c}")
            if w[1:2] and (w[1].lower().startswith("vlan") or re.match(r"^\S+\.\d+$", w[1])):
                vlans.append(w[1])  # a VLAN interface, or an 802.1Q sub-interface (Gi0/0.10, eth0.10)
            for c in b.children:
                m = re.match(r"^ip address (\d+\.\d+\.\d+\.\d+)(?:/(\d+)| (\d+\.\d+\.\d+\.\d+))", c)
                if m:
                    net = _mask(m.group(1), m.group(2) or m.group(3))
                    if net not in subnets:
                        subnets.append(net)
                        note("vlan", f"{h}: {c}")
        elif w[:1] == ["vlan"] and len(w) > 1:
            vlans.append(w[1])
            note("vlan", h)
        elif w[:1] in (["hostname"], ["frr"]) and w[0] == "hostname":
            cfg["hostname"] = w[1] if len(w) > 1 else ""
    chains = []
    for name, line in applied:
        # IOS/RGOS: an applied ACL ends with an implicit "deny any" (Cisco IOS ACL documentation)
        chains.append(Chain(f"access-list {name} ({line})", "", "deny", "", tuple(acls.get(name, []))))
    return DeviceConfig(
        platform=platform, dialect="ios", hostname=str(cfg.get("hostname", "")), telnet=_b(cfg, "telnet"),
        ssh=_b(cfg, "ssh"), http=_b(cfg, "http"), https=_b(cfg, "https"), snmp_communities=tuple(communities),
        snmp_v3=bool(cfg.get("snmp_v3")), snmp_targets=tuple(targets), vtys=tuple(vtys),
        consoles=tuple(consoles), aaa=bool(cfg.get("aaa")), local_users=tuple(users),
        password_enforced=bool(cfg.get("pw_enforced")),
        password_min_length=_i(cfg, "pw_len"), password_min_classes=_i(cfg, "pw_classes"),
        password_history=_i(cfg, "pw_history"), password_max_age_days=_i(cfg, "pw_age"),
        lockout_threshold=_i(cfg, "lock_n"), lockout_unlock_s=_i(cfg, "lock_s"),
        lockout_mechanism=str(cfg.get("lock_mech", "")), log_hosts=tuple(loghosts), ntp_servers=tuple(ntp),
        banner=bool(cfg.get("banner")), chains=tuple(chains), vrrp=tuple(vrrp), vlans=tuple(vlans),
        subnets=tuple(subnets), audit=_b(cfg, "audit"), evidence={k: tuple(v) for k, v in ev.items()})


def _ios_vty(b: Block) -> Vty:
    idle: int | None = None
    disabled = False
    acl = auth = ""
    protocols: tuple[str, ...] = ()
    for c in b.children:
        w = c.split()
        if w[0] == "exec-timeout" and len(w) >= 2:
            idle = (_num(w[1]) or 0) * 60 + ((_num(w[2]) or 0) if len(w) > 2 else 0)
            disabled = idle == 0
        elif w[0] == "no" and w[1:2] == ["exec-timeout"]:
            idle, disabled = 0, True
        elif w[0] == "access-class" and (len(w) == 2 or w[-1] == "in"):  # FRR: access-class NAME
            acl = w[1]
        elif w[:2] == ["transport", "input"]:
            protocols = ("ssh", "telnet") if w[2:3] == ["all"] else tuple(w[2:])
        elif w[0] == "login":
            auth = " ".join(w)
    return Vty(b.head, idle, disabled, acl, auth, protocols, (b.head, *b.children))


def _rgos_pw(cfg: dict[str, object], line: str) -> None:
    w = line.split()
    n = _num(w[-1]) if w else None
    if "min-size" in w:
        cfg["pw_len"] = n
    elif "strong" in w:
        cfg["pw_enforced"] = True
        cfg["pw_classes"] = 3  # RGOS `password policy strong`: letters, digits and symbols (vendor guide)
    elif "life-cycle" in w:
        cfg["pw_age"] = n
    elif "no-repeat-times" in w:
        cfg["pw_history"] = n


# ---- nft: nftables ---------------------------------------------------------------------


def _nft_value(w: list[str], i: int) -> str:
    """The operand at ``w[i]``: one token, or an anonymous set ``{ a, b }`` joined as ``a,b``."""
    if i >= len(w):
        return ANY
    if w[i] != "{":
        return w[i]
    j = w.index("}", i) if "}" in w[i:] else len(w)
    return "".join(w[i + 1:j]).rstrip(",")


def _nft_rule(chain: str, line: str) -> Rule | None:
    w = line.split()
    verdict = next((x for x in reversed(w) if x in ("accept", "drop", "reject")), None)
    if verdict is None or "jump" in w or "goto" in w:
        return None
    src = dst = dport = proto = src_zone = dst_zone = ANY
    for i, tok in enumerate(w[:-1]):
        if tok in ("iifname", "iif"):  # the interface a packet comes in on / goes out of: its zone
            src_zone = _nft_value(w, i + 1).strip('"')
        elif tok in ("oifname", "oif"):
            dst_zone = _nft_value(w, i + 1).strip('"')
        elif tok == "saddr":
            src = _nft_value(w, i + 1)
        elif tok == "daddr":
            dst = _nft_value(w, i + 1)
        elif tok == "dport":
            dport = _nft_value(w, i + 1)
            proto = w[i - 1] if i > 0 and w[i - 1] in ("tcp", "udp", "sctp") else proto
        elif tok in ("protocol", "l4proto", "nexthdr"):  # ip protocol X, meta l4proto X, ip6 nexthdr X
            proto = _nft_value(w, i + 1)
        elif tok == "type" and i > 0 and w[i - 1] in ("icmp", "icmpv6"):  # icmp type echo-request
            proto = w[i - 1]
    if "ct" in w and "state" in w and src == dst == dport == proto == ANY:
        proto = "ct-state " + w[w.index("state") + 1]
    if w[0] in ("iif", "iifname") and w[1] in ("lo", '"lo"'):
        src = "lo"
    return Rule(chain, "permit" if verdict == "accept" else "deny", proto, src, dst, dport, line,
                src_zone=src_zone, dst_zone=dst_zone)


def _parse_nft(platform: str, text: str) -> DeviceConfig:
    chains: list[Chain] = []
    ev: dict[str, list[str]] = {}
    table = chain = hook = ""
    policy, pline = "permit", ""
    rules: list[Rule] = []
    stateful_hooks: set[str] = set()
    audit = False
    depth = 0
    zones: list[str] = []  # the interfaces the rules separate traffic by (iifname/oifname)

    def close() -> None:
        if chain and hook:
            chains.append(Chain(f"{table} {chain}", hook, policy, pline, tuple(rules)))

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("table "):
            table, depth = " ".join(line.split()[1:3]), 1
        elif line.startswith("chain ") and depth >= 1:
            chain, hook, policy, pline, rules = line.split()[1], "", "permit", "", []
        elif line.startswith("type ") and "hook" in line:
            hook = line.split("hook")[1].split()[0]
            m = re.search(r"policy (\w+)", line)
            # nft(8): a base chain without a policy accepts
            policy, pline = ("deny", line) if m and m.group(1) == "drop" else ("permit", line)
            ev.setdefault("policy", []).append(f"{table} {chain}: {line}")
        elif line == "}":
            if chain:
                close()
                chain = hook = ""
        elif chain:
            if "ct state" in line and ("established" in line or "related" in line):
                stateful_hooks.add(hook)
                ev.setdefault("stateful", []).append(f"{table} {chain}: {line}")
            if re.search(r"\blog\b", line):
                audit = True
                ev.setdefault("audit", []).append(f"{table} {chain}: {line}")
            for m in re.finditer(r"\b[io]ifname\s+\"?([\w.-]+)", line):
                if m.group(1) != "lo" and m.group(1) not in zones:
                    zones.append(m.group(1))
                    ev.setdefault("zone", []).append(f"{table} {chain}: {line}")
            r = _nft_rule(f"{table} {chain}", line)
            if r is not None:
                rules.append(r)
    # the traffic a boundary firewall passes is forwarded: where forward chains permit anything, their
    # state tracking is what counts (a host's own input chain tracking its SSH sessions is not it)
    forwards = any(ch.hook == "forward" and any(r.action == "permit" for r in ch.rules) for ch in chains)
    stateful = ("forward" if forwards else "input") in stateful_hooks
    return DeviceConfig(platform=platform, dialect="nft", chains=tuple(chains), stateful=stateful, audit=audit,
                        zones=tuple(zones), evidence={k: tuple(v) for k, v in ev.items()})


# ---- stoneos: Hillstone ----------------------------------------------------------------


def _parse_stoneos(platform: str, text: str) -> DeviceConfig:
    """Hillstone ``rule id N`` … ``exit`` blocks; the other statements read as IOS-like lines."""
    base = _parse_ios(platform, text)
    rules: list[Rule] = []
    cur: dict[str, str] | None = None
    lines: list[str] = []
    zones: list[str] = []
    loghosts: list[str] = []
    logs: list[str] = []
    for raw in text.splitlines():
        s = raw.strip()
        w = s.split()
        if w[:2] == ["rule", "id"]:
            cur, lines = {}, [s]
        elif cur is not None and s == "exit":
            got = cur

            def val(key: str, got: dict[str, str] = got) -> str:
                v = got.get(key, ANY).strip('"')
                return ANY if v.lower() == ANY else v

            rules.append(Rule("policy", "permit" if cur.get("action") == "permit" else "deny", val("service"),
                              val("src-addr"), val("dst-addr"), ANY, "; ".join(lines),
                              src_zone=val("src-zone"), dst_zone=val("dst-zone")))
            cur = None
        elif cur is not None and w:
            cur[w[0]] = " ".join(w[1:])
            lines.append(s)
        elif w[:1] == ["zone"] and len(w) > 1:
            zones.append(w[1].strip('"'))
        elif w[:2] == ["logging", "syslog"] and len(w) > 2:  # logging syslog ADDR [vrouter …] [udp PORT] type …
            loghosts.append(w[2])
            logs.append(s)
    # StoneOS documentation: traffic no policy rule permits is denied
    chain = Chain("policy", "forward", "deny", "", tuple(rules))
    evidence = {**base.evidence, "log": tuple(logs)} if logs else base.evidence
    return DeviceConfig(**{**base.__dict__, "dialect": "stoneos", "chains": (chain,), "zones": tuple(zones),
                           "log_hosts": tuple(loghosts), "evidence": evidence})


def parse_config(platform: str, text: str) -> DeviceConfig:
    """The facts of one configuration listing of ``platform``."""
    dialect = DIALECT[platform]
    if dialect == "vrp":
        return _parse_vrp(platform, text)
    if dialect == "nft":
        return _parse_nft(platform, text)
    if dialect == "stoneos":
        return _parse_stoneos(platform, text)
    return _parse_ios(platform, text)


def complete(platform: str, text: str) -> bool:
    """Whether a listing reached the configuration's last line (``return`` / ``end``; an nft rule
    set is empty or ends with the closing brace of a table): a session dropped mid-output gives a
    listing without it, which is never judged."""
    tail = [ln.strip() for ln in text.splitlines() if ln.strip()]
    term = TERMINATOR[DIALECT[platform]]
    if term is None:  # nft list ruleset: nothing (no rule set at all) or whole tables
        return not tail or (tail[0].startswith("table ") and tail[-1] == "}")
    return bool(tail) and tail[-1] == term


#: a line with which a device, sudo or a shell refuses a command ("% Invalid input", "Error: …",
#: "sudo: a password is required", "nft: command not found")
_REFUSAL = re.compile(r"^\s*(%|Error:|Info: Unrecognized|sudo:|nft:|-?bash:|sh:|.*Permission denied|"
                      r".*Operation not permitted)", re.MULTILINE)


def refused(platform: str, text: str) -> bool:
    """Whether an incomplete listing is the device's refusal of the command (a failed section,
    with the device's message) rather than a listing cut short."""
    return not complete(platform, text) and _REFUSAL.search(text) is not None
