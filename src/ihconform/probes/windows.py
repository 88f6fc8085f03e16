"""Level-3 host controls that are Windows-specific (GB/T 22239-2019 8.1.4 on Windows Server).

Each probe judges one control on one Windows host (object type ``host-os-windows``) from the
PowerShell batch gathered once per host (facts/windows.py). Every threshold comes from the
profile with its provenance; every age is measured from the batch's own collection time, so an
offline recording is judged as it was on the day it was taken. Controls that are the same on
every platform (password complexity, lockout, idle time-out, log forwarding, time source) are
not here: one probe judges the neutral facts (facts/windows_adapters.py).
"""

from __future__ import annotations

from typing import Any

from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.facts.contract import HostFacts
from ihconform.facts.windows_adapters import RDP_TCP, TS_POLICY
from ihconform.facts.windows_parse import RID_ADMINISTRATOR, RID_GUEST, WindowsView, ms_date
from ihconform.lifecycle import lookup, site_rows
from ihconform.registry import probe

TS_ROOT = r"HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server"
LANMAN = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters"


def _view(facts: HostFacts) -> WindowsView:
    if facts.error:
        raise FactUnavailable(f"host {facts.host_id}: {facts.error}")
    return WindowsView(facts)


def _when(w: WindowsView) -> dict[str, str]:
    """When (and, offline, from which file) the judged facts were read: on every verdict, so the
    report shows an offline recording's collection time next to what was judged on it."""
    ident = w.facts.identity
    out = {"collected_at": ident.get("collected", "")}
    if ident.get("transport") == "offline":
        out["offline_sha256"] = ident.get("offline_sha256", "")
    return out


@probe("windows.accounts", facts=("users", "secedit"))
def test_accounts(check: Check, host_facts: HostFacts) -> None:
    """Every enabled local account must have a password and change it (L3-CES1-01 a): an account
    with ``PasswordRequired`` false may have an empty one; a never-expiring password or a
    maximum age above the profile's is never changed."""
    w = _view(host_facts)
    max_days = check.int_param("max_days")
    enabled = [u for u in w.users if u.enabled]
    no_pw = sorted(u.name for u in enabled if not u.password_required)
    never = sorted(u.name for u in enabled if u.password_expires is None)
    max_age = w.system_access("MaximumPasswordAge")
    ok_age = max_age is not None and 0 < max_age <= max_days
    check.judge_parts(
        {"no enabled account without a required password": not no_pw,
         f"MaximumPasswordAge <= {max_days} days": ok_age,
         "no enabled account with a never-expiring password": not never},
        observed={**_when(w), "enabled_accounts": sorted(u.name for u in enabled), "password_not_required": no_pw,
                  "password_never_expires": never, "MaximumPasswordAge": max_age},
        expected={"PasswordRequired": True, "MaximumPasswordAge": f"1..{max_days}", "PasswordExpires": "set"})


@probe("windows.default_accounts", facts=("users",))
def test_default_accounts(check: Check, host_facts: HostFacts) -> None:
    """Default accounts renamed or disabled (L3-CES1-06), found by their well-known RIDs (-500
    Administrator, -501 Guest) so a renamed or a Chinese-named account is still the same one."""
    w = _view(host_facts)
    defaults = {str(n).lower() for n in check.list_param("default_names")}
    by_rid = {u.rid: u for u in w.users}
    admin, guest = by_rid.get(RID_ADMINISTRATOR), by_rid.get(RID_GUEST)
    if admin is None or guest is None:
        raise FactUnavailable(f"host {host_facts.host_id}: no local account with RID "
                              f"{RID_ADMINISTRATOR if admin is None else RID_GUEST} in Get-LocalUser "
                              "(a domain controller has no local accounts; judge the domain instead)")
    check.judge_parts(
        {"Guest (RID 501) disabled": not guest.enabled,
         "Administrator (RID 500) renamed or disabled": not admin.enabled or admin.name.lower() not in defaults},
        observed={**_when(w), "administrator": {"name": admin.name, "enabled": admin.enabled},
                  "guest": {"name": guest.name, "enabled": guest.enabled}},
        expected={"guest": "disabled", "administrator": f"disabled, or renamed from {sorted(defaults)}"})


@probe("windows.audit_policy", facts=("auditpol",))
def test_audit_policy(check: Check, host_facts: HostFacts) -> None:
    """Security auditing covers the important user actions and security events (L3-CES1-12):
    each subcategory the profile names, by GUID, audits what it must (success and/or failure)."""
    w = _view(host_facts)
    audit = w.audit
    parts: dict[str, bool] = {}
    observed: dict[str, Any] = {}
    expected: dict[str, str] = {}
    for guid, name, need_s, need_f in (_subcategory(str(r)) for r in check.list_param("subcategories")):
        have = audit.get(guid)
        if have is None:
            raise FactUnavailable(f"auditpol lists no subcategory {guid} ({name})")
        parts[name] = (have.success or not need_s) and (have.failure or not need_f)
        observed[name] = {"success": have.success, "failure": have.failure}
        expected[name] = " and ".join(x for x, on in (("success", need_s), ("failure", need_f)) if on)
    check.judge_parts(parts, observed={**observed, **_when(w)}, expected=expected)


