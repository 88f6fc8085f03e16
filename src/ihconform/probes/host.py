"""Level-3 host controls (GB/T 22239-2019 8.1.4, the L3-CES1 items that live on a Linux host).

Each probe judges one control on one host from the batch gathered once per host; every
threshold comes from the profile (``check.param``), with its provenance there.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import TypeVar

from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.facts.backups import backup_agents, backup_ages_h, backup_jobs
from ihconform.facts.devices import LINUX_BASED, observes_log_forwarding
from ihconform.facts.host import HostView, kv
from ihconform.facts.logs import log_forward_targets, logrotate_retention
from ihconform.facts.neutral import (
    IdleChannel,
    IdleTimeout,
    LockoutPolicy,
    PasswordPolicy,
    RemoteLogging,
    TimeSource,
    neutral,
    programs_running,
)
from ihconform.facts.packages import package_cache_mtime, pending_security_updates
from ihconform.facts.sshd import OUTSIDE_ADDR, SSHD_CTX_FACTS, management_addresses, sshd_int
from ihconform.inventory import Host, NetworkDevice
from ihconform.registry import probe

T = TypeVar("T")


def _login_accounts_with_password(host: HostView) -> list[str]:
    """Accounts that can log in with a password that can be typed (see AccountState)."""
    from ihconform.facts.host import PasswordState

    return sorted(a.name for a in host.account_states.values()
                  if a.login_shell and a.password is PasswordState.SET)


def _shells_note(host: HostView) -> str:
    return "/etc/shells" if host.login_shells is not None else \
        "no /etc/shells on the host: login shell judged by the shell's name (not nologin/false)"


@probe("host.identities", facts=('passwd', 'shadow', 'shells', 'now'))
def test_identities(check: Check, host: HostView) -> None:
    """Unique identities and no empty passwords (L3-CES1-01 a). An empty hash means no
    password is asked; an account whose expiry date has passed is disabled and not counted."""
    from ihconform.facts.host import PasswordState

    names = [a.name for a in host.accounts]
    uids: dict[int, list[str]] = {}
    for a in host.accounts:
        uids.setdefault(a.uid, []).append(a.name)
    dup_names = sorted({n for n in names if names.count(n) > 1})
    dup_uids = {str(u): n for u, n in uids.items() if len(n) > 1}
    states = host.account_states
    today = host.now // 86400
    empty = sorted(n for n, e in host.shadow.items() if e.state(today) is PasswordState.NONE)
    check.judge_parts(
        {"unique user names": not dup_names, "unique UIDs": not dup_uids, "no empty passwords": not empty},
        observed={"duplicate_names": dup_names, "duplicate_uids": dup_uids, "empty_password": empty,
                  "empty_password_login_shell": [n for n in empty if n in states and states[n].login_shell],
                  "login_shells_from": _shells_note(host)},
        expected="every account unique by name and UID; none without a password")


def _neutral(check: Check, host: HostView, kind: type[T]) -> T | None:
    """The ``kind`` fact of the judged host or network device by its platform's adapter; None
    after recording 检查错误 naming the platform when it has none (an adapter's own failure still
    raises), or 不适用 on a Linux-based device, whose host is judged instead."""
    ref = check.obj.ref
    if not isinstance(ref, Host | NetworkDevice):
        raise FactUnavailable(f"{check.obj.id} is neither a host nor a network device")
    if isinstance(ref, NetworkDevice) and ref.platform in LINUX_BASED and not (
            kind is RemoteLogging and observes_log_forwarding(ref.platform, host.facts)):
        check.not_applicable(f"{ref.platform}: the logins, clock and log forwarding of a Linux-based device are "
                             f"its Linux host's, judged there (host-os controls)")
        return None
    try:
        return neutral(kind, ref.platform, host.facts)
    except KeyError:
        raise
    except LookupError as exc:
        check.error(f"{exc} ({ref.id})")
        return None


@probe("host.password_quality", facts=('pwquality', 'pam', 'pwhistory_conf'))
def test_password_quality(check: Check, host: HostView) -> None:
    """Password complexity and history (L3-CES1-01: 鉴别信息具有复杂度要求), judged on the
    platform-neutral PasswordPolicy; an unset value counts as none (0), except where the
    adapter names the module's documented default (``defaults``)."""
    min_len, min_classes, history = (check.int_param("min_length"), check.int_param("min_classes"),
                                     check.int_param("history"))
    policy = _neutral(check, host, PasswordPolicy)
    if policy is None:
        return
    minlen, classes, remember = policy.min_length or 0, policy.min_classes or 0, policy.history or 0
    check.judge_parts(
        {"complexity module in PAM": policy.enforced, f"minlen >= {min_len}": minlen >= min_len,
         f"character classes >= {min_classes}": classes >= min_classes,
         f"history remember >= {history}": remember >= history},
        observed={"pam_module": policy.enforced, "minlen": minlen, "classes": classes, "remember": remember,
                  **({"defaults": list(policy.defaults)} if policy.defaults else {})},
        expected={"minlen": f">= {min_len}", "classes": f">= {min_classes}", "remember": f">= {history}"})


@probe("host.password_ageing", facts=('passwd', 'shadow', 'login_defs', 'shells', 'now'))
def test_password_ageing(check: Check, host: HostView) -> None:
    """Passwords changed regularly, checked per user (login.defs only affects new accounts)."""
    max_days, min_days, warn = (check.int_param("max_days"), check.int_param("min_days"),
                                check.int_param("warn_days"))
    defs = host.login_defs
    bad_users = {}
    for name in _login_accounts_with_password(host):
        e = host.shadow[name]
        issues = []
        if e.max_days is None or e.max_days > max_days:
            issues.append(f"max={e.max_days}")
        if e.min_days is None or e.min_days < min_days:
            issues.append(f"min={e.min_days}")
        if e.warn_days is None or e.warn_days < warn:
            issues.append(f"warn={e.warn_days}")
        if issues:
            bad_users[name] = ", ".join(issues)

    def num(key: str) -> int | None:
        v = defs.get(key, "")
        return int(v) if v.isdigit() else None

    d_max, d_min, d_warn = num("PASS_MAX_DAYS"), num("PASS_MIN_DAYS"), num("PASS_WARN_AGE")
    check.judge_parts(
        {"login.defs defaults": d_max is not None and d_max <= max_days and (d_min or 0) >= min_days
         and (d_warn or 0) >= warn,
         "every interactive account": not bad_users},
        observed={"login_defs": {"PASS_MAX_DAYS": d_max, "PASS_MIN_DAYS": d_min, "PASS_WARN_AGE": d_warn},
                  "accounts_out_of_policy": bad_users},
        expected={"max_days": f"<= {max_days}", "min_days": f">= {min_days}", "warn_days": f">= {warn}"})


@probe("host.login_lockout", facts=('pam', 'faillock_conf'))
def test_login_lockout(check: Check, host: HostView) -> None:
    """Login-failure handling (L3-CES1-02): lock after N failures for at least T seconds
    (0: only an administrator unlocks), judged on the platform-neutral LockoutPolicy."""
    max_attempts, min_unlock = check.int_param("max_attempts"), check.int_param("min_unlock_s")
    lock = _neutral(check, host, LockoutPolicy)
    if lock is None:
        return
    deny, unlock = lock.threshold, lock.unlock_s
    ok_deny = deny is not None and 0 < deny <= max_attempts
    ok_unlock = unlock is not None and (unlock == 0 or unlock >= min_unlock)
    check.judge(bool(lock.mechanism) and ok_deny and ok_unlock,
                observed={"module": lock.mechanism or None, "deny": deny, "unlock_time": unlock},
                expected={"deny": f"1..{max_attempts}", "unlock_time": f">= {min_unlock} s or 0 (admin unlock)"},
                reason="" if lock.mechanism else f"no login-failure lockout in force ({lock.source})")


