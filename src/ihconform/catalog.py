"""Load profiles: built-in ones by id, users' by path; resolve includes and tailoring.

Resolution is depth-first over ``includes`` (cycles are an error naming the chain); then the
including profile's own controls are added, then its overrides and exclusions are applied.
A control id defined twice anywhere is an error naming both places: silent replacement is
how catalogs drift (goss's "WRONG way" documented instead of rejected).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ihconform.errors import ConfigError, Location
from ihconform.lifecycle import site_row
from ihconform.profile import (
    Control,
    Document,
    Exclusion,
    Override,
    Profile,
    ProfileFile,
    Scoring,
)
from ihconform.yamlio import SourceDoc, load_yaml, read_text, validate

if TYPE_CHECKING:
    from ihconform.inventory import Inventory

DEFAULT_PROFILE = "annual-normative-test"


def builtin_dir() -> Path:
    """The folder of built-in profiles shipped inside the package."""
    return Path(str(resources.files("ihconform") / "profiles"))


def builtin_profiles() -> dict[str, Path]:
    """Built-in profile id -> file."""
    return {p.stem: p for p in sorted(builtin_dir().glob("*.yaml"))}


def resolve_ref(ref: str, relative_to: Path | None = None) -> Path:
    """A profile reference is a built-in id, or a path (relative to the including file)."""
    builtins = builtin_profiles()
    if ref in builtins:
        return builtins[ref]
    candidate = Path(ref)
    if not candidate.is_absolute() and relative_to is not None:
        candidate = relative_to.parent / candidate
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    known = ", ".join(sorted(builtins))
    raise ConfigError(f"unknown profile {ref!r}; built-in profiles are: {known}")


def hosting_kind(inventory: Inventory | None) -> str | None:
    """The hosting a profile's conditional includes are selected by: the inventory's
    ``system.hosting.kind``, or None when the inventory (or its hosting) is not given."""
    if inventory is None or inventory.system.hosting is None:
        return None
    return inventory.system.hosting.kind


@dataclass
class _Acc:
    controls: dict[str, tuple[Control, Location]] = field(default_factory=dict)
    documents: dict[str, Document] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    scoring: Scoring | None = None
    sources: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)
    loaded: set[Path] = field(default_factory=set)
    hosting: str | None = None  # the inventory's system.hosting.kind, for conditional includes


def load_profile(ref: str | Path, hosting: str | None = None) -> Profile:
    """Load and resolve a profile by built-in id or path. Raises ConfigError on any fault.
    ``hosting`` is the inventory's ``system.hosting.kind`` (``hosting_kind``): it selects the
    profile's ``conditional_includes`` (the cloud extension on a cloud); None selects none."""
    path = resolve_ref(str(ref)) if isinstance(ref, str) else ref
    acc = _Acc(hosting=hosting)
    head = _load_into(path.resolve(), acc, chain=())
    return Profile(
        id=head.profile.id,
        title=head.profile.title,
        version=head.profile.version,
        documents=acc.documents,
        controls=tuple(c for c, _ in acc.controls.values()),
        excluded=acc.excluded,
        scoring=acc.scoring or Scoring(),
        sources=tuple(acc.sources),
        digests=acc.digests,
    )


def _load_into(path: Path, acc: _Acc, chain: tuple[Path, ...]) -> ProfileFile:
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise ConfigError(f"include cycle: {cycle}", Location(chain[-1]), field="profile.includes")
    text = read_text(path)
    digest = hashlib.sha256(text.encode()).hexdigest()
    doc, pf = _parse(path, text, digest)
    if path in acc.loaded:  # diamond include: already merged once
        return pf
    for i, ref in enumerate(pf.profile.includes):
        try:
            inc = resolve_ref(ref, relative_to=path).resolve()
        except ConfigError as exc:
            raise ConfigError(exc.message, doc.location(("profile", "includes", i)),
                              field=f"profile.includes[{i}]") from None
        if not inc.exists():
            raise ConfigError(f"included profile not found: {inc}",
                              doc.location(("profile", "includes", i)), field=f"profile.includes[{i}]")
        _load_into(inc, acc, (*chain, path))
    for i, cond in enumerate(pf.profile.conditional_includes):
        if cond.when_hosting != acc.hosting:
            continue
        here = doc.location(("profile", "conditional_includes", i, "profile"))
        try:
            inc = resolve_ref(cond.profile, relative_to=path).resolve()
        except ConfigError as exc:
            raise ConfigError(exc.message, here, field=f"profile.conditional_includes[{i}].profile") from None
        if not inc.exists():
            raise ConfigError(f"included profile not found: {inc}", here,
                              field=f"profile.conditional_includes[{i}].profile")
        _load_into(inc, acc, (*chain, path))
    acc.loaded.add(path)
    acc.sources.append(str(path))
    acc.digests[str(path)] = digest
    _merge_documents(pf, doc, acc)
    _merge_controls(pf, doc, acc)
    _apply_overrides(pf.profile.overrides, doc, acc)
    _apply_exclusions(pf.profile.exclude, doc, acc)
    if pf.profile.scoring is not None:
        acc.scoring = pf.profile.scoring
    return pf


#: Parsed profile files by (path, sha256 of the text read now). The CLI and the pytest plugin
#: both resolve the profile in one process, and the line-aware YAML composer is the costly part
#: (about 1 s for the default profile). Keyed by content, a file changed on disk is parsed again,
#: never served stale; the models are frozen, so sharing them is safe.
_PARSED: dict[tuple[Path, str], tuple[SourceDoc, ProfileFile]] = {}


