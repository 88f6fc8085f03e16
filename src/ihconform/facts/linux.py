"""The Linux adapters: the platform-neutral facts of :mod:`ihconform.facts.neutral`, derived
from the sections of the posix shell batch (PAM and its conf files, the profile scripts'
TMOUT, ``sshd -T`` per connection context, the loaded syslog files, the time-sync files).

Why here and not in the probes: the probes judge one model per control on every platform;
what PAM's argument syntax or bash's ``readonly TMOUT`` mean is Linux's to say, once. No
threshold lives here: a value the host leaves unset stays None unless the module documents a
default, and such a default is named in ``defaults`` with its source.

Password ageing stays Linux-specific (host.password_ageing): what counts there is each
interactive account's own shadow ageing, and login.defs only seeds new accounts, so
PasswordPolicy's ageing fields are left unset here rather than filled from login.defs.
"""

from __future__ import annotations

import re

from ihconform.facts.contract import HostFacts
from ihconform.facts.host import HostView, file_lines, kv, split_sections
from ihconform.facts.logs import forward_rules, journal_upload_url, url_host
from ihconform.facts.neutral import (
    Adapters,
    IdleChannel,
    IdleTimeout,
    LockoutPolicy,
    PasswordPolicy,
    RemoteLogging,
    TimeSource,
)
from ihconform.facts.sshd import sshd_int

#: Login-failure modules, in the order PAM stacks are searched for them.
LOCKOUT_MODULES = ("pam_faillock", "pam_tally2", "pam_tally")
#: pam_faillock's documented defaults (faillock.conf(5), pam_faillock(8)).
FAILLOCK_DEFAULT_DENY = 3
FAILLOCK_DEFAULT_UNLOCK_S = 600
#: The minimum length each complexity module applies when none is configured: libpwquality's
#: pwquality.conf "Defaults:" block (1.4.5, Debian 12 / RHEL 8–9: ``minlen = 8``; 1.2.x on
#: CentOS 7: 9) and pam_cracklib(8) (``minlen=N (default 9)``). The lower one is taken.
MINLEN_DEFAULTS = {"pam_pwquality": 8, "pam_cracklib": 9}
#: sshd's defaults (sshd_config(5)) where a context prints no value.
CLIENT_ALIVE_INTERVAL_DEFAULT = 0
CLIENT_ALIVE_COUNT_DEFAULT = 3


def _int_or(value: str, default: int) -> int:
    """The leading integer of a setting (``int()`` raises on a malformed one: 检查错误)."""
    return int(value or default)


def pwquality_settings(host: HostView) -> dict[str, str]:
    """pwquality.conf overlaid with the non-empty arguments of pam_cracklib/pam_pwquality."""
    conf = kv(host.facts.text("pwquality"), sep="=")
    args = {**host.pam_module_args("pam_cracklib"), **host.pam_module_args("pam_pwquality")}
    return {**conf, **{k: v for k, v in args.items() if v}}


def password_policy(facts: HostFacts) -> PasswordPolicy:
    """PAM's complexity module and its settings, and the password history ``remember``."""
    host = HostView(facts)
    q = pwquality_settings(host)
    enforced = any(m in line for _, line in host.pam_lines for m in ("pam_pwquality", "pam_cracklib"))
    min_length = _int_or(q["minlen"], 0) if "minlen" in q else None
    defaults: list[str] = []
    module = next((m for m in MINLEN_DEFAULTS if any(m in line for _, line in host.pam_lines)), "")
    if min_length is None and module:  # unset is the module's default, not 0 (a stock RHEL PAM stack)
        min_length = MINLEN_DEFAULTS[module]
        defaults.append(f"minlen={min_length} ({module} default, pwquality.conf(5) / pam_cracklib(8))")
    credits = sum(1 for k in ("dcredit", "ucredit", "lcredit", "ocredit") if q.get(k, "0").startswith("-"))
    classes_set = "minclass" in q or credits > 0
    min_classes = max(_int_or(q.get("minclass", "0"), 0), credits) if classes_set else None
    hist_conf = kv(host.facts.text("pwhistory_conf"), sep="=")
    sources = (host.pam_module_args("pam_pwhistory"), host.pam_module_args("pam_unix"), hist_conf)
    remembers = [_int_or(s["remember"], 0) for s in sources if "remember" in s]
    return PasswordPolicy(
        enforced=enforced, min_length=min_length, min_classes=min_classes,
        history=max(remembers) if remembers else None, max_age_days=None,
        source="PAM (pam_pwquality/pam_cracklib, pam_pwhistory/pam_unix remember), "
               "/etc/security/pwquality.conf, /etc/security/pwhistory.conf", defaults=tuple(defaults))


