//! The server `task autobahn` runs Autobahn|Testsuite against: `/echo` is a raw-text route that
//! sends every message back as it came (text as text, binary as binary), with a 16 MiB limit so
//! the large-message cases (9.*) run, and permessage-deflate on for every message (threshold 0)
//! so the compression cases (12.*, 13.*) run.
//!
//! Binds `SPIKARD_ADDR` (default `127.0.0.1:0`) and prints `READY <port>` once listening.

use serde_json::Value;
use spikard::{
    App, Bytes, Compression, Connection, HandlerError, Reply, Route, WebSocketHandler, async_trait,
};

/// Largest message accepted: Autobahn's biggest case (9.1.6, 9.2.6) sends 16 MiB.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Echoes text (a string on a raw-text route, sent back verbatim) and binary messages.
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

#[tokio::main]
async fn main() -> Result<(), spikard::Error> {
    let mut app = App::new();
    app.max_message_size(MAX_MESSAGE)?;
    app.compression(Some(Compression { threshold: 0, ..Compression::default() }));
    app.route(Route::new("/echo", Echo).raw_text())?;
    let server = app.bind(std::env::var("SPIKARD_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into())).await?;
    println!("READY {}", server.local_addr().port());
    server.run_until_signal().await
}
