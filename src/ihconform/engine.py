"""The run: build the pytest session, then turn what the reporter collected into one
:class:`RunResult` and write it atomically.

Output goes to ``reports/<date>-<run id>/``. It is assembled in a sibling ``.partial``
folder and renamed into place only when complete, so a failed or interrupted run never
leaves a report that looks complete, and an existing report is never overwritten. A run
folder that cannot be written (disk full, quota, read-only, I/O error) is removed and the run
exits :attr:`ExitCode.OUTPUT_ERROR`, naming the file and the cause; an interrupted run does not
wait for hosts still being gathered.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import secrets
import shutil
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ihconform import __version__
from ihconform.errors import IhconformError
from ihconform.inventory import Database, Host, TlsEndpoint
from ihconform.ledger.core import sha256_file
from ihconform.plan import probe_for
from ihconform.profile import ObjectType
from ihconform.registry import builtin_probe_files
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
from ihconform.scoring import compute_score

if TYPE_CHECKING:
    from ihconform.plugin import IhcState

DEFAULT_REPORTS = Path("reports")


def new_run_id() -> str:
    return secrets.token_hex(4)


def run_folder(base: Path, run_id: str, when: _dt.datetime | None = None) -> Path:
    when = when or _dt.datetime.now(_dt.UTC)
    return base / f"{when:%Y%m%d}-{run_id}"


#: Report formats a run writes; results.json and junit.xml are always written.
FORMATS = ("json", "junit", "html", "pdf", "docx")


def pytest_args(*, inventory: Path | None, profile: str | None, only: list[str], output: Path,
                run_id: str, probes: list[Path], parallel: int, progress: bool,
                formats: tuple[str, ...] = FORMATS, extra: list[str] | None = None,
                tester: dict[str, str] | None = None) -> list[str]:
    """The pytest command line of a run. Probe files are given explicitly, so pytest collects
    them whatever their names; a packaged ini keeps the user's pytest.ini out of the run."""
    ini = Path(__file__).with_name("probes") / "pytest.ini"
    args = ["-c", str(ini), "--rootdir", str(ini.parent), "-p", "no:cacheprovider", "-p", "no:terminal",
            "-p", "no:randomly", "-W", "ignore::DeprecationWarning"]
    if not any(ep.name == "ihconform" for ep in entry_points(group="pytest11")):
        args += ["-p", "ihconform.plugin"]
    args += ["--ihc-inventory", str(inventory)] if inventory else ["--ihc-local"]
    if profile:
        args += ["--ihc-profile", profile]
    for sel in only:
        args += ["--ihc-only", sel]
    args += ["--ihc-output", str(output), "--ihc-run-id", run_id, "--ihc-parallel", str(parallel),
             "--ihc-formats", ",".join(formats)]
    for key, value in (tester or {}).items():  # run options over the inventory's tester: section
        args += ["--ihc-tester", f"{key}={value}"]
    if progress:
        args.append("--ihc-progress")
    args += [str(p) for p in builtin_probe_files()] + [str(p) for p in probes]
    return args + (extra or [])


def execute(args: list[str]) -> int:
    """Run the pytest session in this process; returns the run's exit code."""
    # pytest prints its own dots/summary; the run reports through results and our summary.
    return int(pytest.main(args))


