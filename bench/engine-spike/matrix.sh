#!/bin/bash
# The engine matrix of docs/decisions.md (engine choice row): three rounds, engines interleaved.
# Needs `cargo build --release` here and `cargo build --release -p spikard-bench -p spikard
# --example autobahn` in the workspace.
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
S=$here/target/release/spike-engine
cd "$here" || exit 1
for _ in 1 2 3; do
  for p in text20 text16k; do
    ./run.sh tung $p -- "$S" tung 0
    ./run.sh yawc $p -- "$S" yawc 0
    ./run.sh fws $p -- "$S" fws 0
    ./run.sh spikard $p -- "$root/target/release/examples/autobahn"
    ./run.sh tung-readahead $p -- env RA=65536 "$S" tungraw 0
  done
done
