"""Typed views of a Windows host's sections (facts/windows.py): parsers only, no judgement.

Formats read, each keyed on what does not change with the display language:

- ``secedit /export /areas SECURITYPOLICY``: an INI file (UTF-16LE on disk, text here),
  ``[System Access]`` keys such as ``MinimumPasswordLength = 8``.
- ``auditpol /get /category:* /r``: CSV with the header ``Machine Name,Policy Target,Subcategory,
  Subcategory GUID,Inclusion Setting,Exclusion Setting``. The subcategory is keyed by its GUID;
  the inclusion setting is a closed set of four values per display language
  (:data:`AUDIT_SETTINGS`); a value outside the set is not guessed (FactUnavailable).
- Windows PowerShell 5.1 ``ConvertTo-Json``: enums as integers, ``DateTime`` as
  ``"\\/Date(ms)\\/"`` (or, for a wrapped value, ``{"value": "\\/Date(ms)\\/", …}``).
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ihconform.errors import FactUnavailable
from ihconform.facts.contract import HostFacts

_MS_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")

#: auditpol's inclusion setting per display language -> (success, failure). en-US from the
#: auditpol documentation; zh-CN as Chinese Windows prints it (recorded, see
#: tests/fixtures/windows/SOURCES.md).
AUDIT_SETTINGS: dict[str, tuple[bool, bool]] = {
    "no auditing": (False, False), "success": (True, False), "failure": (False, True),
    "success and failure": (True, True),
    "无审核": (False, False), "成功": (True, False), "失败": (False, True), "成功和失败": (True, True),
}
AUDITPOL_HEADER = ("Machine Name", "Policy Target", "Subcategory", "Subcategory GUID", "Inclusion Setting",
                   "Exclusion Setting")

#: Well-known relative identifiers (MS-DTYP 2.4.2.4): the built-in Administrator and Guest.
RID_ADMINISTRATOR = 500
RID_GUEST = 501

#: NetSecurity ``Action`` enum (Get-NetFirewallProfile DefaultInboundAction) and ``GpoBoolean``.
FIREWALL_ACTION = {0: "NotConfigured", 2: "Allow", 4: "Block"}
GPO_BOOLEAN = {0: False, 1: True}
#: System.Diagnostics.Eventing.Reader.EventLogMode
EVENT_LOG_MODE = {0: "Circular", 1: "AutoBackup", 2: "Retain"}


def ms_date(value: object) -> _dt.datetime | None:
    """A PowerShell 5.1 JSON date (``/Date(ms)/``, wrapped or not, or ISO 8601 from PS 7) as UTC."""
    if isinstance(value, dict):
        value = value.get("value")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    m = _MS_DATE.match(value)
    if m:
        return _dt.datetime.fromtimestamp(int(m.group(1)) / 1000, tz=_dt.UTC)
    parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.UTC)


def parse_secedit(text: str) -> dict[str, dict[str, str]]:
    """``[Section]`` -> key -> raw value, as secedit writes it (values keep their quotes)."""
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.lstrip("\ufeff").splitlines():
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = out.setdefault(line[1:-1].strip(), {})
            continue
        if current is not None and "=" in line:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    if "System Access" not in out:
        raise FactUnavailable("secedit export has no [System Access] section")
    return out


@dataclass(frozen=True)
class AuditSetting:
    subcategory: str  # as displayed (localised); the GUID is the key
    success: bool
    failure: bool


def parse_auditpol(text: str) -> dict[str, AuditSetting]:
    """Subcategory GUID (lower case, braces kept) -> setting."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows or tuple(c.strip() for c in rows[0][:6]) != AUDITPOL_HEADER:
        raise FactUnavailable(f"auditpol output has no `/r` CSV header ({','.join(AUDITPOL_HEADER)})")
    out: dict[str, AuditSetting] = {}
    for row in rows[1:]:
        if len(row) < 5 or not row[3].strip():
            continue
        setting = AUDIT_SETTINGS.get(row[4].strip().lower())
        if setting is None:
            raise FactUnavailable(f"auditpol inclusion setting {row[4].strip()!r} (subcategory {row[3].strip()}) "
                                  "is not one this version knows; not guessed")
        out[row[3].strip().lower()] = AuditSetting(row[2].strip(), *setting)
    return out


