"""Small inline SVG charts for the studio's pages (no script, no external asset): a curve and bars."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def line_chart(points: Sequence[tuple[float, float]], *, x_label: str, y_label: str, title: str,
               y_percent: bool = True, width: int = 560, height: int = 240, marker: float | None = None) -> str:
    """A line over ``points`` (x, y), axes labelled in words, an optional vertical marker at x = ``marker``."""
    if not points:
        return ""
    left, right, top, bottom = 56, 16, 16, 40
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs) or 1
    y1 = max(ys) * 1.1 or 1
    sx = lambda x: left + (x - x0) / ((x1 - x0) or 1) * (width - left - right)  # noqa: E731
    sy = lambda y: height - bottom - y / y1 * (height - top - bottom)  # noqa: E731
    path = " ".join(f"{'M' if i == 0 else 'L'}{_fmt(sx(x))},{_fmt(sy(y))}" for i, (x, y) in enumerate(points))
    ticks_y = [y1 * i / 4 for i in range(5)]
    ticks_x = [x0 + (x1 - x0) * i / 4 for i in range(5)]
    ylab = (lambda v: f"{v:.0%}") if y_percent else (lambda v: f"{v:,.2f}")
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>"]
    for t in ticks_y:
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{_fmt(sy(t))}" y2="{_fmt(sy(t))}"/>'
                   f'<text class="tick" x="{left - 6}" y="{_fmt(sy(t) + 4)}" text-anchor="end">{ylab(t)}</text>')
    for t in ticks_x:
        out.append(f'<text class="tick" x="{_fmt(sx(t))}" y="{height - bottom + 16}" text-anchor="middle">'
                   f"{t:,.0f}</text>")
    if marker is not None and x0 <= marker <= x1:
        out.append(f'<line class="marker" x1="{_fmt(sx(marker))}" x2="{_fmt(sx(marker))}" y1="{top}" '
                   f'y2="{height - bottom}"/>')
    out.append(f'<path class="line" d="{path}"/>')
    out.append(f'<text class="axis" x="{(left + width - right) / 2}" y="{height - 6}" text-anchor="middle">'
               f"{escape(x_label)}</text>")
    out.append(f'<text class="axis" x="14" y="{(top + height - bottom) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {(top + height - bottom) / 2})">{escape(y_label)}</text></svg>')
    return "".join(out)


def bar_chart(bars: Sequence[tuple[str, float]], *, title: str, y_label: str, y_percent: bool = True,
              width: int = 560, height: int = 220, reference: float | None = None) -> str:
    """Vertical bars (label, value); an optional dashed reference line (a base rate)."""
    if not bars:
        return ""
    left, right, top, bottom = 56, 16, 16, 40
    y1 = max([v for _, v in bars] + [reference or 0]) * 1.15 or 1
    n = len(bars)
    slot = (width - left - right) / n
    sy = lambda y: height - bottom - y / y1 * (height - top - bottom)  # noqa: E731
    ylab = (lambda v: f"{v:.0%}") if y_percent else (lambda v: f"{v:,.2f}")
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>"]
    for i in range(5):
        t = y1 * i / 4
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{_fmt(sy(t))}" y2="{_fmt(sy(t))}"/>'
                   f'<text class="tick" x="{left - 6}" y="{_fmt(sy(t) + 4)}" text-anchor="end">{ylab(t)}</text>')
    for i, (label, v) in enumerate(bars):
        x = left + i * slot + slot * 0.15
        out.append(f'<rect class="bar" x="{_fmt(x)}" y="{_fmt(sy(v))}" width="{_fmt(slot * 0.7)}" '
                   f'height="{_fmt(sy(0) - sy(v))}"><title>{escape(label)}: {ylab(v)}</title></rect>'
                   f'<text class="tick" x="{_fmt(x + slot * 0.35)}" y="{height - bottom + 16}" '
                   f'text-anchor="middle">{escape(label)}</text>')
    if reference is not None:
        out.append(f'<line class="reference" x1="{left}" x2="{width - right}" y1="{_fmt(sy(reference))}" '
                   f'y2="{_fmt(sy(reference))}"><title>base rate {ylab(reference)}</title></line>')
    out.append(f'<text class="axis" x="14" y="{(top + height - bottom) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {(top + height - bottom) / 2})">{escape(y_label)}</text></svg>')
    return "".join(out)


def hbar_chart(bars: Sequence[tuple[str, float]], *, title: str, width: int = 560, row: int = 26) -> str:
    """Horizontal bars (label in words, share 0..1), largest first as given, each labelled with its percent."""
    if not bars:
        return ""
    label_w, right, top = 260, 56, 6
    height = top * 2 + row * len(bars)
    top_v = max(v for _, v in bars) or 1
    span = width - label_w - right
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>"]
    for i, (label, v) in enumerate(bars):
        y = top + i * row
        w = max(v / top_v * span, 1)
        out.append(f'<text class="axis" x="{label_w - 8}" y="{_fmt(y + row * 0.65)}" text-anchor="end">'
                   f"{escape(label)}</text>"
                   f'<rect class="bar" x="{label_w}" y="{_fmt(y + row * 0.15)}" width="{_fmt(w)}" '
                   f'height="{_fmt(row * 0.7)}"><title>{escape(label)}: {v:.0%}</title></rect>'
                   f'<text class="tick" x="{_fmt(label_w + w + 6)}" y="{_fmt(y + row * 0.65)}">{v:.0%}</text>')
    out.append("</svg>")
    return "".join(out)
