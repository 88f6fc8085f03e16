"""Render the report: report.html from one Jinja2 template (autoescaping on), report.pdf through
Typst (:mod:`ihconform.report.pdf`) and report.docx (:mod:`ihconform.report.word`), all three from
one :class:`~ihconform.report.view.ReportView`, so they cannot say different things.

The PDF was drawn from this HTML by WeasyPrint until issue 14: its CSS layout cost ~9 s of CPU on
the embedded default (docs/performance.md §6). Typst is the ``report`` extra: without it the
HTML is still written and the PDF step says plainly what to install.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from ihconform.diff import RunDiff
from ihconform.errors import IhconformError
from ihconform.report.bundle import ENV_TESTER
from ihconform.report.i18n import Lang
from ihconform.report.pdf import PdfUnavailable as PdfUnavailable  # callers catch it from here too
from ihconform.report.pdf import render_pdf
from ihconform.report.view import ReportView, brief, build_view
from ihconform.results import RunResult, Score
from ihconform.text import printable


def _printable(value: Any) -> Any:
    """Every ``{{ }}`` output passes here before escaping: control characters (an ANSI escape
    from a banner), C1 controls and lone surrogates (undecodable bytes a target sent) become
    U+FFFD. HTML cannot carry them (parse errors; a lone surrogate cannot even be encoded, so the
    report would not be written at all). Markup (the stylesheet, the charts) keeps its type."""
    if isinstance(value, Markup):
        return Markup(printable(str(value)))  # noqa: S704 - already markup; only characters removed
    if isinstance(value, str):
        return printable(value)
    return value


def _env() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(str(resources.files("ihconform.report") / "templates"))
    env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=False, lstrip_blocks=False, keep_trailing_newline=True,
                             finalize=_printable)
    env.globals["brief"] = brief
    return env


_ENV: jinja2.Environment | None = None


def _css() -> Markup:
    """The packaged stylesheet: ours, trusted, and inside <style> where entities are not decoded,
    so it must not be autoescaped (quotes in font names would break)."""
    text = (resources.files("ihconform.report") / "templates" / "report.css").read_text(encoding="utf-8")
    if "</" in text:  # pragma: no cover - guards against an edit that could close the <style>
        raise ValueError("report.css must not contain '</'")
    return Markup(text)  # noqa: S704 - our packaged stylesheet, checked above


def render_html(view: ReportView) -> str:
    global _ENV
    if _ENV is None:
        _ENV = _env()
    return _ENV.get_template("report.html.j2").render(v=view, css=_css())


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def report_names(lang: Lang) -> tuple[str, str]:
    return ("report.html", "report.pdf") if lang == "zh" else (f"report.{lang}.html", f"report.{lang}.pdf")


def docx_name(lang: Lang) -> str:
    return "report.docx" if lang == "zh" else f"report.{lang}.docx"


def write_reports(result: RunResult, folder: Path, *, langs: tuple[Lang, ...] = ("zh",), pdf: bool = True,
                  html: bool = True, docx: bool = False, documents: Mapping[str, tuple[str, str]] | None = None,
                  previous: RunDiff | None = None, tester: str = "",
                  remediation: Mapping[str, tuple[str, str]] | None = None,
                  scores: Mapping[str, Score] | None = None,
                  progress: Callable[[str], None] | None = None) -> list[Path]:
    """Write report.html, report.pdf and (``docx``) report.docx in Chinese, and ``report.<lang>.*``
    for other languages, all from one view.

    Raises :class:`PdfUnavailable` (or :class:`~ihconform.report.word.DocxUnavailable`) after
    writing what could be written, so the caller decides whether a missing file fails its command.

    The PDF is laid out on a worker thread while this one renders the HTML and the Word file:
    Typst's compile (most of the PDF's 0.6-0.8 s) releases the GIL, so on two cores the HTML's
    template and rendering (about 0.15 s) and python-docx's work come for free
    (docs/performance.md §6, session 12). Nothing is shared but the view, which neither writes.
    """
    from ihconform.report.word import DocxUnavailable, render_docx

    written: list[Path] = []
    errors: list[PdfUnavailable | DocxUnavailable] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ihc-pdf") as layout:
        for lang in langs:
            view = build_view(result, lang=lang, documents=documents, previous=previous, tester=tester,
                              remediation=remediation, scores=scores)
            html_name, pdf_name = report_names(lang)
            laid_out = layout.submit(render_pdf, view, progress) if pdf else None
            if docx:
                try:
                    _write(folder / docx_name(lang), render_docx(view))
                    written.append(folder / docx_name(lang))
                except DocxUnavailable as exc:
                    errors.append(exc)
            if html:
                _write(folder / html_name, render_html(view).encode("utf-8"))
                written.append(folder / html_name)
            if laid_out is not None:
                try:
                    _write(folder / pdf_name, laid_out.result())
                    written.append(folder / pdf_name)
                except PdfUnavailable as exc:
                    errors.append(exc)
    if errors:
        raise errors[0]
    return written


@dataclass(frozen=True)
class CatalogTexts:
    """What the report takes from the profile rather than from results.json: the regulations'
    titles and numbers, and each control's remediation advice."""

    documents: dict[str, tuple[str, str]]
    remediation: dict[str, tuple[str, str]]
    scores: dict[str, Score] = field(default_factory=dict)  # per document, for the conclusion table


