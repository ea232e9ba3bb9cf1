//! Topics (rooms): named groups of connections that a message can be published to at once.
//!
//! The server owns the registry; connections join with [`Connection::subscribe`] and leave with
//! [`Connection::unsubscribe`] or by disconnecting. Publishing serialises the message once and
//! queues the same bytes for every subscriber, without calling any handler per recipient. A
//! subscriber whose outgoing queue is full is closed with 1013 and the others still receive.
//!
//! A topic may carry a schema ([`App::topic_schema`]): a message published to it is validated
//! once, before fan-out, and queued for nobody when it fails.
//!
//! [`App::topic_schema`]: crate::App::topic_schema
//! [`Connection::subscribe`]: crate::Connection::subscribe
//! [`Connection::unsubscribe`]: crate::Connection::unsubscribe

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError, RwLock, Weak,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::extract::ws::{Message, Utf8Bytes};
use serde::Serialize;
use serde_json::Value;

use crate::{
    burst::Bursts,
    connection::{Connection, ConnectionId},
    envelope::{FieldError, MAX_FIELD_ERRORS},
    metrics::Metrics,
    pubsub::Backend,
    schema::CompiledSchema,
};

/// Why a message could not be published. Nothing was queued for anyone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The message does not match the schema declared for its topic.
    #[error("message published to {topic:?} does not match the topic's schema: {}", summary(.errors))]
    Invalid {
        /// The topic it was published to.
        topic: String,
        /// The failing locations, as in a `validation_failed` envelope (at most
        /// [`MAX_FIELD_ERRORS`](crate::MAX_FIELD_ERRORS)).
        errors: Vec<FieldError>,
    },
    /// The value could not be serialised as JSON (a map with non-string keys, a failing
    /// `Serialize` impl).
    #[error("message published to {topic:?} cannot be serialised as JSON: {message}")]
    Unserializable {
        /// The topic it was published to.
        topic: String,
        /// What the serialiser reported.
        message: String,
    },
}

impl PublishError {
    /// The stable code of this error, shared by every language package.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "publish_invalid",
            Self::Unserializable { .. } => "publish_unserializable",
        }
    }

    /// The topic the message was published to.
    #[must_use]
    pub fn topic(&self) -> &str {
        match self {
            Self::Invalid { topic, .. } | Self::Unserializable { topic, .. } => topic,
        }
    }

    /// The schema failures (empty for [`PublishError::Unserializable`]).
    #[must_use]
    pub fn errors(&self) -> &[FieldError] {
        match self {
            Self::Invalid { errors, .. } => errors,
            Self::Unserializable { .. } => &[],
        }
    }
}

/// `/text: value is too long; /user: ...`, the message itself shown as `/`.
fn summary(errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", if e.path.is_empty() { "/" } else { &e.path }, e.message))
        .collect();
    parts.join("; ")
}

/// A topic schema's pattern: an exact name, or a prefix (written with a trailing `*`).
#[derive(Debug)]
pub(crate) enum TopicPattern {
    Exact(String),
    Prefix(String),
}

impl TopicPattern {
    /// Parse `news` or `news*`; `None` for an empty pattern or a `*` anywhere but at the end.
    pub(crate) fn parse(pattern: &str) -> Option<Self> {
        let (body, prefix) = match pattern.strip_suffix('*') {
            Some(body) => (body, true),
            None => (pattern, false),
        };
        if body.is_empty() || body.contains('*') {
            return None;
        }
        Some(if prefix { Self::Prefix(body.to_owned()) } else { Self::Exact(body.to_owned()) })
    }

    /// How well this pattern matches `topic`: `None` when it does not, and a higher rank for an
    /// exact name than for any prefix, and for a longer prefix than a shorter one.
    fn rank(&self, topic: &str) -> Option<usize> {
        match self {
            Self::Exact(name) => (name == topic).then_some(usize::MAX),
            Self::Prefix(prefix) => topic.starts_with(prefix.as_str()).then_some(prefix.len()),
        }
    }

