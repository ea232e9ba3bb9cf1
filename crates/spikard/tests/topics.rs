//! Topics (rooms): fan-out in order to many members, publishing from outside any connection,
//! and no membership left behind by connections that end.

use serde_json::{Value, json};
use spikard::{
    App, CloseInfo, Connection, HandlerError, Rejection, WebSocketHandler, async_trait, handler_fn,
    testing::{TestClient, TestServer},
};
use tokio::sync::mpsc;

/// How many more connections ended (all of them, once the server has drained).
async fn count_remaining_disconnects(ended: &mut mpsc::UnboundedReceiver<u64>) -> usize {
    let mut n = 0;
    while ended.recv().await.is_some() {
        n += 1;
    }
    n
}

/// Joins the room named in the path; every message is published to the room. Reports each
/// ended connection on `ended`.
struct Room {
    ended: mpsc::UnboundedSender<u64>,
}

#[async_trait]
impl WebSocketHandler for Room {
    async fn on_connect(&self, conn: &Connection) -> Result<(), Rejection> {
        assert!(conn.subscribe(conn.path_param("room").unwrap()));
        Ok(())
    }

    async fn handle_message(&self, conn: &Connection, message: Value) -> Result<Option<Value>, HandlerError> {
        conn.publish_others(conn.path_param("room").unwrap(), &message)?;
        Ok(None)
    }

    async fn on_disconnect(&self, conn: &Connection, _close: CloseInfo) {
        let _ = self.ended.send(conn.id().get());
    }
}

