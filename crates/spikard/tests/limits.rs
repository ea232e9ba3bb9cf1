//! Per-connection bounds over real sockets: the outgoing queue's byte bound (replies and pushes),
//! the size of error envelopes built from hostile input, and heartbeats. The clients that must
//! not read or not answer pings speak WebSocket by hand over a raw TCP socket.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};
use spikard::{
    App, CloseInfo, Connection, HandlerError, MAX_FIELD_ERRORS, MAX_FIELD_TEXT, Route, WebSocketHandler,
    async_trait,
    testing::{Received, TestServer},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::Notify,
};

/// An echo route that records every close code given to `on_disconnect`.
#[derive(Default)]
struct Recorder {
    closes: Mutex<Vec<u16>>,
    closed: Notify,
}

impl Recorder {
    /// The first close code, waiting at most `limit` for it.
    async fn first_close(&self, limit: Duration) -> Option<u16> {
        let wait = async {
            loop {
                let changed = self.closed.notified();
                if let Some(code) = self.closes.lock().unwrap().first() {
                    return *code;
                }
                changed.await;
            }
        };
        tokio::time::timeout(limit, wait).await.ok()
    }
}

#[async_trait]
impl WebSocketHandler for Recorder {
    async fn handle_message(&self, _c: &Connection, m: Value) -> Result<Option<Value>, HandlerError> {
        Ok(Some(m))
    }

    async fn on_disconnect(&self, _c: &Connection, close: CloseInfo) {
        self.closes.lock().unwrap().push(close.code);
        self.closed.notify_waiters();
    }
}

/// A WebSocket client written by hand: it reads only when asked to and never answers pings.
struct RawClient {
    tcp: TcpStream,
}

