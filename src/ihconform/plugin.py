"""The pytest plugin: parametrisation by the run plan, fixtures, and the reporter.

Registered through the ``pytest11`` entry point, it stays inert unless an ``--ihc-*``
option is given, so it never disturbs other test suites. ``ihconform run`` drives it; a
tester can also run ``pytest --ihc-inventory site.yaml --ihc-profile P`` with any pytest
option (``-k``, ``-x``, ``--pdb``) and get the same results model.

Results are collected here, in the reporter (``pytest_runtest_makereport``), never by the
tests themselves: a probe records its verdict on ``check``, and this module maps every
other outcome (assertion, exception, skip, no verdict) to a state that is never 符合.
"""

from __future__ import annotations

import datetime as _dt
import sys
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, Literal

import pytest

from ihconform import distribute
from ihconform.catalog import DEFAULT_PROFILE, hosting_kind, load_profile
from ihconform.check import Check
from ihconform.errors import FactUnavailable, NotChecked
from ihconform.facts.collect import HostFacts
from ihconform.facts.host import HostView
from ihconform.facts.sections import sections_for
from ihconform.facts.store import FactStore
from ihconform.inventory import Database, Host, Inventory, Tester, load_inventory, local_inventory
from ihconform.ledger.core import Ledger
from ihconform.plan import RunPlan
from ihconform.profile import Profile
from ihconform.registry import PROBE_ATTR, facts_needed
from ihconform.results import ObjectResult, Status
from ihconform.runcache import EvidenceSink, RunCache
from ihconform.secrets import apply_env_file
from ihconform.text import printable
from ihconform.transport.base import Transport

