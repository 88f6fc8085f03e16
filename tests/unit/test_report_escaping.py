"""Whatever a target sends — markup, quotes, control characters, bidi overrides — the report
stays a report: no tag, attribute or script from the data appears in the HTML, and the PDF
renders. Property-based (hypothesis) over the fields that carry target or inventory text."""

from __future__ import annotations

from html.parser import HTMLParser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ihconform.report.pdf import render_pdf
from ihconform.report.render import render_html
from ihconform.report.view import build_view

from .test_report_render import rich_result

ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "section", "p", "h1", "h2", "h3", "h4", "table",
                "colgroup", "col", "thead", "tbody", "tr", "th", "td", "span", "div", "b", "nav", "ol", "li", "a",
                "figure", "figcaption", "svg", "rect", "text", "line", "ul", "br", "footer"}

hostile = st.text(alphabet=st.sampled_from(list("<>&\"'=/ ascriptonerrorimg:()\x00\x07\x1b\u202e\ufeff中文")),
                  min_size=1, max_size=40)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.add(tag)
        self.attrs |= {a for a, _ in attrs}


def inject(text: str):  # type: ignore[no-untyped-def]
    r = rich_result()
    results = list(r.results)
    results[0] = results[0].model_copy(update={"object_id": text, "reason": text, "observed": {text: text}})
    results[1] = results[1].model_copy(update={"object_id": text})  # an uplink: its id is a chart label
    objects = list(r.objects)
    objects[1] = objects[1].model_copy(update={"label": text, "id": text})
    return r.model_copy(update={"results": tuple(results), "objects": tuple(objects),
                                "institution": {**r.institution, "name": text},
                                "warnings": (text,)})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile)
def test_no_markup_from_data_reaches_the_html(text):
    html = render_html(build_view(inject(text)))
    p = Tags()
    p.feed(html)
    assert p.tags <= ALLOWED_TAGS, p.tags - ALLOWED_TAGS
    assert not any(a.startswith("on") for a in p.attrs)
    assert "<script" not in html.lower()


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile)
def test_pdf_renders_whatever_the_data(text):
    assert render_pdf(build_view(inject(text))).startswith(b"%PDF-")


def test_a_partial_run_cover_uses_only_the_allowed_tags() -> None:
    """The template's own markup is held to the same set: a 专项检查 cover once added <strong>,
    which the hostile-data lab test then reported as a tag from nowhere."""
    r = rich_result()
    r = r.model_copy(update={"run": r.run.model_copy(update={"only": ("L3-CES1-01",)})})
    assert r.run.partial
    html = render_html(build_view(r))
    assert "cover-partial" in html
    p = Tags()
    p.feed(html)
    assert p.tags <= ALLOWED_TAGS, p.tags - ALLOWED_TAGS
