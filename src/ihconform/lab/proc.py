"""Running commands for the lab: argument lists only, and a failure always says what failed.

Why: the lab drives ip, tc, nsenter and a dozen daemons. A step that fails silently leaves a
half-built lab that fails later in a confusing way, so every call either succeeds or raises
:class:`LabError` with the command line and its stderr.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
             "HOME": "/root"}


class LabError(RuntimeError):
    """A lab step failed. ``str()`` carries the command and what it printed on stderr."""


def _fmt(argv: Sequence[str | Path]) -> str:
    return shlex.join(str(a) for a in argv)


def run(argv: Sequence[str | Path], *, input: str | bytes | None = None, check: bool = True,
        timeout: float = 60.0, env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to completion, text mode. Raises LabError on non-zero exit or timeout."""
    args = [str(a) for a in argv]
    data = input.decode() if isinstance(input, bytes) else input
    try:
        res = subprocess.run(args, input=data, capture_output=True, text=True, timeout=timeout,
                             env=env if env is not None else CLEAN_ENV, cwd=cwd, check=False)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout:.0f} s: {_fmt(args)}") from exc
    except OSError as exc:
        raise LabError(f"cannot run {_fmt(args)}: {exc}") from exc
    if check and res.returncode != 0:
        err = (res.stderr or res.stdout).strip()
        raise LabError(f"command failed (exit {res.returncode}): {_fmt(args)}\n{err}")
    return res


def ns_exec(ns: str, argv: Sequence[str | Path]) -> list[str | Path]:
    """``argv`` run in network namespace ``ns`` (no PID namespace: routers, internet, power)."""
    return ["ip", "netns", "exec", ns, *argv]


def host_exec(init_pid: int, argv: Sequence[str | Path]) -> list[str | Path]:
    """``argv`` run inside an SSH host: all namespaces of its PID 1 (net, mount, UTS, IPC, PID)."""
    return ["nsenter", "-t", str(init_pid), "-m", "-u", "-i", "-n", "-p", "--", *argv]


def detach(argv: Sequence[str | Path]) -> list[str | Path]:
    """``argv`` in a new session, forked away, so no process of ours waits for the daemon.

    Inside a PID namespace the daemon is reparented to the host's PID 1 (which reaps it);
    outside, to the machine's init. Tear-down finds both through ``ip netns pids``.
    """
    return ["setsid", "-f", *argv]


def start_daemon(argv: Sequence[str | Path], log: Path, *, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
    """Start a long-running program detached, its output appended to ``log``."""
    args = [str(a) for a in argv]
    with log.open("ab") as out:
        try:
            res = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                 env=env if env is not None else CLEAN_ENV, cwd=cwd, timeout=30,
                                 check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LabError(f"cannot start {_fmt(args)}: {exc}") from exc
    if res.returncode != 0:
        raise LabError(f"start failed (exit {res.returncode}): {_fmt(args)}\n{tail(log)}")


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def wait_for(what: str, probe: Callable[[], object], timeout: float, interval: float = 0.05) -> None:
    """Poll ``probe()`` until it is truthy; raise LabError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if probe():
            return
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
