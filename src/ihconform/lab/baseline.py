"""The hardened MLPS level-3 baseline each lab host carries in its own /etc overlay.

Why render files and not run tools: ``useradd``, ``chage`` or ``pam-auth-update`` act on the
real /etc. Everything here is text computed from the real /etc (the overlay's lower layer)
and written into the host's upper directory, so the real /etc stays byte-identical and each
host can differ (the defect variants change one host only).

The values are the ones the level-3 host checks look for: password ageing and complexity,
lockout after failed logins, idle timeout, sshd restrictions, log forwarding and retention,
time synchronisation, audit rules, locked default accounts, and a default-drop firewall.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ihconform.lab import plan

# Default accounts that must be locked with a nologin shell (GB/T 22239 8.1.4.2 c).
LOCK_SHELL = "/usr/sbin/nologin"
KEEP_SHELL = {"root", "sync"}  # root keeps bash; sync keeps /bin/sync as Debian ships it

SSH_CIPHERS = ("chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
               "aes256-ctr,aes192-ctr,aes128-ctr")
SSH_MACS = "hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512,hmac-sha2-256"
SSH_KEX = ("sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,"
           "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group-exchange-sha256")


@dataclass(frozen=True)
class EtcFile:
    """One file for a host's /etc (path relative to /etc), with its owner and mode."""

    path: str
    content: str
    mode: int = 0o644
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class Probe:
    """The probe account: same name, uid and password on every host."""

    uid: int
    gid: int
    password_hash: str
    key_line: str  # the authorized ed25519 public key
    days: int  # last password change, days since the epoch


def free_id(real_etc: Path, start: int = 2900) -> int:
    """A uid/gid unused in the real passwd and group files, for the probe account."""
    used: set[int] = set()
    for name in ("passwd", "group"):
        for line in (real_etc / name).read_text().splitlines():
            parts = line.split(":")
            if len(parts) > 2 and parts[2].isdigit():
                used.add(int(parts[2]))
    n = start
    while n in used:
        n += 1
    return n


def _set_kv(text: str, key: str, value: str) -> str:
    """Set ``KEY value`` in a login.defs-style file so that it is the value in force.

    shadow-utils (``getdef.c`` ``def_load``) reads every uncommented ``KEY value`` line and a
    later one replaces an earlier one, so the last uncommented line wins. Every uncommented
    line of ``key`` is rewritten (comments, such as Debian's ``#\tPASS_MAX_DAYS\tMaximum
    number of days …`` explanation, stay as they are); with none, the line is appended.
    """
    pat = re.compile(rf"^[ \t]*{re.escape(key)}[ \t]+.*$|^[ \t]*{re.escape(key)}$", re.M)
    line = f"{key}\t{value}"
    if pat.search(text):
        return pat.sub(line, text)
    return text.rstrip("\n") + f"\n{line}\n"


#: What the lab's login.defs puts in force (docs/lab.md lists the same values).
LOGIN_DEFS: tuple[tuple[str, str], ...] = (
    ("PASS_MAX_DAYS", "90"), ("PASS_MIN_DAYS", "1"), ("PASS_WARN_AGE", "7"), ("ENCRYPT_METHOD", "SHA512"),
    ("UMASK", "027"), ("LOGIN_RETRIES", "5"), ("LOGIN_TIMEOUT", "60"))


def login_defs(real: str) -> str:
    """The real login.defs with :data:`LOGIN_DEFS` in force."""
    for k, v in LOGIN_DEFS:
        real = _set_kv(real, k, v)
    return real


#: Variant ``empty-password``: this default account gets a login shell and an empty hash.
EMPTY_PASSWORD_ACCOUNT, EMPTY_PASSWORD_SHELL = "games", "/bin/bash"
#: Variant ``uid0-extra``: a second UID-0 account, locked and without a login shell, so the
#: only finding is the UID.
EXTRA_UID0 = "toor"


