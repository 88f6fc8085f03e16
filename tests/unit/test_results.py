"""Aggregation as assessors do it, and exit codes: an error or a missing check never passes."""

from __future__ import annotations

import pytest

from ihconform.results import ExitCode, Status, aggregate, overall

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
def test_aggregate(states, expected):
    assert aggregate(states) is expected


def test_error_never_becomes_pass():
    for other in (P, NA):
        assert aggregate([other, E]) not in (P, NA)
        assert aggregate([other, NC]) not in (P, NA)


@pytest.mark.parametrize(("states", "code"), [
    ([P, P], ExitCode.CONFORMANT),
    ([P, F], ExitCode.NON_CONFORMANT),
    ([P, PA, E], ExitCode.NON_CONFORMANT),
    ([P, E], ExitCode.INCOMPLETE),
    ([P, NC, NA], ExitCode.INCOMPLETE),
    ([NA], ExitCode.INCOMPLETE),
    ([], ExitCode.INCOMPLETE),
])
def test_exit_codes(states, code):
    assert overall(states)[1] == code


def test_labels():
    assert [s.zh for s in Status] == ["符合", "部分符合", "不符合", "不适用", "未检查", "检查错误"]
    assert Status("not_checked") is NC
