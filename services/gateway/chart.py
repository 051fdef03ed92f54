"""The managers' month-by-month chart as server-rendered SVG (no JavaScript): the 20-week
rate as a line, breaches as bars. Pure: figures in, markup out (numbers and fixed words
only, so nothing needs escaping)."""

from __future__ import annotations

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 720, 300, 50, 50, 20, 40


def monthly(rows: list[dict]) -> list[dict]:
    """Twelve months, with the 20-week rate (None without plans issued)."""
    by_month = {r["month"]: r for r in rows}
    out = []
    for n, name in enumerate(MONTHS, start=1):
        r = by_month.get(n, {})
        plans, within = r.get("plans_issued", 0), r.get("within_20_weeks", 0)
        out.append({"month": name, "plans_issued": plans, "within_20_weeks": within,
                    "rate": round(100 * within / plans, 1) if plans else None,
                    "breaches": r.get("breaches", 0)})
    return out


def svg(months: list[dict], year: int) -> str:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / len(months)
    most = max([m["breaches"] for m in months] + [1])
    parts = [f'<svg class="app-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="chart-title">20-week rate and breaches by month, {year}</title>',
             '<desc id="chart-desc">Line: percentage of final plans issued within 20 weeks '
             'each month (left axis). Bars: deadlines breached each month (right axis). The '
             'table below gives the same figures.</desc>']
    for pct in (0, 25, 50, 75, 100):
        y = TOP + plot_h * (1 - pct / 100)
        parts.append(f'<line class="app-chart__grid" x1="{LEFT}" y1="{y:.1f}" '
                     f'x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        parts.append(f'<text class="app-chart__label" x="{LEFT - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{pct}%</text>')
    parts.append(f'<text class="app-chart__label" x="{WIDTH - RIGHT + 6}" y="{TOP + 4}">'
                 f'{most}</text>')
    points = []
    for i, m in enumerate(months):
        x = LEFT + step * i + step / 2
        bar_h = plot_h * m["breaches"] / most
        if m["breaches"]:
            parts.append(f'<rect class="app-chart__breach" x="{x - step / 4:.1f}" '
                         f'y="{TOP + plot_h - bar_h:.1f}" width="{step / 2:.1f}" '
                         f'height="{bar_h:.1f}"/>')
        parts.append(f'<text class="app-chart__label" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                     f'text-anchor="middle">{m["month"]}</text>')
        if m["rate"] is not None:
            points.append(f"{x:.1f},{TOP + plot_h * (1 - m['rate'] / 100):.1f}")
    if len(points) > 1:
        parts.append(f'<polyline class="app-chart__rate" points="{" ".join(points)}"/>')
    for p in points:
        x, y = p.split(",")
        parts.append(f'<circle class="app-chart__rate" cx="{x}" cy="{y}" r="3"/>')
    parts.append(f'<line class="app-chart__axis" x1="{LEFT}" y1="{TOP + plot_h}" '
                 f'x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}"/>')
    parts.append("</svg>")
    return "".join(parts)
