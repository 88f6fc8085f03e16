"""Scoring in the manner of the 等保 report template, with the rules as profile data.

- Each control scores 符合 = 1, 部分符合 = ``partial_credit``, 不符合 = 0; 未检查 and 检查错误
  also score 0 (a control that could not be shown to conform never adds to the score);
  不适用 controls are left out.
- The score is the weighted mean x 100, weights by severity (关键/重要/一般 = 3/2/1 by default).
- "After waivers": results covered by an active waiver count as 符合 when the control is
  re-aggregated. The grade uses the after-waiver score.
- Grade: 优/良/中 at the thresholds in the profile; any high-risk control that is 不符合 or
  部分符合 without a waiver gates the conclusion to 差 whatever the score.
Documented in docs/scoring.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from ihconform.profile import Control, Scoring
from ihconform.results import ObjectResult, Score, Status, aggregate


def _credit(status: Status, scoring: Scoring) -> float | None:
    if status is Status.NOT_APPLICABLE:
        return None
    if status is Status.PASS:
        return 1.0
    if status is Status.PARTIAL:
        return scoring.partial_credit
    return 0.0


def _weighted(statuses: dict[str, Status], controls: dict[str, Control], scoring: Scoring) -> tuple[float, int]:
    num = den = 0.0
    judged = 0
    for cid, st in statuses.items():
        credit = _credit(st, scoring)
        if credit is None:
            continue
        w = scoring.weights.get(controls[cid].severity, 1.0)
        num += w * credit
        den += w
        judged += 1
    return (round(100.0 * num / den, 2) if den else 0.0), judged


def compute_score(controls: Iterable[Control], results: Iterable[ObjectResult], scoring: Scoring) -> Score:
    by_id = {c.id: c for c in controls}
    raw: dict[str, list[Status]] = defaultdict(list)
    waived: dict[str, list[Status]] = defaultdict(list)
    for r in results:
        if r.control_id not in by_id:
            continue
        raw[r.control_id].append(r.status)
        covered = r.waiver is not None and r.status in (Status.FAIL, Status.PARTIAL)
        waived[r.control_id].append(Status.PASS if covered else r.status)
    before = {cid: aggregate(s) for cid, s in raw.items()}
    after = {cid: aggregate(s) for cid, s in waived.items()}
    before_value, _ = _weighted(before, by_id, scoring)
    after_value, judged = _weighted(after, by_id, scoring)
    gated = any(by_id[cid].high_risk and st in (Status.FAIL, Status.PARTIAL) for cid, st in after.items())
    grade = scoring.lowest_grade
    if not gated:
        for name, threshold in sorted(scoring.grades.items(), key=lambda kv: -kv[1]):
            if after_value >= threshold:
                grade = name
                break
    weights = "/".join(f"{k.value}={v:g}" for k, v in scoring.weights.items())
    return Score(value=after_value, before_waivers=before_value, grade=grade, gated_by_high_risk=gated,
                 judged_controls=judged,
                 rules=f"weights {weights}; partial {scoring.partial_credit:g}; grades "
                       + ", ".join(f"{k}>={v:g}" for k, v in scoring.grades.items())
                       + f"; any unwaived high-risk failure -> {scoring.lowest_grade}; " + scoring.provenance)
