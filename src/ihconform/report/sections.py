"""The report's sections, in order: one list for every renderer.

HTML/PDF (the Jinja2 template) and Word (:mod:`ihconform.report.docx`) both walk
:func:`section_keys`, so report.docx and report.pdf cannot have different headings; the test
``test_docx_has_the_pdf_headings`` compares them. Titles are the ``s_<key>`` labels in i18n.
"""

from __future__ import annotations

#: Always present, in this order (the 等级测评报告 template adapted to a 自查/预检 report).
CORE = ("statement", "signature", "system", "scope", "conclusion", "overall", "high_risk", "basic", "items",
        "risk", "assets", "ledger", "evidence")


def section_keys(*, previous: bool, warnings: bool) -> list[str]:
    """The sections of one report: the core ones, then 上年对比 with ``--previous`` and 运行提示
    when the run has warnings."""
    keys = list(CORE)
    if previous:
        keys.append("previous")
    if warnings:
        keys.append("warnings")
    return keys
