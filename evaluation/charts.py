"""Server-rendered SVG charts for the run page: no script, nothing from a CDN (the CSP forbids
both). Each function returns markup with every label escaped; colours come from one palette so
a configuration keeps its colour across charts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#4b5563"]


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _svg(width: int, height: int, body: list[str], title: str) -> SafeString:
    return mark_safe(  # noqa: S308 -- every text in `body` went through escape()
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}" class="eval-chart">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def legend(labels: Sequence[str], *, x: int, y: int) -> list[str]:
    parts = []
    for index, label in enumerate(labels):
        top = y + index * 18
        parts.append(
            f'<rect x="{x}" y="{top}" width="12" height="12" fill="{colour(index)}"/>'
            f'<text x="{x + 18}" y="{top + 11}" font-size="12">{escape(label)}</text>'
        )
    return parts


def metric_bars(
    metrics: Sequence[tuple[str, str]],
    labels: Sequence[str],
    summary: Mapping[str, Mapping[str, float | None]],
) -> SafeString:
    """Grouped bars, 0..1: one group per metric, one bar per configuration."""
    group_width = 28 * len(labels) + 24
    left, top, plot_height = 40, 20, 200
    width = left + group_width * len(metrics) + 200
    height = top + plot_height + 60
    body = [
        f'<line x1="{left}" y1="{top + plot_height}" x2="{left + group_width * len(metrics)}" '
        f'y2="{top + plot_height}" stroke="#888"/>'
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        y = top + plot_height * (1 - tick)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + group_width * len(metrics)}" '
            f'y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
            f"{tick:.2f}</text>"
        )
    for m, (key, title) in enumerate(metrics):
        x0 = left + m * group_width + 12
        for c, label in enumerate(labels):
            value = summary.get(label, {}).get(key)
            x = x0 + c * 28
            if value is None:
                body.append(
                    f'<text x="{x + 11}" y="{top + plot_height - 4}" font-size="10" '
                    'text-anchor="middle">n/a</text>'
                )
                continue
            bar = plot_height * max(0.0, min(1.0, float(value)))
            body.append(
                f'<rect x="{x}" y="{top + plot_height - bar:.1f}" width="22" height="{bar:.1f}" '
                f'fill="{colour(c)}"><title>{escape(label)} · {escape(title)}: '
                f"{float(value):.3f}</title></rect>"
                f'<text x="{x + 11}" y="{top + plot_height - bar - 3:.1f}" font-size="9" '
                f'text-anchor="middle">{float(value):.2f}</text>'
            )
        body.append(
            f'<text x="{x0 + (28 * len(labels)) / 2 - 3:.1f}" y="{top + plot_height + 18}" '
            f'font-size="12" text-anchor="middle">{escape(title)}</text>'
        )
    body += legend(labels, x=left + group_width * len(metrics) + 20, y=top)
    return _svg(width, height, body, "Metrics by configuration")


def latency_strips(
    labels: Sequence[str], values: Mapping[str, Sequence[int]], *, title: str
) -> SafeString:
    """Each answer's time as a dot on one row per configuration, with its median and 95th
    percentile marked: the distribution, not only an average."""
    left, row_height, plot_width = 200, 36, 600
    highest = max([v for series in values.values() for v in series] or [1])
    width = left + plot_width + 40
    height = 30 + row_height * len(labels) + 30
    body = []
    for tick in range(5):
        value = highest * tick / 4
        x = left + plot_width * tick / 4
        body.append(
            f'<line x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="{height - 30}" stroke="#ddd"/>'
            f'<text x="{x:.1f}" y="{height - 12}" font-size="11" text-anchor="middle">'
            f"{value:.0f} ms</text>"
        )
    for index, label in enumerate(labels):
        y = 30 + index * row_height + row_height / 2
        series = sorted(values.get(label, []))
        body.append(
            f'<text x="{left - 10}" y="{y + 4:.1f}" font-size="12" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        for value in series:
            x = left + plot_width * value / highest
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour(index)}" '
                f'fill-opacity="0.55"><title>{value} ms</title></circle>'
            )
        if series:
            for q, dash in ((0.5, ""), (0.95, ' stroke-dasharray="3,2"')):
                value = series[min(len(series) - 1, round(q * (len(series) - 1)))]
                x = left + plot_width * value / highest
                body.append(
                    f'<line x1="{x:.1f}" y1="{y - 12:.1f}" x2="{x:.1f}" y2="{y + 12:.1f}" '
                    f'stroke="#111" stroke-width="2"{dash}><title>p{round(q * 100)}: {value} ms'
                    "</title></line>"
                )
    return _svg(width, height, body, title)


def runs_line(
    points: Sequence[tuple[str, Mapping[str, float | None]]], series: Sequence[str], *, title: str
) -> SafeString:
    """One line per configuration label across runs (oldest first), 0..1."""
    left, top, plot_width, plot_height = 40, 20, 600, 200
    width = left + plot_width + 220
    height = top + plot_height + 70
    count = max(len(points), 1)
    step = plot_width / max(count - 1, 1)
    body = []
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        y = top + plot_height * (1 - tick)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_width}" y2="{y:.1f}" '
            f'stroke="#ddd"/><text x="{left - 6}" y="{y + 4:.1f}" font-size="11" '
            f'text-anchor="end">{tick:.2f}</text>'
        )
    for index, (name, _) in enumerate(points):
        x = left + step * index
        body.append(
            f'<text x="{x:.1f}" y="{top + plot_height + 16}" font-size="10" '
            f'text-anchor="middle">{escape(name)}</text>'
        )
    for s, label in enumerate(series):
        coords = []
        for index, (name, values) in enumerate(points):
            value = values.get(label)
            if value is None:
                continue
            x = left + step * index
            y = top + plot_height * (1 - max(0.0, min(1.0, float(value))))
            coords.append((x, y))
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour(s)}"><title>'
                f"{escape(label)} · {escape(name)}: {float(value):.3f}</title></circle>"
            )
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            body.append(
                f'<polyline points="{path}" fill="none" stroke="{colour(s)}" stroke-width="2"/>'
            )
    body += legend(series, x=left + plot_width + 20, y=top)
    return _svg(width, height, body, title)
