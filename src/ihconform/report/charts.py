"""Charts as inline SVG, drawn here so the HTML stays self-contained and the PDF gets vectors.

Every label is escaped (area names come from profiles, uplink ids and ISP names from the
inventory, which a hostile or careless editor may fill with markup). The SVG carries no scripts,
no external references and no fonts of its own: text inherits the page's CJK font.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

#: Status colours, chosen to survive greyscale printing (distinct lightness).
COLOURS = {
    "pass": "#2e7d32", "partial": "#f9a825", "fail": "#c62828", "error": "#6a1b9a",
    "not_checked": "#9e9e9e", "not_applicable": "#e0e0e0",
}
#: SVG text does not inherit the page font in every renderer (an SVG image in the Typst PDF does not).
FONTS = "Noto Sans CJK SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif"
_ORDER = ("pass", "partial", "fail", "error", "not_checked", "not_applicable")


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, s: str, *, anchor: str = "start", size: int = 10, fill: str = "#222",
          weight: str = "normal") -> str:
    return (f'<text x="{_fmt(x)}" y="{_fmt(y)}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
            f'font-weight="{weight}" font-family="{FONTS}">{escape(s)}</text>')


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def area_chart(rows: Sequence[tuple[str, dict[str, int]]], legend: dict[str, str], *, width: int = 640) -> Markup:
    """Stacked horizontal bars: one per area, segments by control status."""
    if not rows:
        return Markup("")
    label_w, bar_h, gap, top = 190, 14, 6, 26
    plot_w = width - label_w - 40
    top_n = max(sum(c.values()) for _, c in rows) or 1
    height = top + len(rows) * (bar_h + gap) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    lx = 0.0
    for key in _ORDER:
        parts.append(f'<rect x="{_fmt(lx)}" y="4" width="10" height="10" fill="{COLOURS[key]}"/>')
        parts.append(_text(lx + 13, 13, legend.get(key, key), size=9))
        lx += 18 + 9 * len(legend.get(key, key)) * (1.0 if legend.get(key, key).isascii() else 1.2)
    for i, (area, c) in enumerate(rows):
        y = top + i * (bar_h + gap)
        parts.append(_text(label_w - 6, y + bar_h - 3, _clip(area, 18), anchor="end", size=9))
        x = float(label_w)
        for key in _ORDER:
            n = c.get(key, 0)
            if not n:
                continue
            w = plot_w * n / top_n
            parts.append(f'<rect x="{_fmt(x)}" y="{y}" width="{_fmt(w)}" height="{bar_h}" fill="{COLOURS[key]}">'
                         f'<title>{escape(area)}: {escape(legend.get(key, key))} {n}</title></rect>')
            x += w
        parts.append(_text(x + 4, y + bar_h - 3, str(sum(c.values())), size=9, fill="#555"))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label went through escape() in _text/<title>


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: no measurement (drawn as a gap with a note)
    status: str = ""
    note: str = ""
    band: tuple[float, float] | None = None  # the measurement's uncertainty band, drawn as a whisker


def bandwidth_chart(bars: Sequence[Bar], threshold: float, *, unit: str = "Mbps", no_value: str = "—",
                    width: int = 640) -> Markup:
    """Horizontal bars per uplink with the requirement drawn as a dashed vertical line."""
    if not bars:
        return Markup("")
    label_w, bar_h, gap, top = 190, 16, 8, 16
    plot_w = width - label_w - 70
    top_v = max([threshold * 1.25] + [b.value for b in bars if b.value is not None]
                + [b.band[1] for b in bars if b.band is not None])
    height = top + len(bars) * (bar_h + gap) + 18
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    for i, b in enumerate(bars):
        y = top + i * (bar_h + gap)
        parts.append(_text(label_w - 6, y + bar_h - 4, _clip(b.label, 24), anchor="end", size=9))
        if b.value is None:
            parts.append(_text(label_w + 4, y + bar_h - 4, no_value + (f" ({b.note})" if b.note else ""),
                               size=9, fill="#777"))
            continue
        w = plot_w * b.value / top_v
        colour = COLOURS["pass"] if b.value >= threshold else COLOURS["fail"]
        parts.append(f'<rect x="{label_w}" y="{y}" width="{_fmt(w)}" height="{bar_h}" fill="{colour}"/>')
        end = w
        if b.band is not None:
            lo, hi = (label_w + plot_w * v / top_v for v in b.band)
            mid = y + bar_h / 2
            parts.append(f'<path d="M{_fmt(lo)} {_fmt(mid)}H{_fmt(hi)}M{_fmt(lo)} {y + 3}V{y + bar_h - 3}'
                         f'M{_fmt(hi)} {y + 3}V{y + bar_h - 3}" stroke="#222" stroke-width="1" fill="none"/>')
            end = max(w, hi - label_w)
        parts.append(_text(label_w + end + 4, y + bar_h - 4, f"{_fmt(b.value)} {unit}", size=9))
    tx = label_w + plot_w * threshold / top_v
    bottom = top + len(bars) * (bar_h + gap)
    parts.append(f'<line x1="{_fmt(tx)}" y1="{top - 6}" x2="{_fmt(tx)}" y2="{bottom}" stroke="#c62828" '
                 'stroke-width="1.5" stroke-dasharray="4 3"/>')
    parts.append(_text(tx, bottom + 12, f"{_fmt(threshold)} {unit}", anchor="middle", size=9, fill="#c62828"))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label went through escape() in _text/<title>


def trend_chart(rows: Sequence[tuple[str, float | None, float | None]], old_label: str, new_label: str,
                *, width: int = 640) -> Markup:
    """Paired bars per area: last year's and this year's conformance share (0-100 %)."""
    if not rows:
        return Markup("")
    label_w, bar_h, gap, top = 190, 7, 7, 24
    plot_w = width - label_w - 60
    height = top + len(rows) * (2 * bar_h + gap) + 8
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">',
             '<rect x="0" y="4" width="10" height="10" fill="#90a4ae"/>', _text(13, 13, old_label, size=9),
             '<rect x="90" y="4" width="10" height="10" fill="#1565c0"/>', _text(103, 13, new_label, size=9)]
    for i, (area, old, new) in enumerate(rows):
        y = top + i * (2 * bar_h + gap)
        parts.append(_text(label_w - 6, y + 2 * bar_h - 2, _clip(area, 18), anchor="end", size=9))
        for j, (v, colour) in enumerate(((old, "#90a4ae"), (new, "#1565c0"))):
            yy = y + j * bar_h
            if v is None:
                parts.append(_text(label_w + 2, yy + bar_h - 1, "—", size=7, fill="#777"))
                continue
            w = plot_w * v / 100
            parts.append(f'<rect x="{label_w}" y="{yy}" width="{_fmt(w)}" height="{bar_h - 1}" fill="{colour}"/>')
            parts.append(_text(label_w + w + 3, yy + bar_h - 1, f"{_fmt(v)}%", size=7))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label went through escape() in _text/<title>