def _keepalive_findings(ch: IdleChannel, imax: int, cmax: int) -> list[str]:
    """A keep-alive channel's settings beyond the limits, naming what set them."""
    by = f" (set by {ch.set_by})" if ch.set_by else ""
    out = []
    if ch.interval_s is not None and not 0 < ch.interval_s <= imax:
        out.append(f"{ch.name}: keep-alive interval {ch.interval_s} s{by}")
    if ch.count is not None and not 0 < ch.count <= cmax:
        out.append(f"{ch.name}: keep-alive count {ch.count}{by}")
    return out


@probe("host.idle_timeout", facts=('profile_tmout', 'sshd', SSHD_CTX_FACTS, 'sshd_config'))
def test_idle_timeout(check: Check, host: HostView) -> None:
    """Idle sessions end automatically (L3-CES1-02), judged on the platform-neutral
    IdleTimeout: every shell/session channel has a locked limit within the profile's, and
    every keep-alive channel (sshd ClientAlive, one per connection context: a Match block
    may lift it for some) keeps interval and count within theirs.
    "shell idle timeout on" is unmet when a shell never times out (no TMOUT, or TMOUT=0)."""
    tmax = check.int_param("shell_tmout_max_s")
    imax = check.int_param("sshd_client_alive_interval_max_s")
    cmax = check.int_param("sshd_client_alive_count_max")
    idle = _neutral(check, host, IdleTimeout)
    if idle is None:
        return
    shells = [c for c in idle.channels if c.kind != "keepalive"]
    loose = sorted({f for c in idle.channels if c.kind == "keepalive" for f in _keepalive_findings(c, imax, cmax)})
    check.judge_parts(
        {"shell idle timeout on": bool(shells) and all(c.seconds is not None and c.seconds > 0 for c in shells),
         "shell TMOUT": bool(shells) and all(c.seconds is not None and 0 < c.seconds <= tmax and c.locked
                                             for c in shells),
         "sshd ClientAlive": not loose},
        observed={**dict(idle.record), "sshd_contexts_failing": loose},
        expected={"TMOUT": f"1..{tmax} s, readonly", "ClientAliveInterval": f"1..{imax} s",
                  "ClientAliveCountMax": f"1..{cmax}", "sshd": "in every connection context"})


# ---- sshd per connection context -----------------------------------------------------------


def _int_setting(settings: dict[str, str], key: str, default: int) -> int:
    return sshd_int(settings.get(key, ""), default)


def _contexts(host: HostView) -> list[tuple[str, str, dict[str, str]]]:
    return host.sshd_settings_by_context()


def _context_labels(host: HostView) -> list[str]:
    ctx = host.sshd_contexts
    return [label for label, _, _ in _contexts(host)] + list(ctx.notes)


def _set_by(host: HostView, key: str, value: str) -> str:
    """The Match blocks that set ``key`` to ``value``, for naming in a finding."""
    names = [b.name for b in host.sshd_match_blocks if b.settings.get(key, "").lower() == value.lower()]
    return f" (set by {', '.join(names)})" if names else ""


def _sshd_findings(host: HostView, key: str, bad: Callable[[str], bool],
                   where: Callable[[str], bool] = lambda addr: True) -> list[str]:
    """Every context (whose address passes ``where``) in which ``key`` has a bad value, naming
    the Match block that set it; and every Match block that sets a bad value no evaluated
    context reached (its criteria named nothing the batch evaluated)."""
    out: list[str] = []
    seen_values: set[str] = set()
    for label, addr, settings in _contexts(host):
        value = settings.get(key)
        if value is not None and where(addr) and bad(value.lower()):
            out.append(f"{label}: {key} {value}{_set_by(host, key, value)}")
            seen_values.add(value.lower())
    for b in host.sshd_match_blocks:
        value = b.settings.get(key)
        if value is not None and value.lower() not in seen_values and bad(value.lower()) \
                and _block_reaches_outside(b.criterion("address"), where):
            out.append(f"{b.name}: {key} {value} (no evaluated context matched this block)")
    return out


def _block_reaches_outside(addresses: list[str], where: Callable[[str], bool]) -> bool:
    """A block limited to addresses ``where`` rejects (management ones) does not count."""
    positive = [a for a in addresses if not a.startswith("!")]
    if not positive:
        return where(OUTSIDE_ADDR)
    return any(where(a.split("/")[0]) or "*" in a for a in positive)


def _algorithm_hits(algorithms: str, patterns: list[str]) -> list[str]:
    """Algorithms equal to, or matching a glob of, one of ``patterns`` (exact names, so
    ``diffie-hellman-group1-sha1`` never matches ``diffie-hellman-group16-sha512``)."""
    return sorted(a for a in algorithms.split(",")
                  if a and any(fnmatch.fnmatchcase(a, str(p)) for p in patterns))


def _algorithms_everywhere(host: HostView, key: str, patterns: list[str]) -> list[str]:
    hits: set[str] = set()
    for _, _, settings in _contexts(host):
        hits.update(_algorithm_hits(settings.get(key, ""), patterns))
    return sorted(hits)


@probe("host.remote_admin", facts=('listen', 'sshd', SSHD_CTX_FACTS, 'sshd_config'))
def test_remote_admin(check: Check, host: HostView) -> None:
    """Remote administration cannot be eavesdropped (L3-CES1-03): no cleartext remote shells,
    SSH with no broken cipher, MAC or key exchange, bounded authentication tries, in every
    connection context. Legacy algorithms an assessor accepts in a stock OpenSSH (hmac-sha1,
    umac-64, diffie-hellman-group14-sha1: docs/high-risk-ssh.md) are noted, not failed."""
    cleartext_ports = set(check.list_param("cleartext_ports"))
    weak_c, weak_m, weak_k = (check.list_param("weak_ciphers"), check.list_param("weak_macs"),
                              check.list_param("weak_kex"))
    legacy = [str(p) for p in check.list_param("legacy_algorithms")]
    max_tries = check.int_param("max_auth_tries")
    shared = set(check.list_param("shared_cleartext_ports"))
    shells = {str(p) for p in check.list_param("remote_shell_processes")}
    # a port shared with another service (514/tcp: rsh and syslog over TCP) counts when an rsh
    # daemon or an inet super-server holds it, or when the holder is not known
    open_clear = sorted({f"{s.proto}/{s.port}" + (f" ({s.process})" if s.process else "") for s in host.listening
                         if s.port in cleartext_ports and s.address not in ("127.0.0.1", "::1")
                         and (s.port not in shared or not s.process or s.process in shells)})
    bad_c = _algorithms_everywhere(host, "ciphers", weak_c)
    bad_m = _algorithms_everywhere(host, "macs", weak_m)
    bad_k = _algorithms_everywhere(host, "kexalgorithms", weak_k)
    noted = sorted({a for key in ("ciphers", "macs", "kexalgorithms")
                    for a in _algorithms_everywhere(host, key, legacy)} - set(bad_c + bad_m + bad_k))
    tries_over = _sshd_findings(host, "maxauthtries", lambda v: sshd_int(v, 6) > max_tries)
    check.judge_parts(
        {"no cleartext remote shell": not open_clear, "strong ciphers": not bad_c, "strong MACs": not bad_m,
         "strong key exchange": not bad_k, f"MaxAuthTries <= {max_tries}": not tries_over},
        observed={"cleartext_listening": open_clear, "weak_ciphers": bad_c, "weak_macs": bad_m,
                  "weak_kex": bad_k, "legacy_but_accepted": noted,
                  "MaxAuthTries": _int_setting(host.sshd, "maxauthtries", 6), "MaxAuthTries_over": tries_over,
                  "sshd_contexts": _context_labels(host)},
        expected={"cleartext_ports": "none listening", "ciphers/macs/kex": "no broken algorithm in any context",
                  "MaxAuthTries": f"<= {max_tries} in every context"},
        reason=("legacy algorithms offered (accepted in a stock OpenSSH, see docs/high-risk-ssh.md): "
                + ", ".join(noted)) if noted and not (open_clear or bad_c or bad_m or bad_k or tries_over)
        else "")


