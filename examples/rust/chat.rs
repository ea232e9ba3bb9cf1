//! Chat server: messages are validated against a schema in the core, every connected client
//! receives every message, and clients are told when someone joins or leaves.
//!
//! `cargo run -p spikard --example chat` then connect to ws://127.0.0.1:8000/chat?user=alice
//! and send `{"text": "hello"}`.

use std::sync::Mutex;

use serde_json::{Value, json};
use spikard::{App, CloseInfo, Connection, HandlerError, Rejection, Route, WebSocketHandler, async_trait};

/// Everyone connected to the chat.
#[derive(Default)]
struct Chat {
    members: Mutex<Vec<Connection>>,
}

impl Chat {
    fn broadcast(&self, message: &Value) {
        for member in self.members.lock().unwrap().iter() {
            // A member whose queue is full is closed by the core (1013); the others go on.
            let _ = member.send_json(message);
        }
    }
}

fn user(conn: &Connection) -> String {
    conn.query_param("user").unwrap_or("anonymous").to_owned()
}

#[async_trait]
impl WebSocketHandler for Chat {
    async fn on_connect(&self, conn: &Connection) -> Result<(), Rejection> {
        self.broadcast(&json!({"type": "join", "user": user(conn)}));
        self.members.lock().unwrap().push(conn.clone());
        Ok(())
    }

    async fn handle_message(&self, conn: &Connection, message: Value) -> Result<Option<Value>, HandlerError> {
        self.broadcast(&json!({"type": "message", "user": user(conn), "text": message["text"]}));
        Ok(None)
    }

    async fn on_disconnect(&self, conn: &Connection, _close: CloseInfo) {
        self.members.lock().unwrap().retain(|m| m.id() != conn.id());
        self.broadcast(&json!({"type": "leave", "user": user(conn)}));
    }
}

#[tokio::main]
async fn main() -> Result<(), spikard::Error> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let schema = json!({
        "type": "object",
        "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 500}},
        "required": ["text"],
        "additionalProperties": false
    });
    let mut app = App::new();
    app.route(Route::new("/chat", Chat::default()).message_schema(schema))?;
    app.serve(std::env::var("SPIKARD_ADDR").unwrap_or_else(|_| "127.0.0.1:8000".into())).await
}
