//! Pub/sub backends: how a publish reaches the subscribers of a topic on other nodes.
//!
//! A *node* is one running [`Server`](crate::Server). Its topic registry always serves its own
//! subscribers directly; the backend carries what is published on this node to the other nodes
//! and what they publish back to this one. Two backends exist:
//!
//! - **in-process** (the default): rooms live in this process only; nothing is forwarded.
//! - **Redis** (`redis://host:port/db`, feature `redis`, on in every language package): each
//!   publish is also sent to the Redis channel `spikard:<topic>`, and the node subscribes to the
//!   channels of the topics its own connections are in (only those, and only while they are).
//!
//! The backend is chosen with [`App::pubsub`](crate::App::pubsub), or else by the environment
//! variable [`PUBSUB_ENV`] (read once, when the app is bound).
//!
//! # Wire format
//!
//! A message on the Redis channel `spikard:<topic>` is the published JSON text, optionally
//! preceded by a line naming the node that published it: `@<node id>\n<JSON text>`. A node
//! drops the messages tagged with its own id (it served its subscribers already), and delivers
//! everything else as it is, without parsing it again: any program can publish to a room with
//! `PUBLISH spikard:<topic> '<JSON text>'`. Topic schemas are checked once, by the publishing
//! node; what arrives from Redis is only checked to be JSON.

use std::{fmt, sync::Arc};

use axum::extract::ws::Utf8Bytes;

use crate::{Error, metrics::Metrics};

#[cfg(feature = "redis")]
mod redis;

/// The environment variable naming the pub/sub backend when the app does not set one: a Redis
/// URL (`redis://127.0.0.1:6379/0`), or `local` (or empty) for the in-process default.
pub const PUBSUB_ENV: &str = "SPIKARD_PUBSUB";

/// The prefix of every Redis channel Spikard uses: topic `news` is channel `spikard:news`.
pub const CHANNEL_PREFIX: &str = "spikard:";

/// Published messages waiting to be sent to a shared backend; beyond, a publish reaches this
/// node's subscribers only and is counted in `pubsub_lost`.
pub const FORWARD_QUEUE: usize = 65_536;

/// What the topic registry tells the backend. Every method returns at once: a backend that
/// talks to a broker queues the work for its own task, so no handler ever waits on the network.
pub(crate) trait Backend: Send + Sync + fmt::Debug {
    /// `true` when publishes go beyond this process (they must be serialised even when no local
    /// connection is subscribed).
    fn is_shared(&self) -> bool;

    /// Carry `text`, already delivered to this node's subscribers of `topic`, to the other nodes.
    fn forward(&self, topic: &str, text: &Utf8Bytes);

    /// This node now has a subscriber of `topic` (its first).
    fn join(&self, topic: &str);

    /// This node's last subscriber of `topic` left.
    fn leave(&self, topic: &str);
}

/// The in-process backend: rooms are this process's only.
#[derive(Debug, Default)]
pub(crate) struct Local;

impl Backend for Local {
    fn is_shared(&self) -> bool {
        false
    }

    fn forward(&self, _topic: &str, _text: &Utf8Bytes) {}

    fn join(&self, _topic: &str) {}

    fn leave(&self, _topic: &str) {}
}

/// Which backend an app asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PubSubConfig {
    /// In-process.
    Local,
    /// A Redis server, by URL.
    #[cfg(feature = "redis")]
    Redis(String),
}

impl PubSubConfig {
    /// Read `local`, an empty string, or a `redis://`, `rediss://`, `redis+unix://` or `unix://`
    /// URL.
    pub(crate) fn parse(url: &str) -> Result<Self, Error> {
        let url = url.trim();
        if url.is_empty() || url == "local" {
            return Ok(Self::Local);
        }
        let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
        if !matches!(scheme, "redis" | "rediss" | "redis+unix" | "unix") {
            return Err(Error::InvalidConfig(format!(
                "pubsub must be \"local\" or a redis:// URL, not {:?}",
                redacted(url)
            )));
        }
        #[cfg(feature = "redis")]
        {
            redis::check_url(url)?;
            Ok(Self::Redis(url.to_owned()))
        }
        #[cfg(not(feature = "redis"))]
        Err(Error::InvalidConfig(
            "pubsub: this build of spikard has no Redis support (feature `redis`)".into(),
        ))
    }

    /// The app's own choice, or else [`PUBSUB_ENV`], or else in-process. The one place the
    /// environment variable is read.
    pub(crate) fn resolve(chosen: Option<&Self>) -> Result<Self, Error> {
        if let Some(chosen) = chosen {
            return Ok(chosen.clone());
        }
        match std::env::var(PUBSUB_ENV) {
            Ok(url) => Self::parse(&url).map_err(|err| match err {
                Error::InvalidConfig(message) => Error::InvalidConfig(format!("{PUBSUB_ENV}: {message}")),
                other => other,
            }),
            Err(_) => Ok(Self::Local),
        }
    }
}

/// The backend chosen for a server, and the task that runs it once the server has a registry.
pub(crate) struct Started {
    pub(crate) backend: Arc<dyn Backend>,
    /// Starts the backend's own tasks, which deliver what other nodes publish to `topics`.
    pub(crate) run: Option<Box<dyn FnOnce(Inbound) + Send>>,
}

/// Where a backend delivers what other nodes published, and when it stops.
#[cfg_attr(not(feature = "redis"), expect(dead_code, reason = "only a shared backend receives"))]
pub(crate) struct Inbound {
    /// The registry to deliver to (weak: the server may end first).
    pub(crate) topics: std::sync::Weak<crate::topics::Topics>,
    /// Cancelled when the server stops.
    pub(crate) stop: tokio_util::sync::CancellationToken,
}

/// Connect the backend `config` names. A Redis server that cannot be reached is an
/// [`Error::PubSub`]: the node refuses to start rather than serve rooms split in two.
#[cfg_attr(not(feature = "redis"), allow(clippy::unused_async))]
pub(crate) async fn start(config: &PubSubConfig, metrics: &Arc<Metrics>) -> Result<Started, Error> {
    #[cfg(not(feature = "redis"))]
    let _ = metrics;
    match config {
        PubSubConfig::Local => Ok(Started { backend: Arc::new(Local), run: None }),
        #[cfg(feature = "redis")]
        PubSubConfig::Redis(url) => redis::start(url, metrics).await,
    }
}

/// `url` with its password, if any, replaced by `***`, for messages and logs.
pub(crate) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return url.to_owned() };
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    let path = path.map(|p| format!("/{p}")).unwrap_or_default();
    format!("{scheme}://{user}:***@{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_backend_names() {
        assert_eq!(PubSubConfig::parse("").unwrap(), PubSubConfig::Local);
        assert_eq!(PubSubConfig::parse("local").unwrap(), PubSubConfig::Local);
        let err = PubSubConfig::parse("kafka://x").unwrap_err();
        assert_eq!(err.code(), "invalid_config");
        assert!(err.to_string().contains("redis:// URL"), "{err}");
    }

    #[test]
    fn hides_passwords() {
        assert_eq!(redacted("redis://:secret@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(redacted("redis://u:secret@h"), "redis://u:***@h");
        assert_eq!(redacted("redis://h:1/0"), "redis://h:1/0");
    }
}
