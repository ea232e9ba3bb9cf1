//! The accept loop when accepting fails: with the file descriptor table full (`EMFILE`) the
//! server logs the error at `warn`, pauses between attempts instead of spinning, and accepts
//! again once descriptors are free. Alone in its test binary: it lowers the process's limit.

use std::{
    fmt::Debug,
    io::{Read, Write},
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::Value;
use spikard::{App, Connection, HandlerError, handler_fn, testing::TestServer};
use tokio::sync::Notify;
use tracing::{
    Event, Level, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    layer::{Context, SubscriberExt},
    registry::Registry,
};

/// Every event's level and message, as the server logged them.
#[derive(Default)]
struct Captured {
    events: Mutex<Vec<(Level, String)>>,
    changed: Notify,
}

impl Captured {
    fn count(&self, level: Level, message: &str) -> usize {
        self.events.lock().unwrap().iter().filter(|(l, m)| *l == level && m == message).count()
    }

    /// Wait until `level`/`message` has been logged at least `n` times.
    async fn wait_for(&self, level: Level, message: &str, n: usize) {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                if self.count(level, message) >= n {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .unwrap_or_else(|_| panic!("{level} {message:?} was not logged"));
    }
}

struct Capture(Arc<Captured>);

impl<S: Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        struct MessageOf(String);
        impl Visit for MessageOf {
            fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = MessageOf(String::new());
        event.record(&mut message);
        self.0.events.lock().unwrap().push((*event.metadata().level(), message.0));
        self.0.changed.notify_waiters();
    }
}

/// Set the soft limit on open files so that exactly one descriptor number is still free, and
/// return the limits to restore.
fn leave_one_descriptor_free() -> libc::rlimit {
    let mut original = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct it is given.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut original) }, 0);
    // The listing includes the descriptor it reads through, which is the lowest free one once
    // the listing is closed: the first number missing from it is the second free one.
    let open: Vec<u64> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let second_free = (0..).find(|n| !open.contains(n)).unwrap();
    let lowered = libc::rlimit { rlim_cur: second_free, rlim_max: original.rlim_max };
    // SAFETY: setrlimit reads the struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const lowered) }, 0);
    original
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_descriptor_table_is_logged_and_retried_with_pauses() {
    let captured = Arc::new(Captured::default());
    tracing::subscriber::set_global_default(Registry::default().with(Capture(Arc::clone(&captured))))
        .unwrap();
    let mut app = App::new();
    app.websocket(
        "/echo",
        handler_fn(|_c: Connection, m: Value| async move { Ok::<_, HandlerError>(Some(m)) }),
    )
    .unwrap();
    let server = TestServer::start(app).await.unwrap();

    let original = leave_one_descriptor_free();
    // Takes the last free descriptor: the server cannot accept it.
    let client = std::net::TcpStream::connect(server.addr());
    captured.wait_for(Level::WARN, "cannot accept connections", 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let attempts = captured.count(Level::WARN, "cannot accept connections");
    // SAFETY: setrlimit reads the struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const original) }, 0);
    // Pauses of 10, 20, 40, ... ms: about 7 attempts in the first second, not thousands.
    assert!((2..=10).contains(&attempts), "{attempts} failed accepts in one second");

    let mut client = client.unwrap();
    captured.wait_for(Level::INFO, "accepting connections again", 1).await;
    let upgraded = tokio::task::spawn_blocking(move || {
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        client
            .write_all(
                b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                  Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            )
            .unwrap();
        let mut head = [0_u8; 12];
        client.read_exact(&mut head).unwrap();
        head
    });
    assert_eq!(&upgraded.await.unwrap(), b"HTTP/1.1 101");
    server.shutdown().await.unwrap();
}
