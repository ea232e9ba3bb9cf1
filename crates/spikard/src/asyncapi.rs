//! The app's AsyncAPI 3.0 document ([`App::asyncapi`]), built from its routes and topic
//! schemas: what every language package serves and prints, identical whichever language
//! registered the routes.
//!
//! Layout, stable so that documents can be compared across languages:
//!
//! - one channel per route, keyed by the path with every run of characters other than ASCII
//!   letters and digits made `_` (`/rooms/{room}` is `rooms_room`, `/` is `root`), its
//!   `address` the path and its path parameters the channel's `parameters`;
//! - in each channel, per message type of a dispatching route a message keyed by the type
//!   (payload: the branch's schema, required to carry the discriminator with that value) and
//!   its reply `<type>_reply` (payload: the branch's reply schema, any JSON without one), both
//!   with the `id` correlation; for any other route `message` and `reply` from the route's
//!   message and response schemas; always `error`, the error envelope (a component). A reply
//!   schema `false` (a handler that never replies) gives no reply message;
//! - a `receive` operation per message type (`<channel>.<type>`) or per route
//!   (`<channel>.message`) whose reply lists the reply (if any) and the error envelope;
//! - when the app declares topic schemas, one component message per pattern (`topic_<pattern>`,
//!   extension `x-spikard-topic` the pattern), listed in every channel, and a `send` operation
//!   `<channel>.topics` for them (a connection on any route may be subscribed to any topic).

use std::{collections::HashSet, sync::Arc};

use serde_json::{Map, Value, json};

use crate::{
    App, MAX_FIELD_ERRORS, MAX_FIELD_TEXT,
    dispatch::{ACK_ID, Dispatch},
    route::RouteState,
};

/// The AsyncAPI version of the documents [`App::asyncapi`] produces.
pub const ASYNCAPI_VERSION: &str = "3.0.0";

impl App {
    /// The app's AsyncAPI 3.0 document: a channel per route (path parameters as channel
    /// parameters), a `receive` operation per message type (or per route), payloads from the
    /// message, reply and topic schemas, descriptions where given, and the error envelope as a
    /// reply message. The layout is described in `docs/protocol.md`.
    ///
    /// `info` is the document's Info Object (`title`, `version`, `description`, ...), taken as
    /// given; a missing `title` becomes `"Spikard app"` and a missing `version` `"0.0.0"`.
    ///
    /// ```
    /// use serde_json::{json, Value};
    /// use spikard::{handler_fn, App, Connection, HandlerError, Route};
    ///
    /// let say = handler_fn(|_c: Connection, m: Value| async move { Ok::<_, HandlerError>(Some(m)) });
    /// let mut app = App::new();
    /// app.route(Route::dispatch("/chat").on("say", json!({"required": ["text"]}), say)).unwrap();
    /// let doc = app.asyncapi(json!({"title": "Chat", "version": "1.0.0"}));
    /// assert_eq!(doc["asyncapi"], "3.0.0");
    /// assert_eq!(doc["operations"]["chat.say"]["action"], "receive");
    /// ```
    #[must_use]
    pub fn asyncapi(&self, info: Value) -> Value {
        document(&self.routes, &self.topic_sources, info)
    }
}

