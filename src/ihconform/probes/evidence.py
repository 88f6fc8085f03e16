"""Judges for controls proven by evidence, not by a probe: attestations and manual records.

A control with method ``attest`` or ``manual`` is judged from the evidence ledger
(``docs/evidence.md``), verified once per run before any probe runs:

- a valid, signed attestation covering the control and the object gives the result it claims,
  with its statement as the reason and its id in ``ObjectResult.attestation``;
- an attestation whose attached file is missing or changed, or whose signature does not
  verify (or whose key is not trusted) gives 检查错误 naming the file or the key: evidence
  that cannot be trusted is never read as a result;
- an expired attestation gives 未检查 "expired on <date>"; an unsigned one 未检查;
- no attestation gives 未检查 with the evidence that is expected — never a pass.

When several attestations cover the same control and object, an integrity problem in any of
them wins (it must be resolved), otherwise the most recent valid one decides: a newer
attestation supersedes an older one, as a re-inspection after remediation does.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from ihconform.check import Check, Verdict
from ihconform.errors import NotChecked
from ihconform.ledger.core import INTEGRITY_ERRORS, VALID, Checked, Ledger
from ihconform.ledger.model import Attestation, DocumentInfo
from ihconform.registry import probe
from ihconform.results import Status


def _expected(check: Check) -> str:
    return check.control.evidence or check.control.source.text


def _att(c: Checked) -> Attestation:
    assert isinstance(c.record, Attestation)
    return c.record


def describe(c: Checked) -> dict[str, Any]:
    """What the report shows as "observed" for an attestation."""
    a = _att(c)
    out: dict[str, Any] = {
        "attestation": a.id, "state": c.state, "claimed": a.result.value, "statement": a.statement,
        "attester": a.attester.label(), "date": a.date.isoformat(), "valid_until": a.valid_until.isoformat(),
        "files": [{"path": f.path, "sha256": f.sha256, "type": f.type} for f in a.files],
        "signer_key": c.signer_key, "source": c.where,
    }
    if a.document is not None:
        out["document"] = a.document.model_dump(mode="json", exclude_defaults=True)
    if c.reason:
        out["reason"] = c.reason
    return out


def link_attestations(check: Check, ledger: Ledger, used: list[Checked]) -> None:
    """Attach the records' evidence files and name them in ObjectResult.attestation."""
    ledger.mark_used(f"{check.control.id}@{check.obj.id}", [c.id for c in used])
    for c in used:
        for ref in ledger.refs.get(c.id, []):
            check.attach(ref)


def newest(valid: list[Checked]) -> Checked:
    return max(valid, key=lambda c: (_att(c).date, c.id))


def record_claim(check: Check, c: Checked, expected: Any) -> None:
    """Record the result an attestation claims, with its statement as the reason."""
    a = _att(c)
    status = a.result.status
    reason = (f"{a.statement} [{a.id}: {a.attester.label()}, {a.date}, "
              f"有效期至 / valid until {a.valid_until}]")
    if status is Status.NOT_APPLICABLE:
        check.not_applicable(reason)
    elif status in (Status.PASS, Status.FAIL):
        check.judge(status is Status.PASS, observed=describe(c), expected=expected, reason=reason)
    else:  # 部分符合: Check has no public call for a claimed partial result
        check._record(Verdict(status, describe(c), expected, reason))


def judge_from_ledger(check: Check, ledger: Ledger, *, none_reason: str) -> None:
    """The generic judge: one object of an attest/manual control, from the verified ledger."""
    found = ledger.attestations_for(check.control.id, check.obj.id)
    expected = _expected(check)
    if not found:
        raise NotChecked(f"{none_reason}; expected: {expected}")
    bad = [c for c in found if c.state in INTEGRITY_ERRORS]
    if bad:
        link_attestations(check, ledger, bad)
        check.error("; ".join(f"证明材料 {c.id} / attestation {c.id}: {c.reason}" for c in bad))
        return
    valid = [c for c in found if c.state == VALID]
    if valid:
        chosen = newest(valid)
        link_attestations(check, ledger, [chosen])
        record_claim(check, chosen, expected)
        return
    link_attestations(check, ledger, found)
    why = "; ".join(f"证明材料 {c.id} / attestation {c.id}: {c.reason}" for c in found)
    check.not_checked(f"{why}; expected: {expected}", observed=[describe(c) for c in found], expected=expected)


@probe("attest.document", facts=())
def test_attested(check: Check, ledger: Ledger) -> None:
    if check.inventory.evidence.attestations is None:
        raise NotChecked(f"无证明材料 / no attestation recorded; expected: {_expected(check)}")
    judge_from_ledger(check, ledger, none_reason="无证明材料 / no attestation recorded")


@probe("manual.judgement", facts=())
def test_manual(check: Check, ledger: Ledger) -> None:
    if check.inventory.evidence.attestations is None:
        raise NotChecked(f"无测试人员记录 / no tester judgement recorded; expected: {_expected(check)}")
    judge_from_ledger(check, ledger, none_reason="无测试人员记录 / no tester judgement recorded")


# ---- 等保 assessment report / filing certificate --------------------------------------------


