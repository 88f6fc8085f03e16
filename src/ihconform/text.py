"""Text from targets, made safe to show: one sanitiser for every output.

Why: hosts, banners, BMCs and UPS servers are not trusted. Their text reaches reasons, the
terminal summary, junit.xml and the HTML/PDF report. Control characters (an ANSI escape that
repaints a terminal), C1 controls, U+FFFE/U+FFFF, and lone surrogates (undecodable bytes kept
by ``surrogateescape``, which no UTF-8 file can even hold) become U+FFFD everywhere, the same
way. Markup escaping stays with each format; this only removes characters.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def printable(text: str, *, lines: bool = True) -> str:
    """``text`` with unsafe characters replaced by U+FFFD; with ``lines=False`` tab, newline
    and carriage return go too (one-line fields: a terminal row, a quoted peer answer)."""
    return (_UNSAFE if lines else _UNSAFE_LINE).sub("\ufffd", text)


# ---- internal notes never reach an output ----------------------------------------------------

#: Markers of the project's research notes. Profile texts (provenance, rules) may carry them for
#: the maintainers; no output (report, results.json, junit.xml) ever does:
#: verdict reasons quote a decisive part's provenance through :func:`clean_note`.
INTERNAL_MARKERS = ("研究笔记", "[K]", "待以官方模板核实")
_NOTE_GROUP = re.compile(r"[（(][^（）()]*(?:研究笔记|\[K\]|待以官方模板核实|待核实)[^（）()]*[）)]")
_NOTE_TAIL = re.compile(r"[；;，,]?\s*(?:研究笔记[^；;。）)]*|\[K\][^；;。）)]*|待以官方模板核实|待核实)")


def clean_note(text: str) -> str:
    """``text`` without the research-note parts: a parenthesis naming 研究笔记 / [K] / 待…核实
    goes whole; a bare marker goes up to the end of its clause."""
    out = _NOTE_GROUP.sub("", text)
    out = _NOTE_TAIL.sub("", out)
    return re.sub(r"[ \t]{2,}", " ", out).strip()
