"""The results model: one record per (control, object), aggregated per control.

Every report format renders from :class:`RunResult`; its JSON Schema is published as
``schemas/results.schema.json``. States are the 等保 vocabulary plus two that keep a
missing check from ever reading as a pass: 未检查 (not checked) and 检查错误 (check error).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"


class Status(StrEnum):
    """Result states. The value is the stable English key; ``zh`` is the label of record."""

    PASS = "pass"  # noqa: S105 - a state name, not a password
    PARTIAL = "partial"
    FAIL = "fail"
    NOT_APPLICABLE = "not_applicable"
    NOT_CHECKED = "not_checked"
    ERROR = "error"

    @property
    def zh(self) -> str:
        return _ZH[self]

    @property
    def en(self) -> str:
        return _EN[self]


_ZH = {
    Status.PASS: "符合", Status.PARTIAL: "部分符合", Status.FAIL: "不符合",
    Status.NOT_APPLICABLE: "不适用", Status.NOT_CHECKED: "未检查", Status.ERROR: "检查错误",
}
_EN = {
    Status.PASS: "conformant", Status.PARTIAL: "partially conformant", Status.FAIL: "non-conformant",
    Status.NOT_APPLICABLE: "not applicable", Status.NOT_CHECKED: "not checked", Status.ERROR: "check error",
}


def aggregate(statuses: Iterable[Status]) -> Status:
    """Combine per-object states into the control's state, as assessors do.

    All judged objects pass -> 符合; some pass, some fail -> 部分符合; none pass -> 不符合.
    Objects that are 不适用 are left out. An error or a missing check never counts as a
    pass: with no failure, any error gives 检查错误 and any unchecked object gives 未检查.
    """
    relevant = [s for s in statuses if s is not Status.NOT_APPLICABLE]
    seen = set(relevant)
    if not relevant:
        return Status.NOT_APPLICABLE
    if seen & {Status.FAIL, Status.PARTIAL}:
        return Status.PARTIAL if seen & {Status.PASS, Status.PARTIAL} else Status.FAIL
    if Status.ERROR in seen:
        return Status.ERROR
    if Status.NOT_CHECKED in seen:
        return Status.NOT_CHECKED
    return Status.PASS


class ExitCode:
    """Process exit codes, documented in README and docs/cli.md."""

    CONFORMANT = 0
    NON_CONFORMANT = 1
    USAGE = 2
    INCOMPLETE = 3
    OUTPUT_ERROR = 74  # the run folder could not be written (disk full, read-only...): no report; sysexits EX_IOERR
    INTERRUPTED = 130


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EvidenceRef(Model):
    """A file in the run's evidence folder, with its digest."""

    path: str
    sha256: str
    kind: str = ""  # transcript, tls-scan, nmap, bandwidth, redfish, nut, attestation, ...


class WaiverRef(Model):
    """The accepted-risk record that applies to a result. The status is never changed by it:
    a waived failure stays 不符合, shown as waived and counted as accepted risk."""

    id: str
    approver: str
    valid_until: str
    justification: str
    compensating_control: str = ""
    risk: str = ""


class ObjectResult(Model):
    """The verdict on one control for one object."""

    control_id: str
    object_id: str
    object_type: str
    status: Status
    status_zh: str
    observed: Any = None
    expected: Any = None
    reason: str = ""
    evidence: tuple[EvidenceRef, ...] = ()
    probe: str = ""
    duration_s: float = 0.0
    waiver: WaiverRef | None = None
    attestation: str = ""  # id of the attestation that judged it (method attest/manual)


class HighRiskCaseRef(Model):
    """The 判例 a high-risk control is keyed to and its compensating factors (profile.HighRiskCase):
    a failing high-risk control is a candidate the assessor weighs against these factors."""

    guide: str
    id: str
    title: str
    compensating: tuple[str, ...] = ()


class ControlResult(Model):
    """The aggregated verdict on one control, with the catalog data the report needs."""

    control_id: str
    title_zh: str
    title_en: str
    document: str
    clause: str
    item: str
    requirement: str
    method: str
    severity: str
    high_risk: bool
    area: str
    status: Status
    status_zh: str
    counts: dict[str, int]
    parameters: dict[str, Any] = Field(default_factory=dict)
    high_risk_case: HighRiskCaseRef | None = None
    #: the 安全控制点 of a 测评项 ("8.1.10.6 网络和系统安全管理"): the report shows the control point's
    #: result with its items, as the 等保 report does; empty for controls without one
    control_point: str = ""


