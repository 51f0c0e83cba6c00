#!/usr/bin/env bash
# User-space instructions per claim and submit of one server worker, counted by valgrind's
# callgrind (repeatable whatever else the machine does; see instructions.sh).
#
#   bench/review_instructions.sh CHECKOUT DATABASE_URL QUEUE_ID [ROUNDS] [CONNECTIONS]
#
# Serves CHECKOUT's code (one worker, on DATABASE_URL, migrated, with QUEUE_ID holding
# items enough), warms it up with 50 claims and submits, then counts ROUNDS (default 300)
# claims, each with its submit, over CONNECTIONS reviewers (default 4). Prints the
# instructions of a round (a claim and its submit); the two are counted together.
set -euo pipefail
src=$(cd "$1" && pwd); url=$2; queue=$3; rounds=${4:-300}; connections=${5:-4}
here=$(cd "$(dirname "$0")" && pwd)
python=$(command -v python)
port=$((18900 + RANDOM % 200))
out=$(mktemp -d)
(cd "$src" && FEEDBACK_DATABASE_URL=$url FEEDBACK_REFRESH_ENABLED=false FEEDBACK_ACCESS_LOG=false \
  PYTHONPATH="$src/src" valgrind --tool=callgrind --instr-atstart=no \
  --callgrind-out-file="$out/cg.%p" \
  "$python" -m feedback_api serve --port "$port" --workers 1 --no-migrate >"$out/log" 2>&1) &
server=$!
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 1; done
tag="warm-$(date +%s%N)"
"$python" "$here/review_load.py" "$port" "$queue" 50 "$connections" "$tag"
pid=$(pgrep -f "callgrind.*--port $port" | head -1)
callgrind_control --instr=on "$pid" >/dev/null
callgrind_control --zero "$pid" >/dev/null
tag="counted-$(date +%s%N)"
"$python" "$here/review_load.py" "$port" "$queue" "$rounds" "$connections" "$tag"
callgrind_control --dump=measured "$pid" >/dev/null
sleep 1
kill "$pid" 2>/dev/null || true
wait "$server" 2>/dev/null || true
total=$(grep -h '^summary:' "$out"/cg.*.1 | awk '{print $2}')
echo "$rounds claims and submits over $connections reviewers: $((total / rounds))" \
  "instructions per claim and its submit ($out)"
