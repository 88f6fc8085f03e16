"""The official 等保 scoring methods, checked against the worked examples of docs/scoring.md.

Each example is computed by hand in docs/scoring.md ("Worked examples"); the figures asserted here
are those hand-computed figures, not values read back from the code.
"""

from __future__ import annotations

import pytest

from ihconform.profile import Control, Method, ObjectType, Scoring, ScoringMethod, Severity, Source, Text
from ihconform.results import ObjectResult, Status, WaiverRef
from ihconform.scoring import (
    PROVISIONAL_MANAGEMENT,
    PROVISIONAL_MISSING_PART,
    PROVISIONAL_UNJUDGED,
    compute_score,
    rules_text,
)

P, PA, F, NA, E = Status.PASS, Status.PARTIAL, Status.FAIL, Status.NOT_APPLICABLE, Status.ERROR
K, Z, Y = Severity.CRITICAL, Severity.MAJOR, Severity.MINOR  # 关键 重要 一般
TECH, MGMT = "安全计算环境", "安全运维管理"
MLPS_2021 = Scoring()
MLPS_2025 = Scoring(method=ScoringMethod.MLPS_2025)


def control(cid: str, sev: Severity, area: str, *, high_risk: bool = False, item: str = "") -> Control:
    return Control(id=cid, title=Text(zh="测", en="t"),
                   source=Source(document="gbt-22239-2019", clause="8.1", item=item or cid, text="t"),
                   method=Method.ATTEST, applies_to=(ObjectType.SITE,), severity=sev, high_risk=high_risk, area=area)


def result(cid: str, st: Status, obj: str = "o", waived: bool = False) -> ObjectResult:
    w = WaiverRef(id="W1", approver="张三", valid_until="2027-01-01", justification="j") if waived else None
    return ObjectResult(control_id=cid, object_id=obj, object_type="site", status=st, status_zh=st.zh, waiver=w)


def example_a(t1_high_risk: bool = False, t1_waived: bool = False) -> tuple[list[Control], list[ObjectResult]]:
    """docs/scoring.md, example A: 6 technical + 4 management items judged (T7 不适用), S = 10."""
    cs = [control("T1", K, TECH, high_risk=t1_high_risk), control("T2", Z, TECH)]
    cs += [control(f"T{i}", Y, TECH) for i in range(3, 8)]
    cs += [control("M1", Z, MGMT)] + [control(f"M{i}", Y, MGMT) for i in range(2, 5)]
    rs = [result("T1", P, "host-a"), result("T1", F, "host-b", waived=t1_waived), result("T2", PA)]
    rs += [result(f"T{i}", P) for i in range(3, 7)] + [result("T7", NA)]
    rs += [result("M1", P), result("M2", PA), result("M3", P), result("M4", P)]
    return cs, rs


def test_example_a_2021_deducts_per_item_and_combines_the_parts() -> None:
    s = compute_score(*example_a(), MLPS_2021)
    assert s is not None
    assert (s.judged_items, s.technical_items, s.management_items) == (10, 6, 4)
    assert (s.technical, s.management, s.value) == (25.0, 45.0, 70.0)  # 50-(15+10), 50-5
    assert s.grade == "中" and not s.gated_by_high_risk
    assert s.medium_risk == ("T1", "T2") and s.high_risk_candidates == ()
    assert s.method_name == "网络安全等级测评报告模版（2021版）"


def test_example_a_high_risk_candidate_gates_2021_to_poor_and_2025_to_non_conformant() -> None:
    cs, rs = example_a(t1_high_risk=True)
    s21, s25 = compute_score(cs, rs, MLPS_2021), compute_score(cs, rs, MLPS_2025)
    assert s21 is not None and s25 is not None
    assert s21.value == 70.0 and s21.grade == "差" and s21.gated_by_high_risk and s21.high_risk_candidates == ("T1",)
    assert s25.value == 70.0 and s25.grade == "不符合" and s25.gated_by_high_risk


def test_example_a_waiver_is_accepted_risk_and_never_improves_score_or_grade() -> None:
    cs, rs = example_a(t1_high_risk=True, t1_waived=True)
    s = compute_score(cs, rs, MLPS_2021)
    assert s is not None
    assert s.value == 70.0 and s.grade == "差" and s.accepted_risk == 1


def test_example_a_2025_is_basically_conformant() -> None:
    s = compute_score(*example_a(), MLPS_2025)
    assert s is not None and s.value == 70.0 and s.grade == "基本符合"