_ROOT_RANK = {"no": 0, "forced-commands-only": 1, "prohibit-password": 2, "without-password": 2, "yes": 3}


def _root_login(check: Check, host: HostView) -> tuple[dict[str, bool], dict[str, object]]:
    """The remote-root-login parts of L3-CES1-06, in every connection context: PermitRootLogin
    within the profile's list, and (decisive) never ``yes``, which lets root log in by password."""
    allowed = [str(x) for x in check.list_param("permit_root_login_allowed")]
    not_allowed = _sshd_findings(host, "permitrootlogin", lambda v: v not in allowed)
    with_password = _sshd_findings(host, "permitrootlogin", lambda v: _ROOT_RANK.get(v, 3) >= 3)
    parts = {"remote root login": not not_allowed, "no root login by password": not with_password}
    observed: dict[str, object] = {"PermitRootLogin": host.sshd.get("permitrootlogin", ""),
                                   "PermitRootLogin_not_allowed": not_allowed,
                                   "root_password_login": with_password, "sshd_contexts": _context_labels(host)}
    return parts, observed


@probe("host.default_accounts", facts=('passwd', 'shadow', 'sshd', 'shells', 'now', SSHD_CTX_FACTS, 'sshd_config'),
       parts=("only root has UID 0", "default accounts disabled", "remote root login", "no root login by password"))
def test_default_accounts(check: Check, host: HostView) -> None:
    """Default accounts removed or disabled, root not logging in remotely (L3-CES1-06). A
    default account is usable when it has a login shell and a password state that lets a
    login through: an empty hash (no password) as much as a set one."""
    defaults = set(check.list_param("default_accounts"))
    allowed_root = [str(x) for x in check.list_param("permit_root_login_allowed")]
    root_parts, root_observed = _root_login(check, host)
    uid0 = sorted(a.name for a in host.accounts if a.uid == 0 and a.name != "root")
    states = host.account_states
    usable = sorted(n for n, a in states.items() if n in defaults and a.can_log_in)
    check.judge_parts(
        {"only root has UID 0": not uid0, "default accounts disabled": not usable, **root_parts},
        observed={"uid0_besides_root": uid0, "usable_default_accounts": usable, **root_observed,
                  "usable_how": {n: f"{states[n].shell}, password {states[n].password}" for n in usable},
                  "login_shells_from": _shells_note(host)},
        expected={"PermitRootLogin": allowed_root, "default accounts": "locked or nologin"})


@probe("host.log_retention", facts=("logrotate", "syslog_conf", "processes"))
def test_log_retention(check: Check, host: HostView) -> None:
    """Logs kept at least 180 days (网络安全法 第二十一条; L3-CES1-14, L3-SMC1-10).

    Where the host forwards its logs to a central log host the inventory declares (a host
    with role ``log``), the 180 days are the central store's to keep, not logrotate's: a
    shorter local rotation is then no failure, and the control is 未检查 here, saying that
    the retention is a declared fact of the central store (judged on that host, or by its
    attestation), never 符合 on the strength of the forwarding alone."""
    min_days = check.int_param("min_days")
    candidates = check.list_param("system_logs")
    central_roles = {str(r) for r in check.list_param("central_log_roles")}
    text = host.facts.text("logrotate")
    kept = logrotate_retention(text, candidates)
    present = {k: v for k, v in kept.items() if v is not None}
    short = {k: v for k, v in present.items() if v < min_days}
    if not present or short:
        declared = {a: h.id for h in check.inventory.hosts if central_roles & set(h.roles)
                    for a in (h.id, h.address, *h.public_addresses)}
        targets = log_forward_targets(host)
        central = sorted({declared[t] for t in targets if t in declared})
        if central:
            local = "; ".join(f"{k} {v} 天" for k, v in short.items()) or "本机未配置 logrotate 轮转"
            check.not_checked(
                f"日志外发至声明的集中日志服务器 {', '.join(central)}，留存期由集中存储保证（本机 {local}）；"
                f"集中存储保留不少于 {min_days} 天为声明事实，在该主机或其证明材料上核查 / logs forwarded to "
                f"the declared central log host {', '.join(central)}: retention is the central store's",
                observed={"retention_days": present, "forwarded_to": targets, "central_log_hosts": central},
                expected=f">= {min_days} days (central store)")
            return
    daemons = host.running(["rsyslogd", "syslog-ng", "syslogd", "systemd-journald"])  # a cut list: 检查错误
    if not present and not daemons:
        # a stock minimal install (Debian 12/13 log to the journal only; no journald without systemd):
        # nothing writes the system logs at all, so nothing keeps them for 180 days
        check.judge(False, observed={"retention_days": {}, "log_daemons_running": []},
                    expected=f">= {min_days} days",
                    reason="本机未运行日志服务（rsyslog、syslog-ng、journald），系统日志未留存 / no log daemon runs: "
                           "the system logs are not kept at all")
        return
    if not present:
        raise FactUnavailable("no logrotate stanza covers the system logs "
                              f"({', '.join(candidates)}); retention cannot be read")
    check.judge(not short, observed={"retention_days": present}, expected=f">= {min_days} days",
                reason=("; ".join(f"{k} kept {v} days" for k, v in short.items())
                        or f"system logs kept >= {min_days} days"))


@probe("host.password_hash", facts=('shadow', 'login_defs'))
def test_password_hash(check: Check, host: HostView) -> None:
    """Stored passwords protected by strong hashing (L3-CES1-28: 鉴别信息存储保密性)."""
    allowed = {str(x) for x in check.list_param("allowed_schemes")}
    allowed_methods = {str(x).upper() for x in check.list_param("allowed_encrypt_methods")}
    weak = {n: e.scheme for n, e in host.shadow.items()
            if e.has_password and (e.scheme == "DES" or e.scheme.removeprefix("HASH/") not in allowed)}
    method = host.login_defs.get("ENCRYPT_METHOD", "").upper()
    check.judge_parts(
        {"stored hashes": not weak, "ENCRYPT_METHOD": method in allowed_methods},
        observed={"weak_hashes": weak, "ENCRYPT_METHOD": method or None},
        expected={"schemes": sorted(allowed), "ENCRYPT_METHOD": sorted(allowed_methods)})


@probe("host.high_risk_ports", facts=('listen',))
def test_high_risk_ports(check: Check, host: HostView) -> None:
    """No high-risk ports listening beyond loopback (L3-CES1-18). A port the host's declared
    role needs (``role_allowed_ports`` ``role:port``, e.g. ``log:514``: a central log host
    receives syslog on 514, which is also rsh's port) is not counted on a host of that role."""
    risky = {int(p) for p in check.list_param("ports")}
    roles = set(check.obj.ref.roles) if isinstance(check.obj.ref, Host) else set()
    exempt = {int(port) for role, _, port in (str(x).partition(":") for x in check.list_param("role_allowed_ports"))
              if role in roles and port.isdigit()}
    found = sorted({f"{s.proto}/{s.port} {s.process or '?'} on {s.address}" for s in host.listening
                    if s.port in risky - exempt and s.address not in ("127.0.0.1", "::1", "localhost")})
    check.judge(not found, observed={"high_risk_listening": found, "allowed_for_role": sorted(exempt)},
                expected=f"none of {sorted(risky - exempt)}",
                reason="; ".join(found) or "no high-risk port open")


