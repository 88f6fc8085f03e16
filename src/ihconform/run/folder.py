"""The run folder: named, assembled in a ``.partial`` sibling, renamed into place when complete.

Output goes to ``reports/<date>-<run id>/``. It is assembled in a sibling ``.partial``
folder and renamed into place only when complete, so a failed or interrupted run never
leaves a report that looks complete, and an existing report is never overwritten. A run
folder that cannot be written (disk full, quota, read-only, I/O error) is removed and the run
exits :attr:`ExitCode.OUTPUT_ERROR`, naming the file and the cause; an interrupted run does not
wait for hosts still being gathered.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ihconform.errors import IhconformError
from ihconform.facts.transcripts import write_collected_evidence
from ihconform.report.bundle import bundle_after_run
from ihconform.report.junit import write_junit
from ihconform.results import EvidenceRef, ExitCode, RunResult
from ihconform.run.build import build_result
from ihconform.run.state import IhcState


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # errors="replace": a lone surrogate (undecodable bytes a target sent) cannot be UTF-8
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False) + "\n", encoding="utf-8",
                    errors="replace")


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


def finish_run(state: IhcState) -> int:
    """Write the run folder atomically and return the exit code."""
    final, partial, formats = state.settings.final, state.settings.partial, state.settings.formats
    if final.exists():
        shutil.rmtree(partial, ignore_errors=True)
        raise IhconformError(f"output folder {final} already exists; it is never overwritten")
    if state.tally.interrupted:
        # Nothing is written for an interrupted run, so nothing needs the hosts still being
        # gathered: end their connections now instead of waiting out their timeouts.
        state.store.close()
        shutil.rmtree(partial, ignore_errors=True)
        sys.stderr.write("中断：未写出报告 / interrupted: no report written\n")
        return ExitCode.INTERRUPTED
    try:
        evidence: dict[str, EvidenceRef] = dict(state.evidence.refs)
        evidence.update(write_collected_evidence(partial, state.store.all()))
        result = build_result(state, evidence)
        write_json(partial / "results.json", result.model_dump(mode="json"))
        write_junit(result, partial / "junit.xml")
        if formats & {"html", "pdf", "docx"}:
            _render(result, state, partial)
        os.rename(partial, final)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        return output_failed(final, partial, exc)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    bundle_after_run(final)  # IHC_SIGNING_KEY set: the signed evidence bundle beside the folder
    return result.summary.exit_code


def _render(result: RunResult, state: IhcState, partial: Path) -> None:
    """report.html, report.pdf, report.docx (docs/report.md). The renderers (Jinja, Typst, python-docx)
    is imported only when a run asks for one of them: a JSON-only run never loads it."""
    from ihconform.report.render import write_run_reports

    formats = state.settings.formats
    names = ", ".join(f"report.{f}" for f in ("html", "pdf", "docx") if f in formats)
    with RenderProgress(names, live=state.settings.progress) as progress:
        write_run_reports(result, partial, state.plan.profile, formats, progress=progress)


class RenderProgress:
    """Say what the renderer is doing while it renders: the PDF takes seconds, and a run that
    printed nothing after its last check looks hung.

    Each stage is a line on stderr; with ``live`` (a terminal, not ``-q``) a line below counts the
    seconds of the stage under way, rewritten in place twice a second. The total is said at the
    end; the run's printed duration (``ihconform run``) covers the reports too."""

    def __init__(self, names: str, *, live: bool) -> None:
        self.names, self.live = names, live
        self.t0 = time.monotonic()
        self.stage = ""
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the ticker and the stages write the same terminal line
        self._ticker: threading.Thread | None = None

    def __call__(self, stage: str) -> None:
        self.stage = stage
        self._line(f"  {stage} …\n")

    def __enter__(self) -> RenderProgress:
        self._line(f"正在生成 / rendering {self.names} …\n")
        if self.live:
            self._ticker = threading.Thread(target=self._tick, name="ihc-render-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        self._line(f"报告已生成 / reports rendered in {time.monotonic() - self.t0:.1f} s\n")

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            self._line(f"\r  {self.stage or self.names} … {time.monotonic() - self.t0:.0f} s", end="")

    def _line(self, text: str, end: str = "") -> None:
        if self.live and not text.startswith("\r"):
            text = "\r" + " " * 79 + "\r" + text  # clear the ticking line first
        with self._lock:
            sys.stderr.write(text + end)
            sys.stderr.flush()
