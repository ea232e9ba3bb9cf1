//! Published messages held while a reader is in a burst: released by the end of the burst, by
//! a reply to the subscriber, or not held at all when the interval is zero.

use std::time::Duration;

use serde_json::{Value, json};
use spikard::{
    App, Connection, HandlerError, Rejection, WebSocketHandler, async_trait,
    testing::{TestClient, TestServer},
};
use tokio::time::Instant;

/// How long the publisher's handler keeps its burst going after publishing.
const BUSY: Duration = Duration::from_millis(1500);

/// Joins room `r`. `{"publish": x}` publishes `{"text": x}` to the others, then stays in the
/// handler for [`BUSY`] and replies `{"done": x}`; anything else is answered `{"pong": ...}`.
struct Publisher;

#[async_trait]
impl WebSocketHandler for Publisher {
    async fn on_connect(&self, conn: &Connection) -> Result<(), Rejection> {
        assert!(conn.subscribe("r"));
        Ok(())
    }

    async fn handle_message(&self, conn: &Connection, message: Value) -> Result<Option<Value>, HandlerError> {
        if let Some(text) = message.get("publish") {
            conn.publish_others("r", &json!({"text": text}))?;
            tokio::time::sleep(BUSY).await;
            return Ok(Some(json!({"done": text})));
        }
        Ok(Some(json!({"pong": message})))
    }
}

async fn server(interval: Duration) -> (TestServer, TestClient, TestClient) {
    let mut app = App::new();
    app.fanout_flush_interval(interval);
    app.websocket("/room", Publisher).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let publisher = server.connect("/room").await.unwrap();
    let subscriber = server.connect("/room").await.unwrap();
    (server, publisher, subscriber)
}

/// Nothing arrives for `client` within `wait`.
async fn silent(client: &mut TestClient, wait: Duration) -> bool {
    tokio::time::timeout(wait, client.receive_json()).await.is_err()
}

#[tokio::test]
async fn a_held_message_waits_for_the_burst_and_a_reply_releases_it_in_order() {
    let (server, mut publisher, mut subscriber) = server(Duration::from_secs(60)).await;
    let started = Instant::now();
    publisher.send_json(&json!({"publish": "one"})).await.unwrap();
    assert!(
        silent(&mut subscriber, Duration::from_millis(400)).await,
        "a message published during a burst reached the subscriber before the burst ended"
    );
    subscriber.send_json(&json!(1)).await.unwrap();
    assert_eq!(subscriber.receive_json().await.unwrap(), json!({"text": "one"}));
    assert_eq!(subscriber.receive_json().await.unwrap(), json!({"pong": 1}));
    assert!(started.elapsed() < BUSY, "the reply waited for the publisher's burst");
    assert_eq!(publisher.receive_json().await.unwrap(), json!({"done": "one"}));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_end_of_the_burst_releases_what_it_published() {
    let (server, mut publisher, mut subscriber) = server(Duration::from_secs(60)).await;
    let started = Instant::now();
    publisher.send_json(&json!({"publish": "two"})).await.unwrap();
    assert_eq!(publisher.receive_json().await.unwrap(), json!({"done": "two"}));
    assert_eq!(subscriber.receive_json().await.unwrap(), json!({"text": "two"}));
    assert!(started.elapsed() >= BUSY, "the held message left before the burst ended");
    server.shutdown().await.unwrap();
}

/// With this `interval`, a message published at the start of a long burst reaches the
/// subscriber before the burst ends.
async fn arrives_during_the_burst(interval: Duration, text: &str, why: &str) {
    let (server, mut publisher, mut subscriber) = server(interval).await;
    let started = Instant::now();
    publisher.send_json(&json!({"publish": text})).await.unwrap();
    assert_eq!(subscriber.receive_json().await.unwrap(), json!({"text": text}));
    assert!(started.elapsed() < BUSY, "{why}");
    assert_eq!(publisher.receive_json().await.unwrap(), json!({"done": text}));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_zero_interval_holds_nothing() {
    arrives_during_the_burst(Duration::ZERO, "three", "a zero interval still held the message for the burst")
        .await;
}

#[tokio::test]
async fn the_interval_bounds_the_hold() {
    arrives_during_the_burst(Duration::from_millis(100), "four", "the hold outlasted its interval").await;
}
