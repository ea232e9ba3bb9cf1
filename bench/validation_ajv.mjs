// Validation micro-benchmark of the chat schema in ajv: JSON.parse of the raw message plus the
// compiled validator, for a valid ~100 B chat message and an invalid one (`text` is a number).
// Best of `--repeats` runs of about `--seconds` each. Prints ONE JSON line:
// {"node": ..., "results": [{"library": "ajv", "version", "valid_per_sec", "invalid_per_sec"}]}
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import Ajv from "ajv";

const require = createRequire(import.meta.url);
const { values } = parseArgs({
  options: { seconds: { type: "string", default: "1" }, repeats: { type: "string", default: "3" } },
});
const seconds = Number(values.seconds);
const repeats = Number(values.repeats);

const schema = JSON.parse(readFileSync(new URL("./chat_schema.json", import.meta.url), "utf8"));
const validate = new Ajv().compile(schema);
const valid = JSON.stringify({ text: "hello from the benchmark, a chat line of about a hundred bytes!", user: "bench-user-0001" });
const invalid = JSON.stringify({ text: 12345678901234567890, user: "bench-user-0001" });
const check = (raw) => validate(JSON.parse(raw));

function rate(raw, expected) {
  if (check(raw) !== expected) throw new Error(`ajv answered ${!expected} for ${raw}`);
  const batch = 10000;
  let best = 0;
  let sink = 0;
  for (let r = 0; r < repeats; r++) {
    let count = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < seconds) {
      for (let i = 0; i < batch; i++) sink += check(raw) ? 1 : 0;
      count += batch;
      elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    }
    best = Math.max(best, count / elapsed);
  }
  if (sink < 0) console.error(sink);
  return Math.round(best);
}

const results = [{
  library: "ajv",
  version: require("ajv/package.json").version,
  valid_per_sec: rate(valid, true),
  invalid_per_sec: rate(invalid, false),
}];
console.log(JSON.stringify({ node: process.version, message_bytes: valid.length, results }));
