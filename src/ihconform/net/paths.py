"""Route proofs on a host: which interface and next hop a destination is reached through.

Why ``ip route get``: it asks the kernel's own routing decision (policy rules, source
address, tables) for one destination, which is exactly what a packet will do; reading the
routing table by hand would miss policy routing, the usual way two uplinks are kept apart.
Commands run on the host over its transport; every argument is quoted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from ihconform.errors import FactUnavailable
from ihconform.transport.base import CommandResult, quote_command

Runner = Callable[[str, float], CommandResult]


@dataclass(frozen=True)
class Route:
    destination: str
    dev: str
    via: str  # next hop ("" when directly connected)
    src: str  # source address the kernel picks
    table: str
    raw: str
    command: str

    @property
    def first_hop(self) -> str:
        return self.via or self.destination


_FIELD = re.compile(r"\b(via|dev|src|from|table)\s+(\S+)")


def parse_route_get(text: str, destination: str, command: str = "") -> Route:
    """Parse ``ip route get`` output (one route; iproute2 text form)."""
    line = " ".join(text.split())
    if not line or "unreachable" in line.split()[:1] or line.startswith("RTNETLINK"):
        raise FactUnavailable(f"no route to {destination}: {line or 'empty answer'}")
    fields: dict[str, str] = {}
    for key, value in _FIELD.findall(line):
        fields.setdefault(key, value)
    if "dev" not in fields:
        raise FactUnavailable(f"cannot read the route to {destination}: {line[:200]}")
    return Route(destination, fields["dev"], fields.get("via", ""), fields.get("src", fields.get("from", "")),
                 fields.get("table", "main"), line, command)


def route_get(run: Runner, destination: str, *, source: str = "", oif: str = "", timeout: float = 10.0) -> Route:
    """The kernel's route to ``destination`` on a host (optionally from a source address or
    out of an interface, as a bound measurement would go)."""
    ipaddress.ip_address(destination)  # a literal address only: no name resolution on the host
    template, args = "ip route get %s", [destination]
    if source:
        template += " from %s"
        args.append(source)
    if oif:
        template += " oif %s"
        args.append(oif)
    cmd = quote_command(template, *args)
    res = run(cmd, timeout)
    if res.exit_code != 0:
        raise FactUnavailable(f"`{cmd}` failed ({res.exit_code}): "
                              f"{res.stderr.decode('utf-8', 'replace').strip()[:200]}")
    return parse_route_get(res.text, destination, cmd)


def in_prefix(address: str, prefix: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(prefix, strict=False)