def lockout_policy(facts: HostFacts) -> LockoutPolicy:
    """The first login-failure module in the PAM stack, faillock.conf under its arguments.
    ``unlock_time=never`` is 0 (faillock.conf(5): "0 has the same meaning as never")."""
    host = HostView(facts)
    module = next((m for m in LOCKOUT_MODULES if any(m in line for _, line in host.pam_lines)), "")
    source = "PAM: " + "/".join(LOCKOUT_MODULES)
    if not module:
        return LockoutPolicy(mechanism="", threshold=None, unlock_s=None, source=source)
    conf = kv(host.facts.text("faillock_conf"), sep="=") if module == "pam_faillock" else {}
    args = {**conf, **{k: v for k, v in host.pam_module_args(module).items() if v}}
    deny = int(args["deny"]) if args.get("deny", "").isdigit() else None
    raw = args.get("unlock_time", "")
    unlock = int(raw) if raw.isdigit() else (0 if raw == "never" else None)
    defaults: list[str] = []
    if module == "pam_faillock" and deny is None:
        deny = FAILLOCK_DEFAULT_DENY
        defaults.append(f"deny={FAILLOCK_DEFAULT_DENY} (pam_faillock default, faillock.conf(5))")
    if module == "pam_faillock" and unlock is None:
        unlock = FAILLOCK_DEFAULT_UNLOCK_S
        defaults.append(f"unlock_time={FAILLOCK_DEFAULT_UNLOCK_S} (pam_faillock default, faillock.conf(5))")
    return LockoutPolicy(mechanism=module, threshold=deny, unlock_s=unlock,
                         source=source + (", /etc/security/faillock.conf" if conf else ""),
                         defaults=tuple(defaults))


def shell_tmout(host: HostView) -> tuple[int | None, bool]:
    """The smallest TMOUT set in the system profile, and whether it is readonly."""
    values, readonly = [], False
    for line in host.facts.lines("profile_tmout"):
        body = line.split(":", 1)[-1]
        for m in re.finditer(r"TMOUT\s*=\s*['\"]?(\d+)", body):
            values.append(int(m.group(1)))
        if re.search(r"(readonly|declare\s+-r\w*)\s+TMOUT", body):
            readonly = True
    return (min(values) if values else None), readonly


def _keepalive(name: str, interval: str | None, count: str | None, set_by: str) -> IdleChannel:
    i = sshd_int(interval, CLIENT_ALIVE_INTERVAL_DEFAULT) if interval is not None else None
    c = sshd_int(count, CLIENT_ALIVE_COUNT_DEFAULT) if count is not None else None
    seconds = i * c if i and c else None
    return IdleChannel(name, seconds, locked=True, kind="keepalive", interval_s=i, count=c, set_by=set_by)


