#!/usr/bin/env bash
# User-space instructions per vote of one server worker, counted by valgrind's callgrind:
# repeatable to about 0.5 % whatever else the machine does, so small changes show.
#
#   bench/instructions.sh CHECKOUT DATABASE_URL [VOTES] [CONNECTIONS]
#
# Serves CHECKOUT's code (one worker, on DATABASE_URL, migrated already), warms it up with
# 300 votes, then counts VOTES votes (default 2,000) over CONNECTIONS (default 8). Only the
# counted votes run instrumented (--instr-atstart=no): start-up and warm-up run several times
# faster, and the figure is the same.
set -euo pipefail
src=$(cd "$1" && pwd); url=$2; votes=${3:-2000}; connections=${4:-8}
here=$(cd "$(dirname "$0")" && pwd)
python=$(command -v python)
port=$((18700 + RANDOM % 200))
out=$(mktemp -d)
(cd "$src" && FEEDBACK_DATABASE_URL=$url FEEDBACK_REFRESH_ENABLED=false PYTHONPATH="$src/src" \
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/cg.%p" \
  "$python" -m feedback_api serve --port "$port" --workers 1 --no-migrate >"$out/log" 2>&1) &
server=$!
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 1; done
"$python" "$here/vote_load.py" "$port" 300 "$connections"
pid=$(pgrep -f "callgrind.*--port $port" | head -1)
callgrind_control --instr=on "$pid" >/dev/null
callgrind_control --zero "$pid" >/dev/null
tag="counted-$(date +%s%N)"
"$python" "$here/vote_load.py" "$port" "$votes" "$connections" "$tag"
callgrind_control --dump=measured "$pid" >/dev/null
sleep 1
kill "$pid" 2>/dev/null || true
wait "$server" 2>/dev/null || true
total=$(grep -h '^summary:' "$out"/cg.*.1 | awk '{print $2}')
# One statement writes each group, so a group's votes share their transaction id (xmin).
groups=$("$python" - "$url" "$tag" <<'EOF'
import asyncio, sys
import asyncpg
async def main() -> None:
    conn = await asyncpg.connect(sys.argv[1].replace("postgresql+asyncpg://", "postgresql://"))
    print(await conn.fetchval(
        "SELECT count(DISTINCT f.xmin::text) FROM feedback f JOIN interactions i"
        " ON i.id = f.interaction_id WHERE i.request_id LIKE $1", sys.argv[2] + "-%"))
    await conn.close()
asyncio.run(main())
EOF
)
echo "$votes votes over $connections connections: $((total / votes)) instructions per vote," \
  "in $groups groups ($out)"
