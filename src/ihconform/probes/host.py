"""Level-3 host controls (GB/T 22239-2019 8.1.4, the L3-CES1 items that live on a Linux host).

Each probe judges one control on one host from the batch gathered once per host; every
threshold comes from the profile (``check.param``), with its provenance there.
"""

from __future__ import annotations

import re

from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.facts.host import HostView, kv
from ihconform.registry import probe


def _interactive_with_password(host: HostView) -> list[str]:
    shadow = host.shadow
    return sorted(a.name for a in host.accounts
                  if a.interactive and a.name in shadow and shadow[a.name].has_password)


@probe("host.identities", facts=('passwd', 'shadow'))
def test_identities(check: Check, host: HostView) -> None:
    """Unique identities and no empty passwords (L3-CES1-01 a)."""
    names = [a.name for a in host.accounts]
    uids: dict[int, list[str]] = {}
    for a in host.accounts:
        uids.setdefault(a.uid, []).append(a.name)
    dup_names = sorted({n for n in names if names.count(n) > 1})
    dup_uids = {str(u): n for u, n in uids.items() if len(n) > 1}
    empty = sorted(n for n, e in host.shadow.items() if e.scheme == "EMPTY")
    check.judge_parts(
        {"unique user names": not dup_names, "unique UIDs": not dup_uids, "no empty passwords": not empty},
        observed={"duplicate_names": dup_names, "duplicate_uids": dup_uids, "empty_password": empty},
        expected="every account unique by name and UID; none without a password")


def _pwquality(host: HostView) -> dict[str, str]:
    conf = kv(host.facts.text("pwquality"), sep="=")
    args = {**host.pam_module_args("pam_cracklib"), **host.pam_module_args("pam_pwquality")}
    return {**conf, **{k: v for k, v in args.items() if v}}


@probe("host.password_quality", facts=('pwquality', 'pam', 'pwhistory_conf'))
def test_password_quality(check: Check, host: HostView) -> None:
    """Password complexity and history (L3-CES1-01: 鉴别信息具有复杂度要求)."""
    min_len, min_classes, history = (check.int_param("min_length"), check.int_param("min_classes"),
                                     check.int_param("history"))
    q = _pwquality(host)
    enforced = any(m in line for _, line in host.pam_lines for m in ("pam_pwquality", "pam_cracklib"))
    minlen = int(q.get("minlen", "0") or 0)
    credits = sum(1 for k in ("dcredit", "ucredit", "lcredit", "ocredit") if q.get(k, "0").startswith("-"))
    classes = max(int(q.get("minclass", "0") or 0), credits)
    hist_conf = kv(host.facts.text("pwhistory_conf"), sep="=")
    remember = max(int(host.pam_module_args("pam_pwhistory").get("remember", "0") or 0),
                   int(host.pam_module_args("pam_unix").get("remember", "0") or 0),
                   int(hist_conf.get("remember", "0") or 0))
    check.judge_parts(
        {"complexity module in PAM": enforced, f"minlen >= {min_len}": minlen >= min_len,
         f"character classes >= {min_classes}": classes >= min_classes,
         f"history remember >= {history}": remember >= history},
        observed={"pam_module": enforced, "minlen": minlen, "classes": classes, "remember": remember},
        expected={"minlen": f">= {min_len}", "classes": f">= {min_classes}", "remember": f">= {history}"})


@probe("host.password_ageing", facts=('passwd', 'shadow', 'login_defs'))
def test_password_ageing(check: Check, host: HostView) -> None:
    """Passwords changed regularly, checked per user (login.defs only affects new accounts)."""
    max_days, min_days, warn = (check.int_param("max_days"), check.int_param("min_days"),
                                check.int_param("warn_days"))
    defs = host.login_defs
    bad_users = {}
    for name in _interactive_with_password(host):
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
    """Login-failure handling (L3-CES1-02): lock after N failures for at least T seconds."""
    max_attempts, min_unlock = check.int_param("max_attempts"), check.int_param("min_unlock_s")
    module = next((m for m in ("pam_faillock", "pam_tally2", "pam_tally")
                   if any(m in line for _, line in host.pam_lines)), "")
    conf = kv(host.facts.text("faillock_conf"), sep="=") if module == "pam_faillock" else {}
    args = {**conf, **{k: v for k, v in host.pam_module_args(module).items() if v}} if module else {}
    deny = int(args["deny"]) if args.get("deny", "").isdigit() else None
    unlock_raw = args.get("unlock_time", "")
    unlock = int(unlock_raw) if unlock_raw.isdigit() else (None if unlock_raw != "never" else 10**9)
    if module == "pam_faillock" and deny is None:
        deny = 3  # pam_faillock's documented default
    if module == "pam_faillock" and unlock is None:
        unlock = 600
    ok_deny = deny is not None and 0 < deny <= max_attempts
    ok_unlock = unlock is not None and (unlock == 0 or unlock >= min_unlock)
    check.judge(bool(module) and ok_deny and ok_unlock,
                observed={"module": module or None, "deny": deny, "unlock_time": unlock},
                expected={"deny": f"1..{max_attempts}", "unlock_time": f">= {min_unlock} s or 0 (admin unlock)"},
                reason="" if module else "no login-failure lockout module (pam_faillock/pam_tally2) in PAM")


