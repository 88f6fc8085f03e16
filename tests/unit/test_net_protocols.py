"""STUN/TURN, SIP, database TLS and clinical protocol clients against small loopback servers
that answer per the specifications (the lab tests meet coturn, kamailio, PostgreSQL, MariaDB,
pynetdicom and the hl7 library for real)."""

from __future__ import annotations

import hashlib
import hmac
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ihconform.errors import FactUnavailable
from ihconform.net import clinical, dbtls, exposure, sip, stun

Handler = Callable[[bytes, tuple[str, int]], bytes | None]


@pytest.fixture
def udp() -> Iterator[Callable[[Handler], int]]:
    socks: list[socket.socket] = []

    def start(handler: Handler) -> int:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.2)
        socks.append(s)

        def loop() -> None:
            while s.fileno() != -1:
                try:
                    data, peer = s.recvfrom(65535)
                except (TimeoutError, OSError):
                    continue
                out = handler(data, peer)
                if out:
                    s.sendto(out, peer)

        threading.Thread(target=loop, daemon=True).start()
        return int(s.getsockname()[1])

    yield start
    for s in socks:
        s.close()


@pytest.fixture
def tcp() -> Iterator[Callable[[Callable[[socket.socket], None]], int]]:
    socks: list[socket.socket] = []

    def start(session: Callable[[socket.socket], None]) -> int:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        socks.append(s)

        def loop() -> None:
            while True:
                try:
                    conn, _ = s.accept()
                except OSError:
                    return
                with conn:
                    session(conn)

        threading.Thread(target=loop, daemon=True).start()
        return int(s.getsockname()[1])

    yield start
    for s in socks:
        s.shutdown(socket.SHUT_RDWR)
        s.close()


# ---- STUN / TURN ------------------------------------------------------------------------------


def _xor_addr(peer: tuple[str, int], txid: bytes) -> bytes:
    ip = struct.unpack("!I", socket.inet_aton(peer[0]))[0] ^ stun.MAGIC
    return struct.pack("!BBHI", 0, 1, peer[1] ^ (stun.MAGIC >> 16), ip)


def test_stun_message_roundtrip_and_fingerprint() -> None:
    txid = b"\x01" * 12
    raw = stun.encode(stun.BINDING, 0, txid, [(stun.A_SOFTWARE, b"abc")], key=b"k", fingerprint=True)
    m = stun.decode(raw)
    assert (m.method, m.cls, m.txid) == (stun.BINDING, 0, txid)
    assert [t for t, _ in m.attrs] == [stun.A_SOFTWARE, stun.A_MI, stun.A_FINGERPRINT]
    assert m.get(stun.A_SOFTWARE) == b"abc"  # padding stripped by length
    with pytest.raises(ValueError):
        stun.decode(b"\x00" * 20)


def test_stun_binding_over_udp(udp) -> None:  # type: ignore[no-untyped-def]
    def handler(data: bytes, peer: tuple[str, int]) -> bytes:
        req = stun.decode(data)
        return stun.encode(stun.BINDING, 2, req.txid, [(stun.A_XOR_MAPPED, _xor_addr(peer, req.txid)),
                                                       (stun.A_SOFTWARE, b"spec-server")])

    r = stun.binding("127.0.0.1", udp(handler), "udp", 1)
    assert r.ok and r.mapped.startswith("127.0.0.1:") and r.software == "spec-server"


def test_turn_allocate_with_long_term_credentials(udp) -> None:  # type: ignore[no-untyped-def]
    key = hashlib.md5(b"user:lab.example:secret", usedforsecurity=False).digest()
    log: list[str] = []

    def handler(data: bytes, peer: tuple[str, int]) -> bytes:
        req = stun.decode(data)
        mi = req.get(stun.A_MI)
        if mi is None:
            log.append("challenge")
            return stun.encode(req.method, 3, req.txid, [(stun.A_ERROR, b"\x00\x00\x04\x01Unauthorized"),
                                                         (stun.A_REALM, b"lab.example"), (stun.A_NONCE, b"n0nce")])
        # verify MESSAGE-INTEGRITY as RFC 5389 15.4 says: over the message up to MI, length adjusted
        end = data.index(struct.pack("!HH", stun.A_MI, 20))
        head = data[:2] + struct.pack("!H", end - 20 + 24) + data[4:end]
        assert hmac.compare_digest(hmac.new(key, head, hashlib.sha1).digest(), mi), "bad MESSAGE-INTEGRITY"
        log.append(f"method {req.method}")
        if req.method == stun.ALLOCATE:
            relayed = _xor_addr(("198.51.100.30", 49160), req.txid)
            return stun.encode(req.method, 2, req.txid, [(stun.A_XOR_RELAYED, relayed)])
        return stun.encode(req.method, 2, req.txid, [])

    r = stun.allocate("127.0.0.1", udp(handler), "user", "secret", "udp", 1)
    assert r.ok and r.relayed == "198.51.100.30:49160" and "released" in r.detail
    assert log == ["challenge", f"method {stun.ALLOCATE}", f"method {stun.REFRESH}"]
    bad = stun.allocate("127.0.0.1", udp(lambda d, p: stun.encode(stun.ALLOCATE, 3, stun.decode(d).txid,
                                                                    [(stun.A_ERROR, b"\x00\x00\x04\x03Forbidden")])),
                        "u", "p", "udp", 1)
    assert not bad.ok and "without REALM/NONCE" in bad.detail


