"""Year over year: what changed between two runs of the same system.

Compares per (control, object) result, so a control that stays 部分符合 while one host gets worse
still shows the host's regression. Conformance ranks 符合 < 部分符合 < 不符合; moving up the rank is
a regression, moving down a fix. A result that could be judged last year and cannot now (检查错误,
未检查) is *coverage lost* — reported, but not a regression, because nothing is known to be worse;
the run's own exit code already fails CI for it.

A *coverage drop* is what the new run does not judge at all any more: controls, objects, or
(control, object) results the old run judged (anything but 不适用) and the new one has no result
for, as when a full run is followed by an ``--only`` 专项检查 or a host leaves the inventory. It
is named, never silently read as "no regressions".

``ihconform diff`` exits 1 on regressions; else 3 (incomplete comparison, the code a run uses
for "fix the run, not the site") on a coverage drop; else 0 (docs/cli.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ihconform.results import ObjectResult, RunResult, Status

_RANK = {Status.PASS: 0, Status.PARTIAL: 1, Status.FAIL: 2}
_UNJUDGED = {Status.ERROR, Status.NOT_CHECKED}


@dataclass(frozen=True)
class Change:
    control_id: str
    object_id: str
    title_zh: str
    title_en: str
    old: Status | None
    new: Status | None
    high_risk: bool = False
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"control_id": self.control_id, "object_id": self.object_id, "title_zh": self.title_zh,
                "title_en": self.title_en, "old": self.old.value if self.old else None,
                "new": self.new.value if self.new else None, "high_risk": self.high_risk, "reason": self.reason}


@dataclass(frozen=True)
class WaiverChange:
    id: str
    control_id: str
    change: str  # added / removed / expired / renewed / reactivated
    old_until: str = ""
    new_until: str = ""


@dataclass
class RunDiff:
    old_run: str
    new_run: str
    old_started: str
    new_started: str
    regressions: list[Change] = field(default_factory=list)
    fixes: list[Change] = field(default_factory=list)
    new_failures: list[Change] = field(default_factory=list)  # results absent last year that fail now
    coverage_lost: list[Change] = field(default_factory=list)
    coverage_gained: list[Change] = field(default_factory=list)
    objects_added: list[tuple[str, str]] = field(default_factory=list)
    objects_removed: list[tuple[str, str]] = field(default_factory=list)
    controls_added: list[str] = field(default_factory=list)
    controls_removed: list[str] = field(default_factory=list)
    # coverage drop: judged in the old run, no result at all in the new one
    controls_not_judged: list[str] = field(default_factory=list)
    objects_not_judged: list[str] = field(default_factory=list)
    results_not_judged: list[Change] = field(default_factory=list)  # of controls still judged
    new_partial: str = ""  # the new run's --only selection, when it is a 专项检查
    control_titles: dict[str, str] = field(default_factory=dict)  # control id -> title_zh, to name them
    waivers: list[WaiverChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. the runs are of different institutions
    evidence_changed: list[str] = field(default_factory=list)  # same path, different digest
    evidence_added: list[str] = field(default_factory=list)
    evidence_removed: list[str] = field(default_factory=list)
    score_old: float | None = None
    score_new: float | None = None
    grade_old: str = ""
    grade_new: str = ""
    controls_old: dict[str, int] = field(default_factory=dict)
    controls_new: dict[str, int] = field(default_factory=dict)
    area_old: dict[str, float] = field(default_factory=dict)  # share of judged controls conformant
    area_new: dict[str, float] = field(default_factory=dict)

    @property
    def has_regressions(self) -> bool:
        return bool(self.regressions)

    @property
    def has_coverage_drop(self) -> bool:
        return bool(self.controls_not_judged or self.objects_not_judged or self.results_not_judged)

    @property
    def exit_code(self) -> int:
        """1 regressions, 3 coverage drop (nothing worse known, but less judged), 0 otherwise."""
        return 1 if self.has_regressions else 3 if self.has_coverage_drop else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "notes": self.notes, "old_run": self.old_run, "new_run": self.new_run, "old_started": self.old_started,
            "new_started": self.new_started,
            "regressions": [c.as_dict() for c in self.regressions], "fixes": [c.as_dict() for c in self.fixes],
            "new_failures": [c.as_dict() for c in self.new_failures],
            "coverage_lost": [c.as_dict() for c in self.coverage_lost],
            "coverage_gained": [c.as_dict() for c in self.coverage_gained],
            "objects_added": [list(o) for o in self.objects_added],
            "objects_removed": [list(o) for o in self.objects_removed],
            "controls_added": self.controls_added, "controls_removed": self.controls_removed,
            "coverage_drop": {"controls": self.controls_not_judged, "objects": self.objects_not_judged,
                              "results": [c.as_dict() for c in self.results_not_judged],
                              "new_run_selection": self.new_partial},
            "waivers": [w.__dict__ for w in self.waivers],
            "evidence": {"changed": self.evidence_changed, "added": self.evidence_added,
                         "removed": self.evidence_removed},
            "score": {"old": self.score_old, "new": self.score_new, "grade_old": self.grade_old,
                      "grade_new": self.grade_new},
            "controls": {"old": self.controls_old, "new": self.controls_new},
        }


def area_conformance(run: RunResult) -> dict[str, float]:
    """Per area: the share (0-100) of judged controls that are 符合 (部分符合 counts half)."""
    totals: dict[str, list[float]] = {}
    for c in run.controls:
        if c.status is Status.NOT_APPLICABLE:
            continue
        credit = 1.0 if c.status is Status.PASS else 0.5 if c.status is Status.PARTIAL else 0.0
        totals.setdefault(c.area or c.clause or c.document, []).append(credit)
    return {a: round(100 * sum(v) / len(v), 1) for a, v in totals.items()}


def _evidence(run: RunResult) -> dict[str, str]:
    """Every evidence file a run cites, path -> SHA-256 (run, results and attestation files)."""
    out: dict[str, str] = {}
    for r in run.results:
        out.update({e.path: e.sha256 for e in r.evidence})
    for a in run.attestations:
        out.update({e.path: e.sha256 for e in a.files})
    out.update({e.path: e.sha256 for e in run.evidence})  # the run's own index is authoritative
    return out


def diff_runs(old: RunResult, new: RunResult) -> RunDiff:
    d = RunDiff(old_run=old.run.id, new_run=new.run.id, old_started=old.run.started, new_started=new.run.started)
    for what, a, b in (("统一社会信用代码 / credit code", old.institution.get("credit_code", ""),
                        new.institution.get("credit_code", "")),
                       ("系统 / system", old.system.get("name", ""), new.system.get("name", "")),
                       ("配置 / profile", old.run.profile, new.run.profile)):
        if a != b:
            d.notes.append(f"{what}: {a!r} → {b!r}")
    if old.run.profile == new.run.profile and (sorted(old.run.profile_digests.values())
                                               != sorted(new.run.profile_digests.values())):
        d.notes.append("配置文件内容已变更（摘要不同），新增或移除的控制项不是现场的变化 / "
                       "the profile's files changed (digests differ): controls added or removed are not site changes")
    titles = {c.control_id: c for c in (*old.controls, *new.controls)}
    d.control_titles = {cid: c.title_zh for cid, c in titles.items()}

    def change(key: tuple[str, str], a: ObjectResult | None, b: ObjectResult | None) -> Change:
        c = titles.get(key[0])
        return Change(key[0], key[1], c.title_zh if c else "", c.title_en if c else "",
                      a.status if a else None, b.status if b else None, bool(c and c.high_risk),
                      (b.reason if b else a.reason if a else "")[:300])

    olds = {(r.control_id, r.object_id): r for r in old.results}
    news = {(r.control_id, r.object_id): r for r in new.results}
    judged_old = {k for k, r in olds.items() if r.status is not Status.NOT_APPLICABLE}
    new_controls = {k[0] for k in news}
    new_objects = {k[1] for k in news}
    d.controls_not_judged = sorted({k[0] for k in judged_old} - new_controls)
    d.objects_not_judged = sorted({k[1] for k in judged_old} - new_objects - {"-"})
    if new.run.partial:
        sel = ", ".join(new.run.selection.only or new.run.only)
        d.new_partial = sel
        d.notes.append(f"本年为专项检查（--only {sel}），不是完整的年度测试 / the new run is a partial run "
                       f"(--only {sel}), not a full test")
    for key in sorted(set(olds) | set(news)):
        a, b = olds.get(key), news.get(key)
        if b is None:
            if key in judged_old and key[0] in new_controls:
                d.results_not_judged.append(change(key, a, b))
            continue
        if a is None:
            if b.status in (Status.FAIL, Status.PARTIAL):
                d.new_failures.append(change(key, a, b))
            continue
        ra, rb = _RANK.get(a.status), _RANK.get(b.status)
        if ra is not None and rb is not None:
            if rb > ra:
                d.regressions.append(change(key, a, b))
            elif rb < ra:
                d.fixes.append(change(key, a, b))
        elif ra is not None and b.status in _UNJUDGED:
            d.coverage_lost.append(change(key, a, b))
        elif rb is not None and a.status in _UNJUDGED:
            d.coverage_gained.append(change(key, a, b))
            if rb > 0:
                d.new_failures.append(change(key, a, b))
    o_objs = {(o.type, o.id) for o in old.objects}
    n_objs = {(o.type, o.id) for o in new.objects}
    d.objects_added = sorted(n_objs - o_objs)
    d.objects_removed = sorted(o_objs - n_objs)
    o_ctl = {c.control_id for c in old.controls}
    n_ctl = {c.control_id for c in new.controls}
    d.controls_added = sorted(n_ctl - o_ctl)
    d.controls_removed = sorted(o_ctl - n_ctl)
    ow = {w.id: w for w in old.waivers}
    nw = {w.id: w for w in new.waivers}
    for wid in sorted(set(ow) | set(nw)):
        a_w, b_w = ow.get(wid), nw.get(wid)
        if a_w is None and b_w is not None:
            d.waivers.append(WaiverChange(wid, b_w.control_id, "added", "", b_w.valid_until))
        elif b_w is None and a_w is not None:
            d.waivers.append(WaiverChange(wid, a_w.control_id, "removed", a_w.valid_until, ""))
        elif a_w is not None and b_w is not None:
            if b_w.state == "expired" and a_w.state != "expired":
                d.waivers.append(WaiverChange(wid, b_w.control_id, "expired", a_w.valid_until, b_w.valid_until))
            elif b_w.valid_until > a_w.valid_until:
                d.waivers.append(WaiverChange(wid, b_w.control_id, "renewed", a_w.valid_until, b_w.valid_until))
            elif a_w.state == "expired" and b_w.state == "active":
                d.waivers.append(WaiverChange(wid, b_w.control_id, "reactivated", a_w.valid_until, b_w.valid_until))
    oe, ne = _evidence(old), _evidence(new)
    d.evidence_changed = sorted(p for p in set(oe) & set(ne) if oe[p] != ne[p])
    d.evidence_added = sorted(set(ne) - set(oe))
    d.evidence_removed = sorted(set(oe) - set(ne))
    if old.summary.score:
        d.score_old, d.grade_old = old.summary.score.value, old.summary.score.grade
    if new.summary.score:
        d.score_new, d.grade_new = new.summary.score.value, new.summary.score.grade
    d.controls_old, d.controls_new = dict(old.summary.controls), dict(new.summary.controls)
    d.area_old, d.area_new = area_conformance(old), area_conformance(new)
    return d


def format_text(d: RunDiff) -> str:
    """The human summary ``ihconform diff`` prints: bilingual headings, one line per change."""
    lines = [f"上年 / old: {d.old_run} ({d.old_started})  →  本年 / new: {d.new_run} ({d.new_started})"]
    lines += [f"注意 / note: {n}" for n in d.notes]
    if d.score_old is not None or d.score_new is not None:
        lines.append(f"得分 / score: {d.score_old} ({d.grade_old}) → {d.score_new} ({d.grade_new})")

    def section(title: str, items: list[Change]) -> None:
        lines.append(f"{title}: {len(items)}")
        for c in items:
            old = c.old.zh if c.old else "—"
            new = c.new.zh if c.new else "—"
            hr = " [高风险/high risk]" if c.high_risk else ""
            lines.append(f"  {c.control_id} · {c.object_id}: {old} → {new}{hr}  {c.title_zh}")

    section("退步 / regressions", d.regressions)
    section("改进 / fixes", d.fixes)
    section("新增不符合 / new failures", d.new_failures)
    section("无法判定（上年可判定）/ coverage lost", d.coverage_lost)
    section("恢复判定 / coverage gained", d.coverage_gained)
    for title, objs in (("新增对象 / objects added", d.objects_added),
                        ("移除对象 / objects removed", d.objects_removed)):
        lines.append(f"{title}: {len(objs)}")
        lines += [f"  {t}:{i}" for t, i in objs]
    if d.has_coverage_drop:
        lines.append(f"覆盖范围缩小（上年判定、本年未检查）/ coverage drop (judged last time, not in this run): "
                     f"{len(d.controls_not_judged)} controls, {len(d.objects_not_judged)} objects, "
                     f"{len(d.results_not_judged)} more results")
        lines += [f"  - 控制项 / control {cid}  {d.control_titles.get(cid, '')}" for cid in d.controls_not_judged]
        lines += [f"  - 对象 / object {oid}" for oid in d.objects_not_judged]
        lines += [f"  - {c.control_id} · {c.object_id}: {c.old.zh if c.old else '—'} → 未判定 / not judged"
                  for c in d.results_not_judged]
    if d.controls_added or d.controls_removed:
        lines.append(f"控制项变化 / controls: +{len(d.controls_added)} -{len(d.controls_removed)}")
    lines.append(f"证据变化 / evidence: {len(d.evidence_changed)} changed, {len(d.evidence_added)} added, "
                 f"{len(d.evidence_removed)} removed")
    lines += [f"  ~ {p}" for p in d.evidence_changed]
    lines.append(f"豁免变化 / waiver changes: {len(d.waivers)}")
    lines += [f"  {w.id} ({w.control_id}): {w.change} {w.old_until}→{w.new_until}" for w in d.waivers]
    text = "\n".join(lines) + "\n"
    # Object ids and reasons come from targets: keep terminal control sequences out of the output.
    return re.sub(r"[\x00-\x09\x0b-\x1f\x7f\x9b]", "\ufffd", text)