class TestedObject(Model):
    type: str
    id: str
    label: str
    #: where it sits, from the inventory (the report's 被测系统描述): the host it runs on or belongs
    #: to, a host's roles, its declared location, and the jump host it is reached through
    host: str = ""
    roles: tuple[str, ...] = ()
    location: str = ""
    via: str = ""


class Selection(Model):
    """What a ``--only`` run judged. A 专项检查 (partial run) covers part of the profile: its
    report says so on the cover, ``bundle``/``upload`` refuse it without ``--allow-partial``, and
    ``diff`` names what it no longer judges, so it is never mistaken for the annual test."""

    only: tuple[str, ...] = ()  # the --only selectors, as given
    partial: bool = False  # fewer controls judged than the profile has
    controls: int = 0  # controls this run judged
    profile_controls: int = 0  # controls in the profile


class RunInfo(Model):
    id: str
    started: str
    finished: str
    duration_s: float
    profile: str
    profile_version: str
    profile_digests: dict[str, str]
    inventory: str
    inventory_sha256: str
    only: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    interrupted: bool = False
    selection: Selection = Selection()

    @property
    def partial(self) -> bool:
        """A 专项检查: part of the profile selected (results written before ``selection``
        existed say so by a non-empty ``only``)."""
        return self.selection.partial or bool(self.only and not self.selection.profile_controls)


class Score(Model):
    """The 等保 综合得分 by a named official method (docs/scoring.md), with the grade and the gates
    that decided it. Waivers never raise it: a waived failure scores as the failure it is and is
    counted in ``accepted_risk``. ``provisional`` says the figure is not yet the template's own
    (``provisional_reasons`` are machine keys, explained in docs/scoring.md)."""

    method: str  # mlps-2021 | mlps-2025
    method_name: str  # the template's official name
    value: float  # 综合得分 M = V_t + V_m
    technical: float  # V_t, the technical part after deductions
    management: float  # V_m, the management part after deductions
    attention_coefficient: float  # y, the technical share of 100
    grade: str  # 优/良/中/差 (mlps-2021) or 符合/基本符合/不符合 (mlps-2025)
    gated_by_high_risk: bool  # a high-risk candidate fails: 差 / 不符合 whatever the score
    gated_by_medium_risk: bool  # mlps-2021: 优 withheld by a 中风险 finding
    high_risk_candidates: tuple[str, ...] = ()  # failing high-risk controls (candidates, see high_risk_case)
    medium_risk: tuple[str, ...] = ()  # failing 关键/重要 controls that are not high-risk
    judged_items: int  # 测评项 in the formula (n = t + m, 不适用 left out)
    technical_items: int
    management_items: int
    unjudged_items: int = 0  # items with an object 检查错误/未检查: scored 0
    management_granularity: str = "控制点"  # 测评项 or 控制点: how management controls enter the formula
    provisional: bool = False
    provisional_reasons: tuple[str, ...] = ()
    accepted_risk: int = 0  # failing results under an active waiver (never counted as 符合)
    rules: str  # the method in plain Chinese, with its official name


class AttestationRecord(Model):
    """An attestation in the ledger, as verified at run time."""

    id: str
    control_id: str
    objects: tuple[str, ...]
    statement: str
    attester: str
    role: str
    organisation: str
    date: str
    valid_until: str
    claimed: Status
    state: str  # valid / expired / file-changed / file-missing / bad-signature / unsigned
    reason: str = ""
    files: tuple[EvidenceRef, ...] = ()
    signer_key: str = ""


class WaiverRecord(Model):
    id: str
    control_id: str
    objects: tuple[str, ...]
    justification: str
    compensating_control: str
    risk: str
    approver: str
    valid_from: str
    valid_until: str
    state: str  # active / expired / not-yet-valid / bad-signature / untrusted-key
    applied_to: int = 0  # results it covered in this run
    reason: str = ""  # why it does not apply, or "unsigned"
    signer_key: str = ""  # fingerprint of the key that signed it, if signed


class Conclusion(Model):
    """The conclusion of one document (or of the whole run, ``document`` empty), as the documents
    define it (docs/scoring.md): a required control failing decides 不符合; errors and unchecked
    controls only ever make the conclusion incomplete, never better."""

    document: str = ""
    status: Status
    status_zh: str
    exit_code: int
    rule: str  # which rule decided: required-failure, unjudged-required, failures, unjudged, conformant, nothing-judged
    incomplete: bool = False  # some control is 检查错误 or 未检查
    required_failures: tuple[str, ...] = ()  # failing high-risk or 关键 controls
    unjudged: tuple[str, ...] = ()  # controls 检查错误 or 未检查


