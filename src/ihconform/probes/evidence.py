"""Judges for controls proven by evidence, not by a probe: attestations and manual records.

Until an attestation or a tester's recorded judgement exists for the control, the result is
未检查 with the evidence that is expected — never a pass.
"""

from __future__ import annotations

from ihconform.check import Check
from ihconform.errors import NotChecked
from ihconform.registry import probe


def _expected(check: Check) -> str:
    return check.control.evidence or check.control.source.text


@probe("attest.document", facts=())
def test_attested(check: Check) -> None:
    if check.inventory.evidence.attestations is None:
        raise NotChecked(f"无证明材料 / no attestation recorded; expected: {_expected(check)}")
    raise NotChecked(f"证明材料台账尚不支持 / this version cannot read the attestation ledger yet; "
                     f"expected: {_expected(check)}")


@probe("manual.judgement", facts=())
def test_manual(check: Check) -> None:
    if check.inventory.evidence.attestations is None:
        raise NotChecked(f"无测试人员记录 / no tester judgement recorded; expected: {_expected(check)}")
    raise NotChecked(f"人工核查记录尚不支持 / this version cannot read recorded judgements yet; "
                     f"expected: {_expected(check)}")
