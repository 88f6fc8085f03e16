"""Platform-neutral facts: what a control is about, whatever the platform says it in.

Why: GB/T 22239 asks the same of a Linux host, a Windows Server and a switch (鉴别信息具有
复杂度要求, 登录失败处理, 连接超时自动退出, 审计记录的远程保存, 统一的时间源). One probe per
control judges these models against the profile's thresholds; each platform's **adapter**
(``<platform module>.password_policy(facts)`` …) derives them from its own sections
(PAM and login.defs; secedit and auditpol; ``display current-configuration``). The judge never
sees a platform's file format, and a platform never carries a threshold.

An adapter reads sections through ``HostFacts.raw``/``text``, so a cut or failed section raises
FactUnavailable and the control is 检查错误. A value the platform leaves unset is ``None`` (the
probe decides what an unset value means, with the platform's documented default named in
``defaults``); it is never silently 0.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from ihconform.facts.contract import HostFacts


@dataclass(frozen=True)
class PasswordPolicy:
    """鉴别信息复杂度与定期更换 (L3-CES1-01, L3-ABS1/CNS1 device logins)."""

    enforced: bool  # a complexity check is in force (pam_pwquality, PasswordComplexity=1, password-control …)
    min_length: int | None
    min_classes: int | None  # character classes required (of upper, lower, digit, other)
    history: int | None  # previous passwords remembered
    max_age_days: int | None
    min_age_days: int | None = None
    warn_days: int | None = None
    source: str = ""  # where it was read, for the record
    defaults: tuple[str, ...] = ()  # platform defaults applied to unset values, each with its source


@dataclass(frozen=True)
class LockoutPolicy:
    """登录失败处理 (L3-CES1-02): lock after ``threshold`` failures for ``unlock_s`` seconds."""

    mechanism: str  # "" when none is in force (pam_faillock, "Account lockout threshold", local-user … retry)
    threshold: int | None
    unlock_s: int | None  # 0: only an administrator unlocks
    source: str = ""
    defaults: tuple[str, ...] = ()


#: Platform-specific observations a model carries for the verdict's record: shown in
#: ``observed`` as they are, never judged (the judged facts are the model's own fields).
Record = tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class IdleChannel:
    """One way in and its idle limit: ``seconds`` None means it never times out.

    ``kind``: ``"shell"`` (an interactive shell's own limit, bash TMOUT), ``"session"`` (a
    session limit the service enforces: RDP MaxIdleTime, a vty idle-timeout) or
    ``"keepalive"`` (a dead-peer limit of ``interval_s`` x ``count``: sshd ClientAlive,
    judged on its two settings, each against its own profile threshold; ``seconds`` is then
    their product, for the record, and either may be None where the channel leaves it as
    the context above set it). ``set_by``: the configuration that set the values (a Match
    block, a GPO), named in a finding."""

    name: str  # "shell TMOUT", "sshd ClientAlive (Match User ops)", "RDP MaxIdleTime", "user-interface vty 0 4"
    seconds: int | None
    locked: bool = True  # the user cannot lift it (bash ``readonly TMOUT``; a GPO-enforced value)
    kind: str = "session"
    interval_s: int | None = None
    count: int | None = None
    set_by: str = ""


@dataclass(frozen=True)
class IdleTimeout:
    """连接超时自动退出 (L3-CES1-02), per channel: every way in must time out."""

    channels: tuple[IdleChannel, ...]
    source: str = ""
    record: Record = ()


@dataclass(frozen=True)
class RemoteLogging:
    """审计记录的保护/集中收集 (L3-CES1-09/10, L3-SMC1-08): where the logs are sent."""

    targets: tuple[str, ...]  # host[:port] of each remote log target
    running: bool | None  # the forwarding agent runs (None: the platform has no separate agent)
    source: str = ""
    #: the programs (processes, services) running on the object, for the probe to find the
    #: profile's forwarders among; None where the platform does not list them (``running`` then)
    programs: tuple[str, ...] | None = None
    rules: tuple[str, ...] = ()  # the configuration lines that send logs away, with where each is
    record: Record = ()
    #: the forwarders whose configuration ``targets`` were read from: running with no target
    #: there, they send nothing (rsyslogd writing local files only is not a forwarder)
    configured_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class TimeSource:
    """统一的时间源 (L3-SMC1-08 / 8.1.5.4): the servers the clock follows and whether it does."""

    servers: tuple[str, ...]
    synchronised: bool | None  # None: the platform does not say
    service: str = ""  # chronyd, systemd-timesyncd, W32Time, ntp-service
    source: str = ""
    programs: tuple[str, ...] | None = None  # as RemoteLogging.programs: the profile names the daemons
    record: Record = ()


#: Linux cuts a process's ``comm`` at 15 characters; a longer name is also found by its first 15.
COMM_LEN = 15


def programs_running(names: Iterable[str], programs: Iterable[str]) -> list[str]:
    """Which of ``names`` (the profile's list) are among the running ``programs`` (exact name,
    or the first 15 characters of a longer one: Linux's cut ``comm``), sorted."""
    have = set(programs)
    return sorted({n for n in names if n in have or (len(n) > COMM_LEN and n[:COMM_LEN] in have)})


@dataclass(frozen=True)
class Adapters:
    """One platform's adapters; a fact the platform cannot give is simply not listed."""

    platform: str
    functions: dict[type, Callable[[HostFacts], object]] = field(default_factory=dict)


#: platform -> "module:attribute" of its :class:`Adapters`. ``tests/unit/test_registry.py``
#: loads every entry.
ADAPTERS: dict[str, str] = {
    "linux": "ihconform.facts.linux:ADAPTERS_LINUX",
    "windows": "ihconform.facts.windows_adapters:ADAPTERS_WINDOWS",
    # network devices (issue 15): read from the parsed configuration (facts/devices.py)
    **{p: f"ihconform.facts.devices:{p.upper()}_ADAPTERS" for p in (
        "huawei_vrp", "huawei_usg", "hp_comware", "cisco_ios", "ruijie_os", "hillstone_stoneos", "frr",
        "linux_nftables")},
}

T = TypeVar("T")


def adapters_for(platform: str) -> Adapters | None:
    target = ADAPTERS.get(platform)
    if target is None:
        return None
    module, _, attr = target.partition(":")
    found: Adapters = getattr(importlib.import_module(module), attr)
    return found


def neutral(kind: type[T], platform: str, facts: HostFacts) -> T:
    """The ``kind`` fact of an object, by its platform's adapter. LookupError (a probe turns it
    into 检查错误 naming the platform) when the platform has no adapter for it."""
    found = adapters_for(platform)
    fn = found.functions.get(kind) if found else None
    if fn is None:
        raise LookupError(f"platform {platform!r} has no adapter for {kind.__name__}")
    value = fn(facts)
    if not isinstance(value, kind):
        raise TypeError(f"{platform} adapter for {kind.__name__} returned {type(value).__name__}")
    return value
