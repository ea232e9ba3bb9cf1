//! The JSON shown in `README.md` and `docs/protocol.md` is what the server really sends: each
//! ```json block there is compared with the envelope a real server answers to the input the text
//! describes, and the publish error text in `docs/protocol.md` with the one a fixture pins (every
//! language runs that fixture).

use serde_json::{Value, json};
use spikard::{App, Connection, HandlerError, Route, handler_fn, testing::TestServer};

/// The ```json blocks of a file under the repository root, parsed.
fn json_blocks(file: &str) -> Vec<Value> {
    let path = format!("{}/../../{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.split("```json\n")
        .skip(1)
        .map(|rest| {
            let block = rest.split("```").next().unwrap_or_default();
            serde_json::from_str(block).unwrap_or_else(|e| panic!("{file}: a json block does not parse: {e}"))
        })
        .collect()
}

/// The README's chat route: `text` and `user` required strings.
async fn answer(message: Value) -> Value {
    let chat = handler_fn(|_ws: Connection, m: Value| async move {
        Ok::<_, HandlerError>(Some(json!({"echo": m["text"], "from": m["user"]})))
    });
    let schema = json!({"type": "object", "required": ["text", "user"],
        "properties": {"text": {"type": "string"}, "user": {"type": "string"}}});
    let mut app = App::new();
    app.route(Route::new("/chat", chat).message_schema(schema)).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let mut client = server.connect("/chat").await.unwrap();
    client.send_json(&message).await.unwrap();
    let got = client.receive_json().await.unwrap();
    server.shutdown().await.unwrap();
    got
}

#[tokio::test]
async fn the_readme_envelope_is_the_answer_to_a_message_without_user() {
    let blocks = json_blocks("README.md");
    assert_eq!(blocks.len(), 1, "README.md: expected one json block");
    assert_eq!(answer(json!({"text": "hi"})).await, blocks[0]);
}

#[tokio::test]
async fn the_protocol_envelope_is_the_answer_to_a_wrong_text_and_no_user() {
    let blocks = json_blocks("docs/protocol.md");
    assert_eq!(blocks.len(), 1, "docs/protocol.md: expected one json block");
    assert_eq!(answer(json!({"text": 1})).await, blocks[0]);
}

#[tokio::test]
async fn the_protocol_publish_error_text_is_the_core_s_for_the_fixture_topic() {
    let root = format!("{}/../..", env!("CARGO_MANIFEST_DIR"));
    let protocol = std::fs::read_to_string(format!("{root}/docs/protocol.md")).unwrap();
    let shown = protocol.split("```text\n").nth(1).and_then(|rest| rest.split("\n```").next()).unwrap();
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/fixtures/websocket/rooms_topic_schema.json")).unwrap(),
    )
    .unwrap();
    let topic = &fixture["app"]["topics"][0];
    let mut app = App::new();
    app.topic_schema(topic["pattern"].as_str().unwrap(), topic["schema"].clone()).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let refused = server.handle().publish("news", &json!({"text": "far too long for news"})).unwrap_err();
    assert_eq!(refused.to_string(), shown);
    server.shutdown().await.unwrap();
}