def _months_before(day: _dt.date, months: int) -> _dt.date:
    """The same day ``months`` earlier (clamped to the month's end): "within the last 12 months"
    of 2026-02-28 starts at 2025-02-28."""
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    m += 1
    for d in (day.day, 30, 29, 28):
        try:
            return _dt.date(y, m, d)
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover


#: How a recorded 测评结论 may be prefixed ("测评结论：良").
_CONCLUSION_PREFIX = re.compile(r"^\s*(测评结论|等级测评结论|结论)?\s*[:：]?\s*")


def _report_outcome(doc: DocumentInfo, accepted: list[str]) -> str | None:
    """Why the recorded official outcome of an 等级测评报告 is not 符合 ("" when it is), or
    None when the conclusion is not recorded. A conclusion outside ``accepted`` (差, 不符合)
    or any 高风险 issue in the report decides; the report's own words are quoted."""
    conclusion = _CONCLUSION_PREFIX.sub("", doc.conclusion).strip()
    if not conclusion:
        return None
    why = []
    if conclusion not in accepted:
        why.append(f"测评结论为“{conclusion}” / official conclusion {conclusion}")
    if doc.high_risk_count:
        why.append(f"报告列出 {doc.high_risk_count} 个高风险问题 / {doc.high_risk_count} high-risk issue(s)")
    if why and doc.score is not None:
        why.append(f"综合得分 {doc.score:g}")
    return "; ".join(why)


@probe("mlps.assessment", facts=())
def test_mlps_assessment(check: Check, ledger: Ledger) -> None:
    """附录1 四(六), 第十八条: the system is protected at MLPS level 3, shown by the filing
    certificate (公安机关备案证明) and an assessment report (等级测评报告) of that level dated
    within ``max_age_months``. Each document is a signed attestation whose ``document`` block
    gives kind, level and issue date; the rule reads those fields, so a level-2 report or a
    stale one is 不符合 quoting them, not a pass on the attester's word alone."""
    if check.inventory.evidence.attestations is None:
        raise NotChecked(f"无证明材料 / no attestation recorded; expected: {_expected(check)}")
    required = [str(k) for k in check.list_param("required_documents")]
    dated = {str(k) for k in check.list_param("dated_documents")}
    level = check.int_param("required_level")
    max_age = check.int_param("max_age_months")
    reports = {str(k) for k in check.list_param("report_documents")}
    accepted = [str(c) for c in check.list_param("accepted_conclusions")]
    if not required:
        raise ValueError(f"{check.control.id}.required_documents is empty: nothing would be checked")
    oldest = _months_before(ledger.today, max_age)
    found = ledger.attestations_for(check.control.id, check.obj.id)
    bad = [c for c in found if c.state in INTEGRITY_ERRORS]
    if bad:
        link_attestations(check, ledger, bad)
        check.error("; ".join(f"证明材料 {c.id} / attestation {c.id}: {c.reason}" for c in bad))
        return
    used: list[Checked] = []
    problems: list[str] = []
    missing: list[str] = []
    observed: dict[str, Any] = {}
    for kind in required:
        of_kind = [c for c in found if (d := _att(c).document) is not None and d.kind == kind]
        valid = [c for c in of_kind if c.state == VALID]
        if not valid:
            why = "; ".join(f"{c.id}: {c.reason}" for c in of_kind) or "none recorded"
            missing.append(f"{kind} ({why})")
            observed[kind] = [describe(c) for c in of_kind]
            used += of_kind
            continue
        c = newest(valid)
        used.append(c)
        a = _att(c)
        doc = a.document
        assert doc is not None
        observed[kind] = describe(c)
        if doc.level != level:
            problems.append(f"{kind} {doc.number or a.id}: level {doc.level}, required {level}")
        if kind in dated:
            if doc.issued is None:
                problems.append(f"{kind} {doc.number or a.id}: no issue date (document.issued)")
            elif doc.issued < oldest:
                problems.append(f"{kind} {doc.number or a.id}: dated {doc.issued}, "
                                f"older than {max_age} months (before {oldest})")
        if a.result.status is not Status.PASS:
            problems.append(f"{kind} {a.id}: attested result is {a.result.status.zh} ({a.result.value})")
        if kind in reports:
            verdict = _report_outcome(doc, accepted)
            if verdict is None:
                missing.append(f"{kind} {doc.number or a.id}: 未记录测评结论（document.conclusion）/ the report's "
                               "official conclusion is not recorded")
            elif verdict:
                problems.append(f"{kind} {doc.number or a.id}: {verdict}")
    link_attestations(check, ledger, used)
    expected = (f"level {level}: {', '.join(required)}; {', '.join(sorted(dated))} issued on or after "
                f"{oldest} ({max_age} months)")
    if problems:
        check.judge(False, observed=observed, expected=expected, reason="; ".join(problems))
    elif missing:
        check.not_checked("缺少有效证明材料 / no valid attestation for: " + "; ".join(missing)
                          + f"; expected: {_expected(check)}", observed=observed, expected=expected)
    else:
        check.judge(True, observed=observed, expected=expected,
                    reason="; ".join(f"{k}: {observed[k]['document'].get('number', '')} "
                                     f"({observed[k]['attestation']})" for k in required))