# ---- remaining level-3 host controls -------------------------------------------------------


def _bastion_addresses(check: Check) -> set[str]:
    """Bastion (堡垒机) addresses: the profile's list plus every inventory host with role
    ``bastion`` (other than the host judged: a bastion is not "behind" itself)."""
    addrs = {str(a) for a in check.list_param("bastion_addresses")}
    for h in check.inventory.hosts:
        if "bastion" in h.roles and h.id != check.obj.id:
            addrs.add(h.address)
    return addrs


def _allow_users_from(host: HostView) -> list[tuple[str, str]]:
    """sshd AllowUsers entries as (user pattern, host pattern); host "" when unrestricted."""
    out = []
    for entry in host.sshd.get("allowusers", "").replace(",", " ").split():
        user, _, src = entry.partition("@")
        out.append((user, src))
    return out


def _addr_in(src: str, allowed: set[str]) -> bool:
    """``src`` (an address, CIDR or sshd pattern) lies within one of ``allowed``."""
    import ipaddress

    try:
        net = ipaddress.ip_network(src, strict=False)
    except ValueError:
        return src in allowed
    for a in allowed:
        try:
            if net.subnet_of(ipaddress.ip_network(a, strict=False)):  # type: ignore[arg-type]
                return True
        except (ValueError, TypeError):
            continue
    return False


def _ssh_firewall_sources(host: HostView, port: int) -> tuple[list[str], bool]:
    """Source addresses of firewall rules accepting TCP ``port`` and whether any such rule
    has no source (open to all). nftables and iptables-save text, best effort."""
    sources: list[str] = []
    open_rule = False
    for line in host.facts.lines("firewall"):
        text = line.strip()
        if "accept" not in text.lower() or not re.search(rf"dport\s+(\{{[^}}]*\b{port}\b[^}}]*\}}|{port}\b)",
                                                        text):
            continue
        m = re.search(r"(?:ip6?\s+saddr|-s)\s+(\{[^}]*\}|\S+)", text)
        if m:
            sources.extend(s.strip() for s in m.group(1).strip("{} ").split(",") if s.strip())
        else:
            open_rule = True
    return sources, open_rule


def _firewall_default_drop(host: HostView) -> bool:
    """Inbound default deny, firewalld's reject-by-default zones included (see
    :func:`ihconform.facts.host.input_default_deny`)."""
    from ihconform.facts.host import input_default_deny

    return input_default_deny(host.facts.text("firewall"))


def _hosts_allow_sshd(host: HostView) -> tuple[list[str], bool]:
    """Clients hosts.allow grants sshd, and whether hosts.deny denies everyone else."""
    allowed: list[str] = []
    deny_all = False
    for path, line in host_lines(host, "hosts_access"):
        daemons, _, clients = line.partition(":")
        d = {x.strip() for x in daemons.replace(",", " ").split()}
        c = [x.strip() for x in clients.split(":")[0].replace(",", " ").split()]
        if path.endswith("hosts.allow") and ("sshd" in d or "ALL" in d):
            allowed.extend(c)
        if path.endswith("hosts.deny") and ("sshd" in d or "ALL" in d) and "ALL" in c:
            deny_all = True
    return allowed, deny_all


def host_lines(host: HostView, section: str) -> list[tuple[str, str]]:
    from ihconform.facts.host import file_lines

    return file_lines(host.facts.lines(section))


#: Keywords a Match block restricts logins with (who may log in at all from those addresses).
_RESTRICTING = ("denyusers", "denygroups", "allowusers", "allowgroups")
#: Keywords whose value in a Match block may loosen what the global configuration sets.
_LOOSER: dict[str, Callable[[str, str], bool]] = {
    "passwordauthentication": lambda block, glob: block == "yes" and glob != "yes",
    "kbdinteractiveauthentication": lambda block, glob: block == "yes" and glob != "yes",
    "challengeresponseauthentication": lambda block, glob: block == "yes" and glob != "yes",
    "permitemptypasswords": lambda block, glob: block == "yes" and glob != "yes",
    "permitrootlogin": lambda block, glob: _ROOT_RANK.get(block, 3) > _ROOT_RANK.get(glob, 3),
    "authenticationmethods": lambda block, glob: block == "any" and glob != "any",
    "maxauthtries": lambda block, glob: sshd_int(block, 6) > sshd_int(glob, 6),
}


def _loosens(host: HostView, settings: dict[str, str]) -> list[str]:
    """The settings of a Match block that are looser than the global ones."""
    return [f"{k} {v}" for k, v in settings.items()
            if k in _LOOSER and _LOOSER[k](v.lower(), host.sshd.get(k, "").lower())]


def _match_address_blocks(host: HostView) -> tuple[list[str], list[str]]:
    """Match Address blocks that restrict who may log in from those addresses (and loosen
    nothing), and the others, each named with what it sets. A block that only enables
    PasswordAuthentication for some addresses is no address restriction."""
    restricting, other = [], []
    for b in host.sshd_match_blocks:
        if not b.criterion("address"):
            continue
        looser = _loosens(host, b.settings)
        if any(k in b.settings for k in _RESTRICTING) and not looser:
            restricting.append(b.name)
        else:
            sets = ", ".join(f"{k} {v}" for k, v in b.settings.items()) or "nothing"
            other.append(f"{b.name} sets {sets}" + (" (loosens, restricts nothing)" if looser else ""))
    return restricting, other


_PASSWORD_METHODS = {"password", "keyboard-interactive", "keyboard-interactive:pam"}


def _password_only(settings: dict[str, str], otp_active: bool) -> bool:
    """A context in which a password alone logs a user in."""
    methods = settings.get("authenticationmethods", "any").lower()
    if methods != "any":
        return any(set(chain.split(",")) <= _PASSWORD_METHODS and len(set(chain.split(","))) < 2
                   for chain in methods.split())
    kbd = settings.get("kbdinteractiveauthentication", settings.get("challengeresponseauthentication", "no"))
    return settings.get("passwordauthentication", "yes").lower() == "yes" or (
        kbd.lower() == "yes" and not otp_active)


