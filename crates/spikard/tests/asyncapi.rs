//! The AsyncAPI document ([`App::asyncapi`], `bridge::asyncapi_json`) validates against the
//! official AsyncAPI 3.0.0 JSON Schema, vendored in `tests/asyncapi/` (from the npm package
//! `@asyncapi/specs` 6.11.1, `schemas/3.0.0.json`, Apache-2.0: see `tests/asyncapi/LICENSE`).

use std::{path::Path, sync::OnceLock};

use serde_json::{Value, json};
use spikard::{App, Branch, Connection, HandlerError, Route, bridge, handler_fn};

/// The official schema, compiled once (it is 400 KB).
fn official_schema() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/asyncapi/asyncapi-3.0.0.schema.json");
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        jsonschema::validator_for(&schema).unwrap()
    })
}

fn assert_valid(doc: &Value) {
    let validator = official_schema();
    let errors: Vec<String> =
        validator.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).take(10).collect();
    assert!(errors.is_empty(), "not a valid AsyncAPI 3.0.0 document: {errors:#?}\n{doc:#}");
}

fn echo() -> impl spikard::WebSocketHandler {
    handler_fn(|_c: Connection, m: Value| async move { Ok::<_, HandlerError>(Some(m)) })
}

fn chat_app() -> App {
    let mut app = App::new();
    app.route(
        Route::dispatch("/chat")
            .description("The chat room.")
            .on("join", json!({"type": "object", "required": ["user"]}), echo())
            .branch(
                Branch::new("say", echo())
                    .message_schema(json!({
                        "type": "object",
                        "required": ["text"],
                        "properties": {"text": {"type": "string", "maxLength": 500}}
                    }))
                    .reply_schema(json!({"type": "object", "required": ["echo"]}))
                    .description("Say something."),
            )
            .branch(Branch::new("leave", echo())),
    )
    .unwrap();
    app.route(
        Route::new("/rooms/{room}", echo())
            .message_schema(json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "prefixItems": [{"type": "string"}]}))
            .response_schema(json!({"type": "object"})),
    )
    .unwrap();
    app.route(Route::new("/raw", echo()).raw_text()).unwrap();
    app.route(Route::new("/files/{*rest}", echo())).unwrap();
    app.topic_schema("room:*", json!({"type": "object", "required": ["text"]})).unwrap();
    app.topic_schema("news", json!({"type": "object"})).unwrap();
    app
}

#[test]
fn the_official_schema_refuses_a_broken_document() {
    let validator = official_schema();
    assert!(!validator.is_valid(&json!({"asyncapi": "3.0.0", "info": {"title": "x"}})));
    let info = json!({"title": "x", "version": "1"});
    assert!(validator.is_valid(&json!({"asyncapi": "3.0.0", "info": info})));
    assert!(
        !validator
            .is_valid(&json!({"asyncapi": "3.0.0", "info": info, "operations": {"o": {"action": "listen"}}}))
    );
    // The definitions are resolved (they carry their own `$id`s): an unknown channel field fails.
    assert!(
        !validator.is_valid(&json!({"asyncapi": "3.0.0", "info": info, "channels": {"c": {"bogus": 1}}}))
    );
}

#[test]
fn the_document_of_a_dispatching_app_is_valid_asyncapi_3() {
    let doc = chat_app().asyncapi(json!({"title": "Chat", "version": "1.2.0", "description": "A chat."}));
    assert_valid(&doc);
    assert_eq!(doc["info"]["title"], "Chat");
    let chat = &doc["channels"]["chat"];
    assert_eq!(chat["address"], "/chat");
    assert_eq!(chat["description"], "The chat room.");
    assert_eq!(chat["messages"]["say"]["description"], "Say something.");
    assert_eq!(chat["messages"]["say"]["payload"]["allOf"][0]["properties"]["type"]["const"], "say");
    assert_eq!(chat["messages"]["say_reply"]["payload"], json!({"type": "object", "required": ["echo"]}));
    assert_eq!(chat["messages"]["error"]["$ref"], "#/components/messages/error");
    let say = &doc["operations"]["chat.say"];
    assert_eq!(say["action"], "receive");
    assert_eq!(say["messages"], json!([{"$ref": "#/channels/chat/messages/say"}]));
    assert_eq!(
        say["reply"]["messages"],
        json!([{"$ref": "#/channels/chat/messages/say_reply"}, {"$ref": "#/channels/chat/messages/error"}])
    );
    // Registration order is kept.
    let ops: Vec<&String> = doc["operations"].as_object().unwrap().keys().collect();
    assert_eq!(&ops[..3], ["chat.join", "chat.say", "chat.leave"]);
    let rooms = &doc["channels"]["rooms_room"];
    assert_eq!(rooms["address"], "/rooms/{room}");
    assert!(rooms["parameters"]["room"].is_object());
    assert_eq!(doc["channels"]["files_rest"]["address"], "/files/{rest}");
    assert_eq!(doc["channels"]["raw"]["messages"]["message"]["contentType"], "text/plain");
    assert_eq!(doc["components"]["messages"]["topic_room_"]["x-spikard-topic"], "room:*");
    assert_eq!(doc["operations"]["chat.topics"]["action"], "send");
    assert_eq!(doc["components"]["messages"]["error"]["payload"]["properties"]["errors"]["maxItems"], 16);
}