def test_example_b_medium_risk_withholds_excellent() -> None:
    """Example B: 10 items all 符合 but one 重要 technical item 部分符合: 100 - 2×0.5×10 = 90."""
    cs = [control("T1", Z, TECH)] + [control(f"T{i}", Y, TECH) for i in range(2, 6)]
    cs += [control(f"M{i}", Y, MGMT) for i in range(1, 6)]
    rs = [result("T1", PA)] + [result(c.id, P) for c in cs[1:]]
    s = compute_score(cs, rs, MLPS_2021)
    assert s is not None and s.value == 90.0 and s.grade == "良" and s.gated_by_medium_risk
    # the same deduction on a 一般 item (5 points) is 低 risk: 优
    cs[0] = control("T1", Y, TECH)
    s = compute_score(cs, rs, MLPS_2021)
    assert s is not None and s.value == 95.0 and s.grade == "优" and not s.gated_by_medium_risk


def test_example_c_a_part_never_goes_below_zero() -> None:
    """Example C: 2 technical 关键 items 不符合, 2 management 一般 items 符合; S = 25, Σ_t = 150 > 50."""
    cs = [control("T1", K, TECH), control("T2", K, TECH), control("M1", Y, MGMT), control("M2", Y, MGMT)]
    rs = [result("T1", F), result("T2", F), result("M1", P), result("M2", P)]
    s = compute_score(cs, rs, MLPS_2021)
    assert s is not None and (s.technical, s.management, s.value) == (0.0, 50.0, 50.0) and s.grade == "差"


def test_example_d_all_conformant_2025_is_conformant_and_2021_excellent() -> None:
    cs = [control("T1", K, TECH), control("M1", Y, MGMT)]
    rs = [result("T1", P), result("M1", P)]
    assert compute_score(cs, rs, MLPS_2025).grade == "符合"  # type: ignore[union-attr]
    assert compute_score(cs, rs, MLPS_2021).grade == "优"  # type: ignore[union-attr]


def test_sub_controls_of_one_item_are_one_item_judged_per_object() -> None:
    """L3-CES1-27 and L3-CES1-27.db are one 测评项: the host passes, the database fails -> x = 0.5."""
    cs = [control("C27", K, TECH, item="L3-CES1-27"), control("C27.db", K, TECH, item="L3-CES1-27"),
          control("M1", Y, MGMT)]
    rs = [result("C27", P, "host"), result("C27.db", F, "db"), result("M1", P)]
    s = compute_score(cs, rs, MLPS_2021)
    assert s is not None and s.technical_items == 1 and s.judged_items == 2
    assert s.technical == 0.0 and s.management == 50.0  # S = 50: 50 - 3×0.5×50 < 0 -> 0


def test_unjudged_items_score_zero_and_make_the_figure_provisional() -> None:
    cs = [control("T1", Y, TECH), control("T2", Y, TECH), control("M1", Y, MGMT), control("M2", Y, MGMT)]
    rs = [result("T1", P), result("T2", E), result("M1", P), result("M2", P)]
    s = compute_score(cs, rs, MLPS_2021)
    assert s is not None and s.value == 75.0 and s.unjudged_items == 1
    assert s.provisional and PROVISIONAL_UNJUDGED in s.provisional_reasons
    assert PROVISIONAL_MANAGEMENT in s.provisional_reasons and s.management_granularity == "控制点"


def test_a_missing_part_scores_nothing_and_is_provisional() -> None:
    cs = [control("T1", Y, TECH)]
    s = compute_score(cs, [result("T1", P)], MLPS_2021)
    assert s is not None and s.value == 50.0 and PROVISIONAL_MISSING_PART in s.provisional_reasons


def test_controls_outside_the_ten_classes_or_other_documents_are_not_scored() -> None:
    cs = [control("CQ1", K, "基本标准·网络接入")]
    assert compute_score(cs, [result("CQ1", F)], MLPS_2021) is None
    gm = control("GM1", K, TECH).model_copy(update={"source": Source(document="gbt-39786-2021", clause="8.2",
                                                                     text="t")})
    assert compute_score([gm], [result("GM1", F)], MLPS_2021) is None


@pytest.mark.parametrize("scoring", [MLPS_2021, MLPS_2025])
def test_rules_are_a_clean_statement_with_the_official_name(scoring: Scoring) -> None:
    text = rules_text(scoring)
    assert scoring.method.official_name in text
    for internal in ("研究笔记", "[K]", "待以官方模板核实", "docs/", "§"):
        assert internal not in text
    assert ("公网安〔2025〕1001号" in text) == (scoring.method is ScoringMethod.MLPS_2025)
