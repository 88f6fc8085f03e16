"""附录1 四(一) and 等保 8.1.1.9: power supply, from live readings and attested documents.

Readings:
- **Redfish** (``power.redfish``, one result per BMC): every chassis' ``Power`` resource (or the
  newer ``PowerSubsystem``): each power supply's Status (State, Health) and the Redundancy
  group. A server shows redundant supply when at least ``min_healthy_psus`` supplies are
  Enabled/OK, no installed supply is degraded, and no redundancy group reports a problem.
- **IPMI** (``power.ipmi``, one result per BMC, optional): ``ipmitool sdr type "Power Supply"`` run
  in-band on the server the BMC belongs to, over the run's SSH connection (as root, or through
  ``sudo`` as the inventory allows). For servers whose BMC has no Redfish service.
- **NUT** (``power.ups``, one result per UPS): ``LIST VAR`` over the NUT network protocol
  (RFC 9271): ``ups.status`` must show on-line power and none of ``bad_status_flags``, with
  ``battery.charge`` and ``battery.runtime`` at or above their thresholds.
- **Site** (``power.dual_supply``): the readings above for every server (hosts with a role in
  ``server_roles``) and at least ``min_ups_feeds`` UPS units on distinct feeds on line, combined
  with attestation documents (dual-feed supply contract, generator maintenance record) by the
  profile's ``rule``; see docs/evidence.md for the combination table.

Every reading is written to the run's evidence folder (``evidence/power/<id>/redfish.json`` or
``nut.json``) and attached to the verdict; a device that does not answer gives 检查错误 with the
reason (the failure is cached, so every control that needs it reports the same). A failed
supply or a UPS on battery gives 不符合 quoting the reading. BMC and UPS passwords come from the
environment variables the inventory names and are never written anywhere.

The device clients (Redfish, NUT, in-band IPMI) are network observation and live in
``ihconform.net.redfish``, ``ihconform.net.nut`` and ``ihconform.net.ipmi``; this module judges.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.inventory import Bmc, Inventory, Ups
from ihconform.ledger.core import INTEGRITY_ERRORS, VALID, Checked, Ledger
from ihconform.net.ipmi import read_ipmi
from ihconform.net.nut import read_nut
from ihconform.net.redfish import read_redfish
from ihconform.probes.evidence import describe, link_attestations, newest
from ihconform.registry import probe
from ihconform.results import EvidenceRef, Status
from ihconform.runcache import EvidenceSink, RunCache
from ihconform.transport.base import Transport

# ---- Redfish ------------------------------------------------------------------------------


def judge_psus(reading: dict[str, Any], min_healthy: int) -> tuple[bool, list[str], dict[str, Any]]:
    """(redundant?, problems quoting the reading, observed summary). Absent bays are not
    supplies; any installed supply not Enabled/OK and any redundancy group not OK is a problem."""
    problems: list[str] = []
    installed = [p for p in reading["power_supplies"] if p["state"] != "Absent"]
    healthy = [p for p in installed if p["state"] == "Enabled" and p["health"] == "OK"]
    for p in installed:
        if p not in healthy:
            problems.append(f"{p['name']}: State={p['state'] or '?'}, Health={p['health'] or '?'}"
                            + (f", LineInputVoltage={p['line_input_voltage']}"
                               if p.get("line_input_voltage") is not None else ""))
    for g in reading["redundancy"]:
        if g["state"] not in ("", "Enabled") or g["health"] not in ("", "OK"):
            problems.append(f"{g['name']}: Mode={g['mode']}, State={g['state'] or '?'}, Health={g['health'] or '?'}")
    if len(healthy) < min_healthy:
        problems.insert(0, f"{len(healthy)} healthy power supplies of {len(installed)} installed, "
                           f"need >= {min_healthy}")
    observed = {"server": reading["server"], "bmc": reading["bmc"], "url": reading["url"],
                "healthy": len(healthy), "installed": len(installed),
                "power_supplies": [{k: p[k] for k in ("name", "state", "health", "line_input_voltage")}
                                   for p in reading["power_supplies"]],
                "redundancy": [{k: g[k] for k in ("name", "mode", "state", "health")} for g in reading["redundancy"]]}
    return not problems, problems, observed


# ---- IPMI ---------------------------------------------------------------------------------

#: Event texts of a power-supply sensor that mean the supply is not delivering power.
IPMI_PSU_FAULTS = ("failure detected", "predictive failure", "ac lost", "out-of-range", "config error",
                   "input lost", "power supply inactive")



def judge_ipmi(rows: list[dict[str, str]], min_healthy: int) -> tuple[bool, list[str], dict[str, Any]]:
    """(redundant?, problems quoting the sensors, observed). A supply is healthy when its sensor
    reads ``ok``, reports presence and no fault; a redundancy sensor must say Fully Redundant."""
    problems: list[str] = []
    supplies = [r for r in rows if "redundan" not in r["name"].lower()]
    groups = [r for r in rows if "redundan" in r["name"].lower()]
    healthy = []
    for r in supplies:
        events = r["events"].lower()
        faults = [f for f in IPMI_PSU_FAULTS if f in events]
        present = "presence detected" in events
        if r["status"] == "ok" and present and not faults:
            healthy.append(r)
        elif present or r["status"] != "ns":  # "ns" without presence: an empty bay
            problems.append(f"{r['name']}: status={r['status']}, events={r['events']}")
    for g in groups:
        if "fully redundant" not in g["events"].lower():
            problems.append(f"{g['name']}: status={g['status']}, events={g['events']}")
    if len(healthy) < min_healthy:
        problems.insert(0, f"{len(healthy)} healthy power supplies reported by IPMI, need >= {min_healthy}")
    return not problems, problems, {"healthy": len(healthy), "sensors": rows}


# ---- NUT ----------------------------------------------------------------------------------


def _num(v: str | None) -> float | None:
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


def judge_ups(reading: dict[str, Any], *, bad_flags: list[str], min_charge: float,
              min_runtime: float) -> tuple[bool, list[str], dict[str, Any]]:
    """(on line and ready?, problems quoting the reading, observed summary)."""
    v = reading["variables"]
    status = v.get("ups.status", "")
    flags = status.split()
    charge, runtime = _num(v.get("battery.charge")), _num(v.get("battery.runtime"))
    quote = (f"ups.status={status or '?'}, battery.charge={v.get('battery.charge', '?')} %, "
             f"battery.runtime={v.get('battery.runtime', '?')} s")
    problems = []
    if "OL" not in flags:
        problems.append(f"not on line power ({quote})")
    bad = [fl for fl in flags if fl in bad_flags]
    if bad:
        problems.append(f"status flags {' '.join(bad)} ({quote})")
    if charge is None or charge < min_charge:
        problems.append(f"battery.charge {v.get('battery.charge', 'not reported')} < {min_charge:g} %")
    if runtime is None or runtime < min_runtime:
        problems.append(f"battery.runtime {v.get('battery.runtime', 'not reported')} < {min_runtime:g} s")
    observed = {"ups": reading["ups"], "name": reading["name"], "feed": reading["feed"], "server": reading["server"],
                "ups.status": status, "battery.charge": v.get("battery.charge"),
                "battery.runtime": v.get("battery.runtime"), "input.voltage": v.get("input.voltage"),
                "device.serial": v.get("device.serial") or v.get("ups.serial")}
    return not problems, problems, observed


# ---- shared readings (once per run, evidence written once) ---------------------------------


def _cached(run_cache: RunCache, sink: EvidenceSink, key: str, parts: tuple[str, ...], kind: str,
            read: Any) -> tuple[dict[str, Any], EvidenceRef]:
    """Read once per run; the reading (or the failure) is written as evidence either way."""

    def compute() -> tuple[dict[str, Any], EvidenceRef]:
        try:
            reading = read()
        except FactUnavailable as exc:
            sink.write(parts, {"error": str(exc), "at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")},
                       kind=kind)
            raise
        return reading, sink.write(parts, reading, kind=kind)

    result: tuple[dict[str, Any], EvidenceRef] = run_cache.get(key, compute)
    return result


def redfish_reading(run_cache: RunCache, sink: EvidenceSink, bmc: Bmc) -> tuple[dict[str, Any], EvidenceRef]:
    return _cached(run_cache, sink, f"redfish:{bmc.id}", ("power", bmc.id, "redfish.json"), "redfish",
                   lambda: read_redfish(bmc))


def nut_reading(run_cache: RunCache, sink: EvidenceSink, ups: Ups) -> tuple[dict[str, Any], EvidenceRef]:
    return _cached(run_cache, sink, f"nut:{ups.id}", ("power", ups.id, "nut.json"), "nut", lambda: read_nut(ups))


def _ups_params(check: Check) -> dict[str, Any]:
    return {"bad_flags": [str(x) for x in check.list_param("bad_status_flags")],
            "min_charge": check.float_param("min_battery_charge"),
            "min_runtime": check.float_param("min_runtime_s")}


def _bmc_or_not_applicable(check: Check, probe_id: str) -> Bmc | None:
    """The BMC this check judges; a UPS object is 不适用 here (power.ups judges it)."""
    bmc = check.obj.ref
    if isinstance(bmc, Ups):
        check.not_applicable(f"由 BMC 判定；UPS {bmc.id} 由 power.ups 判定 / judged on BMCs; "
                             f"UPS {bmc.id} is judged by power.ups")
        return None
    if not isinstance(bmc, Bmc):
        raise FactUnavailable(f"{check.obj.id} is not a BMC; {probe_id} judges power objects")
    return bmc


@probe("power.redfish", facts=())
def test_redfish(check: Check, run_cache: RunCache, evidence: EvidenceSink) -> None:
    bmc = _bmc_or_not_applicable(check, "power.redfish")
    if bmc is None:
        return
    reading, ref = redfish_reading(run_cache, evidence, bmc)
    check.attach(ref)
    need = check.int_param("min_healthy_psus")
    ok, problems, observed = judge_psus(reading, need)
    check.judge(ok, observed=observed,
                expected=f">= {need} power supplies Enabled/OK, redundancy group OK",
                reason="; ".join(problems) if problems else
                f"{bmc.server}: {observed['healthy']} 路电源正常且冗余 / power supplies healthy and redundant")


@probe("power.ipmi", facts=())
def test_ipmi(check: Check, run_cache: RunCache, evidence: EvidenceSink,
              host_transport: Callable[[str], Transport]) -> None:
    bmc = _bmc_or_not_applicable(check, "power.ipmi")
    if bmc is None:
        return
    host = check.inventory.host(bmc.server)
    reading, ref = _cached(run_cache, evidence, f"ipmi:{bmc.id}", ("power", bmc.id, "ipmi-sdr.json"), "ipmi",
                           lambda: read_ipmi(host_transport(host.id), host))
    check.attach(ref)
    need = check.int_param("min_healthy_psus")
    ok, problems, observed = judge_ipmi(reading["sensors"], need)
    check.judge(ok, observed={"server": host.id, **observed},
                expected=f">= {need} power supplies ok with presence detected, redundancy Fully Redundant",
                reason="; ".join(problems) if problems else
                f"{host.id}: {observed['healthy']} 路电源正常且冗余（IPMI）/ power supplies healthy and redundant")


@probe("power.ups", facts=())
def test_ups(check: Check, run_cache: RunCache, evidence: EvidenceSink) -> None:
    ups = check.obj.ref
    if isinstance(ups, Bmc):
        check.not_applicable(f"由 UPS 判定；BMC {ups.id} 由 power.redfish 判定 / judged on UPS units; "
                             f"BMC {ups.id} is judged by power.redfish")
        return
    if not isinstance(ups, Ups):
        raise FactUnavailable(f"{check.obj.id} is not a UPS; power.ups judges power objects")
    reading, ref = nut_reading(run_cache, evidence, ups)
    check.attach(ref)
    params = _ups_params(check)
    ok, problems, observed = judge_ups(reading, **params)
    check.judge(ok, observed=observed,
                expected=(f"ups.status OL without {' '.join(params['bad_flags'])}; battery.charge >= "
                          f"{params['min_charge']:g} %, battery.runtime >= {params['min_runtime']:g} s"),
                reason="; ".join(problems) if problems else
                f"UPS {ups.name} (feed {ups.feed or '?'}): ups.status={observed['ups.status']}, "
                f"battery.charge={observed['battery.charge']} %, battery.runtime={observed['battery.runtime']} s")


# ---- site: readings and documents combined --------------------------------------------------


RULES = ("readings_and_document", "readings_or_document", "readings_only", "document_only")


def combine(rule: str, readings: Status, document: Status) -> Status:
    """How the two kinds of evidence combine (docs/evidence.md). Untrustworthy documents
    (检查错误) are never outweighed; otherwise "and" needs both, "or" needs one."""
    if rule == "readings_only":
        return readings
    if rule == "document_only":
        return document
    parts = (readings, document)
    if rule == "readings_and_document":
        for st in (Status.FAIL, Status.ERROR, Status.NOT_CHECKED):
            if st in parts:
                return st
        return Status.PASS
    if rule == "readings_or_document":
        if document is Status.ERROR:
            return Status.ERROR
        for st in (Status.PASS, Status.FAIL, Status.ERROR):
            if st in parts:
                return st
        return Status.NOT_CHECKED
    raise ValueError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")


def site_readings(inv: Inventory, run_cache: RunCache, sink: EvidenceSink, *, roles: list[str],
                  min_psus: int, min_feeds: int, ups_params: dict[str, Any]
                  ) -> tuple[Status, list[str], dict[str, Any], list[EvidenceRef]]:
    """The readings part of the site verdict: every server's BMC redundant, and UPS units on line
    on at least ``min_feeds`` distinct feeds."""
    notes: list[str] = []
    observed: dict[str, Any] = {"servers": {}, "ups": {}}
    refs: list[EvidenceRef] = []
    fail = error = unknown = False
    servers = [h.id for h in inv.hosts if set(h.roles) & set(roles)]
    bmcs = {b.server: b for b in inv.power.bmcs}
    for hid in servers:
        bmc = bmcs.get(hid)
        if bmc is None:
            unknown = True
            notes.append(f"{hid}: 清单未声明 BMC / no BMC declared")
            observed["servers"][hid] = "no BMC declared"
            continue
        try:
            reading, ref = redfish_reading(run_cache, sink, bmc)
        except FactUnavailable as exc:
            error = True
            notes.append(str(exc))
            observed["servers"][hid] = f"error: {exc}"
            continue
        refs.append(ref)
        ok, problems, obs = judge_psus(reading, min_psus)
        observed["servers"][hid] = obs
        if not ok:
            fail = True
            notes.append(f"{hid} ({bmc.id}): " + "; ".join(problems))
    if not servers:
        unknown = True
        notes.append(f"清单中没有角色为 {', '.join(roles)} 的服务器 / no server with roles {', '.join(roles)}")
    online_feeds: set[str] = set()
    ups_errors: list[str] = []
    for ups in inv.power.ups:
        try:
            reading, ref = nut_reading(run_cache, sink, ups)
        except FactUnavailable as exc:
            ups_errors.append(str(exc))
            observed["ups"][ups.id] = f"error: {exc}"
            continue
        refs.append(ref)
        ok, problems, obs = judge_ups(reading, **ups_params)
        observed["ups"][ups.id] = obs
        if ok and ups.feed:
            online_feeds.add(ups.feed)
        elif not ok:
            notes.append(f"UPS {ups.id} (feed {ups.feed or '?'}): " + "; ".join(problems))
        else:
            notes.append(f"UPS {ups.id}: 清单未写明供电线路 / no feed declared")
    observed["ups_feeds_on_line"] = sorted(online_feeds)
    if len(online_feeds) < min_feeds:
        if ups_errors:
            error = True
            notes += ups_errors
        elif not inv.power.ups:
            unknown = True
            notes.append("清单未声明 UPS / no UPS declared")
        else:
            fail = True
        notes.append(f"{len(online_feeds)} 路供电线路上有在线 UPS，要求 >= {min_feeds} / feeds with a UPS on line: "
                     f"{len(online_feeds)}, need >= {min_feeds}")
    status = (Status.FAIL if fail else Status.ERROR if error else Status.NOT_CHECKED if unknown else Status.PASS)
    return status, notes, observed, refs


def document_part(ledger: Ledger, control_id: str, object_id: str, kinds: list[str]
                  ) -> tuple[Status, str, list[Checked]]:
    """The documents part: attestations for the control of an accepted kind (any kind when
    ``kinds`` is empty). Integrity problems win; else the newest valid one claims the result."""
    def kind_of(c: Checked) -> str | None:
        doc = getattr(c.record, "document", None)
        return doc.kind if doc is not None else None

    found = [c for c in ledger.attestations_for(control_id, object_id) if not kinds or kind_of(c) in kinds]
    if not found:
        return Status.NOT_CHECKED, "无证明材料 / no attestation recorded", []
    bad = [c for c in found if c.state in INTEGRITY_ERRORS]
    if bad:
        return Status.ERROR, "; ".join(f"{c.id}: {c.reason}" for c in bad), bad
    valid = [c for c in found if c.state == VALID]
    if not valid:
        return Status.NOT_CHECKED, "; ".join(f"{c.id}: {c.reason}" for c in found), found
    c = newest(valid)
    claimed = describe(c)
    status = Status(claimed["claimed"])
    if status is Status.NOT_APPLICABLE:
        status = Status.NOT_CHECKED  # a dual-supply document cannot make the requirement not apply
    return status, f"{c.id}: {claimed['statement']} ({claimed['attester']}, {claimed['date']})", [c]


def _readings_scope(observed: dict[str, Any], roles: list[str]) -> str:
    """What a met readings part rests on: the servers whose supplies were read (by the
    inventory's roles) and the feeds with a UPS on line, never a bare "all redundant"."""
    read = sorted(h for h, o in observed.get("servers", {}).items() if isinstance(o, dict))
    feeds = observed.get("ups_feeds_on_line", [])
    return (f"电源模块已读取且冗余 / supplies read and redundant on {', '.join(read) or 'no server'} "
            f"(servers with roles {', '.join(roles)}); UPS on line on feeds {', '.join(feeds) or 'none'}")


@probe("power.dual_supply", facts=())
def test_dual_supply(check: Check, run_cache: RunCache, evidence: EvidenceSink, ledger: Ledger) -> None:
    rule = str(check.param("rule"))
    if rule not in RULES:
        raise ValueError(f"{check.control.id}.rule must be one of {', '.join(RULES)}, got {rule!r}")
    inv = check.inventory
    r_status, r_notes = Status.NOT_CHECKED, ["未读取 / not read (rule document_only)"]
    r_obs: dict[str, Any] = {}
    if rule != "document_only":
        r_status, r_notes, r_obs, refs = site_readings(
            inv, run_cache, evidence, roles=[str(x) for x in check.list_param("server_roles")],
            min_psus=check.int_param("min_healthy_psus"), min_feeds=check.int_param("min_ups_feeds"),
            ups_params=_ups_params(check))
        for ref in refs:
            check.attach(ref)
    d_status, d_note = Status.NOT_CHECKED, "未使用 / not used (rule readings_only)"
    used: list[Checked] = []
    if rule != "readings_only":
        kinds = [str(k) for k in check.list_param("accepted_documents")]
        d_status, d_note, used = document_part(ledger, check.control.id, check.obj.id, kinds)
        if check.inventory.evidence.attestations is None:
            d_note = "清单未配置证明材料台账 / the inventory names no attestation ledger"
        link_attestations(check, ledger, used)
    verdict = combine(rule, r_status, d_status)
    r_text = "; ".join(r_notes) or _readings_scope(r_obs, [str(x) for x in check.list_param("server_roles")])
    reason = f"rule {rule}: 实测 / readings {r_status.zh} ({r_text}); 证明材料 / documents {d_status.zh} ({d_note})"
    observed = {"rule": rule, "readings": {"status": r_status.value, **r_obs},
                "documents": {"status": d_status.value, "attestations": [describe(c) for c in used]}}
    expected = (f"{rule}: every {'/'.join(str(x) for x in check.list_param('server_roles'))} server's BMC "
                f"redundant, UPS on line on >= {check.int_param('min_ups_feeds')} feeds; attested "
                f"{', '.join(str(k) for k in check.list_param('accepted_documents')) or 'document'}")
    if verdict in (Status.PASS, Status.FAIL):
        check.judge(verdict is Status.PASS, observed=observed, expected=expected, reason=reason)
    elif verdict is Status.ERROR:
        check.error(reason)
    else:
        check.not_checked(reason, observed=observed, expected=expected)
