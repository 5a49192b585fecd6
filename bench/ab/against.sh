#!/usr/bin/env bash
# 1-point /derivative requests per second of this tree against another commit, served the
# same way (one uvicorn worker, Nabla's protocol), alternating, wrk 1 thread 16 connections.
#   bench/ab/against.sh ae2e69f [rounds]
# OTHER_LOOP=uvloop serves the other commit on uvloop, as commits before 71bcb39 were served
# (this tree always runs on asyncio's loop, as `python -m app` does).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
other=$(mktemp -d)
git -C "$root" worktree add --quiet --detach "$other" "$1"
trap 'git -C "$root" worktree remove --force "$other"' EXIT
serve() {  # directory port loop -> requests per second
  (cd "$1" && PYTHONPATH="$1" exec "$root/.venv/bin/python" -m uvicorn app.main:app \
      --no-access-log --port "$2" --http app.protocol:HttpProtocol --loop "$3" \
      --log-level warning) >/dev/null 2>&1 &
  local pid=$!
  sleep 2
  wrk -t1 -c16 -d3s -s "$root/bench/ab/one_point.lua" "http://127.0.0.1:$2/derivative" >/dev/null
  wrk -t1 -c16 -d8s -s "$root/bench/ab/one_point.lua" "http://127.0.0.1:$2/derivative" |
    awk '/Requests\/sec/ {print $2}'
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
for _ in $(seq "${2:-5}"); do
  echo "$1 $(serve "$other" 18501 "${OTHER_LOOP:-asyncio}")  this $(serve "$root" 18502 asyncio)"
done
