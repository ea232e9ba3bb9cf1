//! Counters kept by a running server, readable at any time through
//! [`ServerHandle::metrics`](crate::ServerHandle::metrics).

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters (all monotonic except `connections_active`).
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_rejected: AtomicU64,
    pub(crate) handshakes_refused: AtomicU64,
    pub(crate) connections_active: AtomicU64,
    pub(crate) messages_received: AtomicU64,
    pub(crate) invalid_json: AtomicU64,
    pub(crate) validation_failed: AtomicU64,
    pub(crate) handler_errors: AtomicU64,
    pub(crate) replies_dropped: AtomicU64,
    pub(crate) slow_consumers_closed: AtomicU64,
    pub(crate) publishes_refused: AtomicU64,
    pub(crate) pubsub_forwarded: AtomicU64,
    pub(crate) pubsub_received: AtomicU64,
    pub(crate) pubsub_lost: AtomicU64,
    pub(crate) pubsub_refused: AtomicU64,
    pub(crate) pubsub_reconnects: AtomicU64,
}

impl Metrics {
    pub(crate) fn incr(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            connections_accepted: get(&self.connections_accepted),
            connections_rejected: get(&self.connections_rejected),
            handshakes_refused: get(&self.handshakes_refused),
            connections_active: get(&self.connections_active),
            messages_received: get(&self.messages_received),
            invalid_json: get(&self.invalid_json),
            validation_failed: get(&self.validation_failed),
            handler_errors: get(&self.handler_errors),
            replies_dropped: get(&self.replies_dropped),
            slow_consumers_closed: get(&self.slow_consumers_closed),
            publishes_refused: get(&self.publishes_refused),
            pubsub_forwarded: get(&self.pubsub_forwarded),
            pubsub_received: get(&self.pubsub_received),
            pubsub_lost: get(&self.pubsub_lost),
            pubsub_refused: get(&self.pubsub_refused),
            pubsub_reconnects: get(&self.pubsub_reconnects),
        }
    }
}

/// A copy of the server's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Upgrades completed.
    pub connections_accepted: u64,
    /// Upgrades refused by `on_connect`.
    pub connections_rejected: u64,
    /// Upgrade requests refused before `on_connect` ran or because it did not finish in time:
    /// a malformed `Sec-WebSocket-Key`, an oversized header, an origin not allowed, the
    /// connection limit, or the handshake timeout.
    pub handshakes_refused: u64,
    /// Connections open now.
    pub connections_active: u64,
    /// Text and binary messages read from clients.
    pub messages_received: u64,
    /// Text frames that were not JSON.
    pub invalid_json: u64,
    /// Messages that failed their route's message schema.
    pub validation_failed: u64,
    /// Handler calls that returned an error or panicked.
    pub handler_errors: u64,
    /// Replies not sent because they failed the route's response schema.
    pub replies_dropped: u64,
    /// Connections closed with 1013 because their outgoing queue stayed full.
    pub slow_consumers_closed: u64,
    /// Publishes refused because the message failed its topic's schema.
    pub publishes_refused: u64,
    /// Published messages sent to the shared pub/sub backend (Redis) for the other nodes.
    pub pubsub_forwarded: u64,
    /// Messages other nodes (or other programs) published that arrived from the backend.
    pub pubsub_received: u64,
    /// Published messages that reached this node's subscribers but not the backend: it was
    /// unreachable, did not answer in time, or [`FORWARD_QUEUE`](crate::pubsub::FORWARD_QUEUE)
    /// messages were already waiting for it.
    pub pubsub_lost: u64,
    /// Messages from the backend that were not JSON text, dropped.
    pub pubsub_refused: u64,
    /// Times the backend's subscribing connection was lost (and reconnected).
    pub pubsub_reconnects: u64,
}
