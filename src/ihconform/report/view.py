"""From a :class:`RunResult` to what the report shows, section by section.

All judgement lives in the engine and scoring; this module only groups, counts and formats, so
HTML, PDF and Word (three renderers of this one view) cannot disagree with results.json. Free-form
values that came from a target (observed values, reasons, object ids) are passed as plain strings:
the HTML template's autoescaping turns any markup in them into text, and the PDF's Typst template
receives them as JSON strings it never parses.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from ihconform.diff import RunDiff
from ihconform.report import charts, wording
from ihconform.report.i18n import BASIC_TOPICS, KNOWN_DOCUMENTS, METHODS, OBJECT_TYPES, STATES, Lang, labels
from ihconform.report.sections import section_keys
from ihconform.results import (
    ControlResult,
    EvidenceRef,
    ObjectResult,
    RunResult,
    Score,
    Status,
    TestedObject,
    aggregate,
    conclude,
)
from ihconform.scoring import risk_level

_BAD = (Status.FAIL, Status.PARTIAL)
#: Keys of an uplink result's observed value read as the measured bandwidth, in order of preference.
BANDWIDTH_KEYS = ("median_mbps", "measured_mbps", "mbps", "p50_mbps", "bandwidth_mbps", "throughput_mbps")
BRIEF = 240  # characters of an observed value shown per result; the rest stays in results.json


def brief(value: Any, limit: int = BRIEF) -> str:
    """A one-glance rendering of an observed/expected value; never markup, never unbounded."""
    if value is None or value == "":
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else "\ufffd" for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Row:
    """One line of a control's results. Consecutive objects with the same verdict, record and
    reason share a line (e.g. twenty hosts 未检查 for the same reason), which keeps a lab-sized
    report tens of pages shorter without hiding anything: every object is named."""

    objects: list[str]
    status: Status
    observed: str
    expected: str
    reason: str
    evidence: list[EvidenceRef]
    waiver: str = ""


def _rows(results: list[ObjectResult], lang: Lang = "zh") -> list[Row]:
    rows: list[Row] = []
    for r in results:
        row = Row([r.object_id], r.status, brief(wording.readable(r.observed, lang)),
                  brief(wording.readable(r.expected, lang)), brief(wording.reason_text(r.reason, lang), 300),
                  list(r.evidence), r.waiver.id if r.waiver else "")
        last = rows[-1] if rows else None
        if (last is not None and (last.status, last.observed, last.expected, last.reason, last.waiver)
                == (row.status, row.observed, row.expected, row.reason, row.waiver)):
            last.objects.append(r.object_id)
            last.evidence += [e for e in row.evidence if e not in last.evidence]
        else:
            rows.append(row)
    return rows


@dataclass
class ControlView:
    c: ControlResult
    title: str
    status_label: str
    requirement: str
    results: list[ObjectResult]
    waived: int
    method: str
    risk: str = ""  # 高/中/低 (or High/Medium/Low)
    advice: str = ""
    affected: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    point: PointView | None = None  # set on the first item of a 安全控制点: the point's own line


@dataclass
class PointView:
    """A 安全控制点 heading above its 测评项: the point's result aggregated over its items (the
    worst status, as ``overall`` ranks them) and how many items are in each status."""

    name: str
    status: Status
    counts: dict[str, int]
    items: int


def _mark_control_points(cvs: list[ControlView], lang: Lang) -> None:
    """Give the first item of each control point (consecutive in catalog order) its heading."""
    groups: dict[str, list[ControlView]] = {}
    for cv in cvs:
        if cv.c.control_point:
            groups.setdefault(cv.c.control_point, []).append(cv)
    for name, items in groups.items():
        st = aggregate(v.c.status for v in items)  # a point is as good as its items together
        label = _status_labels(lang)
        counts = {label[s.value]: sum(1 for v in items if v.c.status is s) for s in Status}
        items[0].point = PointView(name, st, {k: n for k, n in counts.items() if n}, len(items))


@dataclass
class Section:
    key: str
    title: str
    number: int


@dataclass
class ReportView:
    lang: Lang
    t: dict[str, str]
    r: RunResult
    sections: list[Section]
    status_label: dict[str, str]
    cover: list[tuple[str, str]]
    profile_digests: list[tuple[str, str]]
    documents: list[dict[str, Any]]
    controls: list[ControlView]
    by_document: list[tuple[str, list[tuple[str, list[ControlView]]]]]
    high_risk: list[ControlView]
    basic: list[dict[str, Any]]
    risks: list[ControlView]  # 不符合 / 部分符合, with analysis and advice
    unjudged: list[tuple[str, list[ControlView]]]  # 检查错误 / 未检查, grouped by what to do about them
    assets: list[dict[str, Any]]
    evidence: list[EvidenceRef]
    area_chart: Markup
    bandwidth_chart: Markup
    trend_chart: Markup
    previous: RunDiff | None
    tester: str
    report_no: str
    partial: str = ""  # "专项检查（…）" for an --only run, shown on the cover; "" for a full run
    kind: str = ""  # （医疗机构自查报告） or （某单位 预检报告…）
    statement: str = ""
    report_date: str = ""
    signature: list[tuple[str, str, str]] = field(default_factory=list)  # 编制/审核/批准: role, name, date
    stamp: str = ""
    system_rows: list[tuple[str, str]] = field(default_factory=list)
    object_groups: list[tuple[str, list[tuple[str, str, str]]]] = field(default_factory=list)  # id, label, place
    mlps: list[list[tuple[str, str]]] = field(default_factory=list)  # quoted 等保 attestations, field by field
    scope_text: str = ""
    scope_only: str = ""
    not_assessed: list[dict[str, str]] = field(default_factory=list)
    rules: str = ""  # the score's rules, internal notes removed

    @property
    def generated(self) -> str:
        return wording.when(self.r.run.finished, self.lang)

    def when(self, stamp: str) -> str:
        """A time stamp in 北京时间."""
        return wording.when(stamp, self.lang)

    def say(self, text: str) -> str:
        """Free text from the run (warnings, ledger reasons) in the report's language, cause first."""
        return wording.reason_text(text, self.lang)

    def state(self, s: str) -> str:
        """A ledger state (valid, expired, active …) in the report's language."""
        return STATES.get(s, {"zh": s, "en": s})[self.lang]

    def status(self, s: Status | str | None) -> str:
        if s is None:
            return "—"
        return self.status_label[Status(s).value]


