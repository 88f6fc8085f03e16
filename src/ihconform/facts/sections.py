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
from ihconform.facts.middleware import MIDDLEWARE_SECTIONS
from ihconform.facts.sshd import SSHD_CTX_FACTS, context_sections
from ihconform.facts.web import WEB_SECTIONS
from ihconform.facts.windows import WINDOWS_SECTIONS
from ihconform.inventory import Inventory
from ihconform.plan import RunPlan
from ihconform.registry import facts_needed

#: Fact names that stand for a family of per-object sections.
FAMILIES: frozenset[str] = frozenset({DB_FACTS, DB_AUDIT_FACTS, SSHD_CTX_FACTS})
#: Host roles that make a web-server object (``inventory.objects``): only their batches
#: carry the web sections (``nginx -T`` on a database host would only add noise and time).
WEB_ROLES: frozenset[str] = frozenset({"app", "web"})
_WEB_NAMES = frozenset(s.name for s in (*WEB_SECTIONS, *MIDDLEWARE_SECTIONS))


def static_sections() -> list[Section]:
    """Every section that does not depend on the inventory."""
    return sections_for_host() + list(WEB_SECTIONS) + list(MIDDLEWARE_SECTIONS)


def platform_sections(platform: str) -> list[Section]:
    """Every section of ``platform``'s batch, as ``collect-script`` prints it."""
    if platform == "windows":
        return list(WINDOWS_SECTIONS)
    return static_sections()


def known_fact_names() -> set[str]:
    """Every name a probe may list in ``facts``: static sections and families."""
    return {s.name for s in static_sections()} | {s.name for s in WINDOWS_SECTIONS} | set(FAMILIES)


def sections_for(inventory: Inventory, needed: set[str] | None = None) -> dict[str, list[Section]]:
    """host id -> the sections of its one batched script (only ``needed`` ones if given)."""
    out = {}
    for h in inventory.targets:
        if h.platform == "windows":  # one fixed PowerShell batch, every section cheap (facts/windows.py)
            out[h.id] = list(WINDOWS_SECTIONS)
            continue
        web = bool(WEB_ROLES & set(h.roles))
        secs = [s for s in static_sections() if (needed is None or s.name in needed)
                and (web or s.name not in _WEB_NAMES)]
        families = None if needed is None else needed & FAMILIES
        if needed is None or SSHD_CTX_FACTS in needed:  # sshd per connection context (facts/sshd.py)
            secs += context_sections(inventory, h)
        for db in inventory.databases:
            if db.host == h.id:
                secs += database_sections(db, families)
        out[h.id] = secs
    return out


def plan_sections(plan: RunPlan) -> dict[str, list[Section]]:
    """host id -> the sections ``plan``'s probes read (the one batch each host is asked)."""
    return sections_for(plan.inventory, facts_needed(plan.by_probe))
