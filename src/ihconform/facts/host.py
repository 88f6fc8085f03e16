"""The sections of a host's fact batch, and typed views parsed from them.

Every command is read-only and POSIX ``sh``, with nothing installed on the target, so the
same batch works on Debian/Ubuntu, RHEL/CentOS/Rocky, openEuler, Kylin and UOS; where
tools differ the command tries each (``ss`` or ``netstat``). Secrets are reduced on the
target before they travel: ``/etc/shadow`` leaves the host as user, hash *scheme* and
ageing fields, never the hash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from ihconform.facts.collect import HostFacts, Section

ANY = tuple(range(256))  # exit codes that still count as "gathered" for best-effort reads

# Shadow: never ship a hash off the host. Scheme only: EMPTY, LOCKED:<c>, HASH:<id>, DES.
_SHADOW = (
    "awk -F: '{h=$2; "
    "if (h==\"\") t=\"EMPTY\"; "
    "else if (h ~ /^[!*]/) t=\"LOCKED:\" substr(h,2,1); "
    "else if (h ~ /^\\$/) { s=substr(h,2); t=\"HASH:\" substr(s,1,index(s,\"$\")-1) } "
    "else t=\"DES\"; "
    "print $1\":\"t\":\"$3\":\"$4\":\"$5\":\"$6\":\"$7\":\"$8}' /etc/shadow"
)

HOST_SECTIONS: list[Section] = [
    Section("os_release", "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release", ok_codes=(0,)),
    Section("uname", "uname -srm"),
    Section("hostname", "hostname 2>/dev/null || uname -n"),
    Section("machine_id", "cat /etc/machine-id 2>/dev/null || cat /var/lib/dbus/machine-id"),
    Section("dmi_uuid", "cat /sys/class/dmi/id/product_uuid 2>/dev/null", root=True, ok_codes=ANY),
    Section("ip_addr", "ip -o addr show 2>/dev/null || ifconfig -a", ok_codes=ANY),
    Section("ip_route", "ip route show table all 2>/dev/null; echo '## rules'; ip rule show 2>/dev/null",
            ok_codes=ANY),
    Section("listen", "ss -Htulpn 2>/dev/null || netstat -tulpn 2>/dev/null", root=True),
    Section("processes", "ps -eo pid=,user=,comm=,args= 2>/dev/null", cap=2 * 1024 * 1024),
    Section("passwd", "getent passwd 2>/dev/null || cat /etc/passwd"),
    Section("group", "getent group 2>/dev/null || cat /etc/group"),
    Section("shadow", _SHADOW, root=True),
    Section("login_defs", "grep -E '^[[:space:]]*[A-Z_]+[[:space:]]' /etc/login.defs", ok_codes=(0, 1)),
    Section("pwquality", "cat /etc/security/pwquality.conf /etc/security/pwquality.conf.d/*.conf "
            "2>/dev/null | grep -v '^[[:space:]]*#'", ok_codes=(0, 1)),
    Section("pam", "grep -H -v '^[[:space:]]*#' /etc/pam.d/common-auth /etc/pam.d/common-password "
            "/etc/pam.d/common-account /etc/pam.d/system-auth /etc/pam.d/password-auth /etc/pam.d/sshd "
            "/etc/pam.d/login 2>/dev/null", ok_codes=(0, 1, 2)),
    Section("faillock_conf", "grep -v '^[[:space:]]*#' /etc/security/faillock.conf 2>/dev/null",
            ok_codes=(0, 1, 2)),
    Section("pwhistory_conf", "grep -v '^[[:space:]]*#' /etc/security/pwhistory.conf 2>/dev/null",
            ok_codes=(0, 1, 2)),
    Section("profile_tmout", "grep -sHE '^[^#]*TMOUT' /etc/profile /etc/profile.d/*.sh /etc/bash.bashrc "
            "/etc/bashrc /etc/environment", ok_codes=(0, 1, 2)),
    Section("sshd", "sshd -T 2>/dev/null || /usr/sbin/sshd -T", root=True),
    Section("sshd_version", "ssh -V 2>&1", ok_codes=ANY),
    Section("sudoers", "cat /etc/sudoers /etc/sudoers.d/* 2>/dev/null | grep -v '^[[:space:]]*#[^i]'",
            root=True, ok_codes=(0, 1)),
    Section("file_modes", "stat -c '%n %a %U %G' /etc/passwd /etc/shadow /etc/group /etc/gshadow "
            "/etc/ssh/sshd_config /etc/sudoers /boot/grub/grub.cfg /boot/grub2/grub.cfg "
            "/var/log/audit/audit.log /etc/crontab 2>/dev/null", ok_codes=ANY),
    Section("mac", "echo lsm=$(cat /sys/kernel/security/lsm 2>/dev/null); "
            "echo selinux=$(getenforce 2>/dev/null || cat /sys/fs/selinux/enforce 2>/dev/null); "
            "echo apparmor=$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)", ok_codes=ANY),
    Section("auditd", "auditctl -s 2>&1; echo '## rules'; auditctl -l 2>&1; echo '## files'; "
            "cat /etc/audit/rules.d/*.rules 2>/dev/null", root=True, ok_codes=ANY),
    Section("auditd_conf", "grep -v '^[[:space:]]*#' /etc/audit/auditd.conf 2>/dev/null", root=True,
            ok_codes=(0, 1, 2)),
    Section("time_sync", "timedatectl show 2>/dev/null; echo '## chrony'; chronyc -n tracking 2>/dev/null; "
            "grep -hE '^(server|pool) ' /etc/chrony.conf /etc/chrony/chrony.conf /etc/ntp.conf "
            "/etc/chrony/sources.d/*.sources 2>/dev/null", ok_codes=ANY),
    Section("logrotate", "cat /etc/logrotate.conf 2>/dev/null; for f in /etc/logrotate.d/*; do "
            "[ -f \"$f\" ] && { echo \"## $f\"; cat \"$f\"; }; done", ok_codes=ANY),
    Section("syslog_conf", "cat /etc/rsyslog.conf /etc/rsyslog.d/*.conf /etc/syslog-ng/syslog-ng.conf "
            "2>/dev/null | grep -v '^[[:space:]]*#'; echo '## journald'; "
            "grep -hv '^[[:space:]]*#' /etc/systemd/journald.conf 2>/dev/null", ok_codes=ANY),
    Section("hosts_access", "grep -Hv '^[[:space:]]*#' /etc/hosts.allow /etc/hosts.deny 2>/dev/null",
            ok_codes=ANY),
    Section("firewall", "nft list ruleset 2>/dev/null || iptables-save 2>/dev/null", root=True, ok_codes=ANY),
    Section("packages_upgradable",
            "if command -v apt-get >/dev/null; then apt-get -s -o Debug::NoLocking=1 upgrade 2>/dev/null "
            "| grep '^Inst'; elif command -v dnf >/dev/null; then dnf -q -C updateinfo list --security "
            "2>/dev/null; elif command -v yum >/dev/null; then yum -q -C updateinfo list security "
            "2>/dev/null; fi", timeout=30, ok_codes=(0, 1)),
    Section("crontabs", "cat /etc/crontab /etc/cron.d/* /var/spool/cron/crontabs/* /var/spool/cron/* "
            "2>/dev/null | grep -v '^[[:space:]]*#'", root=True, ok_codes=ANY),
]


def sections_for_host() -> list[Section]:
    """The batch for one host. Database and web sections are appended by their modules."""
    return list(HOST_SECTIONS)


def kv(text: str, sep: str | None = None) -> dict[str, str]:
    """``KEY value`` or ``KEY=value`` lines -> dict (last wins, as the programs read them)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip() if sep != "=" else line.strip()
        if not line or line.startswith("#"):
            continue
        if sep == "=" or (sep is None and "=" in line and " " not in line.split("=", 1)[0]):
            k, _, v = line.partition("=")
        else:
            parts = line.split(None, 1)
            k, v = parts[0], parts[1] if len(parts) > 1 else ""
        out[k.strip()] = v.strip().strip('"')
    return out


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str
    shell: str

    @property
    def interactive(self) -> bool:
        return not self.shell.endswith(("nologin", "/false", "/sync", "/shutdown", "/halt")) and bool(self.shell)


