"""The Windows online path end to end against a scripted SSH endpoint (issue 17): a paramiko
server on loopback plays Windows' OpenSSH server. It checks the exec request is the
``powershell … -EncodedCommand`` bootstrap, reads the batch from stdin, and answers with a
recorded output under the run's nonce (or with the output cut short). Real paramiko client,
real host-key pinning, one round trip, the real parser and probes: only PowerShell is played.
No Windows host runs here; docs/windows.md says so."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
import pytest
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)

from ihconform.facts.contract import SectionStatus
from ihconform.facts.sections import sections_for
from ihconform.facts.store import FactStore
from ihconform.facts.windows import BOOTSTRAP_COMMAND, WINDOWS_SECTIONS
from ihconform.inventory import Auth, Host, Institution, Inventory, SystemUnderTest
from ihconform.results import Status

from ..conftest import FIXTURES, ROOT
from .test_windows_golden import EXPECTED, WIN_CONTROLS, judge

REC_DIR = FIXTURES / "windows" / "recordings"
#: A Linux host for mixed inventories: the recorded hardened Rocky 9 (tests/fixtures/releases/).
LINUX_HOST = ("  - {id: web1, address: 198.51.100.126, user: admin, connection: recorded, "
              f"offline: {FIXTURES / 'releases' / 'rocky9' / 'hardened' / 'recording'}}}\n")
RECORDED_NONCE = b"rec0000000000001"
PASSWORD_ENV = "IHC_TEST_WIN_PASSWORD"


@dataclass
class Endpoint:
    """What the scripted server saw and how it answers."""

    recording: Path
    cut_at: bytes | None = None  # answer only up to (and 200 bytes into) the line of this section
    commands: list[str] = field(default_factory=list)
    scripts: list[bytes] = field(default_factory=list)
    key: paramiko.PKey = field(default_factory=lambda: paramiko.ECDSAKey.generate())
    port: int = 0

    def answer(self, script: bytes) -> bytes:
        m = re.search(rb"\$IhcNonce = '([0-9A-Za-z-]+)'", script)
        out = self.recording.read_bytes().replace(RECORDED_NONCE, m.group(1) if m else b"none")
        if self.cut_at is not None:
            out = out[:out.index(b'"name":"' + self.cut_at + b'"') + 200]
        return out


class _Server(paramiko.ServerInterface):
    def __init__(self, ep: Endpoint) -> None:
        self.ep = ep
        self.exec = threading.Event()
        self.channel: paramiko.Channel | None = None

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        ok = username == "hisadmin" and password == "s3cret-口令"
        return AUTH_SUCCESSFUL if ok else AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED if kind == "session" else OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.ep.commands.append(command.decode("utf-8"))
        self.channel = channel
        self.exec.set()
        return True


def _serve(sock: socket.socket, ep: Endpoint) -> None:
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        t = paramiko.Transport(conn)
        t.add_server_key(ep.key)
        server = _Server(ep)
        try:
            t.start_server(server=server)
            chan = t.accept(10)
            if chan is None or not server.exec.wait(10):
                continue
            data = bytearray()
            while True:  # the batch arrives on stdin; the client closes its side when sent
                chunk = chan.recv(65536)
                if not chunk:
                    break
                data += chunk
            ep.scripts.append(bytes(data))
            chan.sendall(ep.answer(bytes(data)))
            chan.send_exit_status(0)
            chan.shutdown_write()
            chan.close()
        except (paramiko.SSHException, OSError, EOFError):
            pass
        finally:
            t.close()


@pytest.fixture
def endpoint(request: pytest.FixtureRequest) -> Iterator[Endpoint]:
    rec, cut = request.param
    ep = Endpoint(REC_DIR / f"{rec}.json", cut)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    ep.port = sock.getsockname()[1]
    th = threading.Thread(target=_serve, args=(sock, ep), daemon=True)
    th.start()
    yield ep
    sock.close()
    th.join(5)


def _host(ep: Endpoint, key: paramiko.PKey | None = None) -> Host:
    k = key or ep.key
    return Host(id="his-db", address="127.0.0.1", port=ep.port, user="hisadmin", platform="windows",
                auth=Auth(password_env=PASSWORD_ENV), host_key=f"{k.get_name()} {k.get_base64()}")


def _inventory(*hosts: Host) -> Inventory:
    return Inventory(institution=Institution(name="重庆某医院"), system=SystemUnderTest(name="HIS"), hosts=hosts)


def _gather(inv: Inventory, host_id: str = "his-db"):  # type: ignore[no-untyped-def]
    store = FactStore(inv, sections_for(inv), parallel=1)
    try:
        return store.get(host_id)
    finally:
        store.close()


@pytest.mark.parametrize("endpoint", [("ws2022-en-US-hardened", None)], indirect=True)
def test_online_round_trip_gives_the_recorded_verdicts(endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-口令")
    host = _host(endpoint)
    facts = _gather(_inventory(host))
    assert not facts.error, facts.error
    assert facts.round_trips == 1 and endpoint.commands == [BOOTSTRAP_COMMAND]
    assert facts.identity["host_key"].startswith("ecdsa-sha2-nistp256 SHA256:")
    assert all(facts.status(s.name) is SectionStatus.COMPLETE for s in WINDOWS_SECTIONS)
    got = {c.id: judge(c.id, facts).value for c in WIN_CONTROLS}
    assert got == EXPECTED["ws2022-en-US-hardened"]
    # the batch the host received is byte for byte what `collect-script windows` prints
    nonce = re.search(r"\$IhcNonce = '([0-9a-f]+)'", endpoint.scripts[0].decode()).group(1)  # type: ignore[union-attr]
    printed = subprocess.run([sys.executable, "-m", "ihconform.cli", "collect-script", "windows", "--nonce", nonce],
                             cwd=ROOT, capture_output=True, timeout=60, check=True).stdout
    assert printed == endpoint.scripts[0]


@pytest.mark.parametrize("endpoint", [("ws2019-zh-CN-stock", b"registry")], indirect=True)
def test_a_cut_answer_is_an_error_for_the_cut_sections(endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    """The answer ends inside the registry section: sections before it are judged as recorded,
    every control reading registry or a later section is 检查错误 — never 符合."""
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-口令")
    host = _host(endpoint)
    facts = _gather(_inventory(host))
    assert not facts.error and facts.status("registry") is SectionStatus.CUT
    assert facts.status("users") is SectionStatus.COMPLETE and facts.status("services") is SectionStatus.ABSENT
    expected = EXPECTED["ws2019-zh-CN-stock"]
    got = {c.id: judge(c.id, facts) for c in WIN_CONTROLS}
    before_cut = {"L3-CES1-01.win", "L3-CES1-06.win", "L3-CES1-12.win"}  # users, secedit, auditpol
    for cid, status in got.items():
        if cid in before_cut:
            assert status.value == expected[cid], cid
        else:
            assert status is Status.ERROR, cid


@pytest.mark.parametrize("endpoint", [("ws2016-en-US-stock", None)], indirect=True)
def test_a_changed_host_key_gathers_nothing(endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-口令")
    host = _host(endpoint, key=paramiko.ECDSAKey.generate())
    facts = _gather(_inventory(host))
    assert "HOST KEY CHANGED" in facts.error and not endpoint.scripts
    assert judge("L3-CES1-06.win", facts) is Status.ERROR


def _run(inv: Path, out: Path, *only: str) -> dict[str, str]:
    args = [sys.executable, "-m", "ihconform.cli", "run", "-q", "-i", str(inv), "-p", "mlps-l3", "-o", str(out),
            "--formats", "json,junit,html"]
    for o in only:
        args += ["--only", o]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, PASSWORD_ENV: "s3cret-口令"})
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1, (proc.stdout, proc.stderr)
    data = json.loads((folders[0] / "results.json").read_text(encoding="utf-8"))
    return {f"{r['control_id']}@{r['object_id']}": r["status"] for r in data["results"]}


@pytest.mark.parametrize("endpoint", [("ws2016-zh-CN-stock", None)], indirect=True)
def test_offline_run_equals_online_run(endpoint: Endpoint, tmp_path: Path) -> None:
    """``ihconform run`` online (the scripted endpoint) and offline (``offline:`` the same
    recording) give the same verdict on every Windows control."""
    k = endpoint.key
    (tmp_path / "rec.json").write_bytes(endpoint.recording.read_bytes())
    base = "institution: {name: 重庆某医院}\nsystem: {name: HIS}\n"
    online = tmp_path / "online.yaml"
    online.write_text(base + f"hosts:\n  - {{id: his-db, address: 127.0.0.1, port: {endpoint.port}, user: hisadmin, "
                      f"platform: windows, auth: {{password_env: {PASSWORD_ENV}}}, "
                      f"host_key: \"{k.get_name()} {k.get_base64()}\"}}\n", encoding="utf-8")
    offline = tmp_path / "offline.yaml"
    offline.write_text(base + "hosts:\n  - {id: his-db, address: 198.51.100.30, platform: windows, "
                       "offline: rec.json}\n", encoding="utf-8")
    on = _run(online, tmp_path / "on", "probe:windows.")
    off = _run(offline, tmp_path / "off", "probe:windows.")
    assert on == off
    assert on == {f"{c}@his-db": s for c, s in EXPECTED["ws2016-zh-CN-stock"].items()}
    assert endpoint.commands == [BOOTSTRAP_COMMAND]


def test_mixed_inventory_one_report(tmp_path: Path) -> None:
    """A Linux host and an offline Windows host in one inventory: one run, one results.json and
    one report with both, side by side under the same control item (L3-CES1-06 on Linux,
    L3-CES1-06.win on Windows). The Linux host is a recorded one (its verdict is documented),
    not this machine, whose verdict depends on how it is set up."""
    (tmp_path / "rec.json").write_bytes((REC_DIR / "ws2019-en-US-stock.json").read_bytes())
    inv = tmp_path / "mixed.yaml"
    inv.write_text("institution: {name: 重庆某医院}\nsystem: {name: 互联网医院}\nhosts:\n"
                   f"{LINUX_HOST}"
                   "  - {id: his-db, address: 198.51.100.30, platform: windows, offline: rec.json}\n",
                   encoding="utf-8")
    got = _run(inv, tmp_path / "out", "L3-CES1-06")
    assert got["L3-CES1-06.win@his-db"] == EXPECTED["ws2019-en-US-stock"]["L3-CES1-06.win"]
    assert got["L3-CES1-06@web1"] == "pass"  # docs/platforms.md, rocky9 hardened
    # no Linux probe on the Windows host: only its own controls of the item
    assert {k for k in got if k.endswith("@his-db")} == {"L3-CES1-06.win@his-db", "L3-CES1-06.mssql@his-db"}
    folder = next(p for p in (tmp_path / "out").iterdir() if p.is_dir())
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    types = {o["id"]: o["type"] for o in data["objects"]}
    assert types["web1"] == "host-os" and types["his-db"] == "host-os-windows"
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "web1" in html and "his-db (198.51.100.30, Windows)" in html
    transcript = json.loads((folder / "evidence" / "hosts" / "his-db" / "transcript.json").read_text(encoding="utf-8"))
    assert transcript["identity"]["offline_sha256"] == __import__("hashlib").sha256(
        (tmp_path / "rec.json").read_bytes()).hexdigest()
    assert transcript["identity"]["collected"] == "2026-11-20T08:00:00Z"
    win = next(r for r in data["results"] if r["object_id"] == "his-db")
    assert win["observed"]["collected_at"] == "2026-11-20T08:00:00Z"


def test_without_a_windows_host_the_windows_controls_do_not_apply(tmp_path: Path) -> None:
    """A Linux-only estate: the Windows controls are 不适用 (no host has platform windows), so
    they neither claim a pass nor leave a conformant Linux site 未检查 (incomplete)."""
    inv = tmp_path / "linux.yaml"
    inv.write_text("institution: {name: 重庆某医院}\nsystem: {name: 互联网医院}\nhosts:\n" + LINUX_HOST,
                   encoding="utf-8")
    got = _run(inv, tmp_path / "out", "L3-CES1-06")
    assert got["L3-CES1-06.win@-"] == "not_applicable" and got["L3-CES1-06.mssql@-"] == "not_applicable"
    assert got["L3-CES1-06@web1"] == "pass"