    /// `true` when both patterns are written the same way.
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Exact(a), Self::Exact(b)) | (Self::Prefix(a), Self::Prefix(b)) => a == b,
            _ => false,
        }
    }
}

/// The server's topic registry: this node's subscribers, and the backend that carries
/// publishes to and from the other nodes.
#[derive(Debug)]
pub(crate) struct Topics {
    topics: RwLock<HashMap<Arc<str>, Vec<Connection>>>,
    schemas: Vec<(TopicPattern, CompiledSchema)>,
    backend: Arc<dyn Backend>,
    /// Readers in the middle of a burst: what they publish is flushed when they are done.
    pub(crate) bursts: Bursts,
    captures: Captures,
}

impl Topics {
    /// A registry whose topics are checked against `schemas` and shared through `backend`.
    pub(crate) fn new(schemas: Vec<(TopicPattern, CompiledSchema)>, backend: Arc<dyn Backend>) -> Self {
        Self {
            topics: RwLock::default(),
            schemas,
            backend,
            bursts: Bursts::default(),
            captures: Captures::default(),
        }
    }

    /// The schema of the best-matching pattern for `topic`.
    fn schema_for(&self, topic: &str) -> Option<&CompiledSchema> {
        self.schemas
            .iter()
            .filter_map(|(pattern, schema)| pattern.rank(topic).map(|rank| (rank, schema)))
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, schema)| schema)
    }

    /// Validate `value` against the topic's schema, serialise it once, queue it for every
    /// subscriber of `topic` on this node except `skip`, and hand it to the backend for the
    /// other nodes; the number of this node's connections it was queued for.
    pub(crate) fn publish_value<T: Serialize + ?Sized>(
        &self,
        topic: &str,
        value: &T,
        skip: Option<ConnectionId>,
        metrics: &Metrics,
    ) -> Result<usize, PublishError> {
        let unserializable = |err: serde_json::Error| PublishError::Unserializable {
            topic: topic.to_owned(),
            message: err.to_string(),
        };
        let checked = match self.schema_for(topic) {
            None => None,
            Some(schema) => {
                let value = serde_json::to_value(value).map_err(unserializable)?;
                if !schema.is_valid(&value) {
                    let errors = schema.errors(&value).take(MAX_FIELD_ERRORS).collect();
                    Metrics::incr(&metrics.publishes_refused);
                    return Err(PublishError::Invalid { topic: topic.to_owned(), errors });
                }
                Some(value)
            }
        };
        self.captures.record(topic, value, checked.as_ref());
        // Nobody to send it to: skip the serialisation (after the check, which still applies).
        if self.count(topic) == 0 && !self.backend.is_shared() {
            return Ok(0);
        }
        let text = match &checked {
            Some(value) => serde_json::to_string(value),
            None => serde_json::to_string(value),
        }
        .map_err(unserializable)?;
        let text = Utf8Bytes::from(text);
        let queued = self.publish(topic, &text, skip);
        self.backend.forward(topic, &text);
        Ok(queued)
    }

    /// Start recording what is published to `topic`.
    pub(crate) fn capture(&self, topic: &str) -> PublishCapture {
        self.captures.start(topic)
    }

    /// Add `conn` to `topic`; `false` when it was already subscribed.
    pub(crate) fn subscribe(&self, topic: &str, conn: &Connection) -> bool {
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        let members = topics.entry(Arc::from(topic)).or_default();
        if members.iter().any(|m| m.id() == conn.id()) {
            return false;
        }
        if members.is_empty() {
            // Under the lock, so that the backend sees joins and leaves in their real order.
            self.backend.join(topic);
        }
        members.push(conn.clone());
        true
    }

    /// Remove `conn` from `topic`; `false` when it was not subscribed.
    pub(crate) fn unsubscribe(&self, topic: &str, id: ConnectionId) -> bool {
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        let Some(members) = topics.get_mut(topic) else { return false };
        let before = members.len();
        members.retain(|m| m.id() != id);
        let removed = members.len() != before;
        if members.is_empty() {
            topics.remove(topic);
            self.backend.leave(topic);
        }
        removed
    }

    /// Queue `text` for every subscriber of `topic` on this node except `skip` (what the backend
    /// delivers from other nodes comes in here too); the number of connections it was queued for.
    pub(crate) fn publish(&self, topic: &str, text: &Utf8Bytes, skip: Option<ConnectionId>) -> usize {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        let Some(members) = topics.get(topic) else { return 0 };
        members
            .iter()
            .filter(|m| Some(m.id()) != skip)
            .filter(|m| m.queue_published(Message::Text(text.clone())).is_ok())
            .count()
    }

    /// The connections subscribed to `topic` now.
    pub(crate) fn members(&self, topic: &str) -> Vec<Connection> {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        topics.get(topic).cloned().unwrap_or_default()
    }

    /// How many connections are subscribed to `topic`.
    pub(crate) fn count(&self, topic: &str) -> usize {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        topics.get(topic).map_or(0, Vec::len)
    }

    /// The topics that have at least one subscriber, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<String> = topics.keys().map(|k| k.to_string()).collect();
        names.sort_unstable();
        names
    }
}

