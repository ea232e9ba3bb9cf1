#!/bin/bash
# One load run: run.sh <label> <payload> -- <server command...>. The server (which prints
# `READY <port>`) is pinned to CPU 1, spikard-bench to CPU 0; prints the bench's JSON line.
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
label=$1; payload=$2; shift 3
out=$(mktemp)
taskset -c 1 "$@" > "$out" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q READY "$out" && break; sleep 0.1; done
port=$(awk '/READY/{print $2}' "$out")
res=$(taskset -c 0 "$root/target/release/spikard-bench" load --url "ws://127.0.0.1:$port/echo" \
  --connections 100 --in-flight 1 --payload "$payload" --duration 5 --warmup 1 --server-pid "$pid" 2>&1)
kill "$pid"; wait "$pid" 2>/dev/null; rm -f "$out"
echo "== $label $payload"; echo "$res" | tail -1
