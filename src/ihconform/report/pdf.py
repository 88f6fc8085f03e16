"""report.pdf through Typst: the :class:`~ihconform.report.view.ReportView` as JSON data, laid
out by one static template (``templates/report.typ``).

Why Typst and not the HTML through WeasyPrint (docs/performance.md §6, docs/decisions.md): the
HTML's CSS cascade, layout and painting cost ~9 s of CPU for the 86-page embedded default, more
than the whole run may take (issue 14); Typst lays the same content out natively in well under a
second, embeds the CJK fonts as subsets and keeps the text extractable.

Why data and not generated markup: the template is a fixed file of ours, and every value of the
view reaches it through ``json(bytes(sys.inputs.at("view")))`` as a Typst *string*. A banner
that reads ``#read("/etc/passwd")`` or ``= heading`` is shown as those characters; nothing from a
target is ever parsed as Typst. The compiler's root is an empty temporary folder, so even the
template could read no file, and it imports no package.

:func:`view_data` only projects the view (labels, pre-formatted numbers, statuses with their
colour key); grouping, counting and wording stay in :mod:`ihconform.report.view`, shared with the
HTML and Word renderers.
"""

from __future__ import annotations

import functools
import json
import re
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from ihconform.errors import IhconformError
from ihconform.report.view import ControlView, ReportView
from ihconform.results import Score, Status
from ihconform.text import printable

#: Debian's fonts-noto-cjk: Noto Sans CJK SC for the text, Noto Sans Mono CJK SC for ids and
#: digests, embedded as subsets. Only this folder is given to Typst and system fonts are ignored,
#: so the PDF looks the same on every machine with the package.
FONT_DIRS = (Path("/usr/share/fonts/opentype/noto"),)
CJK_FONT_FILE = "NotoSansCJK-Regular.ttc"
INSTALL_HINT = "pip install 'ihconform[report]' and apt-get install fonts-noto-cjk"
#: The status columns of every count table, in this order (as the HTML's counts_head).
STATUS_ORDER = ("pass", "partial", "fail", "not_applicable", "not_checked", "error")


class PdfUnavailable(IhconformError):
    """The typst package or the Noto CJK fonts are missing."""


# ---- the view as data ---------------------------------------------------------------------------


def _st(view: ReportView, s: Status | str | None) -> dict[str, str]:
    """A status as the template draws it: its label and the key that picks its colour."""
    return {"k": Status(s).value if s is not None else "", "l": view.status(s)}


def _counts(c: dict[str, int]) -> list[int]:
    return [int(c.get(k, 0)) for k in STATUS_ORDER]


def _score(s: Score | None) -> dict[str, str] | None:
    return None if s is None else {"value": f"{s.value:.2f}", "grade": s.grade}


def _ctl(view: ReportView, cv: ControlView) -> dict[str, Any]:
    """The columns a control shows in the summary tables (高风险项, 基本标准专项, 风险分析)."""
    return {"id": cv.c.control_id, "title": cv.title, "high_risk": cv.c.high_risk, "status": _st(view, cv.c.status),
            "clause": f"{cv.c.clause} {cv.c.item}".strip(), "requirement": cv.requirement, "method": cv.method,
            "risk": cv.risk, "advice": cv.advice, "affected": cv.affected, "waived": cv.waived or ""}


def _item(view: ReportView, cv: ControlView) -> dict[str, Any]:
    """One 测评项 of 单项测试结果: its heading line, its requirement and its result rows."""
    t = view.t
    point = None
    if cv.point is not None:
        tail = "".join(f" · {k} {n}" for k, n in cv.point.counts.items())
        point = {"name": cv.point.name, "status": _st(view, cv.point.status),
                 "note": f"· {t['point_items'].format(n=cv.point.items)}{tail}"}
    total = sum(cv.c.counts.values())
    rows = [{"objects": ", ".join(row.objects), "status": _st(view, row.status),
             "waiver": f"{t['waived']} {row.waiver}" if row.waiver else "",
             "observed": row.observed, "expected": f"{t['expected']}：{row.expected}" if row.expected else "",
             "reason": row.reason, "evidence": [f"{e.path} {e.sha256[:12]}" for e in row.evidence]}
            for row in cv.rows]
    return {"point": point, "id": cv.c.control_id, "title": cv.title, "status": _st(view, cv.c.status),
            "high_risk": cv.c.high_risk, "meta": f"· {cv.c.clause} {cv.c.item} · {cv.method} · {cv.c.severity}",
            "requirement": cv.requirement, "rows": rows,
            "more": t["more"].format(n=total - len(cv.results)) if len(cv.results) < total else ""}


