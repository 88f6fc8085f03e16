"""附录1 四(二): at least two independent audio/video systems, each answering in its protocol.

Each declared endpoint is probed by what it is: STUN binding, TURN allocation (RFC 5389/5766,
long-term credentials from the environment variables the inventory names), SIP OPTIONS over
UDP/TCP/TLS, an HTTPS GET or a WebSocket upgrade for signalling. A service that does not
answer is a finding about the site (不符合, "not answering"), not an error of the run; a missing
credential is an error of the run (检查错误). Independence = answering systems on different
hosts and addresses.
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.inventory import AvEndpoint, AvSystem
from ihconform.net import sip, stun
from ihconform.net.clinical import https_health
from ihconform.registry import probe
from ihconform.runcache import EvidenceSink, RunCache
from ihconform.secrets import env_secret


@dataclass(frozen=True)
class EndpointResult:
    protocol: str
    address: str
    port: int
    answering: bool
    detail: str
    seconds: float = 0.0


def _env(name: str | None, what: str) -> str:
    if not name:
        raise FactUnavailable(f"{what}: the inventory names no environment variable")
    return env_secret(name, what)


def websocket_upgrade(url: str, timeout: float) -> tuple[bool, str]:
    """RFC 6455 opening handshake; 101 Switching Protocols = the signalling endpoint is live."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    key = base64.b64encode(os.urandom(16)).decode()
    req = (f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1\r\nHost: {host}\r\n"
           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
           "Sec-WebSocket-Version: 13\r\nUser-Agent: ihconform\r\n\r\n").encode()
    sock: socket.socket = socket.create_connection((host, port), timeout=timeout)
    if parts.scheme == "wss":
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    with sock:
        sock.sendall(req)
        status = sock.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
    return " 101 " in f"{status} ", status


def probe_endpoint(ep: AvEndpoint, *, timeout: float, sip_ok: list[int]) -> EndpointResult:
    t0 = time.monotonic()
    kind, _, transport = ep.protocol.partition("-")
    try:
        if kind == "stun":
            r = stun.binding(ep.address, ep.port, transport, timeout)
            ok, detail = r.ok, f"{r.detail}; mapped {r.mapped}; {r.software}".rstrip("; ")
        elif kind == "turn":
            user = _env(ep.username_env, f"TURN {ep.address}:{ep.port} username")
            password = _env(ep.password_env, f"TURN {ep.address}:{ep.port} password")
            r = stun.allocate(ep.address, ep.port, user, password, transport, timeout)
            ok, detail = r.ok, r.detail
        elif kind == "sip":
            a = sip.options(ep.address, ep.port, transport, timeout, server_name=ep.address)
            ok = a.status in sip_ok or (200 <= a.status < 300 and 200 in sip_ok)
            detail = f"SIP/2.0 {a.status} {a.reason}" + (f"; Server: {a.server}" if a.server else "") + \
                     (f"; {a.tls_version}" if a.tls_version else "")
        elif kind == "https":
            h = https_health(ep.url or f"https://{ep.address}:{ep.port}/", timeout=timeout)
            ok, detail = h.ok, h.detail
        elif kind == "wss":
            ok, detail = websocket_upgrade(ep.url or f"wss://{ep.address}:{ep.port}/", timeout)
        else:
            raise FactUnavailable(f"unknown AV protocol {ep.protocol}")
    except FactUnavailable as exc:
        if "environment variable" in str(exc):
            raise  # the run's fault, not the site's
        ok, detail = False, f"无应答 / not answering: {exc}"
    except OSError as exc:
        ok, detail = False, f"无应答 / not answering: {exc}"
    return EndpointResult(ep.protocol, ep.address, ep.port, ok, detail, round(time.monotonic() - t0, 4))


def _system_results(av: AvSystem, run_cache: RunCache, timeout: float, sip_ok: list[int]) -> list[EndpointResult]:
    return run_cache.get(f"av:{av.id}", lambda: [probe_endpoint(e, timeout=timeout, sip_ok=sip_ok)
                                                 for e in av.endpoints])


def _params(check: Check) -> tuple[float, list[int]]:
    return check.float_param("timeout_s"), [int(c) for c in check.list_param("sip_ok_codes")]


@probe("av.system", facts=())
def test_system(check: Check, run_cache: RunCache, evidence: EvidenceSink) -> None:
    av = check.obj.ref
    if not isinstance(av, AvSystem):
        raise FactUnavailable(f"{check.obj.id} is not an AV system")
    timeout, sip_ok = _params(check)
    results = _system_results(av, run_cache, timeout, sip_ok)
    check.attach(evidence.write(("av", av.id, "endpoints.json"), [asdict(r) for r in results], kind="av-probe"))
    down = [r for r in results if not r.answering]
    observed = [f"{r.protocol} {r.address}:{r.port}: {r.detail}" for r in results]
    check.judge(not down, observed=observed, expected="every declared endpoint answers in its protocol",
                reason=(f"{av.name}: " + "; ".join(f"{r.protocol} {r.address}:{r.port} {r.detail}" for r in down)
                        if down else f"{av.name}: {len(results)} 个端点均应答 / all {len(results)} endpoints answer"))


@probe("av.independence", facts=())
def test_independence(check: Check, run_cache: RunCache, evidence: EvidenceSink) -> None:
    """Site-wide: >= N AV systems that answer, on different hosts and addresses."""
    need = check.int_param("min_systems")
    timeout, sip_ok = _params(check)
    systems = list(check.inventory.av_systems)
    live: list[AvSystem] = []
    status: dict[str, object] = {}
    for av in systems:
        results = _system_results(av, run_cache, timeout, sip_ok)
        ok = any(r.answering for r in results)
        status[av.id] = {"host": av.host, "addresses": sorted({e.address for e in av.endpoints}), "answering": ok}
        if ok:
            live.append(av)
    check.attach(evidence.write(("av", "site", "independence.json"), status, kind="av-probe"))
    hosts = {av.host or av.id for av in live}
    addr_sets = [frozenset(e.address for e in av.endpoints) for av in live]
    shared = sorted({a for i, s in enumerate(addr_sets) for t in addr_sets[i + 1:] for a in s & t})
    parts = {"declared": len(systems) >= need, "answering": len(live) >= need,
             "distinct_hosts": len(hosts) >= need, "distinct_addresses": not shared and len(live) >= need}
    why = []
    if not parts["declared"]:
        why.append(f"只声明了 {len(systems)} 套 / only {len(systems)} AV system(s) declared")
    if not parts["answering"]:
        why.append(f"应答的音视频系统 {len(live)} 套 / only {len(live)} answering: "
                   + ", ".join(a.id for a in live))
    if shared:
        why.append(f"共用地址 / systems share addresses {', '.join(shared)}")
    elif not parts["distinct_hosts"] and parts["answering"]:
        why.append("音视频系统在同一主机 / systems on the same host")
    check.judge(all(parts.values()), observed=status, expected=f">= {need} independent answering AV systems",
                      reason="; ".join(why) or f"{len(live)} 套独立音视频系统应答 / {len(live)} independent "
                                               "AV systems answer")
