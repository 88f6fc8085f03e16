"""Integration fixtures: the namespace lab, brought up once per session and always taken down.

``lab`` (session scope) is the conforming lab. ``lab_variant(*names)`` (module scope) switches
the same runtime folder to a lab with defect variants and, at the end of the module, back to
the conforming lab. Paths in :class:`~ihconform.lab.LabInfo` (inventory, CA, keys) stay the
same across such a switch, but their *contents* are regenerated: read them when you need
them, do not cache keys or open connections across modules.

Not root: every integration test is skipped with one message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ihconform import lab as ihlab

RUNTIME = Path(os.environ.get("IHC_LAB_RUNTIME", str(ihlab.DEFAULT_RUNTIME)))
NEEDED = ("ip", "nsenter", "unshare", "sshd", "nginx", "turnserver", "kamailio", "upsdrvctl", "iperf3",
          "mariadbd", "psql", "upsc")


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "integration tests need root: the lab builds network namespaces (run as root, see docs/lab.md)"
    missing = [t for t in NEEDED if shutil.which(t, path="/usr/sbin:/usr/bin:/sbin:/bin") is None]
    if missing:
        return f"integration tests need the lab's Debian packages (bootstrap.sh install); missing: {missing}"
    return None


SKIP = _skip_reason()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.lab)
            if SKIP:
                item.add_marker(pytest.mark.skip(reason=SKIP))


class LabManager:
    """One lab at a time in RUNTIME; switches variants on demand, counts bring-ups."""

    def __init__(self, runtime: Path) -> None:
        self.runtime = runtime
        self.info: ihlab.LabInfo | None = None
        self.bring_ups: list[tuple[tuple[str, ...], float]] = []
        ihlab.down(runtime)  # leftovers of an interrupted run

    def ensure(self, variants: tuple[str, ...] = (), devices: bool = False) -> ihlab.LabInfo:
        """The lab with these variants (and the network devices of ``lab up --devices`` when asked)."""
        want = tuple(sorted(set(variants)))
        has_devices = self.info is not None and self.info.devices_inventory is not None
        if self.info is not None and self.info.variants == want and has_devices == devices:
            return self.info
        self.down()
        self.info = ihlab.up(want, self.runtime, devices=devices)
        self.bring_ups.append((want, self.info.up_seconds))
        return self.info

    def down(self) -> None:
        self.info = None
        ihlab.down(self.runtime)


LOCK_WAIT_S = 1200.0


@contextlib.contextmanager
def _machine_lock() -> Iterator[None]:
    """One lab per machine (fixed namespace names and addresses): concurrent test sessions
    (CI, several developers on one machine) wait for each other instead of tearing down each
    other's lab. The lock file sits beside the runtime folder and is left in place."""
    path = RUNTIME.parent / f"{RUNTIME.name}.lock"
    with path.open("a") as f:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.skip(f"another test session holds the lab ({path}) for over {LOCK_WAIT_S:.0f} s")
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def lab_manager() -> Iterator[LabManager]:
    with _machine_lock():
        mgr = LabManager(RUNTIME)
        try:
            yield mgr
        finally:
            mgr.down()


@pytest.fixture(scope="session")
def lab(lab_manager: LabManager) -> ihlab.LabInfo:
    """The conforming lab (session scope)."""
    return lab_manager.ensure(())


@pytest.fixture(scope="module")
def lab_variant(lab_manager: LabManager) -> Iterator[Callable[..., ihlab.LabInfo]]:
    """``lab_variant("weak-tls", ...)`` -> LabInfo of a lab with those variants; the conforming
    lab is restored when the module ends (if it had been up)."""
    was_up = lab_manager.info is not None and lab_manager.info.variants == ()

    def switch(*names: str) -> ihlab.LabInfo:
        return lab_manager.ensure(tuple(names))

    yield switch
    if was_up or lab_manager.info is not None:
        lab_manager.ensure(())


def _host_run(host_id: str, argv: list[str], *, timeout: float = 30,
              check: bool = True) -> subprocess.CompletedProcess[str]:
    init = (RUNTIME / "hosts" / host_id / "init.pid").read_text().strip()
    return subprocess.run(["nsenter", "-t", init, "-m", "-u", "-i", "-n", "-p", "--", *argv],
                          capture_output=True, text=True, timeout=timeout, check=check)


def _ns_run(ns: str, argv: list[str], *, timeout: float = 30,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                          timeout=timeout, check=check)


@pytest.fixture(scope="session")
def host_run() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``host_run("app01", ["ss", "-ltn"])``: run a command inside a lab host, as root."""
    return _host_run


@pytest.fixture(scope="session")
def ns_run() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``ns_run("ih-inet", [...])``: run a command in a plain lab namespace."""
    return _ns_run