@probe("host.mfa", facts=("sshd", SSHD_CTX_FACTS, "sshd_config", "pam", "firewall", "hosts_access"))
def test_mfa(check: Check, host: HostView) -> None:
    """Two or more authentication techniques for administrators, one cryptographic
    (L3-CES1-04): sshd chained AuthenticationMethods, a PAM one-time-password module, or
    administration reachable only from the bastion (堡垒机, which carries the MFA). The bastion
    itself is judged as the bastion: key-only SSH (the cryptographic technique) in every
    context, its administrators' second factor attested under L3-CES1-04.bastion. In every
    context from outside the management addresses a password alone must not log in, and no
    context accepts an empty password."""
    min_methods = check.int_param("min_auth_methods")
    otp_modules = [str(m) for m in check.list_param("otp_pam_modules")]
    bastions = _bastion_addresses(check)
    me = check.inventory.host(check.obj.id)
    mgmt = set(management_addresses(check.inventory, me)) | bastions
    is_bastion = "bastion" in me.roles
    sshd = host.sshd
    methods = sshd.get("authenticationmethods", "any")
    chains = [c.split(",") for c in methods.split()] if methods != "any" else []
    chained = bool(chains) and all(len(set(c)) >= min_methods for c in chains)
    wanted = [(m, re.compile(rf"\b{re.escape(m)}(\.so)?\b")) for m in otp_modules]
    otp = sorted({m for path, line in host.pam_lines
                  if line.split()[:1] == ["auth"]
                  and (path.endswith("sshd") or path.endswith(("common-auth", "system-auth", "password-auth")))
                  for m, pattern in wanted if pattern.search(line)})
    otp_active = bool(otp) and sshd.get("usepam", "no") == "yes" and (
        sshd.get("kbdinteractiveauthentication", sshd.get("challengeresponseauthentication", "no")) == "yes"
        or "keyboard-interactive" in methods)
    allow = _allow_users_from(host)
    via_allow = bool(allow) and bool(bastions) and all(src and _addr_in(src, bastions) for _, src in allow)
    port = int(sshd.get("port", "22").split(",")[0] or 22)
    fw_sources, fw_open = _ssh_firewall_sources(host, port)
    via_fw = (bool(bastions) and bool(fw_sources) and not fw_open and _firewall_default_drop(host)
              and all(_addr_in(s, bastions) for s in fw_sources))
    ha_allowed, ha_deny_all = _hosts_allow_sshd(host)
    via_tcpw = bool(bastions) and ha_deny_all and bool(ha_allowed) and all(
        _addr_in(c, bastions) for c in ha_allowed)
    contexts = _contexts(host)
    key_only = not any(_password_only(st, otp_active) for _, _, st in contexts) and all(
        st.get("pubkeyauthentication", "yes").lower() == "yes" for _, _, st in contexts)
    ways = {"AuthenticationMethods": chained, "PAM OTP": otp_active,
            "bastion-only (AllowUsers)": via_allow, "bastion-only (firewall)": via_fw,
            "bastion-only (hosts.allow)": via_tcpw}
    if is_bastion:
        ways = {"bastion itself (key-only SSH; second factor: L3-CES1-04.bastion)": key_only, **ways}
    met = [k for k, v in ways.items() if v]

    def outside(addr: str) -> bool:
        return addr == "" or not _addr_in(addr, mgmt)

    password_only = [
        f"{label}: PasswordAuthentication {st.get('passwordauthentication', '')}"
        + _set_by(host, "passwordauthentication", st.get("passwordauthentication", ""))
        for label, addr, st in contexts if outside(addr) and _password_only(st, otp_active)]
    for b in host.sshd_match_blocks:
        looser = [x for x in _loosens(host, b.settings)
                  if x.startswith(("passwordauthentication", "kbdinteractive", "challenge"))]
        if looser and _block_reaches_outside(b.criterion("address"), outside) \
                and not any(b.name in f for f in password_only):
            password_only.append(f"{b.name} sets {', '.join(looser)}")
    empty = _sshd_findings(host, "permitemptypasswords", lambda v: v == "yes")
    check.judge_parts(
        {"second factor": bool(met), "no password-only login from non-management addresses": not password_only,
         "no empty-password login": not empty},
        observed={"AuthenticationMethods": methods, "otp_pam_modules": otp, "AllowUsers":
                  [f"{u}@{s}" if s else u for u, s in allow], "ssh_firewall_sources": fw_sources,
                  "hosts_allow_sshd": ha_allowed, "bastion_addresses": sorted(bastions),
                  "management_addresses": sorted(mgmt), "judged_as": "bastion" if is_bastion else "server",
                  "met_by": met, "password_only_login": password_only, "empty_password_login": empty,
                  "sshd_contexts": _context_labels(host)},
        expected=f"AuthenticationMethods with >= {min_methods} methods, a PAM OTP module, or SSH "
                 "accepted only from the bastion; no password-only login from outside the management "
                 "addresses in any context; PermitEmptyPasswords no",
        reason=_mfa_reason(met, password_only, empty, bool(bastions), is_bastion))


def _mfa_reason(met: list[str], password_only: list[str], empty: list[str], bastions: bool,
                is_bastion: bool) -> str:
    why: list[str] = []
    if met:
        why.append("双因素/堡垒机: " + ", ".join(met))
    elif is_bastion:
        why.append("no second factor: the bastion's own SSH accepts passwords or no keys")
    else:
        why.append("no second factor: AuthenticationMethods not chained, no OTP module in PAM, and SSH is not "
                   "restricted to bastion addresses" + ("" if bastions else " (no bastion declared)"))
    if password_only:
        why.append("password-only login from non-management addresses: " + "; ".join(password_only))
    if empty:
        why.append("empty passwords accepted: " + "; ".join(empty))
    return "; ".join(why)


def _sudo_rules(host: HostView) -> list[tuple[str, str, str]]:
    """(file, principal, rule text) of every user specification in sudoers."""
    aliases: dict[str, list[str]] = {}
    rules = []
    for path, line in host.sudoers_lines:
        if line.startswith(("#include", "@include", "Defaults", "Host_Alias", "Runas_Alias", "Cmnd_Alias")):
            continue
        if line.startswith("User_Alias"):
            name, _, members = line[len("User_Alias"):].partition("=")
            aliases[name.strip()] = [m.strip() for m in members.split(",")]
            continue
        if "=" not in line:
            continue
        who = line.split(None, 1)[0]
        for p in who.split(","):
            for principal in aliases.get(p, [p]):
                rules.append((path, principal, line))
    return rules


@probe("host.sudoers", facts=("sudoers",))
def test_sudoers(check: Check, host: HostView) -> None:
    """Least privilege (L3-CES1-08): no passwordless sudo to everything for accounts that are
    not administrators."""
    admin_groups = {str(g) for g in check.list_param("admin_groups")}
    admin_users = {str(u) for u in check.list_param("admin_users")}
    bad = []
    for path, principal, rule in _sudo_rules(host):
        spec = rule.split("=", 1)[1]
        if not re.search(r"NOPASSWD\s*:\s*(\([^)]*\)\s*)?ALL\b", spec) and not re.search(
                r"^\s*\([^)]*\)\s*NOPASSWD\s*:\s*ALL\b", spec):
            continue
        is_admin = (principal.startswith("%") and principal[1:] in admin_groups) or principal in admin_users
        if not is_admin:
            bad.append(f"{principal} ({path}: {rule})")
    check.judge(not bad, observed={"nopasswd_all_non_admin": bad},
                expected={"NOPASSWD: ALL": f"only {sorted(admin_users)} or groups {sorted(admin_groups)}"},
                reason="; ".join(bad) or "no passwordless full sudo for non-administrators")


def _octal(value: object) -> int:
    text = str(value).strip()
    if not re.fullmatch(r"0?[0-7]{3,4}", text):
        raise TypeError(f"expected an octal file mode such as 640, got {value!r}")
    return int(text, 8)


