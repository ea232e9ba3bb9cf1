//! What the server checks before a connection is upgraded: the handshake timeout, the size of
//! the request head and of each header, the `Sec-WebSocket-Key`, the `Origin` allowlist and the
//! connection limit. Raw sockets where a real client cannot misbehave enough, a real client for
//! the rest.

use std::{
    future::pending,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use spikard::{
    App, CloseInfo, Connection, HandlerError, Rejection, WebSocketHandler, async_trait, handler_fn,
    testing::{ClientError, TestClient, TestServer},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::Notify,
};

fn echo() -> impl WebSocketHandler {
    handler_fn(|_c: Connection, m: Value| async move { Ok::<_, HandlerError>(Some(m)) })
}

async fn serve(configure: impl FnOnce(&mut App)) -> TestServer {
    let mut app = App::new();
    configure(&mut app);
    app.websocket("/echo", echo()).unwrap();
    TestServer::start(app).await.unwrap()
}

/// A complete upgrade request for `/echo` with these extra header lines.
fn upgrade_request(extra: &str) -> String {
    format!(
        "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
}

/// Send `bytes` on a fresh socket and read what the server answers until it closes the socket
/// (fails if it stays open for 3 s).
async fn exchange(server: &TestServer, bytes: &[u8]) -> String {
    let mut socket = TcpStream::connect(server.addr()).await.unwrap();
    // The server may answer and close before reading all of an oversized request.
    let _ = socket.write_all(bytes).await;
    read_until_closed(&mut socket, Duration::from_secs(3)).await
}

async fn read_until_closed(socket: &mut TcpStream, limit: Duration) -> String {
    let mut got = Vec::new();
    let mut buf = [0_u8; 4096];
    let read = async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read).await.expect("the server kept the socket open");
    String::from_utf8_lossy(&got).into_owned()
}

fn status(response: &str) -> &str {
    response.split(' ').nth(1).unwrap_or("")
}

/// A refusal of a request the server stopped reading early: the answer is `expected`, or the
/// connection was reset before the client could read it (unread bytes make the kernel reset
/// it); never an upgrade, and the socket is closed either way.
fn assert_refused_early(response: &str, expected: &str) {
    assert!(response.is_empty() || status(response) == expected, "{response}");
}

#[tokio::test]
async fn silent_and_partial_handshakes_are_closed_at_the_handshake_timeout() {
    let server = serve(|app| {
        app.handshake_timeout(Duration::from_millis(300)).unwrap();
    })
    .await;
    for sent in [&b""[..], b"GET", b"GET /echo HTTP/1.1\r\nHost: x\r\n"] {
        let started = Instant::now();
        let mut socket = TcpStream::connect(server.addr()).await.unwrap();
        socket.write_all(sent).await.unwrap();
        read_until_closed(&mut socket, Duration::from_secs(3)).await;
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(250), "{sent:?}: closed after {took:?}");
    }
    // A complete request within the timeout still upgrades.
    let mut client = server.connect("/echo").await.unwrap();
    client.send_json(&json!("ok")).await.unwrap();
    assert_eq!(client.receive_json().await.unwrap(), json!("ok"));
    client.close(1000, "").await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_handshake_timeout_of_zero_is_refused() {
    assert_eq!(App::new().handshake_timeout(Duration::ZERO).unwrap_err().code(), "invalid_config");
    assert_eq!(App::new().max_request_head(100).unwrap_err().code(), "invalid_config");
    assert_eq!(App::new().max_header_size(100).unwrap_err().code(), "invalid_config");
    assert_eq!(App::new().max_connections(0).unwrap_err().code(), "invalid_config");
}

#[tokio::test]
async fn an_on_connect_slower_than_the_handshake_timeout_gets_503() {
    struct Slow;
    #[async_trait]
    impl WebSocketHandler for Slow {
        async fn on_connect(&self, _conn: &Connection) -> Result<(), Rejection> {
            pending().await
        }
        async fn handle_message(&self, _c: &Connection, m: Value) -> Result<Option<Value>, HandlerError> {
            Ok(Some(m))
        }
    }
    let mut app = App::new();
    app.handshake_timeout(Duration::from_millis(300)).unwrap();
    app.websocket("/slow", Slow).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let url = server.url("/slow");
    let refused = tokio::time::timeout(Duration::from_secs(5), TestClient::connect(&url, &[]));
    match refused.await.expect("on_connect was not cut short") {
        Err(ClientError::Rejected(503)) => {}
        other => panic!("expected 503, got {other:?}"),
    }
    assert_eq!(server.handle().metrics().handshakes_refused, 1);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_400_kb_header_is_refused_with_431() {
    let server = serve(|_| {}).await;
    let big = format!("Cookie: {}\r\n", "a".repeat(400 * 1024));
    let response = exchange(&server, upgrade_request(&big).as_bytes()).await;
    assert_refused_early(&response, "431");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn one_header_over_its_limit_is_refused_even_when_the_head_fits() {
    let server = serve(|app| {
        app.max_request_head(64 * 1024).unwrap();
    })
    .await;
    let over = format!("X-Big: {}\r\n", "a".repeat(spikard::DEFAULT_MAX_HEADER_SIZE));
    let response = exchange(&server, upgrade_request(&over).as_bytes()).await;
    assert_eq!(status(&response), "431", "{response}");
    assert!(response.contains("connection_rejected"), "{response}");
    // Several headers that each fit, together more than the default head: accepted here.
    let many: String = (0..4).map(|i| format!("X-Part-{i}: {}\r\n", "b".repeat(6 * 1024))).collect();
    let mut socket = TcpStream::connect(server.addr()).await.unwrap();
    socket.write_all(upgrade_request(&many).as_bytes()).await.unwrap();
    let mut head = [0_u8; 12];
    socket.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
    drop(socket);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_head_over_max_request_head_is_refused_with_431() {
    let server = serve(|_| {}).await;
    let many: String = (0..3).map(|i| format!("X-Part-{i}: {}\r\n", "b".repeat(6 * 1024))).collect();
    let response = exchange(&server, upgrade_request(&many).as_bytes()).await;
    assert_refused_early(&response, "431");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_malformed_sec_websocket_key_gets_400() {
    let server = serve(|_| {}).await;
    for key in ["short", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZXh4eHg="] {
        match TestClient::connect(&server.url("/echo"), &[("Sec-WebSocket-Key", key)]).await {
            Err(ClientError::Rejected(400)) => {}
            other => panic!("key {key:?}: expected 400, got {other:?}"),
        }
    }
    let mut client = server.connect("/echo").await.unwrap();
    client.send_json(&json!(1)).await.unwrap();
    assert_eq!(client.receive_json().await.unwrap(), json!(1));
    assert_eq!(server.handle().metrics().handshakes_refused, 3);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_origin_allowlist_refuses_missing_and_unlisted_origins_with_403() {
    let server = serve(|app| {
        app.allowed_origins(["https://chat.example.com"]).unwrap();
    })
    .await;
    let url = server.url("/echo");
    for headers in [&[][..], &[("Origin", "https://evil.example.com")], &[("Origin", "null")]] {
        match TestClient::connect(&url, headers).await {
            Err(ClientError::Rejected(403)) => {}
            other => panic!("{headers:?}: expected 403, got {other:?}"),
        }
    }
    let mut client = TestClient::connect(&url, &[("Origin", "https://CHAT.example.com")]).await.unwrap();
    client.send_json(&json!("in")).await.unwrap();
    assert_eq!(client.receive_json().await.unwrap(), json!("in"));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_an_allowlist_any_origin_connects() {
    let server = serve(|_| {}).await;
    TestClient::connect(&server.url("/echo"), &[("Origin", "https://anywhere.example")]).await.unwrap();
    server.connect("/echo").await.unwrap();
    server.shutdown().await.unwrap();
}

/// Counts ended connections.
#[derive(Default)]
struct Ends {
    count: Mutex<usize>,
    changed: Notify,
}

#[async_trait]
impl WebSocketHandler for Ends {
    async fn handle_message(&self, _c: &Connection, m: Value) -> Result<Option<Value>, HandlerError> {
        Ok(Some(m))
    }

    async fn on_disconnect(&self, _c: &Connection, _close: CloseInfo) {
        *self.count.lock().unwrap() += 1;
        self.changed.notify_waiters();
    }
}

#[tokio::test]
async fn past_max_connections_an_upgrade_gets_503_until_a_slot_frees() {
    let ends = Arc::new(Ends::default());
    let mut app = App::new();
    app.max_connections(2).unwrap();
    app.websocket("/r", Arc::clone(&ends)).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let mut first = server.connect("/r").await.unwrap();
    let second = server.connect("/r").await.unwrap();
    match server.connect("/r").await {
        Err(ClientError::Rejected(503)) => {}
        other => panic!("expected 503, got {other:?}"),
    }
    let changed = ends.changed.notified();
    first.close(1000, "").await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), changed).await.expect("on_disconnect did not run");
    let mut third = server.connect("/r").await.unwrap();
    third.send_json(&json!(3)).await.unwrap();
    assert_eq!(third.receive_json().await.unwrap(), json!(3));
    assert_eq!(server.handle().metrics().handshakes_refused, 1);
    drop((second, third));
    server.shutdown().await.unwrap();
}
