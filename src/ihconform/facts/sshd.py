"""sshd as each connection sees it: ``sshd -T -C`` per connection context, and the Match blocks.

Plain ``sshd -T`` prints the configuration with every ``Match`` block skipped, so a
``Match User root`` that sets ``PermitRootLogin yes`` is invisible to it. ``sshd -T -C
user=…,host=…,addr=…`` evaluates the Match blocks for that connection without any
connection being made (``addr`` is only compared, never contacted), so the batch asks
sshd itself for the contexts that matter:

- fixed contexts, planned from the inventory: root and the probe account, each from every
  management address the inventory declares (bastion hosts, the host's jump host) and
  from one address outside them (:data:`OUTSIDE_ADDR`); one section each;
- named contexts, found on the target: every user and group named in ``Match User/Group``,
  ``AllowUsers`` and ``AllowGroups`` (a group through one member user, or a note that it has
  none), from the same addresses; one section whose output carries one exit code per context.

Parsing lives here; judging stays in the probes.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass, field

from ihconform.errors import FactUnavailable
from ihconform.facts.collect import HostFacts, Section
from ihconform.inventory import Host, Inventory

#: Family name probes list in ``facts=``: every ``sshd_ctx.*`` section of the host.
SSHD_CTX_FACTS = "sshd_ctx"
NAMED_SECTION = f"{SSHD_CTX_FACTS}.named"
#: The "somewhere else" address: RFC 5737 documentation space, assigned to no one. ``sshd -T
#: -C`` only compares it with Match patterns; nothing is ever sent to it.
OUTSIDE_ADDR = "198.51.100.254"
_NAME = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$")


def _ctx_arg(user: str, addr: str) -> str:
    return f"user={user},host={addr},addr={addr}"


#: The configuration files sshd reads (the drop-in folder is Debian/Ubuntu/RHEL 9's Include).
CONFIG_FILES = ("/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/*.conf")


#: RHEL 8 (and CentOS Stream 8, Rocky/Alma 8) start the daemon as ``sshd -D $OPTIONS $CRYPTO_POLICY``,
#: the systemd unit reading ``CRYPTO_POLICY='-oCiphers=… -oMACs=…'`` from the crypto-policies back-end
#: file, then /etc/sysconfig/sshd (which may empty it to opt out). A plain ``sshd -T`` there shows
#: OpenSSH's compiled-in algorithms, not the policy's (DEFAULT offers aes256-cbc/aes128-cbc): the
#: batch passes the same options, read with ``sed`` (never sourced). RHEL 9 includes the back-end
#: file from sshd_config instead (no ``CRYPTO_POLICY=`` line): ``$p`` stays empty.
CRYPTO_POLICY_FILES = ("/etc/crypto-policies/back-ends/opensshserver.config", "/etc/sysconfig/sshd")
_CRYPTO_POLICY = ("set -f; p=$(sed -n \"s/^[[:space:]]*CRYPTO_POLICY=[\\\"']\\{0,1\\}\\([^\\\"']*\\).*/\\1/p\" "
                  + " ".join(CRYPTO_POLICY_FILES) + " 2>/dev/null | tail -n 1); ")


def _sshd(config: str | None) -> str:
    """``sshd -T`` with the options the service starts sshd with (``$CRYPTO_POLICY``, RHEL 8);
    the PATH of the batch has /usr/sbin; ``-f`` only for a test configuration."""
    return _CRYPTO_POLICY + "sshd -T" + (f" -f {shlex.quote(config)}" if config else "") + " $p"


def sshd_effective_command() -> str:
    """The ``sshd`` section's command: the daemon's global settings as the service runs it."""
    return _sshd(None)


def _sshd_t(arg: str, config: str | None) -> str:
    """``sshd -T -C <arg>`` with the argument shell-quoted."""
    return f"{_sshd(config)} -C {shlex.quote(arg)}"


def management_addresses(inventory: Inventory, host: Host) -> list[str]:
    """Where administrators come from, as the inventory declares it: every bastion host and the
    host's jump host (never the host itself)."""
    out: list[str] = []
    jump = next((h for h in inventory.hosts if h.id == host.jump), None) if host.jump else None
    for h in [*inventory.hosts, *([jump] if jump else [])]:
        if h.id != host.id and ("bastion" in h.roles or (jump is not None and h.id == jump.id)) \
                and _is_ip(h.address) and h.address not in out:
            out.append(h.address)
    return out


def _is_ip(addr: str) -> bool:
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        return False
    return True


