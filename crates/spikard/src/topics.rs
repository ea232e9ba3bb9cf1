//! Topics (rooms): named groups of connections that a message can be published to at once.
//!
//! The server owns the registry; connections join with [`Connection::subscribe`] and leave with
//! [`Connection::unsubscribe`] or by disconnecting. Publishing serialises the message once and
//! queues the same bytes for every subscriber, without calling any handler per recipient. A
//! subscriber whose outgoing queue is full is closed with 1013 and the others still receive.
//!
//! [`Connection::subscribe`]: crate::Connection::subscribe
//! [`Connection::unsubscribe`]: crate::Connection::unsubscribe

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
};

use axum::extract::ws::{Message, Utf8Bytes};

use crate::connection::{Connection, ConnectionId};

/// The server's topic registry.
#[derive(Debug, Default)]
pub(crate) struct Topics {
    topics: RwLock<HashMap<Arc<str>, Vec<Connection>>>,
}

impl Topics {
    /// Add `conn` to `topic`; `false` when it was already subscribed.
    pub(crate) fn subscribe(&self, topic: &str, conn: &Connection) -> bool {
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        let members = topics.entry(Arc::from(topic)).or_default();
        if members.iter().any(|m| m.id() == conn.id()) {
            return false;
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
        }
        removed
    }

    /// Queue `text` for every subscriber of `topic` except `skip`; the number of connections it
    /// was queued for.
    pub(crate) fn publish(&self, topic: &str, text: &Utf8Bytes, skip: Option<ConnectionId>) -> usize {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        let Some(members) = topics.get(topic) else { return 0 };
        members
            .iter()
            .filter(|m| Some(m.id()) != skip)
            .filter(|m| m.queue(Message::Text(text.clone())).is_ok())
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

    /// The topics that have at least one subscriber.
    pub(crate) fn names(&self) -> Vec<String> {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        topics.keys().map(|k| k.to_string()).collect()
    }
}

/// Serialise a value once for publishing.
pub(crate) fn encode<T: serde::Serialize + ?Sized>(value: &T) -> Option<Utf8Bytes> {
    serde_json::to_string(value).ok().map(Utf8Bytes::from)
}
