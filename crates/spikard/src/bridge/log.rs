//! The core's `tracing` events, handed to the host language's own logging.
//!
//! [`install`] sets a process-wide subscriber that turns each event at or above the level of
//! `SPIKARD_LOG` (`error`, `warn`, `info` (the default), `debug`, `trace`) into a
//! [`LogRecord`] and queues it on an attached [`JobQueue`]; the host takes it with its next
//! batch and logs it (Python's `logging` logger `spikard`, the Node package's logger, Ruby's
//! `Logger`), where the host's own level and handlers decide what is shown. Nothing is written
//! from a tokio thread into the host, and a flood of records is bounded by
//! [`MAX_LOGS`](super::queue::MAX_LOGS).

use std::{
    fmt::{self, Write as _},
    sync::{Arc, Mutex, PoisonError, Weak},
};

use tracing::{Event, Level, Subscriber, field::Field};
use tracing_subscriber::{Layer, filter::LevelFilter, layer::Context, prelude::*};

use super::JobQueue;

/// The severity of a [`LogRecord`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum LogLevel {
    /// Very verbose diagnostics.
    Trace,
    /// Diagnostics.
    Debug,
    /// Normal operation worth recording.
    Info,
    /// Something went wrong with a client or a handler; the server carries on.
    Warn,
    /// Something went wrong with the server itself.
    Error,
}

impl LogLevel {
    /// The level's name in lower case (`"warn"`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

impl From<Level> for LogLevel {
    fn from(level: Level) -> Self {
        match level {
            Level::ERROR => Self::Error,
            Level::WARN => Self::Warn,
            Level::INFO => Self::Info,
            Level::DEBUG => Self::Debug,
            Level::TRACE => Self::Trace,
        }
    }
}

/// One event of the core, for the host's logging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Severity.
    pub level: LogLevel,
    /// The Rust module that logged it (`spikard::session`, ...).
    pub target: String,
    /// The event's message followed by its fields as `name=value`.
    pub message: String,
}

impl LogRecord {
    /// The record that stands for `count` records dropped because the host fell behind.
    pub(crate) fn dropped(count: u64) -> Self {
        Self {
            level: LogLevel::Warn,
            target: "spikard::bridge".to_owned(),
            message: format!("{count} log records dropped: the host was not taking them fast enough"),
        }
    }
}

/// Queues that receive the records (the first one still open does).
static SINKS: Mutex<Vec<Weak<JobQueue>>> = Mutex::new(Vec::new());

/// Send the core's log records to `queue`'s host (until it closes), installing the subscriber
/// on first use. Returns `false` when another subscriber was already installed in the process
/// (then that one receives the events instead).
pub fn attach(queue: &Arc<JobQueue>) -> bool {
    let mut sinks = SINKS.lock().unwrap_or_else(PoisonError::into_inner);
    sinks.retain(|q| q.upgrade().is_some_and(|q| q.is_open()));
    sinks.push(Arc::downgrade(queue));
    drop(sinks);
    install()
}

/// Install the forwarding subscriber for the whole process (once; later calls return whether
/// it is the one installed).
pub fn install() -> bool {
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let level = std::env::var("SPIKARD_LOG")
            .ok()
            .and_then(|v| v.parse::<LevelFilter>().ok())
            .unwrap_or(LevelFilter::INFO);
        tracing_subscriber::registry().with(Forward.with_filter(level)).try_init().is_ok()
    })
}

/// The layer that turns events into [`LogRecord`]s.
struct Forward;

impl<S: Subscriber> Layer<S> for Forward {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let sink = {
            let sinks = SINKS.lock().unwrap_or_else(PoisonError::into_inner);
            sinks.iter().filter_map(Weak::upgrade).find(|q| q.is_open())
        };
        let Some(sink) = sink else { return };
        let mut text = Text::default();
        event.record(&mut text);
        let meta = event.metadata();
        let record =
            LogRecord { level: (*meta.level()).into(), target: meta.target().to_owned(), message: text.0 };
        sink.push_log(record);
    }
}

/// Longest message a record carries; longer ones are cut (bounded like everything else).
const MAX_MESSAGE: usize = 4096;

#[derive(Default)]
struct Text(String);

impl tracing::field::Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.0.len() >= MAX_MESSAGE {
            return;
        }
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}");
            if !rest.is_empty() {
                self.0.push_str(&rest);
            }
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
        if self.0.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !self.0.is_char_boundary(end) {
                end -= 1;
            }
            self.0.truncate(end);
            self.0.push('…');
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }
}
