"""A decisive sub-check decides alone: one unmet decisive part is 不符合, not 部分符合."""

from __future__ import annotations

import pytest

from ihconform.check import Check
from ihconform.inventory import Inventory
from ihconform.profile import Control, Decisive
from ihconform.results import Status


def _check(decisive: tuple[Decisive, ...]) -> Check:
    control = Control.model_validate({
        "id": "T-01", "title": {"zh": "测试", "en": "test"},
        "source": {"document": "doc", "clause": "1", "text": "应……"},
        "method": "auto", "applies_to": ["host-os"], "severity": "重要", "decisive": decisive})
    return Check(control, None, Inventory.model_construct())  # type: ignore[arg-type]


ROOT = Decisive(part="root login refused", provenance="T/ISEAA 001-2020 判例")


def test_unmet_decisive_part_is_fail_and_says_why() -> None:
    check = _check((ROOT,))
    check.judge_parts({"root login refused": False, "idle timeout": True}, observed={}, expected={})
    assert check.verdict is not None
    assert check.verdict.status is Status.FAIL
    assert "decisive: root login refused (T/ISEAA 001-2020 判例)" in check.verdict.reason


def test_a_probes_own_reason_keeps_the_decisive_tail() -> None:
    """A probe that words its own reason still says which decisive part made it 不符合 (a
    tester defending the verdict needs the 判例, not just "not 部分符合")."""
    check = _check((ROOT,))
    check.judge_parts({"root login refused": False, "idle timeout": True}, observed={}, expected={},
                      reason="sshd: PermitRootLogin yes")
    assert check.verdict is not None and check.verdict.status is Status.FAIL
    assert check.verdict.reason == "sshd: PermitRootLogin yes; decisive: root login refused (T/ISEAA 001-2020 判例)"


def test_unmet_ordinary_part_stays_partial() -> None:
    check = _check((ROOT,))
    check.judge_parts({"root login refused": True, "idle timeout": False}, observed={}, expected={})
    assert check.verdict is not None and check.verdict.status is Status.PARTIAL


def test_all_met_is_pass() -> None:
    check = _check((ROOT,))
    check.judge_parts({"root login refused": True, "idle timeout": True}, observed={}, expected={})
    assert check.verdict is not None and check.verdict.status is Status.PASS


def test_decisive_part_the_probe_does_not_name_is_an_error_not_a_quiet_partial() -> None:
    check = _check((Decisive(part="root login refsued", provenance="typo"),))
    with pytest.raises(KeyError, match="root login refsued"):
        check.judge_parts({"root login refused": False, "idle timeout": True}, observed={}, expected={})
    assert check.verdict is None
