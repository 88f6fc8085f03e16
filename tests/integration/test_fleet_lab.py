"""The lab's fleet (``lab up --fleet N``, issue 9): N extra minimal SSH hosts for scale benchmarks.

One bring-up of a 5-host fleet: every fleet host answers over SSH as itself with its own pinned
host key (and refuses a neighbour's key), the fleet inventory lists exactly the fleet, and
``down`` leaves no fleet namespace, process or file behind. The session's conforming lab is
taken down for this module and rebuilt at its end (if it was up), as `lab_variant` does.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
import yaml

from ihconform import lab as ihlab
from ihconform.errors import HostKeyError
from ihconform.inventory import load_inventory
from ihconform.lab import lifecycle, network, plan
from ihconform.transport import open_transport

FLEET = 5


class LabManager(Protocol):
    """The session's lab manager (conftest.py): owns the machine lock and the runtime folder."""

    runtime: Path
    info: ihlab.LabInfo | None

    def down(self) -> None: ...

    def ensure(self, variants: tuple[str, ...] = ()) -> ihlab.LabInfo: ...


@pytest.fixture(scope="module")
def fleet_lab(lab_manager: LabManager) -> Iterator[ihlab.LabInfo]:
    was_up = lab_manager.info is not None
    lab_manager.down()  # the machine lock is held by the session's lab_manager
    info = ihlab.up((), lab_manager.runtime, fleet=FLEET)
    try:
        yield info
    finally:
        lab_manager.down()
        if was_up:  # the session's `lab` fixture handed out this runtime: it must be there again
            lab_manager.ensure(())


def test_fleet_inventory_lists_the_fleet_with_distinct_pinned_keys(fleet_lab: ihlab.LabInfo) -> None:
    assert fleet_lab.fleet_inventory is not None
    inv = load_inventory(fleet_lab.fleet_inventory)
    want = {h.id: h.address for h in plan.fleet_hosts(FLEET)}
    assert {h.id: h.address for h in inv.hosts} == want == fleet_lab.fleet
    assert [a for a in want.values()] == [f"198.51.100.{60 + i}" for i in range(FLEET)]
    keys = [h.host_key for h in inv.hosts]
    assert all(k.startswith("ssh-ed25519 ") for k in keys) and len(set(keys)) == FLEET
    main = yaml.safe_load(fleet_lab.inventory_path.read_text())
    assert not {h["id"] for h in main["hosts"]} & set(want)  # the main inventory is unchanged


def test_every_fleet_host_answers_as_itself_with_its_own_key(fleet_lab: ihlab.LabInfo) -> None:
    assert fleet_lab.fleet_inventory is not None
    inv = load_inventory(fleet_lab.fleet_inventory)
    for host in inv.hosts:
        t = open_transport(host, inv)
        try:
            res = t.run("hostname; cat /etc/hostname; id -un; sudo -n true 2>/dev/null; echo sudo=$?")
            assert res.text.split() == [host.id, host.id, plan.PROBE_USER, "sudo=1"]  # sudo needs the password
            assert t.round_trips == 1
        finally:
            t.close()


def test_a_neighbours_pinned_key_is_refused(fleet_lab: ihlab.LabInfo, tmp_path: Path) -> None:
    assert fleet_lab.fleet_inventory is not None
    doc = yaml.safe_load(fleet_lab.fleet_inventory.read_text())
    doc["hosts"][0]["host_key"] = doc["hosts"][1]["host_key"]
    path = tmp_path / "swapped.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    inv = load_inventory(path)
    with pytest.raises(HostKeyError):
        open_transport(inv.hosts[0], inv)


def test_status_lists_the_fleet(fleet_lab: ihlab.LabInfo) -> None:
    rows = {(n, k): s for n, k, s in ihlab.status(fleet_lab.runtime)}
    for h in plan.fleet_hosts(FLEET):
        assert rows[(h.id, "host")] == "up"
        assert rows[(h.ns, "namespace")] == "up"
        assert rows[(f"sshd-{h.id}", "sshd")] == "up"


def test_down_removes_the_fleet(lab_manager: LabManager, fleet_lab: ihlab.LabInfo) -> None:
    lab_manager.down()
    lifecycle.wait_down()
    assert not network.lab_namespaces()
    assert not set(plan.FLEET_NAMESPACES) & set(
        subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.split())
    assert not fleet_lab.runtime.exists()
