"""Benchmark: ihconform's TLS scan (sslyze run as a program + our verdicts) side by side with
testssl.sh on the same endpoint; wall time of each, and whether they agree on protocols and
weak suites. Prints a table; asserts nothing (machine load moves the numbers).

    python bench/tls_vs_testssl.py HOST[:PORT] [--ip ADDRESS] [--ca CA.pem] [--repeat N]

On the lab (under the lab lock): ``flock /tmp/ihc-lab.lock sh -c '.venv/bin/ihconform lab up &&
.venv/bin/python bench/tls_vs_testssl.py app01.lab --ip 198.51.100.20 --ca /run/ihlab/pki/ca.crt;
.venv/bin/ihconform lab down'``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ihconform.net import tls_scan

WEAK = ["_NULL_", "_anon_", "_EXPORT", "_RC4_", "_DES_", "3DES", "_IDEA_", "_MD5$", "_CBC_", "^TLS_RSA_WITH_"]
TESTSSL_PROTO = {"SSLv2": "SSL_2_0", "SSLv3": "SSL_3_0", "TLS1": "TLS_1_0", "TLS1_1": "TLS_1_1",
                 "TLS1_2": "TLS_1_2", "TLS1_3": "TLS_1_3"}


def ours(target: tls_scan.Target) -> tuple[float, set[str], set[str]]:
    t0 = time.monotonic()
    run = tls_scan.run_sslyze(target)
    scan = tls_scan.parse_scan(run.data)
    weak = set(tls_scan.weak_suites(scan, WEAK))
    tls_scan.parse_mozilla(run.console)
    return time.monotonic() - t0, set(scan.offered), weak


def testssl(host: str, port: int, ip: str) -> tuple[float, set[str], set[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "t.json"
        argv = ["testssl", "--quiet", "--color", "0", "--warnings", "off", "-p", "-E", "--jsonfile", str(out)]
        if ip:
            argv += ["--ip", ip]
        t0 = time.monotonic()
        subprocess.run([*argv, f"https://{host}:{port}"], capture_output=True, timeout=600, check=False)
        secs = time.monotonic() - t0
        rows = json.loads(out.read_text())
    protocols = {TESTSSL_PROTO[r["id"]] for r in rows
                 if r["id"] in TESTSSL_PROTO and r["finding"].startswith("offered")}
    weak = set()
    for r in rows:
        if r["id"].startswith("cipher-"):
            name = r["finding"].split()[-1]
            if tls_scan.is_weak_name(name, WEAK):
                weak.add(name)
    return secs, protocols, weak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", help="HOST[:PORT]")
    ap.add_argument("--ip", default="")
    ap.add_argument("--ca", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    host, _, port = a.target.partition(":")
    target = tls_scan.Target(host, int(port or 443), a.ip, a.ca)
    o_times, t_times = [], []
    o_res: tuple[set[str], set[str]] = (set(), set())
    t_res: tuple[set[str], set[str]] = (set(), set())
    for _ in range(a.repeat):
        secs, protos, weak = ours(target)
        o_times.append(secs)
        o_res = (protos, {w.split(":", 1)[1] for w in weak})
        secs, protos, weak = testssl(host, target.port, a.ip)
        t_times.append(secs)
        t_res = (protos, weak)
    print(f"endpoint {target.spec}, {a.repeat} runs each (median, min-max wall seconds)")
    print(f"{'tool':<34} {'median s':>9} {'range s':>14}  protocols")
    for name, times, res in (("ihconform (sslyze subprocess)", o_times, o_res), ("testssl.sh -p -E", t_times, t_res)):
        print(f"{name:<34} {statistics.median(times):9.2f} {min(times):6.2f}-{max(times):<7.2f}  "
              f"{', '.join(sorted(res[0]))}")
    print(f"protocols agree: {o_res[0] == t_res[0]}; weak suites agree: {o_res[1] == t_res[1]} "
          f"(ours {len(o_res[1])}, testssl {len(t_res[1])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
