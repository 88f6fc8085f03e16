"""The pytest plugin: options, the session's state, parametrisation by the run plan, fixtures.

Registered through the ``pytest11`` entry point, it stays inert unless an ``--ihc-*``
option is given, so it never disturbs other test suites. ``ihconform run`` drives it; a
tester can also run ``pytest --ihc-inventory site.yaml --ihc-profile P`` with any pytest
option (``-k``, ``-x``, ``--pdb``) and get the same results model. Verdicts are made by the
:class:`~ihconform.run.reporter.Reporter` this module registers for the session.
"""

from __future__ import annotations

import datetime as _dt
import gc
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ihconform.catalog import DEFAULT_PROFILE, hosting_kind, load_profile
from ihconform.check import Check
from ihconform.errors import ConfigError, FactUnavailable, TransportError
from ihconform.facts.collect import HostFacts
from ihconform.facts.devices import DeviceView, device_evidence
from ihconform.facts.host import HostView
from ihconform.inventory import Inventory, NetworkDevice, Tester, load_inventory, local_inventory
from ihconform.ledger.core import Ledger, load_ledger, write_evidence
from ihconform.ledger.migration import legacy_map
from ihconform.plan import RunPlan, check_only
from ihconform.profile import Profile
from ihconform.registry import PROBE_ATTR
from ihconform.run import distribute
from ihconform.run.folder import open_partial, output_failed
from ihconform.run.launch import DEFAULT_REPORTS, EARLY_FACTS, EarlyFacts, new_run_id, run_folder
from ihconform.run.reporter import Reporter
from ihconform.run.state import PLAN_KEY, STATE_KEY, IhcState, RunSettings
from ihconform.runcache import EvidenceSink, RunCache
from ihconform.secrets import apply_env_file
from ihconform.transport.base import Transport


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
    g.addoption("--ihc-lean", action="store_true", default=False,
                help="judge each planned call without pytest's per-call reports (the CLI's runs with only "
                     "the built-in probes and no pytest options)")
    g.addoption("--ihc-formats", default="json,junit,html,pdf",
                help="report formats to write (json and junit are always written)")
    g.addoption("--ihc-tester", action="append", default=[], metavar="FIELD=VALUE",
                help="override a field of the inventory's tester: section (organisation, testers, "
                     "prepared_by, reviewed_by, approved_by, report_number, report_date)")


def _active(config: pytest.Config) -> bool:
    return bool(config.getoption("ihc_inventory") or config.getoption("ihc_local")
                or config.getoption("ihc_profile"))


def pytest_configure(config: pytest.Config) -> None:
    if not _active(config):
        return
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
    tester = dict(str(kv).partition("=")[::2] for kv in config.getoption("ihc_tester"))
    unknown_tester = sorted(set(tester) - set(Tester.model_fields))
    if unknown_tester:  # said before anything runs, not after the run
        raise pytest.UsageError(f"--ihc-tester: unknown field(s) {', '.join(unknown_tester)}; "
                                f"known: {', '.join(Tester.model_fields)}")
    role = distribute.role(config)
    started, t0 = _dt.datetime.now(_dt.UTC), time.monotonic()
    run_id = config.getoption("ihc_run_id") or new_run_id()
    if role == "worker":  # the controller's run: same id, same .partial folder
        given: dict[str, str] = config.workerinput  # type: ignore[attr-defined]
        run_id, final, partial = given["ihc_run_id"], Path(given["ihc_final"]), Path(given["ihc_partial"])
        started = _dt.datetime.fromisoformat(given["ihc_started"])
    else:
        out = config.getoption("ihc_output")
        final = Path(out) if out else run_folder(DEFAULT_REPORTS, run_id, started)
        partial = _open_folder(final)
    settings = RunSettings(
        run_id=run_id, inventory_path=inv_path, final=final, partial=partial, started=started, t0=t0,
        formats=frozenset(f.strip() for f in str(config.getoption("ihc_formats")).split(",") if f.strip()),
        tester=tester, progress=config.getoption("ihc_progress"), role=role,
        lean=role == "single" and config.getoption("ihc_lean"))
    early = config.pluginmanager.get_plugin(EARLY_FACTS) if role == "single" else None
    state = IhcState.open(settings, plan, ledger, config.getoption("ihc_parallel"),
                          early=early.store if isinstance(early, EarlyFacts) else None)
    if role != "worker":
        try:
            _use_ledger(state)
        except OSError as exc:  # disk full, read-only: before any probe ran
            shutil.rmtree(partial, ignore_errors=True)
            pytest.exit("no run folder", returncode=output_failed(final, partial, exc))
    config.stash[STATE_KEY] = state
    config.pluginmanager.register(Reporter(state), "ihconform-reporter")
    config.pluginmanager.register(SessionState(state), "ihconform-state")
    if role == "single":
        state.store.start(plan.needs_hosts())  # workers gather the hosts they are given, lazily
    elif role == "controller":
        config.pluginmanager.register(distribute.Controller(state), "ihconform-controller")


