//! Native Rust Spikard servers used as "ours" in the benchmarks: `/echo` and the validated
//! `/chat`, on a single-threaded runtime (one worker, like every peer).

use serde_json::{Value, json};
use spikard::{
    App, BinaryReply, Bytes, Connection, HandlerError, Route, WebSocketHandler, async_trait, handler_fn,
};

/// Echoes text (as JSON) and binary messages.
struct Echo;

#[async_trait]
impl WebSocketHandler for Echo {
    async fn handle_message(
        &self,
        _conn: &Connection,
        message: Value,
    ) -> Result<Option<Value>, HandlerError> {
        Ok(Some(message))
    }

    fn accepts_binary(&self) -> bool {
        true
    }

    async fn handle_binary(
        &self,
        _conn: &Connection,
        data: Bytes,
    ) -> Result<Option<BinaryReply>, HandlerError> {
        Ok(Some(BinaryReply::Binary(data)))
    }
}

/// The chat message schema shared by every benchmarked chat server (`bench/chat_schema.json`).
pub(crate) fn chat_schema() -> Value {
    serde_json::from_str(include_str!("../../../bench/chat_schema.json"))
        .expect("bench/chat_schema.json is JSON")
}

/// Serve echo and chat on `host:port`; prints `READY <port>` once bound.
pub(crate) fn run(host: &str, port: u16) -> Result<(), spikard::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| spikard::Error::InvalidConfig(format!("tokio runtime: {e}")))?;
    runtime.block_on(async {
        let mut app = App::new();
        app.websocket("/echo", Echo)?;
        app.route(
            Route::new(
                "/chat",
                handler_fn(|_c: Connection, m: Value| async move {
                    Ok::<_, HandlerError>(Some(json!({"echo": m["text"], "from": m["user"]})))
                }),
            )
            .message_schema(chat_schema()),
        )?;
        let server = app.bind(format!("{host}:{port}")).await?;
        println!("READY {}", server.local_addr().port());
        server.run_until_signal().await
    })
}