class Summary(Model):
    status: Status
    status_zh: str
    exit_code: int
    controls: dict[str, int]
    objects: dict[str, int]
    incomplete: bool = False
    high_risk_failures: tuple[str, ...] = ()
    accepted_risk: int = 0  # failing results covered by an active waiver
    conclusions: tuple[Conclusion, ...] = ()  # per document, in catalog order
    score: Score | None = None


class RunResult(Model):
    schema_version: str = SCHEMA_VERSION
    tool: dict[str, str]
    institution: dict[str, str]
    system: dict[str, Any]
    run: RunInfo
    summary: Summary
    controls: tuple[ControlResult, ...]
    results: tuple[ObjectResult, ...]
    objects: tuple[TestedObject, ...]
    evidence: tuple[EvidenceRef, ...] = ()
    attestations: tuple[AttestationRecord, ...] = ()
    waivers: tuple[WaiverRecord, ...] = ()
    warnings: tuple[str, ...] = ()  # e.g. expired waivers that stopped applying
    #: who tests and signs (inventory ``tester:`` section, ``run`` options over it): the report's
    #: cover and signature page; empty: the institution's own 自查 report
    tester: dict[str, Any] = Field(default_factory=dict)


def counts(statuses: Iterable[Status]) -> dict[str, int]:
    c = Counter(statuses)
    return {s.value: c.get(s, 0) for s in Status}


_REQUIRED_SEVERITY = "关键"
_BAD = frozenset({Status.FAIL, Status.PARTIAL})
_UNJUDGED = frozenset({Status.ERROR, Status.NOT_CHECKED})


def required(control: ControlResult) -> bool:
    """A control whose failure decides 不符合 alone: a high-risk control or a 关键 one."""
    return control.high_risk or control.severity == _REQUIRED_SEVERITY


def _required_failure(control: ControlResult) -> bool:
    # a high-risk finding on any one object is a high-risk finding (部分符合 counts);
    # a 关键 control fails when it is 不符合
    if control.high_risk:
        return control.status in _BAD
    return control.severity == _REQUIRED_SEVERITY and control.status is Status.FAIL


def conclude(controls: Iterable[ControlResult], document: str = "") -> Conclusion:
    """The conclusion and exit code of a set of controls (docs/scoring.md, "Conclusions").

    1. a required control fails -> 不符合 (exit 1), whatever else is unjudged;
    2. no required failure, but a required control is 检查错误/未检查 -> that state (exit 1 when
       other failures exist, else 3): 部分符合 would claim that control was met;
    3. other failures -> 部分符合 if something passed, else 不符合 (exit 1);
    4. no failure, something unjudged -> 检查错误/未检查 (exit 3); never 符合;
    5. nothing judged -> 未检查 (exit 3); else 符合 (exit 0).
    """
    cs = [c for c in controls if c.status is not Status.NOT_APPLICABLE]
    seen = {c.status for c in cs}
    unjudged = tuple(c.control_id for c in cs if c.status in _UNJUDGED)
    req_fail = tuple(c.control_id for c in cs if _required_failure(c))
    req_unjudged = [c for c in cs if required(c) and c.status in _UNJUDGED]
    failing = bool(seen & _BAD)

    def out(status: Status, code: int, rule: str) -> Conclusion:
        return Conclusion(document=document, status=status, status_zh=status.zh, exit_code=code, rule=rule,
                          incomplete=bool(unjudged), required_failures=req_fail, unjudged=unjudged)

    def unjudged_state(among: Iterable[ControlResult]) -> Status:
        return Status.ERROR if any(c.status is Status.ERROR for c in among) else Status.NOT_CHECKED

    if req_fail:
        return out(Status.FAIL, ExitCode.NON_CONFORMANT, "required-failure")
    if req_unjudged:
        code = ExitCode.NON_CONFORMANT if failing else ExitCode.INCOMPLETE
        return out(unjudged_state(req_unjudged), code, "unjudged-required")
    if failing:
        status = Status.PARTIAL if seen & {Status.PASS, Status.PARTIAL} else Status.FAIL
        return out(status, ExitCode.NON_CONFORMANT, "failures")
    if unjudged:
        return out(unjudged_state(cs), ExitCode.INCOMPLETE, "unjudged")
    if not cs:
        return out(Status.NOT_CHECKED, ExitCode.INCOMPLETE, "nothing-judged")
    return out(Status.PASS, ExitCode.CONFORMANT, "conformant")


def conclude_documents(controls: Iterable[ControlResult]) -> tuple[Conclusion, ...]:
    """One conclusion per document the controls cite, in the order they first appear."""
    by_doc: dict[str, list[ControlResult]] = {}
    for c in controls:
        by_doc.setdefault(c.document, []).append(c)
    return tuple(conclude(cs, doc) for doc, cs in by_doc.items())
