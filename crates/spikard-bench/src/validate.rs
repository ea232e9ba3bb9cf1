//! `spikard-bench validate`: parse + validate of the chat message in the core, measured the way
//! `bench/validation_peers.py` and `bench/validation_ajv.mjs` measure the other validators (same
//! messages, best of N runs of S seconds), so the report has one table. The core's extra rows
//! ([`crate::cases`]) time the chat message grown by checked formats and by big integers.

use std::{hint::black_box, time::Instant};

use serde_json::{Value, json};
use spikard::CompiledSchema;

use crate::cases::{EXTRA, check};

/// The messages of the other validation benchmarks, byte for byte.
const VALID: &str =
    r#"{"text":"hello from the benchmark, a chat line of about a hundred bytes!","user":"bench-user-0001"}"#;
const INVALID: &str = r#"{"text":12345678901234567890,"user":"bench-user-0001"}"#;

/// Messages per second of the best of `repeats` runs of `seconds`: parse, then [`check`] (what
/// the core does before a handler runs or an error envelope goes out).
fn rate(
    schema: &CompiledSchema,
    raw: &str,
    expect_valid: bool,
    seconds: f64,
    repeats: u32,
) -> Result<f64, String> {
    let value: Value = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    if schema.errors(&value).next().is_none() != expect_valid {
        return Err(format!("{raw} is not {}", if expect_valid { "valid" } else { "invalid" }));
    }
    let mut best: f64 = 0.0;
    for _ in 0..repeats {
        let start = Instant::now();
        let mut count: u64 = 0;
        while start.elapsed().as_secs_f64() < seconds {
            for _ in 0..1000 {
                let value: Value = serde_json::from_str(black_box(raw)).map_err(|e| e.to_string())?;
                black_box(check(schema, &value));
            }
            count += 1000;
        }
        #[allow(clippy::cast_precision_loss)]
        let per_sec = count as f64 / start.elapsed().as_secs_f64();
        best = best.max(per_sec);
    }
    Ok(best)
}

/// One report row: `schema` (JSON text) timed on its `valid` and `invalid` messages; `case` is
/// the row's short name (criterion's group).
fn row(
    case: &str,
    library: &str,
    [schema, valid, invalid]: [&str; 3],
    seconds: f64,
    repeats: u32,
) -> Result<Value, String> {
    let schema: Value = serde_json::from_str(schema).map_err(|e| format!("{case}: {e}"))?;
    let schema = CompiledSchema::compile("/chat", "message", &schema).map_err(|e| e.to_string())?;
    Ok(json!({
        "case": case,
        "library": library,
        "version": env!("CARGO_PKG_VERSION"),
        "message_bytes": valid.len(),
        "valid_per_sec": rate(&schema, valid, true, seconds, repeats)?.round(),
        "invalid_per_sec": rate(&schema, invalid, false, seconds, repeats)?.round(),
    }))
}

/// Measure and print one JSON line: `{"rust": ..., "results": [{case, library, version,
/// message_bytes, valid_per_sec, invalid_per_sec}]}`, the chat schema first, then [`EXTRA`].
pub(crate) fn run(seconds: f64, repeats: u32) -> Result<(), String> {
    let chat = include_str!("../../../bench/chat_schema.json");
    let mut results = vec![row(
        "chat",
        "Spikard core (jsonschema crate, serde_json)",
        [chat, VALID, INVALID],
        seconds,
        repeats,
    )?];
    for case in &EXTRA {
        let library = format!("Spikard core, {}", case.name);
        results.push(row(case.id, &library, [case.schema, case.valid, case.invalid], seconds, repeats)?);
    }
    let report = json!({ "rust": "release build", "message_bytes": VALID.len(), "results": results });
    println!("{report}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use spikard::CompiledSchema;

    use crate::cases::EXTRA;

    #[test]
    fn each_valid_message_passes_and_each_invalid_one_fails_at_every_checked_field() {
        for case in &EXTRA {
            let schema: Value = serde_json::from_str(case.schema).unwrap();
            let schema = CompiledSchema::compile("/chat", "message", &schema).unwrap();
            let valid: Value = serde_json::from_str(case.valid).unwrap();
            assert_eq!(schema.errors(&valid).count(), 0, "{}", case.name);
            let invalid: Value = serde_json::from_str(case.invalid).unwrap();
            let paths: Vec<String> = schema.errors(&invalid).map(|e| e.path).collect();
            assert_eq!(paths.len(), 3, "{}: {paths:?}", case.name);
        }
    }

    #[test]
    fn a_short_run_measures_every_row() {
        super::run(0.01, 1).unwrap();
    }
}
