"""What answers on a network device's management address, seen from the harness: read-only and bounded.

Why: on a Linux-based device (FRR, an nftables firewall) the cleartext management services are
not statements of the routing/filtering configuration: FRR's daemons open their vty over telnet
(zebra 2601, vrrpd 2619 …) unless started bound to the loopback, and an SNMP agent (net-snmp
``snmpd``) answers whatever communities its own file grants. So the harness looks, as an
assessor does with a port scan and one ``snmpget``: one TCP connect per port (and the first bytes
the service sends, which name it), and one SNMP GET of ``sysDescr.0`` per community. Nothing is
logged in to and nothing is written: a connect is closed after the greeting, the GET reads one
public object.

Every port is tried at once (threads), each bounded by ``timeout``; an SNMP GET is sent twice at
most. An error other than "refused" or "no answer" (no route, the address not ours) is recorded
in ``errors``: the probe then cannot say the service is off and reports 检查错误.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ihconform.text import printable

#: SNMPv2-MIB::sysDescr.0, the object every agent exposes
SYSDESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)


@dataclass(frozen=True)
class PortAnswer:
    port: int
    state: str  # open / closed (refused) / filtered (no answer within the time-out) / error
    banner: str = ""  # the first bytes an open service sent (telnet options stripped)
    error: str = ""


@dataclass(frozen=True)
class MgmtObservation:
    """The device's management address as the harness found it."""

    address: str
    ports: tuple[PortAnswer, ...] = ()
    snmp: dict[str, str | None] = field(default_factory=dict)  # community -> sysDescr, or None: no answer
    errors: tuple[str, ...] = ()
    seconds: float = 0.0

    def open_ports(self, wanted: tuple[int, ...]) -> list[PortAnswer]:
        return [p for p in self.ports if p.port in wanted and p.state == "open"]

    def as_json(self) -> dict[str, object]:
        return {"address": self.address, "seconds": round(self.seconds, 2),
                "tcp": {str(p.port): {"state": p.state, "banner": p.banner, "error": p.error} for p in self.ports},
                "snmp_v2c_get_sysDescr": {c: v for c, v in self.snmp.items()}, "errors": list(self.errors)}


def _printable(data: bytes) -> str:
    """The service's greeting without telnet option negotiation (IAC sequences), on one line and
    made safe like every target text (a banner may carry terminal escapes)."""
    out = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        if b == 255 and i + 1 < len(data):  # IAC: a 3-byte option (WILL/WONT/DO/DONT) or 2-byte command
            i += 3 if data[i + 1] in (251, 252, 253, 254) else 2
            continue
        out.append(b)
        i += 1
    return printable(out.decode("utf-8", "replace").strip()[:200], lines=False)


def tcp_answer(address: str, port: int, timeout: float) -> PortAnswer:
    """One connect; on success, what the service says first (up to 512 bytes, ``timeout`` s)."""
    try:
        s = socket.create_connection((address, port), timeout=timeout)
    except ConnectionRefusedError:
        return PortAnswer(port, "closed")
    except TimeoutError:
        return PortAnswer(port, "filtered")
    except OSError as exc:  # no route, host unreachable: nothing can be said about the port
        return PortAnswer(port, "error", error=f"{type(exc).__name__}: {exc}")
    with s:
        s.settimeout(timeout)
        data = b""
        try:
            while len(data) < 512:
                piece = s.recv(512 - len(data))
                if not piece:
                    break
                data += piece
                if b"\n" in data and not data.endswith(b"\xff"):
                    break
        except (TimeoutError, OSError):
            pass
    return PortAnswer(port, "open", _printable(data))


# ---- SNMP v2c GET (BER, RFC 3416), enough for one object ------------------------------------


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _len(len(body)) + body


