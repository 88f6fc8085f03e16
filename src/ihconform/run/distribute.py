"""Runs that outgrow one process: pytest-xdist workers, each host's checks on one worker.

Why: a run gathers hosts with a bounded thread pool in one process (``--parallel``), which
is enough for a hospital's few dozen hosts. A fleet audit, or one spread over machines
(``xdist --tx ssh=...``), uses the distributed engine pytest already has. Facts must still be
gathered once per host, so the controller schedules with ``HostScheduling`` (see
:func:`scheduler`), xdist's scope scheduler with one scope per host (:func:`group_of`): a
host's checks go to one worker, whose fact store gathers it once. Workers judge and write
evidence into the controller's ``.partial`` folder; each result travels back inside its test
report (``user_properties``) and each worker's evidence list in its ``workeroutput``; the
controller alone writes results.json and the reports, from the same results model as a
single-process run.

:class:`Controller` is registered by :mod:`ihconform.run.plugin` when this process hands tests
to xdist workers (:func:`role`).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ihconform.inventory import Host, Inventory
from ihconform.plan import Pair
from ihconform.results import EvidenceRef, ObjectResult
from ihconform.run.state import IhcState, Role

RESULT_PROPERTY = "ihconform-result"
EVIDENCE_OUTPUT = "ihconform-evidence"


def role(config: pytest.Config) -> Role:
    """``worker`` inside an xdist worker, ``controller`` when this process hands tests to
    workers, else ``single``."""
    if hasattr(config, "workerinput"):
        return "worker"
    if config.pluginmanager.hasplugin("xdist") and config.getoption("dist", "no") != "no" \
            and config.getoption("tx", None):
        return "controller"
    return "single"


def group_of(pair: Pair, inventory: Inventory) -> str:
    """The host whose facts or connection the check uses (a database, uplink or AV system
    lives on a host); other objects (TLS endpoints, BMCs, the site) are their own group, so
    the checks sharing one scan stay together."""
    ref = pair.obj.ref
    if isinstance(ref, Host):
        return ref.id
    host = getattr(ref, "host", None)
    if isinstance(host, str) and any(h.id == host for h in inventory.hosts):
        return host
    return f"{pair.obj.type.value}:{pair.obj.id}"


def worker_settings(state: IhcState) -> dict[str, str]:
    """What every worker takes from the controller: the one run id and folder."""
    s = state.settings
    return {"ihc_run_id": s.run_id, "ihc_final": str(s.final), "ihc_partial": str(s.partial),
            "ihc_started": s.started.isoformat()}


def send_result(report: pytest.TestReport, key: str, result: ObjectResult) -> None:
    """Attach the verdict to the report the worker sends to the controller (JSON text: the
    observed value is free-form and must survive execnet's serialisation)."""
    report.user_properties.append((RESULT_PROPERTY, json.dumps(
        {"key": key, "result": result.model_dump(mode="json", fallback=str)}, ensure_ascii=False)))


def received_result(report: pytest.TestReport) -> tuple[str, ObjectResult] | None:
    for name, value in report.user_properties:
        if name == RESULT_PROPERTY:
            doc = json.loads(str(value))
            return str(doc["key"]), ObjectResult.model_validate(doc["result"])
    return None


def evidence_output(refs: dict[str, EvidenceRef]) -> dict[str, Any]:
    return {k: r.model_dump(mode="json") for k, r in refs.items()}


def evidence_input(data: object) -> dict[str, EvidenceRef]:
    if not isinstance(data, dict):
        return {}
    return {str(k): EvidenceRef.model_validate(v) for k, v in data.items()}


def scheduler(config: pytest.Config, log: Any, state: IhcState) -> Any:
    """xdist's :class:`LoadScopeScheduling` with one scope per host: a node id ends in the
    plan key (``[CONTROL@OBJECT]``), whose pair names the object and so the host."""
    from xdist.scheduler import LoadScopeScheduling

    groups = {key: group_of(pair, state.plan.inventory) for key, pair in state.plan.pairs.items()}

    class HostScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            key = nodeid[nodeid.rfind("[") + 1:-1] if nodeid.endswith("]") else ""
            return groups.get(key, nodeid)

    return HostScheduling(config, log)


class Controller:
    """The xdist hooks of the controlling process (a plugin object, registered by
    :func:`ihconform.run.plugin.pytest_configure` when this process distributes)."""

    def __init__(self, state: IhcState) -> None:
        self.state = state

    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """Our scheduler for ``-n N`` (``--dist load``) and ``--dist loadgroup``; an explicitly
        chosen other mode (each, loadfile, ...) is the user's."""
        if config.getoption("dist") in ("load", "loadgroup"):
            return scheduler(config, log, self.state)
        return None

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput.update(worker_settings(self.state))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        refs = evidence_input(getattr(node, "workeroutput", {}).get(EVIDENCE_OUTPUT))
        self.state.evidence.refs.update(refs)
