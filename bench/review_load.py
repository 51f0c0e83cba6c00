"""Reviewers claiming and submitting over raw HTTP/1.1 keep-alive connections, as fast as
the server answers.

    python bench/review_load.py PORT QUEUE_ID ROUNDS CONNECTIONS [TAG]

A client with next to no CPU of its own, for `review_instructions.sh`: each connection is a
reviewer (`X-Reviewer: TAG-<n>`, open mode) that claims an item of QUEUE_ID and submits a
verdict on it, ROUNDS / CONNECTIONS times.
"""

from __future__ import annotations

import asyncio
import json
import sys


async def _post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, name: str, body: bytes
) -> tuple[bytes, bytes]:
    writer.write(
        b"POST %s HTTP/1.1\r\nHost: bench\r\nX-Reviewer: %s\r\nContent-Type: application/json"
        b"\r\nContent-Length: %d\r\n\r\n%s" % (path.encode(), name.encode(), len(body), body)
    )
    await writer.drain()
    status = (await reader.readline()).split()[1]
    length = 0
    while (line := await reader.readline()) != b"\r\n":
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return status, await reader.readexactly(length)


async def reviewer(port: int, queue_id: str, name: str, rounds: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(rounds):
        status, body = await _post(reader, writer, f"/v1/review/queues/{queue_id}/claim", name, b"")
        if status != b"200":
            raise SystemExit(f"claim answered {status.decode()}")
        lease = json.loads(body)
        label = json.dumps({"lease_token": lease["lease_token"], "verdict": "correct"}).encode()
        path = f"/v1/review/assignments/{lease['assignment_id']}/submit"
        status, _ = await _post(reader, writer, path, name, label)
        if status != b"201":
            raise SystemExit(f"submit answered {status.decode()}")
    writer.close()


async def main() -> None:
    port, queue_id = int(sys.argv[1]), sys.argv[2]
    rounds, connections = int(sys.argv[3]), int(sys.argv[4])
    tag = sys.argv[5] if len(sys.argv) > 5 else "load"
    await asyncio.gather(
        *(reviewer(port, queue_id, f"{tag}-{n}", rounds // connections) for n in range(connections))
    )


if __name__ == "__main__":
    asyncio.run(main())
