"""Power probes against loopback stand-ins: a Redfish service serving the lab's mockup trees
(healthy and failed PSU) and a NUT upsd speaking the network protocol (on line, on battery).
Readings are judged, quoted, attached as evidence; a device that does not answer is 检查错误;
BMC passwords never reach any output; readings and documents combine per the profile's rule."""

from __future__ import annotations

import base64
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ihconform.inventory import Bmc, Ups
from ihconform.lab.power import redfish_tree, ups_dev
from ihconform.ledger.signing import keygen
from ihconform.net.nut import read_nut
from ihconform.net.redfish import read_redfish, safe_url
from ihconform.probes.power import combine, judge_psus, judge_ups
from ihconform.results import Status
from ihconform.schema import validate_results

from ..conftest import FIXTURES, ROOT
from .test_ledger import attestation, signed, write_yaml

PROFILE = FIXTURES / "profiles" / "power.yaml"
SECRET = "s3cr3t-Pa55-for-bmc"
UPS_PARAMS: dict[str, Any] = {"bad_flags": ["OB", "LB", "RB", "FSD", "OFF", "BYPASS", "OVER"], "min_charge": 80.0,
                              "min_runtime": 600.0}


# ---- loopback stand-ins -----------------------------------------------------------------------


class Redfish(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tree: dict[str, Any], password: str | None = None) -> None:
        self.tree, self.password = tree, password
        super().__init__(("127.0.0.1", 0), _RedfishHandler)


