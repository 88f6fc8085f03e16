"""The control catalog model: what a profile file may say, and the resolved control set.

A profile file is data (``profiles/*.yaml``): each control maps to its clause (document,
article, item, quoted text), says how it is judged (``auto`` by a named probe, ``attest``
by an evidence document, ``manual`` by the tester's recorded judgement), which object
types it applies to, its severity, and its thresholds as named parameters with provenance.
Probes read thresholds from here, never from literals in code.
"""

from __future__ import annotations

import datetime as _dt
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ControlId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")]
ProbeId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")]
ParamValue = bool | int | float | str | list[str] | list[int]


class Frozen(BaseModel):
    """Base of every input model: immutable, and unknown keys are an error."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Method(StrEnum):
    AUTO = "auto"  # a probe judges it from gathered facts (核查/测试)
    ATTEST = "attest"  # an evidence document attested by a named person (文档核查/访谈)
    MANUAL = "manual"  # the tester's recorded judgement (现场核查)


class Severity(StrEnum):
    """The weight classes of the 等保 report template."""

    MINOR = "一般"
    MAJOR = "重要"
    CRITICAL = "关键"

    @property
    def key(self) -> str:
        return {"一般": "minor", "重要": "major", "关键": "critical"}[self.value]


class ObjectType(StrEnum):
    """Kinds of objects a control is judged on, each judged separately as assessors do."""

    SITE = "site"  # the deployment as a whole (counts, topology, documents)
    HOST_OS = "host-os"
    HOST_OS_WINDOWS = "host-os-windows"  # a Windows Server host: its own probes (facts/windows.py)
    DATABASE = "database"
    WEB_SERVER = "web-server"
    TLS_ENDPOINT = "tls-endpoint"
    UPLINK = "uplink"
    AV_SYSTEM = "av-system"
    POWER = "power"
    PLATFORM_LINK = "platform-link"
    CLINICAL_INTERFACE = "clinical-interface"
    NETWORK_DEVICE = "network-device"  # switch, router, firewall, WAF, IDS, bastion, log audit (issue 15)


class Text(Frozen):
    """A bilingual text. Chinese is the language of record; English follows."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Document(Frozen):
    """A regulation or standard that controls cite."""

    id: ControlId
    title: str
    number: str = ""  # e.g. 渝卫发〔2023〕69号, GB/T 22239-2019
    issued: _dt.date | None = None
    issuer: str = ""


class Source(Frozen):
    """Where a control comes from: document, article/clause, item, and the quoted text."""

    document: ControlId
    clause: str = Field(min_length=1)  # 第十九条, 附录1 四(一), 8.1.4.1
    item: str = ""  # a), (一), L3-CES1-01
    text: str = Field(min_length=1)  # the requirement, quoted from the regulation


class Parameter(Frozen):
    """A threshold with its provenance: where the number comes from."""

    value: ParamValue
    unit: str = ""
    provenance: str = Field(min_length=1)


class Decisive(Frozen):
    """A sub-check whose failure alone makes the object 不符合 (not 部分符合), as an assessor
    writes it: a root login allowed, an empty password, ``trust`` for the network. ``part`` is
    the probe's own name of the sub-check; ``provenance`` names the 判例 or the standard's words."""

    part: str = Field(min_length=1)
    provenance: str = Field(min_length=1)


class HighRiskCase(Frozen):
    """Where a high-risk flag comes from: the 判例 of T/ISEAA 001-2020《网络安全等级保护测评高风险
    判定指引》 (or, for a basic-standard control, the clause that makes it a precondition), and the
    compensating factors (补偿因素) under which an assessor would lower it. A failing high-risk
    control is a *candidate* high risk: the assessor weighs these factors, the tool does not."""

    guide: str = Field(default="T/ISEAA 001-2020", min_length=1)
    id: str = Field(min_length=1)  # the 测评项 the 判例 is filed under, e.g. 8.1.4.1 a)
    title: str = Field(min_length=1)  # the 判例's name
    compensating: tuple[str, ...] = ()  # 补偿因素 that may lower the risk


