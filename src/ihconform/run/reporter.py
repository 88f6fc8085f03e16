"""The reporter: each pytest outcome of a planned probe call becomes one verdict.

Results are collected here (``pytest_runtest_makereport``), never by the tests themselves: a
probe records its verdict on ``check``, and this module maps every other outcome (assertion,
exception, skip, no verdict) to a state that is never 符合.

Why a plugin object: one :class:`Reporter` is registered per session by
``ihconform.run.plugin.pytest_configure`` and holds that session's state, so hooks that carry
no ``config`` (``pytest_runtest_logreport``, ``pytest_collectreport``,
``pytest_keyboard_interrupt``) reach it without a module-level list of active sessions.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Generator
from typing import Any, Literal

import pytest

from ihconform.errors import FactUnavailable, NotChecked
from ihconform.facts.transcripts import write_collected_evidence
from ihconform.results import ObjectResult, Status
from ihconform.run import distribute
from ihconform.run.folder import finish_run
from ihconform.run.state import IhcState
from ihconform.text import printable


def outcome_to_result(key: str, state: IhcState, when: str, outcome: str, exc: BaseException | None,
                      duration: float) -> ObjectResult:
    """The verdict of a planned probe call from how its phase ``when`` ended: ``outcome``
    (pytest's word, ``passed``/``failed``/``skipped``) and the exception it raised, if any."""
    pair = state.plan.pairs[key]
    chk = state.tally.checks.get(key)
    status, observed, expected, reason = Status.ERROR, None, None, ""
    if outcome == "passed" and when == "call":
        if chk is not None and chk.verdict is not None:
            v = chk.verdict
            status, observed, expected, reason = v.status, v.observed, v.expected, v.reason
        else:
            reason = "probe recorded no verdict (a probe must judge; no verdict is never 符合)"
    elif isinstance(exc, AssertionError) and when == "call":
        status = Status.FAIL
        reason = str(exc).split("\nassert ")[0].strip() or "assertion failed"
        if chk is not None and chk.verdict is not None:  # an assert after a recorded verdict
            observed, expected = chk.verdict.observed, chk.verdict.expected
    elif isinstance(exc, NotChecked):
        status, reason = Status.NOT_CHECKED, str(exc)
    elif isinstance(exc, FactUnavailable):
        status, reason = Status.ERROR, str(exc)
    elif isinstance(exc, pytest.skip.Exception):
        status, reason = Status.NOT_CHECKED, f"skipped: {exc.msg}"
    elif exc is not None:
        status = Status.ERROR
        reason = printable(f"{type(exc).__name__}: {exc}")[:2000]  # a peer's bytes may be in it
    else:
        reason = f"test {outcome} in {when}"
    return ObjectResult(
        control_id=pair.control.id, object_id=pair.obj.id, object_type=pair.obj.type.value,
        status=status, status_zh=status.zh, observed=observed, expected=expected, reason=reason,
        evidence=tuple(chk.evidence) if chk else (), probe=pair.control.probe or "",
        duration_s=round(duration, 4),
    )


def _outcome(exc: BaseException | None) -> Literal["passed", "failed", "skipped"]:
    """pytest's word for a phase that raised ``exc`` (as its own ``makereport`` says it)."""
    return "passed" if exc is None else "skipped" if isinstance(exc, pytest.skip.Exception) else "failed"


#: What a probe call never turns into a verdict: pytest's own stop, and the user's Ctrl-C (as
#: pytest's ``CallInfo.from_call`` lets them through).
_PASS_THROUGH = (KeyboardInterrupt, pytest.exit.Exception)


def mirror(report: pytest.TestReport, r: ObjectResult) -> None:
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


class Reporter:
    """The session's reporting hooks (a plugin object registered in ``pytest_configure``)."""

    def __init__(self, state: IhcState) -> None:
        self.state = state

    @pytest.hookimpl(tryfirst=True, specname="pytest_runtest_makereport")
    def pytest_runtest_makereport_without_traceback(self, item: pytest.Item,
                                                    call: pytest.CallInfo[None]) -> pytest.TestReport | None:
        """A planned probe call's report, made without pytest's traceback formatting.

        Pytest formats every failure's traceback (source, AST, locals) for its terminal, and a
        conformance run fails by design on every 不符合: on the embedded default that was 2.5 s of
        a 4.7 s run, for text no report uses. The verdict carries its own reason (a probe's error
        keeps its message, see :func:`outcome_to_result`); the hook wrapper below sets the outcome
        and the one-line ``longrepr`` from it. Items that are not planned probe calls keep pytest's
        own."""
        if self.state.key_of(item) is None or call.when == "collect":
            return None
        exc = call.excinfo.value if call.excinfo is not None else None
        outcome = _outcome(exc)
        longrepr = None if exc is None else (str(item.path), 0, "skipped") if outcome == "skipped" else str(exc)
        return pytest.TestReport(
            item.nodeid, item.location, dict.fromkeys(item.keywords, 1), outcome, longrepr,
            call.when,
            [(f"Captured {key} {when}", text) for when, key, text in item._report_sections],
            call.duration, call.start, call.stop, item.user_properties)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        state, tally = self.state, self.state.tally
        key = state.key_of(item)
        if key is None:
            return
        if call.when == "teardown" and call.excinfo is not None and state.settings.role != "worker":
            self._teardown_failed(key, call.excinfo.value)
            return
        judged = call.when == "call" or (call.when == "setup" and not report.passed)
        if judged and key not in tally.results:
            exc = call.excinfo.value if call.excinfo is not None else None
            tally.results[key] = outcome_to_result(key, state, report.when, report.outcome, exc, report.duration)
            mirror(report, tally.results[key])
            if state.settings.role == "worker":
                distribute.send_result(report, key, tally.results[key])
                return
            self._count(tally.results[key])

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        """A planned probe call of a lean run (:attr:`RunSettings.lean`), judged without pytest's
        per-call reports: fixtures set up by pytest's own setup state, the probe called, the
        verdict taken from how it ended (:func:`outcome_to_result`, as from a report).

        Why: pytest's protocol makes three reports per call and sends each through the
        makereport and logreport hooks, and each phase through the setup/call/teardown hooks
        with their wrappers (capture, the current-test variable): about 0.3 ms of the harness's
        CPU per (control, object) pair, about 0.35 s of a 50-host run's 3 s, for reports only a
        terminal or a plugin would read. A lean run has neither: no pytest option of the user's
        and only the built-in probes (no conftest hook, no mark), so nothing else takes part in
        a call. Otherwise, or for an item that is not a planned call, pytest's protocol runs."""
        if not self.state.settings.lean:
            return None
        key = self.state.key_of(item)
        if key is None:
            return None
        self._judge(item, key, nextitem)
        return True

    def _judge(self, item: pytest.Item, key: str, nextitem: pytest.Item | None) -> None:
        """One planned call, the way pytest's ``runtestprotocol`` runs it, without its reports.
        What the call prints stays captured and is dropped (pytest's capture, resumed for the call),
        as a report would have kept it for a terminal the run does not have."""
        session, tally = item.session, self.state.tally
        capman = item.config.pluginmanager.get_plugin("capturemanager")
        if capman is not None:
            capman.resume_global_capture()
        when, exc, after, start = "setup", None, None, time.perf_counter()
        try:
            try:
                session._setupstate.setup(item)
                when, start = "call", time.perf_counter()
                item.runtest()
            except _PASS_THROUGH:
                raise
            except BaseException as e:  # every other end of a call is its verdict
                exc = e
            duration = time.perf_counter() - start
            try:
                session._setupstate.teardown_exact(None if session.shouldfail or session.shouldstop else nextitem)
            except _PASS_THROUGH:
                raise
            except BaseException as e:  # a fixture that failed to clean up
                after = e
        finally:
            item._request = False  # type: ignore[attr-defined]  # as runtestprotocol: the call's objects go
            item.funcargs = None  # type: ignore[attr-defined]
            if capman is not None:
                capman.suspend_global_capture(in_=False)
                capman.read_global_capture()
        if key not in tally.results:
            tally.results[key] = outcome_to_result(key, self.state, when, _outcome(exc), exc, duration)
            self._count(tally.results[key])
        if after is not None:
            self._teardown_failed(key, after)

    def _teardown_failed(self, key: str, exc: BaseException) -> None:
        """A fixture that failed to clean up after a call leaves what the call judged in doubt:
        the verdict becomes 检查错误 with the cause (an error already recorded stays)."""
        r = self.state.tally.results.get(key)
        if r is not None and r.status is not Status.ERROR:
            self.state.tally.results[key] = outcome_to_result(key, self.state, "teardown", "failed", exc,
                                                              r.duration_s)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """The controller of a distributed run takes each verdict out of the worker's report."""
        if self.state.settings.role != "controller":
            return
        got = distribute.received_result(report)
        if got is not None and got[0] in self.state.plan.pairs and got[0] not in self.state.tally.results:
            self.state.tally.results[got[0]] = got[1]
            self._count(got[1])

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.state.tally.collect_errors.append(f"{report.nodeid}: {str(report.longrepr)[-1500:]}")

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # sessionfinish then writes no report that looks complete
        self.state.tally.interrupted = True

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        state = self.state
        if state.settings.role == "worker":
            self._finish_worker(session.config)
            return
        if state.settings.progress and state.tally.total:
            sys.stderr.write("\r" + " " * 120 + "\r")
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            state.tally.interrupted = True
        try:
            state.cache.close(wait=not state.tally.interrupted)  # interrupted: running scans are abandoned
            session.exitstatus = finish_run(state)
        finally:
            state.store.close()

    def _finish_worker(self, config: pytest.Config) -> None:
        """A worker writes the transcripts of the hosts it gathered and hands the controller the
        list of evidence it wrote; results.json and the reports are the controller's."""
        state = self.state
        try:
            state.cache.close()
            refs = dict(state.evidence.refs)
            refs.update(write_collected_evidence(state.settings.partial, state.store.all()))
            config.workeroutput[distribute.EVIDENCE_OUTPUT] = distribute.evidence_output(refs)  # type: ignore[attr-defined]
        finally:
            state.store.close()

    def _count(self, r: ObjectResult) -> None:
        tally = self.state.tally
        tally.done += 1
        if not self.state.settings.progress:
            return
        width = 28
        frac = tally.done / max(1, tally.total)
        bar = "#" * int(frac * width)
        line = f"\r[{bar:<{width}}] {tally.done}/{tally.total} {r.control_id} {r.object_id} {r.status.zh}"
        sys.stderr.write(line[:120].ljust(120))
        sys.stderr.flush()
