"""What an uplink looks like from outside and on the wire: observations only, no verdicts.

Why these three (issue 20 point 6): a provider's name in the inventory says nothing about the
path. Two lines are two providers only if the internet sees them as two (their egress
addresses differ), if they enter different provider routers (their first hops beyond the
customer edge differ), and if the traffic credited to a line really left through it (the
interface that owns the line's source address carried the measured bytes). Each is read on
the uplink's own host, over the run's transport, in the same session as its bandwidth
measurement (:func:`ihconform.net.bandwidth.measure`):

- **egress as seen outside**: ``curl --interface SOURCE URL`` of a reflector (an echo service
  on the internet that answers with the client address it saw: ``$remote_addr`` of a web
  server, as speedtest servers and "what is my IP" services do). The URL is inventory data.
- **first hops**: ``traceroute -n -s SOURCE -m N -q 1 -w 1 DEST`` (Debian ``traceroute``):
  one UDP probe per TTL, at most N hops, one second per hop, so at most N seconds.
- **interface counters**: ``/proc/net/dev`` before and after the measurement, and
  ``ip -o -4 addr show`` for the interface that owns the source address.

Every command's arguments are quoted; nothing here changes the host.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from ihconform.errors import FactUnavailable
from ihconform.transport.base import CommandResult, quote_command

Runner = Callable[[str, float], CommandResult]

#: TTL-limited probes: at most this many hops beyond the customer edge, one probe each, and
#: one second to wait per probe (traceroute sends them in parallel, so the whole trace is
#: bounded by about TRACE_WAIT_S × hops). Three hops reach past the provider's access router.
TRACE_HOPS = 3
TRACE_WAIT_S = 1
REFLECTOR_TIMEOUT_S = 5


# ---- reflector -----------------------------------------------------------------------------------


def reflector_command(url: str, bind: str) -> str:
    return quote_command("curl -sS --interface %s --max-time %s %s", bind, REFLECTOR_TIMEOUT_S, url)


def parse_reflector(res: CommandResult) -> str:
    """The client address the reflector saw (the first word of its answer, an IP address)."""
    if res.exit_code != 0:
        raise FactUnavailable(f"reflector failed ({res.exit_code}): "
                              f"{res.stderr.decode('utf-8', 'replace').strip()[:200]}")
    words = res.text.split()
    try:
        return str(ipaddress.ip_address(words[0])) if words else _bad(res.text)
    except ValueError:
        return _bad(res.text)


def _bad(text: str) -> str:
    raise FactUnavailable(f"the reflector did not answer with an address: {text.strip()[:120]!r}")


# ---- traceroute ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hop:
    ttl: int
    address: str  # "" when nothing answered at this TTL


def traceroute_command(destination: str, *, source: str = "", interface: str = "", first: int = 1,
                       hops: int = TRACE_HOPS) -> str:
    """TTL-limited UDP probes from the uplink's source (``-f`` skips the customer's own hops)."""
    ipaddress.ip_address(destination)  # literal addresses only: no name resolution on the host
    template = "traceroute -n -q 1 -w %s -f %s -m %s"
    args: list[object] = [TRACE_WAIT_S, first, first + hops - 1]
    if source:
        template += " -s %s"
        args.append(source)
    elif interface:
        template += " -i %s"
        args.append(interface)
    return quote_command(template + " %s", *args, destination)


_HOP = re.compile(r"^\s*(\d+)\s+(\S+)")


def parse_traceroute(res: CommandResult) -> tuple[Hop, ...]:
    """Hops from ``traceroute -n -q 1`` output; ``*`` (no answer) is a hop with no address."""
    if res.exit_code == 127 or "not found" in res.stderr.decode("utf-8", "replace"):
        raise FactUnavailable("traceroute is not installed on the host (Debian package traceroute)")
    hops: list[Hop] = []
    for line in res.text.splitlines():
        m = _HOP.match(line)
        if not m:
            continue
        addr = m.group(2)
        try:
            hops.append(Hop(int(m.group(1)), str(ipaddress.ip_address(addr))))
        except ValueError:
            hops.append(Hop(int(m.group(1)), ""))
    if not hops:
        raise FactUnavailable(f"traceroute gave no hops ({res.exit_code}): "
                              f"{(res.stderr.decode('utf-8', 'replace') or res.text).strip()[:200]}")
    return tuple(hops)


# ---- interface counters --------------------------------------------------------------------------

NETDEV_COMMAND = "cat /proc/net/dev"
ADDR_COMMAND = "ip -o -4 addr show"


def parse_netdev(text: str) -> dict[str, tuple[int, int]]:
    """``/proc/net/dev`` -> {interface: (rx_bytes, tx_bytes)}."""
    out: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or len(fields) < 9 or not fields[0].isdigit():
            continue
        out[name.strip()] = (int(fields[0]), int(fields[8]))
    if not out:
        raise FactUnavailable(f"cannot read interface counters: {text.strip()[:120]!r}")
    return out


def owner_of(addr_text: str, address: str) -> str:
    """The interface that holds ``address``, from ``ip -o -4 addr show``."""
    for line in addr_text.splitlines():
        parts = line.split()
        at = parts.index("inet") + 1 if "inet" in parts else 0
        if at and at < len(parts) and parts[at].split("/")[0] == address:
            return parts[1].split("@")[0]
    raise FactUnavailable(f"no interface holds the source address {address}")


@dataclass(frozen=True)
class LinkShare:
    """How many bytes the uplink's interface moved while the measurement moved ``measured``."""

    interface: str
    measured_bytes: int
    interface_bytes: int  # rx + tx delta of the uplink's own interface
    other_bytes: dict[str, int]  # rx + tx deltas of every other interface (lo left out)

    @property
    def share(self) -> float:
        return self.interface_bytes / self.measured_bytes if self.measured_bytes else 0.0


def link_share(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], interface: str,
               measured_bytes: int) -> LinkShare:
    if interface not in before or interface not in after:
        raise FactUnavailable(f"interface {interface} has no counters")
    delta = {k: sum(after[k]) - sum(before[k]) for k in after if k in before and k != "lo"}
    return LinkShare(interface, measured_bytes, delta.pop(interface), delta)