def _int(v: int) -> bytes:
    return _tlv(0x02, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def _oid(oid: tuple[int, ...]) -> bytes:
    body = bytearray([oid[0] * 40 + oid[1]])
    for n in oid[2:]:
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        body += bytes(reversed(chunk))
    return _tlv(0x06, bytes(body))


def get_request(community: str, request_id: int, oid: tuple[int, ...] = SYSDESCR) -> bytes:
    """An SNMPv2c GetRequest for one object."""
    varbind = _tlv(0x30, _oid(oid) + b"\x05\x00")
    pdu = _tlv(0xA0, _int(request_id) + _int(0) + _int(0) + _tlv(0x30, varbind))
    return _tlv(0x30, _int(1) + _tlv(0x04, community.encode()) + pdu)


def _read(data: bytes, i: int) -> tuple[int, bytes, int]:
    """(tag, value, index after it) of the TLV at ``data[i]``."""
    tag, n = data[i], data[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(data[i:i + k], "big")
        i += k
    return tag, data[i:i + n], i + n


def parse_response(data: bytes, request_id: int) -> str | None:
    """The value of the one object in a GetResponse to ``request_id`` (text), or None when the
    datagram is not that response or carries an error."""
    try:
        _, msg, _ = _read(data, 0)
        _, _version, i = _read(msg, 0)
        _, _community, i = _read(msg, i)
        tag, pdu, _ = _read(msg, i)
        if tag != 0xA2:
            return None
        _, rid, j = _read(pdu, 0)
        _, status, j = _read(pdu, j)
        _, _index, j = _read(pdu, j)
        if int.from_bytes(rid, "big", signed=True) != request_id or int.from_bytes(status, "big"):
            return None
        _, vbl, _ = _read(pdu, j)
        _, vb, _ = _read(vbl, 0)
        _, _name, k = _read(vb, 0)
        vtag, value, _ = _read(vb, k)
    except IndexError:
        return None
    if vtag in (0x80, 0x81, 0x82):  # noSuchObject / noSuchInstance / endOfMibView: it answered
        return "(no such object)"
    return value.decode("utf-8", "replace")


def _ask(address: str, port: int, timeout: float, tries: int,
         attempt: Callable[[], tuple[bytes, Callable[[bytes], str | None]]]) -> str | None:
    """One SNMP exchange over UDP: ``attempt()`` gives a request (fresh ids each try) and the
    reader of its answer; datagrams that are not the answer are skipped until ``timeout``.
    None when nothing answers (or ICMP says no agent listens)."""
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        for _ in range(tries):
            request, read = attempt()
            s.sendto(request, (address, port))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    data, _peer = s.recvfrom(65535)
                except TimeoutError:
                    break
                except ConnectionRefusedError:  # ICMP port unreachable: no agent at all
                    return None
                got = read(data)
                if got is not None:
                    return got
    return None


def _fresh_id() -> int:
    return secrets.randbelow(2**31 - 1) + 1


def snmp_get(address: str, community: str, timeout: float, tries: int = 2, port: int = 161) -> str | None:
    """sysDescr.0 with ``community`` (SNMPv2c); None when the agent does not answer (an agent
    answers nothing at all to a community it does not grant)."""
    def attempt() -> tuple[bytes, Callable[[bytes], str | None]]:
        rid = _fresh_id()
        return get_request(community, rid), lambda data: parse_response(data, rid)
    return _ask(address, port, timeout, tries, attempt)


def observe(address: str, tcp_ports: tuple[int, ...], communities: tuple[str, ...],
            timeout: float = 2.0, snmp_timeout: float = 1.0) -> MgmtObservation:
    """Every port in ``tcp_ports`` connected to and one GET per community, all at once: bounded
    by ``timeout`` (a filtered port) or twice ``snmp_timeout`` (an agent that does not answer)."""
    t0 = time.monotonic()

    def get(c: str) -> tuple[str, str | None, str]:
        try:
            return c, snmp_get(address, c, snmp_timeout), ""
        except OSError as exc:
            return c, None, f"snmp {c!r}: {type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(max_workers=max(1, min(32, len(tcp_ports) + len(communities)))) as pool:
        gets = [pool.submit(get, c) for c in communities]
        ports = tuple(pool.map(lambda p: tcp_answer(address, p, timeout), tcp_ports))
        answers = [g.result() for g in gets]
    errors = [f"tcp/{p.port}: {p.error}" for p in ports if p.state == "error"] + [e for _, _, e in answers if e]
    return MgmtObservation(address, ports, {c: value for c, value, _ in answers}, tuple(errors),
                           time.monotonic() - t0)


# ---- SNMPv3 discovery (RFC 3414 §4): does an SNMPv3 agent answer, and with which engine ID -----


def discovery_request(msg_id: int, request_id: int) -> bytes:
    """An unauthenticated, reportable GetRequest with no engine ID and no object: the agent's
    reply is a Report carrying its authoritative engine ID (usmStatsUnknownEngineIDs)."""
    header = _tlv(0x30, _int(msg_id) + _int(65507) + _tlv(0x04, b"\x04") + _int(3))
    usm = _tlv(0x30, _tlv(0x04, b"") + _int(0) + _int(0) + _tlv(0x04, b"") + _tlv(0x04, b"") + _tlv(0x04, b""))
    pdu = _tlv(0xA0, _int(request_id) + _int(0) + _int(0) + _tlv(0x30, b""))
    scoped = _tlv(0x30, _tlv(0x04, b"") + _tlv(0x04, b"") + pdu)
    return _tlv(0x30, _int(3) + header + _tlv(0x04, usm) + scoped)


def parse_discovery(data: bytes, msg_id: int) -> str | None:
    """The engine ID (hex) of an SNMPv3 Report answering ``msg_id``, or None."""
    try:
        _, msg, _ = _read(data, 0)
        _, version, i = _read(msg, 0)
        if int.from_bytes(version, "big") != 3:
            return None
        _, header, i = _read(msg, i)
        _, mid, _ = _read(header, 0)
        if int.from_bytes(mid, "big", signed=True) != msg_id:
            return None
        _, usm, i = _read(msg, i)
        _, params, _ = _read(usm, 0)
        _, engine, _ = _read(params, 0)
        tag, scoped, _ = _read(msg, i)
        if tag != 0x30:  # an encrypted scoped PDU is not a discovery report
            return None
        _, _ctx_engine, j = _read(scoped, 0)
        _, _ctx_name, j = _read(scoped, j)
        pdu_tag = scoped[j]
    except IndexError:
        return None
    return engine.hex() if pdu_tag == 0xA8 and engine else None


def snmp_v3_engine(address: str, timeout: float = 1.0, tries: int = 2, port: int = 161) -> str | None:
    """The engine ID of the SNMPv3 agent on ``address`` (one discovery exchange), or None."""
    def attempt() -> tuple[bytes, Callable[[bytes], str | None]]:
        mid, rid = _fresh_id(), _fresh_id()
        return discovery_request(mid, rid), lambda data: parse_discovery(data, mid)
    return _ask(address, port, timeout, tries, attempt)
