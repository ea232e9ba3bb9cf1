//! The Redis backend: publishes leave through one connection (the `redis` crate's connection
//! manager, which reconnects by itself), what other nodes publish arrives on a second, pub/sub
//! connection with its own reconnect loop.
//!
//! Neither side ever makes a handler wait: a publish is queued for the forwarding task (and
//! dropped, counted, when [`FORWARD_QUEUE`] messages already wait), and subscribing and
//! unsubscribing are orders to the receiving task. Messages that cannot reach Redis are counted
//! in `pubsub_lost` and logged once per outage; local subscribers are served all along.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use ::redis::{
    Client, Msg,
    aio::{ConnectionManager, ConnectionManagerConfig, PubSub, PubSubSink},
};
use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use serde::de::IgnoredAny;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Backend, CHANNEL_PREFIX, FORWARD_QUEUE, Inbound, Started, redacted};
use crate::{Error, metrics::Metrics};

/// How long connecting to Redis may take, at start-up and on each reconnect attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one batch of publishes may wait for Redis's answer before it counts as lost.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Most publishes sent to Redis in one pipeline.
const BATCH: usize = 512;
/// First and longest pause between reconnect attempts of the pub/sub connection.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Check that `url` is a URL the `redis` crate accepts (nothing is connected yet).
pub(super) fn check_url(url: &str) -> Result<(), Error> {
    Client::open(url)
        .map(drop)
        .map_err(|err| Error::InvalidConfig(format!("pubsub URL {}: {err}", redacted(url))))
}

#[derive(Debug)]
enum Order {
    Join(Arc<str>),
    Leave(Arc<str>),
}

#[derive(Debug)]
struct RedisBackend {
    forward: mpsc::Sender<(Arc<str>, Utf8Bytes)>,
    orders: mpsc::UnboundedSender<Order>,
    metrics: Arc<Metrics>,
    /// Set while publishes are being dropped because the forwarding queue is full.
    overflowing: Arc<AtomicBool>,
}

impl Backend for RedisBackend {
    fn is_shared(&self) -> bool {
        true
    }

    fn forward(&self, topic: &str, text: &Utf8Bytes) {
        if self.forward.try_send((Arc::from(topic), text.clone())).is_err() {
            Metrics::incr(&self.metrics.pubsub_lost);
            if !self.overflowing.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    topic,
                    queued = FORWARD_QUEUE,
                    "redis is not keeping up: published messages reach this node's subscribers only until it does (counted in pubsub_lost)"
                );
            }
        }
    }

    fn join(&self, topic: &str) {
        let _ = self.orders.send(Order::Join(Arc::from(topic)));
    }

    fn leave(&self, topic: &str) {
        let _ = self.orders.send(Order::Leave(Arc::from(topic)));
    }
}

/// Connect both connections to `url`; refuse to start when Redis cannot be reached.
pub(super) async fn start(url: &str, metrics: &Arc<Metrics>) -> Result<Started, Error> {
    let unavailable = |message: String| Error::PubSub { url: redacted(url), message };
    let client = Client::open(url).map_err(|err| unavailable(err.to_string()))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(MAX_BACKOFF);
    let manager = tokio::time::timeout(CONNECT_TIMEOUT, client.get_connection_manager_with_config(config))
        .await
        .map_err(|_| unavailable("no answer within 2 s".into()))?
        .map_err(|err| unavailable(err.to_string()))?;
    let pubsub = connect_pubsub(&client).await.map_err(unavailable)?;
    let node: Arc<str> = Arc::from(node_id());
    tracing::info!(url = %redacted(url), node = %node, "rooms shared through redis");
    let (forward, forward_rx) = mpsc::channel(FORWARD_QUEUE);
    let (orders, orders_rx) = mpsc::unbounded_channel();
    let overflowing = Arc::new(AtomicBool::new(false));
    let backend =
        RedisBackend { forward, orders, metrics: Arc::clone(metrics), overflowing: Arc::clone(&overflowing) };
    let metrics = Arc::clone(metrics);
    let run = move |inbound: Inbound| {
        let publisher =
            Publisher { manager, node: Arc::clone(&node), metrics: Arc::clone(&metrics), overflowing };
        tokio::spawn(publisher.run(forward_rx, inbound.stop.clone()));
        let receiver = Receiver { client, node, metrics, inbound, wanted: HashSet::new() };
        tokio::spawn(receiver.run(pubsub, orders_rx));
    };
    Ok(Started { backend: Arc::new(backend), run: Some(Box::new(run)) })
}

async fn connect_pubsub(client: &Client) -> Result<PubSub, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub()).await {
        Ok(Ok(pubsub)) => Ok(pubsub),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("no answer within 2 s".into()),
    }
}

/// This node's id: the process id and the start time, unique among the nodes of one Redis.
fn node_id() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{:x}.{nanos:x}", std::process::id())
}

fn channel(topic: &str) -> String {
    format!("{CHANNEL_PREFIX}{topic}")
}

/// Sends what this node publishes, in order, in pipelines of up to [`BATCH`].
struct Publisher {
    manager: ConnectionManager,
    node: Arc<str>,
    metrics: Arc<Metrics>,
    overflowing: Arc<AtomicBool>,
}

