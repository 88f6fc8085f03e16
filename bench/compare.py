"""Side by side: the same host checks on the same lab host, three ways (issue 9).

1. **ihconform, batched**: every fact section of the host profile in one script, one round trip,
   one sudo inside it (``ihconform.facts.collect``).
2. **testinfra, one command per check**: the real ``pytest-testinfra`` package, one
   ``host.run`` per section, on its paramiko backend (``paramiko://``, one connection, a
   channel per check) and on its ssh backend (``ssh://``, an OpenSSH client process per check
   over one shared master connection, testinfra's default); privileged sections through
   ``sudo -S`` with the password piped in the command (testinfra's own ``sudo`` needs
   password-less sudo, which the lab's hardened sudoers does not grant).
3. **Lynis**: ``sudo lynis audit system --quick --no-colors --no-log`` over SSH on the host
   (Lynis runs its own few hundred tests locally; one round trip). Not the same checks: it is
   the reference for "what a local auditing tool costs", run at the direct path only.

The check set: every host fact section the inventory plans for a host (as
bench/host_profile.py), with and without the pending-updates check (``apt list
--upgradable``, about a second of CPU on the target whichever way it is sent). Timings start after the SSH
connection is up (both ways reuse one connection). Each way is repeated ``--repeat`` times,
interleaved, and reported as median (min-max).

Round trips: with ``--rtt-ms 0,20,50`` the batched and testinfra ways also go through
bench/delay_relay.py, a loopback TCP relay that delays every chunk by RTT/2 each way (this
kernel has no netem). "0" is the namespace path itself (~0.1 ms).

    .venv/bin/python bench/compare.py --repeat 5 --rtt-ms 0,20,50

Brings the lab up with a one-host fleet (f01, reached directly) under the lab lock, and down.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from host_profile import batched  # noqa: E402
from lablock import fleet_lab  # noqa: E402

from ihconform.facts.collect import Section  # noqa: E402
from ihconform.facts.sections import sections_for  # noqa: E402
from ihconform.facts.store import sudo_password  # noqa: E402
from ihconform.inventory import Host, Inventory, load_inventory  # noqa: E402
from ihconform.transport import open_transport  # noqa: E402
from ihconform.transport.base import Transport  # noqa: E402
from ihconform.transport.ssh import parse_public_key  # noqa: E402

UPDATES = "packages_upgradable"
LYNIS = "lynis audit system --quick --no-colors --no-log"


def relayed_inventory(fleet_inventory: Path, host_id: str, port: int, out: Path) -> Path:
    """The fleet inventory with one host, reached through the relay on 127.0.0.1:port."""
    doc = yaml.safe_load(fleet_inventory.read_text())
    doc["hosts"] = [h for h in doc["hosts"] if h["id"] == host_id]
    if port:
        doc["hosts"][0].update(address="127.0.0.1", port=port)
    out.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    return out


class Relay:
    """bench/delay_relay.py in a child process (so its event loop does not share our GIL)."""

    def __init__(self, target: str, rtt_ms: float) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HERE / "delay_relay.py"), "--target", target,
                                      "--delay-ms", str(rtt_ms / 2)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def testinfra_host(host: Host, inv: Inventory, cfg_dir: Path) -> Any:
    """A testinfra host on the paramiko backend, connected, its host key checked against the pin
    (testinfra's paramiko backend itself only warns about unknown keys)."""
    import testinfra  # type: ignore[import-untyped]

    key = inv.defaults.auth.key_file if inv.defaults.auth else None
    cfg = cfg_dir / f"ssh_config-{host.id}-{host.port}"
    cfg.write_text(f"Host {host.id}\n  HostName {host.address}\n  Port {host.port}\n  User {inv.defaults.user}\n"
                   f"  IdentityFile {key}\n")
    th = testinfra.get_host(f"paramiko://{host.id}", ssh_config=str(cfg))
    with warnings.catch_warnings():  # paramiko's "unknown host key": we check it against the pin below
        warnings.simplefilter("ignore", UserWarning)
        offered = th.backend.client.get_transport().get_remote_server_key()
    if offered != parse_public_key(host.host_key):
        raise RuntimeError(f"{host.id}: host key does not match the pinned one")
    return th


def testinfra_ssh_host(host: Host, inv: Inventory, cfg_dir: Path, known_hosts: Path) -> Any:
    """A testinfra host on its ssh backend (the OpenSSH client, one ``ssh`` process per check,
    sharing one master connection: testinfra's default ControlMaster=auto, ControlPersist=60s),
    the host key checked strictly against the lab's known_hosts; connected (master up)."""
    import testinfra

    key = inv.defaults.auth.key_file if inv.defaults.auth else None
    cfg = cfg_dir / f"openssh_config-{host.id}-{host.port}"
    cfg.write_text(f"Host {host.id}\n  HostName {host.address}\n  Port {host.port}\n  User {inv.defaults.user}\n"
                   f"  IdentityFile {key}\n  IdentitiesOnly yes\n  BatchMode yes\n"
                   f"  UserKnownHostsFile {known_hosts}\n  StrictHostKeyChecking yes\n  HostKeyAlias {host.id}\n")
    th = testinfra.get_host(f"ssh://{host.id}", ssh_config=str(cfg),
                            controlpath=str(cfg_dir / f"cm-{host.id}-{host.port}"))  # no %: testinfra formats with %
    th.run("true")
    return th


def close_ssh_master(th: Any) -> None:
    cfg = th.backend.ssh_config
    subprocess.run(["ssh", "-F", cfg, "-o", f"ControlPath={th.backend.controlpath}", "-O", "exit",
                    th.backend.host.name], capture_output=True, check=False)


def per_check_testinfra(th: Any, host: Host, sections: list[Section]) -> tuple[float, int]:
    password = sudo_password(host) or ""
    start = time.perf_counter()
    n = 0
    for s in sections:
        cmd = s.command
        if s.root and host.sudo.enabled:
            cmd = f"printf '%s\\n' {shlex.quote(password)} | sudo -S -p '' sh -c {shlex.quote(cmd)}"
        th.run(cmd)
        n += 1
    return time.perf_counter() - start, n


def lynis(t: Transport, host: Host) -> tuple[float, int, int]:
    password = sudo_password(host)
    before = t.round_trips
    start = time.perf_counter()
    res = t.run(f"sudo -S -p '' {LYNIS}", stdin=((password or "") + "\n").encode(), timeout=900)
    wall = time.perf_counter() - start
    tests = 0
    for line in res.text.splitlines():
        if "Tests performed" in line:
            tests = int(line.split(":")[-1].strip() or 0)
    if res.exit_code != 0:
        raise RuntimeError(f"lynis exited {res.exit_code}: {res.text[-300:]}")
    return wall, t.round_trips - before, tests


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.3f} s ({min(xs):.3f}-{max(xs):.3f})"


