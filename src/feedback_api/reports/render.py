"""The weekly report as JSON, Markdown or self-contained HTML (inline CSS, inline SVG charts).

The HTML loads nothing from anywhere, so it can be mailed or archived and still render.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum

from feedback_api.alerts.schemas import AlertOut
from feedback_api.alerts.service import segment_label
from feedback_api.dashboard.colours import model_colours
from feedback_api.reports.render_estimated import estimated_html, estimated_lines
from feedback_api.reports.schemas import Accuracy, Change, ModelDay, ModelWeek, WeeklyReport
from feedback_api.review.schemas import ReviewWeek


class ReportFormat(StrEnum):
    json = "json"
    md = "md"
    html = "html"


MEDIA_TYPES = {
    ReportFormat.json: "application/json",
    ReportFormat.md: "text/markdown; charset=utf-8",
    ReportFormat.html: "text/html; charset=utf-8",
}


def render(report: WeeklyReport, fmt: ReportFormat) -> str:
    renderers: dict[ReportFormat, Callable[[WeeklyReport], str]] = {
        ReportFormat.json: lambda r: r.model_dump_json(indent=2) + "\n",
        ReportFormat.md: render_markdown,
        ReportFormat.html: render_html,
    }
    return renderers[fmt](report)


def _pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f} %"


def _per_interaction(value: float | None) -> str:
    """Votes per interaction: a count per answer (several users may vote on one), not a %."""
    return "n/a" if value is None else f"{value:.2f}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} ms"


def _accuracy(acc: Accuracy | None) -> str:
    if acc is None:
        return "no votes"
    return (
        f"{_pct(acc.accuracy)} [{_pct(acc.accuracy_ci_low)}, {_pct(acc.accuracy_ci_high)}]"
        f" of {acc.votes:,}"
    )


def _change(change: Change | None) -> str:
    if change is None:
        return "n/a"
    points = 100 * change.difference
    verdict = "significant" if change.significant else "not significant"
    return f"{points:+.1f} pp (p = {change.p_value:.3g}, {verdict})"


def _period(report: WeeklyReport) -> str:
    sunday = (report.end - timedelta(days=1)).date()
    text = f"{report.start:%a %d %b %Y} to {sunday:%a %d %b %Y} (UTC)"
    return text if report.complete else text + ", still running"


def _alert(alert: AlertOut) -> str:
    """One line per alert: the segment, both windows' rates with intervals, when."""
    state = (
        f"open since {alert.opened_at:%a %d %b %H:%M} UTC"
        if alert.resolved_at is None
        else f"{alert.opened_at:%a %d %b %H:%M} to {alert.resolved_at:%a %d %b %H:%M} UTC"
    )
    return (
        f"{segment_label(alert.model, alert.intent, alert.project)}: "
        f"{_pct(alert.recent_rate)} [{_pct(alert.recent_ci_low)}, {_pct(alert.recent_ci_high)}]"
        f" of {alert.recent_votes:,} recent votes against {_pct(alert.baseline_rate)} "
        f"[{_pct(alert.baseline_ci_low)}, {_pct(alert.baseline_ci_high)}] of "
        f"{alert.baseline_votes:,} before (p = {alert.p_value:.2g}); {state}"
    )


def _day_figure(day: ModelDay) -> str:
    return "no votes" if day.accuracy is None else _accuracy(day.accuracy)


def _md_cell(text: str) -> str:
    """A name (a model, an intent) as Markdown text on one line: its `|` does not end a table
    cell, and its `<` starts no HTML (Markdown passes raw HTML through to a page)."""
    return " ".join(text.split()).replace("|", "\\|").replace("<", "\\<")


