"""The weekly report's section "How good the answers were, not only what voters said", in
Markdown and HTML: per model the estimated accuracy (PPI++, docs/review.md) beside the voted
one, the vote bias, the reviewed count, and each review queue's alpha."""

from __future__ import annotations

import html

from feedback_api.reports.schemas import EstimatedWeek
from feedback_api.review.estimated.schemas import EstimatedAccuracyItem

TITLE = "How good the answers were, not only what voters said"
LEGEND = (
    "Estimated: the share of correct answers among those a random-sample rule covered, from "
    "the reviewers' verdicts on the sample and the users' thumbs on every answer (PPI++, "
    "95 % interval). Voted: thumbs-up / votes on the same answers (95 % Wilson). "
    "Vote bias: voted - estimated."
)
NO_SAMPLE = "No random sample covered this week's answers."


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _with_interval(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{_pct(value)} [{_pct(low)}, {_pct(high)}]"


def _bias(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f} pp"


def _alpha(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _cells(item: EstimatedAccuracyItem) -> list[str]:
    estimated = _with_interval(
        item.estimated_accuracy, item.estimated_ci_low, item.estimated_ci_high
    )
    if item.warning:
        estimated += f" ({item.warning})"
    return [
        item.model or "(none)",
        estimated,
        _with_interval(item.voted_accuracy, item.voted_ci_low, item.voted_ci_high),
        _bias(item.vote_bias),
        f"{item.reviewed:,} of {item.answers:,}",
    ]


HEADERS = ["Model", "Estimated [95 % CI]", "Voted [95 % CI]", "Vote bias", "Reviewed of answers"]


def _md_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def estimated_lines(section: EstimatedWeek | None) -> list[str]:
    if section is None:
        return []
    lines = ["", f"## {TITLE}", "", LEGEND, ""]
    if section.models:
        lines += ["| " + " | ".join(HEADERS) + " |", "|---|---|---|---:|---:|"]
        lines += [
            "| " + " | ".join(_md_cell(c) for c in _cells(item)) + " |" for item in section.models
        ]
    else:
        lines.append(NO_SAMPLE)
    lines.append("")
    if section.queues:
        lines += [
            "Review queues' agreement on this week's labels (Krippendorff's alpha, nominal):",
            "",
        ]
        lines += [
            f"- {_md_cell(q.queue)}: {_alpha(q.krippendorff_alpha)} "
            f"({q.items:,} items with 2 or more labels)"
            for q in section.queues
        ]
    else:
        lines.append("No review labels this week: no reviewers' alpha.")
    return lines


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def estimated_html(section: EstimatedWeek | None) -> list[str]:
    if section is None:
        return []
    out = [f"<h2>{_e(TITLE)}</h2>", f'<p class="legend">{_e(LEGEND)}</p>']
    if section.models:
        out.append("<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in HEADERS) + "</tr>")
        for item in section.models:
            cells = _cells(item)
            out.append(
                f"<tr><td>{_e(cells[0])}</td><td>{_e(cells[1])}</td><td>{_e(cells[2])}</td>"
                f"<td class=num>{_e(cells[3])}</td><td class=num>{_e(cells[4])}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append(f'<p class="muted">{_e(NO_SAMPLE)}</p>')
    if section.queues:
        out.append(
            "<table><tr><th>Review queue</th><th>Krippendorff's alpha (this week's labels)</th>"
            "<th>Items with 2+ labels</th></tr>"
        )
        out += [
            f"<tr><td>{_e(q.queue)}</td><td class=num>{_alpha(q.krippendorff_alpha)}</td>"
            f"<td class=num>{q.items:,}</td></tr>"
            for q in section.queues
        ]
        out.append("</table>")
    else:
        out.append('<p class="muted">No review labels this week: no reviewers\' alpha.</p>')
    return out