def measure(inv_path: Path, repeat: int, cfg_dir: Path, with_lynis: bool, known_hosts: Path) -> dict[str, Any]:
    inv = load_inventory(inv_path)
    host = inv.hosts[0]
    full = sections_for(inv)[host.id]
    sets = {"full": full, "no-updates": [s for s in full if s.name != UPDATES]}
    t = open_transport(host, inv)
    th = testinfra_host(host, inv, cfg_dir)
    ts = testinfra_ssh_host(host, inv, cfg_dir, known_hosts)
    out: dict[str, Any] = {"checks": {k: len(v) for k, v in sets.items()}}
    try:
        times: dict[str, list[float]] = {}
        rts: dict[str, int] = {}
        for _ in range(repeat):
            for name, secs in sets.items():
                ways: dict[str, Callable[[], tuple[float, int]]] = {
                    f"ihconform/{name}": lambda secs=secs: batched(t, host, secs),  # type: ignore[misc]
                    f"testinfra/{name}": lambda secs=secs: per_check_testinfra(th, host, secs),  # type: ignore[misc]
                    f"testinfra-ssh/{name}": lambda secs=secs: per_check_testinfra(ts, host, secs),  # type: ignore[misc]
                }
                for key, fn in ways.items():
                    w, rt = fn()
                    times.setdefault(key, []).append(w)
                    rts[key] = rt
            if with_lynis:
                w, rt, tests = lynis(t, host)
                times.setdefault("lynis", []).append(w)
                rts["lynis"] = rt
                out["lynis_tests"] = tests
        out["times"] = times
        out["round_trips"] = rts
    finally:
        t.close()
        th.backend.client.close()
        close_ssh_master(ts)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rtt-ms", default="0,20,50", help="round-trip times to add (0 = the namespace path)")
    ap.add_argument("--no-lynis", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rtts = [float(x) for x in args.rtt_ms.split(",")]
    load0 = os.getloadavg()
    results: dict[str, Any] = {}
    import tempfile

    with fleet_lab(1) as info, tempfile.TemporaryDirectory(prefix="ihc-compare-") as tmp:
        assert info.fleet_inventory is not None
        target = f"{next(iter(info.fleet.values()))}:22"
        host_id = next(iter(info.fleet))
        for rtt in rtts:
            relay = Relay(target, rtt) if rtt > 0 else None
            try:
                inv = relayed_inventory(info.fleet_inventory, host_id, relay.port if relay else 0,
                                        Path(tmp) / f"inv-{rtt:g}.yaml")
                results[f"{rtt:g}"] = measure(inv, args.repeat, Path(tmp), rtt == 0 and not args.no_lynis,
                                              info.known_hosts)
                if args.json:  # after each block, so a long series that is stopped still leaves figures
                    args.json.write_text(json.dumps({"note": "partial", "results": results}, indent=1))
            finally:
                if relay is not None:
                    relay.close()
    load1 = os.getloadavg()
    note = (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, host {host_id}, "
            f"{args.repeat} runs each, load avg {load0[0]:.2f} -> {load1[0]:.2f}")
    print(f"same host checks, three ways, wall after connecting; {note}")
    print(f"{'added RTT':>9}  {'way':<22} {'checks':>6} {'wall, median (min-max)':<28} {'RT':>4}  vs ihconform")
    for added, r in results.items():
        for key, xs in r["times"].items():
            _way, _, subset = key.partition("/")
            base = r["times"].get(f"ihconform/{subset or 'full'}")
            checks = r["checks"].get(subset, r.get("lynis_tests", 0))
            ratio = statistics.median(xs) / statistics.median(base) if base else 0.0
            print(f"{added + ' ms':>9}  {key:<22} {checks:>6} {spread(xs):<28} {r['round_trips'][key]:>4}  "
                  f"{ratio:.1f}x")
    if args.json:
        args.json.write_text(json.dumps({"note": note, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
