"""TLS on database connections, asked for from the network side, without credentials.

Why: the database engineer's ``db.tls`` reads the server's settings from inside the host; an
assessor also wants to see what a client on the network is offered. Both wire protocols tell
that before any authentication:

- PostgreSQL: an ``SSLRequest`` (length 8, code 80877103) is answered with one byte, ``S`` (TLS
  available) or ``N``. A plaintext ``StartupMessage`` for a probe user then shows whether
  plaintext is refused: an ``E`` naming "no encryption" means pg_hba only has ``hostssl``
  entries for us; an ``R`` (authentication request) means plaintext would be accepted. The
  probe closes right after, so it never authenticates (the server may log one failed start-up).
- MySQL/MariaDB: the server speaks first; the initial handshake's capability flags carry
  ``CLIENT_SSL`` (0x0800) when TLS is available. Whether plaintext is *refused*
  (``require_secure_transport``) is only visible after authenticating, so it is left to
  ``db.tls``.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from ihconform.errors import FactUnavailable

SSL_REQUEST_CODE = 80877103
CLIENT_SSL = 0x0800
PROBE_USER = "ihconform_tls_probe"


@dataclass(frozen=True)
class DbTls:
    engine: str
    tls_offered: bool
    plaintext_refused: bool | None  # None: cannot be told from the network
    detail: str


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"server closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def postgres_tls(address: str, port: int, timeout: float = 5.0) -> DbTls:
    try:
        with socket.create_connection((address, port), timeout=timeout) as s:
            s.sendall(struct.pack("!II", 8, SSL_REQUEST_CODE))
            answer = _recv_exact(s, 1)
    except OSError as exc:
        raise FactUnavailable(f"PostgreSQL {address}:{port}: {exc}") from exc
    if answer not in (b"S", b"N"):
        raise FactUnavailable(f"PostgreSQL {address}:{port}: unexpected answer {answer!r} to SSLRequest")
    refused, detail = _postgres_plaintext(address, port, timeout)
    return DbTls("postgresql", answer == b"S", refused, f"SSLRequest -> {answer.decode()}; {detail}")


def _postgres_plaintext(address: str, port: int, timeout: float) -> tuple[bool | None, str]:
    params = b"user\x00" + PROBE_USER.encode() + b"\x00database\x00" + PROBE_USER.encode() + b"\x00\x00"
    msg = struct.pack("!II", 8 + len(params), 196608) + params
    try:
        with socket.create_connection((address, port), timeout=timeout) as s:
            s.sendall(msg)
            kind = _recv_exact(s, 1)
            length = struct.unpack("!I", _recv_exact(s, 4))[0]
            body = _recv_exact(s, min(length - 4, 4096))
            if kind == b"R":  # the server waits for credentials: end politely, unauthenticated
                s.sendall(b"X" + struct.pack("!I", 4))
    except OSError as exc:
        raise FactUnavailable(f"PostgreSQL {address}:{port} plaintext start-up: {exc}") from exc
    if kind == b"R":
        return False, "plaintext start-up answered with an authentication request (plaintext accepted)"
    if kind == b"E":
        fields = {f[:1]: f[1:].decode("utf-8", "replace") for f in body.split(b"\x00") if f}
        text = fields.get(b"M", "")
        if "no encryption" in text:
            return True, f"plaintext start-up refused: {text}"
        return None, f"plaintext start-up error (not about encryption): {text}"
    return None, f"plaintext start-up answered {kind!r}"


def mysql_tls(address: str, port: int, timeout: float = 5.0) -> DbTls:
    try:
        with socket.create_connection((address, port), timeout=timeout) as s:
            head = _recv_exact(s, 4)
            length = int.from_bytes(head[:3], "little")
            payload = _recv_exact(s, length)
    except OSError as exc:
        raise FactUnavailable(f"MySQL {address}:{port}: {exc}") from exc
    if not payload or payload[0] == 0xFF:
        msg = payload[3:].decode("utf-8", "replace") if payload else "empty"
        raise FactUnavailable(f"MySQL {address}:{port} refused the connection: {msg}")
    if payload[0] != 10:
        raise FactUnavailable(f"MySQL {address}:{port}: handshake protocol {payload[0]} is not 10")
    end = payload.index(b"\x00", 1)
    version = payload[1:end].decode("ascii", "replace")
    pos = end + 1 + 4 + 8 + 1
    caps = struct.unpack("<H", payload[pos:pos + 2])[0]
    offered = bool(caps & CLIENT_SSL)
    return DbTls("mysql", offered, None,
                 f"server {version}; CLIENT_SSL {'set' if offered else 'not set'} in the handshake")


def database_tls(engine: str, address: str, port: int, timeout: float = 5.0) -> DbTls:
    if engine == "postgresql":
        return postgres_tls(address, port, timeout)
    if engine in ("mysql", "mariadb"):
        return mysql_tls(address, port, timeout)
    raise FactUnavailable(f"no network TLS check for {engine} yet")
