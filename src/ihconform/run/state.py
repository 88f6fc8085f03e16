"""What one ihconform session holds: fixed settings, the services probes use, and the tally.

Why three parts: the settings (run id, folders, formats) are decided in ``pytest_configure``
and never change, so they are a frozen value a worker can receive whole; the services (plan,
fact store, run cache, evidence sink, ledger) are objects whose identity never changes; only
the tally (verdicts, progress count, interruption) grows while the session runs. Keeping the
mutable part small says where a run's outcome can change.

This module is the bottom of the run wing: it imports nothing else of it.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.facts.host import HostView
from ihconform.facts.sections import plan_sections
from ihconform.facts.store import FactStore
from ihconform.inventory import Database, Host
from ihconform.ledger.core import Ledger
from ihconform.plan import RunPlan
from ihconform.results import ObjectResult
from ihconform.runcache import EvidenceSink, RunCache

#: ``single`` process, xdist ``controller``, or xdist ``worker`` (ihconform.run.distribute).
Role = Literal["single", "controller", "worker"]


@dataclass(frozen=True)
class RunSettings:
    """The run's fixed facts: who it is, where it goes, what it writes."""

    run_id: str
    inventory_path: str  # resolved file, or a label for the embedded default
    final: Path  # where the finished run folder lands
    partial: Path  # the ``.partial`` folder it is assembled in
    started: _dt.datetime
    t0: float  # time.monotonic() at the start, for the run's duration
    formats: frozenset[str]
    tester: Mapping[str, str]  # --ihc-tester overrides of the inventory's tester: section
    progress: bool
    role: Role
    #: pytest's per-call protocol replaced by the reporter's own (``Reporter.pytest_runtest_protocol``):
    #: a run with only the built-in probes and no pytest option of the user's
    lean: bool = False


@dataclass
class Tally:
    """What the session learns as it runs."""

    results: dict[str, ObjectResult] = field(default_factory=dict)
    checks: dict[str, Check] = field(default_factory=dict)
    collect_errors: list[str] = field(default_factory=list)  # probe modules that failed to import
    done: int = 0
    total: int = 0
    interrupted: bool = False


@dataclass(frozen=True)
class IhcState:
    """Everything one ihconform session holds (kept on ``config.stash[STATE_KEY]``)."""

    settings: RunSettings
    plan: RunPlan
    store: FactStore
    cache: RunCache
    evidence: EvidenceSink
    ledger: Ledger  # attestations, waivers and keyring, verified before anything ran
    tally: Tally = field(default_factory=Tally)
    views: dict[int, HostView] = field(default_factory=dict)  # parsed facts per HostFacts (the ``host`` fixture)

    @classmethod
    def open(cls, settings: RunSettings, plan: RunPlan, ledger: Ledger, parallel: int,
             early: FactStore | None = None) -> IhcState:
        """The session's services for ``plan``: a fact store that gathers only the sections the
        planned probes read, a run cache and an evidence sink in the ``.partial`` folder.

        ``early`` is a store the CLI started before pytest (:func:`ihconform.run.launch.early_facts`);
        it is used only if it gathers exactly what this plan's store would (same inventory, same
        sections per host), so a store started for other inputs can never stand in for this run's."""
        sections = plan_sections(plan)
        if early is not None and early.gathers(plan.inventory, sections):
            store = early
        else:
            store = FactStore(plan.inventory, sections, parallel)
        return cls(settings, plan, store, RunCache(parallel), EvidenceSink(settings.partial), ledger)

    def host_of(self, check: Check) -> str:
        ref = check.obj.ref
        if isinstance(ref, Host):
            return ref.id
        if isinstance(ref, Database):
            return ref.host
        raise FactUnavailable(f"{check.obj.id} is not a host object; probe {check.control.probe} "
                              f"cannot use host facts")

    def key_of(self, item: pytest.Item) -> str | None:
        """The plan key an item judges; None for items that are not planned probe calls (an
        empty parametrisation yields a NOTSET placeholder item)."""
        cs = getattr(item, "callspec", None)
        key = cs.params.get(PLAN_KEY) if cs is not None else None
        return key if isinstance(key, str) and key in self.plan.pairs else None


STATE_KEY = pytest.StashKey[IhcState]()

#: The parameter of every probe item: its plan key, ``<control id>@<object id>``.
PLAN_KEY = "ihc_key"