def _summary(view: ReportView) -> dict[str, Any]:
    """The run's conclusions: the 测试结论表 rows and the 总体结论 (the template's SUMMARY BLOCK)."""
    r = view.r
    sc = r.summary.score
    docs = [{"title": d["title"], "number": d["number"], "total": d["total"], "counts": _counts(d["counts"]),
             "high_risk": d["high_risk"], "score": _score(d["score"]), "status": _st(view, d["status"])}
            for d in view.documents]
    total = {"total": len(r.controls), "counts": _counts(r.summary.controls),
             "high_risk": len(r.summary.high_risk_failures), "score": _score(sc), "status": _st(view, r.summary.status)}
    overall = {"status": _st(view, r.summary.status), "score": _score(sc),
               "gated": bool(sc and sc.gated_by_high_risk), "judged": sc.judged_items if sc else 0,
               "accepted_risk": r.summary.accepted_risk, "rules": view.rules,
               "controls": _counts(r.summary.controls), "objects": _counts(r.summary.objects)}
    return {"documents": docs, "total": total, "overall": overall}


def _ledger(view: ReportView) -> dict[str, Any]:
    r = view.r
    atts = [{"id": a.id, "control": a.control_id, "statement": a.statement, "attester": a.attester,
             "who": f"{a.role} {a.organisation}".strip(), "date": a.date, "valid_until": a.valid_until,
             "claimed": _st(view, a.claimed), "state": view.state(a.state),
             "reason": view.say(a.reason) if a.reason else ""} for a in r.attestations]
    waivers = [{"id": w.id, "control": w.control_id, "justification": w.justification,
                "compensating": w.compensating_control, "risk": w.risk, "approver": w.approver,
                "valid": f"{w.valid_from} — {w.valid_until}", "state": view.state(w.state),
                "applied_to": w.applied_to} for w in r.waivers]
    return {"attestations": atts, "waivers": waivers}


def _previous(view: ReportView) -> dict[str, Any] | None:
    p = view.previous
    if p is None:
        return None
    t = view.t

    def old_new(x: float | None, g: str) -> str:
        return f"{x if x is not None else '—'} ({g or '—'})"

    lists = []
    for title, items in ((t["regressions"], p.regressions), (t["fixes"], p.fixes),
                         (t["new_failures"], p.new_failures), (t["coverage_lost"], p.coverage_lost)):
        lists.append({"title": f"{title}（{len(items)}）", "rows": [
            {"control": c.control_id, "object": c.object_id, "title": c.title_zh if view.lang == "zh" else c.title_en,
             "high_risk": c.high_risk, "old": _st(view, c.old), "new": _st(view, c.new)} for c in items]})
    return {"run": f"{p.old_run} ({view.when(p.old_started)})", "notes": list(p.notes),
            "score": f"{old_new(p.score_old, p.grade_old)} → {old_new(p.score_new, p.grade_new)}",
            "lists": lists,
            "objects_title": f"{t['objects_added']}（{len(p.objects_added)}）· {t['objects_removed']}"
                             f"（{len(p.objects_removed)}）",
            "objects": [f"+ {ty}:{i}" for ty, i in p.objects_added] + [f"− {ty}:{i}" for ty, i in p.objects_removed],
            "evidence_counts": t["evidence_changes_counts"].format(
                changed=len(p.evidence_changed), added=len(p.evidence_added), removed=len(p.evidence_removed)),
            "evidence_changed": [f"~ {path}" for path in p.evidence_changed[:50]],
            "waivers_title": f"{t['waiver_changes']}（{len(p.waivers)}）",
            "waivers": [[w.id, w.control_id, w.change, f"{w.old_until} → {w.new_until}"] for w in p.waivers]}