def test_stun_silence_is_unavailable(udp) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FactUnavailable, match="no STUN answer"):
        stun.binding("127.0.0.1", udp(lambda d, p: None), "udp", 0.2)


# ---- SIP ----------------------------------------------------------------------------------------


def test_sip_options_udp_and_tcp(udp, tcp) -> None:  # type: ignore[no-untyped-def]
    def answer(data: bytes) -> bytes:
        head = data.decode().split("\r\n")
        assert head[0].startswith("OPTIONS sip:127.0.0.1:")
        via = next(h for h in head if h.startswith("Via:"))
        return (f"SIP/2.0 100 Trying\r\n{via}\r\n\r\nSIP/2.0 200 OK\r\n{via}\r\nServer: spec-sip\r\n"
                "Content-Length: 0\r\n\r\n").encode()

    a = sip.options("127.0.0.1", udp(lambda d, p: answer(d).split(b"\r\n\r\n", 1)[1]), "udp", 1)
    assert (a.status, a.reason, a.server) == (200, "OK", "spec-sip")

    def session(conn: socket.socket) -> None:
        conn.sendall(answer(conn.recv(65535)))

    b = sip.options("127.0.0.1", tcp(session), "tcp", 1)
    assert (b.status, b.server) == (200, "spec-sip")  # the 100 Trying is skipped
    with pytest.raises(ValueError):
        sip.parse_response(b"HTTP/1.1 200 OK\r\n\r\n")


# ---- databases ---------------------------------------------------------------------------------


def test_postgres_tls_offered_and_plaintext_refused(tcp) -> None:  # type: ignore[no-untyped-def]
    def session(conn: socket.socket) -> None:
        head = conn.recv(8)
        if struct.unpack("!II", head) == (8, dbtls.SSL_REQUEST_CODE):
            conn.sendall(b"S")
            return
        conn.recv(4096)  # the rest of the StartupMessage (closing with unread data would reset)
        msg = b"SFATAL\x00C28000\x00Mno pg_hba.conf entry for host \"127.0.0.1\", no encryption\x00\x00"
        conn.sendall(b"E" + struct.pack("!I", len(msg) + 4) + msg)

    r = dbtls.postgres_tls("127.0.0.1", tcp(session))
    assert r.tls_offered and r.plaintext_refused is True


def test_mysql_client_ssl_flag(tcp) -> None:  # type: ignore[no-untyped-def]
    def greeting(caps: int) -> Callable[[socket.socket], None]:
        payload = (b"\x0a" + b"10.11.6-MariaDB\x00" + b"\x01\x00\x00\x00" + b"12345678" + b"\x00"
                   + struct.pack("<H", caps) + b"\x21" + b"\x02\x00" + b"\x00" * 13)
        return lambda conn: conn.sendall(len(payload).to_bytes(3, "little") + b"\x00" + payload)

    assert dbtls.mysql_tls("127.0.0.1", tcp(greeting(0xFFFF))).tls_offered
    assert not dbtls.mysql_tls("127.0.0.1", tcp(greeting(0xFFFF & ~dbtls.CLIENT_SSL))).tls_offered


# ---- clinical ----------------------------------------------------------------------------------


