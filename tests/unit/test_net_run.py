"""The 国密 and AV probes through a whole ``ihconform run`` against loopback servers: the
spec-built TLCP/RFC 8998 server, a silent TLS-like server, a STUN server that answers and one
that does not. Shows verdicts, reasons and evidence files as a report would carry them."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ihconform.net import stun
from tests.unit.test_net_tlcp import SpecServer

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "tests" / "fixtures" / "profiles" / "network.yaml"


def _tcp_server(server: SpecServer) -> tuple[int, socket.socket]:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)

    def loop() -> None:
        while True:
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(65536)
                if data and not server.silent:
                    conn.sendall(server.answer(data))

    threading.Thread(target=loop, daemon=True).start()
    return int(lsock.getsockname()[1]), lsock


def _stun_server(answer: bool) -> tuple[int, socket.socket]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)

    def loop() -> None:
        while s.fileno() != -1:
            try:
                data, peer = s.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            if answer:
                req = stun.decode(data)
                ip = int.from_bytes(socket.inet_aton(peer[0]), "big") ^ stun.MAGIC
                xma = bytes([0, 1]) + (peer[1] ^ (stun.MAGIC >> 16)).to_bytes(2, "big") + ip.to_bytes(4, "big")
                s.sendto(stun.encode(stun.BINDING, 2, req.txid, [(stun.A_XOR_MAPPED, xma)]), peer)

    threading.Thread(target=loop, daemon=True).start()
    return int(s.getsockname()[1]), s


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    gm_port, a = _tcp_server(SpecServer(tlcp_suites={0xE013, 0xE053}, tls13_suites={0x00C6}))
    plain_port, b = _tcp_server(SpecServer(silent=True))
    up_port, c = _stun_server(True)
    down_port, d = _stun_server(False)
    inv = {
        "institution": {"name": "测试医院"}, "system": {"name": "测试系统"},
        "tls_endpoints": [
            {"id": "gm-gw", "host": "gm.example", "address": "127.0.0.1", "port": gm_port, "gm": True},
            {"id": "plain", "host": "plain.example", "address": "127.0.0.1", "port": plain_port, "gm": True},
            {"id": "not-gm", "host": "x.example", "address": "127.0.0.1", "port": plain_port},
        ],
        "av_systems": [
            {"id": "av-up", "name": "STUN up", "endpoints": [{"protocol": "stun-udp", "address": "127.0.0.1",
                                                             "port": up_port}]},
            {"id": "av-down", "name": "STUN down", "endpoints": [{"protocol": "stun-udp", "address": "127.0.0.1",
                                                                 "port": down_port}]},
        ],
    }
    fast = tmp_path / "fast.yaml"
    fast.write_text(yaml.safe_dump({
        "profile": {"id": "network-fast", "title": {"zh": "快速", "en": "fast"}, "version": "1",
                    "includes": [str(PROFILE)],
                    "overrides": [{"control": c, "parameters": {"timeout_s": 0.3},
                                   "provenance": "unit test: loopback servers answer in milliseconds"}
                                  for c in ("N-AV", "N-AV-2", "N-GM")]},
        "controls": []}, allow_unicode=True))
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inv, allow_unicode=True))
    yield {"inventory": path, "out": tmp_path / "out", "profile": fast}
    for s in (a, b):
        s.shutdown(socket.SHUT_RDWR)
        s.close()
    for s in (c, d):
        s.close()


def test_gm_and_av_verdicts_through_a_run(site: dict[str, Any]) -> None:
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "ihconform.cli", "run", "-q", "-i", str(site["inventory"]),
                           "-p", str(site["profile"]), "--only", "N-GM", "--only", "N-AV", "-o", str(site["out"])],
                          capture_output=True, text=True, timeout=120, check=False)
    found = list(site["out"].rglob("results.json"))
    assert found, proc.stdout + proc.stderr
    res = {(r["control_id"], r["object_id"]): r for r in json.loads(found[0].read_text())["results"]}
    gm = res[("N-GM", "gm-gw")]
    assert gm["status"] == "pass"
    assert gm["observed"]["offered"] == ["TLCP ECC_SM4_CBC_SM3", "TLCP ECC_SM4_GCM_SM3", "TLS1.3 TLS_SM4_GCM_SM3"]
    assert any(e["path"].endswith("gm-handshakes.json") for e in gm["evidence"])
    plain = res[("N-GM", "plain")]
    assert plain["status"] == "fail" and "no SM suite offered" in plain["reason"]
    assert res[("N-GM", "not-gm")]["status"] == "not_applicable"
    assert res[("N-AV", "av-up")]["status"] == "pass"
    down = res[("N-AV", "av-down")]
    assert down["status"] == "fail" and "not answering" in down["reason"]
    two = res[("N-AV-2", "site")]
    assert two["status"] == "fail" and "only 1 answering" in two["reason"]
    assert proc.returncode == 1  # non-conformant, not a run error
