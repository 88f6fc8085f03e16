"""The lab for a benchmark: the machine's lab lock, then a lab (with a fleet) that is ours.

Why the lock: there is one lab per machine (fixed namespace names and addresses) and other
sessions (pytest's integration conftest, other benchmarks) use it too. They all take an
exclusive ``flock`` on ``/run/ihlab.lock`` for as long as they use the lab; inside the lock the
lab is ours, so we may take down whatever is left there and build the one we need.
"""

from __future__ import annotations

import contextlib
import fcntl
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ihconform import lab as ihlab

LOCK = ihlab.DEFAULT_RUNTIME.parent / f"{ihlab.DEFAULT_RUNTIME.name}.lock"


@contextlib.contextmanager
def machine_lock(wait_s: float = 3600.0) -> Iterator[None]:
    """Hold the lab lock (waiting for other sessions, saying so once)."""
    with LOCK.open("a") as f:
        deadline = time.monotonic() + wait_s
        told = False
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    print(f"waiting for the lab lock {LOCK} (another session uses the lab)", file=sys.stderr)
                    told = True
                if time.monotonic() > deadline:
                    raise TimeoutError(f"lab lock {LOCK} still held after {wait_s:.0f} s") from None
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def fleet_lab(fleet: int) -> Iterator[ihlab.LabInfo]:
    """The lock, a conforming lab with ``fleet`` fleet hosts, and the lab taken down at the end."""
    with machine_lock():
        ihlab.down(ihlab.DEFAULT_RUNTIME)  # leftovers of an interrupted session: ours now
        info = ihlab.up((), ihlab.DEFAULT_RUNTIME, fleet=fleet)
        print(f"lab up with a fleet of {fleet} in {info.up_seconds:.1f} s", file=sys.stderr)
        try:
            yield info
        finally:
            ihlab.down(ihlab.DEFAULT_RUNTIME)


def subset_inventory(fleet_inventory: Path, n: int, out: Path) -> Path:
    """A copy of the fleet inventory with only its first ``n`` hosts."""
    import yaml

    doc = yaml.safe_load(fleet_inventory.read_text())
    if n > len(doc["hosts"]):
        raise ValueError(f"{fleet_inventory} has {len(doc['hosts'])} hosts, not {n}")
    doc["hosts"] = doc["hosts"][:n]
    out.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    return out