def _tmout(host: HostView) -> tuple[int | None, bool]:
    """The smallest TMOUT set in the system profile, and whether it is readonly."""
    values, readonly = [], False
    for line in host.facts.lines("profile_tmout"):
        body = line.split(":", 1)[-1]
        for m in re.finditer(r"TMOUT\s*=\s*['\"]?(\d+)", body):
            values.append(int(m.group(1)))
        if re.search(r"(readonly|declare\s+-r\w*)\s+TMOUT", body):
            readonly = True
    return (min(values) if values else None), readonly


@probe("host.idle_timeout", facts=('profile_tmout', 'sshd'))
def test_idle_timeout(check: Check, host: HostView) -> None:
    """Idle sessions end automatically (L3-CES1-02): shell TMOUT and sshd keep-alive limits."""
    tmax = check.int_param("shell_tmout_max_s")
    imax = check.int_param("sshd_client_alive_interval_max_s")
    cmax = check.int_param("sshd_client_alive_count_max")
    tmout, readonly = _tmout(host)
    interval = int(host.sshd.get("clientaliveinterval", "0") or 0)
    count = int(host.sshd.get("clientalivecountmax", "3") or 3)
    check.judge_parts(
        {"shell TMOUT": tmout is not None and 0 < tmout <= tmax and readonly,
         "sshd ClientAlive": 0 < interval <= imax and 0 < count <= cmax},
        observed={"TMOUT": tmout, "TMOUT_readonly": readonly, "ClientAliveInterval": interval,
                  "ClientAliveCountMax": count},
        expected={"TMOUT": f"1..{tmax} s, readonly", "ClientAliveInterval": f"1..{imax} s",
                  "ClientAliveCountMax": f"1..{cmax}"})


def _weak(algorithms: str, patterns: list[str]) -> list[str]:
    return sorted(a for a in algorithms.split(",") if a and any(p in a for p in patterns))


@probe("host.remote_admin", facts=('listen', 'sshd'))
def test_remote_admin(check: Check, host: HostView) -> None:
    """Remote administration cannot be eavesdropped (L3-CES1-03): no cleartext remote shells,
    SSH with strong ciphers, MACs and key exchange only, bounded authentication tries."""
    cleartext_ports = set(check.list_param("cleartext_ports"))
    weak_c, weak_m, weak_k = (check.list_param("weak_ciphers"), check.list_param("weak_macs"),
                              check.list_param("weak_kex"))
    max_tries = check.int_param("max_auth_tries")
    open_clear = sorted({f"{s.proto}/{s.port}" for s in host.listening
                         if s.port in cleartext_ports and s.address not in ("127.0.0.1", "::1")})
    sshd = host.sshd
    bad_c = _weak(sshd.get("ciphers", ""), weak_c)
    bad_m = _weak(sshd.get("macs", ""), weak_m)
    bad_k = _weak(sshd.get("kexalgorithms", ""), weak_k)
    tries = int(sshd.get("maxauthtries", "6") or 6)
    check.judge_parts(
        {"no cleartext remote shell": not open_clear, "strong ciphers": not bad_c, "strong MACs": not bad_m,
         "strong key exchange": not bad_k, f"MaxAuthTries <= {max_tries}": tries <= max_tries},
        observed={"cleartext_listening": open_clear, "weak_ciphers": bad_c, "weak_macs": bad_m,
                  "weak_kex": bad_k, "MaxAuthTries": tries},
        expected={"cleartext_ports": "none listening", "ciphers/macs/kex": "no weak algorithm",
                  "MaxAuthTries": f"<= {max_tries}"})


@probe("host.default_accounts", facts=('passwd', 'shadow', 'sshd'))
def test_default_accounts(check: Check, host: HostView) -> None:
    """Default accounts removed or disabled, root not logging in remotely (L3-CES1-06)."""
    defaults = set(check.list_param("default_accounts"))
    allowed_root = [str(x) for x in check.list_param("permit_root_login_allowed")]
    uid0 = sorted(a.name for a in host.accounts if a.uid == 0 and a.name != "root")
    shadow = host.shadow
    usable = sorted(a.name for a in host.accounts
                    if a.name in defaults and a.interactive
                    and not (a.name in shadow and (shadow[a.name].locked or not shadow[a.name].has_password)))
    root_login = host.sshd.get("permitrootlogin", "")
    check.judge_parts(
        {"only root has UID 0": not uid0, "default accounts disabled": not usable,
         "remote root login": root_login in allowed_root},
        observed={"uid0_besides_root": uid0, "usable_default_accounts": usable, "PermitRootLogin": root_login},
        expected={"PermitRootLogin": allowed_root, "default accounts": "locked or nologin"})


