"""Operating-system end of support: the table in ``data/os_eol.yaml`` and its lookup.

The table is data with a source per row (vendor lifecycle pages), so a date that changes is
an edit to the YAML, never to a probe. An OS the table does not list is *unknown*, never
"supported": the probe says so instead of passing on it.
"""

from __future__ import annotations

import datetime as _dt
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field


class EolEntry(BaseModel):
    """One row: an OS release and the last day the vendor ships its security updates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)  # os-release ID
    version: str = Field(min_length=1)  # VERSION_ID, or its major part
    name_contains: str = ""  # a substring of os-release NAME that must be present
    end: _dt.date
    source: str = Field(min_length=1)

    def matches(self, os_id: str, version_id: str, name: str) -> bool:
        return (os_id == self.id and (version_id == self.version or version_id.startswith(self.version + "."))
                and (not self.name_contains or self.name_contains in name))


class EolTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    entries: tuple[EolEntry, ...]


@cache
def eol_table() -> EolTable:
    """The shipped table (``ihconform/data/os_eol.yaml``)."""
    text = resources.files("ihconform.data").joinpath("os_eol.yaml").read_text(encoding="utf-8")
    return EolTable.model_validate(yaml.safe_load(text))


def lookup(os_release: dict[str, str], table: EolTable | None = None) -> EolEntry | None:
    """The first row matching ``/etc/os-release`` (ID, VERSION_ID, NAME), or None."""
    os_id = os_release.get("ID", "").strip().lower()
    version = os_release.get("VERSION_ID", "").strip()
    name = os_release.get("NAME", "")
    for entry in (table or eol_table()).entries:
        if entry.matches(os_id, version, name):
            return entry
    return None