def accounts(real_etc: Path, probe: Probe, shadow_gid: int, *, empty_password: bool = False,
             extra_uid0: bool = False) -> list[EtcFile]:
    """passwd, shadow, group, gshadow: the real ones plus the probe account, default accounts
    locked (``!`` prefix) and given a nologin shell; the ``empty-password`` and ``uid0-extra``
    variants' one defect each."""
    passwd, shadow, group, gshadow = [], [], [], []
    for line in (real_etc / "passwd").read_text().splitlines():
        f = line.split(":")
        if len(f) == 7 and f[0] not in KEEP_SHELL and f[0] != plan.PROBE_USER:
            f[6] = EMPTY_PASSWORD_SHELL if empty_password and f[0] == EMPTY_PASSWORD_ACCOUNT else LOCK_SHELL
        if f[0] not in (plan.PROBE_USER, EXTRA_UID0):
            passwd.append(":".join(f))
    passwd.append(f"{plan.PROBE_USER}:x:{probe.uid}:{probe.gid}:ihconform probe:{plan.PROBE_HOME}:/bin/bash")
    if extra_uid0:
        passwd.append(f"{EXTRA_UID0}:x:0:0:second root (variant uid0-extra):/root:{LOCK_SHELL}")
    for line in (real_etc / "shadow").read_text().splitlines():
        f = line.split(":")
        if f[0] in (plan.PROBE_USER, EXTRA_UID0):
            continue
        if len(f) >= 2 and f[0] != "root" and not f[1].startswith("!"):
            f[1] = "!" + f[1]
        if len(f) >= 2 and empty_password and f[0] == EMPTY_PASSWORD_ACCOUNT:
            f[1] = ""
        shadow.append(":".join(f))
    shadow.append(f"{plan.PROBE_USER}:{probe.password_hash}:{probe.days}:1:90:7:30::")
    if extra_uid0:
        shadow.append(f"{EXTRA_UID0}:!*:{probe.days}:1:90:7:30::")
    for line in (real_etc / "group").read_text().splitlines():
        if not line.startswith(plan.PROBE_USER + ":"):
            group.append(line)
    group.append(f"{plan.PROBE_USER}:x:{probe.gid}:")
    gsh = real_etc / "gshadow"
    for line in (gsh.read_text().splitlines() if gsh.exists() else []):
        if not line.startswith(plan.PROBE_USER + ":"):
            gshadow.append(line)
    gshadow.append(f"{plan.PROBE_USER}:!::")
    return [
        EtcFile("passwd", "\n".join(passwd) + "\n", 0o644),
        EtcFile("shadow", "\n".join(shadow) + "\n", 0o640, 0, shadow_gid),
        EtcFile("group", "\n".join(group) + "\n", 0o644),
        EtcFile("gshadow", "\n".join(gshadow) + "\n", 0o640, 0, shadow_gid),
    ]


COMMON_AUTH = """\
# ihconform lab: lockout after 5 failures for 600 s (pam_faillock)
auth\trequired\t\t\tpam_faillock.so preauth silent deny=5 unlock_time=600
auth\t[success=2 default=ignore]\tpam_unix.so
auth\t[default=die]\t\t\tpam_faillock.so authfail deny=5 unlock_time=600
auth\trequisite\t\t\tpam_deny.so
auth\trequired\t\t\tpam_permit.so
auth\toptional\t\t\tpam_cap.so
"""
COMMON_ACCOUNT = """\
# ihconform lab
account\trequired\t\t\tpam_faillock.so
account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so
account\trequisite\t\t\tpam_deny.so
account\trequired\t\t\tpam_permit.so
"""


def common_password(have_pwquality: bool) -> str:
    lines = ["# ihconform lab: complexity (pam_pwquality), history (pam_pwhistory), SHA-512"]
    if have_pwquality:
        lines.append("password\trequisite\t\t\tpam_pwquality.so retry=3 enforce_for_root")
    lines += [
        "password\trequired\t\t\tpam_pwhistory.so remember=5 enforce_for_root use_authtok",
        "password\t[success=1 default=ignore]\tpam_unix.so obscure use_authtok try_first_pass sha512 shadow",
        "password\trequisite\t\t\tpam_deny.so",
        "password\trequired\t\t\tpam_permit.so",
    ]
    return "\n".join(lines) + "\n"


