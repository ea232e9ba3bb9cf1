//! Native Rust Spikard servers used as "ours" in the benchmarks: `/echo` (JSON), `/raw` (raw
//! text), the validated `/chat` and the `/broadcast` room, on a single-threaded runtime (one
//! worker, like every peer). `SPIKARD_BENCH_COMPRESSION=1` turns permessage-deflate on (the
//! default threshold).

use serde_json::{Value, json};
use spikard::{
    App, Bytes, Compression, Connection, HandlerError, Rejection, Reply, Route, WebSocketHandler,
    async_trait, handler_fn,
};

/// The room every `/broadcast` connection joins.
pub(crate) const ROOM: &str = "bench";

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

    async fn handle_binary(&self, _conn: &Connection, data: Bytes) -> Result<Option<Reply>, HandlerError> {
        Ok(Some(Reply::Binary(data)))
    }
}

/// Joins [`ROOM`] on connect and publishes every message to everyone else in it (no reply).
struct Broadcast;

#[async_trait]
impl WebSocketHandler for Broadcast {
    async fn on_connect(&self, conn: &Connection) -> Result<(), Rejection> {
        conn.subscribe(ROOM);
        Ok(())
    }

    async fn handle_message(&self, conn: &Connection, message: Value) -> Result<Option<Value>, HandlerError> {
        conn.publish_others(ROOM, &message)?;
        Ok(None)
    }
}

/// The chat message schema shared by every benchmarked chat server (`bench/chat_schema.json`).
pub(crate) fn chat_schema() -> Value {
    serde_json::from_str(include_str!("../../../bench/chat_schema.json"))
        .expect("bench/chat_schema.json is JSON")
}

/// The app with the `/echo`, `/raw`, `/chat` and `/broadcast` routes; permessage-deflate on when
/// `SPIKARD_BENCH_COMPRESSION=1`.
pub(crate) fn app() -> Result<App, spikard::Error> {
    let mut app = App::new();
    if std::env::var("SPIKARD_BENCH_COMPRESSION").is_ok_and(|v| v == "1") {
        app.compression(Some(Compression::default()));
    }
    app.websocket("/echo", Echo)?;
    // A raw-text route hands the handler the text as a JSON string and sends it back verbatim.
    app.route(Route::new("/raw", Echo).raw_text())?;
    app.websocket("/broadcast", Broadcast)?;
    app.route(
        Route::new(
            "/chat",
            handler_fn(|_c: Connection, m: Value| async move {
                Ok::<_, HandlerError>(Some(json!({"echo": m["text"], "from": m["user"]})))
            }),
        )
        .message_schema(chat_schema()),
    )?;
    Ok(app)
}

/// Serve echo, raw, chat and broadcast on `host:port`; prints `READY <port>` once bound.
pub(crate) fn run(host: &str, port: u16) -> Result<(), spikard::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| spikard::Error::InvalidConfig(format!("tokio runtime: {e}")))?;
    runtime.block_on(async {
        let server = app()?.bind(format!("{host}:{port}")).await?;
        println!("READY {}", server.local_addr().port());
        server.run_until_signal().await
    })
}
