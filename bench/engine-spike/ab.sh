#!/bin/bash
# Autobahn fuzzing client against one spike engine: ab.sh <engine> <cases JSON> <exclude JSON>,
# e.g. ab.sh yawc-deflate '["12.*","13.*"]' '[]' (needs `task autobahn:setup`). Prints counts and every case not OK.
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
# ab.sh <engine> <cases-json> <exclude-json>
eng=$1; cases=$2; excl=$3
out=$here/ab/$eng; mkdir -p $out
log=$(mktemp)
$here/target/release/spike-engine $eng 0 > $log 2>&1 &
pid=$!
for i in $(seq 50); do grep -q READY $log && break; sleep 0.1; done
port=$(grep READY $log | awk '{print $2}')
cat > $out/spec.json <<J
{"outdir": "$out", "servers": [{"agent": "$eng", "url": "ws://127.0.0.1:$port/echo"}], "cases": $cases, "exclude-cases": $excl, "exclude-agent-cases": {}}
J
(cd $out && "${WSTEST:-$root/.cache/autobahn/py2/bin/wstest}" -m fuzzingclient -s $out/spec.json > $out/wstest.log 2>&1)
kill $pid; wait $pid 2>/dev/null
python3 - $out/index.json <<'P'
import json,sys,collections
idx=json.load(open(sys.argv[1]))
for agent,res in idx.items():
    c=collections.Counter(r["behavior"] for r in res.values())
    cb=collections.Counter(r["behaviorClose"] for r in res.values())
    print(agent, len(res), dict(c), "close:", dict(cb))
    for k in sorted(res, key=lambda s: tuple(int(x) for x in s.split("."))):
        r=res[k]
        if r["behavior"] not in ("OK","INFORMATIONAL") or r["behaviorClose"] not in ("OK","INFORMATIONAL"):
            print("  ", k, r["behavior"], r["behaviorClose"], r.get("remoteCloseCode"))
P