def render_markdown(report: WeeklyReport) -> str:
    overall = report.positive / report.votes if report.votes else None
    lines = [
        f"# Model performance, week {report.week}",
        "",
        f"{_period(report)}. Generated {report.generated_at:%Y-%m-%d %H:%M} UTC.",
        "",
        f"- Interactions: **{report.volume:,}**",
        f"- Votes: **{report.votes:,}** (positive: {_pct(overall)})",
        f"- Changes are against {report.previous_week}, two-proportion z-test at "
        f"alpha = {report.alpha}; intervals are 95 % Wilson intervals.",
        "",
    ]
    lines += ["## Regression alerts", ""]
    if report.alerts:
        lines += [f"- **{a.status}** {_md_cell(_alert(a))}" for a in report.alerts]
    else:
        lines.append("No regression alert was open this week.")
    lines.append("")
    if not report.models:
        lines += ["No interactions this week.", ""]
        return "\n".join(lines)
    lines += [
        "## Summary",
        "",
        "| Model | Interactions | Votes/interaction | Accuracy [95 % CI] | Change | p50 | p95 |",
        "|---|---:|---:|---|---|---:|---:|",
    ]
    for m in report.models:
        lines.append(
            f"| {_md_cell(m.model)} | {m.volume:,} | {_per_interaction(m.feedback_rate)} | "
            f"{_accuracy(m.accuracy)} | {_change(m.change)} | {_ms(m.response_time_p50_ms)} | "
            f"{_ms(m.response_time_p95_ms)} |"
        )
    lines += ["", "## Why answers were voted down", ""]
    lines += _reason_lines(report.models)
    lines += _review_lines(report.review)
    lines += estimated_lines(report.estimated)
    for m in report.models:
        lines += ["", f"## {_md_cell(m.model)}", ""]
        lines += ["| Day | Interactions | Accuracy [95 % CI] |", "|---|---:|---|"]
        lines += [f"| {d.date:%a %d %b} | {d.volume:,} | {_day_figure(d)} |" for d in m.days]
        lines.append("")
        if m.worst_intents:
            lines += [f"Worst intents (at least {report.min_votes} votes):", ""]
            lines += [
                f"- {_md_cell(i.intent or '(none)')}: {_accuracy(i)}" for i in m.worst_intents
            ]
        else:
            lines.append(f"No intent has {report.min_votes} votes yet.")
        lines.append("")
        if m.most_downvoted:
            lines += ["Most down-voted questions:", ""]
            for q in m.most_downvoted:
                comment = f' - "{_md_cell(q.last_comment)}"' if q.last_comment else ""
                lines.append(
                    f"- {q.downvotes} of {q.votes} down: {_md_cell(q.query)[:200]}{comment}"
                )
        else:
            lines.append("No down-votes.")
    lines.append("")
    return "\n".join(lines)


# The row of down-votes that gave no reason, whether or not others gave one.
NO_REASON = "(no reason given)"


def _review_lines(review: ReviewWeek | None) -> list[str]:
    """Review queues' week: labels, alpha, and per model the users' thumbs against the
    reviewers' consensus."""
    if review is None:
        return []
    alpha = "-" if review.krippendorff_alpha is None else f"{review.krippendorff_alpha:.2f}"
    lines = ["", "## Review queues", ""]
    lines.append(f"Labels given: **{review.labels:,}**; Krippendorff's alpha: **{alpha}**.")
    if not review.models:
        return [*lines, "", "No answer reached a consensus this week."]
    lines += [
        "",
        "| Model | Decided | Reviewed correct | Thumbs vs reviews | Thumbs agree |",
        "|---|---:|---:|---:|---:|",
    ]
    for m in review.models:
        vs = m.votes_vs_reviews
        lines.append(
            f"| {_md_cell(m.model)} | {m.decided:,} | {_pct(m.reviewed_correct)} | "
            f"{vs.items:,} | {_pct(vs.vote_agreement)} |"
        )
    return lines


def _review_html(review: ReviewWeek | None) -> list[str]:
    if review is None:
        return []
    alpha = "-" if review.krippendorff_alpha is None else f"{review.krippendorff_alpha:.2f}"
    out = [
        "<h2>Review queues</h2>",
        f"<p>Labels given: <b>{review.labels:,}</b>; Krippendorff's alpha: <b>{alpha}</b>.</p>",
    ]
    if not review.models:
        return [*out, '<p class="muted">No answer reached a consensus this week.</p>']
    out.append(
        "<table><tr><th>Model</th><th>Decided</th><th>Reviewed correct</th>"
        "<th>Thumbs vs reviews</th><th>Thumbs agree</th></tr>"
    )
    for m in review.models:
        vs = m.votes_vs_reviews
        out.append(
            f"<tr><td>{_e(m.model)}</td><td class=num>{m.decided:,}</td>"
            f"<td class=num>{_pct(m.reviewed_correct)}</td><td class=num>{vs.items:,}</td>"
            f"<td class=num>{_pct(vs.vote_agreement)}</td></tr>"
        )
    out.append("</table>")
    return out