STATE_KEY = pytest.StashKey["IhcState"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("ihconform", "ihconform conformance run")
    g.addoption("--ihc-inventory", default=None, help="site inventory YAML (清单)")
    g.addoption("--ihc-local", action="store_true", default=False,
                help="audit this machine through the local transport (the embedded default)")
    g.addoption("--ihc-profile", default=None, help=f"profile id or file (default {DEFAULT_PROFILE})")
    g.addoption("--ihc-only", action="append", default=[], help="only controls matching id/clause/tag")
    g.addoption("--ihc-output", default=None, help="run folder to write (default reports/<date>-<id>)")
    g.addoption("--ihc-run-id", default=None, help="run id (default: generated)")
    g.addoption("--ihc-parallel", type=int, default=16, help="hosts gathered at once")
    g.addoption("--ihc-progress", action="store_true", default=False, help="show a progress line")
    g.addoption("--ihc-formats", default="json,junit,html,pdf",
                help="report formats to write (json and junit are always written)")
    g.addoption("--ihc-tester", action="append", default=[], metavar="FIELD=VALUE",
                help="override a field of the inventory's tester: section (organisation, testers, "
                     "prepared_by, reviewed_by, approved_by, report_number, report_date)")


class IhcState:
    """Everything one ihconform session holds: the plan, the fact store, the results."""

    def __init__(self, plan: RunPlan, inventory_path: str, run_id: str, output: Path | None,
                 parallel: int, progress: bool) -> None:
        self.plan = plan
        self.inventory_path = inventory_path
        self.run_id = run_id
        self.output = output
        self.progress = progress
        self.started = _dt.datetime.now(_dt.UTC)
        self.t0 = time.monotonic()
        self.results: dict[str, ObjectResult] = {}
        self.checks: dict[str, Check] = {}
        self.store = FactStore(plan.inventory, sections_for(plan.inventory, facts_needed(plan.by_probe)),
                               parallel)
        self.interrupted = False
        self.exit_code: int | None = None
        self.done = 0
        self.total = 0
        self.outcome: Any = None  # the RunResult, once written
        self.collect_errors: list[str] = []  # probe modules that failed to import
        self.cache = RunCache(parallel)
        self.final = output  # where the finished run folder goes (set in pytest_configure)
        self.partial: Path | None = None  # the folder being assembled
        self.evidence: EvidenceSink | None = None
        self.formats: set[str] = {"json", "junit", "html", "pdf"}
        self.tester: dict[str, str] = {}  # --ihc-tester overrides of the inventory's tester: section
        self.ledger = Ledger()  # attestations, waivers and keyring, verified (pytest_configure)
        self.role: distribute.Role = "single"  # or an xdist controller / worker (ihconform.distribute)

    def host_of(self, check: Check) -> str:
        ref = check.obj.ref
        if isinstance(ref, Host):
            return ref.id
        if isinstance(ref, Database):
            return ref.host
        raise FactUnavailable(f"{check.obj.id} is not a host object; probe {check.control.probe} "
                              f"cannot use host facts")


def _active(config: pytest.Config) -> bool:
    return bool(config.getoption("ihc_inventory") or config.getoption("ihc_local")
                or config.getoption("ihc_profile"))


def pytest_configure(config: pytest.Config) -> None:
    if not _active(config):
        return
    from ihconform.engine import new_run_id

    inv_opt = config.getoption("ihc_inventory")
    if inv_opt:
        inventory: Inventory = load_inventory(Path(inv_opt))
        inv_path = str(Path(inv_opt).resolve())
        apply_env_file(inventory.defaults.env_file)
    else:
        inventory, inv_path = local_inventory(), "(embedded default: local machine)"
    profile = load_profile(config.getoption("ihc_profile") or DEFAULT_PROFILE, hosting=hosting_kind(inventory))
    _check_only(profile, tuple(config.getoption("ihc_only")))  # before the run folder exists
    plan = RunPlan.build(profile, inventory, tuple(config.getoption("ihc_only")))
    ledger = _load_ledger(inventory)
    out = config.getoption("ihc_output")
    state = IhcState(plan, inv_path, config.getoption("ihc_run_id") or new_run_id(),
                     Path(out) if out else None, config.getoption("ihc_parallel"),
                     config.getoption("ihc_progress"))
    state.role = distribute.role(config)
    state.formats = {f.strip() for f in str(config.getoption("ihc_formats")).split(",") if f.strip()}
    state.tester = dict(str(kv).partition("=")[::2] for kv in config.getoption("ihc_tester"))
    unknown_tester = sorted(set(state.tester) - set(Tester.model_fields))
    if unknown_tester:  # said before anything runs, not after the run
        raise pytest.UsageError(f"--ihc-tester: unknown field(s) {', '.join(unknown_tester)}; "
                                f"known: {', '.join(Tester.model_fields)}")
    if state.role == "worker":  # the controller's run: same id, same .partial folder
        given: dict[str, str] = config.workerinput  # type: ignore[attr-defined]
        state.run_id, state.final = given["ihc_run_id"], Path(given["ihc_final"])
        state.partial = Path(given["ihc_partial"])
        state.started = _dt.datetime.fromisoformat(given["ihc_started"])
        state.evidence = EvidenceSink(state.partial)
        state.ledger = ledger
    else:
        from ihconform.engine import DEFAULT_REPORTS, open_partial, output_failed, run_folder

        state.final = state.output or run_folder(DEFAULT_REPORTS, state.run_id, state.started)
        try:
            state.partial = open_partial(state.final)
            state.evidence = EvidenceSink(state.partial)
            _use_ledger(state, ledger)
        except OSError as exc:  # disk already full, read-only, no permission: before any probe ran
            import shutil

            partial = state.final.with_name(state.final.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            pytest.exit("no run folder", returncode=output_failed(state.final, partial, exc))
    config.stash[STATE_KEY] = state
    if state.role == "single":
        state.store.start(plan.needs_hosts())  # workers gather the hosts they are given, lazily
    elif state.role == "controller":
        config.pluginmanager.register(distribute.Controller(state), "ihconform-controller")


def _check_only(profile: Profile, only: tuple[str, ...]) -> None:
    """``--ihc-only`` that selects nothing is a usage error here too (pytest used directly)."""
    from ihconform.errors import ConfigError
    from ihconform.plan import check_only

    try:
        check_only(profile, only)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _load_ledger(inventory: Inventory) -> Ledger:
    """Load and verify the evidence ledger before anything is written: a ledger that cannot
    be read is a usage error (exit 2, naming file, line and field), like a bad inventory."""
    from ihconform.errors import ConfigError
    from ihconform.ledger.core import load_ledger

    ev = inventory.evidence
    try:
        return load_ledger(ev.attestations, ev.waivers, ev.keyring)
    except ConfigError as exc:
        raise pytest.UsageError(f"证据台账 / evidence ledger: {exc}") from None


def _use_ledger(state: IhcState, ledger: Ledger) -> None:
    """Keep the ledger on the run, copy it into the evidence folder, and say on the terminal
    what no longer applies (expired waivers, changed files, bad signatures)."""
    from ihconform.ledger.core import write_evidence

    state.ledger = ledger
    from ihconform.ledger.migration import legacy_map

    ledger.check_refs({c.id for c in state.plan.profile.controls}, {o.id for o in state.plan.objects},
                      legacy_map(state.plan.profile.controls))
    if state.evidence is not None:
        write_evidence(ledger, state.evidence)
    for line in ledger.warnings():
        sys.stderr.write(f"警告 / warning: {line}\n")


def _state(config: pytest.Config) -> IhcState:
    return config.stash[STATE_KEY]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if STATE_KEY not in metafunc.config.stash:
        return
    probe_id = getattr(metafunc.function, PROBE_ATTR, None)
    if probe_id is None:
        return
    pairs = _state(metafunc.config).plan.by_probe.get(probe_id, [])
    metafunc.parametrize("check", [p.key for p in pairs], ids=[p.key for p in pairs], indirect=True)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    if STATE_KEY not in config.stash:
        return
    state = _state(config)
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        (keep if _pair_key(item, state) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep
    state.total = len(keep)


def _pair_key(item: pytest.Item, state: IhcState) -> str | None:
    """The plan key an item judges; None for items that are not planned probe calls (an
    empty parametrisation yields a NOTSET placeholder item)."""
    cs = getattr(item, "callspec", None)
    key = cs.params.get("check") if cs is not None else None
    return key if isinstance(key, str) and key in state.plan.pairs else None


@pytest.fixture
def check(request: pytest.FixtureRequest) -> Check:
    """The (control, object) this probe call judges."""
    state = _state(request.config)
    pair = state.plan.pairs[request.param]
    c = Check(control=pair.control, obj=pair.obj, inventory=state.plan.inventory)
    state.checks[request.param] = c
    return c


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start network work early: a probe module's ``ihc_prefetch(plan, cache)`` runs now, so
    scans proceed while host facts are gathered and other probes run."""
    if STATE_KEY not in session.config.stash:
        return
    state = _state(session.config)
    if state.role == "worker":
        return  # every worker has every item; scans start lazily on the worker that judges them
    seen: set[int] = set()
    for item in session.items:
        module = getattr(item, "module", None)
        hook = getattr(module, "ihc_prefetch", None)
        if module is None or hook is None or id(module) in seen:
            continue
        seen.add(id(module))
        hook(state.plan, state.cache)


@pytest.fixture
def run_cache(request: pytest.FixtureRequest) -> RunCache:
    """Work shared by every probe of the run (scans, measurements), computed once."""
    return _state(request.config).cache


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> EvidenceSink:
    """Write raw evidence (scan output, samples, readings) into the run folder."""
    sink = _state(request.config).evidence
    assert sink is not None
    return sink


@pytest.fixture
def ledger(request: pytest.FixtureRequest) -> Ledger:
    """The run's verified evidence ledger (attestations, waivers), for evidence judges."""
    return _state(request.config).ledger


@pytest.fixture
def inventory(request: pytest.FixtureRequest) -> Inventory:
    return _state(request.config).plan.inventory


@pytest.fixture
def host_facts(request: pytest.FixtureRequest, check: Check) -> HostFacts:
    """The gathered facts of the host this check's object lives on (waits for them)."""
    state = _state(request.config)
    return state.store.get(state.host_of(check))


@pytest.fixture
def host(host_facts: HostFacts) -> HostView:
    """Typed view of :func:`host_facts`. Raises FactUnavailable (-> 检查错误) if the host is down."""
    if host_facts.error:
        raise FactUnavailable(f"host {host_facts.host_id}: {host_facts.error}")
    return HostView(host_facts)


@pytest.fixture
def host_transport(request: pytest.FixtureRequest) -> Callable[[str], Transport]:
    """``host_transport(host_id)``: the run's open connection to a host, for probes that must
    run a measurement there (bandwidth on the host that owns the uplink). Reuses the fact
    connection; raises FactUnavailable (-> 检查错误) if that host could not be reached."""
    state = _state(request.config)

    def get(host_id: str) -> Transport:
        facts = state.store.get(host_id)
        t = state.store.transport(host_id)
        if facts.error or t is None:
            raise FactUnavailable(f"host {host_id}: {facts.error or 'no connection'}")
        return t

    return get


@pytest.fixture
def site_facts(request: pytest.FixtureRequest) -> dict[str, HostFacts]:
    """Facts of every host under test, for site-wide (topology) probes."""
    state = _state(request.config)
    targets = {h.id for h in state.plan.inventory.targets}
    state.store.start(targets)
    return {hid: f for hid, f in state.store.all().items() if hid in targets}


# ---- reporter ---------------------------------------------------------------------------


def _outcome_to_result(key: str, state: IhcState, report: pytest.TestReport,
                       call: pytest.CallInfo[None]) -> ObjectResult:
    pair = state.plan.pairs[key]
    chk = state.checks.get(key)
    status, observed, expected, reason = Status.ERROR, None, None, ""
    exc = call.excinfo
    if report.passed and report.when == "call":
        if chk is not None and chk.verdict is not None:
            v = chk.verdict
            status, observed, expected, reason = v.status, v.observed, v.expected, v.reason
        else:
            reason = "probe recorded no verdict (a probe must judge; no verdict is never 符合)"
    elif exc is not None and exc.errisinstance(AssertionError) and report.when == "call":
        status = Status.FAIL
        reason = str(exc.value).split("\nassert ")[0].strip() or "assertion failed"
        if chk is not None and chk.verdict is not None:  # an assert after a recorded verdict
            observed, expected = chk.verdict.observed, chk.verdict.expected
    elif exc is not None and exc.errisinstance(NotChecked):
        status, reason = Status.NOT_CHECKED, str(exc.value)
    elif exc is not None and exc.errisinstance(FactUnavailable):
        status, reason = Status.ERROR, str(exc.value)
    elif exc is not None and exc.errisinstance(pytest.skip.Exception):
        status, reason = Status.NOT_CHECKED, f"skipped: {exc.value.msg}"  # type: ignore[attr-defined]
    elif exc is not None:
        status = Status.ERROR
        reason = printable(f"{exc.typename}: {exc.value}")[:2000]  # a peer's bytes may be in it
    else:
        reason = f"test {report.outcome} in {report.when}"
    return ObjectResult(
        control_id=pair.control.id, object_id=pair.obj.id, object_type=pair.obj.type.value,
        status=status, status_zh=status.zh, observed=observed, expected=expected, reason=reason,
        evidence=tuple(chk.evidence) if chk else (), probe=pair.control.probe or "",
        duration_s=round(report.duration, 4),
    )


@pytest.hookimpl(tryfirst=True, specname="pytest_runtest_makereport")
def pytest_runtest_makereport_without_traceback(item: pytest.Item,
                                                call: pytest.CallInfo[None]) -> pytest.TestReport | None:
    """A planned probe call's report, made without pytest's traceback formatting.

    Pytest formats every failure's traceback (source, AST, locals) for its terminal, and a
    conformance run fails by design on every 不符合: on the embedded default that was 2.5 s of a
    4.7 s run, for text no report uses. The verdict carries its own reason (a probe's error
    keeps its message, see ``_outcome_to_result``); the hook wrapper below sets the outcome and
    the one-line ``longrepr`` from it. Items that are not planned probe calls keep pytest's own."""
    if STATE_KEY not in item.config.stash or _pair_key(item, _state(item.config)) is None or call.when == "collect":
        return None
    exc = call.excinfo
    outcome: Literal["passed", "failed", "skipped"] = (
        "passed" if exc is None else "skipped" if exc.errisinstance(pytest.skip.Exception) else "failed")
    longrepr = None if exc is None else (str(item.path), 0, "skipped") if outcome == "skipped" else str(exc.value)
    return pytest.TestReport(
        item.nodeid, item.location, dict.fromkeys(item.keywords, 1), outcome, longrepr,
        call.when,
        [(f"Captured {key} {when}", text) for when, key, text in item._report_sections],
        call.duration, call.start, call.stop, item.user_properties)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    if STATE_KEY not in item.config.stash:
        return
    report: pytest.TestReport = outcome.get_result()
    state = _state(item.config)
    key = _pair_key(item, state)
    if key is None:
        return
    judged = call.when == "call" or (call.when == "setup" and not report.passed)
    if judged and key not in state.results:
        state.results[key] = _outcome_to_result(key, state, report, call)
        _mirror(report, state.results[key])
        if state.role == "worker":
            distribute.send_result(report, key, state.results[key])
            return
        state.done += 1
        if state.progress:
            _progress(state, state.results[key])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """The controller of a distributed run takes each verdict out of the worker's report."""
    for state in _ACTIVE:
        if state.role != "controller":
            continue
        got = distribute.received_result(report)
        if got is not None and got[0] in state.plan.pairs and got[0] not in state.results:
            state.results[got[0]] = got[1]
            state.done += 1
            if state.progress:
                _progress(state, got[1])


def _mirror(report: pytest.TestReport, r: ObjectResult) -> None:
    """Make pytest's own outcome agree with the verdict, so ``pytest --ihc-*`` output, -x and
    junit plugins read 不符合 as a failure and 未检查 as a skip."""
    text = f"{r.control_id} @ {r.object_id}: {r.status.zh} ({r.status.value}) {r.reason}"
    if r.status in (Status.FAIL, Status.PARTIAL, Status.ERROR):
        report.outcome = "failed"
        report.longrepr = text
    elif r.status in (Status.NOT_CHECKED, Status.NOT_APPLICABLE):
        report.outcome = "skipped"
        report.longrepr = (str(report.fspath), 0, text)
    else:
        report.outcome = "passed"
        report.longrepr = None


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        for state in _ACTIVE:
            state.collect_errors.append(f"{report.nodeid}: {str(report.longrepr)[-1500:]}")


def _progress(state: IhcState, r: ObjectResult) -> None:
    width = 28
    frac = state.done / max(1, state.total)
    bar = "#" * int(frac * width)
    line = f"\r[{bar:<{width}}] {state.done}/{state.total} {r.control_id} {r.object_id} {r.status.zh}"
    sys.stderr.write(line[:120].ljust(120))
    sys.stderr.flush()


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    # Recorded on every active session; sessionfinish then writes no report that looks complete.
    for state in _ACTIVE:
        state.interrupted = True


_ACTIVE: list[IhcState] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    if STATE_KEY in session.config.stash:
        _ACTIVE.append(_state(session.config))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if STATE_KEY not in session.config.stash:
        return
    from ihconform.engine import finish_run

    state = _state(session.config)
    if state.role == "worker":
        _finish_worker(state, session.config)
        return
    if state.progress and state.total:
        sys.stderr.write("\r" + " " * 120 + "\r")
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        state.interrupted = True
    try:
        state.cache.close(wait=not state.interrupted)  # interrupted: scans still running are abandoned
        session.exitstatus = finish_run(state, session)
    finally:
        state.store.close()
        if state in _ACTIVE:
            _ACTIVE.remove(state)


def _finish_worker(state: IhcState, config: pytest.Config) -> None:
    """A worker writes the transcripts of the hosts it gathered and hands the controller the
    list of evidence it wrote; results.json and the reports are the controller's."""
    from ihconform.facts.transcripts import write_host_evidence

    try:
        state.cache.close()
        assert state.partial is not None and state.evidence is not None
        refs = dict(state.evidence.refs)
        refs.update(write_host_evidence(state.partial, state.store.all()))
        config.workeroutput[distribute.EVIDENCE_OUTPUT] = distribute.evidence_output(refs)  # type: ignore[attr-defined]
    finally:
        state.store.close()
        if state in _ACTIVE:
            _ACTIVE.remove(state)