def _status_labels(lang: Lang) -> dict[str, str]:
    return {s.value: (s.zh if lang == "zh" else s.en) for s in Status}


def _risk(c: ControlResult, lang: Lang) -> str:
    """Risk level in the manner of the 测评报告's 风险分析: high-risk items are 高; failing 关键/重要
    items 中; the rest 低. Unjudged items get the level their failure would have."""
    level = risk_level(c.high_risk, c.severity)
    return level if lang == "zh" else {"高": "High", "中": "Medium", "低": "Low"}[level]


def _advice(cv: ControlView, lang: Lang, remediation: tuple[str, str] | None = None) -> str:
    """The catalog's remediation text when the profile gives one (every built-in control does);
    otherwise advice drawn from the requirement and the expected value."""
    c = cv.c
    expected = next((brief(r.expected, 120) for r in cv.results if r.status in _BAD and r.expected not in (None, "")),
                    "")
    if c.status in _BAD:
        if remediation and remediation[0 if lang == "zh" else 1]:
            s = remediation[0 if lang == "zh" else 1]
        elif lang == "zh":
            s = f"按“{c.requirement}”整改{('，使其达到：' + expected) if expected else ''}；整改后复测并更新证据。"
        else:
            s = (f"Remediate against the requirement ({c.title_en}){'; target: ' + expected if expected else ''}; "
                 "re-test and refresh the evidence.")
        if cv.waived:
            s += ("（已有豁免，须在有效期内完成或续批）" if lang == "zh"
                  else " (a waiver covers part of it until it expires)")
        return s
    if c.status is Status.ERROR:
        return ("检查未能执行：排除连接、权限或探针错误后复测（见说明）。" if lang == "zh"
                else "The check could not run: fix access, permissions or the probe error shown, then re-test.")
    if c.method in ("attest", "manual"):
        return ("提交签名的证明材料（ihconform attest），或由测试人员现场核查。" if lang == "zh"
                else "Provide a signed attestation (ihconform attest) or have the tester verify on site.")
    return ("补充被测对象或测量后复测；未检查项不视为符合。" if lang == "zh"
            else "Declare the missing objects or measurements and re-test; not checked never counts as conformant.")