@dataclass(frozen=True)
class LocalUser:
    name: str
    sid: str
    enabled: bool
    password_required: bool
    password_expires: _dt.datetime | None  # None: the password never expires
    password_last_set: _dt.datetime | None

    @property
    def rid(self) -> int | None:
        tail = self.sid.rsplit("-", 1)[-1]
        return int(tail) if tail.isdigit() else None


@dataclass(frozen=True)
class EventLog:
    name: str
    max_bytes: int
    mode: str
    enabled: bool


@dataclass(frozen=True)
class FirewallProfile:
    name: str
    enabled: bool | None  # None: NotConfigured in the store read
    inbound: str


@dataclass(frozen=True)
class Service:
    name: str
    display_name: str
    state: str
    start_mode: str


@dataclass(frozen=True)
class HotFix:
    id: str
    installed_on: _dt.datetime | None


@dataclass(frozen=True)
class SqlLogin:
    """A row of ``sys.sql_logins`` (principal_id 1 is the built-in ``sa``, whatever its name)."""

    name: str
    principal_id: int
    disabled: bool
    policy_checked: bool
    expiration_checked: bool


@dataclass(frozen=True)
class SqlInstance:
    name: str
    error: str  # why the instance could not be read inside (login failed, not running); "" when read
    logins: tuple[SqlLogin, ...]
    audit_level: int | None = None  # registry AuditLevel: 0 none, 1 successful, 2 failed, 3 both logins
    audits: tuple[tuple[str, str], ...] = ()  # server audits (name, status_desc: STARTED …)
    configurations: tuple[tuple[str, int], ...] = ()  # c2 audit mode, common criteria compliance enabled


def _as_list(data: object, name: str) -> list[dict[str, Any]]:
    if data is None:
        return []
    if isinstance(data, dict):  # a list of one that was unrolled on the way
        data = [data]
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise FactUnavailable(f"section {name}: expected a list of objects")
    return data


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise FactUnavailable(f"expected true/false, got {value!r}")


