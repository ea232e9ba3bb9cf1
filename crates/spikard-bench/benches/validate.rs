//! Parse + validate of the ~100-byte chat message in the core: the work Spikard does per
//! message before a handler runs (goal: at least 2 million per second per core). The groups after
//! `chat` show what checked formats and big integers add (`src/cases.rs`).

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

#[path = "../src/cases.rs"]
mod cases;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use spikard::CompiledSchema;

const VALID: &str =
    r#"{"text":"hello everyone, this is a benchmark chat message of about 100 bytes","user":"alice"}"#;
const INVALID: &str = r#"{"text":12345,"user":"alice","mood":"this message fails the schema in two places"}"#;

fn chat_schema() -> Value {
    serde_json::from_str(include_str!("../../../bench/chat_schema.json"))
        .expect("bench/chat_schema.json is JSON")
}

fn bench(c: &mut Criterion) {
    let schema = CompiledSchema::compile("/chat", "message", &chat_schema()).expect("chat schema compiles");
    let mut group = c.benchmark_group("chat");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse", |b| {
        b.iter(|| serde_json::from_str::<Value>(std::hint::black_box(VALID)).map(|v| v.is_object()));
    });
    group.bench_function("parse_validate_valid", |b| {
        b.iter(|| {
            let value: Value = serde_json::from_str(std::hint::black_box(VALID)).expect("valid JSON");
            cases::check(&schema, &value)
        });
    });
    group.bench_function("parse_validate_invalid", |b| {
        b.iter(|| {
            let value: Value = serde_json::from_str(std::hint::black_box(INVALID)).expect("valid JSON");
            cases::check(&schema, &value)
        });
    });
    group.finish();
    for case in &cases::EXTRA {
        let schema: Value =
            serde_json::from_str(case.schema).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let schema = CompiledSchema::compile("/chat", "message", &schema)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let mut group = c.benchmark_group(case.id);
        group.throughput(Throughput::Elements(1));
        group.bench_function("parse_validate_valid", |b| {
            b.iter(|| {
                let value: Value =
                    serde_json::from_str(std::hint::black_box(case.valid)).expect("valid JSON");
                cases::check(&schema, &value)
            });
        });
        group.bench_function("parse_validate_invalid", |b| {
            b.iter(|| {
                let value: Value =
                    serde_json::from_str(std::hint::black_box(case.invalid)).expect("valid JSON");
                cases::check(&schema, &value)
            });
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
