//! Server behaviour the shared fixtures cannot script: shutdown, push from outside a handler,
//! backpressure, registration errors, static files and counters.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};
use spikard::{
    App, CloseInfo, Connection, HandlerError, Route, SendError, WebSocketHandler, async_trait, handler_fn,
    testing::{ClientError, Received, TestClient, TestServer},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::mpsc,
};

fn echo() -> impl WebSocketHandler {
    handler_fn(|_c: Connection, m: Value| async move { Ok::<_, HandlerError>(Some(m)) })
}

/// Records every disconnect and hands out the connections it saw.
#[derive(Default)]
struct Recorder {
    closes: Mutex<Vec<u16>>,
    connected: Mutex<Vec<Connection>>,
    closed: tokio::sync::Notify,
}

impl Recorder {
    /// Wait until `n` connections have ended.
    async fn wait_closes(&self, n: usize) {
        let wait = async {
            loop {
                let changed = self.closed.notified();
                if self.closes.lock().unwrap().len() >= n {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait).await.expect("on_disconnect did not run");
    }
}

#[async_trait]
impl WebSocketHandler for Recorder {
    async fn on_connect(&self, conn: &Connection) -> Result<(), spikard::Rejection> {
        self.connected.lock().unwrap().push(conn.clone());
        Ok(())
    }

    async fn handle_message(&self, _c: &Connection, m: Value) -> Result<Option<Value>, HandlerError> {
        Ok(Some(m))
    }

    async fn on_disconnect(&self, _c: &Connection, close: CloseInfo) {
        self.closes.lock().unwrap().push(close.code);
        self.closed.notify_waiters();
    }
}

#[tokio::test]
async fn shutdown_closes_every_connection_with_1001_and_runs_on_disconnect() {
    let recorder = Arc::new(Recorder::default());
    let mut app = App::new();
    app.websocket("/r", Arc::clone(&recorder)).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let mut a = server.connect("/r").await.unwrap();
    let mut b = server.connect("/r").await.unwrap();
    a.send_json(&json!(1)).await.unwrap();
    assert_eq!(a.receive_json().await.unwrap(), json!(1));
    let handle = server.handle().clone();
    let done = tokio::spawn(server.shutdown());
    for client in [&mut a, &mut b] {
        match client.receive().await.unwrap() {
            Received::Close(Some((code, _))) => assert_eq!(code, 1001),
            other => panic!("expected close 1001, got {other:?}"),
        }
    }
    done.await.unwrap().unwrap();
    assert_eq!(*recorder.closes.lock().unwrap(), vec![1001, 1001]);
    assert_eq!(handle.metrics().connections_active, 0);
}

#[tokio::test]
async fn a_background_task_can_push_and_close() {
    let recorder = Arc::new(Recorder::default());
    let mut app = App::new();
    app.websocket("/r", Arc::clone(&recorder)).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let mut client = server.connect("/r").await.unwrap();
    client.send_json(&json!("hello")).await.unwrap();
    assert_eq!(client.receive_json().await.unwrap(), json!("hello"));
    let conn = recorder.connected.lock().unwrap()[0].clone();
    tokio::spawn(async move {
        conn.send_json(&json!({"pushed": true})).unwrap();
        conn.close(4002, "done");
        assert_eq!(conn.send_json(&json!(0)), Err(SendError::Closed));
    })
    .await
    .unwrap();
    assert_eq!(client.receive_json().await.unwrap(), json!({"pushed": true}));
    assert_eq!(client.receive().await.unwrap(), Received::Close(Some((4002, "done".into()))));
    server.shutdown().await.unwrap();
    assert_eq!(*recorder.closes.lock().unwrap(), vec![4002]);
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_with_1013_and_others_keep_receiving() {
    let recorder = Arc::new(Recorder::default());
    let mut app = App::new();
    app.outgoing_queue(8).unwrap();
    app.websocket("/r", Arc::clone(&recorder)).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let _stalled = server.connect("/r").await.unwrap();
    let mut reader = server.connect("/r").await.unwrap();
    let (stalled_conn, reader_conn) = {
        let seen = recorder.connected.lock().unwrap();
        (seen[0].clone(), seen[1].clone())
    };
    let payload = json!({"data": "x".repeat(1024)});
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Push until the stalled client's queue overflows; the reader drains as it goes.
        for _ in 0..200_000 {
            match stalled_conn.send_json(&payload) {
                Ok(()) => {}
                Err(err) => {
                    tx.send(err).unwrap();
                    return;
                }
            }
            let _ = reader_conn.send_json(&json!("tick"));
            tokio::task::yield_now().await;
        }
    });
    let err = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            tokio::select! {
                err = rx.recv() => return err.unwrap(),
                got = reader.receive_json() => assert_eq!(got.unwrap(), json!("tick")),
            }
        }
    })
    .await
    .expect("the stalled client's queue never filled");
    assert_eq!(err, SendError::QueueFull);
    assert_eq!(server.handle().metrics().slow_consumers_closed, 1);
    reader.send_json(&json!("still here")).await.unwrap();
    loop {
        if reader.receive_json().await.unwrap() == json!("still here") {
            break;
        }
    }
    reader.close(1000, "").await.unwrap();
    server.shutdown().await.unwrap();
    let closes = recorder.closes.lock().unwrap().clone();
    assert!(closes.contains(&1013) && closes.contains(&1000), "{closes:?}");
}

