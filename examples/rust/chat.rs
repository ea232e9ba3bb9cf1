//! Chat rooms: `/rooms/{room}?user=NAME`, messages validated in the core, fanned out to the
//! room by the core's topics (`room:NAME`, whose schema `room:*` says what members receive:
//! join and leave notices and messages), and the browser page of `examples/chat/` served on `/`.
//! The route never replies directly (response schema `false`): everything a member receives
//! comes from the room's topic. `/chat` dispatches by message type (`"type"`): `join`
//! (`{"user"}`, reply `{"joined": user}`), `say` (`{"text", "user"}`, reply `{"echo", "from"}`,
//! the design document's route) and `leave` (reply `{"left": true}`); a message with an `id` gets
//! it back in its reply.
//!
//! `cargo run -p spikard --example chat` (port from `PORT`, default 8000), then open the printed
//! address in a browser. `cargo run -p spikard --example chat -- asyncapi` prints the app's
//! AsyncAPI document instead (`fixtures/asyncapi/chat.json`).

use serde_json::{Value, json};
use spikard::{
    App, Branch, CloseInfo, Connection, HandlerError, Rejection, Route, WebSocketHandler, async_trait,
    handler_fn,
};

/// One chat room per path parameter `room`.
struct Rooms;

/// The user (`?user=`, default `anonymous`), the room (the path's `{room}`) and the room's topic.
fn names(ws: &Connection) -> (&str, &str, String) {
    let room = ws.path_param("room").unwrap_or("lobby");
    (ws.query_param("user").unwrap_or("anonymous"), room, format!("room:{room}"))
}

#[async_trait]
impl WebSocketHandler for Rooms {
    async fn on_connect(&self, ws: &Connection) -> Result<(), Rejection> {
        let (user, room, topic) = names(ws);
        ws.subscribe(&topic);
        let join = json!({"type": "join", "user": user, "room": room, "members": ws.topic_count(&topic)});
        ws.publish(&topic, &join).map_err(|e| Rejection::forbidden(e.to_string()))?;
        Ok(())
    }

    async fn handle_message(&self, ws: &Connection, message: Value) -> Result<Option<Value>, HandlerError> {
        let (user, room, topic) = names(ws);
        ws.publish(&topic, &json!({"type": "message", "user": user, "room": room, "text": message["text"]}))?;
        Ok(None)
    }

    async fn on_disconnect(&self, ws: &Connection, _close: CloseInfo) {
        let (user, room, topic) = names(ws);
        let leave = json!({"type": "leave", "user": user, "room": room, "members": ws.topic_count(&topic)});
        // The notice matches the topic's schema, so this cannot fail.
        let _ = ws.publish(&topic, &leave);
    }
}

/// What is published to a room's topic: a join or leave notice, or a member's message.
fn room_event_schema() -> Value {
    json!({
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "type": {"enum": ["join", "leave"]},
                    "user": {"type": "string"},
                    "room": {"type": "string"},
                    "members": {"type": "integer", "minimum": 0}
                },
                "required": ["type", "user", "room", "members"],
                "additionalProperties": false
            },
            {
                "type": "object",
                "properties": {
                    "type": {"const": "message"},
                    "user": {"type": "string"},
                    "room": {"type": "string"},
                    "text": {"type": "string"}
                },
                "required": ["type", "user", "room", "text"],
                "additionalProperties": false
            }
        ]
    })
}

fn main() -> Result<(), spikard::Error> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
    let mut app = App::new();
    // What every member of a room receives: the same schema in every language's chat example.
    app.topic_schema("room:*", room_event_schema())?;
    app.route(
        Route::new("/rooms/{room}", Rooms)
            .message_schema(json!({
                "type": "object",
                "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 500}},
                "required": ["text"],
                "additionalProperties": false
            }))
            .response_schema(json!(false)),
    )?;
    app.route(
        Route::dispatch("/chat")
            .description("A chat without rooms: join, say something, leave.")
            .branch(
                Branch::new(
                    "join",
                    handler_fn(|_ws: Connection, m: Value| async move {
                        Ok::<_, HandlerError>(Some(json!({"joined": m["user"]})))
                    }),
                )
                .message_schema(json!({
                    "type": "object",
                    "properties": {"user": {"type": "string", "minLength": 1}},
                    "required": ["user"]
                }))
                .reply_schema(json!({"type": "object", "required": ["joined"]}))
                .description("Join the chat as `user`."),
            )
            .branch(
                Branch::new(
                    "say",
                    handler_fn(|_ws: Connection, m: Value| async move {
                        Ok::<_, HandlerError>(Some(json!({"echo": m["text"], "from": m["user"]})))
                    }),
                )
                .message_schema(json!({
                    "type": "object",
                    "properties": {"text": {"type": "string"}, "user": {"type": "string"}},
                    "required": ["text", "user"]
                }))
                .reply_schema(json!({"type": "object", "required": ["echo", "from"]}))
                .description("Say `text` as `user`; the reply echoes it."),
            )
            .branch(
                Branch::new(
                    "leave",
                    handler_fn(|_ws: Connection, _m: Value| async move {
                        Ok::<_, HandlerError>(Some(json!({"left": true})))
                    }),
                )
                .message_schema(json!({"type": "object"}))
                .description("Leave the chat."),
            ),
    )?;
    let info = json!({"title": "Spikard chat", "version": "1.0.0"});
    if std::env::args().nth(1).as_deref() == Some("asyncapi") {
        println!("{:#}", app.asyncapi(info));
        return Ok(());
    }
    app.serve_asyncapi("/asyncapi.json", info)?;
    app.static_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/chat"));
    let runtime = tokio::runtime::Runtime::new().map_err(spikard::Error::Serve)?;
    runtime.block_on(async {
        let server = app.bind(format!("127.0.0.1:{port}")).await?;
        println!("Spikard chat: open http://{}/ in a browser", server.local_addr());
        server.run_until_signal().await
    })
}