/// The document of [`App::asyncapi`] for these routes and topic schemas (also
/// [`ServerHandle::asyncapi`](crate::ServerHandle::asyncapi), once the app runs).
pub(crate) fn document(routes: &[Arc<RouteState>], topic_sources: &[(String, Value)], info: Value) -> Value {
    let mut info = match info {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    info.entry("title").or_insert_with(|| json!("Spikard app"));
    info.entry("version").or_insert_with(|| json!("0.0.0"));

    let mut schemas = Schemas::default();
    let mut component_messages = Map::new();
    component_messages.insert("error".into(), error_message());
    let mut topic_keys = Vec::new();
    let mut taken = HashSet::new();
    for (pattern, schema) in topic_sources {
        let key = unique(&mut taken, &format!("topic_{}", slug(pattern)));
        component_messages.insert(
            key.clone(),
            json!({
                "name": pattern,
                "title": format!("Published to {pattern}"),
                "contentType": "application/json",
                "payload": schemas.embed(schema),
                "x-spikard-topic": pattern,
            }),
        );
        topic_keys.push(key);
    }

    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut channel_ids = HashSet::new();
    for route in routes {
        let id = unique(&mut channel_ids, &channel_slug(&route.path));
        let channel_ref = json!({"$ref": format!("#/channels/{id}")});
        let message_ref = |key: &str| json!({"$ref": format!("#/channels/{id}/messages/{key}")});
        let mut messages = Map::new();
        let mut keys = HashSet::from(["error".to_owned()]);
        for key in &topic_keys {
            keys.insert(key.clone());
        }
        match &route.dispatch {
            Some(dispatch) => {
                for branch in &dispatch.branches {
                    let key = unique(&mut keys, &slug(&branch.name));
                    let reply_key = may_reply(branch.reply_source.as_ref())
                        .then(|| unique(&mut keys, &format!("{key}_reply")));
                    let mut message = json!({
                        "name": &*branch.name,
                        "title": &*branch.name,
                        "contentType": "application/json",
                        "payload": branch_payload(
                            dispatch,
                            &branch.name,
                            branch.message_source.as_ref().map(|schema| schemas.embed(schema)),
                        ),
                        "correlationId": correlation(),
                    });
                    let mut operation = json!({
                        "action": "receive",
                        "channel": channel_ref,
                        "title": &*branch.name,
                        "messages": [message_ref(&key)],
                        "reply": {
                            "channel": channel_ref,
                            "messages": replies(reply_key.as_deref(), message_ref),
                        },
                    });
                    if let Some(text) = &branch.description {
                        message["description"] = json!(text);
                        operation["description"] = json!(text);
                    }
                    messages.insert(key.clone(), message);
                    if let Some(reply_key) = reply_key {
                        messages.insert(
                            reply_key,
                            json!({
                                "name": format!("{}.reply", branch.name),
                                "title": format!("Reply to {}", branch.name),
                                "contentType": "application/json",
                                "payload": branch.reply_source.as_ref().map_or_else(|| json!({}), |s| schemas.embed(s)),
                                "correlationId": correlation(),
                            }),
                        );
                    }
                    operations.insert(format!("{id}.{key}"), operation);
                }
            }
            None => {
                let (content_type, payload) = if route.raw_text {
                    ("text/plain", json!({"type": "string"}))
                } else {
                    (
                        "application/json",
                        route.message_source.as_ref().map_or_else(|| json!({}), |s| schemas.embed(s)),
                    )
                };
                messages.insert(
                    "message".into(),
                    json!({"name": "message", "contentType": content_type, "payload": payload}),
                );
                let reply_key = may_reply(route.response_source.as_ref()).then_some("reply");
                if let Some(reply_key) = reply_key {
                    messages.insert(
                        reply_key.into(),
                        json!({
                            "name": "reply",
                            "contentType": content_type,
                            "payload": route.response_source.as_ref().map_or_else(|| json!({}), |s| schemas.embed(s)),
                        }),
                    );
                }
                let mut operation = json!({
                    "action": "receive",
                    "channel": channel_ref,
                    "messages": [message_ref("message")],
                    "reply": {
                        "channel": channel_ref,
                        "messages": replies(reply_key, message_ref),
                    },
                });
                if let Some(text) = &route.description {
                    operation["description"] = json!(text);
                }
                operations.insert(format!("{id}.message"), operation);
            }
        }
        messages.insert("error".into(), json!({"$ref": "#/components/messages/error"}));
        for key in &topic_keys {
            messages.insert(key.clone(), json!({"$ref": format!("#/components/messages/{key}")}));
        }
        if !topic_keys.is_empty() {
            let refs: Vec<Value> = topic_keys.iter().map(|k| message_ref(k)).collect();
            operations.insert(
                format!("{id}.topics"),
                json!({
                    "action": "send",
                    "channel": channel_ref,
                    "title": "Published messages",
                    "description": "What is published to a topic this connection subscribed to.",
                    "messages": refs,
                }),
            );
        }
        channels.insert(id, channel(route, messages));
    }

    let mut components = json!({"messages": component_messages});
    if !schemas.defs.is_empty() {
        components["schemas"] = Value::Object(schemas.defs);
    }
    json!({
        "asyncapi": ASYNCAPI_VERSION,
        "info": info,
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": components,
    })
}

/// The channel object of `route`.
fn channel(route: &RouteState, messages: Map<String, Value>) -> Value {
    let mut address = String::with_capacity(route.path.len());
    let mut parameters = Map::new();
    let mut rest = &*route.path;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else { break };
        let name = rest[open + 1..close].trim_start_matches('*');
        address.push_str(&rest[..open]);
        address.push('{');
        address.push_str(name);
        address.push('}');
        parameters.insert(name.to_owned(), json!({"description": format!("Path parameter `{name}`.")}));
        rest = &rest[close + 1..];
    }
    address.push_str(rest);
    let mut channel = json!({"address": address, "messages": messages});
    if !parameters.is_empty() {
        channel["parameters"] = Value::Object(parameters);
    }
    if let Some(text) = &route.description {
        channel["description"] = json!(text);
    }
    channel
}

