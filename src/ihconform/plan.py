"""The run plan: which (control, object) pairs this run judges, and by which probe.

Built once from the resolved profile, the inventory and ``--only``; the pytest plugin
parametrises each probe function with its pairs. Pairs that no probe can judge are not
dropped: they become results of their own (不适用 for tailored-out controls, 未检查 for a
control whose object type the inventory does not declare).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from ihconform.inventory import Inventory, TestObject, objects
from ihconform.profile import Control, Method, Profile


def probe_for(control: Control) -> str:
    """The probe that judges ``control``: named for auto, the evidence judges otherwise."""
    if control.method is Method.AUTO:
        assert control.probe is not None  # enforced by the catalog loader
        return control.probe
    if control.method is Method.ATTEST:
        return control.probe or "attest.document"
    return control.probe or "manual.judgement"


def matches_only(control: Control, only: tuple[str, ...]) -> bool:
    """``--only`` selects by control id, clause, item, tag, document, 控制点 or former id (prefix
    match), or by
    the probe that judges it with ``probe:<prefix>`` (``--only probe:host.`` = host controls)."""
    if not only:
        return True
    keys = [control.id, control.source.clause, control.source.item, control.source.document,
            *control.tags, f"{control.source.document}:{control.source.clause}",
            control.control_point, *control.legacy_ids]  # a 控制点 (name or former id) selects its items
    for sel in only:
        if sel.startswith("probe:"):
            if probe_for(control).startswith(sel.removeprefix("probe:")):
                return True
            continue
        for k in keys:
            if k and (k == sel or k.startswith(sel) or k.replace(" ", "") == sel.replace(" ", "")):
                return True
    return False


def check_only(profile: Profile, only: tuple[str, ...]) -> None:
    """Refuse a ``--only`` selector that selects no control of ``profile``, naming the nearest
    ids, clauses and tags: a typo would otherwise run (and report on) nothing, or silently less
    than asked. Raises ConfigError before anything is written."""
    import difflib

    from ihconform.errors import ConfigError

    for sel in only:
        if any(matches_only(c, (sel,)) for c in profile.controls):
            continue
        keys = sorted({k for c in profile.controls
                       for k in (c.id, c.source.clause, c.source.document, *c.tags) if k})
        word = sel.removeprefix("probe:")
        near = (difflib.get_close_matches(word, keys, n=5, cutoff=0.5)
                or difflib.get_close_matches(word.upper(), [c.id for c in profile.controls], n=5, cutoff=0.0))
        raise ConfigError(f"--only {sel!r} 不匹配任何控制项 / matches no control of profile {profile.id}; "
                          f"最接近 / nearest: {', '.join(near)} (全部 / all: ihconform controls)")


@dataclass(frozen=True)
class Pair:
    control: Control
    obj: TestObject

    @property
    def key(self) -> str:
        return f"{self.control.id}@{self.obj.id}"


@dataclass
class RunPlan:
    profile: Profile
    inventory: Inventory
    only: tuple[str, ...] = ()
    controls: list[Control] = field(default_factory=list)
    by_probe: dict[str, list[Pair]] = field(default_factory=lambda: defaultdict(list))
    pairs: dict[str, Pair] = field(default_factory=dict)
    excluded: list[Pair] = field(default_factory=list)
    unmatched: list[Control] = field(default_factory=list)  # no object of its types
    objects: list[TestObject] = field(default_factory=list)

    @classmethod
    def build(cls, profile: Profile, inventory: Inventory, only: tuple[str, ...] = ()) -> RunPlan:
        plan = cls(profile=profile, inventory=inventory, only=only)
        plan.objects = list(objects(inventory))
        for control in profile.controls:
            if not matches_only(control, only):
                continue
            plan.controls.append(control)
            targets = [o for o in plan.objects if o.type in control.applies_to]
            if not targets:
                plan.unmatched.append(control)
                continue
            for obj in targets:
                pair = Pair(control, obj)
                if control.id in profile.excluded:
                    plan.excluded.append(pair)
                    continue
                plan.by_probe[probe_for(control)].append(pair)
                plan.pairs[pair.key] = pair
        return plan

    def needs_hosts(self) -> set[str]:
        """Hosts whose gathered facts some planned probe reads (site-wide probes: all)."""
        from ihconform.inventory import Database, Host

        ids: set[str] = set()
        for probe_id, pairs in self.by_probe.items():
            if not probe_id.startswith(HOST_FACT_PROBES):
                continue
            for pair in pairs:
                ref = pair.obj.ref
                if isinstance(ref, Host):
                    ids.add(ref.id)
                elif isinstance(ref, Database):
                    ids.add(ref.host)
                else:
                    return {h.id for h in self.inventory.targets}
        return ids


#: Probe namespaces that judge from a host's gathered facts.
HOST_FACT_PROBES = ("host.", "db.", "web.", "servers.", "audit.", "windows.")