@probe("host.file_permissions", facts=("file_modes",))
def test_file_permissions(check: Check, host: HostView) -> None:
    """Access control on key files (L3-CES1-10): no permission bit beyond the allowed mode,
    owned by root (group root or shadow)."""
    from ihconform.facts.host import parse_modes

    limits: dict[str, int] = {}
    for item in check.list_param("max_modes"):
        path, _, mode = str(item).rpartition(":")
        if not path:
            raise TypeError(f"max_modes entries are 'path:mode', got {item!r}")
        limits[path] = _octal(mode)
    owners = {str(o) for o in check.list_param("allowed_owners")}
    groups = {str(g) for g in check.list_param("allowed_groups")}
    present, absent = parse_modes(host.facts.lines("file_modes"))
    missing = sorted(p for p in limits if p not in present and p not in absent)
    if missing:
        raise FactUnavailable(f"modes of {', '.join(missing)} were not gathered (not in KEY_FILES)")
    bad, seen = {}, {}
    for path, limit in sorted(limits.items()):
        if path in absent:
            continue
        fm = present[path]
        seen[path] = f"{fm.mode:o} {fm.owner}:{fm.group}"
        problems = []
        if fm.mode & ~limit & 0o7777:
            problems.append(f"mode {fm.mode:o} > {limit:o}")
        if fm.owner not in owners:
            problems.append(f"owner {fm.owner}")
        if fm.group not in groups:
            problems.append(f"group {fm.group}")
        if problems:
            bad[path] = ", ".join(problems)
    check.judge(not bad, observed={"files": seen, "absent": sorted(p for p in limits if p in absent),
                                   "too_open": bad},
                expected={"max_modes": {p: f"{m:o}" for p, m in limits.items()}, "owners": sorted(owners),
                          "groups": sorted(groups)},
                reason="; ".join(f"{p}: {v}" for p, v in bad.items()) or "key files protected")


@probe("host.mac", facts=("mac",))
def test_mac(check: Check, host: HostView) -> None:
    """Mandatory access control with security labels (L3-CES1-11): SELinux enforcing,
    AppArmor enabled, or Kylin KYSEC on."""
    accepted = {str(x).lower() for x in check.list_param("accepted")}
    mac = kv(host.facts.text("mac"), sep="=")
    lsm = [x for x in mac.get("lsm", "").split(",") if x]
    selinux = mac.get("selinux", "")
    state = {
        "selinux": selinux.lower() in ("enforcing", "1"),
        "apparmor": mac.get("apparmor", "") == "Y" and ("apparmor" in lsm or not lsm),
        "kysec": mac.get("kysec", "").lower() in ("enabled", "enable", "normal", "softmode", "1", "on")
        and mac.get("kysec", "").lower() != "softmode",
    }
    on = sorted(k for k, v in state.items() if v and k in accepted)
    check.judge(bool(on), observed={"lsm": lsm, "selinux": selinux or None,
                                    "apparmor": mac.get("apparmor") or None, "kysec": mac.get("kysec") or None},
                expected=f"one of {sorted(accepted)} enforcing",
                reason=("强制访问控制: " + ", ".join(on)) if on else
                f"no mandatory access control enforcing (active LSMs: {', '.join(lsm) or 'none'})")


def _audit_rule_lines(host: HostView) -> list[tuple[str, str]]:
    from ihconform.facts.host import file_lines, split_sections

    return file_lines(split_sections(host.facts.text("auditd")).get("files", []))


@probe("host.audit", facts=("processes", "auditd"))
def test_audit(check: Check, host: HostView) -> None:
    """Security audit enabled, covering users and important events (L3-CES1-12), by the
    kernel's word: ``auditctl -s`` (enabled, the daemon's pid) and the rules ``auditctl -l``
    shows loaded, with the auditd process. A daemon that is not running fails on its own; a
    running one whose kernel state cannot be read is 检查错误 with auditctl's reason."""
    daemons = [str(d) for d in check.list_param("daemon_processes")]
    watches = [str(w) for w in check.list_param("required_watches")]
    min_rules = check.int_param("min_rules")
    running = host.running(daemons)
    kernel = host.kernel_audit
    file_rules = [(f, r) for f, r in _audit_rule_lines(host) if r.startswith(("-w", "-a"))]
    observed: dict[str, object] = {
        "running": running, "rule_files": sorted({f for f, _ in file_rules}), "rules_in_files": len(file_rules),
        "kernel": kernel.error or {"enabled": kernel.enabled, "pid": kernel.pid, "lost": kernel.lost,
                                   "backlog": kernel.backlog, "backlog_limit": kernel.backlog_limit,
                                   "rules_loaded": len(kernel.rules)}}
    expected = {"daemon": daemons, "kernel": "enabled 1 or 2, pid of the daemon", "rules": f">= {min_rules} loaded",
                "watches": watches}
    if kernel.error:
        if running:
            raise FactUnavailable(f"{', '.join(running)} runs but the kernel audit state was not read: "
                                  f"{kernel.error}")
        check.judge(False, observed=observed, expected=expected,
                    reason=f"audit daemon ({', '.join(daemons)}) not running; kernel audit state not read "
                           f"({kernel.error})")
        return
    loaded = list(kernel.rules)
    watched = {r.split()[1] for r in loaded if r.startswith("-w ") and len(r.split()) > 1}
    watched |= {m.group(1) for r in loaded for m in [re.search(r"-F\s+(?:path|dir)=(\S+)", r)] if m}
    unwatched = [w for w in watches if w not in watched]
    observed["unwatched"] = unwatched
    check.judge_parts(
        {"audit daemon running": bool(running) and (kernel.pid or 0) > 0,
         "kernel audit enabled": (kernel.enabled or 0) >= 1,
         "audit rules loaded": len(loaded) >= min_rules,
         "key files watched": not unwatched},
        observed=observed, expected=expected)


@probe("host.audit_protection", facts=("auditd", "auditd_conf"))
def test_audit_protection(check: Check, host: HostView) -> None:
    """Audit records protected from deletion, change and overwriting, and the audit process
    from interruption (L3-CES1-14/15)."""
    from ihconform.facts.host import parse_modes, split_sections

    max_mode = _octal(check.param("max_log_mode"))
    bad_actions = {str(a).lower() for a in check.list_param("forbidden_actions")}
    need_immutable = bool(check.param("require_immutable"))
    groups = split_sections(host.facts.text("auditd"))
    present, absent = parse_modes(groups.get("logfile", []))
    conf = {k.lower(): v.lower() for k, v in kv(host.facts.text("auditd_conf"), sep="=").items()}
    log = next((m for p, m in present.items() if not p.endswith("/audit") and "." in p.rsplit("/", 1)[-1]),
               None)
    if log is None:
        files = [p for p in present if p not in absent]
        log = present[files[0]] if len(files) == 2 and files[0] != files[1] else None
    kernel = host.kernel_audit  # the kernel's lock (enabled 2) when readable, else the rule files' "-e 2"
    immutable = (kernel.enabled == 2 if not kernel.error
                 else any(r.strip() == "-e 2" for _, r in _audit_rule_lines(host)))
    actions = {k: conf.get(k, "") for k in ("max_log_file_action", "disk_full_action", "space_left_action")}
    parts = {
        f"audit log mode <= {max_mode:o}, root-owned": log is not None and not (log.mode & ~max_mode & 0o7777)
        and log.owner == "root",
        "max_log_file_action not discarding": bool(conf) and actions["max_log_file_action"] not in bad_actions,
        "disk_full_action not discarding": bool(conf) and actions["disk_full_action"] not in bad_actions,
    }
    if need_immutable:
        parts["rules immutable (-e 2)"] = immutable
    check.judge_parts(
        parts,
        observed={"log": f"{log.path} {log.mode:o} {log.owner}:{log.group}" if log else "absent",
                  "auditd.conf": actions if conf else "absent", "immutable": immutable,
                  "immutable_from": "auditctl -s" if not kernel.error else f"rule files ({kernel.error})"},
        expected={"log_mode": f"<= {max_mode:o}", "actions": f"not in {sorted(bad_actions)}",
                  "immutable": need_immutable})


