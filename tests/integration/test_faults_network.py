"""Network and power faults, and hostile input, injected into the namespace lab (issue 8).

Each test injects one real fault (nftables rules inside a lab namespace, a stopped daemon, a
hostile file bind-mounted into a lab host, an address moved between hosts), runs
``ihconform run`` as a user would (a subprocess, a small ``--only`` selection so a run takes
seconds), and asserts the golden rule: every control the fault touches is 检查错误 or 未检查
with its reason, never 符合; every other control keeps the verdict of the baseline run on the
healthy lab; the report says the run is incomplete and the exit code says so too. The fault is
removed in ``finally`` (the lab is shared by the rest of the session). After its assertions pass,
each scenario records what it saw in the reliability ledger (tests/reliability.py).

Traffic goes only to the lab's namespaces (198.51.100.0/24), and only for a few seconds.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.reliability import Ledger, compare, false_passes, verdict_summary
from tests.unit.test_report_escaping import ALLOWED_TAGS, Tags

from ihconform import lab as ihlab
from ihconform.lab import plan
from ihconform.lab.power import NUT_DRIVER_DIR, nut_env

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "tests" / "fixtures" / "profiles"
NETWORK, POWER, HOST = PROFILES / "network.yaml", PROFILES / "power.yaml", PROFILES / "host-l3.yaml"
IHCONFORM = str(Path(sys.executable).with_name("ihconform"))
Key = tuple[str, str]
Results = dict[Key, dict[str, Any]]
HostRun = Callable[..., subprocess.CompletedProcess[str]]
NOT_JUDGED = ("error", "not_checked")
# Host controls whose facts come from the batched collector (fast: no update check).
HOST_ONLY = ("H-SUDO", "H-PERM", "H-TIME", "H-SERVICES")
TLS_ONLY = ("N-TLS-PROTO", "N-TLS-CERT", "N-TLS-HSTS")
FAULT_TABLE = "ihcfault"  # every nftables rule these tests add lives in this table


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    folder: Path
    data: dict[str, Any]

    @property
    def results(self) -> Results:
        return {(r["control_id"], r["object_id"]): r for r in self.data["results"]}


def lab_env(info: ihlab.LabInfo) -> dict[str, str]:
    return {**os.environ}


def run_ih(inventory: Path, profile: Path, out: Path, only: tuple[str, ...], *,
           env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 300) -> Run:
    """``ihconform run`` with a small selection; the one run folder it wrote and its results."""
    args = [IHCONFORM, "run", "-q", "-i", str(inventory), "-p", str(profile), "-o", str(out)]
    for sel in only:
        args += ["--only", sel]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False,
                          env=env if env is not None else dict(os.environ), cwd=cwd)
    folders = [p for p in out.iterdir() if p.is_dir()] if out.exists() else []
    assert len(folders) == 1, (proc.returncode, proc.stdout, proc.stderr)
    data = json.loads((folders[0] / "results.json").read_text(encoding="utf-8"))
    return Run(proc.returncode, proc.stdout, proc.stderr, folders[0], data)


def brief(res: Results, keys: list[Key] | set[Key]) -> dict[str, tuple[str, str]]:
    return {f"{k[0]}@{k[1]}": (res[k]["status"], str(res[k]["reason"])[:300]) for k in sorted(keys)}


def reasons(res: Results, keys: list[Key]) -> str:
    """One reason excerpt per distinct reason, for the ledger."""
    seen: list[str] = []
    for k in keys:
        r = " ".join(str(res[k]["reason"]).split())[:90]
        if r not in seen:
            seen.append(r)
    return "; ".join(f"“{r}”" for r in seen[:3])


def assert_report_incomplete(run: Run) -> str:
    """The run says it is incomplete everywhere a reader looks: exit code 3 (or 1 when a real
    failure also showed), results.json summary, junit.xml, the HTML report; no 'conformant'."""
    summary = run.data["summary"]
    assert summary["status"] != "pass", summary
    assert run.rc in (1, 3), (run.rc, run.stderr[-2000:])
    if summary["status"] in NOT_JUDGED:
        assert run.rc == 3
    junit = ET.parse(run.folder / "junit.xml").getroot()
    bad = sum(int(s.get("errors", 0)) + int(s.get("failures", 0)) + int(s.get("skipped", 0))
              for s in junit.iter("testsuite"))
    assert bad > 0, "junit.xml reports every case as passed"
    html = (run.folder / "report.html").read_text(encoding="utf-8")
    assert "检查错误" in html or "未检查" in html
    return (f"results.json summary {summary['status']}; junit.xml {bad} non-passing cases; "
            f"report.html/pdf written with 检查错误/未检查")


@contextlib.contextmanager
def nft(ns_argv: list[str], ruleset: str) -> Iterator[None]:
    """Load ``ruleset`` (one table named FAULT_TABLE) in a namespace; delete the table after."""
    subprocess.run([*ns_argv, "nft", "-f", "-"], input=ruleset, text=True, check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run([*ns_argv, "nft", "delete", "table", "inet", FAULT_TABLE], check=False, capture_output=True)
        subprocess.run([*ns_argv, "nft", "delete", "table", "ip", FAULT_TABLE], check=False, capture_output=True)


def table(family: str, hook: str, rules: list[str], *, policy: str = "accept", kind: str = "filter",
          priority: int = -10) -> str:
    """One nftables table FAULT_TABLE with one base chain (this nft wants one statement a line)."""
    body = "\n".join(f"    {r}" for r in rules)
    return (f"table {family} {FAULT_TABLE} {{\n  chain {hook} {{\n    type {kind} hook {hook} priority {priority}; "
            f"policy {policy};\n{body}\n  }}\n}}\n")


def in_host(host_id: str) -> list[str]:
    init = (ihlab.DEFAULT_RUNTIME / "hosts" / host_id / "init.pid").read_text().strip()
    return ["nsenter", "-t", init, "-m", "-u", "-i", "-n", "-p", "--"]


def in_ns(ns: str) -> list[str]:
    return ["ip", "netns", "exec", ns]


# ---- baselines on the healthy lab ---------------------------------------------------------------


@pytest.fixture(scope="module")
def healthy(lab: ihlab.LabInfo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """One run per profile on the healthy lab with the selections the scenarios use."""
    t = tmp_path_factory.mktemp("baseline")
    return {
        "tls": run_ih(lab.inventory_path, NETWORK, t / "tls", TLS_ONLY),
        "bw": run_ih(lab.inventory_path, NETWORK, t / "bw", ("N-BW",)),
        "power": run_ih(lab.inventory_path, POWER, t / "power", ("P-PSU", "P-UPS")),
        "host": run_ih(lab.inventory_path, HOST, t / "host", HOST_ONLY),
    }


def test_baseline_is_judged(healthy: dict[str, Run]) -> None:
    """The scenarios compare against these: nothing in them may be 检查错误 already."""
    for name, run in healthy.items():
        errs = {k for k, r in run.results.items() if r["status"] == "error"}
        assert not errs, (name, brief(run.results, errs))
    assert all(r["status"] == "pass" for k, r in healthy["tls"].results.items()), brief(
        healthy["tls"].results, set(healthy["tls"].results))
    assert {r["status"] for r in healthy["power"].results.values()} == {"pass", "not_applicable"}
    assert {r["status"] for r in healthy["bw"].results.values()} == {"pass"}


def check_fault(reliability: Ledger, scenario: str, fault: str, base: Run, run: Run,
                is_affected: Callable[[Key], bool], reason_re: str, *, allow_fail: bool = False,
                note: str = "") -> None:
    """The common assertions of a fault scenario, then its ledger row."""
    res = run.results
    affected, changed = compare(base.results, res, is_affected)
    assert affected, brief(res, set(res))
    assert not false_passes(res, affected), brief(res, affected)
    allowed = NOT_JUDGED + (("fail",) if allow_fail else ())
    wrong = [k for k in affected if res[k]["status"] not in allowed]
    assert not wrong, brief(res, wrong)
    unexplained = [k for k in affected if res[k]["status"] in NOT_JUDGED
                   and not re.search(reason_re, str(res[k]["reason"]), re.I)]
    assert not unexplained, (reason_re, brief(res, unexplained))
    assert not changed, brief(res, changed)
    unaffected = [k for k in res if not is_affected(k)]
    assert set(base.results) == set(res), "the fault changed which objects were judged"
    # a peer's bytes (an ANSI escape from a garbage answer) reach no reason and no terminal
    assert not [k for k in res if "\x1b" in str(res[k]["reason"])], brief(res, set(res))
    assert "\x1b" not in run.stdout + run.stderr
    report = assert_report_incomplete(run)
    reliability.record(
        scenario, fault=fault, exit_code=run.rc,
        affected=f"{len(affected)} results: {verdict_summary(res, affected)}; {reasons(res, affected)}{note}",
        unaffected=(f"{len(unaffected)} results as in the healthy baseline ({verdict_summary(res, unaffected)})"
                    if unaffected else "none in this selection"),
        report=report, false_passes=len(false_passes(res, affected)))


# ---- 1. tls-reset ---------------------------------------------------------------------------------


def test_tls_endpoint_resetting_connections(lab: ihlab.LabInfo, healthy: dict[str, Run], tmp_path: Path,
                                            reliability: Ledger) -> None:
    rules = table("inet", "input", ["tcp dport 443 reject with tcp reset"])
    with nft(in_host("app01"), rules):
        run = run_ih(lab.inventory_path, NETWORK, tmp_path / "out", TLS_ONLY)
    check_fault(reliability, "tls-reset",
                "nftables in app01's namespace: tcp dport 443 reject with tcp reset (every TLS connection RST)",
                healthy["tls"], run, lambda k: k[1] == "app01-https", r"reset|refused|connect|handshake")


# ---- 2. packet-loss -------------------------------------------------------------------------------


def loss_rules(percent: int) -> str:
    return table("inet", "forward", [f"numgen random mod 100 < {percent} drop"])


def medians(r: dict[str, Any]) -> str:
    obs = r.get("observed") or {}
    parts = [f"{d} {obs[d]['median_mbps']:g}" for d in ("download", "upload")
             if isinstance(obs.get(d), dict) and "median_mbps" in obs[d]]
    return ", ".join(parts) + " Mbit/s" if parts else "no median"


def test_packet_loss_on_an_isp_link(lab: ihlab.LabInfo, healthy: dict[str, Run], tmp_path: Path,
                                    reliability: Ledger) -> None:
    """ISP B (a 20 Mbit link) drops packets at random in its forward path. Heavy loss must not
    read as a pass; light loss that still delivers the rate may pass, with the numbers shown."""
    key = ("N-BW", "isp-b")

    def only_isp_b(inv: dict[str, Any]) -> None:  # the light-loss run measures only the lossy link
        inv["uplinks"] = [u for u in inv["uplinks"] if u["id"] == "isp-b"]

    light_inv = inventory_copy(lab, tmp_path / "isp-b.yaml", only_isp_b)
    with nft(in_ns(plan.ISPB_NS), loss_rules(2)):
        light = run_ih(light_inv, NETWORK, tmp_path / "light", ("N-BW",))
    with nft(in_ns(plan.ISPB_NS), loss_rules(40)):
        heavy = run_ih(lab.inventory_path, NETWORK, tmp_path / "heavy", ("N-BW",))
    lr, hr = light.results[key], heavy.results[key]
    # light loss: whatever the verdict, it follows the measured numbers (the judge's band rule)
    if lr["status"] == "pass":
        assert all(lr["observed"][d]["median_mbps"] >= 10 for d in ("download", "upload")), lr
    else:
        assert lr["status"] in ("fail", "not_checked", "error"), lr
    assert hr["status"] != "pass", hr
    if hr["status"] == "fail":
        assert "below 10 Mbit/s" in hr["reason"], hr["reason"]
    note = (f"; at 2 % loss N-BW@isp-b was {lr['status']} ({medians(lr)}: TCP still delivers the rate, a correct "
            f"measurement); at 40 % loss {hr['status']} ({medians(hr)})")
    check_fault(reliability, "packet-loss",
                f"nftables in {plan.ISPB_NS} forward: numgen random mod 100 < N drop, N = 2 and 40, "
                "during N-BW (iperf3, 2 s per direction)",
                healthy["bw"], heavy, lambda k: k == key, r"iperf3|sample|timed out|answer", allow_fail=True,
                note=note)


# ---- 3. isp-cut -----------------------------------------------------------------------------------


def _iperf3_flowing(source: str) -> bool:
    p = subprocess.run([*in_host("app01"), "ss", "-tnH", "state", "established", "src", source,
                        "dst", plan.INET_SERVER], capture_output=True, text=True, check=False, timeout=10)
    return ":5201" in p.stdout


def _iperf3_server_recovers(deadline_s: float) -> bool:
    """After a cut the lab's iperf3 server may still hold the cut test; wait until it serves."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            p = subprocess.run([*in_host("app01"), "iperf3", "-c", plan.INET_SERVER, "-B", plan.WAN_A_APP, "-t", "1",
                                "-J"], capture_output=True, text=True, check=False, timeout=10)
        except subprocess.TimeoutExpired:
            continue  # the server still holds the cut test
        if p.returncode == 0:
            return True
        time.sleep(2)
    return False


