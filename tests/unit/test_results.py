"""Aggregation as assessors do it, the conclusion as the documents define it, and exit codes:
an error or a missing check never passes, and never makes a conclusion better."""

from __future__ import annotations

import pytest

from ihconform.results import ControlResult, ExitCode, Status, aggregate, conclude, conclude_documents, counts

P, PA, F, NA, NC, E = (Status.PASS, Status.PARTIAL, Status.FAIL, Status.NOT_APPLICABLE,
                       Status.NOT_CHECKED, Status.ERROR)


@pytest.mark.parametrize(("states", "expected"), [
    ([P, P], P),
    ([P, F], PA),
    ([F, F], F),
    ([PA], PA),
    ([P, NA], P),
    ([NA, NA], NA),
    ([P, E], E),
    ([P, NC], NC),
    ([F, E], F),
    ([P, F, E], PA),
    ([E, NC], E),
    ([], NA),
])
def test_aggregate(states: list[Status], expected: Status) -> None:
    assert aggregate(states) is expected


def test_error_never_becomes_pass() -> None:
    for other in (P, NA):
        assert aggregate([other, E]) not in (P, NA)
        assert aggregate([other, NC]) not in (P, NA)


def ctl(cid: str, st: Status, sev: str = "一般", high_risk: bool = False, doc: str = "d") -> ControlResult:
    return ControlResult(control_id=cid, title_zh="测", title_en="t", document=doc, clause="c", item="",
                         requirement="r", method="auto", severity=sev, high_risk=high_risk, area="", status=st,
                         status_zh=st.zh, counts=counts([st]))


@pytest.mark.parametrize(("controls", "status", "code", "rule"), [
    ([ctl("a", P), ctl("b", P)], P, ExitCode.CONFORMANT, "conformant"),
    ([ctl("a", P), ctl("b", F)], PA, ExitCode.NON_CONFORMANT, "failures"),
    ([ctl("a", F), ctl("b", F)], F, ExitCode.NON_CONFORMANT, "failures"),
    # the case: one control passes, a high-risk one fails -> 不符合, not 部分符合
    ([ctl("a", P), ctl("h", F, high_risk=True)], F, ExitCode.NON_CONFORMANT, "required-failure"),
    # a high-risk finding on one object (部分符合) is a high-risk finding
    ([ctl("a", P), ctl("h", PA, high_risk=True)], F, ExitCode.NON_CONFORMANT, "required-failure"),
    # a 关键 control 不符合 decides alone; 部分符合 of a 关键 control does not
    ([ctl("a", P), ctl("k", F, "关键")], F, ExitCode.NON_CONFORMANT, "required-failure"),
    ([ctl("a", P), ctl("k", PA, "关键")], PA, ExitCode.NON_CONFORMANT, "failures"),
    # errors never improve: 不符合 stays 不符合, flagged incomplete
    ([ctl("h", F, high_risk=True), ctl("x", E)], F, ExitCode.NON_CONFORMANT, "required-failure"),
    # a required control unjudged: 部分符合 would claim it was met
    ([ctl("a", P), ctl("b", F), ctl("k", E, "关键")], E, ExitCode.NON_CONFORMANT, "unjudged-required"),
    ([ctl("a", P), ctl("h", NC, high_risk=True)], NC, ExitCode.INCOMPLETE, "unjudged-required"),
    ([ctl("a", P), ctl("b", PA), ctl("x", E)], PA, ExitCode.NON_CONFORMANT, "failures"),
    ([ctl("a", P), ctl("x", E)], E, ExitCode.INCOMPLETE, "unjudged"),
    ([ctl("a", P), ctl("x", NC), ctl("n", NA)], NC, ExitCode.INCOMPLETE, "unjudged"),
    ([ctl("n", NA)], NC, ExitCode.INCOMPLETE, "nothing-judged"),
    ([], NC, ExitCode.INCOMPLETE, "nothing-judged"),
])
def test_conclusion(controls: list[ControlResult], status: Status, code: int, rule: str) -> None:
    c = conclude(controls)
    assert (c.status, c.exit_code, c.rule) == (status, code, rule)
    assert c.incomplete == any(x.status in (E, NC) for x in controls)
    if any(x.status in (E, NC) for x in controls):
        assert c.status is not P


def test_conclusion_names_required_failures_and_unjudged() -> None:
    c = conclude([ctl("h", F, high_risk=True), ctl("k", F, "关键"), ctl("z", F, "重要"), ctl("x", E)])
    assert c.required_failures == ("h", "k") and c.unjudged == ("x",) and c.status_zh == "不符合"


def test_conclusion_per_document() -> None:
    cs = [ctl("a", P, doc="cq"), ctl("h", F, high_risk=True, doc="cq"),
          ctl("b", P, doc="mlps"), ctl("c", PA, doc="mlps")]
    docs = {c.document: c.status for c in conclude_documents(cs)}
    assert docs == {"cq": F, "mlps": PA}


def test_labels() -> None:
    assert [s.zh for s in Status] == ["符合", "部分符合", "不符合", "不适用", "未检查", "检查错误"]
    assert Status("not_checked") is NC
