"""`feedback-api top`: a live terminal view of the HTTP API's analytics (rich).

It reads the same public endpoints as the web dashboard, so it works against any
deployment the caller can reach, with the same API key.
"""

from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

BAR_WIDTH = 24
# The bars give way first, down to this; then long names are cut with an ellipsis.
MIN_BAR_WIDTH = 6
MIN_NAME_WIDTH = 8
PANEL_CHROME = 4  # the panel's two borders and its padding


class TopError(Exception):
    """A problem the person at the terminal can act on (wrong URL, missing key...)."""


@dataclass(frozen=True)
class Snapshot:
    stats: dict[str, Any]
    by_model: dict[str, Any]
    by_intent: dict[str, Any]
    alerts: dict[str, Any]
    taken_at: datetime
    # Open review queues, each with its agreement figures under "agreement".
    review: list[dict[str, Any]] = field(default_factory=list)
    # GET /v1/metrics/estimated-accuracy per model (its default window: the last 30 days).
    estimated: dict[str, Any] = field(default_factory=dict)


def fetch(client: httpx.Client) -> Snapshot:
    def get(path: str, optional: bool = False, **params: Any) -> dict[str, Any]:
        try:
            response = client.get(path, params=params)
        except httpx.TimeoutException:
            if optional:
                return {}
            raise TopError(f"{client.base_url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise TopError(f"cannot reach {client.base_url}: {exc}") from None
        if optional and response.status_code in (404, 503):
            # A server from before that operation, or one too busy for it now: the rest of
            # the frame still shows.
            return {}
        if response.status_code == 401:
            raise TopError("the API asks for a key: pass --api-key (or FEEDBACK_API_KEY)")
        if response.status_code == 403:
            raise TopError("the API key lacks read access")
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text[:200]
            raise TopError(f"{path} answered {response.status_code}: {detail}")
        body: dict[str, Any] = response.json()
        return body

    return Snapshot(
        stats=get("/v1/feedback/stats", days=7),
        by_model=get("/v1/feedback/accuracy", group_by="model"),
        by_intent=get("/v1/feedback/accuracy", group_by="intent"),
        alerts=get("/v1/alerts", status="open"),
        taken_at=datetime.now(UTC),
        review=[
            {**queue, "agreement": get(f"/v1/review/queues/{queue['id']}/agreement")}
            for queue in get("/v1/review/queues")["queues"]
            if not queue["closed"]
        ],
        estimated=get("/v1/metrics/estimated-accuracy", optional=True, group_by="model"),
    )


def _bar(fraction: float, low: float, high: float, width: int = BAR_WIDTH) -> Text:
    """A bar for the accuracy, with the interval drawn as a lighter band around its end."""
    cells = []
    for i in range(width):
        mid = (i + 0.5) / width
        if mid <= fraction:
            colour = "green" if fraction >= 0.7 else "yellow" if fraction >= 0.5 else "red"
            cells.append(("█", colour))
        elif low <= mid <= high:
            cells.append(("▒", "bright_black"))
        else:
            cells.append(("·", "bright_black"))
    text = Text()
    for char, style in cells:
        text.append(char, style=style)
    return text


def _bar_legend() -> Text:
    """What the bars' characters mean, drawn with the same characters and colours."""
    text = Text()
    for char, style, meaning in (
        ("█", "green", "accuracy (≥ 70 %, "),
        ("█", "yellow", "≥ 50 %, "),
        ("█", "red", "below)  "),
        ("▒", "bright_black", "95 % interval  "),
        ("·", "bright_black", "up to 100 %"),
    ):
        text.append(char, style=style)
        text.append(f" {meaning}", style="dim")
    return text


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def _num(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:,.0f}{unit}"


def _cell_width(values: list[str]) -> int:
    return max((len(v) for v in values), default=0)


ESTIMATED_HEADER = "Estimated (30 d)"


def _estimated_cell(row: dict[str, Any] | None) -> str:
    """The PPI++ estimate of a model with its 95 % interval; "-" without a reviewed sample."""
    if not row or row.get("estimated_accuracy") is None:
        return "-"
    low, high = row["estimated_ci_low"], row["estimated_ci_high"]
    few = "*" if row.get("warning") else ""
    return f"{100 * row['estimated_accuracy']:.1f} % ({100 * low:.1f}-{100 * high:.1f}){few}"


def _estimates(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The models with an estimate, by name."""
    return {
        row["model"]: row
        for row in body.get("items", [])
        if row.get("model") and row.get("estimated_accuracy") is not None
    }


def _accuracy_table(
    title: str,
    key: str,
    body: dict[str, Any],
    width: int,
    estimated: dict[str, dict[str, Any]] | None = None,
) -> RenderableType:
    """Best first. In `width` columns: names on one line always; the bar shrinks first, then
    long names are cut with an ellipsis. With `estimated` (by name), a column with each
    one's estimated accuracy where a reviewed random sample gives one."""
    items = sorted(body.get("items", []), key=lambda i: (-i["accuracy"], -i["total"]))
    names = [item.get(key) or "(none)" for item in items]
    votes = [f"{item['total']:,}" for item in items]
    accuracy = [_pct(100 * item["accuracy"]) for item in items]
    intervals = [
        f"{100 * item['accuracy_ci_low']:.1f}-{100 * item['accuracy_ci_high']:.1f}"
        for item in items
    ]
    columns: list[tuple[str, list[str]]] = [
        ("Votes", votes),
        ("Accuracy", accuracy),
        ("95 % CI", intervals),
    ]
    if estimated:
        columns.append((ESTIMATED_HEADER, [_estimated_cell(estimated.get(name)) for name in names]))
    headers = (key.capitalize(), *(header for header, _ in columns))
    fixed = sum(max(len(header), _cell_width(cells)) for header, cells in columns)
    # A name, the bar, and the figures: a space either side of each, a rule between two.
    count = len(columns) + 2
    room = width - PANEL_CHROME - fixed - count * 2 - (count - 1)
    name_width = max(len(headers[0]), _cell_width(names))
    bar_width = max(MIN_BAR_WIDTH, min(BAR_WIDTH, room - name_width))
    name_width = min(name_width, max(MIN_NAME_WIDTH, room - bar_width))

    if not items:
        return Text.from_markup(f"{title}\n[dim]  no votes yet[/]")
    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column(
        headers[0], no_wrap=True, overflow="ellipsis", min_width=name_width, max_width=name_width
    )
    for header in headers[1:]:
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("", no_wrap=True, width=bar_width)
    for index, (item, name) in enumerate(zip(items, names, strict=True)):
        bar = _bar(item["accuracy"], item["accuracy_ci_low"], item["accuracy_ci_high"], bar_width)
        table.add_row(_name(name), *(cells[index] for _, cells in columns), bar)
    return table


def _estimated_note(body: dict[str, Any]) -> RenderableType:
    """What the estimated column is, when there is one."""
    if not _estimates(body):
        return Text("")
    return Text(
        f"{ESTIMATED_HEADER}: share of correct answers over the last 30 days' answers, from a "
        "reviewed random sample and the thumbs (PPI++, 95 % interval); * fewer than 30 "
        "reviewed",
        style="dim",
    )


def _name(name: str, **style: Any) -> Text:
    """A name a client chose, as plain text on the terminal: its control and format
    characters (a right-to-left override, an escape) left out, so a row stays a row."""
    shown = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf"))
    return Text(shown, **style)


def _segment(alert: dict[str, Any]) -> str:
    parts = [alert["model"]]
    parts += [f"{dim} {alert[dim]}" for dim in ("intent", "project") if alert.get(dim)]
    return " / ".join(parts)


def _alerts_table(body: dict[str, Any], width: int) -> RenderableType:
    items = body.get("items", [])
    recent, baseline = body.get("recent_days", 7), body.get("baseline_days", 28)
    title = f"Open regression alerts (last {recent} days against the {baseline} before)"
    if not items:
        return Text.from_markup(f"[dim]{title}: none[/]")
    table = Table(title=f"[bold red]{title}[/]", title_justify="left", show_edge=False)
    # The rate, and the votes it was measured on in brackets.
    recent_cells = [f"{_pct(100 * a['recent_rate'])} ({a['recent_votes']:,})" for a in items]
    baseline_cells = [f"{_pct(100 * a['baseline_rate'])} ({a['baseline_votes']:,})" for a in items]
    since = [datetime.fromisoformat(a["opened_at"]).strftime("%m-%d %H:%M") for a in items]
    fixed = sum(
        max(len(h), _cell_width(c))
        for h, c in (
            (f"Last {recent} d", recent_cells),
            (f"{baseline} d before", baseline_cells),
            ("Since (UTC)", since),
        )
    )
    name_width = max(MIN_NAME_WIDTH, width - PANEL_CHROME - fixed - 4 * 2 - 3)
    table.add_column(
        "Segment", no_wrap=True, overflow="ellipsis", max_width=name_width, style="red"
    )
    table.add_column(f"Last {recent} d", justify="right", no_wrap=True)
    table.add_column(f"{baseline} d before", justify="right", no_wrap=True)
    table.add_column("Since (UTC)", justify="right", no_wrap=True)
    for alert, *cells in zip(items, recent_cells, baseline_cells, since, strict=True):
        table.add_row(_name(_segment(alert)), *cells)
    return table


def _review_lines(queues: list[dict[str, Any]]) -> RenderableType:
    """A line per open review queue: items pending, done, and the reviewers' alpha."""
    if not queues:
        return Text.from_markup("[dim]Review queues: none open[/]")
    table = Table(title="Open review queues", title_justify="left", show_edge=False)
    # The figures keep their headers whole at 80 columns: the queue's name is what is cut
    # (a column rich may narrow; each name one line, with an ellipsis).
    table.add_column("Queue", overflow="ellipsis", max_width=40)
    for header in ("Pending", "In review", "Done", "To adjudicate", "Alpha"):
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    for queue in queues:
        items = queue["progress"]["items"]
        alpha = queue["agreement"].get("krippendorff_alpha")
        table.add_row(
            _name(queue["name"], no_wrap=True, overflow="ellipsis"),
            f"{items['pending']:,}",
            f"{items['in_review']:,}",
            f"{items['done']:,}",
            f"{items['needs_adjudication']:,}",
            "-" if alpha is None else f"{alpha:.2f}",
        )
    return table


def _since(stamp: str | None, now: datetime) -> str:
    if not stamp:
        return "[yellow]never refreshed[/]"
    as_of = datetime.fromisoformat(stamp)
    age = (now - as_of).total_seconds()
    style = "green" if age < 300 else "yellow"
    return f"[{style}]as of {as_of:%Y-%m-%d %H:%M:%S} UTC ({age:.0f} s ago)[/]"


def render(snapshot: Snapshot, url: str, width: int = 100) -> RenderableType:
    """One frame for a terminal `width` columns wide; every figure says its window."""
    stats = snapshot.stats
    overview = Table.grid(expand=True, padding=(0, 1))
    labels = ("Votes (7 days)", "Positive", "Negative", "Voters", "Sessions", "Avg response")
    for _ in labels:
        overview.add_column(justify="center", no_wrap=True)
    overview.add_row(*(f"[dim]{label}[/]" for label in labels))
    overview.add_row(
        f"[bold]{stats['total_feedback']:,}[/]",
        f"[bold green]{_pct(stats.get('positive_pct'))}[/]",
        f"[bold red]{_pct(stats.get('negative_pct'))}[/]",
        f"[bold]{stats['unique_users']:,}[/]",
        f"[bold]{stats['unique_sessions']:,}[/]",
        f"[bold]{_num(stats.get('avg_response_time_ms'), ' ms')}[/]",
    )
    status = Text.from_markup(
        f"Refresh: {_since(snapshot.by_model.get('as_of'), snapshot.taken_at)}\n"
        f"[dim]{url} · read {snapshot.taken_at:%H:%M:%S} UTC[/]"
    )
    body = Group(
        Text.from_markup("[bold]Last 7 days[/] [dim](votes cast in the 7 days up to now)[/]"),
        overview,
        Text(""),
        _alerts_table(snapshot.alerts, width),
        Text(""),
        _accuracy_table(
            "Accuracy by model (all votes)",
            "model",
            snapshot.by_model,
            width,
            _estimates(snapshot.estimated),
        ),
        _estimated_note(snapshot.estimated),
        Text(""),
        _accuracy_table("Accuracy by intent (all votes)", "intent", snapshot.by_intent, width),
        _bar_legend() if snapshot.by_model.get("items") else Text(""),
        Text(""),
        _review_lines(snapshot.review),
        Text(""),
        status,
    )
    return Panel(body, title="[bold]feedback-api top[/]", border_style="blue")


def client_for(url: str, api_key: str | None, timeout: float = 10.0) -> httpx.Client:
    headers = {"Accept": "application/json", "User-Agent": "feedback-api-top"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)


def run(
    url: str, api_key: str | None, interval: float, once: bool, console: Console | None = None
) -> None:
    from rich.live import Live

    console = console or Console()
    with client_for(url, api_key) as client:
        if once:
            console.print(render(fetch(client), url, console.width))
            return
        frame = render(fetch(client), url, console.width)
        with Live(frame, console=console, screen=False) as live:
            while True:
                time.sleep(interval)
                try:
                    # The width again at each frame: the terminal may have been resized.
                    live.update(render(fetch(client), url, console.width))
                except TopError as exc:
                    # A blip (restart, network) should not end a view someone is watching.
                    live.update(Panel(f"[red]{exc}[/]\nretrying every {interval:g} s"))