#[test]
fn a_reply_schema_false_leaves_the_reply_out_and_keeps_the_error() {
    // `false`: the handler never replies, so a client generated from the document should not
    // expect a reply that cannot come.
    let mut app = App::new();
    app.route(Route::new("/feed", echo()).response_schema(json!(false))).unwrap();
    app.route(
        Route::dispatch("/game")
            .branch(Branch::new("move", echo()).reply_schema(json!(false)))
            .branch(Branch::new("look", echo()).reply_schema(json!(true))),
    )
    .unwrap();
    let doc = app.asyncapi(json!({}));
    assert_valid(&doc);
    let keys = |channel: &str| -> Vec<String> {
        doc["channels"][channel]["messages"].as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(keys("feed"), ["message", "error"]);
    assert_eq!(keys("game"), ["move", "look", "look_reply", "error"]);
    assert_eq!(
        doc["operations"]["feed.message"]["reply"]["messages"],
        json!([{"$ref": "#/channels/feed/messages/error"}])
    );
    assert_eq!(
        doc["operations"]["game.move"]["reply"]["messages"],
        json!([{"$ref": "#/channels/game/messages/error"}])
    );
    assert_eq!(
        doc["operations"]["game.look"]["reply"]["messages"],
        json!([{"$ref": "#/channels/game/messages/look_reply"}, {"$ref": "#/channels/game/messages/error"}])
    );
}

#[test]
fn boolean_payload_schemas_are_written_as_the_objects_they_equal() {
    // The official schema refuses `true` and `false` as a message's payload.
    let mut app = App::new();
    app.route(Route::new("/closed", echo()).message_schema(json!(false)).response_schema(json!(true)))
        .unwrap();
    app.topic_schema("any", json!(true)).unwrap();
    let doc = app.asyncapi(json!({}));
    assert_valid(&doc);
    assert_eq!(doc["channels"]["closed"]["messages"]["message"]["payload"], json!({"not": {}}));
    assert_eq!(doc["channels"]["closed"]["messages"]["reply"]["payload"], json!({}));
    assert_eq!(doc["components"]["messages"]["topic_any"]["payload"], json!({}));
}

#[test]
fn an_empty_app_and_defaults_are_valid() {
    let doc = App::new().asyncapi(Value::Null);
    assert_valid(&doc);
    assert_eq!(doc["info"], json!({"title": "Spikard app", "version": "0.0.0"}));
}

#[test]
fn the_bridge_gives_the_same_document_from_the_routes_a_host_passes() {
    let routes = json!([
        {
            "path": "/chat",
            "description": "The chat room.",
            "dispatch": {"branches": {
                "join": {"message_schema": {"type": "object", "required": ["user"]}},
                "say": {
                    "message_schema": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "maxLength": 500}}},
                    "reply_schema": {"type": "object", "required": ["echo"]},
                    "description": "Say something."
                },
                "leave": null
            }},
            "on_connect": true
        },
        {
            "path": "/rooms/{room}",
            "message_schema": {"$schema": "https://json-schema.org/draft/2020-12/schema", "prefixItems": [{"type": "string"}]},
            "response_schema": {"type": "object"}
        },
        {"path": "/raw", "raw_text": true},
        {"path": "/files/{*rest}"}
    ]);
    let options = json!({"topics": [["room:*", {"type": "object", "required": ["text"]}], ["news", {"type": "object"}]]});
    let info = json!({"title": "Chat", "version": "1.2.0", "description": "A chat."});
    let text = bridge::asyncapi_json(&routes, &options, info.clone()).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_valid(&doc);
    assert_eq!(doc, chat_app().asyncapi(info));
}

#[test]
fn the_bridge_refuses_what_registration_refuses() {
    let bad = json!([{"path": "/a", "dispatch": {"branches": {"x": {"message_schema": {"type": 5}}}}}]);
    let failure = bridge::asyncapi_json(&bad, &Value::Null, json!({})).unwrap_err();
    assert_eq!(failure.code, bridge::Code::SchemaCompile);
    let empty = json!([{"path": "/a", "dispatch": {"branches": {}}}]);
    assert_eq!(
        bridge::asyncapi_json(&empty, &Value::Null, json!({})).unwrap_err().code,
        bridge::Code::InvalidConfig
    );
}

