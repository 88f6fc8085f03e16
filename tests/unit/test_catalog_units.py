"""Every GB/T 28448-2019 level-3 测评单元 has exactly one control, with the text that was checked.

The units are data (``src/ihconform/data/mlps_l3_units.yaml``, with the public transcriptions each
id, 控制点 and quoted text was checked against); these tests hold the shipped catalog to that list:
the default profile as a cloud-hosted system resolves it, every listed unit is carried by exactly one
control (further controls on a unit are its aspects), no control claims a unit the list lacks, and
each control cites the clause, 控制点 and text recorded as checked. The provenance of the management
and cloud controls must say [K] exactly where the list says something is still unverified.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from ihconform.catalog import DEFAULT_PROFILE, load_profile
from ihconform.data.mlps_units import UNIT_ID, Unit, UnitList, mlps_l3_units, text_digest
from ihconform.profile import Control, Profile

DOCS = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"

#: Units per 安全类 at level 3, as the sources give them (docs/catalog.md §3): the technical and
#: cloud-technical counts are those of the public MLPS3 mapping, the management counts those of the
#: GB/T 22239-2019 comparison table's level-3 column (with the two adjustments the list notes).
COUNTS = {
    "technical": {"PES1": 22, "CNS1": 8, "ABS1": 20, "CES1": 34, "SMC1": 12},
    "management": {"PSS1": 7, "ORS1": 14, "HRS1": 12, "CMS1": 34, "MMS1": 48},
    "cloud": {"PES2": 1, "CNS2": 5, "ABS2": 8, "CES2": 19, "SMC2": 4, "CMS2": 8, "MMS2": 1},
}


@pytest.fixture(scope="module")
def units() -> UnitList:
    return mlps_l3_units()


@pytest.fixture(scope="module")
def on_cloud() -> Profile:
    """The default profile as a cloud-hosted system sees it: technical, management and cloud units."""
    return load_profile(DEFAULT_PROFILE, hosting="cloud")


def _claims(profile: Profile) -> dict[str, list[Control]]:
    """Controls by the unit they judge (``source.item``), for items shaped like a level-3 unit id."""
    out: dict[str, list[Control]] = {}
    for c in profile.controls:
        if UNIT_ID.match(c.source.item):
            out.setdefault(c.source.item, []).append(c)
    return out


def test_the_list_has_the_level3_units_of_each_security_class(units: UnitList) -> None:
    for part, per_class in COUNTS.items():
        got = Counter(u.id[3:7] for u in units.units if u.part == part)
        assert dict(got) == per_class, part
        for code, n in per_class.items():
            numbers = [int(u.id[-2:]) for u in units.units if u.id[3:7] == code]
            want = [i for i in range(1, n + 2) if (code, i) != ("CES1", 16)][:n]  # 28448 has no L3-CES1-16
            assert numbers == want, code
    assert len(units.units) == 96 + 115 + 46


def test_every_listed_unit_has_exactly_one_control_across_the_profiles(units: UnitList, on_cloud: Profile) -> None:
    claims = _claims(on_cloud)
    listed = set(units.ids())
    assert not listed - set(claims), f"units without a control: {sorted(listed - set(claims))}"
    assert not set(claims) - listed, f"controls claim units the list lacks: {sorted(set(claims) - listed)}"
    for unit, controls in claims.items():
        plain = [c.id for c in controls if c.id == unit]
        assert plain == [unit], f"{unit}: {len(plain)} controls carry the unit id"
        stray = [c.id for c in controls if c.id != unit and not c.id.startswith(f"{unit}.")]
        assert not stray, f"{unit}: controls on the unit that are not its aspects: {stray}"


def test_an_on_premises_system_has_the_general_units_and_no_cloud_units(units: UnitList) -> None:
    claims = set(_claims(load_profile(DEFAULT_PROFILE, hosting="on-premises")))
    assert claims == set(units.ids("technical")) | set(units.ids("management"))


def _the_control(profile: Profile, unit: Unit) -> Control:
    return profile.control(unit.id)


def test_each_control_cites_the_clause_point_and_text_that_were_checked(units: UnitList, on_cloud: Profile) -> None:
    for u in units.units:
        c = _the_control(on_cloud, u)
        assert c.source.clause == u.clause, u.id
        if u.control_point:
            assert c.control_point == u.control_point, u.id
        # a text edited after the check fails here until it is checked again and the digest updated
        assert text_digest(c.source.text) == u.text_digest, f"{u.id}: quoted text differs from the checked one"
        for aspect in (a for a in on_cloud.controls if a.id.startswith(f"{u.id}.")):
            assert text_digest(aspect.source.text) == u.text_digest, aspect.id


def test_the_text_digest_ignores_layout_only() -> None:
    assert text_digest("应制定网络安全应急预案。") == text_digest("应制定网络安全\n应急预案。")
    assert text_digest("应制定网络安全应急预案。") != text_digest("应制定网络安全应急预案；")


def test_provenance_says_what_was_verified_and_marks_the_rest(units: UnitList) -> None:
    """Management and cloud controls: [K] exactly where id, wording or 控制点 is unverified, and the
    sources that agree are named, so a reader can go and look."""
    for pid in ("mlps-l3-management", "mlps-l3-cloud"):
        for c in load_profile(pid).controls:
            u = units.unit(c.source.item)
            assert ("[K]" in c.provenance) is (not u.verified), f"{c.id}: unverified {u.unverified()}"
            for source in u.text_from:
                assert source in c.provenance, f"{c.id}: provenance does not name {source}"
            assert ("mlps3-mapping" in c.provenance) is bool(u.id_from), c.id
            if u.note:
                assert u.note in c.provenance, f"{c.id}: the deviation from the transcription is not stated"


def test_a_unit_is_verified_only_with_an_id_source_two_transcriptions_and_its_point() -> None:
    base = {"id": "L3-CMS2-02", "part": "cloud", "clause": "8.2.6.1 b)", "text_digest": "0" * 16}
    assert not Unit.model_validate(base | {"text_from": ["table", "riskscanner"], "point_from": ["table"]}).verified
    assert not Unit.model_validate(base | {"id_from": ["m"], "text_from": ["table"], "point_from": ["table"]}).verified
    assert not Unit.model_validate(base | {"id_from": ["m"], "text_from": ["table", "riskscanner"]}).verified
    ok = Unit.model_validate(base | {"id_from": ["m"], "text_from": ["table", "riskscanner"], "point_from": ["t"]})
    assert ok.verified and ok.unverified() == ()


def test_a_list_citing_an_undeclared_source_or_a_unit_twice_is_rejected() -> None:
    unit = {"id": "L3-PES2-01", "part": "cloud", "clause": "8.2.1.1", "text_digest": "0" * 16,
            "text_from": ["nowhere"]}
    with pytest.raises(ValueError, match="not declared"):
        UnitList.model_validate({"sources": {}, "units": [unit]})
    src = {"nowhere": {"what": "x", "where": "y"}}
    with pytest.raises(ValueError, match="listed twice"):
        UnitList.model_validate({"sources": src, "units": [unit, unit]})


def _docs_table() -> dict[str, tuple[int, ...]]:
    """docs/catalog.md §3 'Verification': code -> (units, id, text ≥2, text 1, 控制点, verified)."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("### 核对 / Verification of ids and texts"):]
    section = section[:section.index("\n## ")]
    rows = re.findall(r"^\| \w+ \| `(\w{4})` \|((?: \d+ \|){6})$", section, re.M)
    return {code: tuple(int(n) for n in cells.split("|") if n.strip()) for code, cells in rows}


def test_the_docs_state_what_remains_unverified(units: UnitList) -> None:
    want: dict[str, list[int]] = {}
    for u in units.units:
        row = want.setdefault(u.id[3:7], [0] * 6)
        for i, flag in enumerate((True, bool(u.id_from), len(u.text_from) >= 2, len(u.text_from) == 1,
                                  u.part == "technical" or bool(u.point_from), u.verified)):
            row[i] += int(flag)
    assert _docs_table() == {code: tuple(row) for code, row in want.items()}
    text = DOCS.read_text(encoding="utf-8")
    for u in units.units:  # the few with no matching transcription at all are named one by one
        if not u.text_from:
            assert f"`{u.id}`" in text, u.id
