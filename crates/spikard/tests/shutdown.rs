//! Graceful shutdown is bounded in every state a connection can be in: a request head still
//! arriving, an `on_connect` that never decides, a handler that never returns.

use std::{
    future::pending,
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use spikard::{
    App, Connection, HandlerError, Rejection, WebSocketHandler, async_trait, handler_fn,
    testing::{ClientError, Received, TestServer},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::Notify,
};

fn echo() -> impl WebSocketHandler {
    handler_fn(|_c: Connection, m: Value| async move { Ok::<_, HandlerError>(Some(m)) })
}

/// Shut `server` down and return how long it took; fails after `limit`.
async fn timed_shutdown(server: TestServer, limit: Duration) -> Duration {
    let started = Instant::now();
    tokio::time::timeout(limit, server.shutdown())
        .await
        .unwrap_or_else(|_| panic!("shutdown took longer than {limit:?}"))
        .unwrap();
    started.elapsed()
}

/// Read until the server closes the socket; fails if it stays open for `limit`.
async fn expect_closed(socket: &mut TcpStream, limit: Duration) {
    let mut buf = [0_u8; 1024];
    let read_to_end = async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_to_end).await.expect("the server kept the socket open");
}

#[tokio::test]
async fn a_half_sent_request_does_not_hold_up_shutdown() {
    let mut app = App::new();
    app.drain_timeout(Duration::from_secs(30));
    app.websocket("/echo", echo()).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let mut half = TcpStream::connect(server.addr()).await.unwrap();
    half.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    // Connections are accepted in order: once a later one is served, the half-sent one is held
    // by the server.
    let mut client = server.connect("/echo").await.unwrap();
    client.send_json(&json!(1)).await.unwrap();
    assert_eq!(client.receive_json().await.unwrap(), json!(1));
    let took = timed_shutdown(server, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(4), "shutdown took {took:?}");
    expect_closed(&mut half, Duration::from_secs(1)).await;
}

/// Never decides in `on_connect`; tells the test when it has started.
struct StuckOnConnect(Arc<Notify>);

#[async_trait]
impl WebSocketHandler for StuckOnConnect {
    async fn on_connect(&self, _conn: &Connection) -> Result<(), Rejection> {
        self.0.notify_one();
        pending().await
    }

    async fn handle_message(&self, _c: &Connection, m: Value) -> Result<Option<Value>, HandlerError> {
        Ok(Some(m))
    }
}

#[tokio::test]
async fn an_on_connect_that_never_returns_is_dropped_at_the_drain_timeout() {
    let entered = Arc::new(Notify::new());
    let mut app = App::new();
    app.drain_timeout(Duration::from_millis(300));
    app.websocket("/stuck", StuckOnConnect(Arc::clone(&entered))).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let url = server.url("/stuck");
    let client = tokio::spawn(async move { spikard::testing::TestClient::connect(&url, &[]).await });
    entered.notified().await;
    let took = timed_shutdown(server, Duration::from_secs(5)).await;
    assert!(took < Duration::from_millis(300 + 1500), "shutdown took {took:?}");
    let outcome = tokio::time::timeout(Duration::from_secs(2), client).await.expect("client still waiting");
    assert!(outcome.unwrap().is_err(), "the upgrade succeeded");
}

#[tokio::test]
async fn a_handler_that_never_returns_is_dropped_at_the_drain_timeout() {
    let entered = Arc::new(Notify::new());
    let signal = Arc::clone(&entered);
    let mut app = App::new();
    app.drain_timeout(Duration::from_millis(300));
    app.websocket(
        "/stuck",
        handler_fn(move |_c: Connection, _m: Value| {
            let signal = Arc::clone(&signal);
            async move {
                signal.notify_one();
                pending::<Result<Option<Value>, HandlerError>>().await
            }
        }),
    )
    .unwrap();
    let server = TestServer::start(app).await.unwrap();
    let mut client = server.connect("/stuck").await.unwrap();
    client.send_json(&json!("hang")).await.unwrap();
    entered.notified().await;
    let took = timed_shutdown(server, Duration::from_secs(5)).await;
    assert!(took < Duration::from_millis(300 + 1500), "shutdown took {took:?}");
    // The close frame (1001) went out when shutdown started; once the drain timeout dropped the
    // session, the socket is closed too.
    assert_eq!(client.receive().await.unwrap(), Received::Close(Some((1001, "server shutting down".into()))));
    match client.receive().await {
        Ok(Received::Ended) => {}
        Err(ClientError::Timeout) => panic!("the server kept the socket of a stuck handler open"),
        other => panic!("expected the socket to end, got {other:?}"),
    }
}
