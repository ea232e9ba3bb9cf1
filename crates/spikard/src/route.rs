//! Routes: a path, a handler, optional schemas and per-route options.

use std::{fmt, sync::Arc};

use serde_json::Value;

use crate::{
    Error,
    dispatch::{Branch, DEFAULT_DISCRIMINATOR, Dispatch},
    handler::{HandlerError, WebSocketHandler},
    schema::CompiledSchema,
};

/// A WebSocket route, before registration. Schemas are compiled when the route is registered
/// with [`App::route`](crate::App::route), so a bad schema fails there, naming the route.
///
/// ```
/// use serde_json::json;
/// use spikard::{handler_fn, Connection, HandlerError, Route};
///
/// let route = Route::new("/chat", handler_fn(|_c: Connection, m| async move {
///     Ok::<_, HandlerError>(Some(m))
/// }))
/// .message_schema(json!({"type": "object", "required": ["text"]}))
/// .max_message_size(64 * 1024);
/// # let _ = route;
/// ```
pub struct Route {
    pub(crate) path: String,
    pub(crate) handler: Arc<dyn WebSocketHandler>,
    pub(crate) message_schema: Option<Value>,
    pub(crate) response_schema: Option<Value>,
    pub(crate) max_message_size: Option<usize>,
    pub(crate) raw_text: bool,
    pub(crate) subprotocols: Vec<String>,
    pub(crate) discriminator: Option<String>,
    pub(crate) branches: Vec<Branch>,
    pub(crate) description: Option<String>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("path", &self.path)
            .field("message_schema", &self.message_schema)
            .field("response_schema", &self.response_schema)
            .field("max_message_size", &self.max_message_size)
            .field("raw_text", &self.raw_text)
            .field("subprotocols", &self.subprotocols)
            .field("discriminator", &self.discriminator)
            .field("branches", &self.branches)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl Route {
    /// A route serving `path` (`/chat`, `/rooms/{room}`) with `handler`.
    pub fn new(path: impl Into<String>, handler: impl WebSocketHandler) -> Self {
        Self::shared(path, Arc::new(handler))
    }

    /// A route whose handler is already shared (how language bindings register handlers).
    pub fn shared(path: impl Into<String>, handler: Arc<dyn WebSocketHandler>) -> Self {
        Self {
            path: path.into(),
            handler,
            message_schema: None,
            response_schema: None,
            max_message_size: None,
            raw_text: false,
            subprotocols: Vec::new(),
            discriminator: None,
            branches: Vec::new(),
            description: None,
        }
    }

    /// A route that dispatches every message by type (see [`Route::on`]) and has no hooks of
    /// its own. To add `on_connect`, `on_disconnect` or binary messages, start from
    /// [`Route::new`] with a handler that has them: its `handle_message` is then never called.
    ///
    /// ```
    /// use serde_json::{json, Value};
    /// use spikard::{handler_fn, Connection, HandlerError, Route};
    ///
    /// let route = Route::dispatch("/chat").on(
    ///     "say",
    ///     json!({"type": "object", "required": ["text"]}),
    ///     handler_fn(|_c: Connection, m: Value| async move {
    ///         Ok::<_, HandlerError>(Some(json!({"said": m["text"]})))
    ///     }),
    /// );
    /// # let _ = route;
    /// ```
    pub fn dispatch(path: impl Into<String>) -> Self {
        // Set, so that registering it without any branch is refused instead of serving a route
        // that answers every message with an internal error.
        Self::new(path, NoMessages).discriminator(DEFAULT_DISCRIMINATOR)
    }

    /// Dispatch messages whose discriminator field is `name` to `handler`, after validating
    /// them against `schema` (pointers relative to the message). Shorthand for
    /// [`Route::branch`] with [`Branch::message_schema`]. A route with branches sends every
    /// JSON message to one of them, never to its own handler; a message that names no branch
    /// gets `validation_failed` listing the allowed values. See [`crate::dispatch`].
    #[must_use]
    pub fn on(self, name: impl Into<String>, schema: Value, handler: impl WebSocketHandler) -> Self {
        self.branch(Branch::new(name, handler).message_schema(schema))
    }

    /// Add a message type (see [`Route::on`]), with its optional reply schema and description.
    #[must_use]
    pub fn branch(mut self, branch: Branch) -> Self {
        self.branches.push(branch);
        self
    }

    /// The field that names a message's type on a dispatching route (default `"type"`).
    #[must_use]
    pub fn discriminator(mut self, field: impl Into<String>) -> Self {
        self.discriminator = Some(field.into());
        self
    }

    /// What this route is for, for the AsyncAPI document ([`App::asyncapi`](crate::App::asyncapi)).
    #[must_use]
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Validate every incoming message against this JSON Schema before the handler sees it.
    #[must_use]
    pub fn message_schema(mut self, schema: Value) -> Self {
        self.message_schema = Some(schema);
        self
    }

    /// Validate every reply against this JSON Schema; a failing reply is dropped and logged.
    #[must_use]
    pub fn response_schema(mut self, schema: Value) -> Self {
        self.response_schema = Some(schema);
        self
    }

    /// Largest accepted message in bytes on this route (overrides the app's limit).
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
        self
    }