_PERIOD_DAYS = {"daily": 1, "weekly": 7, "monthly": 30, "yearly": 365}


def logrotate_retention(text: str, logs: list[str]) -> dict[str, int | None]:
    """Days each of ``logs`` is kept by logrotate: ``rotate`` x period (or ``maxage``).
    Returns None for a log no stanza covers. Globals apply where a stanza does not override."""
    glob_rotate, glob_period, glob_maxage = None, 7, None
    stanzas: list[tuple[list[str], dict[str, int]]] = []
    depth, current_files, current = 0, [], {}  # type: ignore[var-annotated]
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("## "):
            continue
        if line.endswith("{"):
            current_files = line[:-1].split()
            current, depth = {}, 1
            continue
        if line == "}":
            if depth:
                stanzas.append((current_files, current))
            depth = 0
            continue
        words = line.split()
        target = current if depth else None
        if words[0] == "rotate" and len(words) > 1 and words[1].isdigit():
            if target is not None:
                target["rotate"] = int(words[1])
            else:
                glob_rotate = int(words[1])
        elif words[0] in _PERIOD_DAYS:
            if target is not None:
                target["period"] = _PERIOD_DAYS[words[0]]
            else:
                glob_period = _PERIOD_DAYS[words[0]]
        elif words[0] == "maxage" and len(words) > 1 and words[1].isdigit():
            if target is not None:
                target["maxage"] = int(words[1])
            else:
                glob_maxage = int(words[1])
    out: dict[str, int | None] = {}
    for log in logs:
        days: int | None = None
        for files, st in stanzas:
            if log in files:
                rotate = st.get("rotate", glob_rotate)
                period = st.get("period", glob_period)
                days = rotate * period if rotate is not None else None
                maxage = st.get("maxage", glob_maxage)
                if days is not None and maxage is not None:
                    days = min(days, maxage)
        out[log] = days
    return out


@probe("host.log_retention", facts=('logrotate',))
def test_log_retention(check: Check, host: HostView) -> None:
    """Logs kept at least 180 days (网络安全法 第二十一条; L3-CES1-14, L3-SMC1-10)."""
    min_days = check.int_param("min_days")
    candidates = check.list_param("system_logs")
    text = host.facts.text("logrotate")
    kept = logrotate_retention(text, candidates)
    present = {k: v for k, v in kept.items() if v is not None}
    if not present:
        raise FactUnavailable("no logrotate stanza covers the system logs "
                              f"({', '.join(candidates)}); retention cannot be read")
    short = {k: v for k, v in present.items() if v < min_days}
    check.judge(not short, observed={"retention_days": present}, expected=f">= {min_days} days",
                reason=("; ".join(f"{k} kept {v} days" for k, v in short.items())
                        or f"system logs kept >= {min_days} days"))


@probe("host.password_hash", facts=('shadow', 'login_defs'))
def test_password_hash(check: Check, host: HostView) -> None:
    """Stored passwords protected by strong hashing (L3-CES1-28: 鉴别信息存储保密性)."""
    allowed = {str(x) for x in check.list_param("allowed_schemes")}
    allowed_methods = {str(x).upper() for x in check.list_param("allowed_encrypt_methods")}
    weak = {n: e.scheme for n, e in host.shadow.items()
            if e.has_password and (e.scheme == "DES" or e.scheme.removeprefix("HASH:") not in allowed)}
    method = host.login_defs.get("ENCRYPT_METHOD", "").upper()
    check.judge_parts(
        {"stored hashes": not weak, "ENCRYPT_METHOD": method in allowed_methods},
        observed={"weak_hashes": weak, "ENCRYPT_METHOD": method or None},
        expected={"schemes": sorted(allowed), "ENCRYPT_METHOD": sorted(allowed_methods)})


@probe("host.high_risk_ports", facts=('listen',))
def test_high_risk_ports(check: Check, host: HostView) -> None:
    """No high-risk ports listening beyond loopback (L3-CES1-18)."""
    risky = {int(p) for p in check.list_param("ports")}
    found = sorted({f"{s.proto}/{s.port} {s.process or '?'} on {s.address}" for s in host.listening
                    if s.port in risky and s.address not in ("127.0.0.1", "::1", "localhost")})
    check.judge(not found, observed={"high_risk_listening": found}, expected=f"none of {sorted(risky)}",
                reason="; ".join(found) or "no high-risk port open")