def _subcategory(row: str) -> tuple[str, str, bool, bool]:
    """A profile row ``"{GUID} | name | success,failure"``."""
    guid, name, need = (f.strip() for f in [*row.split("|"), "", ""][:3])
    wants = {w.strip() for w in need.split(",")}
    if not guid.startswith("{") or not wants <= {"success", "failure"}:
        raise ValueError(f"subcategories row {row!r}: expected '{{GUID}} | name | success,failure'")
    return guid.lower(), name, "success" in wants, "failure" in wants


@probe("windows.event_logs", facts=("eventlogs",))
def test_event_logs(check: Check, host_facts: HostFacts) -> None:
    """Audit records protected from being overwritten (L3-CES1-14): each event log is enabled
    and large enough (the profile's minimum per log)."""
    w = _view(host_facts)
    logs = w.event_logs
    minimum = {k.strip(): int(v) for k, _, v in (str(r).partition("=") for r in check.list_param("min_bytes"))}
    parts: dict[str, bool] = {}
    for name, need in minimum.items():
        log = logs.get(name)
        if log is None:
            raise FactUnavailable(f"event log {name} not listed by Get-WinEvent -ListLog")
        parts[f"{name} log enabled, >= {int(need) // 1048576} MB"] = log.enabled and log.max_bytes >= int(need)
    check.judge_parts(parts, observed={**{n: {"max_bytes": lg.max_bytes, "mode": lg.mode, "enabled": lg.enabled}
                                          for n, lg in logs.items()}, **_when(w)},
                      expected={n: f">= {v} bytes" for n, v in minimum.items()})


def _effective(w: WindowsView, name: str) -> tuple[int | None, str]:
    """An RDP setting as in force: the Group Policy value wins over the RDP-Tcp listener's."""
    pol = w.reg_int(TS_POLICY, name)
    if pol is not None:
        return pol, "policy"
    return w.reg_int(RDP_TCP, name), "RDP-Tcp"


@probe("windows.rdp", facts=("registry",))
def test_rdp(check: Check, host_facts: HostFacts) -> None:
    """Remote administration over RDP does not expose credentials (L3-CES1-03): Network Level
    Authentication, and a TLS security layer or High encryption. RDP switched off passes."""
    w = _view(host_facts)
    deny_pol = w.reg_int(TS_POLICY, "fDenyTSConnections")
    deny = deny_pol if deny_pol is not None else w.reg_int(TS_ROOT, "fDenyTSConnections")
    if deny == 1:
        check.judge(True, observed={"fDenyTSConnections": 1, **_when(w)}, expected="RDP off, or NLA with TLS",
                    reason="RDP connections are denied (fDenyTSConnections = 1)")
        return
    min_layer, min_level = check.int_param("min_security_layer"), check.int_param("min_encryption_level")
    nla, nla_src = _effective(w, "UserAuthentication")
    layer, layer_src = _effective(w, "SecurityLayer")
    level, level_src = _effective(w, "MinEncryptionLevel")
    # Negotiate (1) with NLA forced ends in TLS: CredSSP runs only over TLS (MS-RDPBCGR 5.4.5)
    tls = (layer is not None and layer >= min_layer) or (layer == 1 and nla == 1)
    check.judge_parts(
        {"Network Level Authentication required": nla == 1,
         "session encrypted (TLS layer, or High encryption)": tls or (level is not None and level >= min_level)},
        observed={**_when(w), "UserAuthentication": nla, "SecurityLayer": layer, "MinEncryptionLevel": level,
                  "from": {"UserAuthentication": nla_src, "SecurityLayer": layer_src, "MinEncryptionLevel": level_src}},
        expected={"UserAuthentication": 1, "SecurityLayer": f">= {min_layer} (TLS), or 1 (Negotiate) with NLA",
                  "MinEncryptionLevel": f">= {min_level} (High) where the layer is not TLS"})