    /// Deliver text messages as they are, for plain-text protocols: no JSON parsing, no message
    /// schema. The handler receives each text message as a [`Value::String`]; a reply that is a
    /// [`Value::String`] is sent as that text, verbatim (not JSON-quoted), and any other reply as
    /// JSON. Binary messages are handled as on any route. A route cannot have both this and a
    /// message schema.
    ///
    /// ```
    /// use serde_json::Value;
    /// use spikard::{handler_fn, Connection, HandlerError, Route};
    ///
    /// // "ping" comes back as PING, not as "PING" in JSON quotes.
    /// let shout = handler_fn(|_c: Connection, m: Value| async move {
    ///     Ok::<_, HandlerError>(m.as_str().map(|text| Value::String(text.to_uppercase())))
    /// });
    /// let route = Route::new("/shout", shout).raw_text();
    /// # let _ = route;
    /// ```
    #[must_use]
    pub fn raw_text(mut self) -> Self {
        self.raw_text = true;
        self
    }

    /// The subprotocols this route speaks (`Sec-WebSocket-Protocol`), in the server's order of
    /// preference: the upgrade selects the first of them that the client offered, and
    /// [`Connection::subprotocol`](crate::Connection::subprotocol) tells which. A client that
    /// offers none of them is still accepted, with no subprotocol (browsers then fail the
    /// handshake on their side, as the RFC asks). Each name must be an HTTP token.
    #[must_use]
    pub fn subprotocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.subprotocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// The path pattern.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// The handler of [`Route::dispatch`]: no hooks, and no messages of its own (a dispatching
/// route sends every message to a branch).
struct NoMessages;

#[async_trait::async_trait]
impl WebSocketHandler for NoMessages {
    async fn handle_message(
        &self,
        _conn: &crate::Connection,
        _message: Value,
    ) -> Result<Option<Value>, HandlerError> {
        Err(HandlerError::internal("a dispatching route's own handler was called"))
    }
}

/// A registered route: schemas compiled, limits resolved.
pub(crate) struct RouteState {
    pub(crate) path: Arc<str>,
    pub(crate) handler: Arc<dyn WebSocketHandler>,
    pub(crate) message_schema: Option<CompiledSchema>,
    pub(crate) response_schema: Option<CompiledSchema>,
    /// The schemas as given, for the AsyncAPI document.
    pub(crate) message_source: Option<Value>,
    pub(crate) response_source: Option<Value>,
    pub(crate) dispatch: Option<Dispatch>,
    pub(crate) description: Option<String>,
    pub(crate) max_message_size: Option<usize>,
    pub(crate) raw_text: bool,
    pub(crate) subprotocols: Vec<String>,
}

impl RouteState {
    pub(crate) fn compile(route: Route) -> Result<Self, Error> {
        check_path(&route.path)?;
        if route.max_message_size == Some(0) {
            return Err(Error::InvalidConfig(format!(
                "route {}: max_message_size must be at least 1 byte",
                route.path
            )));
        }
        if route.raw_text && route.message_schema.is_some() {
            return Err(Error::InvalidConfig(format!(
                "route {}: a raw-text route takes no message schema (its messages are not JSON)",
                route.path
            )));
        }
        if let Some(bad) = route.subprotocols.iter().find(|p| !is_token(p)) {
            return Err(Error::InvalidConfig(format!(
                "route {}: subprotocol {bad:?} is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)",
                route.path
            )));
        }
        if route.discriminator.is_some() && route.branches.is_empty() {
            return Err(Error::InvalidConfig(format!(
                "route {}: a route that dispatches by message type needs at least one (add them with `on` or `branch`)",
                route.path
            )));
        }
        let dispatch = if route.branches.is_empty() {
            None
        } else {
            if route.raw_text || route.message_schema.is_some() || route.response_schema.is_some() {
                return Err(Error::InvalidConfig(format!(
                    "route {}: a route that dispatches by message type takes its schemas per type, \
                     not a route message or response schema, and cannot be raw-text",
                    route.path
                )));
            }
            let field = route.discriminator.unwrap_or_else(|| DEFAULT_DISCRIMINATOR.to_owned());
            Some(Dispatch::compile(&route.path, field, route.branches)?)
        };
        let compile = |which, schema: &Option<Value>| {
            schema.as_ref().map(|s| CompiledSchema::compile(&route.path, which, s)).transpose()
        };
        Ok(Self {
            message_schema: compile("message", &route.message_schema)?,
            response_schema: compile("response", &route.response_schema)?,
            message_source: route.message_schema,
            response_source: route.response_schema,
            dispatch,
            description: route.description,
            path: route.path.into(),
            handler: route.handler,
            max_message_size: route.max_message_size,
            raw_text: route.raw_text,
            subprotocols: route.subprotocols,
        })
    }
}

/// Whether `name` is an HTTP token (RFC 9110 §5.6.2), as a subprotocol name must be.
fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn check_path(path: &str) -> Result<(), Error> {
    let invalid =
        |message: &str| Err(Error::InvalidPath { route: path.to_owned(), message: message.to_owned() });
    if !path.starts_with('/') {
        return invalid("must start with '/'");
    }
    if path.contains('?') || path.contains('#') {
        return invalid("must not contain a query or fragment");
    }
    Ok(())
}
