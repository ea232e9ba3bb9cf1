//! Echo server: every JSON message comes back unchanged.
//!
//! `cargo run -p spikard --example echo` then connect to ws://127.0.0.1:8000/echo.

use serde_json::Value;
use spikard::{App, Connection, HandlerError, handler_fn};

#[tokio::main]
async fn main() -> Result<(), spikard::Error> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let mut app = App::new();
    app.websocket(
        "/echo",
        handler_fn(|_conn: Connection, message: Value| async move { Ok::<_, HandlerError>(Some(message)) }),
    )?;
    app.serve(std::env::var("SPIKARD_ADDR").unwrap_or_else(|_| "127.0.0.1:8000".into())).await
}