def _parse(path: Path, text: str, digest: str) -> tuple[SourceDoc, ProfileFile]:
    key = (path, digest)
    if key not in _PARSED:
        doc = load_yaml(path, text, packaged=path.parent == builtin_dir().resolve())
        _PARSED[key] = (doc, validate(doc, ProfileFile))
    return _PARSED[key]


def _merge_documents(pf: ProfileFile, doc: SourceDoc, acc: _Acc) -> None:
    for i, d in enumerate(pf.profile.documents):
        prior = acc.documents.get(d.id)
        if prior is not None and prior != d:
            raise ConfigError(f"document {d.id!r} is defined differently elsewhere",
                              doc.location(("profile", "documents", i)), field=f"profile.documents[{i}]")
        acc.documents[d.id] = d


def _merge_controls(pf: ProfileFile, doc: SourceDoc, acc: _Acc) -> None:
    for i, c in enumerate(pf.controls):
        here = doc.location(("controls", i, "id"))
        if c.id in acc.controls:
            first = acc.controls[c.id][1]
            raise ConfigError(f"duplicate control id {c.id!r} (first defined at {first})", here,
                              field=f"controls[{i}].id")
        if c.source.document not in acc.documents:
            raise ConfigError(f"unknown document {c.source.document!r}; declare it under profile.documents",
                              doc.location(("controls", i, "source", "document")),
                              field=f"controls[{i}].source.document")
        if c.method == "auto" and c.probe is None:
            raise ConfigError("an auto control must name the probe that judges it",
                              doc.location(("controls", i)), field=f"controls[{i}].probe")
        acc.controls[c.id] = (c, here)


def _successors(acc: _Acc, control_id: str) -> list[str]:
    """The controls that replaced a former id (``legacy_ids``): tailoring written for the old
    one-per-控制点 id applies to each of its items, so a site profile keeps working."""
    return [cid for cid, (c, _) in acc.controls.items() if control_id in c.legacy_ids]


def _apply_overrides(overrides: tuple[Override, ...], doc: SourceDoc, acc: _Acc) -> None:
    for i, ov in enumerate(overrides):
        key = ("profile", "overrides", i)
        if ov.control not in acc.controls and _successors(acc, ov.control):
            for cid in _successors(acc, ov.control):
                _override_one(ov.model_copy(update={
                    "control": cid, "provenance": f"{ov.provenance}（按原控制点 {ov.control} 裁剪 / "
                                                  f"tailored on the former control point {ov.control}）"}),
                    i, doc, acc)
            continue
        if ov.control not in acc.controls:
            raise ConfigError(f"override of unknown control {ov.control!r}", doc.location((*key, "control")),
                              field=f"profile.overrides[{i}].control")
        _override_one(ov, i, doc, acc)


#: List parameters whose rows have a form of their own, checked when a profile tailors them (the
#: error then has the file and line; the probe would only find it at run time, as 检查错误).
ROW_FORMATS: dict[tuple[str, str], Callable[[str], object]] = {
    ("host.security_updates", "support_ends"): site_row,
    ("windows.updates", "support_ends"): site_row,
}


def _override_one(ov: Override, i: int, doc: SourceDoc, acc: _Acc) -> None:
    """Apply one override (its position ``i`` locates errors) to the control it names."""
    key = ("profile", "overrides", i)
    control, loc = acc.controls[ov.control]
    params = dict(control.parameters)
    for name, value in ov.parameters.items():
        if name not in params:
            known = ", ".join(sorted(params)) or "none"
            raise ConfigError(f"control {ov.control} has no parameter {name!r} (known: {known})",
                              doc.location((*key, "parameters", name)),
                              field=f"profile.overrides[{i}].parameters.{name}")
        old = params[name]
        if type(value) is not type(old.value) and not (
            isinstance(value, int | float) and isinstance(old.value, int | float)
            and not isinstance(value, bool) and not isinstance(old.value, bool)
        ):
            raise ConfigError(f"expected a {type(old.value).__name__} like the catalog's {old.value!r}",
                              doc.location((*key, "parameters", name)),
                              field=f"profile.overrides[{i}].parameters.{name}")
        row_format = ROW_FORMATS.get((control.probe or "", name))
        if row_format is not None and isinstance(value, list):
            for j, row in enumerate(value):
                try:
                    row_format(str(row))
                except ValueError as exc:
                    raise ConfigError(str(exc), doc.location((*key, "parameters", name, j)),
                                      field=f"profile.overrides[{i}].parameters.{name}[{j}]") from None
        params[name] = old.model_copy(
            update={"value": value, "provenance": f"{ov.provenance} (tailored; catalog: {old.value!r})"}
        )
    update: dict[str, object] = {"parameters": params}
    if ov.severity is not None:
        update["severity"] = ov.severity
    if ov.high_risk is not None:
        update["high_risk"] = ov.high_risk
    acc.controls[ov.control] = (control.model_copy(update=update), loc)


def _apply_exclusions(exclusions: tuple[Exclusion, ...], doc: SourceDoc, acc: _Acc) -> None:
    for i, ex in enumerate(exclusions):
        if ex.control not in acc.controls and _successors(acc, ex.control):
            for cid in _successors(acc, ex.control):
                acc.excluded[cid] = (f"{ex.reason}（按原控制点 {ex.control} 裁剪 / tailored on the former "
                                     f"control point {ex.control}）")
            continue
        if ex.control not in acc.controls:
            raise ConfigError(f"exclusion of unknown control {ex.control!r}",
                              doc.location(("profile", "exclude", i, "control")),
                              field=f"profile.exclude[{i}].control")
        acc.excluded[ex.control] = ex.reason
