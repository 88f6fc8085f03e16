"""How the CLI launches a run: the pytest command line, and the session in this process.

Why apart from the plugin: the CLI decides the command line and never touches the session's
state; the plugin reads only the options given. Nothing here imports the plugin (pytest loads
it by its entry point, or ``-p`` when the package was not installed).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import secrets
import warnings
from collections.abc import Collection, Iterator
from importlib.metadata import entry_points
from pathlib import Path

from ihconform.facts.sections import plan_sections
from ihconform.facts.store import FactStore
from ihconform.inventory import Inventory, local_inventory
from ihconform.plan import RunPlan
from ihconform.profile import Profile
from ihconform.registry import builtin_probe_files
from ihconform.secrets import apply_env_file

DEFAULT_REPORTS = Path("reports")


def new_run_id() -> str:
    return secrets.token_hex(4)


def run_folder(base: Path, run_id: str, when: _dt.datetime | None = None) -> Path:
    when = when or _dt.datetime.now(_dt.UTC)
    return base / f"{when:%Y%m%d}-{run_id}"


#: The pytest plugin of a run (also the ``pytest11`` entry point).
PLUGIN = "ihconform.run.plugin"

#: Report formats a run writes; results.json and junit.xml are always written.
FORMATS = ("json", "junit", "html", "pdf", "docx")


def pytest_args(*, inventory: Path | None, profile: str | None, only: list[str], output: Path,
                run_id: str, probes: list[Path], parallel: int, progress: bool,
                formats: tuple[str, ...] = FORMATS, extra: list[str] | None = None,
                tester: dict[str, str] | None = None, probe_ids: Collection[str] | None = None) -> list[str]:
    """The pytest command line of a run. Probe files are given explicitly, so pytest collects
    them whatever their names; a packaged ini keeps the user's pytest.ini out of the run.

    Without pytest options of the user's (``extra``: ``--workers`` or arguments after ``--``)
    no plugin is autoloaded, only this one: pytest marks every module of a distribution that
    ships a ``pytest11`` entry point for assertion rewriting, so with autoload every ihconform
    module was parsed and rewritten again on each run (1.9 s of CPU when bytecode is not cached),
    and xdist, execnet and hypothesis were imported for nothing. The probe files are rewritten
    either way (they are the collected test files), so a probe's assertion reads the same.

    Nor, then, pytest's log and warning capture (:data:`UNSHOWN_PLUGINS`): they wrap every probe
    call to keep what it logged or warned for a terminal this run does not have; run the
    session inside :func:`unshown_output` so that what they swallowed stays unshown.

    ``probe_ids``: the probes the run's plan calls (:class:`EarlyFacts` holds the plan the CLI
    built); only the built-in modules holding them are collected. A 50-host ``--only probe:host.``
    run imported and collected fourteen probe modules for nothing (about 70 ms). A planned pair
    whose probe was not collected would be 未检查, never 符合 (``run/build.py``); the plugin builds
    the same plan from the same inputs."""
    ini = Path(__file__).parent.parent / "probes" / "pytest.ini"
    args = ["-c", str(ini), "--rootdir", str(ini.parent), "-p", "no:cacheprovider", "-p", "no:terminal",
            "-p", "no:randomly", "-W", "ignore::DeprecationWarning"]
    if extra:  # the user's own pytest options (-n, --timeout, ...) may need their plugins: autoload
        if not any(ep.name == "ihconform" for ep in entry_points(group="pytest11")):
            args += ["-p", PLUGIN]
    else:
        args += ["--disable-plugin-autoload", *(a for p in UNSHOWN_PLUGINS for a in ("-p", f"no:{p}")),
                 "-p", PLUGIN]
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
    if not extra and not probes:
        args.append("--ihc-lean")  # nothing but the reporter takes part in a call (Reporter.pytest_runtest_protocol)
    # an empty plan collects every module, as before: pytest given no file collects the folder it
    # was started in
    builtin = builtin_probe_files(probe_ids) if probe_ids else builtin_probe_files()
    args += [str(p) for p in builtin] + [str(f) for f in probe_files(probes)]
    return args + (extra or [])


#: pytest's plugins a run without the user's pytest options does without. unraisableexception:
#: a full ``gc.collect()`` at the end of the session, for a report it never prints; logging and
#: warnings: a capture set up and torn down around each of the three phases of every probe call
#: (about a tenth of pytest's per-call cost), for report sections the run never reads.
UNSHOWN_PLUGINS = ("unraisableexception", "logging", "warnings")


@contextlib.contextmanager
def unshown_output() -> Iterator[None]:
    """Library warnings and log records stay off the terminal while the session runs, as when
    pytest's capture took them (:data:`UNSHOWN_PLUGINS`): a probe's or a connection's failure
    reaches the report as its verdict's reason, not as a library's log line."""
    root = logging.getLogger()
    handler = logging.NullHandler()  # else logging's last resort prints WARNING and above to stderr
    root.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeHandler(handler)


def probe_files(paths: list[Path]) -> list[Path]:
    """The user's ``--probes`` files and the ``*.py`` files under each ``--probes`` folder (not
    in hidden folders or ``__pycache__``; a ``conftest.py`` is pytest's, loaded as a conftest).

    Why named one by one: the run's ini no longer matches every ``*.py`` (see pytest.ini), so a
    folder's files would not be collected by their names; named, each is collected whatever its
    name, as before."""
    out: list[Path] = []
    for p in paths:
        if not p.is_dir():
            out.append(p)
            continue
        out += sorted(f for f in p.rglob("*.py") if f.name != "conftest.py"
                      and not any(part.startswith(".") or part == "__pycache__" for part in f.relative_to(p).parts))
    return out


#: The name the CLI's early fact store is registered under, for the plugin to find it.
EARLY_FACTS = "ihconform-early-facts"


class EarlyFacts:
    """The fact store the CLI started before pytest, handed to the session as a plugin object
    (``pytest.main(plugins=...)``); the plugin finds it by name and adopts it when
    it gathers what the session's plan needs (:meth:`IhcState.open <ihconform.run.state.IhcState.open>`).

    Why: gathering is the run's longest wait (on the embedded default, the package manager's
    pending-updates count, about a second), and pytest's own start (plugins, the probe modules,
    collection) takes a third of a second more before ``pytest_configure``. Started here, the
    two overlap."""

    def __init__(self, store: FactStore, plan: RunPlan) -> None:
        self.store = store
        self.plan = plan  # what the store gathers for; the CLI collects only its probes' modules
        self.__name__ = EARLY_FACTS  # pluggy names a registered object by its ``__name__``


def early_facts(profile: Profile, inventory: Inventory | None, only: list[str], parallel: int) -> EarlyFacts:
    """Start gathering the facts of the run the CLI is about to launch (same plan as the
    plugin builds from the same inputs). The caller closes the store when the session ends,
    whether or not the session adopted it."""
    inv = inventory if inventory is not None else local_inventory()
    if inventory is not None:
        apply_env_file(inv.defaults.env_file)  # the secrets the connections need, as the plugin does
    plan = RunPlan.build(profile, inv, tuple(only))
    store = FactStore(inv, plan_sections(plan), parallel)
    store.start(plan.needs_hosts())
    return EarlyFacts(store, plan)


def execute(args: list[str], plugins: list[object] | None = None) -> int:
    """Run the pytest session in this process; returns the run's exit code.

    pytest is imported here, not with this module: the CLI starts gathering (:func:`early_facts`)
    before it, so pytest's import (about 0.2 s) runs while the hosts answer, not before they are
    asked. A test holds the CLI's imports to that."""
    import pytest
    # pytest prints its own dots/summary; the run reports through results and our summary.
    return int(pytest.main(args, plugins=plugins or []))


