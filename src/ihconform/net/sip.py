"""SIP OPTIONS (RFC 3261 11) over UDP, TCP or TLS: is the signalling server answering?

Why OPTIONS: it is the request SIP defines for capability queries and keep-alives; it creates
no dialog and no registration, so it is safe to send to a production proxy. Any final response
(2xx, or 4xx/5xx from a proxy that answers but rejects unauthenticated OPTIONS) proves a live
SIP stack; the probe reports the status line and Server header, and the judge decides which
codes count (profile parameter).
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

from ihconform.errors import FactUnavailable


@dataclass(frozen=True)
class SipAnswer:
    status: int
    reason: str
    server: str
    seconds: float
    tls_version: str = ""


def options_request(address: str, port: int, transport: str, local: tuple[str, int]) -> bytes:
    branch = "z9hG4bK" + os.urandom(8).hex()
    tag = os.urandom(4).hex()
    call_id = os.urandom(8).hex() + "@ihconform"
    via = {"udp": "UDP", "tcp": "TCP", "tls": "TLS"}[transport]
    scheme = "sips" if transport == "tls" else "sip"
    host = f"[{address}]" if ":" in address else address
    lhost = f"[{local[0]}]" if ":" in local[0] else local[0]
    lines = [
        f"OPTIONS {scheme}:{host}:{port} SIP/2.0",
        f"Via: SIP/2.0/{via} {lhost}:{local[1]};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <{scheme}:ihconform@{lhost}>;tag={tag}",
        f"To: <{scheme}:{host}:{port}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        f"Contact: <{scheme}:ihconform@{lhost}:{local[1]}>",
        "Accept: application/sdp",
        "User-Agent: ihconform",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_response(data: bytes) -> tuple[int, str, str]:
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("SIP/2.0") or not parts[1].isdigit():
        raise ValueError(f"not a SIP response: {lines[0][:80]!r}")
    server = ""
    for ln in lines[1:]:
        name, _, value = ln.partition(":")
        if name.strip().lower() in ("server", "user-agent") and not server:
            server = value.strip()
    return int(parts[1]), parts[2] if len(parts) > 2 else "", server


def options(address: str, port: int, transport: str = "udp", timeout: float = 3.0,
            ca_file: Path | None = None, server_name: str = "") -> SipAnswer:
    """Send one OPTIONS and return the first final response (1xx are skipped)."""
    if transport not in ("udp", "tcp", "tls"):
        raise ValueError(f"SIP transport {transport!r}")
    t0 = time.monotonic()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    tls_version = ""
    try:
        if transport == "udp":
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.settimeout(timeout)
            sock.connect((address, port))
        else:
            sock = socket.create_connection((address, port), timeout=timeout)
            if transport == "tls":
                ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
                sock = ctx.wrap_socket(sock, server_hostname=server_name or address)
                tls_version = sock.version() or ""
    except (OSError, ssl.SSLError) as exc:
        raise FactUnavailable(f"SIP/{transport.upper()} {address}:{port}: {exc}") from exc
    with sock:
        msg = options_request(address, port, transport, sock.getsockname()[:2])
        data = b""
        attempts = 3 if transport == "udp" else 1
        for attempt in range(attempts):
            try:
                if attempt == 0 or transport == "udp":
                    sock.send(msg)
                while True:
                    while b"\r\n\r\n" in data:  # every complete head received so far
                        status, reason, server = parse_response(data)
                        if status >= 200:
                            return SipAnswer(status, reason, server, round(time.monotonic() - t0, 4), tls_version)
                        data = data.split(b"\r\n\r\n", 1)[1] if transport != "udp" else b""  # 1xx: skip
                    chunk = sock.recv(65535)
                    if not chunk:
                        raise FactUnavailable(f"SIP/{transport.upper()} {address}:{port} closed without answer")
                    data = chunk if transport == "udp" else data + chunk
            except TimeoutError:
                continue
            except (ConnectionRefusedError, ValueError) as exc:
                raise FactUnavailable(f"SIP/{transport.upper()} {address}:{port}: {exc}") from exc
    raise FactUnavailable(f"SIP/{transport.upper()} {address}:{port}: no answer within "
                          f"{attempts} x {timeout:.0f} s")
