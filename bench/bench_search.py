"""Search benchmark: GET /v1/feedback?q= and keyset pages of the list at 1,000,000 votes.

    python bench/bench_search.py [--quick] [--rows N] [--database-url URL] [--filled URL]

Fills N votes (default 1,000,000; --quick: 100,000), one interaction each, with
generate_series SQL inside PostgreSQL, at the schema without the search indexes; then
migrates to head, so the migration builds its indexes over the full tables (its time is
printed). Side by side in one run:

  insert     chunks of 25,000 votes inserted (one statement each) with no search index, with
             the migration's full-text indexes, and with the alternative not taken (pg_trgm
             GIN indexes on question, answer and comment), alternated, twice each;
  search     p50 / p95 of GET /v1/feedback?q=...&limit=50 for words from one matching vote
             to every vote, and for none (goal: p50 <= 50 ms at 1,000,000 votes);
  pages      p50 / p95 of the list's first page against the page at the oldest vote, the
             N-th, reached by a keyset cursor (goal: equal).

--database-url must name an empty database (the benchmark migrates it itself). --filled
names a database this benchmark filled before (at head, N votes): only the searches and
pages are measured, for quick iterations.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import asyncpg
from alembic import command
from alembic.script import ScriptDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Connection, asyncpg_dsn, percentile, server, settle
from feedback_api.config import normalize_database_url
from feedback_api.feedback.listing import FEW_MATCHES, FIRST_WALK, WALK_ROWS
from feedback_api.kit import migrations
from feedback_api.kit.pagination import encode_cursor

# The first migration of the search (0008; 0009 copies each exchange's words into its votes).
SEARCH_REVISION = "0008"

# Vote g: a question built from word lists (a verb of 20, a thing of 50, a language of 10),
# "xylophone" in one question of 100,000, "urgently" in one of 1,000, "quickly" in one of
# 200; an answer carrying md5(g) and a sentence every answer shares; a comment on a fifth of
# the votes; one vote every 5 seconds back from now.
_FILL = """
WITH i AS (
  INSERT INTO interactions (id, request_id, query, response, model, intent, project, created_at)
  SELECT gen_random_uuid(), 'search-' || g,
         'How do I ' || (ARRAY['parse','sort','merge','split','format','validate','cache',
           'serialize','stream','encrypt','compress','index','debug','profile','test',
           'deploy','log','retry','schedule','render'])[1 + g % 20]
         || ' a ' || (ARRAY['list','dict','string','date','file','socket','table','queue',
           'tree','graph','matrix','image','video','token','cookie','header','column','row',
           'vector','tensor','thread','process','lock','channel','promise','future','stack',
           'heap','set','map','record','struct','enum','union','array','buffer','cursor',
           'query','schema','view','model','route','form','button','widget','theme','font',
           'color','icon','sprite'])[1 + (g / 20) % 50]
         || ' in ' || (ARRAY['python','rust','go','java','kotlin','swift','ruby','haskell',
           'elixir','scala'])[1 + (g / 1000) % 10]
         || CASE WHEN g % 100000 = 1 THEN ' with a xylophone' ELSE '' END
         || CASE WHEN g % 1000 = 7 THEN ' urgently' ELSE '' END
         || CASE WHEN g % 200 = 3 THEN ' quickly' ELSE '' END || '?',
         'Here is one way (' || md5(g::text) || '). Use the standard library and keep the '
         || 'function small; test the edge cases first, then measure before optimising.',
         'model-' || (g % 5), 'intent-' || (g % 7), 'project-' || (g % 3),
         now() - g * interval '5 seconds'
  FROM generate_series($1::bigint, $2::bigint) AS g RETURNING id, created_at, request_id{words})
INSERT INTO feedback (id, interaction_id, is_helpful, stars, comment, user_id, created_at{copy})
SELECT gen_random_uuid(), id, random() < 0.7, 1 + (random() * 4)::int,
       CASE WHEN random() < 0.2 THEN 'too ' || (ARRAY['long','short','vague','verbose',
         'slow','wrong','generic','formal','casual','terse'])[1 + (random() * 9)::int] END,
       'user-' || (random() * 10000)::int, created_at{copied}
