"""The ledger's record formats: attestations, waivers and the keyring, as YAML files.

Each model is a frozen pydantic model with unknown keys rejected (base class
:class:`ihconform.profile.Frozen`), loaded through :mod:`ihconform.yamlio` so an error names
file, line and field. The formats are documented with examples in ``docs/evidence.md``.

Why the fields are what they are (see ``anchors-what-users-ask.md`` §2, §6):
- SAF attestations accept only passed/failed, carry no files and no attester identity beyond a
  name; here the claimed result is any 等保 state, files are pinned by SHA-256, the attester
  has name, role and organisation, and the record is signed.
- InSpec waivers lack approver, effective date and risk (inspec#4551); here all are required.
"""

from __future__ import annotations

import datetime as _dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, model_validator

from ihconform.profile import ControlId, Frozen
from ihconform.results import Status

RecordId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
#: An object id of the inventory, or ``*`` for every object the control applies to.
ObjectSel = Annotated[str, StringConstraints(pattern=r"^(\*|[A-Za-z0-9][A-Za-z0-9._:-]{0,80})$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Claim(StrEnum):
    """The result an attestation claims: the 等保 states a person can vouch for."""

    PASS = "pass"  # noqa: S105 - a state name, not a password
    PARTIAL = "partial"
    FAIL = "fail"
    NOT_APPLICABLE = "not_applicable"

    @property
    def status(self) -> Status:
        return Status(self.value)


class Risk(StrEnum):
    """Risk rating of an accepted deviation (高/中/低 are accepted as input)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def zh(self) -> str:
        return {"high": "高", "medium": "中", "low": "低"}[self.value]


def _risk_zh(v: Any) -> Any:
    return {"高": "high", "中": "medium", "低": "low"}.get(v, v) if isinstance(v, str) else v


class Person(Frozen):
    """Who vouches (attester) or accepts a risk (approver)."""

    name: str = Field(min_length=1)
    role: str = Field(min_length=1)  # e.g. 信息科科长 / head of IT
    organisation: str = Field(min_length=1)

    def label(self) -> str:
        return f"{self.name} ({self.role}, {self.organisation})"


class AttachedFile(Frozen):
    """A document file, pinned by its digest when attached; re-hashed at every run."""

    path: str = Field(min_length=1)  # relative to the ledger file's folder, or absolute
    sha256: Sha256
    type: Slug  # contract, report, certificate, record, photo, screenshot, statement, ...


class DocumentInfo(Frozen):
    """What the attested document is, for rules that read it (等保 report, supply contract).

    For an 等级测评报告 the official outcome is recorded as the report states it, so the
    rule can judge from it and the deliverable can quote it: 测评结论 (``conclusion``: 优/良/
    中/差 under the 2021 template, 符合/基本符合/不符合 under the 2025 one), 综合得分
    (``score``, 2021 template), the number of 高风险 issues (``high_risk_count``), 备案号
    (``filing_number``), 测评机构 (``issuer``) and 报告编号 (``number``)."""

    kind: Slug  # e.g. mlps-assessment-report, mlps-filing-certificate, dual-feed-contract
    number: str = ""  # report or certificate number (报告编号 / 备案证明编号)
    issued: _dt.date | None = None
    issuer: str = ""  # 测评机构 / 公安机关 / 供电公司
    level: int | None = Field(default=None, ge=1, le=5)  # MLPS level, for 等保 documents
    conclusion: str = ""  # 测评结论, e.g. 良
    score: float | None = Field(default=None, ge=0, le=100)  # 综合得分 (2021 template)
    high_risk_count: int | None = Field(default=None, ge=0)  # 高风险问题数量
    medium_risk_count: int | None = Field(default=None, ge=0)  # 中风险问题数量
    filing_number: str = ""  # 备案号 (公安机关备案证明编号)


class Signature(Frozen):
    algorithm: Literal["ed25519", "sm2-sm3"] = "ed25519"
    public_key: str = Field(min_length=1)
    value: str = Field(min_length=1)


class Attestation(Frozen):
    """A person vouches that a control holds (or not) for some objects, with documents."""

    id: RecordId
    control: ControlId
    objects: tuple[ObjectSel, ...] = Field(min_length=1)
    statement: str = Field(min_length=1)
    attester: Person
    date: _dt.date
    valid_until: _dt.date
    result: Claim
    document: DocumentInfo | None = None
    files: tuple[AttachedFile, ...] = ()
    signature: Signature | None = None

    @model_validator(mode="after")
    def _dates(self) -> Attestation:
        if self.valid_until < self.date:
            raise ValueError("valid_until is before date")
        return self

    def covers(self, control_id: str, object_id: str) -> bool:
        return self.control == control_id and ("*" in self.objects or object_id in self.objects)


class Waiver(Frozen):
    """Accepted risk: a failure that stays visible as waived, with who accepted it until when."""

    id: RecordId
    control: ControlId
    objects: tuple[ObjectSel, ...] = Field(min_length=1)
    justification: str = Field(min_length=1)
    compensating_control: str = Field(min_length=1)
    risk: Annotated[Risk, BeforeValidator(_risk_zh)]
    approver: Person
    valid_from: _dt.date
    valid_until: _dt.date
    signature: Signature | None = None

    @model_validator(mode="after")
    def _dates(self) -> Waiver:
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self

    def covers(self, control_id: str, object_id: str) -> bool:
        return self.control == control_id and ("*" in self.objects or object_id in self.objects)


class TrustedKey(Frozen):
    """A key the site trusts to sign, and whose it is. With a keyring, only these sign."""

    algorithm: Literal["ed25519", "sm2-sm3"] = "ed25519"
    public_key: str = Field(min_length=1)
    owner: Person


class AttestationFile(Frozen):
    attestations: tuple[Attestation, ...] = ()


class WaiverFile(Frozen):
    waivers: tuple[Waiver, ...] = ()


class KeyringFile(Frozen):
    keys: tuple[TrustedKey, ...] = ()
