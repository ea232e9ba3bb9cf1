//! `spikard-bench validate`: parse + validate of the chat message in the core, measured the way
//! `bench/validation_peers.py` and `bench/validation_ajv.mjs` measure the other validators (same
//! messages, best of N runs of S seconds), so the report has one table.

use std::{hint::black_box, time::Instant};

use serde_json::{Value, json};
use spikard::CompiledSchema;

/// The messages of the other validation benchmarks, byte for byte.
const VALID: &str =
    r#"{"text":"hello from the benchmark, a chat line of about a hundred bytes!","user":"bench-user-0001"}"#;
const INVALID: &str = r#"{"text":12345678901234567890,"user":"bench-user-0001"}"#;

/// Messages per second of the best of `repeats` runs of `seconds`: parse, then collect every
/// failure (what the core does before a handler runs or an error envelope goes out).
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
                black_box(schema.errors(&value).count());
            }
            count += 1000;
        }
        #[allow(clippy::cast_precision_loss)]
        let per_sec = count as f64 / start.elapsed().as_secs_f64();
        best = best.max(per_sec);
    }
    Ok(best)
}

/// Measure and print one JSON line: `{"rust": ..., "results": [{library, version, valid_per_sec,
/// invalid_per_sec}]}`.
pub(crate) fn run(seconds: f64, repeats: u32) -> Result<(), String> {
    let schema: Value = serde_json::from_str(include_str!("../../../bench/chat_schema.json"))
        .map_err(|e| format!("bench/chat_schema.json: {e}"))?;
    let schema = CompiledSchema::compile("/chat", "message", &schema).map_err(|e| e.to_string())?;
    let valid = rate(&schema, VALID, true, seconds, repeats)?;
    let invalid = rate(&schema, INVALID, false, seconds, repeats)?;
    let report = json!({
        "rust": "release build",
        "message_bytes": VALID.len(),
        "results": [{
            "library": "Spikard core (jsonschema crate, serde_json)",
            "version": env!("CARGO_PKG_VERSION"),
            "valid_per_sec": valid.round(),
            "invalid_per_sec": invalid.round(),
        }],
    });
    println!("{report}");
    Ok(())
}
