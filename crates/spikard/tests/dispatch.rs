//! Dispatch by message type through the bridge: a host route described as JSON
//! (`RouteSpec::from_json` with `dispatch`) gets jobs that name the branch the core picked, and
//! only messages that passed that branch's schema. The native Rust API is pinned by the
//! `dispatch_*` fixtures.

use std::{sync::Arc, thread};

use serde_json::{Value, json};
use spikard::{
    App, Connection, HandlerError, Route,
    bridge::{Batch, JobQueue, Outcome, RouteSpec, WakePolicy, Woken},
    handler_fn,
    testing::TestServer,
};

#[tokio::test]
async fn a_host_gets_the_branch_name_with_each_dispatched_message() {
    let queue = JobQueue::new(WakePolicy::Blocking);
    let spec = RouteSpec::from_json(
        &json!({
            "path": "/chat",
            "dispatch": {
                "discriminator": "kind",
                "branches": {
                    "join": {"message_schema": {"type": "object", "required": ["user"]}},
                    "say": {"reply_schema": {"type": "object", "required": ["branch"]}}
                }
            }
        }),
        false,
    )
    .unwrap();
    // The host answers with the branch it was told and the message it got.
    let host = thread::spawn({
        let queue = Arc::clone(&queue);
        move || {
            let mut batch = Batch::new();
            let mut seen = Vec::new();
            while queue.wait(&mut batch) != Woken::Closed {
                for mut job in batch.jobs.drain(..) {
                    let branch = job.branch().map(str::to_owned);
                    seen.push(branch.clone());
                    let message = job.call().message().cloned();
                    job.answer(Outcome::reply_json(Some(json!({"branch": branch, "message": message}))))
                        .unwrap();
                }
                batch.logs.clear();
            }
            seen
        }
    });
    let mut app = App::new();
    app.route(spec.into_route(0, &queue)).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let mut client = server.connect("/chat").await.unwrap();

    client.send_json(&json!({"kind": "join", "user": "ann", "id": "j1"})).await.unwrap();
    let reply = client.receive_json().await.unwrap();
    assert_eq!(
        reply,
        json!({"branch": "join", "message": {"kind": "join", "user": "ann", "id": "j1"}, "id": "j1"})
    );
    // Refused by the core: the host never hears of these.
    client.send_json(&json!({"kind": "join"})).await.unwrap();
    assert_eq!(client.receive_json().await.unwrap()["errors"][0]["path"], "/user");
    client.send_json(&json!({"kind": "kick"})).await.unwrap();
    let refusal = client.receive_json().await.unwrap();
    assert_eq!(refusal["errors"][0]["message"], r#"value is not one of "join", "say""#);
    client.send_json(&json!({"kind": "say", "id": 3})).await.unwrap();
    assert_eq!(client.receive_json().await.unwrap()["id"], 3);

    drop(client);
    server.shutdown().await.unwrap();
    queue.close();
    assert_eq!(host.join().unwrap(), vec![Some("join".to_owned()), Some("say".to_owned())]);
}

#[tokio::test]
async fn a_non_object_reply_is_sent_without_the_id() {
    let list =
        handler_fn(|_c: Connection, _m: Value| async move { Ok::<_, HandlerError>(Some(json!([1, 2]))) });
    let mut app = App::new();
    app.route(Route::dispatch("/r").on("list", json!(true), list)).unwrap();
    let server = TestServer::start(app).await.unwrap();
    let mut client = server.connect("/r").await.unwrap();
    client.send_json(&json!({"type": "list", "id": 1})).await.unwrap();
    assert_eq!(client.receive_json().await.unwrap(), json!([1, 2]));
    drop(client);
    server.shutdown().await.unwrap();
}

#[test]
fn a_dispatching_route_takes_no_route_schema_and_is_not_raw_text() {
    let echo = || handler_fn(|_c: Connection, m: Value| async move { Ok::<_, HandlerError>(Some(m)) });
    for route in [
        Route::dispatch("/a").on("x", json!(true), echo()).message_schema(json!({})),
        Route::dispatch("/a").on("x", json!(true), echo()).response_schema(json!({})),
        Route::dispatch("/a").on("x", json!(true), echo()).raw_text(),
        Route::dispatch("/a").on("x", json!(true), echo()).discriminator(""),
        Route::dispatch("/a").discriminator("kind"),
        Route::dispatch("/a"),
    ] {
        assert_eq!(App::new().route(route).unwrap_err().code(), "invalid_config");
    }
}