/// The definitions the payload schemas bring (`$defs`, `definitions`), gathered into
/// `components.schemas`: inside the document a `#/...` reference resolves against the document,
/// so a payload's `#/$defs/Inner` is rewritten to `#/components/schemas/Inner` (a name taken by a
/// different definition gets `_2`, ...; the same definition twice is kept once).
#[derive(Default)]
struct Schemas {
    defs: Map<String, Value>,
}

impl Schemas {
    /// `schema` as the document embeds it: its own definitions moved to the components and
    /// every reference to them rewritten. Schemas without definitions are returned as they are,
    /// except `true` and `false`, written `{}` and `{"not": {}}` (the official AsyncAPI schema
    /// refuses a boolean payload, although its text allows one).
    fn embed(&mut self, schema: &Value) -> Value {
        let map = match schema {
            Value::Object(map) => map,
            Value::Bool(true) => return json!({}),
            Value::Bool(false) => return json!({"not": {}}),
            _ => return schema.clone(),
        };
        if !map.contains_key("$defs") && !map.contains_key("definitions") {
            return schema.clone();
        }
        let mut root = map.clone();
        // Per definition: the reference to it as written, its key's stem, and the definition.
        let mut moved: Vec<(String, String, Value)> = Vec::new();
        for keyword in ["$defs", "definitions"] {
            let Some(Value::Object(defs)) = root.remove(keyword) else { continue };
            for (name, def) in defs {
                let pointer = name.replace('~', "~0").replace('/', "~1");
                moved.push((format!("#/{keyword}/{pointer}"), slug(&name), def));
            }
        }
        if moved.is_empty() {
            return schema.clone();
        }
        // Rewrite inside the moved definitions first (they refer to each other), then pick each
        // one's key: an identical definition already there (one without references) is shared.
        // Until the keys are known the references point at placeholders (NUL and an index).
        let provisional: Vec<(String, String)> =
            moved.iter().enumerate().map(|(i, (from, ..))| (from.clone(), format!("\u{0}{i}"))).collect();
        let mut rewritten: Vec<Value> = Vec::with_capacity(moved.len());
        for (.., def) in moved.iter_mut() {
            let mut def = std::mem::take(def);
            rewrite(&mut def, &provisional);
            rewritten.push(def);
        }
        let mut keys: Vec<String> = Vec::with_capacity(moved.len());
        for ((_, name, _), def) in moved.iter().zip(&rewritten) {
            let mut key = name.clone();
            let mut n = 2;
            while keys.contains(&key) || self.defs.get(&key).is_some_and(|existing| existing != def) {
                key = format!("{name}_{n}");
                n += 1;
            }
            keys.push(key);
        }
        let finals: Vec<(String, String)> = provisional
            .iter()
            .zip(&keys)
            .map(|((_, placeholder), key)| (placeholder.clone(), format!("#/components/schemas/{key}")))
            .collect();
        for (key, mut def) in keys.iter().zip(rewritten) {
            rewrite(&mut def, &finals);
            self.defs.insert(key.clone(), def);
        }
        let mut root = Value::Object(root);
        rewrite(&mut root, &provisional);
        rewrite(&mut root, &finals);
        root
    }
}

