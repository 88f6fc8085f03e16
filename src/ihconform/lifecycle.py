"""Operating-system end of support: the table in ``data/os_eol.yaml`` and its lookup.

The table is data with a source per row (vendor lifecycle pages), so a date that changes is
an edit to the YAML, never to a probe. An OS the table does not list is *unknown*, never
"supported": the probe says so (未检查) instead of passing on it.

A site adds rows of its own by tailoring (:func:`site_rows`): the commercial releases a Chinese
hospital runs (银河麒麟 Kylin, 统信 UOS) and openEuler have no public end date this table could
cite, and their support often comes with a contract; the tester records the date and its
source in the site profile, where the report shows both.
"""

from __future__ import annotations

import datetime as _dt
import re
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ihconform.errors import ConfigError
from ihconform.profile import Control


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


def lookup(os_release: dict[str, str], table: EolTable | None = None,
           first: tuple[EolEntry, ...] = ()) -> EolEntry | None:
    """The first row matching ``/etc/os-release`` (ID, VERSION_ID, NAME), or None; ``first``
    (a site's rows, :func:`site_rows`) before the table's."""
    os_id = os_release.get("ID", "").strip().lower()
    version = os_release.get("VERSION_ID", "").strip()
    name = os_release.get("NAME", "")
    for entry in (*first, *(table or eol_table()).entries):
        if entry.matches(os_id, version, name):
            return entry
    return None


#: A site row: ``<os-release ID> <VERSION_ID or its leading part> <last day of support>``.
_SITE_ROW = re.compile(r"^\s*(?P<id>\S+)\s+(?P<version>\S+)\s+(?P<end>\d{4}-\d{2}-\d{2})\s*$")


def site_row(row: str) -> tuple[str, str, _dt.date]:
    """(ID, version, last day) of one site row (``"kylin V10 2030-12-31"``); ValueError saying
    the expected form otherwise. The catalog checks a tailored row with it when the profile
    loads (file and line), the probe again when it reads the rows."""
    m = _SITE_ROW.match(str(row))
    try:
        end = _dt.date.fromisoformat(m.group("end")) if m else None
    except ValueError:
        end = None
    if m is None or end is None:
        raise ValueError(f"{row!r} is not '<os-release ID> <version> <YYYY-MM-DD>' (e.g. 'kylin V10 2030-12-31')")
    return m.group("id").lower(), m.group("version"), end


def site_rows(control: Control, name: str = "support_ends") -> tuple[EolEntry, ...]:
    """The rows a site profile adds to ``control`` (its list parameter ``name``), each sourced by
    that parameter's provenance. Matched before the shipped table, so a site's contract date
    wins. A malformed row (the catalog rejects one when the profile loads) raises ConfigError
    naming the parameter."""
    where = f"{control.id}.{name}"
    value = control.param(name)
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be a list of rows, got {value!r}", field=where)
    out = []
    for row in value:
        try:
            os_id, version, end = site_row(str(row))
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}", field=where) from None
        out.append(EolEntry(id=os_id, version=version, end=end, source=control.parameters[name].provenance))
    return tuple(out)