class _RedfishHandler(BaseHTTPRequestHandler):
    server: Redfish

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.server.password is not None:
            want = "Basic " + base64.b64encode(f"admin:{self.server.password}".encode()).decode()
            if self.headers.get("Authorization") != want:
                self.send_response(401)
                self.end_headers()
                return
        doc = self.server.tree.get(self.path.rstrip("/"))
        body = json.dumps(doc).encode() if doc is not None else b"{}"
        self.send_response(200 if doc is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Nut(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, units: dict[str, str]) -> None:
        self.units = {name: dict(line.split(": ", 1) for line in dev.splitlines() if ": " in line)
                      for name, dev in units.items()}
        super().__init__(("127.0.0.1", 0), _NutHandler)


class _NutHandler(socketserver.StreamRequestHandler):
    server: Nut

    def handle(self) -> None:
        for raw in self.rfile:
            words = raw.decode().split()
            if words[:2] == ["LIST", "VAR"] and len(words) == 3:
                unit = self.server.units.get(words[2])
                if unit is None:
                    self.wfile.write(b"ERR UNKNOWN-UPS\n")
                    continue
                lines = [f"BEGIN LIST VAR {words[2]}"] + [f'VAR {words[2]} {k} "{v}"' for k, v in unit.items()]
                self.wfile.write(("\n".join([*lines, f"END LIST VAR {words[2]}"]) + "\n").encode())
            elif words[:1] == ["LOGOUT"]:
                self.wfile.write(b"OK Goodbye\n")
                return
            else:
                self.wfile.write(b"ERR UNKNOWN-COMMAND\n")


def _serve(server: socketserver.BaseServer) -> Iterator[Any]:
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def bmc_ok() -> Iterator[Redfish]:
    yield from _serve(Redfish(redfish_tree("app01", failed_psu=False), password=SECRET))


@pytest.fixture(scope="module")
def bmc_failed() -> Iterator[Redfish]:
    yield from _serve(Redfish(redfish_tree("db01", failed_psu=True)))


@pytest.fixture(scope="module")
def nut() -> Iterator[Nut]:
    yield from _serve(Nut({"upsa": ups_dev("UPS-FEED-A", False), "upsb": ups_dev("UPS-FEED-B", True)}))


def _port(server: socketserver.BaseServer) -> int:
    return int(server.server_address[1])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- readers and judges -----------------------------------------------------------------------


def test_redfish_reading_and_judgement(bmc_ok: Redfish, bmc_failed: Redfish, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IHC_T_USER", "admin")
    monkeypatch.setenv("IHC_T_PASS", SECRET)
    ok = read_redfish(Bmc(id="bmc-app01", server="app01", url=f"http://127.0.0.1:{_port(bmc_ok)}/redfish/v1",
                          username_env="IHC_T_USER", password_env="IHC_T_PASS"))
    assert [p["state"] for p in ok["power_supplies"]] == ["Enabled", "Enabled"]
    assert judge_psus(ok, 2)[0] and not judge_psus(ok, 3)[0]
    bad = read_redfish(Bmc(id="bmc-db01", server="db01", url=f"http://127.0.0.1:{_port(bmc_failed)}/redfish/v1"))
    passed, problems, observed = judge_psus(bad, 2)
    assert not passed and observed["healthy"] == 1
    assert "Power Supply 2: State=UnavailableOffline, Health=Critical, LineInputVoltage=0" in problems
    assert any("PSU Redundancy Group" in p and "Health=Warning" in p for p in problems)


def test_redfish_unset_password_env_and_auth_refused(bmc_ok: Redfish, monkeypatch: pytest.MonkeyPatch) -> None:
    from ihconform.errors import FactUnavailable

    url = f"http://127.0.0.1:{_port(bmc_ok)}/redfish/v1"
    monkeypatch.delenv("IHC_T_NOPE", raising=False)
    with pytest.raises(FactUnavailable, match="IHC_T_NOPE is not set"):
        read_redfish(Bmc(id="b", server="s", url=url, username_env="IHC_T_NOPE"))
    with pytest.raises(FactUnavailable, match="HTTP 401"):
        read_redfish(Bmc(id="b", server="s", url=url))


class _Redirecting(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/redfish/v1":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/steal")
            self.end_headers()
            return
        self.send_response(404)
        self.end_headers()


def test_credentials_never_leave_the_bmc_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    """A BMC that redirects, or links to another host, is refused: the Authorization header
    would otherwise go wherever it points."""
    from ihconform.errors import FactUnavailable

    monkeypatch.setenv("IHC_T_USER", "admin")
    monkeypatch.setenv("IHC_T_PASS", SECRET)
    for server in _serve(ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)):
        with pytest.raises(FactUnavailable, match=r"redirect to http://127\.0\.0\.1:9/steal refused"):
            read_redfish(Bmc(id="b", server="s", url=f"http://127.0.0.1:{_port(server)}/redfish/v1",
                             username_env="IHC_T_USER", password_env="IHC_T_PASS"))
    tree = redfish_tree("app01", failed_psu=False)
    tree["/redfish/v1/Chassis"] = {**tree["/redfish/v1/Chassis"],
                                   "Members": [{"@odata.id": "http://127.0.0.2:8000/redfish/v1/Chassis/1U"}]}
    for server in _serve(Redfish(tree)):
        with pytest.raises(FactUnavailable, match="link to another host refused"):
            read_redfish(Bmc(id="b", server="s", url=f"http://127.0.0.1:{_port(server)}/redfish/v1"))


def test_safe_url_drops_credentials() -> None:
    assert safe_url("https://admin:pw@198.51.100.41:8443/redfish/v1") == "https://198.51.100.41:8443/redfish/v1"


def test_nut_reading_and_judgement(nut: Nut) -> None:
    a = read_nut(Ups(id="ups-a", address="127.0.0.1", port=_port(nut), name="upsa", feed="A"))
    assert a["variables"]["ups.status"] == "OL" and judge_ups(a, **UPS_PARAMS)[0]
    b = read_nut(Ups(id="ups-b", address="127.0.0.1", port=_port(nut), name="upsb", feed="B"))
    passed, problems, observed = judge_ups(b, **UPS_PARAMS)
    assert not passed and observed["ups.status"] == "OB DISCHRG"
    assert any("ups.status=OB DISCHRG, battery.charge=62 %, battery.runtime=900 s" in p for p in problems)
    from ihconform.errors import FactUnavailable

    with pytest.raises(FactUnavailable, match="ERR UNKNOWN-UPS"):
        read_nut(Ups(id="ups-x", address="127.0.0.1", port=_port(nut), name="nosuch"))
    # upsd up before its driver has reported (seen on the lab right after start): unknown, not off line
    for server in _serve(Nut({"upsw": "ups.status: WAIT\n", "upsn": "battery.charge: 100\n"})):
        for name in ("upsw", "upsn"):
            with pytest.raises(FactUnavailable, match="the NUT driver has not reported"):
                read_nut(Ups(id="ups-w", address="127.0.0.1", port=_port(server), name=name))
    with pytest.raises(FactUnavailable, match="does not answer"):
        read_nut(Ups(id="ups-y", address="127.0.0.1", port=closed_port(), name="upsa"))


@pytest.mark.parametrize(("rule", "readings", "document", "want"), [
    ("readings_and_document", Status.PASS, Status.PASS, Status.PASS),
    ("readings_and_document", Status.PASS, Status.NOT_CHECKED, Status.NOT_CHECKED),
    ("readings_and_document", Status.FAIL, Status.ERROR, Status.FAIL),
    ("readings_and_document", Status.PASS, Status.ERROR, Status.ERROR),
    ("readings_or_document", Status.FAIL, Status.PASS, Status.PASS),
    ("readings_or_document", Status.PASS, Status.ERROR, Status.ERROR),  # a tampered document is never outweighed
    ("readings_or_document", Status.NOT_CHECKED, Status.NOT_CHECKED, Status.NOT_CHECKED),
    ("readings_or_document", Status.ERROR, Status.NOT_CHECKED, Status.ERROR),
    ("readings_only", Status.FAIL, Status.PASS, Status.FAIL),
    ("document_only", Status.FAIL, Status.PASS, Status.PASS),
])
def test_combination_rules(rule: str, readings: Status, document: Status, want: Status) -> None:
    assert combine(rule, readings, document) is want


def test_a_pass_needs_a_pass_somewhere() -> None:
    """Property: no rule turns parts without any 符合 into 符合 (never a false pass)."""
    parts = [Status.FAIL, Status.ERROR, Status.NOT_CHECKED]
    for rule in ("readings_and_document", "readings_or_document", "readings_only", "document_only"):
        for r in parts:
            for d in parts:
                assert combine(rule, r, d) is not Status.PASS


# ---- whole runs ---------------------------------------------------------------------------------


def run_power(tmp: Path, bmcs: list[dict[str, Any]], ups: list[dict[str, Any]],
              attestations: list[dict[str, Any]] | None = None) -> tuple[subprocess.CompletedProcess[str],
                                                                          dict[str, Any], Path]:
    tmp.mkdir(parents=True, exist_ok=True)
    evidence = {}
    if attestations is not None:
        write_yaml(tmp / "attestations.yaml", {"attestations": attestations})
        evidence["attestations"] = "attestations.yaml"
    write_yaml(tmp / "inventory.yaml", {
        "institution": {"name": "示例医院"}, "system": {"name": "系统"},
        "hosts": [{"id": "db01", "address": "198.51.100.11", "roles": ["db"]},
                  {"id": "app01", "address": "198.51.100.12", "roles": ["app"]}],
        "power": {"bmcs": bmcs, "ups": ups}, "evidence": evidence})
    env = {**os.environ, "IHC_T_USER": "admin", "IHC_T_PASS": SECRET}
    proc = subprocess.run([sys.executable, "-m", "ihconform.cli", "run", "-q", "-i", str(tmp / "inventory.yaml"),
                           "-p", str(PROFILE), "--only", "P-PSU", "--only", "P-UPS", "--only", "P-DUAL",
                           "-o", str(tmp / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False, env=env)
    folders = [p for p in (tmp / "out").iterdir() if p.is_dir()]
    assert len(folders) == 1, (proc.stdout, proc.stderr)
    data = json.loads((folders[0] / "results.json").read_text(encoding="utf-8"))
    validate_results(data)
    return proc, data, folders[0]


def results(data: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["control_id"], r["object_id"]): r for r in data["results"]}


def bmc(bid: str, server: str, port: int, auth: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": bid, "server": server, "url": f"http://127.0.0.1:{port}/redfish/v1"}
    if auth:
        entry |= {"username_env": "IHC_T_USER", "password_env": "IHC_T_PASS"}
    return entry


def ups(uid: str, name: str, feed: str, port: int) -> dict[str, Any]:
    return {"id": uid, "address": "127.0.0.1", "port": port, "name": name, "feed": feed}


@pytest.fixture(scope="module")
def keyfile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    k = tmp_path_factory.mktemp("k") / "k.pem"
    keygen("ed25519", k)
    return k


def contract(key: Path) -> dict[str, Any]:
    return signed(attestation(id="ATT-FEED", control="P-DUAL", statement="两路市电，引自不同变电站",
                              document={"kind": "dual-feed-contract"}), key)


def test_healthy_power_passes_with_readings_as_evidence(tmp_path: Path, bmc_ok: Redfish, nut: Nut,
                                                        keyfile: Path) -> None:
    healthy_nut = Nut({"upsa": ups_dev("UPS-FEED-A", False), "upsb": ups_dev("UPS-FEED-B", False)})
    for server in _serve(healthy_nut):
        proc, data, folder = run_power(
            tmp_path, [bmc("bmc-db01", "db01", _port(bmc_ok), auth=True), bmc("bmc-app01", "app01", _port(bmc_ok),
                                                                              auth=True)],
            [ups("ups-a", "upsa", "A", _port(server)), ups("ups-b", "upsb", "B", _port(server))], [contract(keyfile)])
    res = results(data)
    assert res[("P-PSU", "bmc-db01")]["status"] == "pass"
    assert res[("P-PSU", "ups-a")]["status"] == "not_applicable"
    assert res[("P-UPS", "ups-b")]["status"] == "pass" and "ups.status=OL" in res[("P-UPS", "ups-b")]["reason"]
    dual = res[("P-DUAL", "site")]
    assert dual["status"] == "pass", dual["reason"]
    # the reason names its scope: whose supplies were read, which feeds have a UPS on line
    assert "supplies read and redundant on " in dual["reason"] and "UPS on line on feeds A, B" in dual["reason"], \
        dual["reason"]
    assert dual["attestation"] == "ATT-FEED"
    paths = {e["path"] for e in dual["evidence"]}
    assert {"evidence/power/bmc-db01/redfish.json", "evidence/power/ups-a/nut.json"} <= paths
    reading = json.loads((folder / "evidence/power/bmc-db01/redfish.json").read_text())
    assert reading["power_supplies"][0]["state"] == "Enabled"
    assert proc.returncode == 0, proc.stderr
    # the BMC password and its Basic-auth form are nowhere in the run folder or the output
    token = base64.b64encode(f"admin:{SECRET}".encode()).decode()
    for f in folder.rglob("*"):
        if f.is_file():
            blob = f.read_bytes()
            assert SECRET.encode() not in blob and token.encode() not in blob, f
    assert SECRET not in proc.stdout + proc.stderr


def test_failed_psu_and_ups_on_battery_fail_quoting_the_reading(tmp_path: Path, bmc_ok: Redfish,
                                                                bmc_failed: Redfish, nut: Nut, keyfile: Path) -> None:
    _, data, _ = run_power(
        tmp_path, [bmc("bmc-db01", "db01", _port(bmc_failed)), bmc("bmc-app01", "app01", _port(bmc_ok), auth=True)],
        [ups("ups-a", "upsa", "A", _port(nut)), ups("ups-b", "upsb", "B", _port(nut))], [contract(keyfile)])
    res = results(data)
    psu = res[("P-PSU", "bmc-db01")]
    assert psu["status"] == "fail" and "Power Supply 2: State=UnavailableOffline, Health=Critical" in psu["reason"]
    assert res[("P-PSU", "bmc-app01")]["status"] == "pass"
    onb = res[("P-UPS", "ups-b")]
    assert onb["status"] == "fail" and "ups.status=OB DISCHRG" in onb["reason"]
    dual = res[("P-DUAL", "site")]
    assert dual["status"] == "fail"
    assert "UnavailableOffline" in dual["reason"] and "OB DISCHRG" in dual["reason"]


def test_unreachable_devices_are_check_errors(tmp_path: Path, keyfile: Path) -> None:
    _, data, folder = run_power(tmp_path, [bmc("bmc-db01", "db01", closed_port())],
                                [ups("ups-a", "upsa", "A", closed_port())], [contract(keyfile)])
    res = results(data)
    assert res[("P-PSU", "bmc-db01")]["status"] == "error"
    assert "does not answer" in res[("P-PSU", "bmc-db01")]["reason"]
    assert res[("P-UPS", "ups-a")]["status"] == "error"
    assert res[("P-DUAL", "site")]["status"] == "error"  # no failure known, readings could not be made
    assert "error" in json.loads((folder / "evidence/power/bmc-db01/redfish.json").read_text())


def test_dual_supply_needs_distinct_feeds_and_a_document(tmp_path: Path, bmc_ok: Redfish) -> None:
    healthy_nut = Nut({"upsa": ups_dev("UPS-FEED-A", False), "upsb": ups_dev("UPS-FEED-B", False)})
    bmcs = [bmc("bmc-db01", "db01", _port(bmc_ok), auth=True), bmc("bmc-app01", "app01", _port(bmc_ok), auth=True)]
    for server in _serve(healthy_nut):
        _, one_feed, _ = run_power(tmp_path / "one", bmcs, [ups("ups-a", "upsa", "A", _port(server)),
                                                            ups("ups-b", "upsb", "A", _port(server))], [])
        _, no_doc, _ = run_power(tmp_path / "nodoc", bmcs, [ups("ups-a", "upsa", "A", _port(server)),
                                                            ups("ups-b", "upsb", "B", _port(server))], [])
    # both UPS on feed A: one feed covered -> the readings fail, whatever the documents say
    dual = results(one_feed)[("P-DUAL", "site")]
    assert dual["status"] == "fail" and "feeds with a UPS on line: 1, need >= 2" in dual["reason"]
    # healthy readings but no supply contract or generator record: 未检查, never 符合
    dual = results(no_doc)[("P-DUAL", "site")]
    assert dual["status"] == "not_checked" and "no attestation recorded" in dual["reason"]


# ---- IPMI (in-band ipmitool over the run's connection) ---------------------------------------

SDR_OK = """PS1 Status       | 71h | ok  | 10.1 | Presence detected
PS2 Status       | 72h | ok  | 10.2 | Presence detected
PS Redundancy    | 77h | ok  |  7.1 | Fully Redundant
"""
SDR_FAILED = """PS1 Status       | 71h | ok  | 10.1 | Presence detected
PS2 Status       | 72h | ok  | 10.2 | Presence detected, Failure detected, Power Supply AC lost
PS Redundancy    | 77h | ok  |  7.1 | Redundancy Lost
PS3 Status       | 73h | ns  | 10.3 | No Reading
"""


def test_ipmi_sdr_judged_and_quoted() -> None:
    from ihconform.net.ipmi import parse_ipmi_sdr
    from ihconform.probes.power import judge_ipmi

    ok, problems, observed = judge_ipmi(parse_ipmi_sdr(SDR_OK), 2)
    assert ok and observed["healthy"] == 2 and problems == []
    ok, problems, observed = judge_ipmi(parse_ipmi_sdr(SDR_FAILED), 2)
    assert not ok and observed["healthy"] == 1
    assert "PS2 Status: status=ok, events=Presence detected, Failure detected, Power Supply AC lost" in problems
    assert "PS Redundancy: status=ok, events=Redundancy Lost" in problems
    assert not any("PS3" in p for p in problems)  # an empty bay is not a failed supply
    assert not judge_ipmi([], 2)[0]  # nothing reported is never a pass


class FakeTransport:
    def __init__(self, exit_code: int, stdout: str, root: bool = False) -> None:
        self.exit_code, self.stdout, self.root = exit_code, stdout, root
        self.calls: list[tuple[str, bytes | None]] = []

    @property
    def is_root(self) -> bool:
        return self.root

    def run(self, command: str, *, stdin: bytes | None = None, timeout: float = 60.0) -> Any:
        from ihconform.transport.base import CommandResult

        self.calls.append((command, stdin))
        return CommandResult(command, self.exit_code, self.stdout.encode(), b"ipmitool: command not found")


def test_ipmi_runs_through_sudo_with_the_password_on_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    from ihconform.errors import FactUnavailable
    from ihconform.inventory import Host, Sudo
    from ihconform.net.ipmi import read_ipmi

    monkeypatch.setenv("IHC_T_SUDO", SECRET)
    host = Host(id="db01", address="198.51.100.10", sudo=Sudo(enabled=True, password_env="IHC_T_SUDO"))
    t = FakeTransport(0, SDR_OK)
    reading = read_ipmi(t, host)
    (command, stdin), = t.calls
    assert command == "sudo -S -p '' ipmitool sdr type 'Power Supply'" and stdin == f"{SECRET}\n".encode()
    assert SECRET not in json.dumps(reading) and len(reading["sensors"]) == 3
    root = FakeTransport(0, SDR_OK, root=True)
    read_ipmi(root, host)
    assert root.calls[0] == ("ipmitool sdr type 'Power Supply'", None)
    with pytest.raises(FactUnavailable, match="ipmitool is not installed"):
        read_ipmi(FakeTransport(127, ""), host)
    with pytest.raises(FactUnavailable, match="needs root"):
        read_ipmi(FakeTransport(0, SDR_OK), Host(id="app01", address="198.51.100.20"))