def test_hl7_mllp_ack(tcp) -> None:  # type: ignore[no-untyped-def]
    def session(conn: socket.socket) -> None:
        data = conn.recv(65536)
        assert data.startswith(clinical.SB) and data.endswith(clinical.EB + clinical.CR)
        msh = data[1:].split(b"\r")[0].decode().split("|")
        assert msh[8] == "ADT^A08^ADT_A01" and msh[10] == "T"  # processing id: training
        ack = f"MSH|^~\\&|HIS|H|IHCONFORM|IHCONFORM|20260101||ACK|1|P|2.5\rMSA|AA|{msh[9]}".encode()
        conn.sendall(clinical.SB + ack + clinical.EB + clinical.CR)

    a = clinical.hl7_mllp("127.0.0.1", tcp(session), timeout=2)
    assert a.ok and a.detail == "ACK MSA-1=AA" and a.tls == ""
    assert clinical.parse_ack(b"MSH|x\rMSA|AE|C1|bad", "C1") == (False, "ACK MSA-1=AE (bad)")
    assert not clinical.parse_ack(b"MSA|AA|OTHER", "C1")[0]


def test_dicom_c_echo_against_pynetdicom() -> None:
    pynetdicom = pytest.importorskip("pynetdicom")
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    ae = pynetdicom.AE(ae_title="SPEC-PACS")
    ae.add_supported_context(Verification)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ae.start_server(("127.0.0.1", port), block=False)
    try:
        a = clinical.dicom_echo("127.0.0.1", port, "SPEC-PACS", timeout=5)
        assert a.ok and a.detail == "C-ECHO status 0x0000"
    finally:
        server.shutdown()


# ---- exposure ------------------------------------------------------------------------------------


def test_nmap_arguments_and_result_reading() -> None:
    assert exposure.nmap_arguments("top:100").endswith("--top-ports 100")
    assert exposure.nmap_arguments("1-65535").startswith("-sT -Pn -n")
    result = {"scan": {"198.51.100.10": {"tcp": {22: {"state": "open", "name": "ssh"},
                                                 5432: {"state": "open", "name": "postgresql"},
                                                 3306: {"state": "filtered", "name": "mysql"}}}}}
    scan = exposure._from_result(result, exposure.ExposureScan("x"), ["198.51.100.10", "198.51.100.20"])
    # an address nmap did not report is not "no open port"
    assert scan.open_tcp == {"198.51.100.10": [22, 5432]}
    assert scan.unscanned == {"198.51.100.20": "not in nmap's results"}
    assert scan.services["198.51.100.10"][5432] == "postgresql"


def test_a_host_nmap_gave_up_on_is_not_scanned_rather_than_clean() -> None:
    """Recorded on the lab (scan01, ``--host-timeout 3s -p 1-65535``): 198.51.100.130 timed out,
    127.0.0.1 finished with every port closed. python-nmap shows both with no port at all; only
    the XML's ``timedout`` tells them apart. Reading the first as clean was a false pass."""
    pytest.importorskip("nmap")
    import nmap

    xml = (Path(__file__).resolve().parents[1] / "fixtures" / "nmap" / "timedout.xml").read_text()
    result = nmap.PortScanner.__new__(nmap.PortScanner).analyse_nmap_xml_scan(nmap_xml_output=xml)
    assert "tcp" not in result["scan"]["198.51.100.130"] and "tcp" not in result["scan"]["127.0.0.1"]
    scan = exposure._from_result(result, exposure.ExposureScan("x", xml=xml), ["198.51.100.130", "127.0.0.1"])
    assert scan.open_tcp == {"127.0.0.1": []}
    assert "--host-timeout" in scan.unscanned["198.51.100.130"]


def test_nmap_on_loopback(tcp) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("nmap")
    import shutil

    if shutil.which("nmap") is None:
        pytest.skip("nmap not installed")
    port = tcp(lambda conn: None)
    scan = exposure.scan_local(["127.0.0.1"], str(port), timeout=60)
    assert scan.open_tcp["127.0.0.1"] == [port] and "<nmaprun" in scan.xml


def test_a_vantage_inside_the_server_network_is_not_outside() -> None:
    from ihconform.inventory import Host, Institution, Inventory, SystemUnderTest, Vantage
    from ihconform.probes.exposure import vantage_inside

    def inv(nets: tuple[str, ...]) -> Inventory:
        return Inventory(institution=Institution(name="x"), system=SystemUnderTest(name="y"),
                         hosts=(Host(id="h", address="127.0.0.1"),), vantage=Vantage(server_networks=nets))

    assert vantage_inside(inv(("127.0.0.0/8",))) == ["127.0.0.1"]
    assert vantage_inside(inv(("198.51.100.0/25",))) == []