def _open_folder(final: Path) -> Path:
    """The ``.partial`` folder of the run; a folder that cannot be made ends the session with
    :attr:`ExitCode.OUTPUT_ERROR` before any probe ran."""
    try:
        return open_partial(final)
    except OSError as exc:  # disk already full, read-only, no permission
        partial = final.with_name(final.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        pytest.exit("no run folder", returncode=output_failed(final, partial, exc))


def _check_only(profile: Profile, only: tuple[str, ...]) -> None:
    """``--ihc-only`` that selects nothing is a usage error here too (pytest used directly)."""
    try:
        check_only(profile, only)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _load_ledger(inventory: Inventory) -> Ledger:
    """Load and verify the evidence ledger before anything is written: a ledger that cannot
    be read is a usage error (exit 2, naming file, line and field), like a bad inventory."""
    ev = inventory.evidence
    try:
        return load_ledger(ev.attestations, ev.waivers, ev.keyring)
    except ConfigError as exc:
        raise pytest.UsageError(f"证据台账 / evidence ledger: {exc}") from None


def _use_ledger(state: IhcState) -> None:
    """Check the ledger against the plan, copy it into the evidence folder, and say on the
    terminal what no longer applies (expired waivers, changed files, bad signatures)."""
    ledger, plan = state.ledger, state.plan
    ledger.check_refs({c.id for c in plan.profile.controls}, {o.id for o in plan.objects},
                      legacy_map(plan.profile.controls))
    write_evidence(ledger, state.evidence)
    for line in ledger.warnings():
        sys.stderr.write(f"警告 / warning: {line}\n")


def _state(config: pytest.Config) -> IhcState:
    return config.stash[STATE_KEY]


class SessionState:
    """The ``ihc_state`` fixture, from a plugin object registered with the session's state.

    Why not a module fixture taking ``request``: pytest makes a new ``FixtureDef`` (and inspects
    a signature) each time a fixture that asks for ``request`` is resolved, once per probe call
    even for a session-scoped fixture whose value is cached (its arguments are resolved before
    the cache is read). Held here, the fixture takes no argument; with the items parametrised
    directly by their plan key (:func:`pytest_generate_tests`), no probe call resolves
    ``request`` at all."""

    def __init__(self, state: IhcState) -> None:
        self.state = state

    @pytest.fixture(scope="session", name="ihc_state")
    def ihc_state(self) -> IhcState:
        """The session's state, for the fixtures below."""
        return self.state


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each probe function becomes one item per (control, object) pair the plan gives it,
    parametrised directly by the pair's plan key (``ihc_key``, the argument of :func:`check`)."""
    if STATE_KEY not in metafunc.config.stash:
        return
    probe_id = getattr(metafunc.function, PROBE_ATTR, None)
    if probe_id is None:
        return
    keys = [p.key for p in _state(metafunc.config).plan.by_probe.get(probe_id, [])]
    metafunc.parametrize(PLAN_KEY, keys, ids=keys)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    if STATE_KEY not in config.stash:
        return
    state = _state(config)
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        (keep if state.key_of(item) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep
    state.tally.total = len(keep)


@pytest.fixture
def check(ihc_key: str, ihc_state: IhcState) -> Check:
    """The (control, object) this probe call judges: ``ihc_key`` is the item's parameter, the
    plan key (see :func:`pytest_generate_tests`)."""
    pair = ihc_state.plan.pairs[ihc_key]
    c = Check(control=pair.control, obj=pair.obj, inventory=ihc_state.plan.inventory)
    ihc_state.tally.checks[ihc_key] = c
    return c


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start network work early: a probe module's ``ihc_prefetch(plan, cache)`` runs now, so
    scans proceed while host facts are gathered and other probes run.

    The objects made so far (modules, the catalog and plan, the collected items) live until the
    run ends; ``gc.freeze()`` moves them out of the collector's generations, so the full
    collections that a run's growing results set off no longer walk them again each time (on a
    50-host offline run, 4 full collections took 0.22 s; after freezing here, 3 took 0.11 s)."""
    if STATE_KEY not in session.config.stash:
        return
    gc.freeze()
    state = _state(session.config)
    if state.settings.role == "worker":
        return  # every worker has every item; scans start lazily on the worker that judges them
    seen: set[int] = set()
    for item in session.items:
        module = getattr(item, "module", None)
        hook = getattr(module, "ihc_prefetch", None)
        if module is None or hook is None or id(module) in seen:
            continue
        seen.add(id(module))
        hook(state.plan, state.cache)


@pytest.fixture(scope="session")
def run_cache(ihc_state: IhcState) -> RunCache:
    """Work shared by every probe of the run (scans, measurements), computed once."""
    return ihc_state.cache


@pytest.fixture(scope="session")
def evidence(ihc_state: IhcState) -> EvidenceSink:
    """Write raw evidence (scan output, samples, readings) into the run folder."""
    return ihc_state.evidence


@pytest.fixture(scope="session")
def ledger(ihc_state: IhcState) -> Ledger:
    """The run's verified evidence ledger (attestations, waivers), for evidence judges."""
    return ihc_state.ledger


@pytest.fixture(scope="session")
def inventory(ihc_state: IhcState) -> Inventory:
    return ihc_state.plan.inventory


@pytest.fixture
def host_facts(ihc_state: IhcState, check: Check) -> HostFacts:
    """The gathered facts of the host this check's object lives on (waits for them); for a
    network device, its one session's facts (the controls judged on platform-neutral facts
    apply to hosts and devices alike: facts/neutral.py).

    The run's cache and evidence sink come from the state, not as fixtures: each fixture a
    per-call fixture asks for is looked up and scope-checked by pytest on every probe call."""
    ref = check.obj.ref
    if isinstance(ref, NetworkDevice):
        facts, refs = device_evidence(ref, check.inventory, ihc_state.cache, ihc_state.evidence)
        for r in refs:
            check.attach(r)
        return facts
    return ihc_state.store.get(ihc_state.host_of(check))


@pytest.fixture
def host(ihc_state: IhcState, host_facts: HostFacts) -> HostView:
    """Typed view of :func:`host_facts`. Raises FactUnavailable (-> 检查错误) if the host is down.

    One view per host for the run: its parsed properties (sshd settings, processes, accounts)
    are parsed once, not again by each of the host's probes."""
    if host_facts.error:
        raise FactUnavailable(f"host {host_facts.host_id}: {host_facts.error}")
    views = ihc_state.views
    view = views.get(id(host_facts))
    if view is None or view.facts is not host_facts:
        view = views[id(host_facts)] = HostView(host_facts)
    return view


@pytest.fixture
def device(check: Check, run_cache: RunCache, evidence: EvidenceSink) -> DeviceView:
    """The network device this check judges, for the device probes (probes/devices.py). Here with
    the other fixtures, not in that module: a probe module imports no pytest, so the CLI can read
    what the planned probes need (``registry.facts_needed``) before pytest is imported."""
    ref = check.obj.ref
    if not isinstance(ref, NetworkDevice):
        raise FactUnavailable(f"{check.obj.id} is not a network device")
    facts, refs = device_evidence(ref, check.inventory, run_cache, evidence)
    for r in refs:
        check.attach(r)
    return DeviceView(ref, facts, run_cache, evidence)


@pytest.fixture(scope="session")
def host_transport(ihc_state: IhcState) -> Callable[[str], Transport]:
    """``host_transport(host_id)``: the run's open connection to a host, for probes that must
    run a measurement there (bandwidth on the host that owns the uplink). Reuses the fact
    connection; raises FactUnavailable (-> 检查错误) if that host could not be reached. One
    function for the run: it looks the connection up when called."""

    def get(host_id: str) -> Transport:
        facts = ihc_state.store.get(host_id)
        try:
            t = ihc_state.store.transport(host_id)
        except TransportError as exc:
            raise FactUnavailable(f"host {host_id}: connection lost after its facts were gathered, "
                                  f"and reconnecting failed: {exc}") from exc
        if facts.error or t is None:
            raise FactUnavailable(f"host {host_id}: {facts.error or 'no connection'}")
        return t

    return get


@pytest.fixture
def site_facts(ihc_state: IhcState) -> dict[str, HostFacts]:
    """Facts of every host under test, for site-wide (topology) probes."""
    targets = {h.id for h in ihc_state.plan.inventory.targets}
    ihc_state.store.start(targets)
    return {hid: f for hid, f in ihc_state.store.all().items() if hid in targets}
