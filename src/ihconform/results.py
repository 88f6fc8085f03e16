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


class Score(Model):
    """等保-style score (docs/scoring.md): 0-100, before and after waivers, and the grade."""

    value: float  # after waivers, the one the conclusion uses
    before_waivers: float
    grade: str  # 优 / 良 / 中 / 差
    gated_by_high_risk: bool
    judged_controls: int
    rules: str


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


class Summary(Model):
    status: Status
    status_zh: str
    exit_code: int
    controls: dict[str, int]
    objects: dict[str, int]
    high_risk_failures: tuple[str, ...] = ()
    accepted_risk: int = 0  # failing results covered by an active waiver
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


def overall(control_statuses: Iterable[Status]) -> tuple[Status, int]:
    """The run's state and exit code: any failure -> 1; else any error/unchecked -> 3; else 0."""
    seen = set(control_statuses)
    if seen & {Status.FAIL, Status.PARTIAL}:
        return (Status.FAIL if Status.PASS not in seen else Status.PARTIAL), ExitCode.NON_CONFORMANT
    if seen & {Status.ERROR, Status.NOT_CHECKED}:
        return (Status.ERROR if Status.ERROR in seen else Status.NOT_CHECKED), ExitCode.INCOMPLETE
    if not seen or seen == {Status.NOT_APPLICABLE}:
        return Status.NOT_CHECKED, ExitCode.INCOMPLETE
    return Status.PASS, ExitCode.CONFORMANT
