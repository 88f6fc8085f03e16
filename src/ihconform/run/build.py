"""Turn what the reporter collected into the one :class:`RunResult` of a run.

Why a module of its own: every report format renders from this model, and the controller of
a distributed run builds it from results its workers sent, so it depends on the session's
state only, never on pytest's objects.
"""

from __future__ import annotations

import datetime as _dt
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ihconform import __version__
from ihconform.errors import IhconformError
from ihconform.inventory import Database, Host, TlsEndpoint
from ihconform.ledger.core import apply_ledger, sha256_file
from ihconform.plan import probe_for
from ihconform.profile import ObjectType
from ihconform.results import (
    ControlResult,
    EvidenceRef,
    ExitCode,
    HighRiskCaseRef,
    ObjectResult,
    RunInfo,
    RunResult,
    Selection,
    Status,
    Summary,
    TestedObject,
    aggregate,
    conclude,
    conclude_documents,
    counts,
)
from ihconform.run.state import IhcState
from ihconform.scoring import compute_score


def _jsonable(value: Any) -> Any:
    """Observed values are free-form; make sure they serialise (sets, paths, bytes...)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _host_of(ref: object) -> str | None:
    if isinstance(ref, Host):
        return ref.id
    if isinstance(ref, Database):
        return ref.host
    return None


def build_result(state: IhcState, evidence: dict[str, EvidenceRef]) -> RunResult:
    plan = state.plan
    order = {c.id: i for i, c in enumerate(plan.controls)}
    obj_order = {o.id: i for i, o in enumerate(plan.objects)}
    results: list[ObjectResult] = []
    for key, pair in plan.pairs.items():
        r = state.tally.results.get(key)
        if r is None:  # planned but never ran (deselected, collection error, interrupted)
            why = "probe did not run (interrupted, deselected or not collected)"
            status = Status.NOT_CHECKED
            if state.tally.collect_errors:
                status = Status.ERROR
                why = "probe modules failed to load: " + " | ".join(e[:300] for e in state.tally.collect_errors)
            r = ObjectResult(control_id=pair.control.id, object_id=pair.obj.id,
                             object_type=pair.obj.type.value, status=status,
                             status_zh=status.zh, probe=probe_for(pair.control), reason=why)
        host_id = _host_of(pair.obj.ref)
        refs = list(r.evidence)
        if host_id and f"transcript:{host_id}" in evidence:
            refs.insert(0, evidence[f"transcript:{host_id}"])
        results.append(r.model_copy(update={"observed": _jsonable(r.observed),
                                            "expected": _jsonable(r.expected), "evidence": tuple(refs)}))
    for pair in plan.excluded:
        reason = plan.profile.excluded[pair.control.id]
        results.append(ObjectResult(control_id=pair.control.id, object_id=pair.obj.id,
                                    object_type=pair.obj.type.value, status=Status.NOT_APPLICABLE,
                                    status_zh=Status.NOT_APPLICABLE.zh,
                                    reason=f"tailored out: {reason}", probe=probe_for(pair.control)))
    for control in plan.unmatched:
        types = ", ".join(t.value for t in control.applies_to)
        if set(control.applies_to) == {ObjectType.HOST_OS_WINDOWS} and plan.inventory.targets:
            # the inventory lists its hosts and none is a Windows host: a Windows control does not
            # apply (不适用), as a database control would not on a site that declares no database
            # engine of its kind; 未检查 would make every Linux-only site incomplete
            results.append(ObjectResult(
                control_id=control.id, object_id="-", object_type=control.applies_to[0].value,
                status=Status.NOT_APPLICABLE, status_zh=Status.NOT_APPLICABLE.zh, probe=probe_for(control),
                reason="清单中没有 Windows 主机 / the inventory declares no host with platform: windows"))
            continue
        results.append(ObjectResult(
            control_id=control.id, object_id="-", object_type=control.applies_to[0].value,
            status=Status.NOT_CHECKED, status_zh=Status.NOT_CHECKED.zh, probe=probe_for(control),
            reason=f"清单未声明 {types} 类对象 / the inventory declares no object of type {types}"))
    results.sort(key=lambda r: (order.get(r.control_id, 1 << 30), obj_order.get(r.object_id, 1 << 30)))
    # the evidence ledger: waivers mark failures as accepted risk (the status stays), judges'
    # attestation ids are named; expired waivers stop applying, with a warning
    results, applied, waiver_warnings = apply_ledger(results, state.ledger)

    by_control: dict[str, list[Status]] = {}
    for r in results:
        by_control.setdefault(r.control_id, []).append(r.status)
    controls: list[ControlResult] = []
    for control in plan.controls:
        states = by_control.get(control.id, [])
        st = aggregate(states)
        controls.append(ControlResult(
            control_id=control.id, title_zh=control.title.zh, title_en=control.title.en,
            document=control.source.document, clause=control.source.clause, item=control.source.item,
            requirement=control.source.text, method=control.method.value, severity=control.severity.value,
            high_risk=control.high_risk, area=control.area, status=st, status_zh=st.zh,
            counts=counts(states),
            parameters={k: _jsonable(p.value) for k, p in control.parameters.items()},
            high_risk_case=(HighRiskCaseRef(**control.high_risk_case.model_dump()) if control.high_risk
                            and control.high_risk_case else None),
            control_point=control.control_point))
    score = compute_score(plan.controls, results, plan.profile.scoring)
    accepted = sum(1 for r in results if r.waiver is not None and r.status in (Status.FAIL, Status.PARTIAL))
    conclusion = conclude(controls)
    run_status, code = conclusion.status, conclusion.exit_code
    if state.tally.interrupted:
        code = ExitCode.INTERRUPTED
    finished = _dt.datetime.now(_dt.UTC)
    inv = plan.inventory
    inv_file = Path(state.settings.inventory_path)
    inv_digest = sha256_file(inv_file) if inv_file.is_file() else ""
    return RunResult(
        tool={"name": "ihconform", "version": __version__, "python": sys.version.split()[0]},
        institution=inv.institution.model_dump(mode="json"),
        system=inv.system.model_dump(mode="json"),
        run=RunInfo(id=state.settings.run_id, started=state.settings.started.isoformat(timespec="seconds"),
                    finished=finished.isoformat(timespec="seconds"),
                    duration_s=round(time.monotonic() - state.settings.t0, 3), profile=plan.profile.id,
                    profile_version=plan.profile.version, profile_digests=portable_digests(plan.profile),
                    inventory=portable_path(state.settings.inventory_path), inventory_sha256=inv_digest, only=plan.only,
                    command=tuple(portable_path(a) for a in sys.argv), interrupted=state.tally.interrupted,
                    selection=Selection(only=plan.only, partial=len(plan.controls) < len(plan.profile.controls),
                                        controls=len(plan.controls), profile_controls=len(plan.profile.controls))),
        summary=Summary(status=run_status, status_zh=run_status.zh, exit_code=code,
                        controls=counts(c.status for c in controls),
                        objects=counts(r.status for r in results), incomplete=conclusion.incomplete,
                        conclusions=conclude_documents(controls),
                        high_risk_failures=tuple(c.control_id for c in controls if c.high_risk
                                                 and c.status in (Status.FAIL, Status.PARTIAL)),
                        accepted_risk=accepted, score=score),
        controls=tuple(controls),
        results=tuple(results),
        objects=tuple(tested_object(o) for o in plan.objects),
        evidence=tuple(sorted(evidence.values(), key=lambda e: e.path)),
        attestations=state.ledger.attestation_records(),
        waivers=state.ledger.waiver_records(applied),
        warnings=tuple(state.ledger.warnings() + waiver_warnings),
        tester=tester_record(inv.tester.model_dump(mode="json"), state.settings.tester),
    )


def tested_object(o: Any) -> TestedObject:
    """A test object as results.json records it, with its place in the deployment (topology for
    the report): the host it runs on, a host's roles, location and jump host."""
    ref = o.ref
    on = ""
    for attr in ("host", "server"):
        value = getattr(ref, attr, None)
        if isinstance(value, str) and not isinstance(ref, TlsEndpoint):  # a TLS endpoint's host is its name
            on = value
            break
    if isinstance(ref, Host):
        on = ref.id if o.type.value not in ("host-os", "host-os-windows") else ""
    return TestedObject(type=o.type.value, id=o.id, label=o.label, host=on,
                        roles=tuple(ref.roles) if isinstance(ref, Host) else (),
                        location=ref.location if isinstance(ref, Host) else "",
                        via=(ref.jump or "") if isinstance(ref, Host) and o.type.value in ("host-os", "host-os-windows")
                        else "")


