"""国密 handshake probes: TLCP (GB/T 38636-2020, record version 0x0101) and the TLS 1.3 SM
suites of RFC 8998, with our own ClientHello, since neither sslyze nor testssl.sh speaks them.

Why only the first flight: a probe needs to know what the server *offers*, not to finish a
handshake. A TLCP ServerHello that echoes version 0x0101 and our suite proves support (the
ECDHE suites could not complete anyway without a client SM2 double certificate). For RFC 8998
we send an *empty* ``key_share`` with ``supported_groups = [curveSM2 (41)]``: a server that
supports the suite must answer with a HelloRetryRequest naming the suite and group, so no SM2
key generation is needed on our side. An alert, a TLS ServerHello with another version or
suite, or a closed connection mean "not offered", each reported as such.

Code points (docs/network.md, notes §13.2): TLCP ECDHE_SM4_CBC_SM3 0xE011, ECC_SM4_CBC_SM3
0xE013, ECDHE_SM4_GCM_SM3 0xE051, ECC_SM4_GCM_SM3 0xE053; TLS_SM4_GCM_SM3 0x00C6,
TLS_SM4_CCM_SM3 0x00C7; group curveSM2 0x0029; signature sm2sig_sm3 0x0708.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from ihconform.errors import FactUnavailable

TLCP_VERSION = 0x0101
TLS12, TLS13 = 0x0303, 0x0304
TLCP_SUITES: dict[int, str] = {
    0xE011: "ECDHE_SM4_CBC_SM3", 0xE013: "ECC_SM4_CBC_SM3",
    0xE051: "ECDHE_SM4_GCM_SM3", 0xE053: "ECC_SM4_GCM_SM3",
}
TLS13_SM_SUITES: dict[int, str] = {0x00C6: "TLS_SM4_GCM_SM3", 0x00C7: "TLS_SM4_CCM_SM3"}
CURVE_SM2 = 41
SM2SIG_SM3 = 0x0708
#: RFC 8446 4.1.3: the ServerHello.random of a HelloRetryRequest.
HRR_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()
#: DER of the OIDs that mark SM2 certificates (curve 1.2.156.10197.1.301, SM2-with-SM3 .501).
SM2_CURVE_OID = bytes.fromhex("06082a811ccf5501822d")
SM2_SM3_SIG_OID = bytes.fromhex("06082a811ccf55018375")

ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 40: "handshake_failure",
          47: "illegal_parameter", 50: "decode_error", 70: "protocol_version", 71: "insufficient_security",
          80: "internal_error", 86: "inappropriate_fallback", 109: "missing_extension",
          110: "unsupported_extension", 112: "unrecognized_name"}


# ---- building ClientHellos ---------------------------------------------------------------------


def _u16(n: int) -> bytes:
    return struct.pack("!H", n)


def _u24(n: int) -> bytes:
    return struct.pack("!I", n)[1:]


def _record(content_type: int, version: int, body: bytes) -> bytes:
    return struct.pack("!BHH", content_type, version, len(body)) + body


def _handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + _u24(len(body)) + body


def _ext(ext_type: int, data: bytes) -> bytes:
    return _u16(ext_type) + _u16(len(data)) + data


def tlcp_client_hello(suites: list[int], random: bytes | None = None) -> bytes:
    """A TLCP ClientHello record: version 0x0101 in record and body, no extensions."""
    rnd = random or os.urandom(32)
    body = (_u16(TLCP_VERSION) + rnd + b"\x00" + _u16(2 * len(suites))
            + b"".join(_u16(s) for s in suites) + b"\x01\x00")
    return _record(22, TLCP_VERSION, _handshake(1, body))


def tls13_sm_client_hello(suites: list[int], server_name: str = "", random: bytes | None = None) -> bytes:
    """A TLS 1.3 ClientHello offering only SM suites, curveSM2, sm2sig_sm3, empty key_share."""
    rnd = random or os.urandom(32)
    exts = [
        _ext(43, b"\x02" + _u16(TLS13)),  # supported_versions
        _ext(10, _u16(2) + _u16(CURVE_SM2)),  # supported_groups
        _ext(13, _u16(2) + _u16(SM2SIG_SM3)),  # signature_algorithms
        _ext(51, _u16(0)),  # key_share: no shares, asking for a HelloRetryRequest
    ]
    if server_name and not _is_ip(server_name):
        name = server_name.encode("idna")
        exts.insert(0, _ext(0, _u16(len(name) + 3) + b"\x00" + _u16(len(name)) + name))
    ext_block = b"".join(exts)
    body = (_u16(TLS12) + rnd + b"\x20" + os.urandom(32) + _u16(2 * len(suites))
            + b"".join(_u16(s) for s in suites) + b"\x01\x00" + _u16(len(ext_block)) + ext_block)
    return _record(22, 0x0301, _handshake(1, body))


def _is_ip(name: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


# ---- parsing the answer ------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerHello:
    version: int  # server_version (legacy_version for TLS 1.3)
    random: bytes
    suite: int
    extensions: dict[int, bytes]
    record_version: int

    @property
    def is_hrr(self) -> bool:
        return self.random == HRR_RANDOM

    @property
    def selected_version(self) -> int:
        sv = self.extensions.get(43)
        return struct.unpack("!H", sv)[0] if sv is not None and len(sv) == 2 else self.version

    @property
    def key_share_group(self) -> int | None:
        ks = self.extensions.get(51)
        return struct.unpack("!H", ks[:2])[0] if ks is not None and len(ks) >= 2 else None


@dataclass(frozen=True)
class CertInfo:
    size: int
    sm2_key: bool
    sm2_signature: bool
    subject: str


@dataclass
class Answer:
    """What came back for one ClientHello (first flight only)."""

    outcome: str  # server_hello | hello_retry | alert | closed | timeout | garbage
    server_hello: ServerHello | None = None
    alert: tuple[int, int] | None = None
    certificates: list[CertInfo] = field(default_factory=list)
    raw: bytes = b""
    seconds: float = 0.0

    def describe(self) -> str:
        if self.alert is not None:
            return f"alert {ALERTS.get(self.alert[1], self.alert[1])} ({self.alert[1]})"
        if self.server_hello is not None:
            sh = self.server_hello
            kind = "HelloRetryRequest" if sh.is_hrr else "ServerHello"
            return f"{kind} version 0x{sh.selected_version:04x} suite 0x{sh.suite:04x}"
        return self.outcome


def _parse_server_hello(body: bytes, record_version: int) -> ServerHello:
    if len(body) < 38:
        raise ValueError("ServerHello too short")
    version = struct.unpack("!H", body[:2])[0]
    random = body[2:34]
    sid_len = body[34]
    pos = 35 + sid_len
    suite = struct.unpack("!H", body[pos:pos + 2])[0]
    pos += 3  # suite + compression
    exts: dict[int, bytes] = {}
    if pos + 2 <= len(body):
        total = struct.unpack("!H", body[pos:pos + 2])[0]
        pos += 2
        end = min(len(body), pos + total)
        while pos + 4 <= end:
            et, el = struct.unpack("!HH", body[pos:pos + 4])
            exts[et] = body[pos + 4:pos + 4 + el]
            pos += 4 + el
    return ServerHello(version, random, suite, exts, record_version)


def _parse_certificates(body: bytes) -> list[CertInfo]:
    """TLCP/TLS 1.2 Certificate body: 3-byte list length, then 3-byte length + DER each."""
    certs: list[CertInfo] = []
    total = int.from_bytes(body[:3], "big")
    pos, end = 3, min(len(body), 3 + total)
    while pos + 3 <= end:
        n = int.from_bytes(body[pos:pos + 3], "big")
        der = body[pos + 3:pos + 3 + n]
        pos += 3 + n
        certs.append(CertInfo(len(der), SM2_CURVE_OID in der, SM2_SM3_SIG_OID in der, _subject(der)))
    return certs


def _subject(der: bytes) -> str:
    try:
        from cryptography import x509

        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except (ValueError, ImportError) as exc:  # SM2 parameters can defeat the parser: say so
        return f"(unparsed: {exc.__class__.__name__})"


def parse_answer(data: bytes, *, closed: bool, timed_out: bool) -> Answer:
    """Walk the records received; stop at the first ServerHello / alert, keep certificates."""
    ans = Answer(outcome="timeout" if timed_out else "closed" if closed else "garbage", raw=data[:16384])
    pos = 0
    hs_buf = b""
    rec_version = 0
    while pos + 5 <= len(data):
        ctype, rec_version, length = struct.unpack("!BHH", data[pos:pos + 5])
        if ctype not in (20, 21, 22, 23):
            ans.outcome = "garbage"  # not TLS records at all (e.g. an HTTP error page)
            return ans
        frag = data[pos + 5:pos + 5 + length]
        if len(frag) < length:
            break
        pos += 5 + length
        if ctype == 21 and len(frag) >= 2:
            ans.alert = (frag[0], frag[1])
            ans.outcome = "alert"
            return ans
        if ctype != 22:
            ans.outcome = "garbage"
            return ans
        hs_buf += frag
        while len(hs_buf) >= 4:
            mtype = hs_buf[0]
            mlen = int.from_bytes(hs_buf[1:4], "big")
            if len(hs_buf) < 4 + mlen:
                break
            body, hs_buf = hs_buf[4:4 + mlen], hs_buf[4 + mlen:]
            if mtype == 2:
                try:
                    ans.server_hello = _parse_server_hello(body, rec_version)
                except (ValueError, struct.error):
                    ans.outcome = "garbage"
                    return ans
                ans.outcome = "hello_retry" if ans.server_hello.is_hrr else "server_hello"
                if ans.server_hello.is_hrr or ans.server_hello.selected_version == TLS13:
                    return ans  # TLS 1.3: the rest is encrypted
            elif mtype == 11:
                ans.certificates = _parse_certificates(body)
            elif mtype == 14:  # ServerHelloDone
                return ans
    return ans


def exchange(address: str, port: int, hello: bytes, timeout: float = 5.0) -> Answer:
    """Send one ClientHello and read the first flight until ServerHelloDone, an alert, the
    peer closing, or ``timeout``. Raises FactUnavailable if the TCP connection fails."""
    t0 = time.monotonic()
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        raise FactUnavailable(f"cannot connect to {address}:{port}: {exc}") from exc
    data = b""
    closed = timed_out = False
    with sock:
        sock.sendall(hello)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                timed_out = True
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
            partial = parse_answer(data, closed=False, timed_out=False)
            if partial.outcome in ("alert", "hello_retry", "garbage") or _flight_done(data):
                break
            if partial.server_hello is not None and partial.server_hello.selected_version == TLS13:
                break
            if len(data) > 262144:
                break
    ans = parse_answer(data, closed=closed, timed_out=timed_out)
    ans.seconds = round(time.monotonic() - t0, 4)
    return ans


def _flight_done(data: bytes) -> bool:
    """Whether a ServerHelloDone (handshake type 14) has arrived (cheap scan of the records)."""
    pos, buf = 0, b""
    while pos + 5 <= len(data):
        length = struct.unpack("!H", data[pos + 3:pos + 5])[0]
        if data[pos] == 22:
            buf += data[pos + 5:pos + 5 + length]
        pos += 5 + length
    i = 0
    while i + 4 <= len(buf):
        if buf[i] == 14:
            return True
        i += 4 + int.from_bytes(buf[i + 1:i + 4], "big")
    return False


# ---- the probe ---------------------------------------------------------------------------------


@dataclass
class GmReport:
    """Which SM suites a server offers, with what each attempt got back."""

    target: str
    tlcp: dict[str, bool] = field(default_factory=dict)
    tls13_sm: dict[str, bool] = field(default_factory=dict)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    certificates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def offered(self) -> list[str]:
        return [f"TLCP {n}" for n, ok in self.tlcp.items() if ok] + \
               [f"TLS1.3 {n}" for n, ok in self.tls13_sm.items() if ok]


def probe_gm(address: str, port: int, server_name: str = "", *, timeout: float = 5.0,
             tlcp_suites: dict[int, str] | None = None,
             tls13_suites: dict[int, str] | None = None) -> GmReport:
    """One ClientHello per suite, so each suite's answer stands alone in the evidence."""
    rep = GmReport(target=f"{server_name or address}:{port}")
    for code, name in (tlcp_suites or TLCP_SUITES).items():
        ans = exchange(address, port, tlcp_client_hello([code]), timeout)
        sh = ans.server_hello
        ok = sh is not None and sh.version == TLCP_VERSION and sh.suite == code
        rep.tlcp[name] = ok
        rep.attempts.append({"protocol": "TLCP", "suite": f"0x{code:04X}", "name": name, "offered": ok,
                             "answer": ans.describe(), "seconds": ans.seconds})
        if ok and ans.certificates and not rep.certificates:
            rep.certificates = [{"subject": c.subject, "der_bytes": c.size, "sm2_key": c.sm2_key,
                                 "sm2_sm3_signature": c.sm2_signature} for c in ans.certificates]
    for code, name in (tls13_suites or TLS13_SM_SUITES).items():
        ans = exchange(address, port, tls13_sm_client_hello([code], server_name), timeout)
        sh = ans.server_hello
        ok = (sh is not None and sh.selected_version == TLS13 and sh.suite == code
              and (not sh.is_hrr or sh.key_share_group == CURVE_SM2))
        rep.tls13_sm[name] = ok
        rep.attempts.append({"protocol": "TLS1.3", "suite": f"0x{code:04X}", "name": name, "offered": ok,
                             "answer": ans.describe(), "seconds": ans.seconds})
    return rep


def main(argv: list[str] | None = None) -> int:
    """``python -m ihconform.net.tlcp ADDRESS PORT [SNI]``: print what the server offers."""
    import json
    import sys

    args = argv if argv is not None else sys.argv[1:]
    if len(args) not in (2, 3):
        print("usage: python -m ihconform.net.tlcp ADDRESS PORT [SERVER_NAME]", file=sys.stderr)
        return 2
    rep = probe_gm(args[0], int(args[1]), args[2] if len(args) == 3 else "")
    print(json.dumps({"target": rep.target, "offered": rep.offered, "attempts": rep.attempts,
                      "certificates": rep.certificates}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