impl RawClient {
    async fn connect(server: &TestServer, path: &str) -> Self {
        let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(tcp.read_u8().await.unwrap());
        }
        assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
        Self { tcp }
    }

    /// Send one masked text frame (mask zero: the payload goes as is).
    async fn send_text(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mut frame = vec![0x81];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | u8::try_from(n).unwrap()),
            n if n < 65_536 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&u64::try_from(n).unwrap().to_be_bytes());
            }
        }
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(payload);
        self.tcp.write_all(&frame).await
    }

    /// The next frame: opcode and payload.
    async fn frame(&mut self) -> (u8, Vec<u8>) {
        let opcode = self.tcp.read_u8().await.unwrap() & 0x0F;
        let len = match self.tcp.read_u8().await.unwrap() & 0x7F {
            126 => u64::from(self.tcp.read_u16().await.unwrap()),
            127 => self.tcp.read_u64().await.unwrap(),
            n => u64::from(n),
        };
        let mut payload = vec![0; usize::try_from(len).unwrap()];
        self.tcp.read_exact(&mut payload).await.unwrap();
        (opcode, payload)
    }

    /// Read until a close frame, skipping everything else: its code.
    async fn close_code(&mut self) -> u16 {
        loop {
            let (opcode, payload) = self.frame().await;
            if opcode == 0x8 {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    }
}

#[tokio::test]
async fn a_client_that_sends_large_messages_and_never_reads_its_echoes_is_closed_1013() {
    let recorder = Arc::new(Recorder::default());
    let mut app = App::new();
    app.websocket("/echo", Arc::clone(&recorder)).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let mut client = RawClient::connect(&server, "/echo").await;
    let message = serde_json::to_vec(&"x".repeat(1024 * 1024 - 2)).unwrap();
    // Far fewer than the 1024-message bound; far more than 4 MiB plus the socket buffers. The
    // server may stop reading once it closed us: a failing write ends the sending.
    let sending = async {
        for _ in 0..64 {
            if client.send_text(&message).await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(30), sending).await;
    assert_eq!(recorder.first_close(Duration::from_secs(10)).await, Some(1013));
    assert_eq!(server.handle().metrics().slow_consumers_closed, 1);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn replies_and_pushes_share_the_byte_bound() {
    let recorder = Arc::new(Recorder::default());
    let pushed = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&pushed);
    let pusher = spikard::handler_fn(move |conn: Connection, _m: Value| {
        let seen = Arc::clone(&seen);
        async move {
            // 64 KiB at a time into a 256 KiB bound: the queue refuses long before 1024 messages.
            let fill = "p".repeat(64 * 1024);
            let mut count = 0;
            while count < 2000 && conn.send_json(&json!({"fill": fill})).is_ok() {
                count += 1;
            }
            *seen.lock().unwrap() = Some(count);
            Ok::<_, HandlerError>(None)
        }
    });
    let mut app = App::new();
    app.outgoing_queue_bytes(256 * 1024).unwrap();
    app.websocket("/push", pusher).unwrap();
    app.websocket("/echo", Arc::clone(&recorder)).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let mut client = RawClient::connect(&server, "/push").await;
    client.send_text(b"1").await.unwrap();
    assert_eq!(client.close_code().await, 1013);
    let count = pushed.lock().unwrap().expect("the handler ran");
    assert!(count <= 4, "{count} pushes of 64 KiB were queued");
    // Replies alone: 128 KiB echoes to a client that does not read, against a 256 KiB bound.
    let mut silent = RawClient::connect(&server, "/echo").await;
    let message = serde_json::to_vec(&"y".repeat(128 * 1024)).unwrap();
    let sending = async {
        for _ in 0..1000 {
            if silent.send_text(&message).await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(30), sending).await;
    assert_eq!(recorder.first_close(Duration::from_secs(10)).await, Some(1013));
    assert_eq!(server.handle().metrics().slow_consumers_closed, 2);
    server.shutdown().await.unwrap();
}

/// A route whose schema refuses every property but `text`.
fn strict_app() -> App {
    let schema =
        json!({"type": "object", "properties": {"text": {"type": "string"}}, "additionalProperties": false});
    let echo = spikard::handler_fn(|_c: Connection, m: Value| async move { Ok::<_, HandlerError>(Some(m)) });
    let mut app = App::new();
    app.route(Route::new("/strict", echo).message_schema(schema)).unwrap();
    app
}

#[tokio::test]
async fn a_megabyte_of_tiny_keys_gets_an_envelope_smaller_than_the_message() {
    let server = TestServer::start(strict_app()).await.unwrap();
    let mut client = server.connect("/strict").await.unwrap();
    let mut message = String::from("{");
    let mut keys = 0;
    while message.len() < 1024 * 1024 - 16 {
        if keys > 0 {
            message.push(',');
        }
        message.push_str(&format!("\"{keys:x}\":0"));
        keys += 1;
    }
    message.push('}');
    assert!(keys > 100_000, "{keys} keys");
    client.send_text(&message).await.unwrap();
    let Received::Text(reply) = client.receive_data().await.unwrap() else { panic!("no envelope") };
    assert!(reply.len() * 100 < message.len(), "envelope {} B for {} B", reply.len(), message.len());
    let envelope: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(envelope["code"], "validation_failed");
    assert_eq!(envelope["truncated"], true);
    let errors = envelope["errors"].as_array().unwrap();
    assert_eq!(errors.len(), MAX_FIELD_ERRORS);
    assert_eq!(
        errors[0],
        json!({"path": "/0", "message": "additional property is not allowed", "keyword": "additionalProperties"})
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_huge_key_is_cut_in_the_pointer_and_never_echoed_in_a_message() {
    let server = TestServer::start(strict_app()).await.unwrap();
    let mut client = server.connect("/strict").await.unwrap();
    let key = format!("{}TAIL", "k".repeat(900_000));
    client.send_json(&json!({ key: 1 })).await.unwrap();
    let Received::Text(reply) = client.receive_data().await.unwrap() else { panic!("no envelope") };
    assert!(reply.len() < 1024, "envelope of {} B", reply.len());
    assert!(!reply.contains("TAIL"));
    let envelope: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(envelope["errors"][0]["message"], "additional property is not allowed");
    let path = envelope["errors"][0]["path"].as_str().unwrap();
    assert!(path.len() <= MAX_FIELD_TEXT && path.starts_with("/kkk") && path.ends_with('\u{2026}'), "{path}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_peer_that_does_not_answer_pings_is_closed_1011_and_on_disconnect_sees_it() {
    let recorder = Arc::new(Recorder::default());
    let mut app = App::new();
    app.ping_interval(Duration::from_millis(50)).ping_timeout(Duration::from_millis(100)).unwrap();
    app.websocket("/r", Arc::clone(&recorder)).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let mut peer = RawClient::connect(&server, "/r").await;
    // The disconnect does not wait for a closing handshake the vanished peer would never finish.
    assert_eq!(recorder.first_close(Duration::from_secs(2)).await, Some(1011));
    assert_eq!(peer.frame().await, (0x9, Vec::new()), "a ping comes first");
    assert_eq!(peer.close_code().await, 1011);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_answering_client_outlives_many_ping_timeouts() {
    let recorder = Arc::new(Recorder::default());
    let mut app = App::new();
    app.ping_interval(Duration::from_millis(50)).ping_timeout(Duration::from_millis(500)).unwrap();
    app.websocket("/r", Arc::clone(&recorder)).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let mut client = server.connect("/r").await.unwrap();
    // Reading answers the pings (the test client skips them).
    assert!(tokio::time::timeout(Duration::from_millis(800), client.receive()).await.is_err());
    client.send_json(&json!("still here")).await.unwrap();
    assert_eq!(client.receive_json().await.unwrap(), json!("still here"));
    client.close(1000, "").await.unwrap();
    assert_eq!(recorder.first_close(Duration::from_secs(2)).await, Some(1000));
    server.shutdown().await.unwrap();
}

#[test]
fn limits_refuse_zero() {
    let mut app = App::new();
    assert_eq!(app.outgoing_queue_bytes(0).unwrap_err().code(), "invalid_config");
    assert_eq!(app.ping_timeout(Duration::ZERO).unwrap_err().code(), "invalid_config");
}
