//! Rooms shared across nodes through a real `redis-server` that each test starts on a free
//! loopback port (`task setup` installs Debian's `redis-server`; without it these tests say so
//! and pass): exactly-once delivery across nodes, publishes from outside, channels followed only
//! while needed, a Redis restart mid-stream, Redis unreachable at start-up, and a stalled Redis.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use spikard::{
    App, Connection, HandlerError, Rejection, WebSocketHandler, async_trait,
    testing::{TestClient, TestServer},
};

/// A `redis-server` of this test's own, killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Start one on a free port; `None` (and a note on stderr) when the binary is missing.
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Self::on(port)
    }

    fn on(port: u16) -> Option<Self> {
        let spawned = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("SKIPPED: redis-server is not installed (`task setup` installs it)");
                return None;
            }
            Err(err) => panic!("cannot start redis-server: {err}"),
        };
        // Ready when it says so on its log (no polling).
        let mut log = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            assert!(log.read_line(&mut line).unwrap() > 0, "redis-server exited before it was ready");
            if line.contains("Ready to accept connections") {
                break;
            }
        }
        // Keep draining its log so that it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
        Some(Self { child, port })
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kill it and start a new one on the same port.
    fn restart(&mut self) {
        self.stop();
        *self = Self::on(self.port).expect("redis-server was there a moment ago");
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn signal(&self, signal: i32) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: sends a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    async fn client(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
    }

    /// Wait until `n` connections follow the channel of `topic` (the nodes' subscriptions are
    /// asynchronous).
    async fn wait_for_subscribers(&self, topic: &str, n: i64) {
        let mut redis = self.client().await;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(format!("spikard:{topic}"))
                .query_async(&mut redis)
                .await
                .unwrap();
            if counts[0].1 == n {
                return;
            }
            assert!(Instant::now() < deadline, "{topic}: {} redis subscribers, not {n}", counts[0].1);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Joins the room in the path on connect; every message is published to it (`{"sleep": true}`
/// is answered directly instead, to time a handler).
struct Room;

#[async_trait]
impl WebSocketHandler for Room {
    async fn on_connect(&self, conn: &Connection) -> Result<(), Rejection> {
        conn.subscribe(conn.path_param("room").unwrap());
        Ok(())
    }

    async fn handle_message(&self, conn: &Connection, message: Value) -> Result<Option<Value>, HandlerError> {
        let queued = conn.publish(conn.path_param("room").unwrap(), &message)?;
        Ok((message.get("ack") == Some(&json!(true))).then(|| json!({"ack": queued})))
    }
}

async fn node(redis: &Redis) -> TestServer {
    let mut app = App::new();
    app.websocket("/rooms/{room}", Room).unwrap();
    app.topic_schema("checked", json!({"type": "object", "required": ["text"]})).unwrap();
    app.pubsub(&redis.url()).unwrap();
    TestServer::start(app).await.unwrap()
}

/// Nothing more arrives within a moment.
async fn assert_quiet(client: &mut TestClient) {
    let more = tokio::time::timeout(Duration::from_millis(300), client.receive_data()).await;
    assert!(more.is_err(), "unexpected extra message: {more:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_reaches_every_subscriber_on_every_node_exactly_once() {
    let Some(redis) = Redis::start() else { return };
    let (one, two) = (node(&redis).await, node(&redis).await);
    let mut a = one.connect("/rooms/lobby").await.unwrap();
    let mut b = one.connect("/rooms/lobby").await.unwrap();
    let mut c = two.connect("/rooms/lobby").await.unwrap();
    redis.wait_for_subscribers("lobby", 2).await;
    for n in 0..20 {
        a.send_json(&json!({"from": "a", "n": n})).await.unwrap();
        c.send_json(&json!({"from": "c", "n": n})).await.unwrap();
    }
    for client in [&mut a, &mut b, &mut c] {
        let mut next = [0, 0];
        for _ in 0..40 {
            let got = client.receive_json().await.unwrap();
            let from = usize::from(got["from"] == "c");
            assert_eq!(got["n"], json!(next[from]), "per-publisher order: {got}");
            next[from] += 1;
        }
        assert_eq!(next, [20, 20]);
        assert_quiet(client).await;
    }
    let (m1, m2) = (one.handle().metrics(), two.handle().metrics());
    assert_eq!((m1.pubsub_forwarded, m1.pubsub_received), (20, 20));
    assert_eq!((m2.pubsub_forwarded, m2.pubsub_received), (20, 20));
    // Presence is node-local.
    assert_eq!((one.handle().topic_count("lobby"), two.handle().topic_count("lobby")), (2, 1));
    one.shutdown().await.unwrap();
    two.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_node_follows_only_the_channels_its_connections_need() {
    let Some(redis) = Redis::start() else { return };
    let server = node(&redis).await;
    let mut a = server.connect("/rooms/one").await.unwrap();
    let mut b = server.connect("/rooms/one").await.unwrap();
    redis.wait_for_subscribers("one", 1).await;
    redis.wait_for_subscribers("two", 0).await;
    a.close(1000, "").await.unwrap();
    redis.wait_for_subscribers("one", 1).await;
    b.close(1000, "").await.unwrap();
    redis.wait_for_subscribers("one", 0).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn any_program_can_publish_with_a_plain_redis_publish() {
    let Some(redis) = Redis::start() else { return };
    let server = node(&redis).await;
    let mut a = server.connect("/rooms/news").await.unwrap();
    redis.wait_for_subscribers("news", 1).await;
    let mut publisher = redis.client().await;
    let publish = |payload: &'static str| redis::cmd("PUBLISH").arg("spikard:news").arg(payload).clone();
    let _: i64 = publish("not json").query_async(&mut publisher).await.unwrap();
    let _: i64 = publish(r#"{"text": "from cron"}"#).query_async(&mut publisher).await.unwrap();
    assert_eq!(a.receive_json().await.unwrap(), json!({"text": "from cron"}));
    assert_quiet(&mut a).await;
    let metrics = server.handle().metrics();
    assert_eq!((metrics.pubsub_received, metrics.pubsub_refused), (1, 1));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_schemas_are_checked_at_the_publishing_node_only() {
    let Some(redis) = Redis::start() else { return };
    let (one, two) = (node(&redis).await, node(&redis).await);
    let mut b = two.connect("/rooms/checked").await.unwrap();
    redis.wait_for_subscribers("checked", 1).await;
    assert!(one.handle().publish("checked", &json!({"nope": 1})).is_err());
    assert_eq!(one.handle().publish("checked", &json!({"text": "ok"})).unwrap(), 0);
    assert_eq!(b.receive_json().await.unwrap(), json!({"text": "ok"}));
    assert_quiet(&mut b).await;
    one.shutdown().await.unwrap();
    two.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_only_the_gap_and_remote_delivery_resumes() {
    let Some(mut redis) = Redis::start() else { return };
    let (one, two) = (node(&redis).await, node(&redis).await);
    let mut a = one.connect("/rooms/r").await.unwrap();
    let mut local = one.connect("/rooms/r").await.unwrap();
    let mut remote = two.connect("/rooms/r").await.unwrap();
    redis.wait_for_subscribers("r", 2).await;
    a.send_json(&json!({"n": 1})).await.unwrap();
    for client in [&mut a, &mut local, &mut remote] {
        assert_eq!(client.receive_json().await.unwrap(), json!({"n": 1}));
    }

    redis.stop();
    // Local delivery goes on while Redis is down; what was published is counted as lost.
    a.send_json(&json!({"n": 2, "ack": true})).await.unwrap();
    assert_eq!(a.receive_json().await.unwrap(), json!({"n": 2, "ack": true}));
    assert_eq!(a.receive_json().await.unwrap(), json!({"ack": 2}));
    assert_eq!(local.receive_json().await.unwrap(), json!({"n": 2, "ack": true}));
    let deadline = Instant::now() + Duration::from_secs(5);
    while one.handle().metrics().pubsub_lost == 0 {
        assert!(Instant::now() < deadline, "the lost publish was not counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    redis.restart();
    redis.wait_for_subscribers("r", 2).await;
    // The first publishes after the restart may still meet the broken connection: send until
    // one gets across, then every later one does, in order.
    let mut n = 3;
    loop {
        a.send_json(&json!({"n": n})).await.unwrap();
        assert_eq!(a.receive_json().await.unwrap(), json!({"n": n}));
        assert_eq!(local.receive_json().await.unwrap(), json!({"n": n}));
        if let Ok(got) = tokio::time::timeout(Duration::from_millis(500), remote.receive_json()).await {
            assert_eq!(got.unwrap(), json!({"n": n}));
            break;
        }
        n += 1;
        assert!(n < 20, "remote delivery did not resume");
    }
    for m in n + 1..n + 5 {
        a.send_json(&json!({"n": m})).await.unwrap();
        assert_eq!(remote.receive_json().await.unwrap(), json!({"n": m}));
    }
    assert!(two.handle().metrics().pubsub_reconnects >= 1);
    one.shutdown().await.unwrap();
    two.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_redis_at_start_up_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut app = App::new();
    app.pubsub(&format!("redis://:hunter2@127.0.0.1:{port}/0")).unwrap();
    let started = Instant::now();
    let err = app.bind("127.0.0.1:0").await.unwrap_err();
    assert_eq!(err.code(), "pubsub_unavailable");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot reach the pub/sub backend redis://:***@127.0.0.1:{port}/0")),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(App::new().pubsub("amqp://x").unwrap_err().code(), "invalid_config");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_redis_never_blocks_a_handler() {
    let Some(redis) = Redis::start() else { return };
    let server = node(&redis).await;
    let mut a = server.connect("/rooms/slow").await.unwrap();
    redis.wait_for_subscribers("slow", 1).await;
    redis.signal(libc::SIGSTOP);
    let started = Instant::now();
    for n in 0..50 {
        a.send_json(&json!({"n": n, "ack": true})).await.unwrap();
        assert_eq!(a.receive_json().await.unwrap(), json!({"n": n, "ack": true}));
        assert_eq!(a.receive_json().await.unwrap(), json!({"ack": 1}));
    }
    let took = started.elapsed();
    redis.signal(libc::SIGCONT);
    assert!(took < Duration::from_secs(1), "50 round trips took {took:?} with redis stalled");
    server.shutdown().await.unwrap();
}