impl Publisher {
    async fn run(mut self, mut queue: mpsc::Receiver<(Arc<str>, Utf8Bytes)>, stop: CancellationToken) {
        let mut batch = Vec::with_capacity(BATCH);
        let mut lost_in_outage: Option<u64> = None;
        let mut stopping = false;
        loop {
            tokio::select! {
                biased;
                received = queue.recv_many(&mut batch, BATCH) => if received == 0 { return },
                () = stop.cancelled(), if !stopping => {
                    // Send what is already queued, then end.
                    stopping = true;
                    queue.close();
                    continue;
                }
            }
            let mut pipe = ::redis::pipe();
            for (topic, text) in &batch {
                let mut wire = Vec::with_capacity(self.node.len() + 2 + text.len());
                wire.push(b'@');
                wire.extend_from_slice(self.node.as_bytes());
                wire.push(b'\n');
                wire.extend_from_slice(text.as_bytes());
                pipe.cmd("PUBLISH").arg(channel(topic)).arg(wire).ignore();
            }
            let sent = batch.len() as u64;
            batch.clear();
            match pipe.query_async::<()>(&mut self.manager).await {
                Ok(()) => {
                    self.metrics.pubsub_forwarded.fetch_add(sent, Ordering::Relaxed);
                    self.overflowing.store(false, Ordering::Relaxed);
                    if let Some(lost) = lost_in_outage.take() {
                        tracing::info!(lost, "redis reachable again: publishes reach the other nodes again");
                    }
                }
                Err(err) => {
                    self.metrics.pubsub_lost.fetch_add(sent, Ordering::Relaxed);
                    match &mut lost_in_outage {
                        Some(lost) => *lost += sent,
                        None => {
                            lost_in_outage = Some(sent);
                            tracing::warn!(
                                error = %err,
                                "cannot publish to redis: published messages reach this node's subscribers only until it is back (counted in pubsub_lost)"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Receives what other nodes publish to the topics this node's connections are in.
struct Receiver {
    client: Client,
    node: Arc<str>,
    metrics: Arc<Metrics>,
    inbound: Inbound,
    /// The topics this node has subscribers of.
    wanted: HashSet<Arc<str>>,
}

impl Receiver {
    async fn run(mut self, first: PubSub, mut orders: mpsc::UnboundedReceiver<Order>) {
        let mut connection = Some(first);
        let mut backoff = MIN_BACKOFF;
        let mut lost = false;
        loop {
            let pubsub = match connection.take() {
                Some(pubsub) => pubsub,
                None => {
                    tokio::select! {
                        () = self.inbound.stop.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    match connect_pubsub(&self.client).await {
                        Ok(pubsub) => pubsub,
                        Err(_) => continue,
                    }
                }
            };
            let (mut sink, mut stream) = pubsub.split();
            while let Ok(order) = orders.try_recv() {
                self.apply(&order);
            }
            if !self.wanted.is_empty() {
                let channels: Vec<String> = self.wanted.iter().map(|t| channel(t)).collect();
                if sink.subscribe(channels).await.is_err() {
                    continue;
                }
            }
            if std::mem::take(&mut lost) {
                tracing::info!(topics = self.wanted.len(), "redis pub/sub connection restored");
            }
            backoff = MIN_BACKOFF;
            loop {
                tokio::select! {
                    () = self.inbound.stop.cancelled() => return,
                    message = stream.next() => match message {
                        Some(message) => self.deliver(&message),
                        None => break,
                    },
                    order = orders.recv() => match order {
                        None => return,
                        Some(order) => if self.apply(&order) && send(&mut sink, &order).await.is_err() {
                            break;
                        },
                    },
                }
            }
            Metrics::incr(&self.metrics.pubsub_reconnects);
            tracing::warn!(
                "lost the redis pub/sub connection: what other nodes publish does not reach this node until it is back; reconnecting"
            );
            lost = true;
        }
    }

    /// Record `order` in the wanted set; `true` when it changed it.
    fn apply(&mut self, order: &Order) -> bool {
        match order {
            Order::Join(topic) => self.wanted.insert(Arc::clone(topic)),
            Order::Leave(topic) => self.wanted.remove(topic),
        }
    }

    /// Deliver a message from Redis to this node's subscribers, unless this node published it.
    fn deliver(&self, message: &Msg) {
        let Some(topic) = message.get_channel_name().strip_prefix(CHANNEL_PREFIX) else { return };
        let (origin, json) = split_wire(message.get_payload_bytes());
        if origin == Some(self.node.as_bytes()) {
            return;
        }
        let Some(topics) = self.inbound.topics.upgrade() else { return };
        let text = match std::str::from_utf8(json) {
            Ok(text) if serde_json::from_str::<IgnoredAny>(text).is_ok() => text,
            _ => {
                Metrics::incr(&self.metrics.pubsub_refused);
                tracing::warn!(topic, "a message from redis is not JSON text; dropped");
                return;
            }
        };
        Metrics::incr(&self.metrics.pubsub_received);
        topics.publish(topic, &Utf8Bytes::from(text.to_owned()), None);
    }
}

async fn send(sink: &mut PubSubSink, order: &Order) -> ::redis::RedisResult<()> {
    match order {
        Order::Join(topic) => sink.subscribe(channel(topic)).await,
        Order::Leave(topic) => sink.unsubscribe(channel(topic)).await,
    }
}

/// Split a message read from Redis into its origin node (if tagged) and its JSON text.
fn split_wire(payload: &[u8]) -> (Option<&[u8]>, &[u8]) {
    if payload.first() == Some(&b'@') {
        if let Some(end) = payload.iter().position(|&b| b == b'\n') {
            return (Some(&payload[1..end]), &payload[end + 1..]);
        }
    }
    (None, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_tagged_and_plain_messages() {
        assert_eq!(split_wire(b"@n1\n{\"a\":1}"), (Some(&b"n1"[..]), &b"{\"a\":1}"[..]));
        assert_eq!(split_wire(b"{\"a\":1}"), (None, &b"{\"a\":1}"[..]));
        assert_eq!(split_wire(b" [1]"), (None, &b" [1]"[..]));
    }
}