/// The messages one [`PublishCapture`] has seen; `None` once it stopped.
#[derive(Debug)]
struct Recorded {
    topic: String,
    messages: Mutex<Option<Vec<Value>>>,
}

/// The live captures of a server. Publishing looks at them only while one is alive.
#[derive(Debug, Default)]
struct Captures {
    list: Mutex<Vec<Weak<Recorded>>>,
    live: Arc<AtomicUsize>,
}

impl Captures {
    fn start(&self, topic: &str) -> PublishCapture {
        let recorded = Arc::new(Recorded { topic: topic.to_owned(), messages: Mutex::new(Some(Vec::new())) });
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(&recorded));
        self.live.fetch_add(1, Ordering::Relaxed);
        PublishCapture { recorded, live: Arc::clone(&self.live) }
    }

    /// Record `value` (or its already checked JSON form) for every live capture of `topic`.
    fn record<T: Serialize + ?Sized>(&self, topic: &str, value: &T, checked: Option<&Value>) {
        if self.live.load(Ordering::Relaxed) == 0 {
            return;
        }
        let targets: Vec<Arc<Recorded>> = {
            let list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
            list.iter().filter_map(Weak::upgrade).filter(|r| r.topic == topic).collect()
        };
        if targets.is_empty() {
            return;
        }
        let Some(value) = checked.cloned().or_else(|| serde_json::to_value(value).ok()) else { return };
        for target in targets {
            if let Some(messages) = &mut *target.messages.lock().unwrap_or_else(PoisonError::into_inner) {
                messages.push(value.clone());
            }
        }
    }
}

/// Every message published to one topic while this value lives, in order, whoever published it
/// (a connection, a [`ServerHandle`](crate::ServerHandle), a room with no member): for tests,
/// as Action Cable's `assert_broadcast_on`. A publish its topic's schema refused is not
/// recorded. Made by [`ServerHandle::capture`](crate::ServerHandle::capture); dropping it (or
/// [`PublishCapture::stop`]) stops the recording, and a server with no live capture does no
/// capture work when publishing.
#[derive(Debug)]
pub struct PublishCapture {
    recorded: Arc<Recorded>,
    live: Arc<AtomicUsize>,
}

impl PublishCapture {
    /// The topic it records.
    #[must_use]
    pub fn topic(&self) -> &str {
        &self.recorded.topic
    }

    fn messages_lock(&self) -> MutexGuard<'_, Option<Vec<Value>>> {
        self.recorded.messages.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The messages published so far, oldest first (none once stopped).
    #[must_use]
    pub fn messages(&self) -> Vec<Value> {
        self.messages_lock().clone().unwrap_or_default()
    }

    /// The messages published so far, oldest first, forgetting them.
    #[must_use]
    pub fn take(&self) -> Vec<Value> {
        self.messages_lock().as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Stop recording and forget what was recorded, as dropping it does: for owners that are
    /// released late (a host language's garbage-collected object).
    pub fn stop(&self) {
        if self.messages_lock().take().is_some() {
            self.live.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for PublishCapture {
    fn drop(&mut self) {
        self.stop();
    }
}
