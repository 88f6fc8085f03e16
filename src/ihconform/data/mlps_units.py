"""The level-3 测评单元 of GB/T 28448-2019 as shipped data (``data/mlps_l3_units.yaml``).

The catalog's controls are written per regulation; what an 等保 assessment scores is the list of
测评单元 (technical, management and cloud extension). Keeping that list as data, with the
sources each id, 控制点 and quoted text was checked against, lets a test hold the catalog to it
(exactly one control per unit) and lets the provenance of every control say what was verified
and what is still [K]. The list is read, never computed from the catalog, so a control that
disappears or a unit claimed twice is a failure rather than a new truth.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

#: A GB/T 28448-2019 level-3 unit id: L3-<安全类 code><1 general, 2 cloud, 3 mobile, 4 IoT, 5 ICS>-<nn>.
UNIT_ID = re.compile(r"^L3-[A-Z]{3}[1-5]-\d{2}$")

Part = Literal["technical", "management", "cloud"]


def text_digest(text: str) -> str:
    """The digest the list records for a quoted text: sha256 of it without whitespace, 16 hex digits."""
    return hashlib.sha256(re.sub(r"\s", "", text).encode("utf-8")).hexdigest()[:16]


class UnitSource(BaseModel):
    """One public transcription the units were checked against."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    what: str = Field(min_length=1)
    where: str = Field(min_length=1)
    gives: str = ""
    note: str = ""


class Unit(BaseModel):
    """One 测评单元 and what its id, text, 控制点 and clause were checked against."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=UNIT_ID.pattern)
    part: Part
    clause: str = Field(min_length=1)
    control_point: str = ""
    id_from: tuple[str, ...] = ()
    text_from: tuple[str, ...] = ()
    text_partial: tuple[str, ...] = ()
    point_from: tuple[str, ...] = ()
    clause_from: tuple[str, ...] = ()
    text_digest: str = Field(pattern=r"^[0-9a-f]{16}$")
    note: str = ""

    @property
    def verified(self) -> bool:
        """Id named by a source, wording in two transcriptions, and (management, cloud) the 控制点 confirmed."""
        point_ok = self.part == "technical" or bool(self.point_from)
        return bool(self.id_from) and len(self.text_from) >= 2 and point_ok

    def unverified(self) -> tuple[str, ...]:
        """What is still [K] for this unit, in words the provenance and docs use."""
        out: list[str] = []
        if not self.id_from:
            out.append("id")
        if len(self.text_from) < 2:
            out.append("text")
        if self.part != "technical" and not self.point_from:
            out.append("control_point")
        return tuple(out)


class UnitList(BaseModel):
    """The shipped list: the sources and the units in catalog order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sources: dict[str, UnitSource]
    units: tuple[Unit, ...]

    @model_validator(mode="after")
    def _consistent(self) -> UnitList:
        ids = [u.id for u in self.units]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"unit ids listed twice: {dup}")
        for u in self.units:
            named = (*u.id_from, *u.text_from, *u.text_partial, *u.point_from, *u.clause_from)
            unknown = sorted(set(named) - set(self.sources))
            if unknown:
                raise ValueError(f"{u.id}: sources not declared under 'sources': {unknown}")
        return self

    def ids(self, part: Part | None = None) -> tuple[str, ...]:
        return tuple(u.id for u in self.units if part is None or u.part == part)

    def unit(self, unit_id: str) -> Unit:
        for u in self.units:
            if u.id == unit_id:
                return u
        raise KeyError(unit_id)


@cache
def mlps_l3_units() -> UnitList:
    """The shipped list (``ihconform/data/mlps_l3_units.yaml``)."""
    text = resources.files("ihconform.data").joinpath("mlps_l3_units.yaml").read_text(encoding="utf-8")
    return UnitList.model_validate(yaml.safe_load(text))