def sshd_pam(real: str) -> str:
    """Debian's /etc/pam.d/sshd without pam_motd: nothing to show, and nothing to write."""
    return "".join(line + "\n" for line in real.splitlines() if "pam_motd.so" not in line)


PWQUALITY = """\
# ihconform lab: at least 12 characters from at least 3 classes, also for root
minlen = 12
minclass = 3
dcredit = -1
ucredit = -1
lcredit = -1
ocredit = -1
maxrepeat = 3
enforce_for_root
"""
FAILLOCK = "# ihconform lab\ndeny = 5\nunlock_time = 600\nfail_interval = 900\n"
def tmout(zero: bool = False) -> str:
    """/etc/profile.d/ih-tmout.sh: a read-only 600 s shell idle time-out (variant ``tmout-zero``: 0)."""
    if zero:
        return "# ihconform lab, variant tmout-zero: idle shells never end\nTMOUT=0\nreadonly TMOUT\nexport TMOUT\n"
    return "# ihconform lab: idle shells end after 10 minutes\nTMOUT=600\nreadonly TMOUT\nexport TMOUT\n"
AUDIT_RULES = """\
## ihconform lab: audit rules (the kernel audit subsystem is shared by all lab hosts)
-D
-b 8192
-f 1
-w /etc/passwd -p wa -k identity
-w /etc/group -p wa -k identity
-w /etc/shadow -p wa -k identity
-w /etc/gshadow -p wa -k identity
-w /etc/sudoers -p wa -k scope
-w /etc/sudoers.d/ -p wa -k scope
-w /etc/ssh/sshd_config -p wa -k sshd
-w /var/log/faillog -p wa -k logins
-w /var/log/lastlog -p wa -k logins
-a always,exit -F arch=b64 -S execve -F euid=0 -k rootcmd
-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -k time-change
-e 2
"""
AUDITD_CONF = """\
# ihconform lab
log_file = /var/log/audit/audit.log
log_format = ENRICHED
max_log_file = 50
num_logs = 10
max_log_file_action = keep_logs
space_left_action = email
admin_space_left_action = halt
disk_full_action = halt
"""


def logrotate_conf(short: bool) -> str:
    keep = "weekly\nrotate 4\n" if short else "weekly\nrotate 26\n"
    return ("# ihconform lab: logs are kept for at least 180 days (网络安全法 第二十一条)\n"
            f"{keep}create\ndateext\ncompress\ninclude /etc/logrotate.d\n")


def logrotate_rsyslog(short: bool) -> str:
    """The system logs' own stanza (Debian ships it with rsyslog, which the lab has no need of)."""
    rotate = 4 if short else 26
    return ("# ihconform lab\n/var/log/syslog /var/log/messages /var/log/auth.log /var/log/kern.log "
            "/var/log/daemon.log /var/log/user.log /var/log/sudo.log {\n"
            f"\tweekly\n\trotate {rotate}\n\tmissingok\n\tnotifempty\n\tcompress\n\tdelaycompress\n"
            "\tsharedscripts\n}\n")


def rsyslog_forward() -> str:
    return ("# ihconform lab: every message is also sent to the central log host (TCP)\n"
            f"*.* @@{plan.LOG_HOST}:514\n")


def chrony_conf() -> str:
    return ("# ihconform lab\n"
            f"server {plan.LOG_HOST} iburst\n"
            "driftfile /var/lib/chrony/chrony.drift\nmakestep 1 3\nrtcsync\n")


def sudoers_probe() -> str:
    return ("# ihconform lab: the probe account may use sudo, with its password\n"
            "Defaults:ihprobe lecture=never\n"
            "Defaults logfile=/var/log/sudo.log\n"
            f"{plan.PROBE_USER} ALL=(ALL:ALL) ALL\n")


