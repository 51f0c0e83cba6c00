"""Votes over raw HTTP/1.1 keep-alive connections, as fast as the server answers.

    python bench/vote_load.py PORT VOTES CONNECTIONS [TAG]

A client with next to no CPU of its own, for `instructions.sh`: every vote is a new exchange
with its context (a new interaction and a vote), as in bench_ingest.py. Its request_ids start
with `TAG-` (default `load`), so the votes of one run can be found again (how many groups
wrote them: `instructions.sh`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

BODY = {
    "query": "Write hello world",
    "response": "print(1)",
    "model": "m",
    "rating": 1,
    "intent": "code",
    "project": "demo",
}


async def connection(port: int, number: int, votes: int, tag: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(votes):
        body = json.dumps({**BODY, "request_id": f"{tag}-{time.time_ns()}-{number}-{i}"}).encode()
        writer.write(
            b"POST /v1/feedback HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        status = (await reader.readline()).split()[1]
        if status not in (b"200", b"201"):
            raise SystemExit(f"vote answered {status.decode()}")
        length = 0
        while (line := await reader.readline()) != b"\r\n":
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
    writer.close()


async def main() -> None:
    port, votes, connections = (int(a) for a in sys.argv[1:4])
    tag = sys.argv[4] if len(sys.argv) > 4 else "load"
    await asyncio.gather(
        *(connection(port, n, votes // connections, tag) for n in range(connections))
    )


if __name__ == "__main__":
    asyncio.run(main())