@probe("host.time_sync", facts=("processes", "time_sync"))
def test_time_sync(check: Check, host: HostView) -> None:
    """Audit records carry a trustworthy time (L3-CES1-13): a time-sync daemon running with
    a configured server, judged on the platform-neutral TimeSource; where the platform says
    whether the clock actually follows the source, that is a part too (a service that runs but
    syncs nothing is no time source)."""
    daemons = [str(d) for d in check.list_param("daemons")]
    src = _neutral(check, host, TimeSource)
    if src is None:
        return
    running = _agents_running(daemons, src.programs, src.service)
    parts = {"time-sync daemon running": bool(running), "time server configured": bool(src.servers)}
    if src.synchronised is not None:  # the platform says whether the clock follows the source
        # (Windows w32tm: "Source: Local CMOS Clock" is a running service that syncs nothing)
        parts["clock follows the source"] = src.synchronised
    check.judge_parts(
        parts,
        observed={"running": running, "servers": list(src.servers), "synchronised": src.synchronised,
                  **dict(src.record)},
        expected={"daemon": daemons, "servers": ">= 1"})


def _agents_running(names: list[str], programs: tuple[str, ...] | None, builtin: str) -> list[str]:
    """The profile's agents among the object's running programs; where the platform lists no
    programs, its built-in service (a device's own NTP client or syslog sender) if it has one."""
    if programs is not None:
        return programs_running(names, programs)
    return [builtin] if builtin else []


@probe("host.log_forwarding", facts=("processes", "syslog_conf"))
def test_log_forwarding(check: Check, host: HostView) -> None:
    """Logs sent to a central log server as they are written (L3-SMC1-10, L3-CES1-14), judged
    on the platform-neutral RemoteLogging: a remote target configured where the logger loads
    it (on Linux rsyslog ``@@host:port``/omfwd, syslog-ng network destination, journald
    upload, in the files the daemon loads), and a forwarder running."""
    forwarders = [str(p) for p in check.list_param("forwarder_processes")]
    fwd = _neutral(check, host, RemoteLogging)
    if fwd is None:
        return
    # running None with no program list: the platform has no separate agent (a switch sends its
    # own syslog), so a configured target is its own sender; with no target nothing is sent
    builtin = fwd.running or (fwd.running is None and fwd.programs is None and bool(fwd.targets))
    running = _agents_running(forwarders, fwd.programs, "built-in" if builtin else "")
    if not fwd.targets:  # a syslog daemon whose configuration names no remote target sends nothing
        running = [a for a in running if a not in fwd.configured_by]
    check.judge_parts(
        {"forwarding configured": bool(fwd.targets), "forwarder running": bool(running)},
        observed={"forwarding": list(fwd.rules or fwd.targets), "running": running, **dict(fwd.record)},
        expected={"forwarding": "a remote log destination in a loaded file", "processes": forwarders})


#: ListenAddress values that mean "every interface".
_WILDCARD = ("0.0.0.0", "[::]", "::")  # noqa: S104 - recognised, not bound


def _listen_host(entry: str) -> str:
    """``198.51.100.10:22`` / ``[2001:db8::1]:22`` (``sshd -T`` form) -> the address alone."""
    if entry.startswith("["):
        return entry[1:].split("]", 1)[0]
    return entry.rpartition(":")[0] if entry.count(":") == 1 else entry


def _listen_restricts(host: HostView, listen: list[str]) -> tuple[bool | None, list[str]]:
    """Whether sshd's ListenAddress keeps it off some network interface the host is reachable
    on (the management NIC of a host that also has a service NIC), and those interfaces. A
    ListenAddress on the host's only interface binds where sshd would listen anyway and
    restricts nothing (the release hosts' drop-in; issue 20); nor does leaving out the other
    address family of the same interface. None when the host's addresses could not be read."""
    from ihconform.facts.host import routable_addresses

    if not listen or any(a.startswith(_WILDCARD) for a in listen):
        return False, []
    try:
        by_iface = routable_addresses(host.facts.text("ip_addr"))
    except FactUnavailable:
        return None, []
    if by_iface is None:
        return None, []
    bound = {_listen_host(a) for a in listen}
    unbound = sorted(f"{iface} ({', '.join(addrs)})" for iface, addrs in by_iface.items()
                     if not bound & set(addrs))
    return bool(unbound), unbound


@probe("host.mgmt_access", facts=("sshd", "sshd_config", "hosts_access", "firewall", "ip_addr"))
def test_mgmt_access(check: Check, host: HostView) -> None:
    """Management terminals limited by address (L3-CES1-19): sshd AllowUsers user@addr,
    a Match Address block that restricts who may log in (never one that only loosens, such as
    PasswordAuthentication yes for some addresses), a ListenAddress that keeps sshd off some
    of the host's addresses (never one on its only interface), hosts.allow, or firewall
    sources on the SSH port."""
    accept_listen = bool(check.param("accept_listen_address"))
    sshd = host.sshd
    allow = _allow_users_from(host)
    listen = [a for a in sshd.get("listenaddress", "").split(",") if a]
    listen_restricts, unbound = _listen_restricts(host, listen)
    match_blocks, match_other = _match_address_blocks(host)
    port = int(sshd.get("port", "22").split(",")[0] or 22)
    fw_sources, fw_open = _ssh_firewall_sources(host, port)
    ha_allowed, ha_deny_all = _hosts_allow_sshd(host)
    ways = {
        "AllowUsers user@address": bool(allow) and all(src and src != "*" for _, src in allow),
        "Match Address": bool(match_blocks),
        "hosts.allow + hosts.deny": ha_deny_all and bool(ha_allowed) and "ALL" not in ha_allowed,
        "firewall source on SSH port": bool(fw_sources) and not fw_open and _firewall_default_drop(host),
    }
    if accept_listen:
        ways["ListenAddress"] = listen_restricts is True
    met = [k for k, v in ways.items() if v]
    if not met and accept_listen and listen_restricts is None:
        raise FactUnavailable(f"sshd listens on {', '.join(listen)} only, but the host's addresses (ip -o addr) "
                              "were not read: whether that leaves any address without SSH is unknown")
    on_every_address = listen_restricts is False and bool(listen) and not any(a.startswith(_WILDCARD)
                                                                              for a in listen)
    listen_note = ("not a restriction: sshd listens on every interface the host has a routable address on"
                   if on_every_address else f"sshd not on {', '.join(unbound)}" if unbound else "")
    check.judge(bool(met),
                observed={"AllowUsers": [f"{u}@{s}" if s else u for u, s in allow],
                          "AllowGroups": sshd.get("allowgroups", ""), "ListenAddress": listen,
                          "ListenAddress (judged)": listen_note or None,
                          "Match Address": match_blocks, "Match Address (not a restriction)": match_other,
                          "hosts_allow_sshd": ha_allowed,
                          "firewall_ssh_sources": fw_sources, "met_by": met},
                expected="SSH administration restricted to known addresses",
                reason=("限制管理地址: " + ", ".join(met)) if met else
                "SSH accepts administrators from any address"
                + (f" (ListenAddress {', '.join(listen)} is on every interface of the host: it restricts "
                   "nothing)" if on_every_address else ""))


