#!/usr/bin/env bash
# Two checkouts of the project measured alternately in one sitting (this machine's CPU is
# shared and its disk throttles: a single run moves by ±40 %, alternation shows the change).
#
#   bench/compare.sh OLD_CHECKOUT NEW_CHECKOUT [ROUNDS] [-- OPTIONS]
#
# Runs bench_ingest.py ROUNDS times (default 2) for each checkout, new then old, then
# bench_analytics.py and bench_export.py once each; OPTIONS (e.g. --quick) go to every
# benchmark. Each checkout runs its own bench/ and src/ with this environment's Python.
set -euo pipefail
old=$(cd "$1" && pwd); new=$(cd "$2" && pwd); rounds=${3:-2}
shift $(( $# < 3 ? $# : 3 ))
[ "${1:-}" = "--" ] && shift
python=$(command -v python)
run() {
  echo "=== $1: $3 $(date +%T)"
  (cd "$2" && PYTHONPATH="$2/src" "$python" "bench/$3" "${@:4}")
}
for _ in $(seq "$rounds"); do
  run new "$new" bench_ingest.py "$@"
  run old "$old" bench_ingest.py "$@"
done
for bench in bench_analytics.py bench_export.py; do
  run new "$new" "$bench" "$@"
  run old "$old" "$bench" "$@"
done
