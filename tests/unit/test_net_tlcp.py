"""国密 probe against servers built here from the protocol specifications.

No TLCP-capable server can be installed from the package registries on this workplace:
tongsuopy (PyPI) ships Tongsuo's libcrypto only (SM2/SM3/SM4, no NTLS/TLCP TLS stack and no
``s_server``), the ``gmssl`` PyPI package is pure-Python SM2/SM3/SM4, and Debian has neither
Tongsuo nor GmSSL. So :class:`SpecServer` answers from GB/T 38636-2020 (TLCP) and RFC 8998 /
RFC 8446 (TLS 1.3 HelloRetryRequest): it parses the ClientHello it receives (so a malformed
hello fails these tests) and answers a TLCP ServerHello 0x0101 + Certificate (two
certificates, signing and encryption) + ServerHelloDone for the suites it supports, a
HelloRetryRequest selecting the SM suite and curveSM2 for RFC 8998, and a fatal alert
otherwise.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from ihconform.errors import FactUnavailable
from ihconform.net import tlcp


def _rec(ctype: int, version: int, body: bytes) -> bytes:
    return struct.pack("!BHH", ctype, version, len(body)) + body


def _hs(t: int, body: bytes) -> bytes:
    return bytes([t]) + len(body).to_bytes(3, "big") + body


@dataclass
class Hello:
    record_version: int
    version: int
    suites: list[int]
    extensions: dict[int, bytes]


def parse_client_hello(data: bytes) -> Hello:
    ctype, rver, length = struct.unpack("!BHH", data[:5])
    assert ctype == 22, "not a handshake record"
    body = data[5:5 + length]
    assert body[0] == 1, "not a ClientHello"
    n = int.from_bytes(body[1:4], "big")
    b = body[4:4 + n]
    version = struct.unpack("!H", b[:2])[0]
    pos = 34
    pos += 1 + b[pos]
    slen = struct.unpack("!H", b[pos:pos + 2])[0]
    suites = [struct.unpack("!H", b[pos + 2 + i:pos + 4 + i])[0] for i in range(0, slen, 2)]
    pos += 2 + slen
    pos += 1 + b[pos]
    exts: dict[int, bytes] = {}
    if pos < len(b):
        end = pos + 2 + struct.unpack("!H", b[pos:pos + 2])[0]
        pos += 2
        while pos < end:
            t, ln = struct.unpack("!HH", b[pos:pos + 4])
            exts[t] = b[pos + 4:pos + 4 + ln]
            pos += 4 + ln
    return Hello(rver, version, suites, exts)


FAKE_SM2_CERT = (b"\x30\x82\x00\x20" + tlcp.SM2_CURVE_OID + tlcp.SM2_SM3_SIG_OID + b"\x00" * 8)


@dataclass
class SpecServer:
    tlcp_suites: set[int] = field(default_factory=set)
    tls13_suites: set[int] = field(default_factory=set)
    silent: bool = False  # close without a word (a plain TLS server meeting version 0x0101)
    seen: list[Hello] = field(default_factory=list)

    def answer(self, data: bytes) -> bytes:
        hello = parse_client_hello(data)
        self.seen.append(hello)
        if hello.version == tlcp.TLCP_VERSION:
            chosen = [s for s in hello.suites if s in self.tlcp_suites]
            if not chosen:
                return _rec(21, tlcp.TLCP_VERSION, bytes([2, 40]))
            sh = struct.pack("!H", tlcp.TLCP_VERSION) + b"\x11" * 32 + b"\x00" + struct.pack("!H", chosen[0]) + b"\x00"
            certs = b"".join(len(c).to_bytes(3, "big") + c for c in (FAKE_SM2_CERT, FAKE_SM2_CERT))
            flight = _hs(2, sh) + _hs(11, len(certs).to_bytes(3, "big") + certs) + _hs(14, b"")
            return _rec(22, tlcp.TLCP_VERSION, flight)
        versions = hello.extensions.get(43, b"")
        groups = hello.extensions.get(10, b"")
        chosen = [s for s in hello.suites if s in self.tls13_suites]
        if b"\x03\x04" not in versions or struct.pack("!H", tlcp.CURVE_SM2) not in groups[2:] or not chosen:
            return _rec(21, 0x0303, bytes([2, 40]))
        assert hello.extensions.get(51) == b"\x00\x00", "the probe must send an empty key_share"
        exts = (struct.pack("!HHH", 43, 2, 0x0304) + struct.pack("!HHH", 51, 2, tlcp.CURVE_SM2))
        sh = (struct.pack("!H", 0x0303) + tlcp.HRR_RANDOM + b"\x20" + b"\x00" * 32 + struct.pack("!H", chosen[0])
              + b"\x00" + struct.pack("!H", len(exts)) + exts)
        return _rec(22, 0x0303, _hs(2, sh))


@pytest.fixture
def serve() -> Iterator[object]:
    started: list[tuple[socket.socket, threading.Thread]] = []

    def start(server: SpecServer) -> int:
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

        t = threading.Thread(target=loop, daemon=True)
        t.start()
        started.append((lsock, t))
        return int(lsock.getsockname()[1])

    yield start
    for lsock, t in started:
        lsock.shutdown(socket.SHUT_RDWR)  # wakes accept() so the thread ends
        lsock.close()
        t.join(2)


def test_client_hellos_follow_the_specifications() -> None:
    h = parse_client_hello(tlcp.tlcp_client_hello([0xE013]))
    assert (h.record_version, h.version, h.suites, h.extensions) == (0x0101, 0x0101, [0xE013], {})
    h = parse_client_hello(tlcp.tls13_sm_client_hello([0x00C6, 0x00C7], "gm.example"))
    assert h.version == 0x0303 and h.suites == [0x00C6, 0x00C7]
    assert h.extensions[43] == b"\x02\x03\x04"
    assert h.extensions[10] == b"\x00\x02\x00\x29"  # curveSM2 = 41
    assert h.extensions[13] == b"\x00\x02\x07\x08"  # sm2sig_sm3
    assert h.extensions[51] == b"\x00\x00"
    assert b"gm.example" in h.extensions[0]
    assert 0 not in parse_client_hello(tlcp.tls13_sm_client_hello([0x00C6], "198.51.100.20")).extensions


def test_tlcp_server_offers_exactly_its_suites(serve) -> None:  # type: ignore[no-untyped-def]
    server = SpecServer(tlcp_suites={0xE013, 0xE053})
    rep = tlcp.probe_gm("127.0.0.1", serve(server), "gm.example", timeout=2)
    assert rep.tlcp == {"ECDHE_SM4_CBC_SM3": False, "ECC_SM4_CBC_SM3": True,
                        "ECDHE_SM4_GCM_SM3": False, "ECC_SM4_GCM_SM3": True}
    assert rep.offered == ["TLCP ECC_SM4_CBC_SM3", "TLCP ECC_SM4_GCM_SM3"]
    assert len(rep.certificates) == 2 and all(c["sm2_key"] and c["sm2_sm3_signature"] for c in rep.certificates)
    refused = [a for a in rep.attempts if a["protocol"] == "TLCP" and not a["offered"]]
    assert all(a["answer"] == "alert handshake_failure (40)" for a in refused)
    assert [h.suites for h in server.seen[:4]] == [[0xE011], [0xE013], [0xE051], [0xE053]]


def test_rfc8998_hello_retry_request_is_recognised(serve) -> None:  # type: ignore[no-untyped-def]
    rep = tlcp.probe_gm("127.0.0.1", serve(SpecServer(tls13_suites={0x00C6})), "gm.example", timeout=2)
    assert rep.tls13_sm == {"TLS_SM4_GCM_SM3": True, "TLS_SM4_CCM_SM3": False}
    assert rep.offered == ["TLS1.3 TLS_SM4_GCM_SM3"]
    ok = next(a for a in rep.attempts if a["suite"] == "0x00C6")
    assert ok["answer"] == "HelloRetryRequest version 0x0304 suite 0x00c6"


def test_plain_tls_server_offers_nothing(serve) -> None:  # type: ignore[no-untyped-def]
    rep = tlcp.probe_gm("127.0.0.1", serve(SpecServer(silent=True)), timeout=2)
    assert rep.offered == []
    assert {a["answer"] for a in rep.attempts} == {"closed"}


def test_unreachable_is_an_error_not_a_verdict() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(FactUnavailable, match="cannot connect"):
        tlcp.probe_gm("127.0.0.1", port, timeout=1)


def test_parse_answer_handles_split_records_and_garbage() -> None:
    sh = struct.pack("!H", 0x0101) + b"\x00" * 32 + b"\x00" + struct.pack("!H", 0xE053) + b"\x00"
    rec = _rec(22, 0x0101, _hs(2, sh) + _hs(14, b""))
    ans = tlcp.parse_answer(rec, closed=False, timed_out=False)
    assert ans.outcome == "server_hello" and ans.server_hello is not None and ans.server_hello.suite == 0xE053
    assert tlcp.parse_answer(rec[:7], closed=True, timed_out=False).outcome == "closed"
    assert tlcp.parse_answer(b"HTTP/1.1 400 Bad Request\r\n", closed=True, timed_out=False).outcome == "garbage"
