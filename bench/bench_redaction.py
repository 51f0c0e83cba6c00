"""Redaction benchmark: the same export with and without redaction, and its cost at ingest.

    python bench/bench_redaction.py [--rows 100000] [--database-url URL]

On one database with `--rows` votes (one per exchange; every 20th exchange carries personal
data: an e-mail, a phone number, a card, an IP address or a key; the others realistic
clean texts, a third of them with numbers), side by side in one run:
  export   the weighted dataset and the CSV offline file written in-process, without and
           with redaction: rows/s and the ratio (goal >= 0.5x);
  ingest   the values of 20,000 exchanges prepared for storage (`interaction_values`)
           without and with FEEDBACK_REDACT_AT_INGEST: microseconds per exchange.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import asyncpg_dsn, database
from feedback_api.config import Settings
from feedback_api.exports.offline import OfflineExport
from feedback_api.exports.repository import ExportRepository, Selection, Shape
from feedback_api.exports.service import ExportService
from feedback_api.interactions.schemas import InteractionCreate
from feedback_api.interactions.service import IngestRules, interaction_values
from feedback_api.kit.db import create_engine, create_sessionmaker
from feedback_api.privacy.redaction.entities import RedactionConfig
from feedback_api.privacy.redaction.redactor import Redactor, redactor_for

CLEAN = [
    "How do I reverse a list in Python?",
    "Summarize the meeting notes in three bullet points.",
    "Why does my build fail after upgrading to 3.12.1?",
    "Order 48213 shipped on 2026-11-02, when will it arrive?",
    "Explain the difference between TCP and UDP.",
    "What is 1234 * 5678?",
]
PERSONAL = [
    "Write to ana.lima{n}@example.org about the invoice.",
    "Call me back on +49 151 2345{n:04d}.",
    "My card 4111 1111 1111 1111 was declined.",
    "Block 10.1.{m}.7 in nginx.",
    "My key sk-proj-abcdefghijklmnopqrstuvwx{n:04d} gives 401.",
]

FILL = """
WITH texts AS (SELECT $3::text[] AS clean, $4::text[] AS personal),
i AS (
  INSERT INTO interactions (id, request_id, query, response, model, created_at)
  SELECT gen_random_uuid(), 'r-' || g,
         CASE WHEN g % 20 = 0
              THEN replace(replace(replace(personal[1 + (g / 20) % 5],
                                           '{n:04d}', lpad((g % 10000)::text, 4, '0')),
                                   '{n}', (g % 10000)::text), '{m}', (g % 250)::text)
              ELSE clean[1 + g % 6] || ' (' || g || ')' END,
         'Here is the answer to question ' || g || '.', 'model-' || (g % 3),
         now() - (g % 5) * interval '1 hour'
  FROM texts, generate_series($1::bigint, $2::bigint) AS g RETURNING id, created_at)
INSERT INTO feedback (id, interaction_id, is_helpful, user_id, created_at)
SELECT gen_random_uuid(), id, random() < 0.7, 'u-' || (random() * 1000)::int, created_at FROM i
"""


async def fill(dsn: str, rows: int) -> None:
    conn = await asyncpg.connect(dsn)
    for low in range(1, rows + 1, 50_000):
        high = min(rows, low + 49_999)
        await conn.execute(FILL, low, high, CLEAN, PERSONAL)
    await conn.execute("VACUUM ANALYZE interactions, feedback")
    await conn.close()


async def export_rate(url: str, redactor: Redactor | None, kind: str, out: Path) -> float:
    """Rows per second of one export written to `out`."""
    engine = create_engine(Settings(_env_file=None), url, statement_timeout=0)
    until = datetime.now(UTC) + timedelta(minutes=5)
    since = until - timedelta(days=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            repository = ExportRepository(session)
            started = time.perf_counter()
            if kind == "weighted":
                written = await ExportService(repository, redactor).write(
                    Selection(since, until), Shape(), out, manifest=False
                )
                rows = written.files[0].examples
            else:
                rows = -1  # the header
                with out.open("wb") as handle:
                    async for chunk in OfflineExport(repository, redactor).stream(
                        "csv", since, until
                    ):
                        handle.write(chunk)
                        rows += chunk.count(b"\n")
            return rows / (time.perf_counter() - started)
    finally:
        await engine.dispose()


def ingest_cost(redactor: Redactor | None, items: int = 20_000) -> float:
    """Microseconds per exchange to prepare its values for storage."""
    rules = IngestRules(redactor=redactor)
    payloads = []
    for n in range(items):
        text = (
            PERSONAL[n // 20 % 5].format(n=n % 10000, m=n % 250)
            if n % 20 == 0
            else f"{CLEAN[n % 6]} ({n})"
        )
        payloads.append(
            InteractionCreate(query=text, response=f"Here is the answer {n}.", model="m")
        )
    started = time.perf_counter()
    for payload in payloads:
        interaction_values(payload, None, None, rules)
    return (time.perf_counter() - started) / items * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", help="default: a fresh embedded PostgreSQL")
    args = parser.parse_args()
    url = database(args.database_url)
    asyncio.run(fill(asyncpg_dsn(url), args.rows))
    redactor = redactor_for(RedactionConfig())
    print(f"votes in the window: {args.rows:,} (every 20th exchange with personal data)")
    print(f"{'export':<10}{'plain rows/s':>14}{'redacted rows/s':>17}{'ratio':>8}  goal")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("weighted", "csv"):
            plain = asyncio.run(export_rate(url, None, kind, Path(tmp) / "plain"))
            redacted = asyncio.run(export_rate(url, redactor, kind, Path(tmp) / "redacted"))
            print(f"{kind:<10}{plain:>14,.0f}{redacted:>17,.0f}{redacted / plain:>7.2f}x  >= 0.5x")
    plain_us, redacted_us = ingest_cost(None), ingest_cost(redactor)
    print(
        f"ingest: {plain_us:.1f} us per exchange plain, {redacted_us:.1f} us redacted "
        f"(+{redacted_us - plain_us:.1f} us)"
    )


if __name__ == "__main__":
    main()