def context_addresses(inventory: Inventory, host: Host) -> list[str]:
    """Management addresses, then the outside address."""
    return [*management_addresses(inventory, host), OUTSIDE_ADDR]


def _named_command(addrs: list[str], skip_users: list[str], config: str | None) -> str:
    """The on-target loop over users and groups named in the sshd configuration."""
    files = shlex.quote(config) if config else " ".join(CONFIG_FILES)
    find = (
        f"cat {files} 2>/dev/null | awk '"
        "{ sub(/#.*/, \"\"); if (NF < 2) next; k = tolower($1); "
        "if (k == \"allowusers\") { for (i = 2; i <= NF; i++) { u = $i; sub(/@.*/, \"\", u); print \"user \" u } } "
        "else if (k == \"allowgroups\") { for (i = 2; i <= NF; i++) print \"group \" $i } "
        "else if (k == \"match\") { for (i = 2; i < NF; i++) { c = tolower($i); "
        "if (c == \"user\" || c == \"group\") { n = split($(i + 1), v, \",\"); "
        "for (j = 1; j <= n; j++) print c \" \" v[j] } } } }' | sort -u"
    )
    addr_words = " ".join(shlex.quote(a) for a in addrs)
    skip = " ".join(shlex.quote(u) for u in skip_users)
    return (
        f"{find} | while read -r kind n; do "
        "case \"$n\" in *[!A-Za-z0-9._-]*|'') echo \"## pattern $kind $n\"; continue;; esac; "
        "u=$n; if [ \"$kind\" = group ]; then "
        "u=$(getent group \"$n\" | cut -d: -f4 | cut -d, -f1); "
        "if [ -z \"$u\" ]; then g=$(getent group \"$n\" | cut -d: -f3); "
        "[ -n \"$g\" ] && u=$(getent passwd | awk -F: -v g=\"$g\" '$4 == g { print $1; exit }'); fi; "
        "if [ -z \"$u\" ]; then echo \"## nomember $n\"; continue; fi; "
        f"else for s in {skip}; do [ \"$s\" = \"$u\" ] && continue 2; done; fi; "
        f"for a in {addr_words}; do echo \"## ctx $kind $n $u $a\"; "
        f"{_sshd(config)} -C \"user=$u,host=$a,addr=$a\" 2>&1; echo \"## rc $?\"; done; done; true"
    )


def context_sections(inventory: Inventory, host: Host, config: str | None = None) -> list[Section]:
    """The ``sshd_ctx.*`` sections of one host's batch (root part: ``sshd -T`` needs root).
    ``config``: a configuration file instead of the system's (tests run the real sshd on one)."""
    addrs = context_addresses(inventory, host)
    users = ["root"] + ([host.user] if host.user and host.user != "root" and _NAME.match(host.user) else [])
    out = [Section(f"{SSHD_CTX_FACTS}.{u}@{a}", _sshd_t(_ctx_arg(u, a), config), root=True)
           for u in users for a in addrs]
    out.append(Section(NAMED_SECTION, _named_command(addrs, users, config), root=True, timeout=20))
    return out


def sshd_int(value: str, default: int) -> int:
    """A numeric sshd setting's leading integer (``sshd -T`` may add words), else ``default``."""
    v = value.strip().split()[0] if value.strip() else ""
    return int(v) if v.isdigit() else default


def parse_sshd_t(lines: list[str]) -> dict[str, str]:
    """``sshd -T`` output -> settings, keys lower-case; repeated keys joined by ','."""
    out: dict[str, str] = {}
    for line in lines:
        k, _, v = line.strip().partition(" ")
        k = k.lower()
        if not k:
            continue
        out[k] = f"{out[k]},{v}" if k in out and k in ("listenaddress", "allowusers", "hostkey") else v
    return out


@dataclass(frozen=True)
class SshdContext:
    """One connection context and the settings sshd applies to it."""

    user: str
    addr: str
    origin: str  # why it was evaluated: "root", "probe account", "Match User x", "AllowGroups g (member u)"
    settings: dict[str, str] = field(hash=False, compare=False)

    @property
    def label(self) -> str:
        return f"user={self.user},addr={self.addr}"


@dataclass(frozen=True)
class SshdContexts:
    """Every context evaluated, and what could not be (a group with no member, a pattern)."""

    contexts: tuple[SshdContext, ...]
    notes: tuple[str, ...]

    @property
    def by_label(self) -> dict[str, dict[str, str]]:
        """{``user=…,addr=…`` -> settings}."""
        return {c.label: c.settings for c in self.contexts}