FROM i
"""
# Before the search migrations, and at head, where a vote copies its exchange's words
# (feedback.exchange_words, written by the vote statement in the service).
FILL = _FILL.format(words="", copy="", copied="")
FILL_AT_HEAD = _FILL.format(
    words=", search_words", copy=", exchange_words", copied=", search_words"
)
CHUNK = 25_000
ROUNDS = 2
# The alternative to the migration's indexes: substrings (ILIKE) served by trigrams.
TRIGRAM = {
    f"bench_trgm_{table}_{column}": f"{table} USING gin ({column} gin_trgm_ops)"
    for table, column in (
        ("interactions", "query"),
        ("interactions", "response"),
        ("feedback", "comment"),
    )
}

TRIGRAM_CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    *(f"CREATE INDEX {name} ON {on}" for name, on in TRIGRAM.items()),
]


def searches(rows: int) -> list[tuple[str, str]]:
    """(label, q): from one matching vote to every vote, and none."""
    prefix = hashlib.md5(str(rows // 2).encode()).hexdigest()[:10]
    return [
        ("md5 prefix: 1 answer", prefix),
        (f"'xylophone': {max(1, rows // 100_000)} questions", "xylophone"),
        (f"'urgently': {rows // 1000:,} questions (0.1 %)", "urgently"),
        (f"'quickly': {rows // 200:,} questions (0.5 %)", "quickly"),
        ("'too verbose': ~2 % of comments", "too verbose"),
        ("'socket': 2 % of questions", "socket"),
        ("'kotlin': 10 % of questions", "kotlin"),
        ("'kotlin standard': 10 %, question + answer", "kotlin standard"),
        ("'standard library': every answer", "standard library"),
        ("'zqxwvj': nothing", "zqxwvj"),
    ]


async def fill(dsn: str, low: int, high: int, statement: str = FILL) -> float:
    """Votes low..high in chunks; returns the seconds it took."""
    conn = await asyncpg.connect(dsn)
    started = time.perf_counter()
    for start in range(low, high + 1, CHUNK):
        await conn.execute(statement, start, min(high, start + CHUNK - 1))
    elapsed = time.perf_counter() - started
    await conn.close()
    return elapsed


async def oldest_page_cursor(dsn: str, limit: int) -> str:
    """The cursor whose page holds the `limit` oldest votes (the N-th vote among them)."""
    conn = await asyncpg.connect(dsn)
    row = await conn.fetchrow(
        "SELECT created_at, id FROM feedback ORDER BY created_at, id OFFSET $1 LIMIT 1", limit
    )
    await conn.close()
    assert row is not None
    return encode_cursor(row["created_at"], row["id"])


async def measure(base: str, paths: dict[str, str], rounds: int) -> dict[str, list[float]]:
    """Each path once per round, in turn, so that noise falls on all of them alike."""
    parts = urlsplit(base)
    conn = Connection(parts.hostname or "127.0.0.1", parts.port or 80)
    times: dict[str, list[float]] = {label: [] for label in paths}
    for label, path in paths.items():  # warm-up: plans cached, pages in memory
        status, payload = await conn.request("GET", path)
        assert status == 200, (label, status, payload[:200])
    for _ in range(rounds):
        for label, path in paths.items():
            started = time.perf_counter()
            status, payload = await conn.request("GET", path)
            times[label].append((time.perf_counter() - started) * 1000)
            assert status == 200, (label, status, payload[:300])
    conn.close()
    return times


async def ddl(dsn: str, statements: list[str]) -> None:
    conn = await asyncpg.connect(dsn)
    for statement in statements:
        await conn.execute(statement)
    await conn.close()


def database(url: str | None) -> str:
    if url:
        return normalize_database_url(url)
    import tempfile

    from feedback_api.kit.embedded import start_embedded

    return start_embedded(Path(tempfile.mkdtemp(prefix="fb-bench-")), cleanup="delete")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 votes")
    parser.add_argument("--rows", type=int, help="votes to fill (default 1,000,000)")
    parser.add_argument("--rounds", type=int, default=60, help="requests per figure")
    parser.add_argument("--database-url", help="an empty database; default: a fresh embedded one")
    parser.add_argument("--filled", help="a database this benchmark filled: measure only")
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    limit = 50
    if args.filled:
        url = normalize_database_url(args.filled)
        measure_requests(url, asyncpg_dsn(url), rows, limit, args.rounds)
        return

    url = database(args.database_url)
    dsn = asyncpg_dsn(url)
    script = ScriptDirectory.from_config(migrations.alembic_config())
    before = script.get_revision(SEARCH_REVISION).down_revision
    assert isinstance(before, str)
    migrations.upgrade(url, before)

    # The newest votes have the smallest numbers: the timed chunks are the oldest ones.
    variants = ("no search index", "migration's full-text indexes", "pg_trgm alternative")
    # The timed chunks take at most half the rows (--quick: 100,000 votes, chunks of 8,333).
    chunk = min(CHUNK, rows // (2 * len(variants) * ROUNDS))
    timed = len(variants) * ROUNDS * chunk
    started = time.perf_counter()
    asyncio.run(fill(dsn, 1, rows - timed))
    fill_seconds = time.perf_counter() - started
    asyncio.run(settle(dsn))
    inserts: dict[str, list[float]] = {name: [] for name in variants}
    low = rows - timed + 1
    for _ in range(ROUNDS):
        for name in variants:
            if name == variants[1]:
                migrations.upgrade(url)
            elif name == variants[2]:
                asyncio.run(ddl(dsn, TRIGRAM_CREATE))
            statement = FILL_AT_HEAD if name == variants[1] else FILL
            inserts[name].append(asyncio.run(fill(dsn, low, low + chunk - 1, statement)))
            low += chunk
            if name == variants[1]:
                command.downgrade(migrations.alembic_config(url), before)
            elif name == variants[2]:
                asyncio.run(ddl(dsn, [f"DROP INDEX {i}" for i in TRIGRAM]))
    started = time.perf_counter()
    migrations.upgrade(url)
    migrate_seconds = time.perf_counter() - started
    asyncio.run(settle(dsn))

    print(f"{rows:,} votes filled in {fill_seconds + sum(map(sum, inserts.values())):.0f} s")
    print(
        f"migrations {SEARCH_REVISION} to head (the search columns and index over {rows:,} votes):"
        f" {migrate_seconds:.0f} s"
    )
    print(f"\ninsert {chunk:,} votes in one statement, {ROUNDS} chunks each, alternated")
    base = min(inserts[variants[0]])
    for name, seconds in inserts.items():
        print(f"  {name:<36}{' / '.join(f'{s:.1f} s' for s in seconds):>20}"
              f"{min(seconds) / base:>8.2f}x")  # fmt: skip

    measure_requests(url, dsn, rows, limit, args.rounds)


def measure_requests(url: str, dsn: str, rows: int, limit: int, rounds: int) -> None:
    """The searches and the list's pages, through the service's HTTP server."""
    cursor = asyncio.run(oldest_page_cursor(dsn, limit))
    paths = {
        label: "/v1/feedback?" + urlencode({"q": q, "limit": limit}) for label, q in searches(rows)
    }
    paths["'standard library', oldest page"] = "/v1/feedback?" + urlencode(
        {"q": "standard library", "limit": limit, "cursor": cursor}
    )
    pages = {
        "list page 1": f"/v1/feedback?limit={limit}",
        f"list page at vote {rows:,} (cursor)": f"/v1/feedback?limit={limit}&cursor={cursor}",
    }
    with server(url, env={"FEEDBACK_REFRESH_ENABLED": "false"}) as base:
        times = asyncio.run(measure(base, {**paths, **pages}, rounds))

    print(f"\nGET /v1/feedback, limit={limit}, {rounds} requests each, alternated")
    print(f"{'request':<46}{'p50 ms':>9}{'p95 ms':>9}")
    for label, values in times.items():
        print(f"{label:<46}{percentile(values, 0.5):>9.1f}{percentile(values, 0.95):>9.1f}")
    first, deep = (percentile(times[label], 0.5) for label in pages)
    print(f"page at vote {rows:,} / page 1 (p50): {deep / first:.2f}x")
    worst = max(percentile(times[label], 0.5) for label in paths)
    print(f"slowest search p50: {worst:.1f} ms (goal <= 50 ms)")
    print(
        f"(first walk {FIRST_WALK:,} votes; up to {FEW_MATCHES:,} matches read from the indexes;"
        f" walks of up to {WALK_ROWS:,} votes)"
    )


if __name__ == "__main__":
    main()
