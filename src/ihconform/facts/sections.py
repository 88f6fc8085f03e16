"""Which sections each host's batch carries, from what the inventory declares on it.

A host's batch is its host sections, its web-server sections, and one section per
database the inventory declares on that host (``db.<id>``, and ``dbaudit.<id>`` when an
application audit table is declared). Probes name what they read in ``@probe(facts=...)``;
database probes name the families ``db`` / ``dbaudit``, which stand for every database
section of the host. Only what planned probes need is gathered.
"""

from __future__ import annotations

from ihconform.facts.collect import Section
from ihconform.facts.db import DB_AUDIT_FACTS, DB_FACTS, database_sections
from ihconform.facts.host import sections_for_host
from ihconform.facts.web import WEB_SECTIONS
from ihconform.inventory import Inventory

#: Fact names that stand for a family of per-object sections.
FAMILIES: frozenset[str] = frozenset({DB_FACTS, DB_AUDIT_FACTS})


def static_sections() -> list[Section]:
    """Every section that does not depend on the inventory."""
    return sections_for_host() + list(WEB_SECTIONS)


def known_fact_names() -> set[str]:
    """Every name a probe may list in ``facts``: static sections and families."""
    return {s.name for s in static_sections()} | set(FAMILIES)


def sections_for(inventory: Inventory, needed: set[str] | None = None) -> dict[str, list[Section]]:
    """host id -> the sections of its one batched script (only ``needed`` ones if given)."""
    out = {}
    for h in inventory.hosts:
        secs = [s for s in static_sections() if needed is None or s.name in needed]
        families = None if needed is None else needed & FAMILIES
        for db in inventory.databases:
            if db.host == h.id:
                secs += database_sections(db, families)
        out[h.id] = secs
    return out
