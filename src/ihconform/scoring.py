"""The 等保 综合得分 and conclusion by the official report templates' methods (docs/scoring.md).

Both methods share the 2021 template's 综合得分 (缺陷扣分法):

- 测评项 (items): controls are grouped by their GB/T 22239 item (``source.item``); per object
  the item's results are aggregated and scored 符合 1 · 部分符合 ``partial_credit`` · 不符合 0;
  检查错误/未检查 score 0 (an unproven item never adds); 不适用 objects are left out; the item's
  score ``x`` is the arithmetic mean over its objects.
- Items fall in the technical part (安全物理环境 … 安全管理中心) or the management part (安全管理制度
  … 安全运维管理); controls of other documents (``scoring.documents``, GB/T 22239 by default) or
  outside those ten 安全类 are not part of the 等保 score.
- ``S = 100 / n`` (n = technical + management items); each item deducts ``f(ω) × (1 − x) × S``,
  f(ω) the importance factor (一般/重要/关键 = 1/2/3 by default);
  ``V_t = max(0, 100·y − Σ_t)``, ``V_m = max(0, 100·(1 − y) − Σ_m)``, ``M = V_t + V_m``.

Then ``mlps-2021`` grades 优/良/中/差 (high-risk gate → 差; 中风险 withholds 优) and ``mlps-2025``
concludes 符合/基本符合/不符合 (重大风险隐患 candidates → 不符合). Waivers never change a score or a
grade: accepted risk is counted on its own. Documented, with worked examples, in docs/scoring.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from ihconform.profile import Control, Scoring, ScoringMethod, Severity
from ihconform.results import ObjectResult, Score, Status, aggregate

#: The ten 安全类 of GB/T 22239-2019 and the part of the score each belongs to.
TECHNICAL_AREAS = ("安全物理环境", "安全通信网络", "安全区域边界", "安全计算环境", "安全管理中心",
                   # GB/T 39786-2021 (密评, its own profile and conclusion): the four technical layers
                   "密评·通用要求", "密评·物理和环境安全", "密评·网络和通信安全", "密评·设备和计算安全",
                   "密评·应用和数据安全")
MANAGEMENT_AREAS = ("安全管理制度", "安全管理机构", "安全管理人员", "安全建设管理", "安全运维管理",
                    "密评·管理制度", "密评·人员管理", "密评·建设运行", "密评·应急处置")

#: Machine keys of Score.provisional_reasons (explained in docs/scoring.md).
PROVISIONAL_MANAGEMENT = "management-per-control-point"
PROVISIONAL_UNJUDGED = "unjudged-items"
PROVISIONAL_MISSING_PART = "technical-or-management-part-missing"

_BAD = (Status.FAIL, Status.PARTIAL)
_MEDIUM = (Severity.CRITICAL, Severity.MAJOR)


def risk_level(high_risk: bool, severity: str) -> str:
    """高/中/低 of a failing control, as in the template's 安全问题风险分析: a high-risk candidate is
    高; a failing 关键/重要 item 中; the rest 低."""
    return "高" if high_risk else "中" if severity in (s.value for s in _MEDIUM) else "低"


@dataclass
class Item:
    """One 测评项 in the formula: its controls' results per object, and its score."""

    key: str
    technical: bool
    factor: float
    objects: dict[str, list[Status]] = field(default_factory=dict)

    def object_credit(self, statuses: list[Status], partial: float) -> float | None:
        st = aggregate(statuses)
        if st is Status.NOT_APPLICABLE:
            return None
        return 1.0 if st is Status.PASS else partial if st is Status.PARTIAL else 0.0

    def score(self, partial: float) -> float | None:
        """x: the mean over objects, None when every object is 不适用."""
        credits = [c for c in (self.object_credit(s, partial) for s in self.objects.values()) if c is not None]
        return sum(credits) / len(credits) if credits else None

    def unjudged(self) -> bool:
        return any(aggregate(s) in (Status.ERROR, Status.NOT_CHECKED) for s in self.objects.values())


def _part(control: Control, scoring: Scoring) -> bool | None:
    """True technical, False management, None when not scored: outside the scored documents
    (GB/T 22239 by default) or the ten 安全类."""
    if control.source.document not in scoring.documents:
        return None
    if control.area in TECHNICAL_AREAS:
        return True
    if control.area in MANAGEMENT_AREAS:
        return False
    return None


def build_items(controls: Iterable[Control], results: Iterable[ObjectResult], scoring: Scoring) -> list[Item]:
    """Group the 等保 controls' results into 测评项, in catalog order."""
    items: dict[str, Item] = {}
    owner: dict[str, Item] = {}
    for c in controls:
        part = _part(c, scoring)
        if part is None:
            continue
        key = c.source.item or c.id
        f = scoring.weights.get(c.severity, 1.0)
        it = items.get(key)
        if it is None:
            it = items[key] = Item(key=key, technical=part, factor=f)
        it.factor = max(it.factor, f)
        owner[c.id] = it
    for r in results:
        it = owner.get(r.control_id)
        if it is not None:
            it.objects.setdefault(r.object_id, []).append(r.status)
    return list(items.values())


