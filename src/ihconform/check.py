"""The ``check`` a probe receives: one control on one object, and the verdict it records.

A probe is a pytest test function. It reads the control's thresholds from ``check.param``
and the object's gathered facts, then records exactly one verdict with observed and expected
values, so every verdict can be defended. Outcomes that are not recorded verdicts map as:

- a plain ``assert`` that fails       -> 不符合, with the assertion message;
- :class:`FactUnavailable` or any other exception -> 检查错误, with the message;
- :class:`NotChecked`                 -> 未检查;
- the test returns without a verdict  -> 检查错误 ("probe recorded no verdict"), never 符合.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ihconform.inventory import Inventory, TestObject
from ihconform.profile import Control, Decisive, ParamValue
from ihconform.registry import declared_parts
from ihconform.results import EvidenceRef, Status
from ihconform.text import clean_note


@dataclass(frozen=True)
class Verdict:
    status: Status
    observed: Any = None
    expected: Any = None
    reason: str = ""


@dataclass
class Check:
    control: Control
    obj: TestObject
    inventory: Inventory
    verdict: Verdict | None = None
    evidence: list[EvidenceRef] = field(default_factory=list)

    def param(self, name: str) -> ParamValue:
        """A threshold of this control, from the profile (never a literal in probe code)."""
        return self.control.param(name)

    def int_param(self, name: str) -> int:
        value = self.param(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{self.control.id}.{name} must be a number, got {value!r}")
        return int(value)

    def float_param(self, name: str) -> float:
        value = self.param(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{self.control.id}.{name} must be a number, got {value!r}")
        return float(value)

    def list_param(self, name: str) -> list[Any]:
        value = self.param(name)
        if not isinstance(value, list):
            raise TypeError(f"{self.control.id}.{name} must be a list, got {value!r}")
        return value

    def _record(self, verdict: Verdict) -> None:
        if self.verdict is not None:
            raise RuntimeError(f"probe recorded two verdicts for {self.control.id} on {self.obj.id}")
        self.verdict = verdict

    def judge(self, ok: bool, *, observed: Any, expected: Any, reason: str = "") -> None:
        """Record 符合 when ``ok`` else 不符合. ``reason`` says, in plain words, why."""
        self._record(Verdict(Status.PASS if ok else Status.FAIL, observed, expected, reason))

    def judge_parts(self, parts: dict[str, bool], *, observed: Any, expected: Any, reason: str = "") -> None:
        """Several sub-requirements: all met -> 符合, some -> 部分符合, none -> 不符合.

        A part the profile marks decisive (``Control.decisive``) makes the verdict 不符合 on its
        own when unmet. A decisive part the probe neither names here nor declares
        (``probe(parts=...)``) is a catalog bug: it raises (the result is 检查错误), so a misspelt
        name can never quietly leave a decisive failure partial.
        """
        if not parts:
            raise ValueError("judge_parts needs at least one part")
        # a decisive part the probe declares but does not give here (its component is absent) is
        # simply not unmet; one it neither gives nor declares is a catalog bug
        known = set(parts) | (declared_parts(self.control.probe) or frozenset())
        unknown = [d.part for d in self.control.decisive if d.part not in known]
        if unknown:
            raise KeyError(f"{self.control.id}: decisive part(s) {unknown} not among the probe's parts {list(parts)}")
        met = sum(parts.values())
        unmet = [k for k, v in parts.items() if not v]
        decided = [d for d in self.control.decisive if d.part in unmet]
        status = Status.PASS if met == len(parts) else Status.FAIL if met == 0 or decided else Status.PARTIAL
        why = reason or ("unmet: " + ", ".join(unmet) if unmet else "all parts met")
        if decided and "decisive:" not in why:  # a probe's own reason too: the tester sees why it is not 部分符合
            why += decisive_note(decided)
        self._record(Verdict(status, observed, expected, why))

    def not_applicable(self, reason: str) -> None:
        self._record(Verdict(Status.NOT_APPLICABLE, reason=reason))

    def not_checked(self, reason: str, *, observed: Any = None, expected: Any = None) -> None:
        self._record(Verdict(Status.NOT_CHECKED, observed, expected, reason))

    def error(self, reason: str) -> None:
        self._record(Verdict(Status.ERROR, reason=reason))

    def attach(self, ref: EvidenceRef) -> None:
        """Link an evidence file (transcript, scan output, samples) to this verdict."""
        self.evidence.append(ref)


def decisive_note(decided: list[Decisive]) -> str:
    """The tail of a reason naming the decisive parts that decided it, each with its provenance
    (the 判例 or the standard's words), research notes left out: reasons reach every output."""
    return "; decisive: " + "; ".join(f"{d.part} ({clean_note(d.provenance)})" for d in decided)
