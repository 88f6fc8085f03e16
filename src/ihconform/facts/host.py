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

from ihconform.errors import FactUnavailable
from ihconform.facts.collect import HostFacts, Section
from ihconform.facts.sshd import MatchBlock, SshdContexts, config_lines, match_blocks, parse_contexts, parse_sshd_t

ANY = tuple(range(256))  # exit codes that still count as "gathered" for best-effort reads

# Shadow: never ship a hash off the host. Scheme only: EMPTY, LOCKED/<c>, HASH/<id>, DES.
# ("/" inside the scheme: ":" is the field separator the parser splits on.)
_SHADOW = (
    "awk -F: '{h=$2; "
    "if (h==\"\") t=\"EMPTY\"; "
    "else if (h ~ /^[!*]/) t=\"LOCKED/\" substr(h,1,1); "
    "else if (h ~ /^\\$/) { s=substr(h,2); t=\"HASH/\" substr(s,1,index(s,\"$\")-1) } "
    "else t=\"DES\"; "
    "print $1\":\"t\":\"$3\":\"$4\":\"$5\":\"$6\":\"$7\":\"$8}' /etc/shadow"
)

#: Files whose owner and mode host.file_permissions may judge (L3-CES1-10). A profile
#: threshold for a path not listed here is reported as not gathered, never as passing.
KEY_FILES: tuple[str, ...] = (
    "/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/ssh/sshd_config", "/etc/sudoers",
    "/boot/grub/grub.cfg", "/boot/grub2/grub.cfg", "/boot/efi/EFI/openEuler/grub.cfg",
    "/boot/efi/EFI/kylin/grub.cfg", "/var/log/audit/audit.log", "/etc/crontab", "/etc/security/opasswd",
)
#: Host intrusion detection installed on disk: AIDE (binary, config, database), OSSEC/Wazuh.
HIDS_PATHS: tuple[str, ...] = (
    "/usr/sbin/aide", "/usr/bin/aide", "/etc/aide/aide.conf", "/etc/aide.conf",
    "/var/lib/aide/aide.db", "/var/lib/aide/aide.db.gz", "/var/ossec/bin/wazuh-control",
    "/var/ossec/bin/ossec-control", "/var/ossec/etc/ossec.conf",
)
#: Anti-malware signature databases whose age is read (ClamAV).
AV_SIGNATURE_GLOBS: tuple[str, ...] = (
    "/var/lib/clamav/*.cvd", "/var/lib/clamav/*.cld",
)
#: Conventional backup directories whose newest file is reported (host.backups).
BACKUP_DIRS: tuple[str, ...] = (
    "/backup", "/backups", "/data/backup", "/data/backups", "/srv/backup", "/srv/backups", "/opt/backup",
    "/var/backup", "/var/lib/pgbackrest", "/var/lib/barman", "/var/lib/postgresql/backup",
    "/var/lib/pgsql/backups", "/var/lib/mysql-backup", "/var/backups/postgresql", "/var/backups/mysql",
    "/home/backup",
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
    # The pending-update count: Debian/Ubuntu/UOS list the upgradable packages from apt's cache
    # (``apt list --upgradable``: 0.9 s here, against 2.7 s for ``apt-get -s upgrade``, whose
    # solver finds the same security set; the simulation stays as the fallback for an apt-get
    # without ``apt``); RHEL-family read the cached updateinfo (``-C``: no network from the
    # target, so it is as fresh as the last ``dnf makecache``). Gathered only when
    # host.security_updates is planned. It runs in the background from here on,
    # after the process list (which must not show it), while the rest of the batch runs.
    Section("packages_upgradable",
            "if command -v apt >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then "
            "echo '## manager apt'; o=$(apt list --upgradable 2>&1); echo \"## rc $?\"; "
            "printf '%s\\n' \"$o\" | grep ' \\[upgradable from: '; "
            "elif command -v apt-get >/dev/null 2>&1; then echo '## manager apt'; "
            "o=$(apt-get -s -o Debug::NoLocking=1 upgrade 2>&1); echo \"## rc $?\"; "
            "printf '%s\\n' \"$o\" | grep '^Inst '; "
            "elif command -v dnf >/dev/null 2>&1; then echo '## manager dnf'; "
            "o=$(dnf -q -C updateinfo list --security --available 2>&1); echo \"## rc $?\"; "
            "printf '%s\\n' \"$o\"; "
            "elif command -v yum >/dev/null 2>&1; then echo '## manager yum'; "
            "o=$(yum -q -C updateinfo list security 2>&1); echo \"## rc $?\"; printf '%s\\n' \"$o\"; "
            "else echo '## manager none'; fi; true", timeout=30, ok_codes=ANY, background=True),
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
    Section("sudoers", "for f in /etc/sudoers /etc/sudoers.d/*; do [ -f \"$f\" ] && "
            "grep -H -v '^[[:space:]]*#[^i]' \"$f\"; done; true", root=True, ok_codes=(0, 1)),
    # One line per file: "<path> <octal mode> <owner> <group>", or "ABSENT <path>", so a
    # probe can tell a missing file (nothing to protect) from one that was not looked at.
    Section("file_modes", "for f in " + " ".join(KEY_FILES) + "; do if [ -e \"$f\" ]; then "
            "stat -c '%n %a %U %G' \"$f\"; else echo \"ABSENT $f\"; fi; done", ok_codes=ANY),
    Section("mac", "echo lsm=$(cat /sys/kernel/security/lsm 2>/dev/null); "
            "echo selinux=$(getenforce 2>/dev/null || cat /sys/fs/selinux/enforce 2>/dev/null); "
            "echo selinux_config=$(sed -n 's/^SELINUX=//p' /etc/selinux/config 2>/dev/null); "
            "echo apparmor=$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null); "
            "echo kysec=$(cat /sys/kernel/security/kysec/status 2>/dev/null || "
            "getstatus 2>/dev/null | sed -n 's/^[Kk][Yy][Ss][Ee][Cc] status:[[:space:]]*//p' | head -n 1)",
            ok_codes=ANY),
    # The kernel audit state (auditctl) is read but, in a container or a namespace lab, it is
    # shared with the machine; the probes judge from the auditd process and the rule files.
    Section("auditd", "echo '## status'; auditctl -s 2>&1; echo '## loaded'; auditctl -l 2>&1; "
            "echo '## files'; for f in /etc/audit/rules.d/*.rules /etc/audit/audit.rules; do "
            "[ -f \"$f\" ] && grep -H -v '^[[:space:]]*#' \"$f\"; done; echo '## logfile'; "
            "f=$(sed -n 's/^[[:space:]]*log_file[[:space:]]*=[[:space:]]*//p' /etc/audit/auditd.conf "
            "2>/dev/null | tail -n 1); f=${f:-/var/log/audit/audit.log}; "
            "for p in \"$f\" \"${f%/*}\"; do if [ -e \"$p\" ]; then stat -c '%n %a %U %G' \"$p\"; "
            "else echo \"ABSENT $p\"; fi; done", root=True, ok_codes=ANY),
    Section("auditd_conf", "grep -v '^[[:space:]]*#' /etc/audit/auditd.conf 2>/dev/null", root=True,
            ok_codes=(0, 1, 2)),
    Section("time_sync", "echo '## timedatectl'; timedatectl show 2>/dev/null; echo '## sources'; "
            "grep -HE '^[[:space:]]*(server|pool|peer)[[:space:]]' /etc/chrony.conf /etc/chrony/chrony.conf "
            "/etc/chrony/conf.d/*.conf /etc/chrony/sources.d/*.sources /etc/ntp.conf /etc/ntpsec/ntp.conf "
            "2>/dev/null; grep -HE '^[[:space:]]*(NTP|FallbackNTP)=' /etc/systemd/timesyncd.conf "
            "/etc/systemd/timesyncd.conf.d/*.conf 2>/dev/null; true", ok_codes=ANY),
    Section("logrotate", "cat /etc/logrotate.conf 2>/dev/null; for f in /etc/logrotate.d/*; do "
            "[ -f \"$f\" ] && { echo \"## $f\"; cat \"$f\"; }; done", ok_codes=ANY),
    Section("syslog_conf", "cat /etc/rsyslog.conf /etc/rsyslog.d/*.conf /etc/syslog-ng/syslog-ng.conf "
            "/etc/syslog-ng/conf.d/*.conf 2>/dev/null | grep -v '^[[:space:]]*#'; echo '## journald'; "
            "grep -hv '^[[:space:]]*#' /etc/systemd/journald.conf 2>/dev/null; echo '## journal-upload'; "
            "grep -hv '^[[:space:]]*#' /etc/systemd/journal-upload.conf "
            "/etc/systemd/journal-upload.conf.d/*.conf 2>/dev/null; true", ok_codes=ANY),
    Section("hosts_access", "grep -Hv '^[[:space:]]*#' /etc/hosts.allow /etc/hosts.deny 2>/dev/null",
            ok_codes=ANY),
    Section("firewall", "echo '## nft'; nft list ruleset 2>/dev/null; echo '## iptables'; "
            "iptables-save 2>/dev/null; true", root=True, ok_codes=ANY),
    # Scheduled jobs with the file they come from: crontabs, and the ExecStart of every
    # service that a systemd timer starts.
    Section("crontabs", "for f in /etc/crontab /etc/cron.d/* /var/spool/cron/crontabs/* "
            "/var/spool/cron/*; do "
            "[ -f \"$f\" ] && grep -H -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' \"$f\"; done; "
            "echo '## timers'; for t in /etc/systemd/system/*.timer /usr/lib/systemd/system/*.timer "
            "/lib/systemd/system/*.timer; do [ -f \"$t\" ] || continue; s=${t%.timer}.service; "
            "[ -f \"$s\" ] && grep -H '^ExecStart' \"$s\"; done; true", root=True, ok_codes=ANY),
    Section("now", "date +%s"),
    # Raw sshd configuration with line numbers: ``sshd -T`` skips ``Match`` blocks, and a
    # finding names the block that loosens a setting (file:line "Match User root").
    Section("sshd_config", "for f in /etc/ssh/sshd_config /etc/ssh/sshd_config.d/*.conf; do "
            "[ -f \"$f\" ] && grep -nH -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' \"$f\"; done; true",
            root=True, ok_codes=ANY),
    Section("hids_files", "for p in " + " ".join(HIDS_PATHS) + "; do [ -e \"$p\" ] && "
            "stat -c '%Y %n' \"$p\"; done; true", root=True, ok_codes=ANY),
    Section("av_signatures", "for p in " + " ".join(AV_SIGNATURE_GLOBS) + "; do [ -e \"$p\" ] && "
            "stat -c '%Y %n' \"$p\"; done; true", ok_codes=ANY),
    # Newest file (mtime, path) under each conventional backup directory that exists.
    Section("backup_files", "for d in " + " ".join(BACKUP_DIRS) + "; do [ -d \"$d\" ] || continue; "
            "n=$(find \"$d\" -maxdepth 4 -type f -printf '%T@ %p\\n' 2>/dev/null | sort -n | tail -n 1); "
            "echo \"DIR $d ${n:-EMPTY}\"; done; true", root=True, ok_codes=ANY),
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
        ends = ("nologin", "/false", "/sync", "/shutdown", "/halt")
        return not self.shell.endswith(ends) and bool(self.shell)


@dataclass(frozen=True)
class ShadowEntry:
    name: str
    scheme: str  # EMPTY, LOCKED/<c>, HASH/<id>, DES
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


def split_sections(text: str) -> dict[str, list[str]]:
    """Lines of a section's output grouped under its ``## name`` headers (first group: "")."""
    out: dict[str, list[str]] = {"": []}
    current = ""
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            out.setdefault(current, [])
        elif line.strip():
            out[current].append(line)
    return out


@dataclass(frozen=True)
class FileMode:
    path: str
    mode: int  # permission bits, e.g. 0o640
    owner: str
    group: str


def parse_modes(lines: list[str]) -> tuple[dict[str, FileMode], set[str]]:
    """``stat -c '%n %a %U %G'`` and ``ABSENT <path>`` lines -> (present files, absent paths)."""
    present: dict[str, FileMode] = {}
    absent: set[str] = set()
    for line in lines:
        f = line.split()
        if len(f) == 2 and f[0] == "ABSENT":
            absent.add(f[1])
        elif len(f) == 4 and re.fullmatch(r"[0-7]{3,4}", f[1]):
            present[f[0]] = FileMode(f[0], int(f[1], 8), f[2], f[3])
    return present, absent


def file_lines(lines: list[str]) -> list[tuple[str, str]]:
    """``grep -H`` output -> (file, line) pairs, the line stripped."""
    out = []
    for line in lines:
        path, sep, rest = line.partition(":")
        if sep and path.startswith("/") and rest.strip():
            out.append((path, rest.strip()))
    return out


def process_base(comm: str, args: str) -> set[str]:
    """Names a process is known by: its ``comm`` and the basename of its executable (``comm``
    is cut at 15 characters, and interpreters run daemons under their own name)."""
    names = {comm}
    if args and not args.startswith("["):
        names.add(args.split()[0].rsplit("/", 1)[-1].rstrip(":"))
    return names


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
        """Global sshd settings (plain ``sshd -T``: Match blocks skipped), keys lower-case."""
        return parse_sshd_t(self.facts.lines("sshd"))

    @cached_property
    def sshd_contexts(self) -> SshdContexts:
        """sshd settings per connection context (``sshd -T -C``): {context -> settings}."""
        return parse_contexts(self.facts)

    @cached_property
    def sshd_match_blocks(self) -> list[MatchBlock]:
        """The Match blocks as written in sshd_config and sshd_config.d, with file and line."""
        return match_blocks(config_lines(self.facts.lines("sshd_config")))

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


    @cached_property
    def now(self) -> int:
        """The target's clock (epoch seconds): file ages are measured against it."""
        text = self.facts.text("now").strip()
        if not text.isdigit():
            raise FactUnavailable(f"host {self.facts.host_id}: `date +%s` printed {text[:40]!r}")
        return int(text)

    @cached_property
    def process_names(self) -> dict[str, list[str]]:
        """Process name -> users running it."""
        out: dict[str, list[str]] = {}
        for user, comm, args in self.processes:
            for n in process_base(comm, args):
                out.setdefault(n, [])
                if user not in out[n]:
                    out[n].append(user)
        return out

    def running(self, names: list[str]) -> list[str]:
        """Which of ``names`` run (exact process name, or a ``comm`` prefix for names > 15 chars)."""
        have = self.process_names
        return sorted({n for n in names if n in have or (len(n) > 15 and n[:15] in have)})

    @cached_property
    def sshd_config_lines(self) -> list[tuple[str, str]]:
        """(file, line) of the active sshd configuration lines (line numbers dropped)."""
        return [(f, text) for f, _, text in config_lines(self.facts.lines("sshd_config"))]

    @cached_property
    def sudoers_lines(self) -> list[tuple[str, str]]:
        return file_lines(self.facts.lines("sudoers"))

    @cached_property
    def cron_lines(self) -> list[tuple[str, str]]:
        """(file, line) of every crontab entry and timer-started ExecStart."""
        groups = split_sections(self.facts.text("crontabs"))
        return file_lines(groups.get("", []) + groups.get("timers", []))