def tester_record(section: dict[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """The inventory's ``tester:`` section with the ``run`` options over it (``testers`` is a
    comma-separated list on the command line)."""
    out = dict(section)
    for key, value in overrides.items():
        if key not in out:
            raise IhconformError(f"unknown tester field {key!r}; known: {', '.join(out)}")
        out[key] = [t.strip() for t in value.split(",") if t.strip()] if key == "testers" else value
    return out


def portable_path(arg: str) -> str:
    """A path as the report may print it: relative to the working folder when under it, else its
    file name — results.json and the reports never carry this machine's absolute paths."""
    if not arg.startswith("/"):
        return arg
    path = Path(arg)
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.name


def portable_digests(profile: Any) -> dict[str, str]:
    """Profile digests keyed by file name relative to the run's profile folder (built-in
    profiles by ``builtin/<name>``), never by this machine's absolute paths."""
    builtin = Path(__file__).resolve().parent.parent / "profiles"
    sources = [Path(p) for p in profile.digests]
    home = sources[0].resolve().parent if sources else builtin
    out: dict[str, str] = {}
    for path, digest in zip(sources, profile.digests.values(), strict=True):
        full = path.resolve()
        if full.is_relative_to(builtin):
            key = "builtin/" + full.relative_to(builtin).as_posix()
        elif full.is_relative_to(home):
            key = full.relative_to(home).as_posix()
        else:
            key = full.name
        out[key] = digest
    return out


