"""Small server-side SVG charts for the dashboard and the report PDFs (no JavaScript, no CDN).

Each function takes plain rows and returns an SVG string; bars can link to the cases behind them.
"""

from __future__ import annotations

from markupsafe import Markup, escape

FONT = "'Noto Sans CJK SC','Noto Sans SC','Microsoft YaHei',sans-serif"
PALETTE = ["#2a7ab0", "#5aa454", "#e0a030", "#c0392b", "#8e6bbf", "#4aa3a2", "#999999"]
#: Closed, open (in time), overdue.
STATUS_COLORS = ["#2a7ab0", "#e0a030", "#c0392b"]


def _svg(width: int, height: int, body: list[str], title: str) -> Markup:
    # Every label and link in ``body`` went through ``escape``; numbers are formatted here.
    # A chart whose bars are links is a group of links, not a picture (an "img" would hide
    # them from screen readers).
    role = "group" if any(part.startswith("<a ") for part in body) else "img"
    return Markup(  # noqa: S704
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="{role}" aria-label="{escape(title)}" '
        f'font-family="{FONT}" font-size="12">' + "".join(body) + "</svg>"
    )


def _link(href: str | None, inner: str) -> str:
    if not href:
        return inner
    return f'<a href="{escape(href)}">{inner}</a>'


def _short(label: str, limit: int = 12) -> str:
    label = str(label)
    return label if len(label) <= limit else label[: limit - 1] + "…"


def hbar(rows, *, title: str = "", width: int = 460, color: str = PALETTE[0]) -> Markup:
    """Horizontal bars: ``rows`` = [(label, value, href or None)]."""
    rows = list(rows)
    if not rows:
        return _svg(width, 30, [f'<text x="4" y="20" fill="#888">{escape("无数据")}</text>'], title)
    bar_h, gap, label_w, value_w = 18, 6, 160, 50
    height = len(rows) * (bar_h + gap) + gap
    top = max((value for _l, value, _h in rows), default=0) or 1
    span = width - label_w - value_w
    body = []
    for index, (label, value, href) in enumerate(rows):
        y = gap + index * (bar_h + gap)
        length = max(value / top * span, 1 if value else 0)
        body.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" fill="#333">'
            f"{escape(_short(label))}</text>"
        )
        bar = (
            f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="{color}">'
            f"<title>{escape(label)}: {value}</title></rect>"
            f'<text x="{label_w + length + 4:.1f}" y="{y + 13}" fill="#333">{value}</text>'
        )
        body.append(_link(href, bar))
    return _svg(width, height, body, title)


def columns(rows, *, title: str = "", width: int = 700, height: int = 200) -> Markup:
    """Vertical columns over time: ``rows`` = [(label, value, href or None)]."""
    rows = list(rows)
    if not rows:
        return _svg(width, 30, [f'<text x="4" y="20" fill="#888">{escape("无数据")}</text>'], title)
    left, bottom, top_pad = 30, 34, 16
    top = max((value for _l, value, _h in rows), default=0) or 1
    slot = (width - left - 4) / len(rows)
    bar_w = max(min(slot * 0.7, 40), 2)
    plot_h = height - bottom - top_pad
    body = [
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 2}" y2="{height - bottom}" '
        'stroke="#999"/>'
    ]
    every = max(1, len(rows) // 12)
    for index, (label, value, href) in enumerate(rows):
        x = left + index * slot + (slot - bar_w) / 2
        h = value / top * plot_h
        y = height - bottom - h
        bar = (
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
            f'fill="{PALETTE[0]}"><title>{escape(label)}: {value}</title></rect>'
        )
        if value:
            bar += (
                f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                f'font-size="10" fill="#333">{value}</text>'
            )
        body.append(_link(href, bar))
        if index % every == 0:
            body.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
                f'font-size="10" fill="#555">{escape(label)}</text>'
            )
    return _svg(width, height, body, title)


def stacked_hbar(
    rows, series, *, title: str = "", width: int = 560, colors: list[str] | None = None
) -> Markup:
    """Stacked horizontal bars: ``rows`` = [(label, [value per series], [href per series])];
    ``series`` = [name]; a legend is drawn on top."""
    rows = list(rows)
    if not rows:
        return _svg(width, 30, [f'<text x="4" y="20" fill="#888">{escape("无数据")}</text>'], title)
    colors = colors or PALETTE
    bar_h, gap, label_w, legend_h = 18, 6, 160, 22
    height = legend_h + len(rows) * (bar_h + gap) + gap
    top = max((sum(values) for _l, values, _h in rows), default=0) or 1
    span = width - label_w - 50
    body = []
    x = label_w
    for index, name in enumerate(series):
        body.append(
            f'<rect x="{x}" y="4" width="12" height="12" fill="{colors[index % len(colors)]}"/>'
            f'<text x="{x + 16}" y="14" fill="#333">{escape(name)}</text>'
        )
        x += 16 + len(str(name)) * 12 + 16
    for row_index, (label, values, hrefs) in enumerate(rows):
        y = legend_h + gap + row_index * (bar_h + gap)
        body.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" fill="#333">'
            f"{escape(_short(label))}</text>"
        )
        x = float(label_w)
        for index, value in enumerate(values):
            length = value / top * span
            if length <= 0:
                continue
            color = colors[index % len(colors)]
            segment = (
                f'<rect x="{x:.1f}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="{color}">'
                f"<title>{escape(label)} {escape(series[index])}: {value}</title></rect>"
            )
            if length >= 16:
                segment += (
                    f'<text x="{x + length / 2:.1f}" y="{y + 13}" text-anchor="middle" '
                    f'font-size="10" fill="#fff">{value}</text>'
                )
            body.append(_link(hrefs[index] if hrefs else None, segment))
            x += length
        body.append(f'<text x="{x + 4:.1f}" y="{y + 13}" fill="#333">{sum(values)}</text>')
    return _svg(width, height, body, title)


def gauge(rate: float | None, *, title: str = "", width: int = 150) -> Markup:
    """A horizontal percentage bar with the figure; "—" when the rate is undefined."""
    text = "—" if rate is None else f"{rate:.1f}%"
    filled = 0 if rate is None else max(0.0, min(rate, 100.0)) / 100 * (width - 4)
    color = PALETTE[1] if (rate or 0) >= 90 else PALETTE[2] if (rate or 0) >= 70 else PALETTE[3]
    body = [
        f'<rect x="2" y="26" width="{width - 4}" height="10" fill="#eee" rx="3"/>',
        f'<rect x="2" y="26" width="{filled:.1f}" height="10" fill="{color}" rx="3"/>',
        f'<text x="2" y="18" font-size="16" font-weight="bold" fill="#222">{escape(text)}</text>',
    ]
    return _svg(width, 40, body, title)
