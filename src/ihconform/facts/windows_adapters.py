"""Windows' platform-neutral facts (facts/neutral.py), derived from the batch's sections.

Each adapter states where each value came from and which Windows defaults it applied; no
threshold lives here (the one neutral probe per control judges these models).
"""

from __future__ import annotations

import re

from ihconform.facts.contract import HostFacts
from ihconform.facts.neutral import (
    Adapters,
    IdleChannel,
    IdleTimeout,
    LockoutPolicy,
    PasswordPolicy,
    RemoteLogging,
    TimeSource,
)
from ihconform.facts.windows_parse import WindowsView

RDP_TCP = r"HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp"
TS_POLICY = r"HKLM:\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services"
SYSTEM_POLICY = r"HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System"
WEF_MANAGER = r"HKLM:\SOFTWARE\Policies\Microsoft\Windows\EventLog\EventForwarding\SubscriptionManager"
W32TIME = r"HKLM:\SYSTEM\CurrentControlSet\Services\W32Time\Parameters"
W32TIME_POLICY = r"HKLM:\SOFTWARE\Policies\Microsoft\W32Time\Parameters"

#: "Password must meet complexity requirements": three of the four character categories
#: (Microsoft Learn, "Password must meet complexity requirements").
COMPLEXITY_CLASSES = 3


def password_policy(facts: HostFacts) -> PasswordPolicy:
    """secedit ``[System Access]``. MaximumPasswordAge -1 or 0 means passwords never expire (None)."""
    w = WindowsView(facts)
    complexity = w.system_access("PasswordComplexity") == 1
    max_age = w.system_access("MaximumPasswordAge")
    defaults: tuple[str, ...] = ()
    if max_age is not None and max_age <= 0:
        defaults = (f"MaximumPasswordAge = {max_age}: passwords never expire (secedit)",)
        max_age = None
    return PasswordPolicy(
        enforced=complexity, min_length=w.system_access("MinimumPasswordLength"),
        min_classes=COMPLEXITY_CLASSES if complexity else None,
        history=w.system_access("PasswordHistorySize"), max_age_days=max_age,
        min_age_days=w.system_access("MinimumPasswordAge"),
        source="secedit /export /areas SECURITYPOLICY [System Access]", defaults=defaults)


def lockout_policy(facts: HostFacts) -> LockoutPolicy:
    """secedit LockoutBadCount (0: no lockout) and LockoutDuration in minutes (-1: until an
    administrator unlocks, recorded as 0). Windows omits LockoutDuration while the count is 0."""
    w = WindowsView(facts)
    count = w.system_access("LockoutBadCount")
    duration = w.system_access("LockoutDuration")
    unlock = None if duration is None else 0 if duration < 0 else duration * 60
    on = bool(count)
    return LockoutPolicy(mechanism="Windows account lockout policy" if on else "",
                         threshold=count if on else None, unlock_s=unlock if on else None,
                         source="secedit /export /areas SECURITYPOLICY [System Access]")


def idle_timeout(facts: HostFacts) -> IdleTimeout:
    """RDP idle limit (the Group Policy key wins over the RDP-Tcp listener's; milliseconds, 0 =
    never) and the console's "Interactive logon: Machine inactivity limit" (seconds, 0 = none)."""
    w = WindowsView(facts)
    channels = []
    if w.reg_int(r"HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server", "fDenyTSConnections") != 1 \
            or w.reg_int(TS_POLICY, "fDenyTSConnections") == 0:
        pol, lst = w.reg_int(TS_POLICY, "MaxIdleTime"), w.reg_int(RDP_TCP, "MaxIdleTime")
        ms = pol if pol is not None else lst
        channels.append(IdleChannel("RDP MaxIdleTime" + (" (Group Policy)" if pol is not None else ""),
                                    ms // 1000 if ms else None))
    secs = w.reg_int(SYSTEM_POLICY, "InactivityTimeoutSecs")
    channels.append(IdleChannel("console InactivityTimeoutSecs", secs or None))
    return IdleTimeout(channels=tuple(channels), source="registry (Terminal Services policy, RDP-Tcp, "
                                                        "Policies\\System)")


_SERVER = re.compile(r"Server=(?:https?://)?([^/,\s]+)", re.IGNORECASE)


def remote_logging(facts: HostFacts) -> RemoteLogging:
    """Windows Event Forwarding (source-initiated): the SubscriptionManager policy values name
    the collectors; the forwarding runs in the WinRM service. Agents of other products are not
    read (their configuration is theirs)."""
    w = WindowsView(facts)
    targets = []
    for value in w.reg_values(WEF_MANAGER).values():
        m = _SERVER.search(str(value))
        if m:
            targets.append(m.group(1))
    winrm = w.service("WinRM")
    return RemoteLogging(targets=tuple(targets), running=(winrm is not None and winrm.state == "Running")
                         if targets else None, source="registry EventForwarding\\SubscriptionManager; "
                                                      "service WinRM")


def time_source(facts: HostFacts) -> TimeSource:
    """W32Time (``service`` set only while it runs): Type NTP with NtpServer ("a,0x9 b,0x9"),
    NT5DS (domain hierarchy) or NoSync; the policy key wins. ``w32tm /query /source`` names what
    the clock follows now: a configured server (synchronised), the local CMOS clock or
    free-running clock (not)."""
    w = WindowsView(facts)
    kind = w.registry.get((W32TIME_POLICY, "Type")) or w.registry.get((W32TIME, "Type")) or ""
    ntp = str(w.registry.get((W32TIME_POLICY, "NtpServer")) or w.registry.get((W32TIME, "NtpServer")) or "")
    servers: tuple[str, ...] = ()
    if kind in ("NTP", "AllSync"):
        servers = tuple(s.split(",", 1)[0] for s in ntp.split() if s.split(",", 1)[0])
    elif kind == "NT5DS":
        servers = ("domain hierarchy (NT5DS)",)
    src = w.time_source
    svc = w.service("W32Time")
    running = svc is not None and svc.state == "Running"
    local = not src or "cmos" in src.lower() or "free-running" in src.lower() or "本地" in src
    synchronised: bool | None = False if (not running or local) else True if servers else None
    # ``service`` names the time service only when it runs: a probe that counts the platform's
    # built-in service as the running daemon must not count a stopped W32Time
    return TimeSource(servers=servers, synchronised=synchronised, service="W32Time" if running else "",
                      source=f"registry W32Time Parameters (Type {kind or 'unset'}); w32tm /query /source: {src!r}")


ADAPTERS_WINDOWS = Adapters("windows", {
    PasswordPolicy: password_policy, LockoutPolicy: lockout_policy, IdleTimeout: idle_timeout,
    RemoteLogging: remote_logging, TimeSource: time_source,
})
