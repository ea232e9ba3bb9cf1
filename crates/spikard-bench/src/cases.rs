//! The extra schemas and messages of the validation benchmark (`spikard-bench validate` and the
//! criterion benchmark `benches/validate.rs`): what formats and big integers cost on top of the
//! chat schema. Each message is the chat message of about 100 bytes grown by the checked fields.

/// One schema with a message it accepts and one it refuses.
pub(crate) struct Case {
    /// Criterion's group name (`cargo bench -p spikard-bench -- <id>`).
    pub(crate) id: &'static str,
    /// What it measures, for the report.
    pub(crate) name: &'static str,
    /// The JSON Schema (2020-12), as text.
    pub(crate) schema: &'static str,
    /// A message the schema accepts.
    pub(crate) valid: &'static str,
    /// A message the schema refuses, at every checked field.
    pub(crate) invalid: &'static str,
}

/// The chat message plus a `uuid`, a `date-time` and an `email` (checked: the core validates
/// `format`).
pub(crate) const FORMATS: Case = Case {
    id: "formats",
    name: "chat + formats (uuid, date-time, email)",
    schema: r#"{"type":"object","properties":{"text":{"type":"string","minLength":1,"maxLength":500},"user":{"type":"string","minLength":1,"maxLength":64},"id":{"type":"string","format":"uuid"},"sent":{"type":"string","format":"date-time"},"email":{"type":"string","format":"email"}},"required":["text","user","id","sent","email"],"additionalProperties":false}"#,
    valid: r#"{"text":"hello from the benchmark, a chat line of about a hundred bytes!","user":"bench-user-0001","id":"3fa85f64-5717-4562-b3fc-2c963f66afa6","sent":"2026-11-30T01:02:03.456Z","email":"bench-user-0001@example.com"}"#,
    invalid: r#"{"text":"hello from the benchmark, a chat line of about a hundred bytes!","user":"bench-user-0001","id":"3fa85f64-5717-4562-b3fc-2c963f66afa","sent":"2026-13-30T01:02:03.456Z","email":"bench-user-0001.example.com"}"#,
};

/// The chat message plus integers at the edges of 64 bits (`u64::MAX`, `i64::MIN`, exact in
/// serde_json) and one beyond them (parsed as a float; still an integer for JSON Schema).
pub(crate) const BIG_INTEGERS: Case = Case {
    id: "big_integers",
    name: "chat + big integers (u64, i64, beyond 64 bits)",
    schema: r#"{"type":"object","properties":{"text":{"type":"string","minLength":1,"maxLength":500},"user":{"type":"string","minLength":1,"maxLength":64},"seq":{"type":"integer","minimum":0},"balance":{"type":"integer","minimum":-9223372036854775808},"total":{"type":"integer","maximum":1e30}},"required":["text","user","seq","balance","total"],"additionalProperties":false}"#,
    valid: r#"{"text":"hello from the benchmark, a chat line of about a hundred bytes!","user":"bench-user-0001","seq":18446744073709551615,"balance":-9223372036854775808,"total":123456789012345678901234567890}"#,
    invalid: r#"{"text":"hello from the benchmark, a chat line of about a hundred bytes!","user":"bench-user-0001","seq":-1,"balance":0.5,"total":1234567890123456789012345678901234567890}"#,
};

/// Every extra case, in report order.
pub(crate) const EXTRA: [Case; 2] = [FORMATS, BIG_INTEGERS];

/// What the core's session does with a parsed message before a handler runs: the fast
/// `is_valid`, and only for a refused message the failures an envelope reports (at most
/// [`MAX_FIELD_ERRORS`](spikard::MAX_FIELD_ERRORS) + 1). Returns how many were collected.
pub(crate) fn check(schema: &spikard::CompiledSchema, value: &serde_json::Value) -> usize {
    if schema.is_valid(value) { 0 } else { schema.errors(value).take(spikard::MAX_FIELD_ERRORS + 1).count() }
}
