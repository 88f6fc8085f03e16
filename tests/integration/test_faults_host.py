"""Host-side faults injected into the namespace lab (issue 8): each test breaks one real thing,
runs ``ihconform run`` as a user would (a subprocess, a small ``--only`` selection), and checks
the golden rule — every control the fault touches is 检查错误 or 未检查 with its reason, never
符合 — plus what the run leaves on disk and the exit code. Unaffected controls must keep the
verdicts of a baseline run of the same selection on the healthy lab (one per module).

Every injection is undone in a ``finally`` (sshd and PostgreSQL restarted, bind mounts and
tmpfs unmounted, faillock counters reset), and the lab is rebuilt at the end of the module so
the next module starts from a fresh one whatever a failed restore left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.integration.conftest import RUNTIME, LabManager
from tests.reliability import compare, false_passes, verdict_summary

from ihconform import lab as ihlab
from ihconform.facts.sections import static_sections
from ihconform.inventory import load_inventory
from ihconform.lab.databases import PG_CTL, pg_paths
from ihconform.registry import FACTS_ATTR, PROBES, probe_function
from ihconform.results import ExitCode

ROOT = Path(__file__).resolve().parents[2]
IHCONFORM = str(Path(sys.executable).with_name("ihconform"))
#: The selection every run of this module uses: host, database, web-server and site (server
#: count, role separation, redundancy) controls of the default profile — the probes that read
#: host facts, nothing that scans the network, so a run takes seconds. host.security_updates
#: is left out: its simulated ``apt-get upgrade`` costs about 3.5 s of CPU per host (seven
#: hosts on two shared cores) and reads nothing the faults below do not already reach.
SELECTION = (*(f"probe:{p}" for p in sorted(PROBES) if p.startswith("host.") and p != "host.security_updates"),
             "probe:db.", "probe:web.", "probe:servers.")
Results = dict[tuple[str, str], dict[str, Any]]
HostRun = Callable[..., subprocess.CompletedProcess[str]]
#: How the lab starts a host's sshd (ihconform.lab.hosts.start), to restart it after a fault.
SSHD = ["/usr/sbin/sshd", "-f", "/etc/ssh/sshd_config", "-E", "/var/log/sshd.log"]


@dataclass
class Run:
    """One finished ``ihconform run``: exit code, output, peak memory, and its -o folder."""

    rc: int
    stdout: str
    stderr: str
    out: Path
    maxrss_kib: int
    seconds: float

    @property
    def finals(self) -> list[Path]:
        """Run folders that look complete (no ``.partial`` suffix)."""
        return sorted(p for p in self.out.iterdir() if p.is_dir() and not p.name.endswith(".partial"))

    @property
    def partials(self) -> list[Path]:
        return sorted(p for p in self.out.iterdir() if p.name.endswith(".partial"))

    def results(self) -> Results:
        """The results of the one complete run folder (asserting there is exactly one)."""
        assert len(self.finals) == 1, (self.rc, self.finals, self.stderr[-3000:])
        return load_results(self.finals[0])

    def why(self) -> str:
        return f"exit {self.rc}\n--- stdout\n{self.stdout[-2000:]}\n--- stderr\n{self.stderr[-3000:]}"


def load_results(folder: Path) -> Results:
    doc = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    return {(r["control_id"], r["object_id"]): r for r in doc["results"]}


def launch(inventory: Path, out: Path, *, only: tuple[str, ...] = SELECTION,
           formats: str = "json,junit") -> tuple[subprocess.Popen[bytes], float]:
    """Start ``ihconform run`` (stdout/stderr to files beside ``out``, never inside it)."""
    out.mkdir(parents=True, exist_ok=True)
    args = [IHCONFORM, "run", "-q", "--formats", formats, "-i", str(inventory), "-o", str(out)]
    for sel in only:
        args += ["--only", sel]
    log = out.parent / f"{out.name}.log"
    with (log.with_suffix(".stdout")).open("wb") as so, (log.with_suffix(".stderr")).open("wb") as se:
        proc = subprocess.Popen(args, stdout=so, stderr=se, cwd=ROOT)
    return proc, time.monotonic()


def finish(proc: subprocess.Popen[bytes], started: float, out: Path, *, timeout: float = 150) -> Run:
    """Wait for a launched run, with its own peak RSS (``wait4``), killing it past ``timeout``."""
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    log = out.parent / f"{out.name}.log"
    return Run(rc=proc.returncode, stdout=log.with_suffix(".stdout").read_text(errors="replace"),
               stderr=log.with_suffix(".stderr").read_text(errors="replace"), out=out,
               maxrss_kib=usage.ru_maxrss, seconds=time.monotonic() - started)


def run_ihc(inventory: Path, out: Path, **kw: Any) -> Run:
    proc, t0 = launch(inventory, out, **kw)
    return finish(proc, t0, out)


def host_of(results: Results) -> dict[str, str]:
    """object id -> the host whose facts judge it, read from the run's own evidence (every
    host-backed result names ``evidence/hosts/<host>/transcript.json``)."""
    out: dict[str, str] = {}
    for (_, obj), r in results.items():
        for e in r["evidence"]:
            parts = Path(e["path"]).parts
            if len(parts) == 4 and parts[:2] == ("evidence", "hosts") and parts[3] == "transcript.json":
                out[obj] = parts[2]
    return out


def reads(probe_id: str, facts: set[str]) -> bool:
    """Whether a probe reads any of ``facts`` (its ``@probe(facts=...)``; None: everything)."""
    declared = getattr(probe_function(probe_id), FACTS_ATTR, None)
    return declared is None or bool(set(declared) & facts)


def root_sections() -> set[str]:
    """Names of the fact sections that run under sudo (database sections are ``db``/``dbaudit``)."""
    return {s.name for s in static_sections() if s.root} | {"db", "dbaudit"}


def uses(binary: str) -> set[str]:
    """Fact sections whose command runs ``binary`` (a fault in it touches exactly those)."""
    word = re.compile(rf"(^|[\s;|&(`$]){re.escape(binary)}\s")
    return {s.name for s in static_sections() if word.search(s.command)}


#: A reason naming a failed section's command that runs ``ps`` (FactUnavailable quotes it).
PS_COMMAND = re.compile(r"`[^`]*\bps -[^`]*`")


def problems(res: Results, keys: list[tuple[str, str]], *needles: str | re.Pattern[str]) -> dict[str, str]:
    """Affected results that are not 检查错误/未检查 or whose reason names none of ``needles``."""
    bad = {}
    for k in keys:
        r = res[k]
        named = any(n.search(r["reason"]) if isinstance(n, re.Pattern) else n in r["reason"] for n in needles)
        if r["status"] not in ("error", "not_checked") or not named:
            bad[f"{k[0]}@{k[1]}"] = f"{r['status']}: {r['reason'][:240]}"
    return bad


def excerpt(res: Results, keys: list[tuple[str, str]], needle: str) -> str:
    """A reason excerpt around ``needle``, quoted from the run."""
    for k in keys:
        why = res[k]["reason"]
        at = why.find(needle)
        if at >= 0:
            return f"“…{why[max(0, at - 60):at + len(needle) + 60]}…”"
    return ""


@dataclass
class Judged:
    """A fault run compared with the baseline."""

    affected: list[tuple[str, str]]
    changed: list[tuple[str, str]]
    unaffected: int


def judge(baseline: Results, now: Results, on_fault: Callable[[tuple[str, str]], bool]) -> Judged:
    """Split into affected and unaffected. A site-level object (judged over every host) counts
    as affected when its verdict moved: it must then say why, never turn into a pass."""
    hosts = host_of(baseline)

    def affected(k: tuple[str, str]) -> bool:
        site = k[1] not in hosts
        return on_fault(k) or (site and k in baseline and baseline[k]["status"] != now[k]["status"])

    aff, changed = compare(baseline, now, affected)
    assert set(now) == set(baseline), set(now) ^ set(baseline)
    return Judged(aff, changed, len(now) - len(aff))


def assert_no_stray_report(run: Run) -> None:
    """Every folder that looks final holds a complete results.json; nothing else does."""
    for folder in run.finals:
        doc = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        assert folder.name.endswith(doc["run"]["id"]), folder
        assert (folder / "junit.xml").is_file()
    assert not run.partials, run.partials


def record(reliability: Any, scenario: str, fault: str, run: Run, now: Results, j: Judged,
           reason: str) -> None:
    fp = false_passes(now, j.affected)
    assert not fp, fp
    left = ", ".join(f"{p.name}/ ({sum(1 for _ in p.rglob('*'))} files)" for p in run.finals) or "nothing"
    reliability.record(
        scenario, fault=fault, exit_code=run.rc,
        affected=f"{len(j.affected)} results: {verdict_summary(now, j.affected)}; reason {reason}",
        unaffected=f"{j.unaffected - len(j.changed)} of {j.unaffected} verdicts as in the baseline",
        report=f"complete run folder: {left}; no .partial", false_passes=len(fp))


# ---- injections -------------------------------------------------------------------------------


def sshd_start(host_run: HostRun, host: str) -> None:
    """Start a host's sshd as the lab does, and wait until it listens."""
    host_run(host, SSHD)
    wait_for(lambda: ":22 " in host_run(host, ["ss", "-Htln"]).stdout, f"sshd on {host} listening")


