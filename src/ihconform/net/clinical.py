"""Clinical interfaces answer in their own protocol: DICOM C-ECHO for PACS, an HL7 v2 ACK
over MLLP for HIS/LIS, an HTTPS health request for FHIR-style APIs.

Why the protocol and not a port check: a listening port says nothing about whether the PACS
accepts associations or the HIS interface engine acknowledges messages; the 附录1 四(四)
requirement is about data exchange. The HL7 message sent is a minimal ``ADT^A08`` with
processing id ``T`` (training) and a control id that names ihconform, so an interface engine
that routes by processing id leaves it out of production flows; the evidence records it.
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ihconform.errors import FactUnavailable

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"


@dataclass(frozen=True)
class ClinicalAnswer:
    ok: bool
    detail: str
    seconds: float
    tls: str = ""  # negotiated TLS version, "" for plaintext
    raw: str = ""


def _tls_context(ca_file: Path | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def dicom_echo(address: str, port: int, ae_title: str, *, calling_ae: str = "IHCONFORM",
               tls: bool = False, ca_file: Path | None = None, server_name: str = "",
               timeout: float = 10.0) -> ClinicalAnswer:
    """A Verification (C-ECHO) association; success is status 0x0000."""
    try:
        from pynetdicom import AE
        from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
    except ImportError as exc:
        raise FactUnavailable("pynetdicom is not installed; pip install 'ihconform[clinical]'") from exc
    t0 = time.monotonic()
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    tls_args = (_tls_context(ca_file), server_name or address) if tls else None
    assoc = ae.associate(address, port, ae_title=ae_title or "ANY-SCP", tls_args=tls_args)
    try:
        if not assoc.is_established:
            why = "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "not established"
            raise FactUnavailable(f"DICOM association with {ae_title}@{address}:{port} {why}")
        status = assoc.send_c_echo()
        code = int(status.Status) if status and "Status" in status else None
        tls_version = ""
        if tls:
            sock = getattr(assoc.dul.socket, "socket", None)
            tls_version = (sock.version() or "TLS") if isinstance(sock, ssl.SSLSocket) else "TLS"
    finally:
        if assoc.is_established:
            assoc.release()
    secs = round(time.monotonic() - t0, 4)
    if code is None:
        raise FactUnavailable(f"C-ECHO to {ae_title}@{address}:{port}: no response")
    return ClinicalAnswer(code == 0, f"C-ECHO status 0x{code:04X}", secs, tls_version)


def hl7_message(control_id: str, now: _dt.datetime | None = None) -> bytes:
    ts = (now or _dt.datetime.now(_dt.UTC)).strftime("%Y%m%d%H%M%S")
    segs = [f"MSH|^~\\&|IHCONFORM|IHCONFORM|HIS|HOSPITAL|{ts}||ADT^A08^ADT_A01|{control_id}|T|2.5",
            f"EVN|A08|{ts}", "PID|1||IHCONFORM-PROBE^^^IHCONFORM||PROBE^IHCONFORM"]
    return "\r".join(segs).encode() + CR


def parse_ack(message: bytes, control_id: str) -> tuple[bool, str]:
    """MSA-1 AA/CA = accepted; MSA-2 must echo our control id."""
    segs = {s.split("|", 1)[0]: s.split("|") for s in message.decode("utf-8", "replace").split("\r") if s}
    msa = segs.get("MSA")
    if msa is None:
        raise FactUnavailable(f"HL7 answer has no MSA segment: {message[:120]!r}")
    code = msa[1] if len(msa) > 1 else ""
    echoed = msa[2] if len(msa) > 2 else ""
    if echoed != control_id:
        return False, f"ACK {code} for control id {echoed!r}, not ours ({control_id})"
    return code in ("AA", "CA"), f"ACK MSA-1={code}" + (f" ({msa[3]})" if len(msa) > 3 and msa[3] else "")


def hl7_mllp(address: str, port: int, *, tls: bool = False, ca_file: Path | None = None,
             server_name: str = "", timeout: float = 10.0) -> ClinicalAnswer:
    """Send one MLLP-framed message and read the framed ACK."""
    control_id = "IHC" + os.urandom(6).hex().upper()
    t0 = time.monotonic()
    tls_version = ""
    try:
        sock: socket.socket = socket.create_connection((address, port), timeout=timeout)
        if tls:
            sock = _tls_context(ca_file).wrap_socket(sock, server_hostname=server_name or address)
            tls_version = sock.version() or ""
        with sock:
            sock.sendall(SB + hl7_message(control_id) + EB + CR)
            buf = b""
            while EB + CR not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise FactUnavailable(f"MLLP {address}:{port} closed before an ACK")
                buf += chunk
    except (OSError, ssl.SSLError) as exc:
        raise FactUnavailable(f"MLLP {address}:{port}: {exc}") from exc
    body = buf.split(SB, 1)[-1].split(EB, 1)[0]
    ok, detail = parse_ack(body, control_id)
    return ClinicalAnswer(ok, detail, round(time.monotonic() - t0, 4), tls_version,
                          body.decode("utf-8", "replace"))


def https_health(url: str, *, ca_file: Path | None = None, timeout: float = 10.0) -> ClinicalAnswer:
    """GET the declared health URL; 2xx/3xx = answering. TLS is verified against ``ca_file``."""
    t0 = time.monotonic()
    ctx = _tls_context(ca_file) if url.startswith("https://") else None
    req = urllib.request.Request(url, headers={"User-Agent": "ihconform"})  # noqa: S310 - http(s) only
    if not url.startswith(("http://", "https://")):
        raise FactUnavailable(f"not an http(s) URL: {url}")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:  # noqa: S310
            code = resp.status
            tls_version = ""
            sock = getattr(getattr(getattr(resp, "fp", None), "raw", None), "_sock", None)
            if isinstance(sock, ssl.SSLSocket):
                tls_version = sock.version() or ""
    except urllib.error.HTTPError as exc:
        code, tls_version = exc.code, ""
    except (urllib.error.URLError, OSError) as exc:
        raise FactUnavailable(f"{url}: {exc}") from exc
    return ClinicalAnswer(code < 400, f"HTTP {code}", round(time.monotonic() - t0, 4), tls_version)
