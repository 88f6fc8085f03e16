"""STUN binding (RFC 5389) and TURN allocation (RFC 5766) over UDP or TCP, stdlib only.

Why our own client: the check needs one request and the attributes of one answer (the mapped
address, the relayed address, the SOFTWARE banner), and the evidence must show them; a
WebRTC stack would hide exactly that. The TURN allocation uses long-term credentials
(MD5 key, HMAC-SHA1 MESSAGE-INTEGRITY, FINGERPRINT) after the server's 401 with REALM and
NONCE, and is released at once with a Refresh of lifetime 0.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import socket
import struct
import time
import zlib
from dataclasses import dataclass, field

from ihconform.errors import FactUnavailable

MAGIC = 0x2112A442
BINDING, ALLOCATE, REFRESH = 0x0001, 0x0003, 0x0004
SUCCESS, ERROR = 0x0100, 0x0110
A_MAPPED, A_USERNAME, A_MI, A_ERROR, A_UNKNOWN = 0x0001, 0x0006, 0x0008, 0x0009, 0x000A
A_LIFETIME, A_REALM, A_NONCE, A_XOR_RELAYED, A_TRANSPORT = 0x000D, 0x0014, 0x0015, 0x0016, 0x0019
A_XOR_MAPPED, A_SOFTWARE, A_FINGERPRINT = 0x0020, 0x8022, 0x8028
UDP_PROTO = 17


@dataclass
class Message:
    method: int
    cls: int
    txid: bytes
    attrs: list[tuple[int, bytes]] = field(default_factory=list)

    def get(self, t: int) -> bytes | None:
        for at, v in self.attrs:
            if at == t:
                return v
        return None


def _pad(b: bytes) -> bytes:
    return b + b"\x00" * (-len(b) % 4)


def encode(method: int, cls: int, txid: bytes, attrs: list[tuple[int, bytes]],
           key: bytes | None = None, fingerprint: bool = False) -> bytes:
    """Build a message; MESSAGE-INTEGRITY (with ``key``) and FINGERPRINT come last (RFC 5389 15.4/15.5)."""
    mtype = (method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2)
    mtype |= ((cls & 0x1) << 4) | ((cls & 0x2) << 7)
    body = b"".join(struct.pack("!HH", t, len(v)) + _pad(v) for t, v in attrs)

    def header(extra: int) -> bytes:
        return struct.pack("!HHI", mtype, len(body) + extra, MAGIC) + txid

    if key is not None:
        mac = hmac.new(key, header(24) + body, hashlib.sha1).digest()
        body += struct.pack("!HH", A_MI, 20) + mac
    if fingerprint:
        crc = (zlib.crc32(header(8) + body) ^ 0x5354554E) & 0xFFFFFFFF
        body += struct.pack("!HHI", A_FINGERPRINT, 4, crc)
    return header(0) + body


def decode(data: bytes) -> Message:
    if len(data) < 20:
        raise ValueError("STUN message shorter than its header")
    mtype, length, magic = struct.unpack("!HHI", data[:8])
    if magic != MAGIC or mtype & 0xC000:
        raise ValueError("not a STUN message (magic cookie)")
    method = (mtype & 0x000F) | ((mtype & 0x00E0) >> 1) | ((mtype & 0x3E00) >> 2)
    cls = ((mtype & 0x0010) >> 4) | ((mtype & 0x0100) >> 7)
    msg = Message(method, cls, data[8:20])
    pos, end = 20, min(len(data), 20 + length)
    while pos + 4 <= end:
        t, n = struct.unpack("!HH", data[pos:pos + 4])
        msg.attrs.append((t, data[pos + 4:pos + 4 + n]))
        pos += 4 + n + (-n % 4)
    return msg


def xor_address(value: bytes, txid: bytes) -> str:
    family, xport = struct.unpack("!xBH", value[:4])
    port = xport ^ (MAGIC >> 16)
    if family == 1:
        raw = struct.unpack("!I", value[4:8])[0] ^ MAGIC
        return f"{ipaddress.IPv4Address(raw)}:{port}"
    mask = struct.pack("!I", MAGIC) + txid
    raw6 = bytes(a ^ b for a, b in zip(value[4:20], mask, strict=True))
    return f"[{ipaddress.IPv6Address(raw6)}]:{port}"


class _Conn:
    """One UDP or TCP conversation with a STUN/TURN server (TCP frames are self-delimiting)."""

    def __init__(self, address: str, port: int, transport: str, timeout: float) -> None:
        self.transport = transport
        try:
            if transport == "udp":
                self.sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM)
                self.sock.settimeout(timeout)
                self.sock.connect((address, port))
            else:
                self.sock = socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            raise FactUnavailable(f"cannot reach {transport.upper()} {address}:{port}: {exc}") from exc
        self.retries = 3 if transport == "udp" else 1

    def ask(self, msg: bytes) -> Message:
        last: Exception | None = None
        for _ in range(self.retries):  # UDP: RFC 5389 7.2.1 retransmits; we bound it to 3
            try:
                self.sock.send(msg)
                if self.transport == "udp":
                    return decode(self.sock.recv(4096))
                head = self._exact(20)
                return decode(head + self._exact(struct.unpack("!H", head[2:4])[0]))
            except (TimeoutError, ConnectionRefusedError) as exc:
                last = exc
        raise FactUnavailable(f"no STUN answer over {self.transport.upper()}: {last or 'timeout'}")

    def _exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise FactUnavailable("the server closed the STUN/TCP connection")
            buf += chunk
        return buf

    def close(self) -> None:
        self.sock.close()


@dataclass(frozen=True)
class StunResult:
    ok: bool
    detail: str
    mapped: str = ""
    relayed: str = ""
    software: str = ""
    seconds: float = 0.0


def _software(m: Message) -> str:
    v = m.get(A_SOFTWARE)
    return v.decode("utf-8", "replace") if v else ""


def _error(m: Message) -> str:
    v = m.get(A_ERROR)
    if not v or len(v) < 4:
        return "error response without ERROR-CODE"
    return f"{(v[2] & 0x7) * 100 + v[3]} {v[4:].decode('utf-8', 'replace')}"


def binding(address: str, port: int, transport: str = "udp", timeout: float = 3.0) -> StunResult:
    """RFC 5389 Binding request; success needs a (XOR-)MAPPED-ADDRESS in the answer."""
    t0 = time.monotonic()
    conn = _Conn(address, port, transport, timeout)
    try:
        txid = os.urandom(12)
        resp = conn.ask(encode(BINDING, 0, txid, [], fingerprint=True))
    finally:
        conn.close()
    secs = round(time.monotonic() - t0, 4)
    if resp.txid != txid:
        return StunResult(False, "answer carries another transaction id", seconds=secs)
    if resp.cls != 2:
        return StunResult(False, f"binding refused: {_error(resp)}", software=_software(resp), seconds=secs)
    xm = resp.get(A_XOR_MAPPED)
    mapped = xor_address(xm, txid) if xm else ""
    return StunResult(bool(mapped), "binding success" if mapped else "binding success without a mapped address",
                      mapped=mapped, software=_software(resp), seconds=secs)


def allocate(address: str, port: int, username: str, password: str, transport: str = "udp",
             timeout: float = 3.0) -> StunResult:
    """RFC 5766 Allocate with long-term credentials; the allocation is released at once."""
    t0 = time.monotonic()
    conn = _Conn(address, port, transport, timeout)
    try:
        req_attrs = [(A_TRANSPORT, bytes([UDP_PROTO, 0, 0, 0]))]
        first = conn.ask(encode(ALLOCATE, 0, os.urandom(12), req_attrs, fingerprint=True))
        if first.cls == 2:
            return _allocated(conn, first, None, [], t0, "allocation without authentication (open relay)")
        realm, nonce = first.get(A_REALM), first.get(A_NONCE)
        if realm is None or nonce is None:
            return StunResult(False, f"first Allocate answered {_error(first)} without REALM/NONCE",
                              software=_software(first), seconds=round(time.monotonic() - t0, 4))
        key = hashlib.md5(f"{username}:{realm.decode()}:{password}".encode(),  # RFC 5389 15.4 long-term key
                          usedforsecurity=False).digest()
        auth = [(A_USERNAME, username.encode()), (A_REALM, realm), (A_NONCE, nonce)]
        second = conn.ask(encode(ALLOCATE, 0, os.urandom(12), req_attrs + auth, key=key, fingerprint=True))
        if second.cls != 2:
            return StunResult(False, f"authenticated Allocate refused: {_error(second)}",
                              software=_software(second), seconds=round(time.monotonic() - t0, 4))
        return _allocated(conn, second, key, auth, t0, "allocation with long-term credentials")
    finally:
        conn.close()


def _allocated(conn: _Conn, resp: Message, key: bytes | None, auth: list[tuple[int, bytes]],
               t0: float, what: str) -> StunResult:
    relayed_raw, mapped_raw = resp.get(A_XOR_RELAYED), resp.get(A_XOR_MAPPED)
    relayed = xor_address(relayed_raw, resp.txid) if relayed_raw else ""
    mapped = xor_address(mapped_raw, resp.txid) if mapped_raw else ""
    release = conn.ask(encode(REFRESH, 0, os.urandom(12), [(A_LIFETIME, struct.pack("!I", 0)), *auth],
                              key=key, fingerprint=True))
    released = "released" if release.cls == 2 else f"release failed: {_error(release)}"
    return StunResult(bool(relayed), f"{what}; relayed {relayed or 'missing'}; {released}", mapped=mapped,
                      relayed=relayed, software=_software(resp), seconds=round(time.monotonic() - t0, 4))