def sshd_pids(host_run: HostRun, host: str) -> list[int]:
    """PIDs of every sshd process of a host (the listener and its sessions)."""
    ps = host_run(host, ["ps", "-eo", "pid=,comm="]).stdout.split("\n")
    return [int(p) for p, _, c in (ln.strip().partition(" ") for ln in ps) if c.strip() == "sshd"]


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@contextlib.contextmanager
def replaced(host_run: HostRun, host: str, binary: str, script: str) -> Iterator[None]:
    """Bind-mount ``script`` over ``binary`` in one host's mount namespace (private
    propagation: the machine and the other hosts keep the real binary); unmounted after."""
    src = f"/run/ihc-fault-{Path(binary).name}"
    host_run(host, ["sh", "-c", f"printf '%s\\n' {shlex.quote(script)} > {src} && chmod 755 {src}"])
    host_run(host, ["mount", "--bind", src, binary])
    try:
        yield
    finally:
        host_run(host, ["umount", binary])
        host_run(host, ["rm", "-f", src, "/tmp/ihc-fault-started"])


#: ``date`` (fact section ``now``) made slow: it marks that the collection reached it, then
#: sleeps past the section timeout. Used to be sure a run is mid-collection.
SLOW_DATE = "#!/bin/sh\ntouch /tmp/ihc-fault-started\nexec sleep 60"