def test_isp_link_cut_during_the_measurement(lab: ihlab.LabInfo, lab_manager: Any, healthy: dict[str, Run],
                                             tmp_path: Path, reliability: Ledger) -> None:
    out = tmp_path / "out"
    args = [IHCONFORM, "run", "-q", "-i", str(lab.inventory_path), "-p", str(NETWORK), "-o", str(out),
            "--only", "N-BW"]
    cut_at = None
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        start = time.monotonic()
        while time.monotonic() - start < 120 and proc.poll() is None:
            if _iperf3_flowing(plan.WAN_B_APP):
                cut_at = time.monotonic() - start
                break
            time.sleep(0.1)
        assert cut_at is not None, "never saw the ISP B measurement start"
        with nft(in_ns(plan.ISPB_NS), table("inet", "forward", [], policy="drop")):
            stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if not _iperf3_server_recovers(60):  # the lab must serve the rest of the session
            lab_manager.down()
            lab_manager.ensure(())
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1, (proc.returncode, stdout, stderr)
    run = Run(proc.returncode, stdout, stderr, folders[0],
              json.loads((folders[0] / "results.json").read_text(encoding="utf-8")))
    r = run.results[("N-BW", "isp-b")]
    # Both uplinks use the lab's one iperf3 server. When ISP B is measured first, its cut client
    # leaves the server inside a dead test until the server's own time-outs free it (lab/web.py);
    # before the lab set all three, ISP A's measurement after it timed out or was told "busy"
    # (both seen in CI). Should that recur, A's 检查错误 with that reason is accepted too, never
    # a pass, and the ledger row says so.
    a = run.results[("N-BW", "isp-a")]
    wedged = a["status"] == "error" and re.search("timed out|busy", str(a["reason"])) is not None
    check_fault(reliability, "isp-cut",
                f"nftables policy drop in {plan.ISPB_NS} forward, {cut_at:.1f} s into the run once app01's iperf3 "
                "flow over wan-b was established",
                healthy["bw"], run, lambda k: k == ("N-BW", "isp-b") or (wedged and k == ("N-BW", "isp-a")),
                r"iperf3|timed out|sample|answer|unreachable",
                note=f"; samples kept: {r.get('observed')!s:.120}"
                     + (f"; isp-a, measured after the cut on the same iperf3 server: {a['reason']!s:.80}"
                        if wedged else ""))