/// Every `$ref` in `value` that is one of `renames`' first strings, or starts with it followed
/// by `/`, gets the second string instead of that prefix.
fn rewrite(value: &mut Value, renames: &[(String, String)]) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if let (true, Value::String(target)) = (key == "$ref", &mut *item) {
                    for (from, to) in renames {
                        if let Some(rest) = target.strip_prefix(from.as_str()) {
                            if rest.is_empty() || rest.starts_with('/') {
                                *target = format!("{to}{rest}");
                                break;
                            }
                        }
                    }
                } else {
                    rewrite(item, renames);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| rewrite(item, renames)),
        _ => {}
    }
}

/// A branch's payload: an object whose discriminator is `name`, and the branch's schema.
fn branch_payload(dispatch: &Dispatch, name: &str, schema: Option<Value>) -> Value {
    let field = &*dispatch.discriminator;
    let mut properties = Map::new();
    properties.insert(field.to_owned(), json!({"const": name}));
    if field != ACK_ID {
        properties.insert(
            ACK_ID.to_owned(),
            json!({
                "type": ["string", "integer"],
                "description": "Optional: the reply carries the same id.",
            }),
        );
    }
    let tag = json!({"type": "object", "required": [field], "properties": properties});
    match schema {
        Some(schema) => json!({"allOf": [tag, schema]}),
        None => tag,
    }
}

/// Whether a handler with this reply schema may reply: not when the schema is `false` (no reply
/// passes it), which the document says by leaving the reply message out.
fn may_reply(schema: Option<&Value>) -> bool {
    schema != Some(&Value::Bool(false))
}

/// An operation's reply messages: the reply (`reply_key`, if the handler may reply), then the
/// error envelope.
fn replies(reply_key: Option<&str>, message_ref: impl Fn(&str) -> Value) -> Vec<Value> {
    reply_key.into_iter().chain(["error"]).map(message_ref).collect()
}

fn correlation() -> Value {
    json!({"description": "A reply carries the id of the message it answers.", "location": "$message.payload#/id"})
}

/// The error envelope as a component message (see `docs/protocol.md`).
fn error_message() -> Value {
    let text = json!({"type": "string", "maxLength": MAX_FIELD_TEXT});
    json!({
        "name": "error",
        "title": "Error envelope",
        "summary": "A message the server could not accept, or whose handler failed; the connection stays open.",
        "contentType": "application/json",
        "payload": {
            "type": "object",
            "required": ["type", "code", "message", "errors"],
            "properties": {
                "type": {"const": "error"},
                "code": {"type": "string", "enum": ["invalid_json", "validation_failed", "handler_error"]},
                "message": {"type": "string"},
                "errors": {
                    "type": "array",
                    "maxItems": MAX_FIELD_ERRORS,
                    "items": {
                        "type": "object",
                        "required": ["path", "message", "keyword"],
                        "properties": {"path": text, "message": text, "keyword": text},
                    },
                },
                "truncated": {"type": "boolean"},
            },
        },
    })
}

/// `text` with every run of characters other than ASCII letters, digits, `-` and `_` made `_`.
fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    if out.is_empty() { "_".to_owned() } else { out }
}

/// A channel's key: the path's letters and digits, runs of anything else made `_`.
fn channel_slug(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_');
    if out.is_empty() { "root".to_owned() } else { out.to_owned() }
}

/// `key`, or `key_2`, `key_3`, ... when taken; recorded as taken.
fn unique(taken: &mut HashSet<String>, key: &str) -> String {
    let mut candidate = key.to_owned();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = format!("{key}_{n}");
        n += 1;
    }
    taken.insert(candidate.clone());
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_slugs() {
        assert_eq!(channel_slug("/rooms/{room}"), "rooms_room");
        assert_eq!(channel_slug("/"), "root");
        assert_eq!(channel_slug("/a/{*rest}"), "a_rest");
        assert_eq!(slug("chat.message"), "chat_message");
        assert_eq!(slug("room:*"), "room_");
        let mut taken = HashSet::new();
        assert_eq!(unique(&mut taken, "a"), "a");
        assert_eq!(unique(&mut taken, "a"), "a_2");
    }
}