def collecting(host_run: HostRun, host: str) -> Callable[[], bool]:
    return lambda: host_run(host, ["test", "-e", "/tmp/ihc-fault-started"], check=False).returncode == 0


# ---- module fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def healthy(lab: ihlab.LabInfo, lab_manager: LabManager) -> Iterator[ihlab.LabInfo]:
    """The conforming lab for this module. Afterwards it is rebuilt from scratch (about 5 s), so
    a fault a restore missed (a bind mount, a stopped daemon, a faillock count) never leaks into
    the next module, which may hold the session's ``lab`` (same paths, fresh contents)."""
    yield lab
    lab_manager.down()
    lab_manager.ensure(())


@pytest.fixture(scope="module", autouse=True)
def show_ledger(reliability: Any) -> Iterator[None]:
    """Print what this module recorded (visible with ``-s``; the table itself is written only
    when every scenario of the suite ran)."""
    yield
    for o in reliability.seen.values():
        print(f"\n{o.scenario}: exit {o.exit_code}\n  affected: {o.affected}\n  unaffected: {o.unaffected}"
              f"\n  left: {o.report}")


@dataclass
class Baseline:
    results: Results
    rc: int
    maxrss_kib: int
    bytes: int  # size of the run folder


@pytest.fixture(scope="module")
def baseline(healthy: ihlab.LabInfo, tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    run = run_ihc(healthy.inventory_path, tmp_path_factory.mktemp("baseline") / "out")
    assert run.rc in (0, 1), run.why()
    res = run.results()
    errors = {f"{c}@{o}": r["reason"][:200] for (c, o), r in res.items() if r["status"] == "error"}
    assert not errors, errors
    size = sum(p.stat().st_size for p in run.finals[0].rglob("*") if p.is_file())
    took = {p.parent.name: json.loads(p.read_text())["duration_s"]
            for p in run.finals[0].glob("evidence/hosts/*/transcript.json")}
    print(f"\nbaseline: {len(res)} results, exit {run.rc}, {run.seconds:.1f} s, rss {run.maxrss_kib} KiB, "
          f"{size} B; gathering {took}")
    return Baseline(res, run.rc, run.maxrss_kib, size)


def edited_inventory(info: ihlab.LabInfo, tmp: Path, host: str, **changes: Any) -> Path:
    """A copy of the lab inventory with ``changes`` applied to one host entry."""
    doc = yaml.safe_load(info.inventory_path.read_text(encoding="utf-8"))
    entry = next(h for h in doc["hosts"] if h["id"] == host)
    entry.update(changes)
    path = tmp / "inventory.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def incomplete_code(now: Results) -> int:
    """The exit code the verdicts call for: 1 with any 不符合/部分符合, else 3 (errors present)."""
    return 1 if any(r["status"] in ("fail", "partial") for r in now.values()) else 3


# ---- the scenarios ----------------------------------------------------------------------------


def test_host_down(healthy: ihlab.LabInfo, baseline: Baseline, host_run: HostRun, tmp_path: Path,
                   reliability: Any) -> None:
    """app02's sshd is stopped before the run: its controls are 检查错误 naming the refused jump."""
    pid = int((RUNTIME / "hosts" / "app02" / "sshd.pid").read_text())
    host_run("app02", ["kill", str(pid)])
    try:
        wait_for(lambda: ":22 " not in host_run("app02", ["ss", "-Htln"]).stdout, "app02 sshd stopped")
        run = run_ihc(healthy.inventory_path, tmp_path / "out")
    finally:
        sshd_start(host_run, "app02")
    now = run.results()
    hosts = host_of(baseline.results)
    j = judge(baseline.results, now, lambda k: hosts.get(k[1]) == "app02")
    assert len(j.affected) >= 20, j.affected
    assert not problems(now, j.affected, "app02"), problems(now, j.affected, "app02")
    down = [k for k in j.affected if hosts.get(k[1]) == "app02"]
    assert not problems(now, down, "198.51.100.21:22"), problems(now, down, "198.51.100.21:22")
    assert not j.changed, {k: (baseline.results[k]["status"], now[k]["status"]) for k in j.changed}
    assert run.rc == incomplete_code(now), run.why()
    assert_no_stray_report(run)
    record(reliability, "host-down", "app02's sshd stopped (kill of its PID) before the run; restarted after",
           run, now, j, excerpt(now, down, "198.51.100.21:22"))


def test_sshd_killed_mid_run(healthy: ihlab.LabInfo, baseline: Baseline, host_run: HostRun, tmp_path: Path,
                             reliability: Any) -> None:
    """app01's sshd (listener and sessions) SIGKILLed while its batch runs (``date`` made slow)."""
    with replaced(host_run, "app01", "/usr/bin/date", SLOW_DATE):
        proc, t0 = launch(healthy.inventory_path, tmp_path / "out")
        try:
            wait_for(collecting(host_run, "app01"), "app01's batch to reach `date`", 60)
            killed = sshd_pids(host_run, "app01")
            assert len(killed) >= 2, killed  # the listener and the probe's session
            host_run("app01", ["kill", "-KILL", *map(str, killed)])
            run = finish(proc, t0, tmp_path / "out")
        finally:
            if proc.poll() is None:
                proc.kill()
            sshd_start(host_run, "app01")
    now = run.results()
    hosts = host_of(baseline.results)
    j = judge(baseline.results, now, lambda k: hosts.get(k[1]) == "app01")
    lost = [k for k in j.affected if hosts.get(k[1]) == "app01"]
    assert not problems(now, lost, "connection lost"), problems(now, lost, "connection lost")
    assert not problems(now, j.affected, "app01"), problems(now, j.affected, "app01")
    assert not j.changed, {k: (baseline.results[k]["status"], now[k]["status"]) for k in j.changed}
    assert run.rc == incomplete_code(now), run.why()
    assert_no_stray_report(run)
    record(reliability, "sshd-killed", f"SIGKILL to app01's {len(killed)} sshd processes while its batch ran "
           "(`date` bind-mounted with a slow script); sshd restarted after", run, now, j,
           excerpt(now, lost, "connection lost"))


def test_auth_failure(healthy: ihlab.LabInfo, baseline: Baseline, tmp_path: Path, reliability: Any) -> None:
    """app01 is given a key its sshd does not know, in a copied inventory."""
    key = tmp_path / "wrong_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, capture_output=True)
    inv = edited_inventory(healthy, tmp_path, "app01", auth={"key_file": str(key)})
    run = run_ihc(inv, tmp_path / "out")
    now = run.results()
    hosts = host_of(baseline.results)
    j = judge(baseline.results, now, lambda k: hosts.get(k[1]) == "app01")
    on_host = [k for k in j.affected if hosts.get(k[1]) == "app01"]
    needle = "authentication as 'ihprobe' failed"
    assert not problems(now, on_host, needle), problems(now, on_host, needle)
    assert not problems(now, j.affected, "app01"), problems(now, j.affected, "app01")
    assert not j.changed, {k: (baseline.results[k]["status"], now[k]["status"]) for k in j.changed}
    assert run.rc == incomplete_code(now), run.why()
    assert_no_stray_report(run)
    record(reliability, "auth-failure", "copied inventory: app01 authenticates with a freshly generated key "
           "its sshd does not know", run, now, j, excerpt(now, on_host, needle))


def test_sudo_refused(healthy: ihlab.LabInfo, baseline: Baseline, host_run: HostRun, tmp_path: Path,
                      reliability: Any) -> None:
    """app01's sudo password is wrong (copied inventory): sections run as root are refused,
    the rest of app01's facts are gathered as usual."""
    wrong = tmp_path / "sudo-password"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    inv = edited_inventory(healthy, tmp_path, "app01", sudo={"enabled": True, "password_file": str(wrong)})
    try:
        run = run_ihc(inv, tmp_path / "out")
    finally:  # pam_faillock counted the wrong password: unlock ihprobe for the next tests
        host_run("app01", ["faillock", "--user", "ihprobe", "--reset"])
    now = run.results()
    hosts = host_of(baseline.results)
    root = root_sections()
    j = judge(baseline.results, now, lambda k: hosts.get(k[1]) == "app01" and reads(now[k]["probe"], root))
    on_host = [k for k in j.affected if hosts.get(k[1]) == "app01"]
    assert on_host, "no app01 control reads a root section"
    assert not problems(now, on_host, "sudo refused"), problems(now, on_host, "sudo refused")
    kept = [k for k in now if hosts.get(k[1]) == "app01" and k not in j.affected]
    assert kept, "every app01 control reads a root section: the test shows nothing about containment"
    assert not j.changed, {k: (baseline.results[k]["status"], now[k]["status"], now[k]["reason"][:200])
                           for k in j.changed}
    assert run.rc == incomplete_code(now), run.why()
    assert_no_stray_report(run)
    record(reliability, "sudo-refused", "copied inventory: app01's sudo password file holds a wrong password "
           "(faillock reset after)", run, now, j, excerpt(now, on_host, "sudo refused"))


def broken_binary(info: ihlab.LabInfo, baseline: Baseline, host_run: HostRun, tmp: Path, binary: str,
                  script: str) -> tuple[Run, Results, Judged, list[tuple[str, str]]]:
    """A run with app01's ``/usr/bin/<binary>`` replaced by ``script``. Affected: app01's
    controls whose probe reads a section that runs the binary (and site verdicts that moved).
    Returns the run, its results, the judgement and the affected app01 results."""
    with replaced(host_run, "app01", f"/usr/bin/{binary}", script):
        run = run_ihc(info.inventory_path, tmp / "out")
    now = run.results()
    hosts = host_of(baseline.results)
    j = judge(baseline.results, now,
              lambda k: hosts.get(k[1]) == "app01" and reads(now[k]["probe"], uses(binary)))
    on_host = [k for k in j.affected if hosts.get(k[1]) == "app01"]
    assert on_host, f"no app01 control reads a section that runs {binary}"
    return run, now, j, on_host


def test_command_hangs(healthy: ihlab.LabInfo, baseline: Baseline, host_run: HostRun, tmp_path: Path,
                       reliability: Any) -> None:
    """``ss`` on app01 hangs (a script that sleeps, bind-mounted over it): the ``listen``
    section times out; only the controls that read it are affected."""
    spec = next(s for s in static_sections() if s.name == "listen")
    run, now, j, on_host = broken_binary(healthy, baseline, host_run, tmp_path, "ss", "#!/bin/sh\nexec sleep 600")
    needle = f"timed out after {spec.timeout} s"
    assert not problems(now, on_host, needle), problems(now, on_host, needle)
    assert not problems(now, j.affected, needle, "app01"), problems(now, j.affected, needle, "app01")
    assert not j.changed, {k: (baseline.results[k]["status"], now[k]["status"]) for k in j.changed}
    assert run.seconds < 60, f"one hung command held the run {run.seconds:.0f} s"
    assert run.rc == incomplete_code(now), run.why()
    assert_no_stray_report(run)
    record(reliability, "command-hangs", "app01: /usr/bin/ss bind-mounted with a script that sleeps 600 s "
           f"(unmounted after); run took {run.seconds:.0f} s", run, now, j, excerpt(now, on_host, needle))


def test_output_flood(healthy: ihlab.LabInfo, baseline: Baseline, host_run: HostRun, tmp_path: Path,
                      reliability: Any) -> None:
    """``ps`` on app01 writes /dev/zero forever: the section stops at its cap, memory and the run
    folder stay bounded, and no control judges the cut-off listing."""
    spec = next(s for s in static_sections() if s.name == "processes")
    run, now, j, on_host = broken_binary(healthy, baseline, host_run, tmp_path, "ps", "#!/bin/sh\nexec cat /dev/zero")
    needle = f"exceeded the {spec.cap} byte cap"
    # the processes listing is cut at its cap; sections that pipe ``ps`` into a parser
    # (nginx's master process) fail on the flood in their own way, naming their command
    assert not problems(now, on_host, needle, PS_COMMAND), problems(now, on_host, needle, PS_COMMAND)
    assert any(needle in now[k]["reason"] for k in on_host)
    assert not problems(now, j.affected, needle, "app01"), problems(now, j.affected, needle, "app01")
    assert not j.changed, {k: (baseline.results[k]["status"], now[k]["status"]) for k in j.changed}
    folder = run.finals[0]
    transcript = json.loads((folder / "evidence" / "hosts" / "app01" / "transcript.json").read_text())
    sec = next(c for c in transcript["commands"] if c["section"] == "processes")
    assert sec["truncated"] and sec["bytes"] == spec.cap, sec
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert size < baseline.bytes + 2 * spec.cap, (size, baseline.bytes)
    assert run.maxrss_kib < baseline.maxrss_kib + 64 * 1024, (run.maxrss_kib, baseline.maxrss_kib)
    assert run.rc == incomplete_code(now), run.why()
    assert_no_stray_report(run)
    record(reliability, "output-flood", "app01: /usr/bin/ps bind-mounted with `exec cat /dev/zero` "
           f"(unbounded); section kept {sec['bytes']} B (cap {spec.cap}), run folder {size // 1024} KiB "
           f"(baseline {baseline.bytes // 1024} KiB), peak RSS {run.maxrss_kib // 1024} MiB "
           f"(baseline {baseline.maxrss_kib // 1024} MiB)", run, now, j, excerpt(now, on_host, needle))


def test_db_down(healthy: ihlab.LabInfo, baseline: Baseline, host_run: HostRun, tmp_path: Path,
                 reliability: Any) -> None:
    """PostgreSQL on db01 stopped for the run: the PostgreSQL object's controls cannot be
    judged; MariaDB on the same host and db01's own controls keep their verdicts."""
    inv = load_inventory(healthy.inventory_path)
    pg = {d.id for d in inv.databases if d.engine == "postgresql"}
    assert pg
    p = pg_paths(RUNTIME, "db01")
    as_pg = ["runuser", "-u", "postgres", "--", str(PG_CTL), "-D", str(p["data"])]
    host_run("db01", [*as_pg, "-m", "fast", "-w", "-s", "stop"], timeout=60)
    try:
        run = run_ihc(healthy.inventory_path, tmp_path / "out")
    finally:
        host_run("db01", [*as_pg, "-l", str(p["log"]), "-w", "-t", "30", "-s", "start"], timeout=60)
    now = run.results()
    j = judge(baseline.results, now, lambda k: k[1] in pg)
    assert j.affected
    needle = "exited 2"
    assert not problems(now, j.affected, needle, "pg-db01"), problems(now, j.affected, needle, "pg-db01")
    assert not j.changed, {k: (baseline.results[k]["status"], now[k]["status"], now[k]["reason"][:200])
                           for k in j.changed}
    assert run.rc == incomplete_code(now), run.why()
    assert_no_stray_report(run)
    record(reliability, "db-down", "PostgreSQL on db01 stopped (pg_ctl stop -m fast) for the run, started after",
           run, now, j, excerpt(now, j.affected, needle))


def test_disk_full(healthy: ihlab.LabInfo, baseline: Baseline, tmp_path: Path, reliability: Any) -> None:
    """The -o folder is a 256 KiB tmpfs: the run says the disk is full, exits 74, and leaves
    no run folder (no results.json anywhere)."""
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "ihc-fault-full", str(out)], check=True)
    try:
        run = run_ihc(healthy.inventory_path, out)
        left = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    finally:
        subprocess.run(["umount", str(out)], check=True)
    assert run.rc == ExitCode.OUTPUT_ERROR, run.why()
    assert "No space left on device" in run.stderr, run.why()
    assert left == [], left
    assert "Traceback" not in run.stderr, run.why()
    message = next(ln for ln in run.stderr.splitlines() if "No space left on device" in ln)
    reliability.record("disk-full", fault="-o on a 256 KiB tmpfs (mount -t tmpfs -o size=256k; unmounted after)",
                       exit_code=run.rc,
                       affected=f"all {len(baseline.results)} results unpublished; message “{message[:220]}”",
                       unaffected="lab untouched (output fault only)",
                       report=f"{len(left)} entries in the output folder (the .partial folder removed)",
                       false_passes=0)


