"""How the CLI launches a run: the pytest command line, and the session in this process.

Why apart from the plugin: the CLI decides the command line and never touches the session's
state; the plugin reads only the options given. Nothing here imports the plugin (pytest loads
it by its entry point, or ``-p`` when the package was not installed).
"""

from __future__ import annotations

import datetime as _dt
import secrets
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from ihconform.registry import builtin_probe_files

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
    ini = Path(__file__).parent.parent / "probes" / "pytest.ini"
    args = ["-c", str(ini), "--rootdir", str(ini.parent), "-p", "no:cacheprovider", "-p", "no:terminal",
            "-p", "no:randomly", "-W", "ignore::DeprecationWarning"]
    if not any(ep.name == "ihconform" for ep in entry_points(group="pytest11")):
        args += ["-p", "ihconform.run.plugin"]
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


