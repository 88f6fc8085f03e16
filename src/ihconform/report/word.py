"""report.docx: the same report as Word, for the assessor who edits it before signing.

Why Word beside the PDF: testers and 测评机构 finish a report in Word (their own header, the
signature page filled in by hand, the stamp), and the PDF cannot be edited. The document is drawn
from the same :class:`~ihconform.report.view.ReportView` as the HTML/PDF and walks the same
:func:`~ihconform.report.sections.section_keys`, so its headings are the PDF's
(``test_docx_has_the_pdf_headings``). Charts are SVG and stay in the HTML/PDF; Word shows their
numbers in the tables. python-docx (MIT) is in the ``report`` extra (docs/decisions.md).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

from ihconform.errors import IhconformError
from ihconform.report.view import ReportView
from ihconform.text import printable

#: Fonts named for East Asian text; Word substitutes the nearest installed one.
CJK_FONT = "Noto Sans CJK SC"
LATIN_FONT = "DejaVu Sans"


class DocxUnavailable(IhconformError):
    """python-docx is missing (the ``report`` extra)."""


def _text(value: object) -> str:
    """Every string that reaches Word: XML 1.0 cannot hold control characters (python-docx would
    raise), and target text may carry them."""
    return printable("" if value is None else str(value))


class _Writer:
    def __init__(self, v: ReportView) -> None:
        try:
            import docx
            from docx.enum.text import WD_ALIGN_PARAGRAPH
            from docx.oxml.ns import qn
            from docx.shared import Pt
        except ImportError as exc:
            raise DocxUnavailable(f"report.docx needs python-docx: pip install 'ihconform[report]' ({exc})") from exc
        self.v = v
        self.t = v.t
        self.doc: Any = docx.Document()
        self._center = WD_ALIGN_PARAGRAPH.CENTER
        self._right = WD_ALIGN_PARAGRAPH.RIGHT
        self._pt = Pt
        for name in ("Normal", "Title", "Heading 1", "Heading 2", "Heading 3", "Table Grid"):
            style = self.doc.styles[name]
            style.font.name = LATIN_FONT
            rpr = style.element.get_or_add_rPr()
            fonts = rpr.get_or_add_rFonts()
            fonts.set(qn("w:eastAsia"), CJK_FONT)
        self.doc.styles["Normal"].font.size = Pt(10)
        self.doc.core_properties.title = _text(self.t["report_title"])
        self.doc.core_properties.author = _text(v.tester or v.r.institution.get("name", ""))

    # ---- building blocks ----------------------------------------------------------------------

    def para(self, text: object = "", *, bold: bool = False, size: int | None = None, align: Any = None) -> Any:
        p = self.doc.add_paragraph()
        run = p.add_run(_text(text))
        run.bold = bold
        if size:
            run.font.size = self._pt(size)
        if align is not None:
            p.alignment = align
        return p

    def heading(self, text: str, level: int, *, new_page: bool = False) -> None:
        h = self.doc.add_heading(_text(text), level=level)
        if new_page:
            h.paragraph_format.page_break_before = True

    def table(self, header: Sequence[object], rows: Sequence[Sequence[object]]) -> Any:
        tbl = self.doc.add_table(rows=1, cols=len(header))
        tbl.style = self.doc.styles["Table Grid"]
        for cell, h in zip(tbl.rows[0].cells, header, strict=True):
            cell.text = ""
            cell.paragraphs[0].add_run(_text(h)).bold = True
        for row in rows:
            cells = tbl.add_row().cells
            for cell, value in zip(cells, row, strict=True):
                cell.text = _text(value)
        return tbl

    def kv(self, rows: Sequence[tuple[object, object]]) -> None:
        tbl = self.doc.add_table(rows=0, cols=2)
        tbl.style = self.doc.styles["Table Grid"]
        for k, val in rows:
            cells = tbl.add_row().cells
            cells[0].text = ""
            cells[0].paragraphs[0].add_run(_text(k)).bold = True
            cells[1].text = _text(val)

    def status(self, s: Any) -> str:
        return self.v.status(s)

    # ---- the document -------------------------------------------------------------------------

    def cover(self) -> None:
        v, t = self.v, self.t
        self.para(f"{t['report_no']}：{v.report_no}", align=self._right)
        self.para()
        self.doc.add_heading(_text(t["report_title"]), level=0).alignment = self._center
        self.para(v.kind, size=13, align=self._center)
        self.para(v.r.institution.get("name", ""), bold=True, size=14, align=self._center)
        self.kv([*v.cover, (t["profile_digests"], "\n".join(f"{n}: {d}" for n, d in v.profile_digests))])

    def render(self) -> bytes:
        self.cover()
        handlers: dict[str, Callable[[], None]] = {
            "statement": lambda: self.para(self.v.statement),
            "signature": self.signature, "system": self.system, "scope": self.scope,
            "conclusion": lambda: self.summary("conclusion"), "overall": lambda: self.summary("overall"),
            "high_risk": self.high_risk, "basic": self.basic, "items": self.items, "risk": self.risk,
            "assets": self.assets, "ledger": self.ledger, "evidence": self.evidence, "previous": self.previous,
            "warnings": self.warnings,
        }
        for s in self.v.sections:
            self.heading(f"{s.number} {s.title}", 1, new_page=True)
            handlers[s.key]()
        out = io.BytesIO()
        self.doc.save(out)
        return out.getvalue()

    def signature(self) -> None:
        t = self.t
        tbl = self.table([t["sign_role"], t["sign_name"], t["sign_signature"], t["sign_date"]],
                         [(role, name, "", date) for role, name, date in self.v.signature])
        for row in tbl.rows[1:]:
            row.height = self._pt(40)
        self.para()
        self.para(t["stamp"], align=self._right)
        self.para(self.v.stamp, align=self._right)
        self.para(f"{t['report_date']}：{self.v.report_date}", align=self._right)

    def system(self) -> None:
        v, t = self.v, self.t
        self.heading(t["sys_basic"], 2)
        self.kv(v.system_rows)
        self.heading(t["sys_objects"], 2)
        self.table([t["type"], t["id"], t["label"], t["placement"]],
                   [(f"{ty}（{len(objs)}）", oid, label, place) for ty, objs in v.object_groups
                    for oid, label, place in objs])
        self.heading(t["sys_mlps"], 2)
        if not v.mlps:
            self.para(t["sys_mlps_none"])
        for quote in v.mlps:
            self.kv(quote)

    def scope(self) -> None:
        v, t = self.v, self.t
        if v.scope_only:
            self.para(v.scope_only, bold=True)
        self.para(v.scope_text)
        if v.not_assessed:
            self.table([t["control"], t["title"], t["status"], t["reason"]],
                       [(n["id"], n["title"], n["status"], n["reason"]) for n in v.not_assessed])
        else:
            self.para(t["scope_none"])

    def summary(self, key: str) -> None:
        """The run's conclusions: the one place Word draws RunResult.summary and the per-document
        conclusions (the template's SUMMARY BLOCK is the other renderer's)."""
        v, t, r = self.v, self.t, self.v.r
        order = ["pass", "partial", "fail", "not_applicable", "not_checked", "error"]
        heads = [v.status_label[k] for k in order]
        if key == "conclusion":
            rows: list[list[object]] = []
            for d in v.documents:
                score = f"{d['score'].value:.2f} {d['score'].grade}" if d["score"] else "—"
                rows.append([f"{d['title']} {d['number']}".strip(), d["total"],
                             *[d["counts"].get(k, 0) for k in order], d["high_risk"], score, self.status(d["status"])])
            sc = r.summary.score
            rows.append([t["conclusion"], len(r.controls), *[r.summary.controls.get(k, 0) for k in order],
                         len(r.summary.high_risk_failures), f"{sc.value:.2f} {sc.grade}" if sc else "—",
                         self.status(r.summary.status)])
            self.table([t["document"], t["controls"], *heads, t["high_risk_count"], t["score_short"],
                        t["conclusion"]], rows)
            return
        sc = r.summary.score
        self.para(self.status(r.summary.status), bold=True, size=16)
        if sc:
            self.kv([(t["score"], f"{sc.value:.2f}"),
                     (t["grade"], sc.grade + (f"（{t['gated']}）" if sc.gated_by_high_risk else "")),
                     (t["judged"], sc.judged_items), (t["accepted_risk"], r.summary.accepted_risk),
                     (t["rules"], v.rules)])
        else:
            self.para(t["no_score"])
        self.table(["", *heads], [[t["controls"], *[r.summary.controls.get(k, 0) for k in order]],
                                  [t["objects"], *[r.summary.objects.get(k, 0) for k in order]]])

    def high_risk(self) -> None:
        t = self.t
        if not self.v.high_risk:
            self.para(t["none"])
            return
        self.table([t["control"], t["title"], t["clause"], t["status"], t["affected"], t["waiver"]],
                   [(cv.c.control_id, cv.title, f"{cv.c.clause} {cv.c.item}".strip(), self.status(cv.c.status),
                     ", ".join(cv.affected), cv.waived or "") for cv in self.v.high_risk])

    def basic(self) -> None:
        t = self.t
        for b in self.v.basic:
            self.heading(f"{b['clause']} · {b['topic']}", 2)
            if not b["controls"]:
                self.para(t["no_controls"])
                continue
            self.table([t["control"], t["title"], t["requirement"], t["method"], t["status"]],
                       [(cv.c.control_id, cv.title + (f" [{t['high_risk_flag']}]" if cv.c.high_risk else ""),
                         cv.requirement, cv.method, self.status(cv.c.status)) for cv in b["controls"]])

    def items(self) -> None:
        t = self.t
        for heading, areas in self.v.by_document:
            self.heading(heading, 2)
            for area, cvs in areas:
                self.heading(area, 3)
                for cv in cvs:
                    flag = f" [{t['high_risk_flag']}]" if cv.c.high_risk else ""
                    self.para(f"{cv.c.control_id} {cv.title} — {self.status(cv.c.status)}{flag}", bold=True)
                    self.para(f"{cv.c.clause} {cv.c.item} · {cv.method} · {cv.c.severity}")
                    self.para(cv.requirement)
                    rows = []
                    for row in cv.rows:
                        st = self.status(row.status) + (f"\n{t['waived']} {row.waiver}" if row.waiver else "")
                        obs = row.observed + (f"\n{t['expected']}：{row.expected}" if row.expected else "")
                        why = "\n".join([row.reason, *[f"{e.path} {e.sha256[:12]}" for e in row.evidence]]).strip()
                        rows.append((", ".join(row.objects), st, obs, why))
                    if rows:
                        self.table([t["object"], t["status"], f"{t['observed']} / {t['expected']}",
                                    f"{t['reason']} · {t['evidence']}"], rows)
                    shown = len(cv.results)
                    total = sum(cv.c.counts.values())
                    if shown < total:
                        self.para(t["more"].format(n=total - shown))

    def risk(self) -> None:
        t = self.t
        self.heading(t["risk_found"], 2)
        if self.v.risks:
            self.table([t["control"], t["title"], t["status"], t["risk_level"], t["affected"], t["advice"]],
                       [(cv.c.control_id, cv.title, self.status(cv.c.status), cv.risk,
                         ", ".join(cv.affected[:12]) + (" …" if len(cv.affected) > 12 else ""), cv.advice)
                        for cv in self.v.risks])
        else:
            self.para(t["none"])
        self.heading(t["unjudged"], 2)
        if not self.v.unjudged:
            self.para(t["none"])
        for advice, cvs in self.v.unjudged:
            self.para(advice)
            self.table([t["control"], t["title"], t["status"], t["risk_level"], t["affected"]],
                       [(cv.c.control_id, cv.title, self.status(cv.c.status), cv.risk,
                         ", ".join(cv.affected[:8]) + (" …" if len(cv.affected) > 8 else "")) for cv in cvs])

    def assets(self) -> None:
        t = self.t
        self.table([t["type"], t["id"], t["label"], t["results_count"]],
                   [(a["type"], a["id"], a["label"], f"{a['counts']['pass']} / {a['counts']['fail']} / "
                                                       f"{a['counts']['other']}") for a in self.v.assets])

    def ledger(self) -> None:
        v, t, r = self.v, self.t, self.v.r
        self.heading(t["attestations"], 2)
        if r.attestations:
            self.table([t["id"], t["control"], t["statement_col"], t["attester"], t["date"], t["valid_until"],
                        t["claimed"], t["state"]],
                       [(a.id, a.control_id, a.statement, f"{a.attester}\n{a.role} {a.organisation}".strip(), a.date,
                         a.valid_until, self.status(a.claimed),
                         v.state(a.state) + (f"\n{v.say(a.reason)}" if a.reason else "")) for a in r.attestations])
        else:
            self.para(t["none"])
        self.heading(t["waivers"], 2)
        if r.waivers:
            self.table([t["id"], t["control"], t["justification"], t["compensating"], t["risk_level"], t["approver"],
                        t["valid_until"], t["state"], t["applied_to"]],
                       [(w.id, w.control_id, w.justification, w.compensating_control, w.risk, w.approver,
                         f"{w.valid_from} — {w.valid_until}", v.state(w.state), w.applied_to) for w in r.waivers])
        else:
            self.para(t["none"])

    def evidence(self) -> None:
        t = self.t
        if not self.v.evidence:
            self.para(t["none"])
            return
        self.table([t["path"], t["kind"], t["digest"]], [(e.path, e.kind, e.sha256) for e in self.v.evidence])

    def previous(self) -> None:
        v, t, p = self.v, self.t, self.v.previous
        if p is None:
            return
        self.kv([(t["previous_run"], f"{p.old_run} ({v.when(p.old_started)})"),
                 *[(t["note"], n) for n in p.notes],
                 (t["score"], f"{p.score_old if p.score_old is not None else '—'} ({p.grade_old or '—'}) → "
                              f"{p.score_new if p.score_new is not None else '—'} ({p.grade_new or '—'})")])
        for title, items in ((t["regressions"], p.regressions), (t["fixes"], p.fixes),
                             (t["new_failures"], p.new_failures), (t["coverage_lost"], p.coverage_lost)):
            self.heading(f"{title}（{len(items)}）", 2)
            if items:
                self.table([t["control"], t["object"], t["title"], t["last_year"], t["this_year"]],
                           [(c.control_id, c.object_id, c.title_zh if v.lang == "zh" else c.title_en,
                             self.status(c.old), self.status(c.new)) for c in items])
        self.heading(f"{t['objects_added']}（{len(p.objects_added)}）· {t['objects_removed']}"
                     f"（{len(p.objects_removed)}）", 2)
        moved = [f"+ {ty}:{i}" for ty, i in p.objects_added] + [f"− {ty}:{i}" for ty, i in p.objects_removed]
        if moved:
            self.para("\n".join(moved))
        self.heading(t["evidence_changes"], 2)
        self.para(t["evidence_changes_counts"].format(changed=len(p.evidence_changed), added=len(p.evidence_added),
                                                      removed=len(p.evidence_removed)))
        if p.evidence_changed:
            self.para("\n".join(f"~ {path}" for path in p.evidence_changed[:50]))
        self.heading(f"{t['waiver_changes']}（{len(p.waivers)}）", 2)
        if p.waivers:
            self.table([t["id"], t["control"], t["state"], t["valid_until"]],
                       [(w.id, w.control_id, w.change, f"{w.old_until} → {w.new_until}") for w in p.waivers])

    def warnings(self) -> None:
        for w in self.v.r.warnings:
            self.doc.add_paragraph(_text(self.v.say(w)), style="List Bullet")


def render_docx(view: ReportView) -> bytes:
    """report.docx from the view the HTML/PDF are drawn from."""
    return _Writer(view).render()