class WindowsView:
    """Parsed facts of one Windows host. Each property raises FactUnavailable when its section
    is not complete (HostFacts.raw), so a probe reading it reports 检查错误."""

    def __init__(self, facts: HostFacts) -> None:
        self.facts = facts

    def data(self, name: str) -> Any:
        try:
            return json.loads(self.facts.text(name))
        except ValueError as exc:
            raise FactUnavailable(f"host {self.facts.host_id}: section {name} is not JSON: {exc}") from None

    @cached_property
    def collected(self) -> _dt.datetime:
        """When the batch ran (its header), the "now" of every age judged on this host."""
        raw = self.facts.identity.get("collected", "")
        if not raw:
            raise FactUnavailable(f"host {self.facts.host_id}: the answer carries no collection time")
        return _dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))

    @cached_property
    def os(self) -> dict[str, Any]:
        d = self.data("os")
        if not isinstance(d, dict):
            raise FactUnavailable("section os: expected an object")
        return d

    @cached_property
    def secedit(self) -> dict[str, dict[str, str]]:
        d = self.data("secedit")
        if not isinstance(d, str):
            raise FactUnavailable("section secedit: expected the exported INI text")
        return parse_secedit(d)

    def system_access(self, key: str) -> int | None:
        """An integer of ``[System Access]``; None when the export does not list it."""
        raw = self.secedit["System Access"].get(key)
        if raw is None or raw == "":
            return None
        try:
            return int(raw)
        except ValueError:
            raise FactUnavailable(f"secedit {key} = {raw!r} is not an integer") from None

    @cached_property
    def audit(self) -> dict[str, AuditSetting]:
        d = self.data("auditpol")
        if not isinstance(d, str):
            raise FactUnavailable("section auditpol: expected the CSV text")
        return parse_auditpol(d)

    @cached_property
    def users(self) -> list[LocalUser]:
        return [LocalUser(str(u.get("Name", "")), str(u.get("SID", "")), _bool(u.get("Enabled")),
                          _bool(u.get("PasswordRequired")), ms_date(u.get("PasswordExpires")),
                          ms_date(u.get("PasswordLastSet")))
                for u in _as_list(self.data("users"), "users")]

    @cached_property
    def registry(self) -> dict[tuple[str, str], Any]:
        """(key path, value name) -> value, for the values that exist."""
        return {(str(r.get("Path")), str(r.get("Name"))): r.get("Value")
                for r in _as_list(self.data("registry"), "registry") if r.get("Exists")}

    def reg_int(self, path: str, name: str) -> int | None:
        v = self.registry.get((path, name))
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise FactUnavailable(f"registry {path}\\{name} = {v!r} is not a DWORD")
        return v

    def reg_values(self, path: str) -> dict[str, Any]:
        return {n: v for (p, n), v in self.registry.items() if p == path}

    @cached_property
    def event_logs(self) -> dict[str, EventLog]:
        out = {}
        for r in _as_list(self.data("eventlogs"), "eventlogs"):
            mode = r.get("LogMode")
            out[str(r.get("LogName"))] = EventLog(str(r.get("LogName")), int(r.get("MaximumSizeInBytes") or 0),
                                                  EVENT_LOG_MODE.get(mode, str(mode)) if isinstance(mode, int)
                                                  else str(mode), _bool(r.get("IsEnabled")))
        return out

    @cached_property
    def smb(self) -> dict[str, Any]:
        d = self.data("smb")
        if not isinstance(d, dict):
            raise FactUnavailable("section smb: expected an object")
        return d

    @cached_property
    def firewall(self) -> list[FirewallProfile]:
        out = []
        for r in _as_list(self.data("firewall"), "firewall"):
            en, inbound = r.get("Enabled"), r.get("DefaultInboundAction")
            out.append(FirewallProfile(str(r.get("Name")), GPO_BOOLEAN.get(en) if isinstance(en, int) else None,
                                       FIREWALL_ACTION.get(inbound, str(inbound)) if isinstance(inbound, int)
                                       else str(inbound)))
        return out

    @cached_property
    def defender(self) -> dict[str, Any]:
        d = self.data("defender")
        if not isinstance(d, dict):
            raise FactUnavailable("section defender: expected an object")
        return d

    @cached_property
    def services(self) -> list[Service]:
        return [Service(str(r.get("Name", "")), str(r.get("DisplayName", "")), str(r.get("State", "")),
                        str(r.get("StartMode", ""))) for r in _as_list(self.data("services"), "services")]

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name.lower() == name.lower()), None)

    @cached_property
    def hotfixes(self) -> list[HotFix]:
        return [HotFix(str(r.get("HotFixID", "")), ms_date(r.get("InstalledOn")))
                for r in _as_list(self.data("hotfixes"), "hotfixes")]

    @cached_property
    def listening(self) -> list[tuple[str, int, str]]:
        return [(str(r.get("LocalAddress")), int(r.get("LocalPort") or 0), str(r.get("Process") or ""))
                for r in _as_list(self.data("listening"), "listening")]

    @cached_property
    def mssql(self) -> list[SqlInstance]:
        """SQL Server instances (registry ``Instance Names\\SQL``) with what was read inside each."""
        out = []
        for r in _as_list(self.data("mssql"), "mssql"):
            logins = tuple(SqlLogin(str(x.get("name", "")), int(x.get("principal_id") or 0),
                                    _bool(x.get("is_disabled")), _bool(x.get("is_policy_checked")),
                                    _bool(x.get("is_expiration_checked")))
                           for x in _as_list(r.get("Logins"), "mssql logins"))
            level = r.get("AuditLevel")
            audits = tuple((str(x.get("name", "")), str(x.get("status_desc") or ""))
                           for x in _as_list(r.get("Audits"), "mssql audits"))
            conf = tuple((str(x.get("name", "")), int(x.get("value") or 0))
                         for x in _as_list(r.get("Configurations"), "mssql configurations"))
            out.append(SqlInstance(str(r.get("Instance", "")), str(r.get("Error") or ""), logins,
                                   level if isinstance(level, int) and not isinstance(level, bool) else None,
                                   audits, conf))
        return out

    @cached_property
    def time_source(self) -> str:
        d = self.data("w32time")
        if not isinstance(d, dict) or d.get("ExitCode") != 0:
            raise FactUnavailable(f"w32tm /query /source failed: {d!r}"[:300])
        return str(d.get("Source", ""))