def sshd_config(host: plan.HostSpec, host_dir: Path, variants: tuple[str, ...]) -> str:
    """A hardened sshd_config. Only the bastion accepts the probe from the root namespace; the
    others accept it only from the bastion (so the inventory reaches them with ``jump``)."""
    weak = host.id == "app01" and "root-login" in variants
    if host.id == plan.BASTION.id:
        allow = f"{plan.PROBE_USER}@{plan.ROOT_ADDR}"
        forwarding = "local"  # the jump: direct-tcpip channels to the other hosts
    else:
        allow = f"{plan.PROBE_USER}@{plan.BASTION.address}"
        forwarding = "no"
    if host.fleet:  # benchmarks reach the fleet directly, so the bastion's sshd is not measured
        allow += f" {plan.PROBE_USER}@{plan.ROOT_ADDR}"
    if host.outside:  # the scanner is reached over its management link only
        allow = f"{plan.PROBE_USER}@{plan.SCAN_MGMT_ROOT}"
    if weak:
        allow += " root"
    if plan.variant_on(variants, "direct-admin", host.id):  # administration that bypasses the bastion
        allow += f" {plan.PROBE_USER}@{plan.ROOT_ADDR}"
    lines = [
        "# ihconform lab: hardened sshd configuration",
        "Port 22",
        "ListenAddress 0.0.0.0" if host.id == "app01" and "exposed-admin" in variants
        else f"ListenAddress {host.address}",
        "HostKey /etc/ssh/ssh_host_ed25519_key",
        f"PidFile {host_dir / 'sshd.pid'}",
        "AuthorizedKeysFile .ssh/authorized_keys",
        "Protocol 2",
        f"PermitRootLogin {'yes' if weak else 'no'}",
        f"PasswordAuthentication {'yes' if weak else 'no'}",
        "KbdInteractiveAuthentication no",
        f"PermitEmptyPasswords {'yes' if plan.variant_on(variants, 'sshd-empty-passwords', host.id) else 'no'}",
        "PubkeyAuthentication yes",
        "HostbasedAuthentication no",
        "IgnoreRhosts yes",
        "UsePAM yes",
        "MaxAuthTries 4",
        "MaxSessions 10",
        "LoginGraceTime 60",
        "ClientAliveInterval 300",
        "ClientAliveCountMax 2",
        "X11Forwarding no",
        f"AllowTcpForwarding {forwarding}",
        "AllowAgentForwarding no",
        "PermitTunnel no",
        "PermitUserEnvironment no",
        "LogLevel VERBOSE",
        "SyslogFacility AUTHPRIV",
        "Banner /etc/issue.net",
        f"Ciphers {SSH_CIPHERS}" + (",aes256-cbc" if plan.variant_on(variants, "ssh-cbc", host.id) else ""),
        f"MACs {SSH_MACS}" + (",hmac-md5" if plan.variant_on(variants, "ssh-md5", host.id) else ""),
        f"KexAlgorithms {SSH_KEX}"
        + (",diffie-hellman-group1-sha1" if plan.variant_on(variants, "ssh-group1", host.id) else ""),
        f"AllowUsers {allow}",
        "Subsystem sftp /usr/lib/openssh/sftp-server -f AUTHPRIV -l INFO",
        "MaxStartups 50:30:100",
    ]
    # Match blocks last: a Match block runs to the next Match or the end of the file.
    if host.id == "app01" and "match-root-login" in variants:
        lines += ["Match User root", "    PermitRootLogin yes"]
    if host.id == "app01" and "match-password" in variants:
        lines += [f"Match Address {plan.LAB_RANGE}", "    PasswordAuthentication yes"]
    return "\n".join(lines) + "\n"