# ---- 4. bmc-malformed -----------------------------------------------------------------------------

# A tiny HTTP server in the power namespace, one listening port per kind of garbage; nftables
# redirects each BMC's Redfish port to one of them (the lab's sushy-static keeps running).
BAD_BMC_SERVER = r'''
import socket, sys, threading
ROOT = b'{"@odata.id": "/redfish/v1", "Chassis": {"@odata.id": "/redfish/v1/Chassis"}}'
CHASSIS = b'{"Members": [{"@odata.id": "/redfish/v1/Chassis/1U"}]}'
MODES = {
    18001: lambda path: (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
                         b'{"@odata.id": "/redfish/v1", "Chassis": {"@odata.id": '),          # truncated JSON
    18002: lambda path: (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
                         + (ROOT if path.rstrip(b"/") == b"/redfish/v1" else CHASSIS if path.endswith(b"Chassis")
                            else b'{"PowerSupplies": "all fine", "Redundancy": 7, "Status": []}')),  # wrong shapes
    18003: lambda path: b"\x1b[31mHELLO <script>alert(1)</script>\xff\xfe\r\n\r\n",             # not HTTP at all
    18004: lambda path: (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
                         b'{"@odata.id": "/redfish/v1"'),                                        # body cut short
}
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16)
    while True:
        c, _ = s.accept()
        try:
            c.settimeout(5); req = c.recv(65536)
            path = req.split(b" ")[1] if req.count(b" ") >= 2 else b"/"
            c.sendall(MODES[port](path))
        except Exception:
            pass
        finally:
            c.close()
for p in MODES:
    threading.Thread(target=serve, args=(p,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
'''
BAD_BMCS = {"bmc-db01": (plan.BMC_ADDRS["db01"], 18001, "truncated JSON"),
            "bmc-app01": (plan.BMC_ADDRS["app01"], 18002, "JSON of the wrong shape"),
            "bmc-app02": (plan.BMC_ADDRS["app02"], 18003, "not HTTP (ANSI, markup, invalid UTF-8)"),
            "bmc-his01": (plan.BMC_ADDRS["his01"], 18004, "a body shorter than its Content-Length")}