def catalog_texts(profile: Any, result: RunResult | None = None) -> CatalogTexts:
    """``result`` given: also score each regulation separately, with the profile's own rules and
    the engine's scoring code (the 等保 conclusion table gives a 综合得分 per assessed object)."""
    docs = {k: (str(getattr(d, "title", k)), str(getattr(d, "number", ""))) for k, d in profile.documents.items()}
    rem = {c.id: (c.remediation.zh, c.remediation.en) for c in profile.controls if c.remediation is not None}
    scores: dict[str, Score] = {}
    if result is not None:
        from ihconform.scoring import compute_score

        judged = {c.control_id for c in result.controls}
        for doc in dict.fromkeys(c.source.document for c in profile.controls):
            controls = [c for c in profile.controls if c.source.document == doc and c.id in judged]
            score = compute_score(controls, result.results, profile.scoring) if controls else None
            if score is not None:
                scores[doc] = score
    return CatalogTexts(docs, rem, scores)


def profile_texts(result: RunResult) -> CatalogTexts:
    """The run's profile, loaded again for re-rendering: by id (built-in profiles), then from the
    profile files the run recorded digests of. A profile that no longer loads (moved file, newer
    catalog) leaves the report with the documents ihconform ships, bare ids and generic advice."""
    from ihconform.catalog import load_profile

    hosting = (result.system.get("hosting") or {}).get("kind")  # the run's conditional includes (cloud)
    for ref in (result.run.profile, *result.run.profile_digests):
        try:
            profile = load_profile(ref, hosting=hosting if isinstance(hosting, str) else None)
        except (IhconformError, OSError, ValueError):
            continue
        return catalog_texts(profile, result)
    return CatalogTexts({}, {})


def write_run_reports(result: RunResult, folder: Path, profile: Any,
                      formats: Collection[str] = ("html", "pdf"),
                      progress: Callable[[str], None] | None = None) -> None:
    """Called by the run (ihconform.run.folder) while the run folder is assembled: report.html, .pdf, .docx.

    A report that cannot be drawn must not cost the run its results, which are already written:
    the failure is reported on stderr with how to re-render (``ihconform report``), never hidden.
    ``profile`` is the run's :class:`~ihconform.profile.Profile`; the tester comes from ``IHC_TESTER``.
    """
    import sys
    import traceback

    from ihconform.report.word import DocxUnavailable

    try:
        texts = catalog_texts(profile, result)
        write_reports(result, folder, documents=texts.documents, remediation=texts.remediation, scores=texts.scores,
                      html="html" in formats, pdf="pdf" in formats, docx="docx" in formats,
                      tester=os.environ.get(ENV_TESTER, ""), progress=progress)
    except (PdfUnavailable, DocxUnavailable) as exc:
        sys.stderr.write(f"ihconform: 警告 / warning: a report file was not written: {exc}\n")
    except Exception as exc:  # a renderer bug must not lose a finished run; it is shown, not hidden
        sys.stderr.write("ihconform: 错误 / error: the report could not be rendered "
                         f"({type(exc).__name__}: {exc}); results.json and junit.xml are complete — "
                         "re-render with `ihconform report RUN_FOLDER` once fixed\n")
        traceback.print_exc(file=sys.stderr)