# ---- after the session ------------------------------------------------------------------


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


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # errors="replace": a lone surrogate (undecodable bytes a target sent) cannot be UTF-8
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False) + "\n", encoding="utf-8",
                    errors="replace")


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
        r = state.results.get(key)
        if r is None:  # planned but never ran (deselected, collection error, interrupted)
            why = "probe did not run (interrupted, deselected or not collected)"
            status = Status.NOT_CHECKED
            if state.collect_errors:
                status = Status.ERROR
                why = "probe modules failed to load: " + " | ".join(e[:300] for e in state.collect_errors)
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
    from ihconform.ledger.core import apply_ledger

    results, applied, waiver_warnings = apply_ledger(results, state.ledger)

    controls: list[ControlResult] = []
    for control in plan.controls:
        states = [r.status for r in results if r.control_id == control.id]
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
    if state.interrupted:
        code = ExitCode.INTERRUPTED
    finished = _dt.datetime.now(_dt.UTC)
    inv = plan.inventory
    inv_digest = sha256_file(Path(state.inventory_path)) if Path(state.inventory_path).is_file() else ""
    return RunResult(
        tool={"name": "ihconform", "version": __version__, "python": sys.version.split()[0]},
        institution=inv.institution.model_dump(mode="json"),
        system=inv.system.model_dump(mode="json"),
        run=RunInfo(id=state.run_id, started=state.started.isoformat(timespec="seconds"),
                    finished=finished.isoformat(timespec="seconds"),
                    duration_s=round(time.monotonic() - state.t0, 3), profile=plan.profile.id,
                    profile_version=plan.profile.version, profile_digests=portable_digests(plan.profile),
                    inventory=portable_path(state.inventory_path), inventory_sha256=inv_digest, only=plan.only,
                    command=tuple(portable_path(a) for a in sys.argv), interrupted=state.interrupted,
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
        tester=tester_record(inv.tester.model_dump(mode="json"), state.tester),
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


def tester_record(section: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
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
    builtin = Path(__file__).with_name("profiles").resolve()
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


def open_partial(final: Path) -> Path:
    """Create the folder a run is assembled in, beside where it will land."""
    if final.exists():
        raise IhconformError(f"output folder {final} already exists; it is never overwritten")
    partial = final.with_name(final.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    return partial


def output_failed(final: Path, partial: Path, exc: OSError) -> int:
    """Say why the run folder could not be written (it has been removed) and return
    :attr:`ExitCode.OUTPUT_ERROR`. The verdicts are lost with it: they are never shown as a
    summary without the results file they belong to."""
    what = exc.strerror or str(exc)
    where = exc.filename or partial
    hint = {errno.ENOSPC: "free space on that file system or choose another with -o",
            errno.EDQUOT: "the disk quota is used up; free space or choose another folder with -o",
            errno.EROFS: "the file system is read-only; choose another folder with -o"}.get(
        exc.errno or 0, "check the output folder, or choose another with -o")
    state = "removed" if not partial.exists() else f"left as {partial.name} (incomplete)"
    sys.stderr.write(f"ihconform: 错误 / error: 无法写出结果 / cannot write the run folder {final}: "
                     f"{what} ({where}); {hint}. The incomplete folder was {state}; "
                     "no report was written.\n")
    return ExitCode.OUTPUT_ERROR


def finish_run(state: IhcState, session: pytest.Session) -> int:
    """Write the run folder atomically and return the exit code."""
    from ihconform.facts.transcripts import write_host_evidence
    from ihconform.report.junit import write_junit

    final, partial = state.final, state.partial
    assert final is not None and partial is not None
    if final.exists():
        shutil.rmtree(partial, ignore_errors=True)
        raise IhconformError(f"output folder {final} already exists; it is never overwritten")
    if state.interrupted:
        # Nothing is written for an interrupted run, so nothing needs the hosts still being
        # gathered: end their connections now instead of waiting out their timeouts.
        state.store.close()
        shutil.rmtree(partial, ignore_errors=True)
        sys.stderr.write("中断：未写出报告 / interrupted: no report written\n")
        return ExitCode.INTERRUPTED
    try:
        evidence: dict[str, EvidenceRef] = dict(state.evidence.refs) if state.evidence else {}
        evidence.update(write_host_evidence(partial, state.store.all()))
        result = build_result(state, evidence)
        _write_json(partial / "results.json", result.model_dump(mode="json"))
        write_junit(result, partial / "junit.xml")
        if state.formats & {"html", "pdf", "docx"}:
            from ihconform.report.render import write_run_reports  # report.html, report.pdf (docs/report.md)

            # rendering a PDF takes seconds to minutes: say so, or the run looks hung after the checks
            names = ", ".join(f"report.{f}" for f in ("html", "pdf") if f in state.formats)
            sys.stderr.write(f"正在生成 / rendering {names} …\n")
            sys.stderr.flush()
            write_run_reports(result, partial, state.plan.profile, state.formats)
        os.rename(partial, final)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        return output_failed(final, partial, exc)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    from ihconform.report.render import bundle_after_run  # IHC_SIGNING_KEY set: signed bundle

    bundle_after_run(final)
    state.outcome = result
    state.output = final
    return result.summary.exit_code