def test_bmc_answering_malformed_json(lab: ihlab.LabInfo, healthy: dict[str, Run], tmp_path: Path,
                                      reliability: Ledger) -> None:
    server = subprocess.Popen([*in_ns(plan.POWER_NS), sys.executable, "-c", BAD_BMC_SERVER],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        rules = [f"ip daddr {addr} tcp dport {plan.REDFISH_PORT} redirect to :{port}"
                 for addr, port, _ in BAD_BMCS.values()]
        with nft(in_ns(plan.POWER_NS), table("ip", "prerouting", rules, kind="nat", priority=-100)):
            run = run_ih(lab.inventory_path, POWER, tmp_path / "out", ("P-PSU", "P-UPS"))
    finally:
        server.kill()
        server.wait()
    check_fault(reliability, "bmc-malformed",
                "nftables redirect of each BMC's Redfish port to a local server answering "
                + ", ".join(f"{b}: {what}" for b, (_, _, what) in BAD_BMCS.items()),
                healthy["power"], run, lambda k: k[0] == "P-PSU" and k[1] in BAD_BMCS, r"BMC|JSON|Redfish|HTTP|answer")


# ---- 5. nut-gone ----------------------------------------------------------------------------------


def _upsd(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = nut_env(ihlab.DEFAULT_RUNTIME / "power" / "nut")
    return subprocess.run([*in_ns(plan.POWER_NS), str(NUT_DRIVER_DIR / "upsd"), *argv], env=env,
                          capture_output=True, text=True, check=False, timeout=30)


def test_nut_server_gone(lab: ihlab.LabInfo, lab_manager: Any, healthy: dict[str, Run], tmp_path: Path,
                         reliability: Ledger) -> None:
    stop = _upsd(["-c", "stop"])
    assert stop.returncode == 0, stop.stderr
    try:
        time.sleep(1)
        run = run_ih(lab.inventory_path, POWER, tmp_path / "out", ("P-PSU", "P-UPS"))
    finally:
        started = _upsd(["-u", "root"])
        ok = started.returncode == 0 and subprocess.run(
            ["upsc", f"upsa@{plan.POWER_ADDR}", "ups.status"], capture_output=True, check=False).returncode == 0
        if not ok:
            lab_manager.down()
            lab_manager.ensure(())
    check_fault(reliability, "nut-gone", "upsd stopped (upsd -c stop) in the power namespace; drivers left running",
                healthy["power"], run, lambda k: k[0] == "P-UPS" and k[1].startswith("ups-"),
                r"NUT|upsd|answer|refused|connect")


# ---- 10. host-key-mismatch / 11. address-takeover -------------------------------------------------


def inventory_copy(info: ihlab.LabInfo, dest: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """The lab's inventory (read now: variants rewrite it) with one change, written to ``dest``."""
    inv = yaml.safe_load(info.inventory_path.read_text(encoding="utf-8"))
    change(inv)
    dest.write_text(yaml.safe_dump(inv, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return dest


def host_entry(inv: dict[str, Any], host_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [h for h in inv["hosts"] if h["id"] == host_id]
    (h,) = found
    return h


def transcript_commands(run: Run, host_id: str) -> int:
    """How many commands the run's evidence says it ran on the host (0: nothing gathered)."""
    p = run.folder / "evidence" / "hosts" / host_id / "transcript.json"
    if not p.exists():
        return 0
    doc = json.loads(p.read_text(encoding="utf-8"))
    entries = doc.get("commands", doc.get("entries", doc)) if isinstance(doc, dict) else doc
    return len(entries) if isinstance(entries, list) else 0


def test_host_key_mismatch(lab: ihlab.LabInfo, healthy: dict[str, Run], tmp_path: Path,
                           reliability: Ledger) -> None:
    """app01 pinned with app02's (real, valid) host key: the key app01 presents is another one."""
    def swap(inv: dict[str, Any]) -> None:
        host_entry(inv, "app01")["host_key"] = host_entry(inv, "app02")["host_key"]

    inv = inventory_copy(lab, tmp_path / "inventory.yaml", swap)
    run = run_ih(inv, HOST, tmp_path / "out", HOST_ONLY)
    assert transcript_commands(run, "app01") == 0, "facts were gathered from a host whose key did not match"
    assert transcript_commands(run, "app02") > 0
    check_fault(reliability, "host-key-mismatch",
                "inventory pins app01 with app02's host key (the hostkey-changed variant's situation without "
                "a lab rebuild); app01 presents its own key",
                healthy["host"], run, lambda k: k[1] == "app01", r"host key|fingerprint",
                note="; app01 transcript: 0 commands run")


def test_address_takeover(lab: ihlab.LabInfo, healthy: dict[str, Run], tmp_path: Path,
                          reliability: Ledger) -> None:
    """app01 answers on app02's address: the bastion, through which every host is reached, routes
    198.51.100.21 to app01 (a hijacked or misconfigured network), and app01 accepts it, its sshd
    answering there (nftables DNAT to its own address: the lab's sshd listens on one address).
    The SSH connection to app02's address then reaches app01's sshd, whose key is not app02's."""
    victim, impostor = lab.hosts["app02"], "app01"
    accept = table("ip", "prerouting", [f"ip daddr {victim} tcp dport 22 dnat to {lab.hosts[impostor]}"],
                   kind="nat", priority=-100)
    try:
        subprocess.run([*in_host(impostor), "ip", "addr", "add", f"{victim}/32", "dev", "lo"], check=True,
                       capture_output=True)
        subprocess.run([*in_host(impostor), "nft", "-f", "-"], input=accept, text=True, check=True,
                       capture_output=True)
        subprocess.run([*in_host("bastion"), "ip", "route", "replace", f"{victim}/32", "via", lab.hosts[impostor]],
                       check=True, capture_output=True)
        scan_ = subprocess.run([*in_host("bastion"), "ssh-keyscan", "-T", "3", "-t", "ed25519", victim],
                               capture_output=True, text=True, check=False)
        assert lab_host_key(lab, impostor).split()[1] in scan_.stdout, f"no takeover: {scan_.stdout + scan_.stderr!r}"
        run = run_ih(lab.inventory_path, HOST, tmp_path / "out", HOST_ONLY)
    finally:
        subprocess.run([*in_host("bastion"), "ip", "route", "del", f"{victim}/32"], check=False, capture_output=True)
        subprocess.run([*in_host(impostor), "nft", "delete", "table", "ip", FAULT_TABLE], check=False,
                       capture_output=True)
        subprocess.run([*in_host(impostor), "ip", "addr", "del", f"{victim}/32", "dev", "lo"], check=False,
                       capture_output=True)
    assert transcript_commands(run, "app02") == 0, "facts from the impostor were filed under app02"
    check_fault(reliability, "address-takeover",
                "the bastion routes 198.51.100.21 (app02) to app01, which takes the address (lo + DNAT to its "
                "sshd): ssh-keyscan of .21 from the bastion returned app01's key",
                healthy["host"], run, lambda k: k[1] == "app02", r"host key|fingerprint",
                note="; app02 transcript: 0 commands run, app01's facts filed under app01 only")


def lab_host_key(info: ihlab.LabInfo, host_id: str) -> str:
    inv = yaml.safe_load(info.inventory_path.read_text(encoding="utf-8"))
    return str(host_entry(inv, host_id)["host_key"])


# ---- 6. hostile-target ----------------------------------------------------------------------------

MARK = "IHCHOSTILE"
HOSTILE_BYTES = (MARK.encode() + b"<script>alert(1)</script>\"><img src=x onerror=alert(1)>"
                 b"\x1b[2J\x1b]0;pwned\x07\x1b[31m\xff\xfe\xc3\x28\x00")
HOSTILE_FILES = {
    "/etc/os-release": b'NAME="Debian ' + HOSTILE_BYTES + b'"\nPRETTY_NAME="' + HOSTILE_BYTES
                       + b'"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
                       + b"COMMENT=" + b"A" * 300_000 + b"\n",
    "/etc/issue": HOSTILE_BYTES + b"\n" + b"B" * 300_000 + b"\n",
    "/etc/issue.net": HOSTILE_BYTES + b"\n",
}


def _bind_hostile(host: str) -> list[str]:
    """Write the hostile copies inside the host (its /run) and bind them over the originals in
    its mount namespace only; append hostile comments to a copy of sshd_config likewise."""
    mounted = []
    sh = in_host(host)
    subprocess.run([*sh, "mkdir", "-p", "/run/ihcfault"], check=True)
    files = dict(HOSTILE_FILES)
    sshd = subprocess.run([*sh, "cat", "/etc/ssh/sshd_config"], capture_output=True, check=True).stdout
    files["/etc/ssh/sshd_config"] = sshd + b"\n# " + HOSTILE_BYTES + b"\n# " + b"C" * 300_000 + b"\n"
    for i, (target, blob) in enumerate(files.items()):
        copy = f"/run/ihcfault/{i}"
        subprocess.run([*sh, "sh", "-c", f"cat > {copy} && chmod 644 {copy}"], input=blob, check=True)
        subprocess.run([*sh, "mount", "--bind", copy, target], check=True, capture_output=True)
        mounted.append(target)
    return mounted


def test_hostile_target_data_breaks_no_report(lab: ihlab.LabInfo, healthy: dict[str, Run], tmp_path: Path,
                                              reliability: Ledger) -> None:
    host = "app01"
    sh = in_host(host)
    old_name = subprocess.run([*sh, "hostname"], capture_output=True, text=True, check=True).stdout.strip()
    mounted: list[str] = []
    try:
        subprocess.run([*sh, "python3", "-c", "import socket, sys; socket.sethostname(sys.argv[1])",
                        "<img src=x onerror=alert(1)>\x1b[31m"], check=True, capture_output=True)
        mounted = _bind_hostile(host)
        run = run_ih(lab.inventory_path, HOST, tmp_path / "out", HOST_ONLY)
    finally:
        for target in reversed(mounted):
            subprocess.run([*sh, "umount", target], check=False, capture_output=True)
        subprocess.run([*sh, "python3", "-c", "import socket, sys; socket.sethostname(sys.argv[1])", old_name],
                       check=False, capture_output=True)
        subprocess.run([*sh, "rm", "-rf", "/run/ihcfault"], check=False, capture_output=True)
    # the transcript (digests of what was read) stays valid JSON; where the hostile bytes went
    json.loads((run.folder / "evidence" / "hosts" / host / "transcript.json").read_bytes())
    carried = sorted(str(p.relative_to(run.folder)) for p in run.folder.rglob("*")
                     if p.is_file() and MARK.encode() in p.read_bytes())
    # ... and broke no output format
    raw = (run.folder / "results.json").read_bytes()
    raw.decode("utf-8")  # strict: valid UTF-8
    reached = MARK.encode() in raw
    junit = ET.parse(run.folder / "junit.xml").getroot()
    html = (run.folder / "report.html").read_text(encoding="utf-8")
    tags = Tags()
    tags.feed(html)
    assert tags.tags <= ALLOWED_TAGS, tags.tags - ALLOWED_TAGS
    assert not any(a.startswith("on") for a in tags.attrs)
    assert "<script" not in html.lower() and "\x1b" not in html
    pdf_text = ""
    if shutil.which("pdftotext") and (run.folder / "report.pdf").exists():
        pdf_text = subprocess.run(["pdftotext", str(run.folder / "report.pdf"), "-"], capture_output=True,
                                  text=True, check=True).stdout
        assert "\x1b" not in pdf_text
    assert "\x1b" not in run.stdout and "\x1b" not in run.stderr
    res = run.results
    others = [k for k in res if k[1] != host]
    changed = [k for k in others if healthy["host"].results[k]["status"] != res[k]["status"]]
    assert not changed, brief(res, changed)
    mine = [k for k in res if k[1] == host]
    reliability.record(
        "hostile-target",
        fault="app01: hostname set to an <img onerror> tag with an ANSI escape; /etc/os-release, /etc/issue, "
              "/etc/issue.net and sshd_config bind-mounted (its mount namespace only) with <script>, \"><img "
              "onerror>, ANSI/OSC escapes, invalid UTF-8, NUL and 300 000-byte lines",
        exit_code=run.rc,
        affected=f"app01: {verdict_summary(res, mine)}; files of the run carrying the hostile text: "
                 f"{', '.join(carried) or 'none (only digests and verdicts)'}"
                 f"{'; quoted in results.json' if reached else ''}",
        unaffected=f"{len(others)} results of other hosts as in the baseline ({verdict_summary(res, others)})",
        report=f"results.json valid UTF-8 JSON; junit.xml parses ({len(list(junit.iter('testcase')))} cases); "
               f"report.html tags ⊆ template's, no on* attribute, no <script>, no ESC; "
               f"pdftotext {len(pdf_text)} chars, no ESC; stdout/stderr no ESC",
        false_passes=0)


# ---- 9. secret-scan -------------------------------------------------------------------------------


def encodings(secret: str) -> dict[str, bytes]:
    """The secret as it could leak: raw, base64 at each of the three byte alignments (so it is
    found inside a longer base64 blob such as an Authorization header), URL-safe base64, hex,
    URL-encoded."""
    raw = secret.encode()
    out = {"raw": raw, "hex": raw.hex().encode(), "HEX": raw.hex().upper().encode(),
           "url": urllib.parse.quote(secret, safe="").encode()}
    for k in range(3):
        for name, enc in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            b = enc(b"\0" * k + raw)
            first, last = -(-8 * k // 6), (8 * (k + len(raw)) - 6) // 6
            out[f"{name}@{k}"] = b[first:last + 1]
    return {n: b for n, b in out.items() if len(b) >= 8}


def scan(blobs: dict[str, bytes], secrets: dict[str, str]) -> list[str]:
    hits = []
    for where, blob in blobs.items():
        for what, secret in secrets.items():
            for enc, needle in encodings(secret).items():
                if needle in blob:
                    hits.append(f"{what} ({enc}) in {where}")
    return hits


def written_files(roots: list[Path], skip: set[Path]) -> dict[str, bytes]:
    """Every file under the roots, and every member of every zip among them."""
    blobs: dict[str, bytes] = {}
    for root in roots:
        for p in root.rglob("*"):
            if p.is_file() and not p.is_symlink() and p not in skip:
                blobs[str(p)] = p.read_bytes()
                if p.suffix == ".zip":
                    with zipfile.ZipFile(p) as z:
                        for n in z.namelist():
                            blobs[f"{p}!{n}"] = z.read(n)
    return blobs


def changed_in_repo(since: float) -> dict[str, bytes]:
    """Files under the repository written since the run started (a stray cache, a log)."""
    out = {}
    for p in ROOT.rglob("*"):
        if ".git" in p.parts or ".venv" in p.parts or not p.is_file():
            continue
        with contextlib.suppress(OSError):
            if p.stat().st_mtime >= since and p.stat().st_size < 50 << 20:
                out[str(p)] = p.read_bytes()
    return out


def test_planted_secrets_appear_in_no_output(lab: ihlab.LabInfo, tmp_path: Path, reliability: Ledger) -> None:
    from ihconform.ledger.signing import keygen
    from ihconform.secrets import parse_env_file

    priv = tmp_path / "private"
    priv.mkdir(mode=0o700)
    home, tmpdir, cwd, out = (tmp_path / n for n in ("home", "tmp", "cwd", "out"))
    for d in (home, tmpdir, cwd, out):
        d.mkdir()
    stamp = binascii.hexlify(os.urandom(6)).decode()
    secrets = {
        "sudo password": (lab.runtime / "secrets" / "sudo-password").read_text(encoding="utf-8").strip(),
        "TURN password (env file)": parse_env_file(lab.env_file)["IHLAB_TURN_PASSWORD"],
        "BMC username": f"bmcuser-{stamp}",
        "BMC password": f"BmcPass-{stamp}-y",
        "upload token": f"UpTok-{stamp}-z",
        "unrelated env var": f"EnvVal-{stamp}-w",
    }
    key = priv / "id_ed25519"
    shutil.copy(lab.key_file, key)
    key.chmod(0o600)
    for i, line in enumerate(lab.key_file.read_text().splitlines()):
        if "PRIVATE KEY" not in line and len(line) >= 20:
            secrets[f"private key line {i}"] = line
    # Not planted: a key passphrase. transport/ssh.py hands paramiko a str where it wants bytes,
    # so a run with an encrypted key dies with "TypeError: password must be bytes" (reported).
    keygen("ed25519", priv / "signing.pem")

    def plant(inv: dict[str, Any]) -> None:
        inv["defaults"]["auth"] = {"key_file": str(key)}
        inv["institution"]["credit_code"] = "12500000MB0000000X"  # the platform files uploads by it
        for b in inv["power"]["bmcs"]:
            b["username_env"], b["password_env"] = "IHC_PLANT_BMC_USER", "IHC_PLANT_BMC_PASSWORD"

    inv = inventory_copy(lab, priv / "inventory.yaml", plant)
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(tmpdir), "IHC_SIGNING_KEY": str(priv / "signing.pem"),
           "IHC_PLANT_BMC_USER": secrets["BMC username"],
           "IHC_PLANT_BMC_PASSWORD": secrets["BMC password"], "IHC_PLANT_UNRELATED": secrets["unrelated env var"],
           "IHC_UPLOAD_TOKEN": secrets["upload token"], "RX_TOKEN": secrets["upload token"]}
    start = time.time()
    streams: dict[str, bytes] = {}
    runs = {}
    for name, profile, only in (("host", HOST, ("H-SUDO", "H-PERM")), ("av", NETWORK, ("N-AV",)),
                                ("power", POWER, ("P-PSU",))):
        run = run_ih(inv, profile, out / name, only, env=env, cwd=cwd)
        runs[name] = run
        streams[f"{name} stdout"], streams[f"{name} stderr"] = run.stdout.encode(), run.stderr.encode()
    # the secrets were used: sudo facts gathered, TURN allocation and BMC readings judged
    for name, run in runs.items():
        errs = {k for k, r in run.results.items() if r["status"] == "error"}
        assert not errs, (name, brief(run.results, errs))
    # --only runs are 专项检查: `run` does not bundle them on its own (it says why, cause first);
    # the tester bundles them on purpose, with the key named by the environment as above
    for name, run in runs.items():
        own = run.folder.with_name(run.folder.name + ".bundle.zip")
        assert "--allow-partial" in run.stderr and not own.exists(), (name, run.stderr)
        made = subprocess.run([IHCONFORM, "bundle", str(run.folder), "--key", str(priv / "signing.pem"),
                               "--allow-partial"], capture_output=True, env=env, cwd=cwd, timeout=120, check=False)
        assert made.returncode == 0, made.stdout + made.stderr
        streams[f"{name} bundle stdout"], streams[f"{name} bundle stderr"] = made.stdout, made.stderr
    bundles = sorted(out.rglob("*.bundle.zip"))
    assert len(bundles) == 3, bundles
    rx = subprocess.Popen([IHCONFORM, "receiver", "--store", str(priv / "rx"), "--pki", str(priv / "pki"),
                           "--port", "0", "--token-env", "RX_TOKEN"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env, cwd=cwd)
    try:
        assert rx.stdout is not None
        url = rx.stdout.readline().strip()
        up = subprocess.run([IHCONFORM, "upload", str(bundles[0]), "--allow-partial", "--platform", url, "--ca",
                             str(priv / "pki" / "ca.pem")], capture_output=True, env=env, cwd=cwd, timeout=120,
                            check=False)
        assert up.returncode == 0 and b"ACCEPTED" in up.stdout, up.stdout + up.stderr
        streams["upload stdout"], streams["upload stderr"] = up.stdout, up.stderr
    finally:
        rx.terminate()
        rx.wait(timeout=10)
    blobs = {**written_files([out, home, tmpdir, cwd], set()), **streams, **changed_in_repo(start)}
    hits = scan(blobs, secrets)
    assert not hits, hits
    total = sum(len(b) for b in blobs.values())
    reliability.record(
        "secret-scan",
        fault=f"{len(secrets)} secrets planted: " + ", ".join(sorted({s.split(' line')[0] for s in secrets}))
              + "; three runs (H-SUDO/H-PERM over SSH with sudo, N-AV with a TURN allocation, P-PSU with BMC "
              "credentials) signing bundles, then `ihconform upload` of a bundle with the token",
        exit_code="/".join(str(r.rc) for r in runs.values()) + " (host/av/power runs)",
        affected=f"0 hits in {len(blobs)} files, zip members and streams ({total / 1e6:.1f} MB) for "
                 f"{sum(len(encodings(s)) for s in secrets.values())} needles (raw, base64 ×3 alignments, "
                 "base64url, hex, HEX, URL-encoded)",
        unaffected="the runs' verdicts: no 检查错误 (the secrets were used)",
        report="scanned: run folders, evidence, transcripts, bundles (unzipped), HOME, TMPDIR, cwd, stdout/stderr "
               "of every command, files written under the repository during the runs",
        false_passes=0)
