"""Scoring rules: weights by severity, partial credit, waivers, and the high-risk gate."""

from __future__ import annotations

from ihconform.profile import Control, Method, ObjectType, Scoring, Severity, Source, Text
from ihconform.results import ObjectResult, Status, WaiverRef
from ihconform.scoring import compute_score


def control(cid: str, sev: Severity, high_risk: bool = False) -> Control:
    return Control(id=cid + "1", title=Text(zh="测", en="t"), source=Source(document="doc", clause="c", text="t"),
                   method=Method.ATTEST, applies_to=(ObjectType.SITE,), severity=sev, high_risk=high_risk)


def result(cid: str, st: Status, obj: str = "o", waived: bool = False) -> ObjectResult:
    w = WaiverRef(id="W1", approver="张三", valid_until="2027-01-01", justification="j") if waived else None
    return ObjectResult(control_id=cid + "1", object_id=obj, object_type="site", status=st, status_zh=st.zh, waiver=w)


def test_weighted_mean_with_partial_credit():
    cs = [control("A", Severity.CRITICAL), control("B", Severity.MINOR), control("C", Severity.MAJOR)]
    rs = [result("A", Status.PASS), result("B", Status.FAIL), result("C", Status.PASS), result("C", Status.FAIL, "p")]
    s = compute_score(cs, rs, Scoring())
    assert s.value == round(100 * (3 * 1 + 1 * 0 + 2 * 0.5) / 6, 2)
    assert s.grade == "差" and not s.gated_by_high_risk  # 66.67 < 70


def test_not_applicable_is_left_out_and_errors_score_zero():
    cs = [control("A", Severity.MINOR), control("B", Severity.MINOR), control("C", Severity.MINOR)]
    rs = [result("A", Status.PASS), result("B", Status.NOT_APPLICABLE), result("C", Status.ERROR)]
    s = compute_score(cs, rs, Scoring())
    assert s.value == 50.0 and s.judged_controls == 2


def test_high_risk_failure_gates_to_poor_and_waiver_lifts_after_score_only():
    cs = [control("A", Severity.CRITICAL, high_risk=True)] + [control(f"P{i}", Severity.CRITICAL) for i in range(20)]
    rs = [result("A", Status.FAIL)] + [result(f"P{i}", Status.PASS) for i in range(20)]
    s = compute_score(cs, rs, Scoring())
    assert s.value > 90 and s.grade == "差" and s.gated_by_high_risk
    rs[0] = result("A", Status.FAIL, waived=True)
    w = compute_score(cs, rs, Scoring())
    assert w.value == 100.0 and w.before_waivers == s.value and w.grade == "优" and not w.gated_by_high_risk