@probe("windows.services", facts=("smb", "services", "firewall", "registry"))
def test_services(check: Check, host_facts: HostFacts) -> None:
    """Unneeded services, default shares and high-risk ports closed (L3-CES1-18): SMBv1 off, no
    administrative default shares, none of the profile's services running or starting
    automatically, and the host firewall on in every profile with inbound blocked by default."""
    w = _view(host_facts)
    smb = w.smb
    smb1 = smb.get("EnableSMB1Protocol")
    shares = smb.get("AutoShareServer")
    forbidden = {str(n).lower() for n in check.list_param("forbidden_services")}
    bad = sorted(f"{s.name} ({s.state}/{s.start_mode})" for s in w.services
                 if s.name.lower() in forbidden and (s.state == "Running" or s.start_mode == "Auto"))
    fw = w.firewall
    if not fw:
        raise FactUnavailable("Get-NetFirewallProfile listed no profile")
    # NotConfigured in the active store: Windows' built-in default (on, inbound Block) applies
    fw_ok = all(p.enabled is not False and p.inbound in ("Block", "NotConfigured") for p in fw)
    if not isinstance(smb1, bool) or not isinstance(shares, bool):
        raise FactUnavailable(f"Get-SmbServerConfiguration: EnableSMB1Protocol={smb1!r}, AutoShareServer={shares!r}")
    check.judge_parts(
        {"SMBv1 server disabled": not smb1, "administrative default shares off": not shares,
         "no listed service running or automatic": not bad,
         "firewall on, inbound blocked, in every profile": fw_ok},
        observed={**_when(w), "EnableSMB1Protocol": smb1, "AutoShareServer": shares, "listed_services": bad,
                  "firewall": {p.name: {"enabled": p.enabled, "inbound": p.inbound} for p in fw},
                  "listening": sorted({port for _, port, _ in w.listening}) if w.facts.status("listening").value
                  == "complete" else "not gathered"},
        expected={"EnableSMB1Protocol": False, "AutoShareServer": False,
                  "services": f"none of {sorted(forbidden)} running or automatic",
                  "firewall": "Enabled, DefaultInboundAction Block"})


@probe("windows.updates", facts=("hotfixes", "os"))
def test_updates(check: Check, host_facts: HostFacts) -> None:
    """Vulnerabilities patched in time (L3-CES1-21): the newest installed update is recent
    enough, and the OS build is still supported (end-of-support dates are data with their
    sources, ihconform/data/os_eol.yaml, as for Linux, after the site's ``support_ends`` rows: a
    paid Extended Security Update contract is such a row, its source the contract). Ages are
    counted from the collection time."""
    w = _view(host_facts)
    now = w.collected
    max_age = check.int_param("max_hotfix_age_days")
    dated = [h.installed_on for h in w.hotfixes if h.installed_on is not None]
    newest = max(dated) if dated else None
    age = (now - newest).days if newest else None
    build = str(w.os.get("BuildNumber", ""))
    rows = site_rows(check.control)
    support = lookup({"ID": "windows-server", "VERSION_ID": build, "NAME": str(w.os.get("Caption", ""))},
                     first=rows)
    if support is None:  # as on Linux (host.security_updates): an unknown end of support is never "in support"
        check.not_checked(f"OS build {build} ({w.os.get('Caption')}) has no known end of support "
                          "(ihconform/data/os_eol.yaml); record Microsoft's date and its source in the profile "
                          f"(support_ends, e.g. 'windows-server {build or '<build>'} 2030-01-08')",
                          observed={**_when(w), "build": build, "caption": w.os.get("Caption")})
        return
    end = support.end
    check.judge_parts(
        {f"newest update <= {max_age} days old": age is not None and age <= max_age,
         "OS build in support": now.date() <= end},
        observed={**_when(w), "newest_update": newest.date().isoformat() if newest else None, "age_days": age,
                  "hotfixes": len(w.hotfixes), "build": build, "caption": w.os.get("Caption"),
                  "support_ends": end.isoformat(), "collected": now.isoformat()},
        expected={"newest_update_age_days": f"<= {max_age}", "support": f"until {end} ({support.source})"})


@probe("windows.anti_malware", facts=("defender", "services", "os"))
def test_anti_malware(check: Check, host_facts: HostFacts) -> None:
    """Malicious code prevention installed and current (L3-CES1-23): Microsoft Defender running
    with real-time protection and fresh signatures, or a listed third-party product's service
    running (on Windows Server the Security Center does not list other products)."""
    w = _view(host_facts)
    d = w.defender
    names = [str(n) for n in check.list_param("third_party_services")]
    running = sorted({s.display_name or s.name for s in w.services if s.state == "Running"
                      and any(n.lower() in (s.name + " " + s.display_name).lower() for n in names)})
    max_sig = check.int_param("max_signature_age_days")
    sig = None
    if d.get("Present"):
        updated = ms_date(d.get("AntivirusSignatureLastUpdated"))
        sig = (w.collected - updated).days if updated else None
        defender_ok = bool(d.get("AMServiceEnabled")) and bool(d.get("RealTimeProtectionEnabled")) \
            and sig is not None and sig <= max_sig
    else:
        defender_ok = False
    check.judge(defender_ok or bool(running),
                observed={**_when(w), "defender_present": bool(d.get("Present")),
                          "AMServiceEnabled": d.get("AMServiceEnabled"),
                          "RealTimeProtectionEnabled": d.get("RealTimeProtectionEnabled"),
                          "signature_age_days": sig, "third_party_running": running},
                expected={"defender": f"service and real-time protection on, signatures <= {max_sig} days",
                          "or": f"a running service of {names}"},
                reason="" if defender_ok or running else "no running anti-malware: Defender off, stale or absent, "
                                                         "and no listed third-party product running")