def nftables(host: plan.HostSpec, variants: tuple[str, ...] = ()) -> str:
    """Default-drop input: loopback, replies, ICMP, SSH from the LAN and the host's own ports."""
    ssh_from = plan.SCAN_MGMT_ROOT if host.outside else str(plan.LAN)
    exposed = host.id == "app01" and "exposed-admin" in variants
    rules = [
        "iif lo accept",
        "ct state established,related accept",
        "ct state invalid drop",
        "meta l4proto { icmp, ipv6-icmp } accept",
        "tcp dport 22 accept" if exposed else f"ip saddr {ssh_from} tcp dport 22 accept",
    ]
    if host.tcp_ports:
        rules.append(f"tcp dport {{ {', '.join(str(p) for p in host.tcp_ports)} }} accept")
    if host.udp_ports:
        rules.append(f"udp dport {{ {', '.join(str(p) for p in host.udp_ports)} }} accept")
    for lo, hi in host.udp_ranges:
        rules.append(f"udp dport {lo}-{hi} accept")
    body = "\n".join(f"\t\t{r}" for r in rules)
    return ("#!/usr/sbin/nft -f\n# ihconform lab: per-host firewall\nflush ruleset\n"
            "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n"
            f"{body}\n\t}}\n\tchain forward {{\n\t\ttype filter hook forward priority 0; policy drop;\n\t}}\n"
            "\tchain output {\n\t\ttype filter hook output priority 0; policy accept;\n\t}\n}\n")


def etc_files(host: plan.HostSpec, variants: tuple[str, ...], probe: Probe, real_etc: Path,
              machine_id: str, shadow_gid: int, have_pwquality: bool) -> list[EtcFile]:
    """Every file of the host's /etc upper directory (paths relative to /etc)."""
    app01 = host.id == "app01"
    short = app01 and "short-retention" in variants
    files = [
        EtcFile("hostname", host.id + "\n"),
        EtcFile("machine-id", machine_id + "\n", 0o444),
        EtcFile("hosts", plan.etc_hosts(host, variants)),
        EtcFile("login.defs", login_defs((real_etc / "login.defs").read_text())),
        EtcFile("security/pwquality.conf", PWQUALITY),
        EtcFile("security/faillock.conf", FAILLOCK),
        EtcFile("security/opasswd", "", 0o600),
        EtcFile("pam.d/common-auth", COMMON_AUTH),
        EtcFile("pam.d/common-account", COMMON_ACCOUNT),
        EtcFile("pam.d/common-password", common_password(have_pwquality)),
        EtcFile("pam.d/sshd", sshd_pam((real_etc / "pam.d" / "sshd").read_text())),
        EtcFile("profile.d/ih-tmout.sh", tmout(app01 and "tmout-zero" in variants)),
        EtcFile("sudoers.d/ihprobe", sudoers_probe(), 0o440),
        EtcFile("rsyslog.d/50-ih-forward.conf", rsyslog_forward()),
        EtcFile("rsyslog.conf", "# ihconform lab\nmodule(load=\"imuxsock\")\n"
                "$IncludeConfig /etc/rsyslog.d/*.conf\n"
                "auth,authpriv.*\t/var/log/auth.log\n*.*;auth,authpriv.none\t-/var/log/syslog\n"),
        EtcFile("logrotate.conf", logrotate_conf(short)),
        EtcFile("logrotate.d/rsyslog", logrotate_rsyslog(short)),
        EtcFile("chrony/chrony.conf", chrony_conf()),
        EtcFile("audit/rules.d/ih-lab.rules", AUDIT_RULES, 0o640),
        EtcFile("audit/auditd.conf", AUDITD_CONF, 0o640),
        EtcFile("nftables.conf", nftables(host, variants), 0o755),
        EtcFile("issue.net", "Authorised use only. 仅限授权使用，所有操作均被审计。\n"),
        *accounts(real_etc, probe, shadow_gid, empty_password=app01 and "empty-password" in variants,
                  extra_uid0=app01 and "uid0-extra" in variants),
    ]
    return files
