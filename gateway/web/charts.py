"""Charts drawn on the server as SVG: no script, no CDN, readable by a screen reader (a title
and a description; each page also shows the same figures as a table)."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from markupsafe import Markup

#: Colours told apart by the colour-blind (Okabe and Ito's palette), dark enough on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 16, 64


def _nice_top(value: float) -> float:
    """The axis' top: 1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 1.0
    scale = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if step * scale >= value:
            return float(step * scale)
    return float(10 * scale)


def _label(value: float) -> str:
    text = f"{value:,.0f}" if value >= 10 else f"{value:g}"
    return text.replace(",", "\u202f").replace(".", ",")


def bar_chart(
    title: str,
    categories: list[str],
    series: dict[str, list[float | int | Decimal]],
    unit: str = "",
    ident: str = "",
) -> Markup:
    """Stacked bars, one per category, one colour per series (with its legend); ``ident``
    keeps the ids of its title and description unique when a page draws several."""
    totals = [sum(float(values[i]) for values in series.values()) for i in range(len(categories))]
    top = _nice_top(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(categories), 1)
    bar_w = max(min(slot * 0.7, 48), 2)
    description = "; ".join(
        f"{category} : {_label(total)}{unit}"
        for category, total in zip(categories, totals, strict=True)
    )
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="{ident}t {ident}d">',
        f'<title id="{ident}t">{escape(title)}</title>'
        f'<desc id="{ident}d">{escape(description)}</desc>',
    ]
    for tick in range(5):
        value = top * tick / 4
        y = TOP + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_label(value)}</text>'
        )
    for index, category in enumerate(categories):
        x = LEFT + slot * index + (slot - bar_w) / 2
        base = TOP + plot_h
        for colour, values in zip(PALETTE * 3, series.values(), strict=False):
            height = plot_h * float(values[index]) / top
            if height > 0:
                base -= height
                parts.append(
                    f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" '
                    f'height="{height:.1f}" fill="{colour}"/>'
                )
        if len(categories) <= 16 or index % 2 == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{TOP + plot_h + 16}" '
                f'text-anchor="middle">{escape(category)}</text>'
            )
    legend_x = LEFT
    for colour, name in zip(PALETTE * 3, series, strict=False):
        parts.append(
            f'<rect x="{legend_x}" y="{HEIGHT - 22}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{legend_x + 16}" y="{HEIGHT - 12}">{escape(name)}</text>'
        )
        legend_x += 24 + 8 * len(name)
    parts.append("</svg>")
    return Markup("".join(parts))