def test_ctrl_c(healthy: ihlab.LabInfo, baseline: Baseline, host_run: HostRun, tmp_path: Path,
                reliability: Any) -> None:
    """SIGINT while app01's batch runs: exit 130 at once, no run folder, no process left over
    (here or on the lab hosts)."""
    out = tmp_path / "out"
    with replaced(host_run, "app01", "/usr/bin/date", SLOW_DATE):
        proc, t0 = launch(healthy.inventory_path, out)
        try:
            wait_for(collecting(host_run, "app01"), "app01's batch to reach `date`", 60)
            children = descendants(proc.pid)
            t_int = time.monotonic()
            proc.send_signal(signal.SIGINT)
            run = finish(proc, t0, out, timeout=60)
            stop_s = time.monotonic() - t_int
        finally:
            if proc.poll() is None:
                proc.kill()
    assert run.rc == ExitCode.INTERRUPTED, run.why()
    assert stop_s < 8, f"took {stop_s:.1f} s to stop after SIGINT"
    assert run.finals == [] and run.partials == [], (run.finals, run.partials)
    assert not list(out.rglob("results.json"))
    assert [p for p in children if Path(f"/proc/{p}").exists()] == []

    def probe_sessions() -> list[str]:
        found = []
        for h in ("bastion", "app01"):
            ps = host_run(h, ["ps", "-o", "pid=,args=", "-u", "ihprobe"], check=False).stdout
            found += [f"{h}: {ln.strip()}" for ln in ps.splitlines() if ln.strip()]
        return found

    wait_for(lambda: not probe_sessions(), "the probe's sessions on bastion and app01 to end", 20)
    reliability.record(
        "ctrl-c", fault="SIGINT to `ihconform run` while app01's batch ran (`date` made slow)",
        exit_code=run.rc, affected=f"run stopped {stop_s:.1f} s after SIGINT: “"
        + next((ln for ln in run.stderr.splitlines() if "interrupted" in ln), "")[:120] + "”",
        unaffected="n/a (no verdict published)",
        report=f"{len(list(out.iterdir()))} entries in the output folder (no run folder, no .partial); "
               f"{len(children)} child processes, none left; no ihprobe process on bastion/app01",
        false_passes=0)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parent[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def test_concurrent_runs(healthy: ihlab.LabInfo, baseline: Baseline, tmp_path: Path, reliability: Any) -> None:
    """Two runs started at once into the same -o folder: two distinct, complete run folders,
    each with the baseline's verdicts."""
    out = tmp_path / "out"
    a = launch(healthy.inventory_path, out)
    b = launch(healthy.inventory_path, out)
    runs = [finish(*a, out), finish(*b, out)]
    assert [r.rc for r in runs] == [baseline.rc, baseline.rc], [r.why() for r in runs]
    finals = runs[0].finals
    assert len(finals) == 2, finals
    ids = set()
    for folder in finals:
        res = load_results(folder)
        moved = {f"{c}@{o}": (baseline.results[(c, o)]["status"], r["status"], r["reason"][:160])
                 for (c, o), r in res.items() if baseline.results[(c, o)]["status"] != r["status"]}
        assert set(res) == set(baseline.results) and not moved, moved
        doc = json.loads((folder / "results.json").read_text())
        ids.add(doc["run"]["id"])
    assert len(ids) == 2
    assert_no_stray_report(runs[0])
    reliability.record(
        "concurrent-runs", fault="two `ihconform run` started at once with the same -o",
        exit_code=f"{runs[0].rc} and {runs[1].rc}",
        affected="none: both runs complete",
        unaffected=f"2 × {len(baseline.results)} verdicts as in the baseline",
        report=f"2 distinct run folders ({', '.join(p.name for p in finals)}), no .partial", false_passes=0)