def _documents(result: RunResult, known: Mapping[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    out = dict(KNOWN_DOCUMENTS)
    out.update(known)
    for c in result.controls:
        out.setdefault(c.document, (c.document, ""))
    return out


def _number(x: object) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def _band(x: object) -> tuple[float, float] | None:
    if isinstance(x, list | tuple) and len(x) == 2:
        lo, hi = _number(x[0]), _number(x[1])
        if lo is not None and hi is not None:
            return lo, hi
    return None


def _measurements(obs: object) -> list[tuple[str, float, tuple[float, float] | None]]:
    """Bandwidth values in an uplink result's observed value: a number; a mapping with one of
    BANDWIDTH_KEYS (and an optional ``band`` [low, high]); or such mappings per direction, as
    the uplink.bandwidth probe records (``{"download": {"median_mbps": …, "band": […]}, …}``)."""
    if (v := _number(obs)) is not None:
        return [("", v, None)]
    if not isinstance(obs, Mapping):
        return []
    for k in BANDWIDTH_KEYS:
        if (v := _number(obs.get(k))) is not None:
            return [("", v, _band(obs.get("band")))]
    out: list[tuple[str, float, tuple[float, float] | None]] = []
    for direction, sub in obs.items():
        if isinstance(sub, Mapping):
            for k in BANDWIDTH_KEYS:
                if (v := _number(sub.get(k))) is not None:
                    out.append((str(direction), v, _band(sub.get("band"))))
                    break
    return out


def _bandwidth(result: RunResult, lang: Lang) -> tuple[list[charts.Bar], float]:
    threshold = 10.0
    for c in result.controls:
        v = c.parameters.get("min_mbps")
        if isinstance(v, int | float) and c.clause.startswith("附录1 四(三)"):
            threshold = float(v)
            break
    measured: dict[tuple[str, str], charts.Bar] = {}
    uplinks: list[str] = []
    for r in result.results:
        if r.object_type != "uplink":
            continue
        if r.object_id not in uplinks:
            uplinks.append(r.object_id)
        for direction, value, band in _measurements(r.observed):
            label = f"{r.object_id} {direction}".strip()
            measured.setdefault((r.object_id, direction), charts.Bar(label, value, r.status.value, band=band))
    bars: list[charts.Bar] = []
    for up in uplinks:
        mine = [b for (u, _), b in measured.items() if u == up]
        bars += mine or [charts.Bar(up, None, note="无测量值" if lang == "zh" else "no measurement")]
    return bars, threshold


def build_view(result: RunResult, *, lang: Lang = "zh", documents: Mapping[str, tuple[str, str]] | None = None,
               previous: RunDiff | None = None, tester: str = "", max_results_per_control: int = 200,
               remediation: Mapping[str, tuple[str, str]] | None = None,
               scores: Mapping[str, Score] | None = None) -> ReportView:
    """``documents``: id -> (title, number) of the regulations; ``remediation``: control id ->
    (zh, en) advice from the catalog. Both come from the run's profile when it can be loaded."""
    t = labels(lang)
    sl = _status_labels(lang)
    docs = _documents(result, documents or {})
    keys = section_keys(previous=previous is not None, warnings=bool(result.warnings))
    sections = [Section(k, t["s_" + k], i + 1) for i, k in enumerate(keys)]

    by_control: dict[str, list[ObjectResult]] = defaultdict(list)
    for r in result.results:
        by_control[r.control_id].append(r)
    views: list[ControlView] = []
    for c in result.controls:
        rs = by_control.get(c.control_id, [])
        waived = sum(1 for r in rs if r.waiver is not None and r.status in _BAD)
        cv = ControlView(c=c, title=wording.clean_note(c.title_zh if lang == "zh" or not c.title_en else c.title_en),
                         status_label=sl[c.status.value], requirement=wording.clean_note(c.requirement),
                         results=rs[:max_results_per_control], waived=waived,
                         method=METHODS.get(c.method, {"zh": c.method, "en": c.method})[lang])
        cv.risk = _risk(c, lang)
        cv.affected = [r.object_id for r in rs if r.status in (*_BAD, Status.ERROR, Status.NOT_CHECKED)]
        cv.advice = wording.clean_note(_advice(cv, lang, (remediation or {}).get(c.control_id)))
        cv.rows = _rows(cv.results, lang)
        views.append(cv)

    doc_rows = []
    for doc_id in dict.fromkeys(c.document for c in result.controls):
        cs = [v for v in views if v.c.document == doc_id]
        cnt = {s.value: sum(1 for v in cs if v.c.status is s) for s in Status}
        st = conclude((v.c for v in cs), doc_id).status
        title, number = docs[doc_id]
        doc_rows.append({"id": doc_id, "title": title, "number": number, "counts": cnt,
                         "score": (scores or {}).get(doc_id),
                         "high_risk": sum(1 for v in cs if v.c.high_risk and v.c.status in _BAD),
                         "status": st, "total": len(cs)})

    grouped: list[tuple[str, list[tuple[str, list[ControlView]]]]] = []
    for doc in doc_rows:
        areas: dict[str, list[ControlView]] = {}
        for v in views:
            if v.c.document == doc["id"]:
                areas.setdefault(v.c.area or v.c.clause.split(" ")[0] or "—", []).append(v)
        heading = f"{doc['title']} {doc['number']}".strip()
        for cvs in areas.values():
            _mark_control_points(cvs, lang)
        grouped.append((heading, list(areas.items())))

    basic = []
    # Articles (第十九条, 第二十八条) are numbered per document, and the 监管细则 has its own 第十九条:
    # only the documents that carry the 附录1 basic standard count for this section.
    basic_docs = {c.document for c in result.controls if c.clause.startswith("附录1")}
    for clause, topic in BASIC_TOPICS:
        if clause.startswith("第"):
            cs = [v for v in views if v.c.clause.startswith(clause) and (not basic_docs or v.c.document in basic_docs)]
        else:
            cs = [v for v in views if v.c.clause == clause or v.c.clause.startswith(clause + " ")]
        cnt = {s.value: sum(1 for v in cs if v.c.status is s) for s in Status}
        basic.append({"clause": clause, "topic": topic[lang], "controls": cs, "counts": cnt,
                      "is_bandwidth": clause == "附录1 四(三)"})

    order = {"高": 0, "High": 0, "中": 1, "Medium": 1, "低": 2, "Low": 2}
    risks = sorted((v for v in views if v.c.status in _BAD), key=lambda v: order[v.risk])
    unjudged: dict[str, list[ControlView]] = {}
    for v in sorted((v for v in views if v.c.status in (Status.ERROR, Status.NOT_CHECKED)),
                    key=lambda v: (v.c.status is not Status.ERROR, order[v.risk])):
        unjudged.setdefault(v.advice, []).append(v)

    per_obj: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"pass": 0, "fail": 0, "other": 0})
    for r in result.results:
        k = "pass" if r.status is Status.PASS else "fail" if r.status in _BAD else "other"
        per_obj[(r.object_type, r.object_id)][k] += 1
    assets = []
    for o in result.objects:
        assets.append({"type": OBJECT_TYPES.get(o.type, {"zh": o.type, "en": o.type})[lang], "id": o.id,
                       "label": o.label, "counts": per_obj.get((o.type, o.id), {"pass": 0, "fail": 0, "other": 0})})

    seen: dict[str, EvidenceRef] = {e.path: e for e in result.evidence}
    for r in result.results:
        for e in r.evidence:
            seen.setdefault(e.path, e)
    for a in result.attestations:
        for e in a.files:
            seen.setdefault(e.path, e)

    area_counts: dict[str, dict[str, int]] = {}
    for c in result.controls:
        area = c.area or c.clause.split(" ")[0] or c.document
        area_counts.setdefault(area, {s.value: 0 for s in Status})[c.status.value] += 1
    bars, threshold = _bandwidth(result, lang)
    trend = Markup("")
    if previous is not None:
        names = sorted(set(previous.area_old) | set(previous.area_new))
        trend = charts.trend_chart([(a, previous.area_old.get(a), previous.area_new.get(a)) for a in names],
                                   t["last_year"], t["this_year"])
    inst = result.institution
    sysd = result.system
    ng = t["not_given"]
    who = _tester(result, tester)
    org = str(who.get("organisation", "") or "")
    inst_name = inst.get("name", "") or ng
    testers = ("、" if lang == "zh" else ", ").join(str(x) for x in who.get("testers", []) or [])
    report_no = str(who.get("report_number", "") or "") or f"IHC-{result.run.started[:10]}-{result.run.id}"
    report_date = wording.day(str(who.get("report_date", "") or "") or result.run.finished, lang)
    cover = [
        (t["institution"], inst_name),
        (t["credit_code"], inst.get("credit_code", "") or ng),
        (t["licence"], inst.get("licence_number", "") or ng),
        (t["system"], " ".join(x for x in (str(sysd.get("name", "")), str(sysd.get("version", ""))) if x) or ng),
        (t["mlps_level"], wording.level(sysd.get("mlps_level", ""), lang) or ng),
        (t["filing"], str(sysd.get("mlps_filing_number", "")) or ng),
        (t["location"], str(sysd.get("location", "")) or ng),
        (t["period"], wording.period(result.run.started, result.run.finished, lang)),
        (t["tester"], org or t["self_check"].format(inst=inst_name)),
        (t["testers"], testers or ng),
        (t["report_no"], report_no),
        (t["report_date"], report_date),
        (t["tool"], f"{result.tool.get('name', 'ihconform')} {result.tool.get('version', '')}"),
        (t["profile"], f"{result.run.profile} {result.run.profile_version}"),
        (t["run_id"], result.run.id),
        (t["inventory_digest"], result.run.inventory_sha256 or ng),
    ]
    partial = ""
    if result.run.partial:  # a 专项检查 (--only) says so first on the cover (issue 13 §5)
        sel = result.run.selection
        partial = t["partial_run"]
        cover.insert(0, (t["selection"], t["selection_text"].format(
            only=" ".join(sel.only or result.run.only), n=sel.controls or len(result.controls),
            total=sel.profile_controls or "?")))
    kind = t["kind_pre"].format(org=org) if org else t["kind_self"]
    blank = t["blank_date"]
    signature = [(t[k], str(who.get(k, "") or ""), report_date if who.get(k) else blank)
                 for k in ("prepared_by", "reviewed_by", "approved_by")]
    system_rows = list(cover[:7])  # institution … location: the system facts of the cover
    groups: dict[str, list[tuple[str, str, str]]] = {}
    for o in result.objects:
        groups.setdefault(OBJECT_TYPES.get(o.type, {"zh": o.type, "en": o.type})[lang], []).append(
            (o.id, o.label if o.label != o.id else "", _placement(o, t, lang)))
    judged = sum(1 for c in result.controls if c.status in (Status.PASS, *_BAD))
    not_assessed = []
    for cv in views:
        if cv.c.status in (Status.NOT_APPLICABLE, Status.NOT_CHECKED, Status.ERROR):
            why = next((row.reason for row in cv.rows if row.reason), "")
            not_assessed.append({"id": cv.c.control_id, "title": cv.title, "status": cv.status_label,
                                 "reason": why or cv.advice})
    sc = result.summary.score
    return ReportView(
        kind=kind, statement=t["statement"].format(who=org or inst_name), report_date=report_date,
        signature=signature, stamp=t["stamp_of"].format(org=org or inst_name), system_rows=system_rows,
        object_groups=list(groups.items()), mlps=_mlps_quotes(result, lang, t),
        scope_text=t["scope_profile"].format(profile=result.run.profile, version=result.run.profile_version,
                                             total=len(result.controls), judged=judged,
                                             other=len(result.controls) - judged),
        scope_only=t["scope_only"].format(sel="、".join(result.run.only)) if result.run.only else "",
        not_assessed=not_assessed, rules=wording.clean_note(sc.rules) if sc else "",
        lang=lang, t=t, r=result, sections=sections, status_label=sl, cover=cover,
        profile_digests=sorted((k.rsplit("/", 1)[-1], v) for k, v in result.run.profile_digests.items()),
        documents=doc_rows, controls=views, by_document=grouped,
        high_risk=[v for v in views if v.c.high_risk and v.c.status in _BAD], basic=basic, risks=risks,
        unjudged=list(unjudged.items()),
        assets=assets, evidence=sorted(seen.values(), key=lambda e: e.path),
        area_chart=charts.area_chart(list(area_counts.items()), sl),
        bandwidth_chart=charts.bandwidth_chart(bars, threshold, no_value="—"),
        trend_chart=trend, previous=previous, tester=org, report_no=report_no,
        partial=partial,
    )


