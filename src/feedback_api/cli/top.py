"""`feedback-api top`: a live terminal view of the HTTP API's analytics (rich).

It reads the same public endpoints as the web dashboard, so it works against any
deployment the caller can reach, with the same API key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

BAR_WIDTH = 24


class TopError(Exception):
    """A problem the person at the terminal can act on (wrong URL, missing key...)."""


@dataclass(frozen=True)
class Snapshot:
    stats: dict[str, Any]
    by_model: dict[str, Any]
    by_intent: dict[str, Any]
    taken_at: datetime


def fetch(client: httpx.Client) -> Snapshot:
    def get(path: str, **params: Any) -> dict[str, Any]:
        try:
            response = client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise TopError(f"cannot reach {client.base_url}: {exc}") from None
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
        taken_at=datetime.now(UTC),
    )


def _bar(fraction: float, low: float, high: float) -> Text:
    """A bar for the accuracy, with the interval drawn as a lighter band around its end."""
    cells = []
    for i in range(BAR_WIDTH):
        mid = (i + 0.5) / BAR_WIDTH
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


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def _num(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:,.0f}{unit}"


def _accuracy_table(title: str, key: str, body: dict[str, Any]) -> Table:
    table = Table(title=title, title_justify="left", expand=True, show_edge=False)
    table.add_column(key.capitalize(), overflow="fold")
    table.add_column("Votes", justify="right")
    table.add_column("Accuracy", justify="right")
    table.add_column("95 % CI", justify="right")
    table.add_column("", no_wrap=True)
    items = sorted(body.get("items", []), key=lambda i: (-i["accuracy"], -i["total"]))
    if not items:
        table.add_row("[dim]no votes yet[/]", "", "", "", "")
    for item in items:
        table.add_row(
            item.get(key) or "(none)",
            f"{item['total']:,}",
            _pct(100 * item["accuracy"]),
            f"{100 * item['accuracy_ci_low']:.1f}-{100 * item['accuracy_ci_high']:.1f}",
            _bar(item["accuracy"], item["accuracy_ci_low"], item["accuracy_ci_high"]),
        )
    return table


def _since(stamp: str | None, now: datetime) -> str:
    if not stamp:
        return "[yellow]never refreshed[/]"
    as_of = datetime.fromisoformat(stamp)
    age = (now - as_of).total_seconds()
    style = "green" if age < 300 else "yellow"
    return f"[{style}]as of {as_of:%Y-%m-%d %H:%M:%S} UTC ({age:.0f} s ago)[/]"


def render(snapshot: Snapshot, url: str) -> RenderableType:
    stats = snapshot.stats
    overview = Table.grid(expand=True, padding=(0, 2))
    for _ in range(6):
        overview.add_column(justify="center")
    overview.add_row(
        "[dim]Votes (7 days)[/]",
        "[dim]Positive[/]",
        "[dim]Negative[/]",
        "[dim]Voters[/]",
        "[dim]Sessions[/]",
        "[dim]Avg response[/]",
    )
    overview.add_row(
        f"[bold]{stats['total_feedback']:,}[/]",
        f"[bold green]{_pct(stats.get('positive_pct'))}[/]",
        f"[bold red]{_pct(stats.get('negative_pct'))}[/]",
        f"[bold]{stats['unique_users']:,}[/]",
        f"[bold]{stats['unique_sessions']:,}[/]",
        f"[bold]{_num(stats.get('avg_response_time_ms'), ' ms')}[/]",
    )
    status = Text.from_markup(
        f"Refresh: {_since(snapshot.by_model.get('as_of'), snapshot.taken_at)}   "
        f"[dim]{url} · read {snapshot.taken_at:%H:%M:%S} UTC[/]"
    )
    body = Group(
        overview,
        Text(""),
        _accuracy_table("Accuracy by model (all votes)", "model", snapshot.by_model),
        Text(""),
        _accuracy_table("Accuracy by intent (all votes)", "intent", snapshot.by_intent),
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
            console.print(render(fetch(client), url))
            return
        with Live(render(fetch(client), url), console=console, screen=False) as live:
            while True:
                time.sleep(interval)
                try:
                    live.update(render(fetch(client), url))
                except TopError as exc:
                    # A blip (restart, network) should not end a view someone is watching.
                    live.update(Panel(f"[red]{exc}[/]\nretrying every {interval:g} s"))
