"""Small PNG charts with matplotlib (Agg backend: no display needed)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}]({data_uri(png)})"


def reach_curve_png(curves: Mapping[str, Sequence[Mapping[str, float]]], title: str = "Reach",
                    scored_by: Mapping[str, str] | None = None) -> bytes:
    """How the weakest member's score falls as an audience takes more leads: x the audience size (the best N),
    y the lowest score among them, labelled by what the score is (the ranking model's score or similarity to
    the seeds), one line per audience."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    labels = set()
    for name, pts in curves.items():
        if pts:
            ax.plot([p["size"] for p in pts], [p["threshold"] for p in pts], marker=".", label=name)
            labels.add((scored_by or {}).get(name, "similarity"))
    return _reach_axes(fig, ax, "lowest " + (labels.pop() if len(labels) == 1 else "score") + " among them", title,
                       bool(curves))


def _reach_axes(fig, ax, ylabel: str, title: str, legend: bool) -> bytes:
    """A reach chart's axes: the audience size across, ``ylabel`` up, a grid, the audiences' legend."""
    ax.set_xlabel("audience size (the best N candidates)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=8)
    return _png(fig)


def reach_rate_png(curves: Mapping[str, Sequence[tuple[int, float]]], base_rate: float | None = None,
                   title: str = "Expected conversion rate by reach") -> bytes:
    """The conversion rate of the best N candidates at each N (from the marts), one line per audience, and the
    tenant's base rate: how much of the quality a larger reach gives up."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, pts in curves.items():
        if pts:
            ax.plot([n for n, _ in pts], [r * 100 for _, r in pts], marker=".", label=name)
    if base_rate is not None:
        ax.axhline(base_rate * 100, color="grey", linestyle=":", label="all leads (base rate)")
    ax.set_ylim(bottom=0)
    return _reach_axes(fig, ax, "conversion rate of the best N (%)", title, bool(curves) or base_rate is not None)


def decile_lift_png(series: Mapping[str, Sequence[tuple[int, float]]], base_rate: float | None = None,
                    title: str = "Conversion rate by decile",
                    pool: Mapping[str, Sequence[tuple[int, float]]] | None = None) -> bytes:
    """Bars per decile (10 = best) over each audience's members, one group per audience; the same over every pool
    candidate as a dashed line per audience; the tenant's base rate as a dotted line. The axis starts at zero."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    names = list(dict.fromkeys([*series, *(pool or {})]))
    n = max(len(names), 1)
    width = 0.8 / n
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, name in enumerate(names):
        color = colors[i % len(colors)]
        pts = series.get(name) or []
        if pts:
            xs = [d + (i - (n - 1) / 2) * width for d, _ in pts]
            ax.bar(xs, [v for _, v in pts], width=width, color=color, label=f"{name} (members)")
        if pool and pool.get(name):
            pts = sorted(pool[name])
            ax.plot([d for d, _ in pts], [v for _, v in pts], linestyle="--", marker=".", color=color, alpha=0.7,
                    label=f"{name} (all pool candidates)")
    if base_rate is not None:
        ax.axhline(base_rate, color="black", linestyle=":", linewidth=1, label="tenant base rate")
    ax.set_xticks(range(1, 11))
    ax.set_xlim(0.4, 10.6)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("decile of the pool (10 = best)")
    ax.set_ylabel("conversion rate")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def segment_sizes_png(segments: Mapping[str, Sequence[Mapping[str, object]]],
                      title: str = "Segments: size and top trait") -> bytes:
    """One horizontal bar per segment (its size), grouped by audience, labelled with the segment's name and the lift
    of its most distinctive trait."""
    rows = [(aud, s) for aud, segs in segments.items() for s in segs]
    fig, ax = plt.subplots(figsize=(6.4, max(1.8, 0.38 * len(rows) + 0.9)))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    auds = list(segments)
    labels = []
    for i, (aud, s) in enumerate(rows):
        traits = s.get("traits") or []
        lift = f" (×{traits[0]['lift']:.1f})" if traits else ""
        ax.barh(i, s["size"], color=colors[auds.index(aud) % len(colors)],
                label=aud if all(r[0] != aud for r in rows[:i]) else None)
        labels.append(f"{s['name']}{lift}")
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("members")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    if rows:
        ax.legend(fontsize=8, loc="lower right")
    return _png(fig)


def incrementality_png(rows: Sequence[Mapping[str, object]], title: str = "Incrementality: treatment vs. control"
                       ) -> bytes:
    """One row per audience: the absolute lift (treatment rate - control rate) with its 95 % interval, and a line
    at zero; significant lifts in a solid colour, the others hollow."""
    fig, ax = plt.subplots(figsize=(6.4, max(1.8, 0.55 * len(rows) + 1.0)))
    for i, r in enumerate(rows):
        lift, lo, hi = (float(r[k]) for k in ("absolute_lift", "ci_low", "ci_high"))
        sig = bool(r.get("significant"))
        ax.errorbar(lift, i, xerr=[[lift - lo], [hi - lift]], fmt="o", capsize=4, color="#1f77b4" if sig else "#888",
                    markerfacecolor="#1f77b4" if sig else "white")
        ax.annotate(f"{lift:+.1%}", (lift, i), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    ax.axvline(0, color="#c44", lw=1)
    ax.set_yticks(range(len(rows)), [f"{r['audience_name']}\n{r['treatment_members']} vs. {r['control_members']}"
                                     for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_xlabel("conversions per member caused (95 % interval)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