async fn room_server() -> (TestServer, mpsc::UnboundedReceiver<u64>) {
    let (ended, rx) = mpsc::unbounded_channel();
    let mut app = App::new();
    app.websocket("/rooms/{room}", Room { ended }).unwrap();
    (TestServer::start(app).await.unwrap(), rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_clients_each_see_every_other_clients_messages_in_order() {
    let (server, _ended) = room_server().await;
    let mut clients: Vec<TestClient> = Vec::new();
    for _ in 0..10 {
        clients.push(server.connect("/rooms/ten").await.unwrap());
    }
    assert_eq!(server.handle().topic_count("ten"), 10);
    const PER_CLIENT: usize = 20;
    for round in 0..PER_CLIENT {
        for (sender, client) in clients.iter_mut().enumerate() {
            client.send_json(&json!({"from": sender, "n": round})).await.unwrap();
        }
    }
    for (me, client) in clients.iter_mut().enumerate() {
        let mut next = [0_usize; 10];
        for _ in 0..PER_CLIENT * 9 {
            let got = client.receive_json().await.unwrap();
            let from = usize::try_from(got["from"].as_u64().unwrap()).unwrap();
            assert_ne!(from, me, "publish_others delivered to the sender");
            assert_eq!(got["n"], json!(next[from]), "client {me}: messages of {from} out of order");
            next[from] += 1;
        }
        assert!(next.iter().enumerate().all(|(i, n)| *n == if i == me { 0 } else { PER_CLIENT }));
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn publishing_from_outside_reaches_members_and_ended_connections_leave() {
    let (server, mut ended) = room_server().await;
    let handle = server.handle().clone();
    let mut a = server.connect("/rooms/news").await.unwrap();
    let mut b = server.connect("/rooms/news").await.unwrap();
    let _other = server.connect("/rooms/sport").await.unwrap();

    let delivered =
        tokio::spawn(async move { handle.publish("news", &json!({"headline": 1})) }).await.unwrap().unwrap();
    assert_eq!(delivered, 2);
    assert_eq!(a.receive_json().await.unwrap(), json!({"headline": 1}));
    assert_eq!(b.receive_json().await.unwrap(), json!({"headline": 1}));
    assert_eq!(server.handle().publish("nobody", &json!(1)), Ok(0));
    assert_eq!(server.handle().topics(), vec!["news", "sport"], "sorted");

    b.close(1000, "").await.unwrap();
    let b_id = ended.recv().await.unwrap();
    let members: Vec<u64> = server.handle().topic_members("news").iter().map(|m| m.id().get()).collect();
    assert_eq!(members.len(), 1, "{members:?}");
    assert!(!members.contains(&b_id));
    let mut c = server.connect("/rooms/news").await.unwrap();
    c.send_json(&json!("hi")).await.unwrap();
    assert_eq!(a.receive_json().await.unwrap(), json!("hi"));
    assert_eq!(server.handle().topic_count("news"), 2);
    server.shutdown().await.unwrap();
    assert_eq!(count_remaining_disconnects(&mut ended).await, 3);
}

#[tokio::test]
async fn a_topic_schema_refuses_a_failing_publish_before_anyone_gets_it() {
    let (ended, _rx) = mpsc::unbounded_channel();
    let mut app = App::new();
    app.websocket("/rooms/{room}", Room { ended }).unwrap();
    let schema = json!({"type": "object", "required": ["text"], "properties": {"text": {"maxLength": 3}}});
    app.topic_schema("news*", schema).unwrap();
    app.topic_schema("newsroom", json!({"type": "object", "required": ["desk"]})).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let mut reader = server.connect("/rooms/news").await.unwrap();
    let handle = server.handle();

    let err = handle.publish("news", &json!({"text": "too long"})).unwrap_err();
    assert_eq!(err.code(), "publish_invalid");
    assert_eq!(err.topic(), "news");
    assert_eq!(err.errors().iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), vec!["/text"]);
    assert!(!err.to_string().contains("too long"), "the value must not be echoed: {err}");
    // The exact pattern beats the prefix; unmatched topics are not checked.
    let err = handle.publish("newsroom", &json!({"text": "ok"})).unwrap_err();
    assert_eq!(err.errors()[0].path, "/desk");
    assert_eq!(handle.publish("sport", &json!("anything")), Ok(0));
    assert_eq!(handle.publish("news", &json!({"text": "ok"})), Ok(1));
    assert_eq!(reader.receive_json().await.unwrap(), json!({"text": "ok"}));
    assert_eq!(handle.metrics().publishes_refused, 2);

    // Uncaught in a handler (`?`), a refused publish is an internal error: the client gets the
    // generic message, never the core's text (which goes to the log).
    let mut writer = server.connect("/rooms/news").await.unwrap();
    writer.send_json(&json!({"text": "four"})).await.unwrap();
    let envelope = writer.receive_json().await.unwrap();
    assert_eq!(envelope["code"], "handler_error");
    assert_eq!(envelope["message"], json!("internal error"));
    reader.send_json(&json!({"text": "ok"})).await.unwrap();
    assert_eq!(writer.receive_json().await.unwrap(), json!({"text": "ok"}));
    server.shutdown().await.unwrap();
}

#[test]
fn topic_patterns_are_checked_at_registration() {
    let mut app = App::new();
    for bad in ["", "*", "a*b*", "*news"] {
        let err = app.topic_schema(bad, json!({})).unwrap_err();
        assert_eq!(err.code(), "invalid_config", "{bad:?}");
    }
    app.topic_schema("news", json!({})).unwrap();
    assert_eq!(app.topic_schema("news", json!({})).unwrap_err().code(), "invalid_config");
    let err = app.topic_schema("room:*", json!({"type": 12})).unwrap_err();
    assert_eq!(err.code(), "schema_compile");
    assert!(err.to_string().contains("room:*"), "{err}");
}

#[tokio::test]
async fn a_capture_records_every_publish_to_its_topic_while_it_lives() {
    let mut app = App::new();
    app.topic_schema("checked", json!({"type": "object", "required": ["ok"]})).unwrap();
    app.websocket(
        "/pub",
        handler_fn(|conn: Connection, message: Value| async move {
            conn.publish("room", &message).map_err(|e| HandlerError::internal(e.to_string()))?;
            Ok(Some(json!("sent")))
        }),
    )
    .unwrap();
    let server = TestServer::start(app).await.unwrap();
    let handle = server.handle().clone();
    let room = handle.capture("room");
    let checked = handle.capture("checked");
    let mut client = server.connect("/pub").await.unwrap();
    client.send_json(&json!({"n": 1})).await.unwrap();
    assert_eq!(client.receive_json().await.unwrap(), json!("sent"));
    // Published by the server to a room nobody is in: recorded all the same.
    assert_eq!(handle.publish("room", &json!({"n": 2})).unwrap(), 0);
    assert!(handle.publish("checked", &json!({"bad": true})).is_err());
    handle.publish("checked", &json!({"ok": true})).unwrap();
    handle.publish("elsewhere", &json!({"n": 3})).unwrap();
    assert_eq!(room.topic(), "room");
    assert_eq!(room.messages(), vec![json!({"n": 1}), json!({"n": 2})]);
    assert_eq!(checked.take(), vec![json!({"ok": true})]);
    assert!(checked.messages().is_empty());
    drop(room);
    handle.publish("room", &json!({"n": 4})).unwrap();
    let again = handle.capture("room");
    assert!(again.messages().is_empty());
    handle.publish("room", &json!({"n": 5})).unwrap();
    assert_eq!(again.messages(), vec![json!({"n": 5})]);
    // Stopped while still held (a host's object the garbage collector frees later).
    again.stop();
    handle.publish("room", &json!({"n": 6})).unwrap();
    assert!(again.messages().is_empty() && again.take().is_empty());
    server.shutdown().await.unwrap();
}
