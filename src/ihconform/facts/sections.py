"""Which sections each host's batch carries, from what the inventory declares on it."""

from __future__ import annotations

from ihconform.facts.collect import Section
from ihconform.facts.host import sections_for_host
from ihconform.inventory import Inventory


def sections_for(inventory: Inventory, needed: set[str] | None = None) -> dict[str, list[Section]]:
    """host id -> the sections of its one batched script (only ``needed`` ones if given)."""
    out = {}
    for h in inventory.hosts:
        secs = sections_for_host()
        out[h.id] = secs if needed is None else [s for s in secs if s.name in needed]
    return out