#[tokio::test]
async fn dropped_replies_and_errors_are_counted() {
    let mut app = App::new();
    app.route(Route::new("/r", echo()).response_schema(json!({"type": "string"}))).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let mut client = server.connect("/r").await.unwrap();
    client.send_json(&json!(1)).await.unwrap();
    client.send_text("{not json").await.unwrap();
    assert_eq!(client.receive_json().await.unwrap()["code"], "invalid_json");
    client.send_json(&json!("ok")).await.unwrap();
    assert_eq!(client.receive_json().await.unwrap(), json!("ok"));
    let metrics = server.handle().metrics();
    assert_eq!(metrics.replies_dropped, 1);
    assert_eq!(metrics.invalid_json, 1);
    assert_eq!(metrics.messages_received, 3);
    server.shutdown().await.unwrap();
}

#[test]
fn registration_errors_name_the_route() {
    let mut app = App::new();
    let err = app.route(Route::new("/bad", echo()).message_schema(json!({"type": "nope"}))).unwrap_err();
    assert_eq!(err.code(), "schema_compile");
    assert!(err.to_string().contains("/bad"), "{err}");
    let err = app.route(Route::new("/bad", echo()).response_schema(json!({"minimum": "x"}))).unwrap_err();
    assert!(err.to_string().contains("response schema"), "{err}");

    app.websocket("/rooms/{room}", echo()).unwrap();
    assert_eq!(app.websocket("/rooms/{room}", echo()).unwrap_err().code(), "duplicate_route");
    assert_eq!(app.websocket("/rooms/{other}", echo()).unwrap_err().code(), "invalid_path");
    assert_eq!(app.websocket("no-slash", echo()).unwrap_err().code(), "invalid_path");
    assert_eq!(app.max_message_size(0).unwrap_err().code(), "invalid_config");
    let err = app.route(Route::new("/raw", echo()).raw_text().message_schema(json!({}))).unwrap_err();
    assert_eq!(err.code(), "invalid_config");
    assert!(err.to_string().contains("/raw"), "{err}");
    assert_eq!(app.paths().collect::<Vec<_>>(), vec!["/rooms/{room}"]);
}

#[tokio::test]
async fn unknown_paths_are_404_and_static_files_are_served() {
    let dir = std::env::temp_dir().join(format!("spikard-static-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>chat</h1>").unwrap();
    let mut app = App::new();
    app.websocket("/ws", echo()).unwrap();
    app.static_dir(&dir);
    let server = TestServer::start(app).await.unwrap();

    match TestClient::connect(&server.url("/nope"), &[]).await {
        Err(ClientError::Rejected(404)) => {}
        other => panic!("expected 404, got {other:?}"),
    }
    let mut tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("<h1>chat</h1>"), "{response}");
    // The WebSocket route still upgrades.
    let mut client = server.connect("/ws").await.unwrap();
    client.send_json(&json!([1])).await.unwrap();
    assert_eq!(client.receive_json().await.unwrap(), json!([1]));
    server.shutdown().await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_client_that_vanishes_is_reported_as_1006() {
    let recorder = Arc::new(Recorder::default());
    let mut app = App::new();
    app.websocket("/r", Arc::clone(&recorder)).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let client = server.connect("/r").await.unwrap();
    drop(client);
    recorder.wait_closes(1).await;
    let handle = server.handle().clone();
    server.shutdown().await.unwrap();
    assert_eq!(*recorder.closes.lock().unwrap(), vec![1006]);
    assert_eq!(handle.metrics().connections_accepted, 1);
}