def _sql_instances(check: Check, w: WindowsView) -> list[Any] | None:
    """The instances to judge; None (after recording 不适用) when the host runs no SQL Server.
    An instance that could not be read inside is 检查错误 for the whole control, with its error."""
    instances = w.mssql
    if not instances:
        check.not_applicable("no SQL Server instance on the host (registry Microsoft SQL Server\\Instance Names\\SQL)")
        return None
    bad = [f"{i.name}: {i.error}" for i in instances if i.error]
    if bad:
        raise FactUnavailable("SQL Server not readable with the collecting account: " + "; ".join(bad))
    return instances


@probe("windows.mssql_logins", facts=("mssql",))
def test_mssql_logins(check: Check, host_facts: HostFacts) -> None:
    """SQL Server logins on the host (the HIS database) enforce Windows' password policy and
    expiry (L3-CES1-01: 复杂度要求并定期更换): CHECK_POLICY and CHECK_EXPIRATION on every enabled
    SQL login; Windows-authenticated logins follow the host's own policy."""
    w = _view(host_facts)
    instances = _sql_instances(check, w)
    if instances is None:
        return
    no_policy = sorted(f"{i.name}/{lg.name}" for i in instances for lg in i.logins
                       if not lg.disabled and not lg.policy_checked)
    no_expiry = sorted(f"{i.name}/{lg.name}" for i in instances for lg in i.logins
                       if not lg.disabled and not lg.expiration_checked)
    check.judge_parts(
        {"CHECK_POLICY on every enabled SQL login": not no_policy,
         "CHECK_EXPIRATION on every enabled SQL login": not no_expiry},
        observed={**_when(w), "instances": [i.name for i in instances], "check_policy_off": no_policy,
                  "check_expiration_off": no_expiry},
        expected={"is_policy_checked": True, "is_expiration_checked": True})


@probe("windows.mssql_sa", facts=("mssql",))
def test_mssql_sa(check: Check, host_facts: HostFacts) -> None:
    """SQL Server's default administrator ``sa`` (principal_id 1) renamed or disabled
    (L3-CES1-06: 重命名或删除默认账户)."""
    w = _view(host_facts)
    instances = _sql_instances(check, w)
    if instances is None:
        return
    defaults = {str(n).lower() for n in check.list_param("default_logins")}
    found = {i.name: next((lg for lg in i.logins if lg.principal_id == 1), None) for i in instances}
    missing = [n for n, lg in found.items() if lg is None]
    if missing:
        raise FactUnavailable(f"sys.sql_logins of {', '.join(missing)} lists no principal_id 1 (sa)")
    usable = sorted(n for n, lg in found.items() if lg and not lg.disabled and lg.name.lower() in defaults)
    check.judge(not usable,
                observed={**_when(w), "sa": {n: {"name": lg.name, "disabled": lg.disabled}
                                             for n, lg in found.items() if lg}},
                expected=f"principal_id 1 disabled, or renamed from {sorted(defaults)}",
                reason=f"sa enabled under its default name on {', '.join(usable)}" if usable else "")


@probe("windows.mssql_audit", facts=("mssql",))
def test_mssql_audit(check: Check, host_facts: HostFacts) -> None:
    """SQL Server on the host audits logins (L3-CES1-12: 对重要的用户行为和重要安全事件进行审计):
    login auditing of successful and failed logins (AuditLevel), or a running server audit,
    or C2 / common criteria auditing. The default (failed logins only) records no one who got in."""
    w = _view(host_facts)
    instances = _sql_instances(check, w)
    if instances is None:
        return
    need = check.int_param("login_audit_level")
    ok: dict[str, bool] = {}
    for i in instances:
        started = any(status == "STARTED" for _, status in i.audits)
        c2 = any(v == 1 for _, v in i.configurations)
        ok[i.name] = (i.audit_level is not None and i.audit_level >= need) or started or c2
    check.judge_parts(
        {f"{name}: logins audited": good for name, good in ok.items()},
        observed={**_when(w), **{i.name: {"AuditLevel": i.audit_level, "server_audits": dict(i.audits),
                                          "configurations": dict(i.configurations)} for i in instances}},
        expected={"AuditLevel": f">= {need} (successful and failed logins)", "or": "a STARTED server audit, "
                  "or c2 audit mode / common criteria compliance enabled"})