@dataclass(frozen=True)
class ShadowEntry:
    name: str
    scheme: str  # EMPTY, LOCKED:<c>, HASH:<id>, DES
    last_change: int | None
    min_days: int | None
    max_days: int | None
    warn_days: int | None
    inactive: int | None
    expire: int | None

    @property
    def locked(self) -> bool:
        return self.scheme.startswith("LOCKED")

    @property
    def has_password(self) -> bool:
        return self.scheme.startswith("HASH") or self.scheme == "DES"


def _int(v: str) -> int | None:
    return int(v) if v.strip().lstrip("-").isdigit() else None


@dataclass(frozen=True)
class ListeningSocket:
    proto: str
    address: str
    port: int
    process: str


class HostView:
    """Parsed, typed facts of one host. Each property raises FactUnavailable if its section
    could not be gathered, so the probe using it reports 检查错误."""

    def __init__(self, facts: HostFacts) -> None:
        self.facts = facts

    @cached_property
    def accounts(self) -> list[Account]:
        out = []
        for line in self.facts.lines("passwd"):
            f = line.split(":")
            if len(f) >= 7 and f[2].isdigit() and f[3].isdigit():
                out.append(Account(f[0], int(f[2]), int(f[3]), f[5], f[6]))
        return out

    @cached_property
    def shadow(self) -> dict[str, ShadowEntry]:
        out = {}
        for line in self.facts.lines("shadow"):
            f = line.split(":")
            if len(f) >= 8:
                out[f[0]] = ShadowEntry(f[0], f[1], _int(f[2]), _int(f[3]), _int(f[4]), _int(f[5]),
                                        _int(f[6]), _int(f[7]))
        return out

    @cached_property
    def login_defs(self) -> dict[str, str]:
        return kv(self.facts.text("login_defs"))

    @cached_property
    def sshd(self) -> dict[str, str]:
        """Effective sshd settings (``sshd -T``), keys lower-case; repeated keys joined by ','."""
        out: dict[str, str] = {}
        for line in self.facts.lines("sshd"):
            k, _, v = line.partition(" ")
            k = k.lower()
            out[k] = f"{out[k]},{v}" if k in out and k in ("listenaddress", "allowusers", "hostkey") else v
        return out

    @cached_property
    def listening(self) -> list[ListeningSocket]:
        out = []
        for line in self.facts.lines("listen"):
            f = line.split()
            if len(f) < 5 or f[0] not in ("tcp", "udp", "tcp6", "udp6"):
                continue
            # ss -Htulpn: proto state recvq sendq local peer [process]
            local = f[3] if f[1].isdigit() else f[4]  # netstat: proto recvq sendq local; ss: state first
            addr, _, port = local.rpartition(":")
            m = re.search(r'users:\(\("([^"]+)"', line)
            if port.isdigit():
                out.append(ListeningSocket(f[0][:3], addr.strip("[]"), int(port), m.group(1) if m else ""))
        return out

    @cached_property
    def processes(self) -> list[tuple[str, str, str]]:
        """(user, comm, args) of every process."""
        out = []
        for line in self.facts.lines("processes"):
            f = line.split(None, 3)
            if len(f) >= 3:
                out.append((f[1], f[2], f[3] if len(f) > 3 else ""))
        return out

    @cached_property
    def pam_lines(self) -> list[tuple[str, str]]:
        """(file, line) of active PAM lines."""
        out = []
        for line in self.facts.lines("pam"):
            path, _, rest = line.partition(":")
            if rest.strip():
                out.append((path, rest.strip()))
        return out

    def pam_module_args(self, module: str) -> dict[str, str]:
        """Arguments of ``module`` across the PAM stack (``deny=5`` -> {"deny": "5"})."""
        args: dict[str, str] = {}
        for _, line in self.pam_lines:
            if module in line:
                for tok in line.split():
                    k, _, v = tok.partition("=")
                    args[k] = v
        return args