def parse_contexts(facts: HostFacts) -> SshdContexts:
    """Every ``sshd_ctx.*`` section of ``facts``. A context that could not be evaluated raises
    FactUnavailable (an unread context is never judged as conforming)."""
    names = [n for n in facts.specs if n.startswith(SSHD_CTX_FACTS + ".")]
    if not names:
        raise FactUnavailable(f"host {facts.host_id}: sshd was not evaluated per connection context "
                              "(no sshd -T -C section gathered)")
    contexts: list[SshdContext] = []
    notes: list[str] = []
    for name in names:
        if name == NAMED_SECTION:
            c, n = _parse_named(facts, facts.text(name))
            contexts += c
            notes += n
            continue
        user, _, addr = name[len(SSHD_CTX_FACTS) + 1:].rpartition("@")
        settings = parse_sshd_t(facts.lines(name))
        # the fixed sections carry root and the inventory's probe account only
        contexts.append(SshdContext(user, addr, "root" if user == "root" else "probe account", settings))
    return SshdContexts(tuple(contexts), tuple(notes))


def _parse_named(facts: HostFacts, text: str) -> tuple[list[SshdContext], list[str]]:
    contexts: list[SshdContext] = []
    notes: list[str] = []
    head: list[str] | None = None
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith("## ctx "):
            head, body = line.split()[2:], []
        elif line.startswith("## rc ") and head is not None:
            kind, name, user, addr = [*head, "", "", "", ""][:4]
            rc = line.split()[2]
            if rc != "0":
                tail = (body or [""])[-1][:200]
                raise FactUnavailable(f"host {facts.host_id}: `sshd -T -C user={user},host={addr},addr={addr}` "
                                      f"exited {rc}: {tail}")
            origin = f"Match/AllowUsers user {name}" if kind == "user" else f"group {name} (member {user})"
            contexts.append(SshdContext(user, addr, origin, parse_sshd_t(body)))
            head = None
        elif line.startswith("## nomember "):
            notes.append(f"group {line.split()[2]} named in sshd_config has no member user: not evaluated")
        elif line.startswith("## pattern "):
            notes.append(f"{' '.join(line.split()[2:])} is a pattern, not a name: not evaluated by itself")
        elif head is not None and line.strip():
            body.append(line)
    if head is not None:
        raise FactUnavailable(f"host {facts.host_id}: sshd -T -C for {' '.join(head)} printed no exit code "
                              "(cut off)")
    return contexts, notes


@dataclass(frozen=True)
class MatchBlock:
    """A ``Match`` block as written: where it is, what it matches, what it sets."""

    file: str
    line: int | None
    criteria: str
    settings: dict[str, str] = field(hash=False, compare=False)

    @property
    def name(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f'{where} "Match {self.criteria}"'

    def criterion(self, key: str) -> list[str]:
        """The patterns of one criterion (``address`` -> ["10.0.0.0/8", "!10.0.0.5"])."""
        words = self.criteria.split()
        out: list[str] = []
        for i, w in enumerate(words[:-1]):
            if w.lower() == key:
                out += [p for p in words[i + 1].split(",") if p]
        return out


def config_lines(lines: list[str]) -> list[tuple[str, int | None, str]]:
    """``grep -nH`` (or ``grep -H``) output -> (file, line number or None, text)."""
    out: list[tuple[str, int | None, str]] = []
    for raw in lines:
        path, sep, rest = raw.partition(":")
        if not sep or not path.startswith("/"):
            continue
        num, sep2, text = rest.partition(":")
        if sep2 and num.isdigit():
            out.append((path, int(num), text.strip()))
        elif rest.strip():
            out.append((path, None, rest.strip()))
    return out


def match_blocks(lines: list[tuple[str, int | None, str]]) -> list[MatchBlock]:
    """The Match blocks of the configuration files, in order. A block runs to the next Match or
    the end of its file; ``Match all`` ends the conditional part."""
    blocks: list[MatchBlock] = []
    current: tuple[str, int | None, str] | None = None
    settings: dict[str, str] = {}
    current_file = ""

    def close() -> None:
        if current is not None and current[2].lower() != "all":
            blocks.append(MatchBlock(current[0], current[1], current[2], dict(settings)))

    for path, num, text in lines:
        if path != current_file:
            close()
            current, settings, current_file = None, {}, path
        key, _, value = text.partition(" ")
        if key.lower() == "match":
            close()
            current, settings = (path, num, value.strip()), {}
        elif current is not None and key:
            settings.setdefault(key.lower(), value.strip())  # sshd: the first value obtained wins
    close()
    return blocks