def idle_timeout(facts: HostFacts) -> IdleTimeout:
    """The shell's TMOUT and sshd's ClientAlive limits: one channel per connection context
    (global ``sshd -T`` and each ``sshd -T -C``), and one per Match block setting a value no
    evaluated context shows (its criteria named nothing the batch evaluated)."""
    host = HostView(facts)
    tmout, readonly = shell_tmout(host)
    shell = IdleChannel("shell TMOUT", tmout if tmout else None, locked=readonly, kind="shell")
    global_sshd = host.sshd
    keys = ("clientaliveinterval", "clientalivecountmax")
    contexts = host.sshd_settings_by_context()
    blocks = host.sshd_match_blocks
    channels = [shell]
    seen: dict[str, set[str]] = {k: set() for k in keys}
    for label, _addr, settings in contexts:
        values = {k: settings.get(k) for k in keys}
        for k, v in values.items():
            if v is not None:
                seen[k].add(v.lower())
        by = sorted({b.name for b in blocks for k, v in values.items()
                     if v is not None and b.settings.get(k, "").lower() == v.lower()})
        channels.append(_keepalive(f"sshd {label}", values[keys[0]], values[keys[1]], ", ".join(by)))
    for b in blocks:
        unreached = {k: v for k in keys if (v := b.settings.get(k)) is not None and v.lower() not in seen[k]}
        if unreached:
            channels.append(_keepalive(f"sshd {b.name} (no evaluated context matched this block)",
                                       unreached.get(keys[0]), unreached.get(keys[1]), ""))
    ctx = host.sshd_contexts
    return IdleTimeout(
        channels=tuple(channels), source="profile scripts (TMOUT), sshd -T and sshd -T -C per context",
        record=(("TMOUT", tmout), ("TMOUT_readonly", readonly),
                ("ClientAliveInterval", sshd_int(global_sshd.get(keys[0], ""), CLIENT_ALIVE_INTERVAL_DEFAULT)),
                ("ClientAliveCountMax", sshd_int(global_sshd.get(keys[1], ""), CLIENT_ALIVE_COUNT_DEFAULT)),
                ("sshd_contexts", [label for label, _, _ in contexts] + list(ctx.notes))))


def remote_logging(facts: HostFacts) -> RemoteLogging:
    """Forwarding rules in the files rsyslog/syslog-ng load, journal-upload's URL, and the
    running programs (the profile names the forwarders). A rule whose line names no host
    (a multi-line ``action(type="omfwd" …)``) is kept as an unresolved target."""
    host = HostView(facts)
    text = host.facts.text("syslog_conf")
    groups = split_sections(text)
    rules = forward_rules(text)
    targets = [r.target or f"? ({r.kind}, target not on the line)" for r in rules]
    described = [r.describe() for r in rules]
    url = journal_upload_url(text)
    if url:
        targets.append(url_host(url))
        described.append(f"journald upload: {url}")
    files = sorted(g.split(None, 1)[1] for g in groups if g.startswith(("rsyslog ", "syslog-ng ")))
    journald = kv("\n".join(groups.get("journald", [])), sep="=")
    programs = tuple(sorted(host.process_names))
    return RemoteLogging(
        targets=tuple(targets), running=None, programs=programs, rules=tuple(described),
        configured_by=("rsyslogd", "syslog-ng", "systemd-journal-upload"),
        source="rsyslog and syslog-ng files as loaded, journald, journal-upload",
        record=(("config_files_loaded", files), ("journald_ForwardToSyslog", journald.get("ForwardToSyslog"))))


def time_source(facts: HostFacts) -> TimeSource:
    """Servers in chrony/ntp/timesyncd configuration, ``timedatectl``'s NTPSynchronized,
    and the running programs (the profile names the time daemons)."""
    host = HostView(facts)
    groups = split_sections(host.facts.text("time_sync"))
    programs = tuple(sorted(host.process_names))
    servers: list[str] = []
    for _path, line in file_lines(groups.get("sources", [])):
        if "=" in line and line.split("=", 1)[0].strip() in ("NTP", "FallbackNTP"):
            if line.split("=", 1)[1].strip() and line.startswith("NTP"):
                servers.extend(line.split("=", 1)[1].split())
        else:
            words = line.split()
            if len(words) > 1:
                servers.append(words[1])
    synced = kv("\n".join(groups.get("timedatectl", [])), sep="=").get("NTPSynchronized")
    return TimeSource(servers=tuple(sorted(set(servers))), synchronised={"yes": True, "no": False}.get(synced or ""),
                      source="chrony, ntp and timesyncd configuration; timedatectl", programs=programs,
                      record=(("NTPSynchronized", synced),))


ADAPTERS_LINUX = Adapters("linux", {
    PasswordPolicy: password_policy,
    LockoutPolicy: lockout_policy,
    IdleTimeout: idle_timeout,
    RemoteLogging: remote_logging,
    TimeSource: time_source,
})