def compute_score(controls: Iterable[Control], results: Iterable[ObjectResult], scoring: Scoring) -> Score | None:
    """The 综合得分 and grade of the 等保 controls among ``controls``; None when there are none."""
    controls = list(controls)
    results = list(results)
    by_id = {c.id: c for c in controls}
    items = [(it, x) for it in build_items(controls, results, scoring) if (x := it.score(scoring.partial_credit))
             is not None]
    if not items:
        return None
    n = len(items)
    s = 100.0 / n
    y = scoring.attention_coefficient
    t_items = [(it, x) for it, x in items if it.technical]
    m_items = [(it, x) for it, x in items if not it.technical]
    d_t = sum(it.factor * (1 - x) * s for it, x in t_items)
    d_m = sum(it.factor * (1 - x) * s for it, x in m_items)
    v_t = max(0.0, 100 * y - d_t) if t_items else 0.0
    v_m = max(0.0, 100 * (1 - y) - d_m) if m_items else 0.0
    value = round(v_t + v_m, 2)

    per_control: dict[str, list[Status]] = defaultdict(list)
    accepted = 0
    for r in results:
        c = by_id.get(r.control_id)
        if c is None or _part(c, scoring) is None:
            continue
        per_control[r.control_id].append(r.status)
        accepted += r.waiver is not None and r.status in _BAD
    failing = [cid for cid, sts in per_control.items() if aggregate(sts) in _BAD]
    high = tuple(cid for cid in failing if by_id[cid].high_risk)
    medium = tuple(cid for cid in failing if not by_id[cid].high_risk and by_id[cid].severity in _MEDIUM)

    unjudged = sum(1 for it, _ in items if it.unjudged())
    reasons = []
    if m_items:
        reasons.append(PROVISIONAL_MANAGEMENT)
    if unjudged:
        reasons.append(PROVISIONAL_UNJUDGED)
    if not t_items or not m_items:
        reasons.append(PROVISIONAL_MISSING_PART)

    if scoring.method is ScoringMethod.MLPS_2025:
        grade, gated_medium = _conclusion_2025(value, high, all(x == 1 for _, x in items) and not unjudged, scoring)
    else:
        grade, gated_medium = _grade_2021(value, high, medium, scoring)
    return Score(method=scoring.method.value, method_name=scoring.method.official_name, value=value,
                 technical=round(v_t, 2), management=round(v_m, 2), attention_coefficient=y, grade=grade,
                 gated_by_high_risk=bool(high), gated_by_medium_risk=gated_medium, high_risk_candidates=high,
                 medium_risk=medium, judged_items=n, technical_items=len(t_items), management_items=len(m_items),
                 unjudged_items=unjudged, management_granularity="控制点", provisional=bool(reasons),
                 provisional_reasons=tuple(reasons), accepted_risk=accepted, rules=rules_text(scoring))


def _grade_2021(value: float, high: tuple[str, ...], medium: tuple[str, ...], scoring: Scoring) -> tuple[str, bool]:
    """优/良/中/差: any high-risk candidate -> 差; 优 also needs no 中风险 finding."""
    if high:
        return scoring.lowest_grade, False
    gated_medium = False
    for name, threshold in sorted(scoring.grades.items(), key=lambda kv: -kv[1]):
        if value >= threshold:
            if name == "优" and medium:
                gated_medium = True
                continue
            return name, gated_medium
    return scoring.lowest_grade, gated_medium


def _conclusion_2025(value: float, high: tuple[str, ...], clean: bool, scoring: Scoring) -> tuple[str, bool]:
    """符合 (no issue at all, 100) / 基本符合 (no 重大风险隐患, >= threshold) / 不符合."""
    if high:
        return "不符合", False
    if clean and value >= 100:
        return "符合", False
    return ("基本符合" if value >= scoring.pass_threshold else "不符合"), False


def rules_text(scoring: Scoring) -> str:
    """The method as printed in a report: its official name and rules, from the profile's data."""
    w = scoring.weights
    f = "/".join(f"{w.get(sv, 1.0):g}" for sv in (Severity.CRITICAL, Severity.MAJOR, Severity.MINOR))
    y = scoring.attention_coefficient
    base = (f"综合得分按测评项扣分：符合计 1、部分符合计 {scoring.partial_credit:g}、不符合及未能检查计 0，"
            f"多个测评对象取算术平均；关键/重要/一般测评项的扣分系数为 {f}；技术部分与管理部分分别扣分"
            f"（关注系数 y={y:g}，技术部分满分 {100 * y:g}、管理部分满分 {100 * (1 - y):g}）后相加。"
            "豁免（已接受风险）不计为符合，单独统计。")
    if scoring.method is ScoringMethod.MLPS_2025:
        return (f"依据《{scoring.method.official_name}》（公网安〔2025〕1001号）。{base}"
                f"结论：未发现安全问题且综合得分 100 分为符合；不存在重大风险隐患且综合得分不低于 "
                f"{scoring.pass_threshold:g} 分为基本符合；存在重大风险隐患或综合得分低于 "
                f"{scoring.pass_threshold:g} 分为不符合。")
    g = scoring.grades
    return (f"依据《{scoring.method.official_name}》。{base}"
            f"结论：无中、高风险且综合得分不低于 {g.get('优', 90):g} 分为优；"
            f"无高风险且不低于 {g.get('良', 80):g} 分为良；"
            f"无高风险且不低于 {g.get('中', 70):g} 分为中；存在高风险或低于 {g.get('中', 70):g} 分为差。")
