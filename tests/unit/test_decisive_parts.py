"""Every decisive sub-check a built-in profile names is one its probe can give.

Two honest sources of a probe's part names: the names it declares (``probe(parts=...)``), which
are checked here against what the web probes really give on the recorded nginx/Tomcat fixtures;
and, for a probe that declares none, the string literals of its own source (a decisive part must
be a fixed name, so it appears there verbatim).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ihconform.catalog import builtin_profiles, load_profile
from ihconform.check import Check
from ihconform.errors import FactUnavailable
from ihconform.facts.collect import HostFacts
from ihconform.facts.host import HostView
from ihconform.inventory import TestObject as Obj
from ihconform.probes import web as wp
from ihconform.profile import ObjectType
from ihconform.registry import declared_parts, probe_function
from ihconform.results import Status
from tests.fixtures.facts.factsfix import HERE, LAB, load_dir, web_check, with_text
from tests.unit.test_web_probes import TOMCAT_DEFAULT

WEB_PROBES: list[tuple[Callable[..., None], str]] = [
    (wp.test_hardening, "web.hardening"), (wp.test_tls_config, "web.tls_config"),
    (wp.test_logging, "web.logging"), (wp.test_worker_user, "web.worker_user")]


def decisive_controls() -> Iterator[tuple[str, str, str | None, str]]:
    for pid, path in builtin_profiles().items():
        for c in load_profile(str(path)).controls:
            for d in c.decisive:
                yield pid, c.id, c.probe, d.part


def test_every_decisive_part_is_a_part_its_probe_can_give() -> None:
    seen = 0
    for pid, cid, probe, part in decisive_controls():
        seen += 1
        assert probe is not None, f"{pid}/{cid}: decisive parts need a probe"
        declared = declared_parts(probe)
        if declared is not None:
            assert part in declared, f"{pid}/{cid}: {part!r} not among {probe}'s parts {sorted(declared)}"
        else:
            source = inspect.getsource(probe_function(probe))
            assert f'"{part}"' in source, f"{pid}/{cid}: {probe} never names a part {part!r}"
    assert seen >= 3  # web.logging, web.worker_user, tls.database at least


@pytest.fixture(scope="module")
def web_fixtures() -> list[HostFacts]:
    app01 = load_dir(HERE / "lab" / "app01", "app01")
    facts = [app01]
    for name in ("nginx-hardened.txt", "nginx-weak.txt", "nginx-debian-default.txt", "nginx-lab-app01.txt"):
        facts.append(with_text(with_text(app01, "nginx", (HERE / "web" / name).read_text()), "tomcat", ""))
    facts.append(with_text(with_text(app01, "nginx", "## absent\n"), "tomcat", TOMCAT_DEFAULT))
    return facts


def _run(fn: Callable[..., None], check: Check, facts: HostFacts) -> None:
    if fn is wp.test_worker_user:
        fn(check, facts, HostView(facts))
    else:
        fn(check, facts)


@pytest.mark.parametrize(("fn", "pid"), WEB_PROBES)
def test_declared_web_parts_are_the_fixed_parts_the_probe_gives(
        fn: Callable[..., None], pid: str, web_fixtures: list[HostFacts], monkeypatch: pytest.MonkeyPatch) -> None:
    given: set[str] = set()
    original = Check.judge_parts

    def record(self: Check, parts: dict[str, bool], **kw: Any) -> None:
        given.update(parts)
        original(self, parts, **kw)

    monkeypatch.setattr(Check, "judge_parts", record)
    for facts in web_fixtures:
        try:
            _run(fn, web_check(pid, facts.host_id), facts)
        except (ValueError, LookupError, FactUnavailable):  # recorded as 检查错误 in a run: no parts
            continue
    fixed = {p for p in given if not p.startswith("Tomcat /")}  # per-file Tomcat parts are never decisive
    declared = declared_parts(pid)
    assert declared is not None
    assert fixed <= declared, f"{pid} gives undeclared parts {sorted(fixed - declared)}"
    # every declared part is given on some fixture, except Tomcat's process check (no java in app01)
    assert declared - fixed <= {"Tomcat process user"}, sorted(declared - fixed)


def _builtin_control(cid: str) -> Any:
    return load_profile(str(builtin_profiles()["mlps-l3"])).control(cid)


def test_decisive_access_log_makes_the_weak_nginx_non_conformant(web_fixtures: list[HostFacts]) -> None:
    """The weak fixture turns access_log off but keeps error_log: 部分符合 by parts, 不符合 with
    the built-in profile's decisive part."""
    weak = web_fixtures[2]
    h = LAB.host(weak.host_id)
    check = Check(_builtin_control("L3-CES1-12.web"), Obj(ObjectType.WEB_SERVER, f"{h.id}:web", h.id, h), LAB)
    wp.test_logging(check, weak)
    assert check.verdict is not None and check.verdict.status is Status.FAIL
    assert "decisive: nginx access_log on" in check.verdict.reason


def test_a_declared_decisive_part_absent_on_this_host_is_not_an_error(web_fixtures: list[HostFacts]) -> None:
    """Tomcat only: the nginx part marked decisive is not given, and that is no catalog bug."""
    tomcat_only = web_fixtures[-1]
    h = LAB.host(tomcat_only.host_id)
    check = Check(_builtin_control("L3-CES1-12.web"), Obj(ObjectType.WEB_SERVER, f"{h.id}:web", h.id, h),
                  LAB)
    wp.test_logging(check, tomcat_only)
    assert check.verdict is not None and check.verdict.status is Status.PASS