def _placement(o: TestedObject, t: Mapping[str, str], lang: Lang) -> str:
    """Where an object sits in the deployment, from the inventory: the host it runs on, a host's
    roles, the jump host it is reached through, its declared location."""
    parts = []
    if o.host:
        parts.append(t["on_host"].format(host=o.host))
    if o.roles:
        parts.append(t["roles"].format(roles="、".join(o.roles)))
    if o.via:
        parts.append(t["via"].format(host=o.via))
    if o.location:
        parts.append(t["at"].format(location=o.location))
    return ("；" if lang == "zh" else "; ").join(parts)


def _tester(result: RunResult, tester: str) -> dict[str, Any]:
    """The run's tester record; a ``tester`` string (``ihconform report --tester``, ``IHC_TESTER``)
    names the testing organisation when the record gives none."""
    who = dict(result.tester)
    if tester and not who.get("organisation"):
        who["organisation"] = tester
    return who


#: Attestation fields the 等保 quote shows first, in this order; any further field the ledger
#: records (e.g. the official conclusion) follows as the ledger names it.
_MLPS_FIELDS = ("id", "control_id", "statement", "organisation", "attester", "date", "valid_until", "claimed",
                "state")


def _mlps_quotes(result: RunResult, lang: Lang, t: Mapping[str, str]) -> list[list[tuple[str, str]]]:
    """The attestations of the 等保 filing certificate and assessment report (controls whose
    ``required_documents`` name an ``mlps-`` document), quoted field by field: the official
    conclusion is theirs, never this report's."""
    mlps_controls = {c.control_id for c in result.controls
                     if any(str(d).startswith("mlps-") for d in (c.parameters.get("required_documents") or []))}
    names = {"id": t["id"], "control_id": t["control"], "statement": t["statement_col"],
             "organisation": t["tester"], "attester": t["attester"], "date": t["date"],
             "valid_until": t["valid_until"], "claimed": t["claimed"], "state": t["state"]}
    out = []
    for a in result.attestations:
        if a.control_id not in mlps_controls:
            continue
        data = a.model_dump(mode="json", exclude={"files", "signer_key", "objects", "role", "reason"})
        data["claimed"] = a.claimed.zh if lang == "zh" else a.claimed.en
        data["state"] = STATES.get(a.state, {"zh": a.state, "en": a.state})[lang]
        rows = [(names[k], wording.readable(data.pop(k), lang)) for k in _MLPS_FIELDS if k in data]
        rows += [(wording.field_name(k, lang), wording.readable(v, lang)) for k, v in data.items()
                 if v not in (None, "", [], {})]
        out.append(rows)
    return out

