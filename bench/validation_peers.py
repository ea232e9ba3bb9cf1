"""Validation micro-benchmark of the chat schema in the Python validators Spikard is compared with.

Measures, per library, how many chat messages per second one core parses (`json.loads` of the
raw bytes) and validates: a valid ~100 B message and an invalid one (`text` is a number). Each
figure is the best of `--repeats` timed runs of about `--seconds` each. Prints ONE JSON line:
`{"python": ..., "results": [{"library", "version", "valid_per_sec", "invalid_per_sec"}, ...]}`.
The schema is `bench/chat_schema.json`, the same one every benchmark uses.
"""

import argparse
import json
import platform
import time
from importlib import metadata
from pathlib import Path

SCHEMA = json.loads((Path(__file__).resolve().parent / "chat_schema.json").read_text())
COMPACT = (",", ":")
VALID = json.dumps(
    {"text": "hello from the benchmark, a chat line of about a hundred bytes!", "user": "bench-user-0001"},
    separators=COMPACT,
).encode()
INVALID = json.dumps({"text": 12345678901234567890, "user": "bench-user-0001"}, separators=COMPACT).encode()


def checkers() -> dict:
    """name -> (distribution name, function(bytes) -> bool), built once per library."""
    import fastjsonschema
    import jsonschema
    import jsonschema_rs

    rs = jsonschema_rs.validator_for(SCHEMA)
    fast = fastjsonschema.compile(SCHEMA)
    py = jsonschema.Draft202012Validator(SCHEMA)

    def fast_check(raw: bytes) -> bool:
        try:
            fast(json.loads(raw))
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    return {
        "jsonschema-rs": ("jsonschema-rs", lambda raw: rs.is_valid(json.loads(raw))),
        "fastjsonschema": ("fastjsonschema", fast_check),
        "jsonschema (python)": ("jsonschema", lambda raw: py.is_valid(json.loads(raw))),
    }


def rate(check, raw: bytes, expected: bool, seconds: float, repeats: int) -> float:
    """Best-of-`repeats` validations per second of `raw`, checking every answer once first."""
    if check(raw) is not expected:
        raise SystemExit(f"validator answered {not expected} for {raw!r}")
    batch = 1000
    best = 0.0
    for _ in range(repeats):
        count = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            for _ in range(batch):
                check(raw)
            count += batch
        best = max(best, count / elapsed)
    return best


def main() -> None:
    """Parse arguments, measure every library, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = []
    for name, (dist, check) in checkers().items():
        results.append(
            {
                "library": name,
                "version": metadata.version(dist),
                "valid_per_sec": round(rate(check, VALID, True, args.seconds, args.repeats)),
                "invalid_per_sec": round(rate(check, INVALID, False, args.seconds, args.repeats)),
            }
        )
    print(json.dumps({"python": platform.python_version(), "message_bytes": len(VALID), "results": results}))


if __name__ == "__main__":
    main()