def _plain(value: Any) -> Any:
    """Every string the template receives is printable text: control characters and lone
    surrogates (undecodable bytes a target sent) become U+FFFD, as in the HTML and Word."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def view_data(view: ReportView) -> dict[str, Any]:
    """The view as the JSON the Typst template reads: plain strings, numbers, lists and maps."""
    t, r = view.t, view.r
    data: dict[str, Any] = {
        "lang": view.lang, "t": dict(t), "status_heads": [view.status_label[k] for k in STATUS_ORDER],
        "report_no": view.report_no, "kind": view.kind, "partial": view.partial,
        "institution": str(r.institution.get("name", "") or ""), "cover": view.cover,
        "profile_digests": [f"{name}: {d}" for name, d in view.profile_digests],
        "sections": [{"key": s.key, "number": s.number, "title": s.title} for s in view.sections],
        "statement": view.statement, "signature": view.signature, "stamp": view.stamp,
        "report_date": view.report_date, "system_rows": view.system_rows,
        "object_groups": [{"type": f"{ty}（{len(objs)}）", "objects": objs} for ty, objs in view.object_groups],
        "mlps": view.mlps, "scope_only": view.scope_only, "scope_text": view.scope_text,
        "not_assessed": view.not_assessed, "summary": _summary(view),
        "charts": {"area": str(view.area_chart), "bandwidth": str(view.bandwidth_chart),
                   "trend": str(view.trend_chart)},
        "high_risk": [_ctl(view, cv) for cv in view.high_risk],
        "basic": [{"heading": f"{b['clause']} · {b['topic']}", "is_bandwidth": b["is_bandwidth"],
                   "controls": [_ctl(view, cv) for cv in b["controls"]]} for b in view.basic],
        "items": [{"heading": heading, "areas": [{"area": area, "items": [_item(view, cv) for cv in cvs]}
                                                 for area, cvs in areas]} for heading, areas in view.by_document],
        "risks": [_ctl(view, cv) for cv in view.risks],
        "unjudged": [{"advice": advice, "controls": [_ctl(view, cv) for cv in cvs]} for advice, cvs in view.unjudged],
        "assets": [{"type": a["type"], "id": a["id"], "label": a["label"],
                    "counts": f"{a['counts']['pass']} / {a['counts']['fail']} / {a['counts']['other']}"}
                   for a in view.assets],
        "ledger": _ledger(view),
        "evidence": [{"path": e.path, "kind": e.kind, "sha256": e.sha256} for e in view.evidence],
        "previous": _previous(view),
        "warnings": [view.say(w) for w in r.warnings],
        "footer": f"{t['generated']} {view.generated} · ihconform {r.tool.get('version', '')} · {view.report_no}",
    }
    plain: dict[str, Any] = _plain(data)
    return plain


def view_json(view: ReportView) -> str:
    """:func:`view_data` as the string handed to Typst (and held by the golden test)."""
    return json.dumps(view_data(view), ensure_ascii=False, indent=1)


# ---- compiling ----------------------------------------------------------------------------------


def _fonts() -> list[str]:
    dirs = [d for d in FONT_DIRS if d.is_dir()]
    if not any((d / CJK_FONT_FILE).is_file() for d in dirs):
        raise PdfUnavailable(f"report.pdf needs the Noto CJK fonts ({FONT_DIRS[0] / CJK_FONT_FILE} is missing): "
                             f"{INSTALL_HINT}")
    return [str(d) for d in dirs]


def _pages(pdf: bytes) -> int | None:
    """The page count from the PDF's page tree, for the progress line."""
    m = re.search(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", pdf[:4096])
    return int(m.group(1)) if m else None


def _stamp(when: str) -> datetime | int:
    """The PDF's creation date: the run's end, so the same run gives the same file."""
    try:
        at = datetime.fromisoformat(when)
    except ValueError:
        return 0
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@functools.cache
def _font_book(dirs: tuple[str, ...]) -> Any:
    """The fonts of ``dirs`` and nothing else, scanned once per process (a report in two languages
    compiles twice)."""
    import typst

    return typst.Fonts(include_system_fonts=False, include_embedded_fonts=False, font_paths=list(dirs))


def compile_typst(data: str, fonts: Sequence[str], timestamp: datetime | int = 0) -> bytes:
    """Compile the packaged template with ``data`` as ``sys.inputs.view``. The root and the
    package folders are an empty temporary folder: the document can read nothing else."""
    import typst

    template = (resources.files("ihconform.report") / "templates" / "report.typ").read_bytes()
    with tempfile.TemporaryDirectory(prefix="ihc-typst-") as root:
        compiler = typst.Compiler(template, root=root, font_paths=_font_book(tuple(fonts)), ignore_system_fonts=True,
                                  package_path=root, package_cache_path=root)
        # untagged: with Typst 0.15's structure tags poppler (pdftotext, pdfinfo) reported
        # "Suspects object is wrong type"; the text layer is the same without them
        out = compiler.compile(format="pdf", sys_inputs={"view": data}, timestamp=timestamp, pdf_tags=False)
    if not isinstance(out, bytes):  # pragma: no cover - one document, no output path: one bytes value
        raise TypeError(f"typst returned {type(out).__name__}, not the PDF")
    return out


def render_pdf(view: ReportView, progress: Callable[[str], None] | None = None) -> bytes:
    """report.pdf of ``view``. ``progress`` hears when layout starts and how many pages it made."""
    try:
        import typst  # noqa: F401 - only to say what is missing before any work
    except ImportError as exc:
        raise PdfUnavailable(f"report.pdf needs the typst package: {INSTALL_HINT} ({exc})") from exc
    fonts = _fonts()
    say = progress or (lambda _msg: None)
    say("report.pdf: 排版 / laying out")
    pdf = compile_typst(view_json(view), fonts, _stamp(view.r.run.finished))
    n = _pages(pdf)
    say(f"report.pdf: {n if n is not None else '?'} 页已排版写出 / pages laid out and written")
    return pdf