class Control(Frozen):
    id: ControlId
    title: Text
    source: Source
    method: Method
    applies_to: tuple[ObjectType, ...] = Field(min_length=1)
    severity: Severity
    high_risk: bool = False
    high_risk_case: HighRiskCase | None = None  # required when high_risk (tests/unit/test_catalog.py)
    probe: ProbeId | None = None
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    tags: tuple[str, ...] = ()
    area: str = ""  # report grouping, e.g. 安全计算环境 / 基本标准·网络
    remediation: Text | None = None
    evidence: str = ""  # for attest/manual: which document or record is expected
    decisive: tuple[Decisive, ...] = ()  # sub-checks of a multi-part probe that decide alone
    #: the 安全控制点 a 测评项 belongs to ("8.1.10.6 网络和系统安全管理"), so the report can show
    #: results per control point with their items, as the 等保 report template does
    control_point: str = ""
    #: ids this requirement had in an earlier catalog (the old one-per-控制点 ``L3-M-8.1.x.y``): an
    #: attestation recorded under one of them still applies to this control until replaced
    legacy_ids: tuple[ControlId, ...] = ()
    #: where the id and the quoted text come from, and what is unverified ([K]) about them
    provenance: str = ""

    def param(self, name: str) -> ParamValue:
        """The value of a named threshold; a missing one is a catalog bug, raised loudly."""
        try:
            return self.parameters[name].value
        except KeyError:
            raise KeyError(f"control {self.id} has no parameter {name!r}") from None


class Override(Frozen):
    """Tailoring: change a control's thresholds or severity, with the reason recorded."""

    control: ControlId
    parameters: dict[str, ParamValue] = Field(default_factory=dict)
    severity: Severity | None = None
    high_risk: bool | None = None
    provenance: str = Field(min_length=1)


class Exclusion(Frozen):
    """Tailoring: a control that does not apply here. It is reported 不适用 with the reason."""

    control: ControlId
    reason: str = Field(min_length=1)


class ScoringMethod(StrEnum):
    """The official 等保 report template whose scoring and conclusion scheme a run follows."""

    MLPS_2021 = "mlps-2021"  # 网络安全等级测评报告模版（2021版）: 综合得分 and 优/良/中/差
    MLPS_2025 = "mlps-2025"  # 网络安全等级测评报告模版（2025版）: 符合/基本符合/不符合

    @property
    def official_name(self) -> str:
        return {"mlps-2021": "网络安全等级测评报告模版（2021版）",
                "mlps-2025": "网络安全等级测评报告模版（2025版）"}[self.value]


class Scoring(Frozen):
    """The 等保 scoring method and its constants; see docs/scoring.md for the formula and sources.
    ``provenance`` is for the profile's readers and docs only; reports print the method itself."""

    method: ScoringMethod = ScoringMethod.MLPS_2021
    weights: dict[Severity, float] = Field(  # deduction factor f(ω) per 测评项 importance
        default_factory=lambda: {Severity.CRITICAL: 3.0, Severity.MAJOR: 2.0, Severity.MINOR: 1.0}
    )
    partial_credit: float = Field(default=0.5, ge=0, le=1)
    attention_coefficient: float = Field(default=0.5, ge=0, le=1)  # 关注系数 y: technical share
    grades: dict[str, float] = Field(default_factory=lambda: {"优": 90.0, "良": 80.0, "中": 70.0})
    pass_threshold: float = Field(default=70.0, ge=0, le=100)  # mlps-2025: lowest score of 基本符合
    documents: tuple[str, ...] = ("gbt-22239-2019",)  # the documents whose controls the 等保 score covers
    provenance: str = "docs/scoring.md"
    #: the conclusion below every threshold or gated by a high-risk failure: 差 for 等保, 不符合 for 密评
    lowest_grade: str = "差"


class ConditionalInclude(Frozen):
    """An include that applies only to systems hosted a given way (inventory
    ``system.hosting.kind``): the cloud extension is part of the assessment only on a cloud."""

    profile: str = Field(min_length=1)
    when_hosting: Literal["on-premises", "idc", "cloud"]


class ProfileHeader(Frozen):
    id: ControlId
    title: Text
    version: str
    description: str = ""
    documents: tuple[Document, ...] = ()
    includes: tuple[str, ...] = ()  # built-in profile ids or paths relative to this file
    overrides: tuple[Override, ...] = ()
    exclude: tuple[Exclusion, ...] = ()
    scoring: Scoring | None = None
    conditional_includes: tuple[ConditionalInclude, ...] = ()


class ProfileFile(Frozen):
    """The shape of one profile YAML file."""

    profile: ProfileHeader
    controls: tuple[Control, ...] = ()


class Profile(Frozen):
    """A resolved profile: includes merged, overrides applied, exclusions recorded."""

    id: str
    title: Text
    version: str
    documents: dict[str, Document]
    controls: tuple[Control, ...]
    excluded: dict[str, str]  # control id -> reason (reported 不适用)
    scoring: Scoring
    sources: tuple[str, ...]  # every file read, in order, for the report's digests
    digests: dict[str, str]  # file -> sha256

    def control(self, control_id: str) -> Control:
        for c in self.controls:
            if c.id == control_id:
                return c
        raise KeyError(control_id)
