"""report.pdf through Typst: target text is data, never Typst markup; the fonts are the packaged
Noto CJK, embedded and extractable; a missing package or font says what to install; and the data
handed to the template is held by a golden file, like the HTML.

Rewrite the golden with ``pytest --update-golden`` (or ``IHC_UPDATE_GOLDEN=1``) and review the diff.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ihconform.report import pdf as pdfmod
from ihconform.report.pdf import PdfUnavailable, render_pdf, view_json
from ihconform.report.view import build_view
from ihconform.results import RunResult

from ..conftest import GOLDEN
from .test_report_render import rich_result

needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None or shutil.which("pdffonts") is None,
                                   reason="poppler-utils not installed")

#: Everything Typst would read as markup or code if it were ever parsed: functions, file reads,
#: imports, headings, math, emphasis, references, labels, raw, escapes and comments.
PLANTED = ('#read("/etc/passwd") #import "@preview/cetz:0.3.0": * #let x = 1 #x #eval("1+1") '
           '= heading [a] $x^2$ *strong* _emph_ @ref <label> `raw` \\u{41} \\ // not a comment /* no */ '
           '#set page(paper: "a5") #pagebreak() ~ --- ')


def planted() -> RunResult:
    """rich_result with PLANTED as a hostname (object id), a reason, the institution and a warning."""
    r = rich_result()
    results = list(r.results)
    results[0] = results[0].model_copy(update={"object_id": "db-" + PLANTED, "reason": PLANTED})
    return r.model_copy(update={"results": tuple(results), "institution": {**r.institution, "name": PLANTED},
                                "warnings": (PLANTED,)})


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def planted_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("typst") / "report.pdf"
    path.write_bytes(render_pdf(build_view(planted())))
    return path


@needs_poppler
def test_typst_syntax_in_target_text_is_printed_verbatim(planted_pdf: Path) -> None:
    text = subprocess.run(["pdftotext", str(planted_pdf), "-"], capture_output=True, text=True, check=True).stdout
    # the cover (institution), section 9 (reason and object id) and 运行提示 (warning) all show it whole
    assert flat(text).count(flat(PLANTED)) >= 4, text[:3000]
    assert "root:x:0:0" not in text  # /etc/passwd was not read
    info = subprocess.run(["pdfinfo", str(planted_pdf)], capture_output=True, text=True, check=False).stdout
    assert "A4" in info or "595.28 x 841.89" in info  # no planted #set page(paper: "a5") took effect


@needs_poppler
def test_cjk_fonts_are_embedded_and_the_text_extractable(planted_pdf: Path) -> None:
    fonts = subprocess.run(["pdffonts", str(planted_pdf)], capture_output=True, text=True, check=True).stdout
    rows = fonts.splitlines()[2:]
    assert rows and all("NotoSans" in line and " yes yes yes " in line for line in rows), fonts
    text = subprocess.run(["pdftotext", "-f", "3", "-l", "3", str(planted_pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "1 声明" in text and "不是网络安全等级保护测评机构出具的等级测评结论" in flat(text)
    assert re.search(r"^3 / \d+$", text, re.M), text  # page numbers


def test_typst_data_matches_golden(update_golden: bool) -> None:
    data = view_json(build_view(rich_result(), tester="重庆某测评中心"))
    golden = GOLDEN / "report.rich.typst.json"
    if update_golden or not golden.exists():
        golden.write_text(data + "\n", encoding="utf-8")
    assert data + "\n" == golden.read_text(encoding="utf-8"), f"differs from {golden}; --update-golden to accept"


def test_typst_data_is_plain_strings() -> None:
    """Control characters and lone surrogates a target sent are U+FFFD in the data, as in the HTML."""
    r = rich_result()
    results = (r.results[0].model_copy(update={"reason": "bad\x1b[31m \udcff end"}), *r.results[1:])
    data = view_json(build_view(r.model_copy(update={"results": results})))
    assert "bad\ufffd[31m \ufffd end" in json.loads(data)["items"][0]["areas"][0]["items"][0]["rows"][0]["reason"]
    data.encode("utf-8")  # no lone surrogate left


def test_missing_fonts_say_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pdfmod, "FONT_DIRS", (tmp_path,))
    with pytest.raises(PdfUnavailable, match="fonts-noto-cjk"):
        render_pdf(build_view(rich_result()))


def test_missing_typst_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "typst", None)  # import typst raises ImportError
    with pytest.raises(PdfUnavailable, match=r"ihconform\[report\]"):
        render_pdf(build_view(rich_result()))


def test_the_pdf_laid_out_beside_the_html_leaves_each_file_whole(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    """write_reports lays the PDF out on a worker thread while it renders the HTML: both files are
    what each renderer makes alone; only what was asked for is written (no HTML for a PDF-only
    run); and a PDF that cannot be made still leaves the HTML, then raises."""
    from ihconform.report.render import render_html, write_reports

    r = rich_result()
    view = build_view(r)
    both, only_pdf, no_fonts = tmp_path / "both", tmp_path / "pdf", tmp_path / "nofonts"
    for d in (both, only_pdf, no_fonts):
        d.mkdir()
    write_reports(r, both)
    assert (both / "report.html").read_text(encoding="utf-8") == render_html(view)
    assert (both / "report.pdf").read_bytes() == render_pdf(view)  # the run's own stamp: the same bytes
    assert [p.name for p in write_reports(r, only_pdf, html=False)] == ["report.pdf"]
    assert sorted(p.name for p in only_pdf.iterdir()) == ["report.pdf"]
    monkeypatch.setattr(pdfmod, "FONT_DIRS", (tmp_path / "none",))
    with pytest.raises(PdfUnavailable, match="fonts-noto-cjk"):
        write_reports(r, no_fonts)
    assert sorted(p.name for p in no_fonts.iterdir()) == ["report.html"]