@probe("host.intrusion_detection", facts=("processes", "hids_files", "crontabs"))
def test_intrusion_detection(check: Check, host: HostView) -> None:
    """Intrusions detected (L3-CES1-22): a HIDS/EDR agent running, or AIDE installed with a
    database and a scheduled check."""
    procs = [str(p) for p in check.list_param("hids_processes")]
    accept_aide = bool(check.param("accept_aide"))
    running = host.running(procs)
    paths = {line.split(None, 1)[1] for line in host.facts.lines("hids_files") if " " in line}
    aide_bin = any(p.endswith("/aide") for p in paths)
    aide_db = any("/aide.db" in p for p in paths)
    aide_job = any(re.search(r"\baide\b", line) for _, line in host.cron_lines)
    ossec = any(p.startswith("/var/ossec/") for p in paths)
    aide_ok = accept_aide and aide_bin and aide_db and aide_job
    check.judge(bool(running) or aide_ok,
                observed={"running": running, "aide": {"installed": aide_bin, "database": aide_db,
                                                        "scheduled": aide_job}, "ossec_or_wazuh_files": ossec},
                expected={"processes": procs, "or": "AIDE with database and a scheduled check"
                          if accept_aide else "(AIDE not accepted)"},
                reason=("HIDS running: " + ", ".join(running)) if running else
                ("AIDE installed, initialised and scheduled" if aide_ok else "no intrusion detection found"))


@probe("host.anti_malware", facts=("processes", "av_signatures", "now"))
def test_anti_malware(check: Check, host: HostView) -> None:
    """Malicious code prevention (L3-CES1-23): an anti-malware/EDR process running, and
    ClamAV signatures no older than the limit."""
    procs = [str(p) for p in check.list_param("av_processes")]
    max_days = check.int_param("max_signature_age_days")
    running = host.running(procs)
    sigs = {}
    for line in host.facts.lines("av_signatures"):
        ts, _, path = line.partition(" ")
        if ts.isdigit():
            sigs[path] = int(ts)
    age_days = round((host.now - max(sigs.values())) / 86400, 1) if sigs else None
    clam = bool(sigs) or any(p.startswith(("clamd", "freshclam")) for p in running)
    parts = {"anti-malware running": bool(running)}
    if clam:
        parts[f"signatures <= {max_days} days old"] = age_days is not None and age_days <= max_days
    check.judge_parts(
        parts, observed={"running": running, "clamav_signature_age_days": age_days,
                         "signature_files": sorted(sigs)},
        expected={"processes": procs, "signature_age": f"<= {max_days} days (ClamAV)"})


@probe("host.security_updates", facts=("packages_upgradable", "os_release", "now"))
def test_security_updates(check: Check, host: HostView) -> None:
    """Known vulnerabilities patched in time (L3-CES1-21): pending security updates, and the
    operating system still within its vendor's security support.

    An OS past its end of support (``ihconform/data/os_eol.yaml``, with sources, and the site's
    own rows in ``support_ends``) is 不符合 whatever the package manager reports: no updates are
    published for it. "0 pending" is believed only from a package cache younger than
    ``max_cache_age_days``; an older or absent cache, or an unknown package manager, is 未检查
    with the reason, never 符合. So is an OS with no end of support in either: an end-of-life
    release lists no pending update because none is published any more, so its "0 pending" says
    nothing (more pending than allowed is 不符合 all the same)."""
    import datetime as _dt

    from ihconform.lifecycle import lookup, site_rows

    max_pending = check.int_param("max_pending")
    max_cache_days = check.float_param("max_cache_age_days")
    rows = site_rows(check.control)
    osr = host.os_release
    os_name = osr.get("PRETTY_NAME") or f"{osr.get('ID', '?')} {osr.get('VERSION_ID', '')}".strip()
    eol = lookup(osr, first=rows)
    today = _dt.datetime.fromtimestamp(host.now, _dt.UTC).date()
    support = ({"os": os_name, "end_of_support": eol.end.isoformat(), "source": eol.source} if eol else
               {"os": os_name, "end_of_support": None, "source": "not in the end-of-support table"})
    if eol is not None and eol.end < today:
        check.judge(False, observed=support, expected="an operating system within vendor security support",
                    reason=f"操作系统已停止维护 / {os_name} out of vendor security support since "
                           f"{eol.end.isoformat()} ({eol.source})")
        return
    text = host.facts.text("packages_upgradable")
    manager, rc, pending = pending_security_updates(text)
    if manager in ("", "none"):
        check.not_checked("未找到支持的包管理器（apt-get、dnf、yum），无法读取待安装安全更新 / no supported "
                          f"package manager on {os_name}", observed=support)
        return
    if rc != 0:
        raise FactUnavailable(f"{manager} could not list updates (exit {rc})")
    mtime = package_cache_mtime(text)
    age_days = round((host.now - mtime) / 86400, 1) if mtime is not None else None
    observed = {"manager": manager, "pending_security": len(pending), "packages": pending[:50],
                "package_cache_age_days": age_days, **support}
    expected = f"<= {max_pending} (package cache <= {max_cache_days:g} days old)"
    if len(pending) > max_pending:  # a stale cache can only under-count: this many are pending at least
        check.judge(False, observed=observed, expected=expected,
                    reason=f"{len(pending)} 个待安装安全更新 / pending security updates")
        return
    if age_days is None or age_days > max_cache_days:
        check.not_checked(
            (f"软件包缓存已 {age_days} 天未更新（阈值 {max_cache_days:g} 天），待安装安全更新数不可信 / package "
             f"cache {age_days} days old" if age_days is not None else
             "未找到软件包缓存（从未执行 apt update / dnf makecache），待安装安全更新数不可信 / no package cache")
            + "; 请在目标主机更新软件包缓存后重新检查", observed=observed, expected=expected)
        return
    if eol is None:
        check.not_checked(
            f"操作系统不在停止维护表中，无法确认仍获厂商安全支持 / {os_name}: no end of vendor support is known "
            f"(ihconform/data/os_eol.yaml), so '{len(pending)} pending' cannot show it is patched; record the "
            "vendor's date and its source in the profile (support_ends, e.g. 'kylin V10 2030-12-31')",
            observed=observed, expected=expected)
        return
    check.judge(True, observed=observed, expected=expected,
                reason=f"{len(pending)} 个待安装安全更新 / pending security updates (cache {age_days} days old)")


@probe("host.backups", facts=("crontabs", "backup_files", "now", "processes"))
def test_backups(check: Check, host: HostView) -> None:
    """Local backup and recovery (L3-CES1-29): a scheduled backup job (cron, a scheduled
    systemd timer, or a running backup agent), and when backup directories are named,
    their newest file no older than the limit."""
    patterns = [str(p) for p in check.list_param("job_patterns")]
    agents = [str(p) for p in check.list_param("agent_processes")]
    paths = [str(p).rstrip("/") for p in check.list_param("backup_paths")]
    max_age_h = check.int_param("max_age_h")
    jobs = backup_jobs(host, patterns) + backup_agents(host, agents)
    parts = {"scheduled backup job": bool(jobs)}
    ages = backup_ages_h(host, paths) if paths else {}
    if paths:
        parts[f"newest backup <= {max_age_h} h old"] = all(a is not None and a <= max_age_h
                                                            for a in ages.values())
    check.judge_parts(parts, observed={"jobs": jobs, "newest_backup_age_h": ages},
                      expected={"job": patterns, "or_agent": agents,
                                "max_age_h": max_age_h if paths else "(no backup_paths)"})


@probe("host.minimal_services", facts=("processes",))
def test_minimal_services(check: Check, host: HostView) -> None:
    """Minimal installation, unneeded services off (L3-CES1-17/18)."""
    forbidden = [str(p) for p in check.list_param("forbidden_processes")]
    running = host.running(forbidden)
    check.judge(not running, observed={"running": running}, expected=f"none of {forbidden}",
                reason=("unneeded services running: " + ", ".join(running)) if running
                else "no unneeded service running")