def _reason_lines(models: list[ModelWeek]) -> list[str]:
    lines = []
    for m in models:
        if not m.downvotes:
            lines.append(f"- {_md_cell(m.model)}: no down-votes.")
            continue
        given = ", ".join(
            f"{_md_cell(r.reason)} {_pct(r.share_of_downvotes, 0)} ({r.downvotes})"
            for r in m.downvote_reasons
        )
        # The same words for down-votes without a reason as the HTML's row.
        silent = f"{NO_REASON} ({m.downvotes_without_reason})"
        lines.append(
            f"- {_md_cell(m.model)}, {m.downvotes} down-votes: "
            + (f"{given}; {silent}" if given and m.downvotes_without_reason else given or silent)
        )
    return lines


def _reasons_html(models: list[ModelWeek]) -> list[str]:
    out = [
        "<h2>Why answers were voted down</h2>",
        '<p class="legend">Per model: the reasons given with thumbs-down votes, as a share '
        "of the model's down-votes (a vote may give several reasons, or none).</p>",
        "<table><tr><th>Model</th><th>Reason</th><th>Down-votes</th><th>Share</th></tr>",
    ]
    for m in models:
        if not m.downvotes:
            continue
        rows = [(r.reason, r.downvotes, _pct(r.share_of_downvotes, 0)) for r in m.downvote_reasons]
        if m.downvotes_without_reason and m.downvote_reasons:
            rows.append((NO_REASON, m.downvotes_without_reason, ""))
        if not m.downvote_reasons:
            rows.append((NO_REASON, m.downvotes, ""))
        for index, (reason, count, share) in enumerate(rows):
            model = f"<td rowspan={len(rows)}>{_e(m.model)}</td>" if index == 0 else ""
            out.append(
                f"<tr>{model}<td>{_e(reason)}</td><td class=num>{count}</td>"
                f"<td class=num>{share}</td></tr>"
            )
    out.append("</table>")
    return out


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1f2430;
margin:0;background:#f5f6f8}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
h1,h2{overflow-wrap:anywhere}
.muted{color:#667085}.cards{display:flex;gap:12px;margin:16px 0;flex-wrap:wrap}
.card{background:#fff;border:1px solid #e4e7ec;border-radius:8px;padding:12px 16px;min-width:150px}
.card b{display:block;font-size:20px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #e4e7ec}
th,td{padding:6px 10px;border-bottom:1px solid #eef0f3;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
th{background:#fafbfc;font-weight:600}td.num{text-align:right;white-space:nowrap}
.sig-up{color:#067647;font-weight:600}.sig-down{color:#b42318;font-weight:600}
.chart{background:#fff;border:1px solid #e4e7ec;border-radius:8px;padding:8px;margin:8px 0}
blockquote{margin:2px 0 0;color:#667085;font-style:italic}
table+table{margin-top:10px}.legend{color:#667085;font-size:12px;margin:0 0 4px}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _change_html(change: Change | None) -> str:
    if change is None:
        return '<span class="muted">n/a</span>'
    cls = ""
    if change.significant:
        cls = ' class="sig-up"' if change.difference > 0 else ' class="sig-down"'
    return f"<span{cls}>{_e(_change(change))}</span>"


def accuracy_svg(models: list[ModelWeek]) -> str:
    """Horizontal bars of accuracy with interval whiskers; a tick marks last week's value."""
    rated = [m for m in models if m.accuracy is not None]
    if not rated:
        return ""
    colours = model_colours(m.model for m in models)
    label_w, plot_w, row_h, top = 190, 560, 26, 22
    height = top + row_h * len(rated) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 70}" '
        f'height="{height}" role="img" aria-label="Accuracy per model" font-size="12">'
    ]
    for tick in range(0, 101, 25):
        x = label_w + plot_w * tick / 100
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 6}" stroke="#e4e7ec"/>'
            f'<text x="{x:.1f}" y="{top - 8}" text-anchor="middle" fill="#667085">{tick} %</text>'
        )
    for index, m in enumerate(rated):
        assert m.accuracy is not None
        y = top + index * row_h
        acc = m.accuracy
        width = plot_w * acc.accuracy
        low = label_w + plot_w * acc.accuracy_ci_low
        high = label_w + plot_w * acc.accuracy_ci_high
        mid = y + row_h / 2
        parts.append(
            f'<text x="{label_w - 8}" y="{mid + 4:.1f}" text-anchor="end">{_e(m.model[:28])}</text>'
            f'<rect x="{label_w}" y="{y + 5}" width="{width:.1f}" height="{row_h - 10}" '
            f'fill="{colours[m.model]}" opacity="0.85"><title>{_e(_accuracy(acc))}</title></rect>'
            f'<line x1="{low:.1f}" y1="{mid:.1f}" x2="{high:.1f}" y2="{mid:.1f}" '
            f'stroke="#1f2430" stroke-width="1.5"/>'
            f'<line x1="{low:.1f}" y1="{mid - 5:.1f}" x2="{low:.1f}" y2="{mid + 5:.1f}" '
            f'stroke="#1f2430"/><line x1="{high:.1f}" y1="{mid - 5:.1f}" x2="{high:.1f}" '
            f'y2="{mid + 5:.1f}" stroke="#1f2430"/>'
            f'<text x="{label_w + plot_w + 8}" y="{mid + 4:.1f}">{_pct(acc.accuracy)}</text>'
        )
        if m.change is not None:
            px = label_w + plot_w * m.change.previous.accuracy
            parts.append(
                f'<line x1="{px:.1f}" y1="{y + 2}" x2="{px:.1f}" y2="{y + row_h - 2}" '
                f'stroke="#1f2430" stroke-width="3" stroke-dasharray="3 2"><title>last week: '
                f"{_e(_accuracy(m.change.previous))}</title></line>"
            )
    parts.append("</svg>")
    return "".join(parts)


def volume_svg(report: WeeklyReport) -> str:
    """Interactions per day (bars) with the day's votes as the darker inner bar."""
    peak = max((d.volume for d in report.days), default=0)
    if peak == 0:
        return ""
    bar_w, gap, plot_h, bottom = 80, 24, 140, 36
    width = len(report.days) * (bar_w + gap) + gap
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{plot_h + bottom + 16}"'
        ' role="img" aria-label="Interactions and votes per day" font-size="12">'
    ]
    for index, day in enumerate(report.days):
        x = gap + index * (bar_w + gap)
        h = plot_h * day.volume / peak
        hv = plot_h * day.votes / peak
        base = plot_h + 16
        parts.append(
            f'<rect x="{x}" y="{base - h:.1f}" width="{bar_w}" height="{h:.1f}" fill="#b9c8ff">'
            f"<title>{day.volume:,} interactions</title></rect>"
            f'<rect x="{x + 20}" y="{base - hv:.1f}" width="{bar_w - 40}" height="{hv:.1f}" '
            f'fill="#4f7cff"><title>{day.votes:,} votes</title></rect>'
            f'<text x="{x + bar_w / 2}" y="{base - h - 4:.1f}" text-anchor="middle">'
            f"{day.volume:,}</text>"
            f'<text x="{x + bar_w / 2}" y="{base + 16}" text-anchor="middle" fill="#667085">'
            f"{day.date:%a %d}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: WeeklyReport) -> str:
    overall = report.positive / report.votes if report.votes else None
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Model performance {report.week}</title>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # No icon to fetch: the page is whole in itself (a browser asks for /favicon.ico).
        '<link rel="icon" href="data:,">',
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>Model performance, week {_e(report.week)}</h1>",
        f'<div class="muted">{_e(_period(report))}. Generated '
        f"{report.generated_at:%Y-%m-%d %H:%M} UTC. Changes against {_e(report.previous_week)}"
        f" (two-proportion z-test, alpha = {report.alpha}); intervals are 95 % Wilson.</div>",
        '<div class="cards">',
        f'<div class="card"><span class="muted">Interactions</span><b>{report.volume:,}</b></div>',
        f'<div class="card"><span class="muted">Votes</span><b>{report.votes:,}</b></div>',
        f'<div class="card"><span class="muted">Positive</span><b>{_pct(overall)}</b></div>',
        f'<div class="card"><span class="muted">Models</span><b>{len(report.models)}</b></div>',
        "</div>",
    ]
    out.append("<h2>Regression alerts</h2>")
    if report.alerts:
        out.append("<table><tr><th>Status</th><th>Alert</th></tr>")
        out += [
            f'<tr><td class="{"sig-down" if a.status == "open" else ""}">{_e(a.status)}</td>'
            f"<td>{_e(_alert(a))}</td></tr>"
            for a in report.alerts
        ]
        out.append("</table>")
    else:
        out.append('<p class="muted">No regression alert was open this week.</p>')
    if not report.models:
        out.append("<p>No interactions this week.</p></main></body></html>")
        return "\n".join(out)
    out += [
        "<h2>Accuracy per model</h2>",
        "<p class=\"legend\">Bars: accuracy, in each model's colour (the dashboard's); black "
        "whiskers: 95 % interval; dashed tick: last week.</p>",
        f'<div class="chart">{accuracy_svg(report.models) or "No votes this week."}</div>',
        "<h2>Traffic per day</h2>",
        '<p class="legend">Light bars: interactions; dark bars: votes.</p>',
        f'<div class="chart">{volume_svg(report)}</div>',
        "<h2>Summary</h2>",
        "<table><tr><th>Model</th><th>Interactions</th><th>Votes/interaction</th>"
        "<th>Accuracy [95 % CI]</th><th>Change vs last week</th><th>p50</th><th>p95</th></tr>",
    ]
    for m in report.models:
        out.append(
            f"<tr><td>{_e(m.model)}</td><td class=num>{m.volume:,}</td>"
            f"<td class=num>{_per_interaction(m.feedback_rate)}</td>"
            f"<td>{_e(_accuracy(m.accuracy))}</td>"
            f"<td>{_change_html(m.change)}</td><td class=num>{_ms(m.response_time_p50_ms)}</td>"
            f"<td class=num>{_ms(m.response_time_p95_ms)}</td></tr>"
        )
    out.append("</table>")
    out += _reasons_html(report.models)
    out += _review_html(report.review)
    out += estimated_html(report.estimated)
    for m in report.models:
        out.append(f"<h2>{_e(m.model)}</h2>")
        out.append("<table><tr><th>Day</th><th>Interactions</th><th>Accuracy [95 % CI]</th></tr>")
        out += [
            f"<tr><td>{d.date:%a %d %b}</td><td class=num>{d.volume:,}</td>"
            f"<td>{_e(_day_figure(d))}</td></tr>"
            for d in m.days
        ]
        out.append("</table>")
        if m.worst_intents:
            out.append(
                f"<table><tr><th>Worst intents (at least {report.min_votes} votes)</th>"
                "<th>Accuracy [95 % CI]</th></tr>"
            )
            out += [
                f"<tr><td>{_e(i.intent or '(none)')}</td><td>{_e(_accuracy(i))}</td></tr>"
                for i in m.worst_intents
            ]
            out.append("</table>")
        if m.most_downvoted:
            out.append("<table><tr><th>Most down-voted questions</th><th>Down / votes</th></tr>")
            for q in m.most_downvoted:
                quote = f"<blockquote>{_e(q.last_comment)}</blockquote>" if q.last_comment else ""
                out.append(
                    f"<tr><td>{_e(q.query[:300])}{quote}</td>"
                    f"<td class=num>{q.downvotes} / {q.votes}</td></tr>"
                )
            out.append("</table>")
    out.append("</main></body></html>")
    return "\n".join(out)