/// One HTTP/1.1 request over a fresh socket; the whole response as text.
async fn http(server: &spikard::testing::TestServer, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn serve_asyncapi_answers_get_and_head_with_the_document_and_the_routes_still_upgrade() {
    let info = json!({"title": "Chat", "version": "1.2.0"});
    let mut app = chat_app();
    app.serve_asyncapi("/asyncapi.json", info.clone()).unwrap();
    let expected = app.asyncapi(info.clone());
    let server = spikard::testing::TestServer::start(app).await.unwrap();
    assert_eq!(server.handle().asyncapi(info), expected, "the running server describes its app");

    let response = http(&server, "GET /asyncapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
    assert_eq!(serde_json::from_str::<Value>(body).unwrap(), expected);

    let response =
        http(&server, "HEAD /asyncapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("\r\n\r\n"), "HEAD has no body: {response}");

    let response = http(
        &server,
        "POST /asyncapi.json HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 404"), "only GET and HEAD are served: {response}");
    let response = http(&server, "GET /asyncapi.yaml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");

    let mut client = server.connect("/raw").await.unwrap();
    client.send_text("still a WebSocket").await.unwrap();
    match client.receive().await.unwrap() {
        spikard::testing::Received::Text(text) => assert_eq!(text, "still a WebSocket"),
        other => panic!("expected the echo, got {other:?}"),
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn serve_asyncapi_is_off_by_default_and_refuses_a_bad_or_taken_path() {
    let server = spikard::testing::TestServer::start(chat_app()).await.unwrap();
    let response = http(&server, "GET /asyncapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    server.shutdown().await.unwrap();

    assert!(matches!(
        App::new().serve_asyncapi("asyncapi.json", json!({})),
        Err(spikard::Error::InvalidConfig(_))
    ));
    let mut app = chat_app();
    app.serve_asyncapi("/raw", json!({})).unwrap();
    match spikard::testing::TestServer::start(app).await {
        Err(err) => assert!(err.to_string().contains("/raw"), "{err}"),
        Ok(_) => panic!("a document on a WebSocket route's path must be refused"),
    }
}

#[test]
fn the_asyncapi_app_option_is_read_by_the_bridge() {
    let options =
        bridge::AppOptions::from_json(&json!({"asyncapi": {"path": "/doc", "info": {"title": "T"}}}))
            .unwrap();
    assert_eq!(options.asyncapi, Some(("/doc".to_owned(), json!({"title": "T"}))));
    for bad in [
        json!({"asyncapi": {}}),
        json!({"asyncapi": {"path": "/d", "info": 1}}),
        json!({"asyncapi": {"path": "/d", "x": 1}}),
    ] {
        let failure = bridge::AppOptions::from_json(&bad).unwrap_err();
        assert_eq!(failure.code, bridge::Code::InvalidConfig, "{bad}");
    }
    let mut app = App::new();
    let refused =
        bridge::AppOptions::from_json(&json!({"asyncapi": {"path": "doc"}})).unwrap().apply(&mut app);
    assert_eq!(refused.unwrap_err().code, bridge::Code::InvalidConfig);
}

#[test]
fn the_chat_examples_document_is_valid_asyncapi_3() {
    // fixtures/asyncapi/chat.json is what every language's chat example must produce.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/asyncapi/chat.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_valid(&doc);
    assert_eq!(doc["operations"]["chat.say"]["action"], "receive");
}

/// Every `$ref` in `value`, as written.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("$ref", Value::String(target)) => out.push(target.clone()),
                    _ => refs(item, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
        _ => {}
    }
}

#[test]
fn schemas_with_their_own_definitions_are_embedded_with_references_that_resolve() {
    // What msgspec and pydantic generate for nested types: a root `$ref` into `$defs`.
    let point = |kind: &str| json!({"type": "object", "properties": {"x": {"type": kind}}});
    let moved = json!({
        "$ref": "#/$defs/Move",
        "$defs": {
            "Move": {"type": "object", "properties": {"to": {"$ref": "#/$defs/Point"}}},
            "Point": point("integer")
        }
    });
    let other = json!({
        "type": "object",
        "properties": {"at": {"$ref": "#/definitions/Point"}, "again": {"$ref": "#/definitions/Point/properties/x"}},
        "definitions": {"Point": point("number")}
    });
    let same = json!({"$ref": "#/$defs/Point", "$defs": {"Point": point("integer")}});
    let mut app = App::new();
    app.route(
        Route::dispatch("/game")
            .branch(Branch::new("move", echo()).message_schema(moved).reply_schema(same.clone()))
            .branch(Branch::new("look", echo()).message_schema(other)),
    )
    .unwrap();
    app.route(Route::new("/plain", echo()).message_schema(same)).unwrap();
    let doc = app.asyncapi(json!({}));
    assert_valid(&doc);

    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["Point"], point("integer"), "one Point for both identical definitions");
    assert_eq!(schemas["Point_2"], point("number"), "a different Point gets its own key");
    assert_eq!(schemas["Move"]["properties"]["to"]["$ref"], "#/components/schemas/Point");
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.iter().any(|r| r == "#/components/schemas/Point_2/properties/x"), "{all:?}");
    for target in &all {
        let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("external reference {target}"));
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve in the document");
        assert!(!target.contains("$defs") && !target.contains("definitions"), "{target}");
    }
}
