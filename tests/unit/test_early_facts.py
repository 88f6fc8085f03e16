"""Facts the CLI starts gathering before pytest starts (issue 14: the run's fixed cost).

Why these tests: the early store overlaps the run's longest wait with pytest's start, and it is
only right if the session uses it for exactly the run it was started for. A store gathered for
other inputs must never stand in for the session's, each host is asked once, and a session that
ends before adopting it leaves no gathering thread behind.
"""

from __future__ import annotations

import datetime as _dt
import json
import threading
from pathlib import Path

import pytest

from ihconform import cli
from ihconform.catalog import load_profile
from ihconform.facts.contract import Section
from ihconform.facts.sections import plan_sections
from ihconform.facts.store import FactStore
from ihconform.inventory import Host, local_inventory
from ihconform.ledger.core import Ledger
from ihconform.plan import RunPlan
from ihconform.results import ExitCode
from ihconform.run.state import IhcState, RunSettings

from ..conftest import FIXTURES

MINI = FIXTURES / "profiles" / "mini.yaml"


def _settings(tmp_path: Path) -> RunSettings:
    return RunSettings(run_id="t", inventory_path="(test)", final=tmp_path / "r", partial=tmp_path / "r.partial",
                       started=_dt.datetime.now(_dt.UTC), t0=0.0, formats=frozenset({"json"}), tester={},
                       progress=False, role="single")


def test_the_session_adopts_a_store_started_for_its_own_plan(tmp_path: Path) -> None:
    inv = local_inventory()
    plan = RunPlan.build(load_profile(MINI), inv, ())
    early = FactStore(local_inventory(), plan_sections(plan), 1)  # same inputs, loaded again
    state = IhcState.open(_settings(tmp_path), plan, Ledger(), 1, early=early)
    assert state.store is early


def test_a_store_started_for_other_sections_is_not_adopted(tmp_path: Path) -> None:
    inv = local_inventory()
    plan = RunPlan.build(load_profile(MINI), inv, ())
    other = FactStore(inv, {inv.hosts[0].id: [Section("now", "date +%s")]}, 1)
    state = IhcState.open(_settings(tmp_path), plan, Ledger(), 1, early=other)
    assert state.store is not other
    assert state.store.sections_for == plan_sections(plan)


def test_a_store_started_for_another_inventory_is_not_adopted(tmp_path: Path) -> None:
    inv = local_inventory()
    plan = RunPlan.build(load_profile(MINI), inv, ())
    moved = inv.model_copy(update={"hosts": (Host(id=inv.hosts[0].id, address="198.51.100.9"),)})
    state = IhcState.open(_settings(tmp_path), plan, Ledger(), 1,
                          early=FactStore(moved, plan_sections(plan), 1))
    assert state.store.inventory == inv


def test_a_cli_run_asks_each_host_once_and_starts_before_pytest(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole CLI in this process: the early store is the session's, so the one host is
    gathered once (twice would mean the session gathered again), and gathering began before
    the plugin's ``pytest_configure``."""
    events: list[str] = []
    gather = FactStore._gather

    def counted(self: FactStore, host: Host):  # type: ignore[no-untyped-def]
        events.append(f"gather {host.id}")
        return gather(self, host)

    monkeypatch.setattr(FactStore, "_gather", counted)
    opened = IhcState.open

    def noted(*args, **kwargs):  # type: ignore[no-untyped-def]
        events.append("configure")
        return opened(*args, **kwargs)

    monkeypatch.setattr(IhcState, "open", noted)
    out = tmp_path / "r"
    code = cli.main(["run", "-q", "--formats", "json", "-p", str(MINI), "-o", str(out)])
    assert code in (ExitCode.NON_CONFORMANT, ExitCode.INCOMPLETE)
    host_id = local_inventory().hosts[0].id
    assert events == [f"gather {host_id}", "configure"]
    (folder,) = out.iterdir()
    transcript = json.loads((folder / "evidence" / "hosts" / host_id / "transcript.json").read_text())
    assert transcript["round_trips"] == 1 and not transcript["error"]


def test_a_session_that_ends_before_adopting_leaves_no_gathering(tmp_path: Path) -> None:
    """Output that cannot be made ends the session in ``pytest_configure`` (exit 74), after the
    CLI started gathering: the CLI closes the store, so no thread of it outlives the run."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    code = cli.main(["run", "-q", "--formats", "json", "-p", str(MINI), "-o", str(blocker / "out")])
    assert code == ExitCode.OUTPUT_ERROR
    assert not [t.name for t in threading.enumerate() if t.name.startswith("ihc-facts")]

