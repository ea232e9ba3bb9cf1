//! Runs every shared fixture in `fixtures/websocket/` against a real server on 127.0.0.1:0 with
//! real WebSocket clients, one test per fixture, reported by name.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{Value, json};
use spikard::{
    App, Branch, Bytes, CloseInfo, CompiledSchema, Compression, Connection, HandlerError, Rejection, Reply,
    Route, StatusCode, WebSocketHandler, async_trait,
    bridge::{Failure, protocol},
    testing::{ClientError, Received, TestClient, TestServer},
};
use tokio::sync::Notify;

const LANGUAGE: &str = "rust";

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn main() {
    let args = Arguments::from_args();
    let dir = fixtures_dir();
    let format: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("schema.json")).unwrap()).unwrap();
    let format = CompiledSchema::compile("fixtures/schema.json", "message", &format).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("websocket"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "expected at least 30 fixtures, found {}", files.len());
    let trials = files
        .into_iter()
        .map(|path| {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let parsed: Result<Value, _> = serde_json::from_str(&text);
            let errors: Vec<_> = parsed.as_ref().map(|v| format.errors(v).collect()).unwrap_or_default();
            let skip = parsed.as_ref().ok().and_then(|v| v["skip"][LANGUAGE].as_str().map(str::to_owned));
            let trial = Trial::test(stem.clone(), move || {
                let fixture = parsed.map_err(|e| format!("not JSON: {e}"))?;
                if !errors.is_empty() {
                    return Err(format!("does not match fixtures/schema.json: {errors:?}").into());
                }
                if fixture["name"] != json!(stem) {
                    return Err("`name` must equal the file name".into());
                }
                run_fixture(&fixture)
            });
            trial.with_ignored_flag(skip.is_some())
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// The hook log shared by a fixture's handlers.
#[derive(Default)]
struct Log {
    events: Mutex<Vec<String>>,
    changed: Notify,
}

impl Log {
    fn push(&self, event: String) {
        self.events.lock().unwrap().push(event);
        self.changed.notify_waiters();
    }
}

struct Behaviour {
    name: String,
    log: Arc<Log>,
}

#[derive(Clone, Copy)]
struct Count(u64);

#[async_trait]
impl WebSocketHandler for Behaviour {
    async fn on_connect(&self, conn: &Connection) -> Result<(), Rejection> {
        match self.name.as_str() {
            "lifecycle" => self.log.push("connect".into()),
            "reject" => return Err(Rejection::forbidden("not allowed")),
            "close_on_connect" => conn.close(1008, "not allowed"),
            "connect_crash" => panic!("secret internal detail"),
            "connect_slow" => {
                self.log.push("connect".into());
                let ms = conn.query_param("ms").and_then(|ms| ms.parse().ok()).unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            "reject_status" => {
                let status = conn.query_param("status").and_then(|s| s.parse().ok()).unwrap_or(403);
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
                return Err(Rejection::with_status(status, "not allowed"));
            }
            "rooms" => {
                let room = conn.path_param("room").unwrap_or_default();
                conn.subscribe(room);
                conn.publish(room, &json!({"event": "join", "user": user(conn)}))
                    .map_err(|e| Rejection::forbidden(e.to_string()))?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn handle_message(&self, conn: &Connection, message: Value) -> Result<Option<Value>, HandlerError> {
        Ok(match self.name.as_str() {
            "chat_reply" => Some(json!({"echo": message["text"], "from": message["user"]})),
            "raise" => return Err(HandlerError::new("boom")),
            "crash" => panic!("secret internal detail"),
            "bytes_reply" => {
                // A native Rust handler answers JSON; bytes go out with the connection's send.
                conn.send_binary(message["text"].as_str().unwrap_or_default().as_bytes().to_vec())
                    .map_err(|e| HandlerError::internal(e.to_string()))?;
                None
            }
            "send_until_full" => {
                let fill = "x".repeat(usize::try_from(message["bytes"].as_u64().unwrap_or(0)).unwrap_or(0));
                for seq in 0..message["count"].as_u64().unwrap_or(0) {
                    if let Err(err) = conn.send_json(&json!({"seq": seq, "fill": fill})) {
                        self.log.push(format!("send_failed:{}", Failure::from(err).code.as_str()));
                        break;
                    }
                }
                None
            }
            "reply_when_asked" => (message["reply"] == json!(true)).then_some(message),
            "lifecycle" => {
                self.log.push("message".into());
                Some(message)
            }
            "connection_info" => {
                let mut cookies = serde_json::Map::new();
                for (name, value) in conn.cookies() {
                    cookies.entry(name).or_insert(json!(value));
                }
                Some(json!({"subprotocol": conn.subprotocol(), "cookies": cookies}))
            }
            "sleep" => {
                self.log.push("message".into());
                tokio::time::sleep(Duration::from_millis(message["ms"].as_u64().unwrap_or(0))).await;
                Some(message)
            }
            "params" => {
                let mut query = serde_json::Map::new();
                for (k, v) in conn.query_params() {
                    query.entry(k.clone()).or_insert_with(|| json!(v));
                }
                let path: serde_json::Map<String, Value> =
                    conn.path_params().iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                let header = conn.headers().get("x-fixture").and_then(|v| v.to_str().ok());
                Some(json!({"path_params": path, "query": query, "header": header}))
            }
            "counter" => {
                let mut state = conn.state();
                let next = state.get::<Count>().map_or(1, |c| c.0 + 1);
                state.insert(Count(next));
                Some(json!({"count": next}))
            }
            "push" => {
                for i in 0..message["times"].as_u64().unwrap_or(0) {
                    conn.send_json(&json!({"push": i})).map_err(|e| HandlerError::new(e.to_string()))?;
                }
                Some(json!({"done": true}))
            }
            "rooms" => {
                let room = conn.path_param("room").unwrap_or_default();
                match message["action"].as_str() {
                    Some("leave") => {
                        conn.unsubscribe(room);
                        Some(json!({"left": room}))
                    }
                    Some("count") => Some(json!({"members": conn.topic_count(room)})),
                    Some("publish") => {
                        let topic = message["topic"].as_str().unwrap_or_default();
                        let sent =
                            conn.publish(topic, &json!({"user": user(conn), "text": message["text"]}))?;
                        Some(json!({"delivered": sent}))
                    }
                    Some("flood") => {
                        let topic = message["topic"].as_str().unwrap_or_default();
                        let count = message["count"].as_u64().unwrap_or(0);
                        let fill =
                            "x".repeat(usize::try_from(message["bytes"].as_u64().unwrap_or(0)).unwrap_or(0));
                        for seq in 0..count {
                            let _ = conn.publish(topic, &json!({"seq": seq, "fill": fill}));
                        }
                        Some(json!({"flooded": count}))
                    }
                    _ => {
                        conn.publish(room, &json!({"user": user(conn), "text": message["text"]}))?;
                        None
                    }
                }
            }
            "close_on_message" => {
                let code = u32::try_from(message["code"].as_u64().unwrap_or(1000)).unwrap_or(u32::MAX);
                protocol::close(conn, code, message["reason"].as_str().unwrap_or(""))
                    .map_err(|e| HandlerError::internal(e.message))?;
                None
            }
            _ => Some(message),
        })
    }

    fn accepts_binary(&self) -> bool {
        self.name == "binary_echo"
    }

    async fn handle_binary(&self, _conn: &Connection, data: Bytes) -> Result<Option<Reply>, HandlerError> {
        Ok(Some(Reply::Binary(data)))
    }

    async fn on_disconnect(&self, conn: &Connection, close: CloseInfo) {
        if self.name == "rooms" {
            let room = conn.path_param("room").unwrap_or_default();
            let _ = conn.publish(room, &json!({"event": "leave", "user": user(conn)}));
        }
        if matches!(self.name.as_str(), "lifecycle" | "reject" | "rooms" | "sleep") {
            self.log.push(format!("disconnect:{}", close.code));
        }
    }
}

fn user(conn: &Connection) -> &str {
    conn.query_param("user").unwrap_or("anonymous")
}

fn run_fixture(fixture: &Value) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let log = Arc::new(Log::default());
        let mut app = App::new();
        if let Some(size) = fixture["app"]["max_message_size"].as_u64() {
            app.max_message_size(usize::try_from(size)?)?;
        }
        if let Some(messages) = fixture["app"]["outgoing_queue"].as_u64() {
            app.outgoing_queue(usize::try_from(messages)?)?;
        }
        if let Some(connections) = fixture["app"]["max_connections"].as_u64() {
            app.max_connections(usize::try_from(connections)?)?;
        }
        if let Some(origins) = fixture["app"]["allowed_origins"].as_array() {
            app.allowed_origins(origins.iter().filter_map(Value::as_str))?;
        }
        if let Some(ms) = fixture["app"]["fanout_flush_ms"].as_u64() {
            app.fanout_flush_interval(Duration::from_millis(ms));
        }
        if let Some(bytes) = fixture["app"]["outgoing_queue_bytes"].as_u64() {
            app.outgoing_queue_bytes(usize::try_from(bytes)?)?;
        }
        if let Some(ms) = fixture["app"]["ping_interval_ms"].as_u64() {
            app.ping_interval(Duration::from_millis(ms));
        }
        if let Some(ms) = fixture["app"]["ping_timeout_ms"].as_u64() {
            app.ping_timeout(Duration::from_millis(ms))?;
        }
        if let Some(ms) = fixture["app"]["handshake_timeout_ms"].as_u64() {
            app.handshake_timeout(Duration::from_millis(ms))?;
        }
        if let Some(ms) = fixture["app"]["drain_timeout_ms"].as_u64() {
            app.drain_timeout(Duration::from_millis(ms));
        }
        if let Some(ms) = fixture["app"]["idle_timeout_ms"].as_u64() {
            app.idle_timeout(Duration::from_millis(ms));
        }
        match &fixture["app"]["compression"] {
            Value::Null => {}
            Value::Bool(on) => {
                app.compression(on.then(Compression::default));
            }
            settings => {
                let mut compression = Compression::default();
                if let Some(bytes) = settings["threshold"].as_u64() {
                    compression.threshold = usize::try_from(bytes)?;
                }
                if let Some(on) = settings["server_context_takeover"].as_bool() {
                    compression.server_context_takeover = on;
                }
                app.compression(Some(compression));
            }
        }
        for topic in fixture["app"]["topics"].as_array().into_iter().flatten() {
            app.topic_schema(topic["pattern"].as_str().ok_or("pattern")?, topic["schema"].clone())?;
        }
        for route in fixture["routes"].as_array().ok_or("routes")? {
            let handler = Behaviour {
                name: route["handler"].as_str().ok_or("handler")?.to_owned(),
                log: Arc::clone(&log),
            };
            let mut r = Route::new(route["path"].as_str().ok_or("path")?, handler);
            if let Some(schema) = route.get("message_schema") {
                r = r.message_schema(schema.clone());
            }
            if let Some(schema) = route.get("response_schema") {
                r = r.response_schema(schema.clone());
            }
            if let Some(size) = route["options"]["max_message_size"].as_u64() {
                r = r.max_message_size(usize::try_from(size)?);
            }
            if route["options"]["raw_text"] == json!(true) {
                r = r.raw_text();
            }
            if let Some(protocols) = route["options"]["subprotocols"].as_array() {
                r = r.subprotocols(protocols.iter().filter_map(Value::as_str));
            }
            if let Some(dispatch) = route.get("dispatch") {
                if let Some(field) = dispatch["discriminator"].as_str() {
                    r = r.discriminator(field);
                }
                for (name, spec) in dispatch["branches"].as_object().ok_or("branches")? {
                    let handler = Behaviour {
                        name: spec["handler"].as_str().ok_or("branch handler")?.to_owned(),
                        log: Arc::clone(&log),
                    };
                    let mut branch = Branch::new(name, handler);
                    if let Some(schema) = spec.get("message_schema") {
                        branch = branch.message_schema(schema.clone());
                    }
                    if let Some(schema) = spec.get("reply_schema") {
                        branch = branch.reply_schema(schema.clone());
                    }
                    if let Some(text) = spec["description"].as_str() {
                        branch = branch.description(text);
                    }
                    r = r.branch(branch);
                }
            }
            app.route(r)?;
        }
        let server = TestServer::start(app).await?;
        let mut clients: HashMap<String, TestClient> = HashMap::new();
        for (index, step) in fixture["steps"].as_array().ok_or("steps")?.iter().enumerate() {
            run_step(&server, &mut clients, &log, step)
                .await
                .map_err(|e| format!("step {index} {step}: {}", e.message().unwrap_or_default()))?;
        }
        drop(clients);
        server.shutdown().await?;
        Ok(())
    })
}

async fn run_step(
    server: &TestServer,
    clients: &mut HashMap<String, TestClient>,
    log: &Log,
    step: &Value,
) -> Result<(), Failed> {
    let object = step.as_object().ok_or("step is not an object")?;
    let name = object.get("client").and_then(Value::as_str).unwrap_or("default").to_owned();
    let (action, arg) = object.iter().find(|(k, _)| *k != "client").ok_or("empty step")?;
    let headers: Vec<(String, String)> = arg["headers"]
        .as_object()
        .map(|h| h.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    match action.as_str() {
        "connect" => {
            if arg["compression"] == json!(true) {
                return Err("this client (tokio-tungstenite) cannot offer permessage-deflate".into());
            }
            // `answer_pings: false` needs nothing here: this client answers a ping only while a
            // step reads, and fixtures read from such a client only after the server closed it.
            let offered = arg["protocols"]
                .as_array()
                .map(|p| p.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "));
            let mut headers = headers;
            if let Some(offered) = &offered {
                headers.push(("Sec-WebSocket-Protocol", offered));
            }
            let client =
                TestClient::connect(&server.url(arg["path"].as_str().ok_or("path")?), &headers).await?;
            if let Some(want) = arg.get("subprotocol") {
                if &json!(client.subprotocol()) != want {
                    return Err(
                        format!("selected subprotocol {:?}, expected {want}", client.subprotocol()).into()
                    );
                }
            }
            clients.insert(name, client);
            return Ok(());
        }
        "connect_rejected" => {
            let url = server.url(arg["path"].as_str().ok_or("path")?);
            return match TestClient::connect(&url, &headers).await {
                Err(ClientError::Rejected(status)) if json!(status) == arg["status"] => Ok(()),
                Err(err) => Err(format!("expected HTTP {}, got {err}", arg["status"]).into()),
                Ok(_) => Err("the upgrade succeeded".into()),
            };
        }
        "expect_events" => return expect_events(log, arg).await,
        "shutdown" => {
            server.handle().shutdown();
            return Ok(());
        }
        _ => {}
    }
    let client = clients.get_mut(&name).ok_or_else(|| format!("client {name} is not connected"))?;
    match action.as_str() {
        "send_json" => client.send_json(arg).await?,
        "send_text" => client.send_text(arg.as_str().ok_or("string")?).await?,
        "send_text_bytes_hex" => client.send_text_bytes(&hex(arg)?).await?,
        "send_binary_hex" => client.send_binary(&hex(arg)?).await?,
        "send_frames" => client.send_raw(&frames(arg)?).await?,
        "send_ping" => client.ping(arg.as_str().ok_or("string")?.as_bytes()).await?,
        "expect_pong" => {
            expect(client.receive().await?, &Received::Pong(arg.as_str().ok_or("string")?.into()))?
        }
        "expect_binary_hex" => expect(client.receive_data().await?, &Received::Binary(hex(arg)?))?,
        "expect_text" => {
            expect(client.receive_data().await?, &Received::Text(arg.as_str().ok_or("string")?.to_owned()))?;
        }
        "expect_json" => {
            let got = client.receive_json().await?;
            if &got != arg {
                return Err(format!("expected {arg}, got {got}").into());
            }
        }
        "expect_error" => {
            let text = match client.receive_data().await? {
                Received::Text(text) => text,
                other => return Err(format!("expected an error envelope, got {other:?}").into()),
            };
            let got: Value = serde_json::from_str(&text)?;
            check_envelope(&got, arg).map_err(|e| format!("{e}; got {got}"))?;
            if let Some(excluded) = arg["excludes"].as_str() {
                if text.contains(excluded) {
                    return Err(format!("the envelope contains {excluded:?}: {text}").into());
                }
            }
        }
        "expect_nothing_ms" => {
            let wait = Duration::from_millis(arg.as_u64().ok_or("milliseconds")?);
            // Reading answers the server's pings meanwhile.
            match tokio::time::timeout(wait, client.receive_data()).await {
                Err(_) | Ok(Err(ClientError::Timeout)) => {}
                Ok(got) => return Err(format!("expected nothing for {wait:?}, got {got:?}").into()),
            }
        }
        "expect_close" => loop {
            match client.receive_data().await? {
                Received::Close(Some((code, reason)))
                    if json!(code) == arg["code"]
                        && arg.get("reason").is_none_or(|r| r == &json!(reason)) =>
                {
                    break;
                }
                Received::Text(_) | Received::Binary(_) if arg["skip_data"] == json!(true) => {}
                other => return Err(format!("expected close {arg}, got {other:?}").into()),
            }
        },
        // The test client reads only when a step asks it to: nothing to stop.
        "stop_reading" => {}
        "close" => {
            let code = u16::try_from(arg["code"].as_u64().ok_or("code")?)?;
            client.close(code, arg["reason"].as_str().unwrap_or("")).await?;
        }
        other => return Err(format!("unknown step {other:?}").into()),
    }
    Ok(())
}

fn expect(got: Received, want: &Received) -> Result<(), Failed> {
    if &got == want { Ok(()) } else { Err(format!("expected {want:?}, got {got:?}").into()) }
}

fn check_envelope(got: &Value, want: &Value) -> Result<(), String> {
    if got["type"] != "error" || !got["message"].is_string() || !got["errors"].is_array() {
        return Err("not an error envelope".into());
    }
    if got["code"] != want["code"] {
        return Err(format!("code {} != {}", got["code"], want["code"]));
    }
    if let Some(message) = want.get("message") {
        if &got["message"] != message {
            return Err(format!("message {} != {message}", got["message"]));
        }
    }
    let truncated = got.get("truncated").and_then(Value::as_bool).unwrap_or(false);
    let wanted = want.get("truncated").and_then(Value::as_bool).unwrap_or(false);
    if truncated != wanted {
        return Err(format!("truncated {truncated} != {wanted}"));
    }
    if let Some(count) = want.get("error_count") {
        let listed = got["errors"].as_array().map_or(0, Vec::len);
        if json!(listed) != *count {
            return Err(format!("{listed} errors listed, expected {count}"));
        }
    }
    if let Some(messages) = want.get("error_messages") {
        let actual: Vec<&Value> =
            got["errors"].as_array().into_iter().flatten().map(|e| &e["message"]).collect();
        let expected: Vec<&Value> = messages.as_array().into_iter().flatten().collect();
        if actual != expected {
            return Err(format!("error messages {actual:?} != {expected:?}"));
        }
    }
    if let Some(paths) = want.get("paths") {
        let mut expected: Vec<&str> =
            paths.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let mut actual: Vec<&str> =
            got["errors"].as_array().into_iter().flatten().filter_map(|e| e["path"].as_str()).collect();
        expected.sort_unstable();
        expected.dedup();
        actual.sort_unstable();
        actual.dedup();
        if expected != actual {
            return Err(format!("paths {actual:?} != {expected:?}"));
        }
    }
    Ok(())
}

async fn expect_events(log: &Log, want: &Value) -> Result<(), Failed> {
    let want: Vec<String> =
        want.as_array().ok_or("list")?.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
    let wait = async {
        loop {
            let changed = log.changed.notified();
            if log.events.lock().unwrap().len() >= want.len() {
                return;
            }
            changed.await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
    let got = log.events.lock().unwrap().clone();
    if got == want { Ok(()) } else { Err(format!("events {got:?} != {want:?}").into()) }
}

/// The bytes of a `send_frames` step: each frame as a client sends it (FIN, masked with the key 0,
/// which leaves the payload as it is), or raw bytes.
fn frames(list: &Value) -> Result<Vec<u8>, Failed> {
    let mut out = Vec::new();
    for item in list.as_array().ok_or("list")? {
        let (opcode, payload) = if let Some(text) = item.get("text") {
            (0x1, text.as_str().ok_or("text")?.as_bytes().to_vec())
        } else if let Some(code) = item.get("close") {
            (0x8, u16::try_from(code.as_u64().ok_or("close code")?)?.to_be_bytes().to_vec())
        } else {
            out.extend(hex(&item["raw_hex"])?);
            continue;
        };
        out.push(0x80 | opcode);
        match payload.len() {
            len @ 0..=125 => out.push(0x80 | u8::try_from(len)?),
            len @ 126..=0xffff => {
                out.push(0x80 | 126);
                out.extend(u16::try_from(len)?.to_be_bytes());
            }
            len => {
                out.push(0x80 | 127);
                out.extend(u64::try_from(len)?.to_be_bytes());
            }
        }
        out.extend([0; 4]);
        out.extend(payload);
    }
    Ok(out)
}

fn hex(value: &Value) -> Result<Vec<u8>, Failed> {
    let text = value.as_str().ok_or("hex string")?;
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| Failed::from(e.to_string())))
        .collect()
}
