"""Exposure: which TCP ports of the servers answer from the declared outside vantage.

Why nmap through python-nmap: nmap is the assessors' tool of record, and its XML is evidence
every reader recognises. From ``vantage.outside: local`` the scan runs here
(``nmap.PortScanner``); from an inventory host it runs there over the transport
(``nmap -oX -``) and the XML is parsed with the same python-nmap code, so both paths judge
the same data. ``-Pn -n`` always: no ping (firewalls drop it) and no DNS.

An address nmap did not finish is never "no open port": one it gave up on (``--host-timeout``,
``timedout="true"`` in the XML, where no port at all is listed) or left out of its results is
recorded in ``unscanned`` with the reason, and the probe reports 检查错误 for its host.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from ihconform.errors import FactUnavailable
from ihconform.transport.base import CommandResult, quote_command

Runner = Callable[[str, float], CommandResult]


@dataclass
class ExposureScan:
    arguments: str
    open_tcp: dict[str, list[int]] = field(default_factory=dict)  # address -> open ports
    services: dict[str, dict[int, str]] = field(default_factory=dict)
    xml: str = ""
    seconds: float = 0.0
    vantage: str = "local"
    unscanned: dict[str, str] = field(default_factory=dict)  # address -> why it has no result


def nmap_arguments(ports: str) -> str:
    """``ports``: an nmap port spec (``1-65535``, ``T:22,80``) or ``top:N``.

    Always a connect scan (``-sT``): it needs no raw sockets or pcap (which failed in the
    namespace lab when interfaces came and went), runs unprivileged on a vantage host, and
    finds exactly what a client from outside can connect to."""
    port_arg = f"--top-ports {int(ports[4:])}" if ports.startswith("top:") else f"-p {ports}"
    return f"-sT -Pn -n -T4 --max-retries 2 --host-timeout 120s {port_arg}"


def timed_out(xml: str) -> set[str]:
    """Addresses nmap gave up on (``<host timedout="true">``): their ports were not all probed,
    and python-nmap shows them exactly like a host whose every port is filtered."""
    try:
        # the XML python-nmap has just parsed the same way; expat (>= 2.4.1, as Python 3.11
        # ships) bounds entity expansion and ElementTree resolves no external entities
        root = ElementTree.fromstring(xml)  # noqa: S314
    except ElementTree.ParseError:
        return set()  # python-nmap has already refused XML it cannot read
    return {str(a.get("addr")) for h in root.iter("host") if h.get("timedout") == "true"
            for a in h.iter("address") if a.get("addrtype") in ("ipv4", "ipv6")}


def _from_result(result: dict[str, Any], scan: ExposureScan, addresses: list[str]) -> ExposureScan:
    hosts = result.get("scan") or {}
    gave_up = timed_out(scan.xml)
    for addr in addresses:
        if addr in gave_up:
            scan.unscanned[addr] = "nmap gave up on it (--host-timeout): its ports were not all probed"
            continue
        if addr not in hosts:
            scan.unscanned[addr] = "not in nmap's results"
            continue
        tcp = hosts[addr].get("tcp") or {}
        scan.open_tcp[addr] = sorted(int(p) for p, info in tcp.items() if info.get("state") == "open")
        scan.services[addr] = {int(p): str(info.get("name", "")) for p, info in tcp.items()
                               if info.get("state") == "open"}
    return scan


def scan_local(addresses: list[str], ports: str, timeout: float = 300.0) -> ExposureScan:
    try:
        import nmap
    except ImportError as exc:
        raise FactUnavailable("python-nmap is not installed; pip install 'ihconform[nmap]'") from exc
    if shutil.which("nmap") is None:
        raise FactUnavailable("the nmap program is not installed on the vantage (apt-get install nmap)")
    args = nmap_arguments(ports)
    scanner = nmap.PortScanner()
    t0 = time.monotonic()
    try:
        result = scanner.scan(hosts=" ".join(addresses), arguments=args, timeout=int(timeout))
    except nmap.PortScannerError as exc:
        raise FactUnavailable(f"nmap failed: {exc}") from exc
    except nmap.PortScannerTimeout as exc:
        raise FactUnavailable(f"nmap timed out after {timeout:.0f} s") from exc
    scan = ExposureScan(args, xml=scanner.get_nmap_last_output().decode("utf-8", "replace")
                        if isinstance(scanner.get_nmap_last_output(), bytes) else str(scanner.get_nmap_last_output()),
                        seconds=round(time.monotonic() - t0, 2))
    return _from_result(result, scan, addresses)


def scan_remote(run: Runner, vantage: str, addresses: list[str], ports: str,
                timeout: float = 300.0) -> ExposureScan:
    try:
        import nmap
    except ImportError as exc:
        raise FactUnavailable("python-nmap is not installed; pip install 'ihconform[nmap]'") from exc
    args = nmap_arguments(ports)
    cmd = "nmap -oX - " + args + " " + " ".join(quote_command("%s", a) for a in addresses)
    t0 = time.monotonic()
    res = run(cmd, timeout)
    if res.exit_code != 0:
        raise FactUnavailable(f"nmap on {vantage} failed ({res.exit_code}): "
                              f"{res.stderr.decode('utf-8', 'replace').strip()[:300]}")
    scanner = nmap.PortScanner.__new__(nmap.PortScanner)  # parse only: no local nmap needed
    try:
        result = scanner.analyse_nmap_xml_scan(nmap_xml_output=res.text)
    except nmap.PortScannerError as exc:
        raise FactUnavailable(f"cannot read nmap XML from {vantage}: {exc}") from exc
    scan = ExposureScan(args, xml=res.text, seconds=round(time.monotonic() - t0, 2), vantage=vantage)
    return _from_result(result, scan, addresses)
