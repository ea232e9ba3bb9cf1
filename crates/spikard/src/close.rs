//! WebSocket close codes the server sends, named for when it sends them.
//!
//! `docs/protocol.md` lists every code with the situation that produces it; the shared fixtures
//! pin each one.

/// Normal closure: the client or the handler ended the conversation.
pub const NORMAL: u16 = 1000;
/// The server is shutting down (graceful shutdown sends this to every connection), or the
/// client sent nothing for the app's idle timeout (reason `"idle timeout"`).
pub const GOING_AWAY: u16 = 1001;
/// The peer broke the WebSocket protocol.
pub const PROTOCOL_ERROR: u16 = 1002;
/// A binary frame arrived on a route whose handler does not accept binary messages.
pub const UNSUPPORTED_DATA: u16 = 1003;
/// Reported to `on_disconnect` when the client closed without a status code.
pub const NO_STATUS: u16 = 1005;
/// Reported to `on_disconnect` when the connection ended without a closing handshake.
pub const ABNORMAL: u16 = 1006;
/// A text frame was not valid UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
/// Policy violation: used when `on_connect` closes a connection it does not want.
pub const POLICY_VIOLATION: u16 = 1008;
/// A message was larger than the route's size limit.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The server hit an unexpected condition; also sent (reason `"ping timeout"`) when a ping got
/// no pong within the app's ping timeout.
pub const INTERNAL_ERROR: u16 = 1011;
/// The client did not read fast enough: its outgoing queue (messages or bytes) was full.
pub const TRY_AGAIN_LATER: u16 = 1013;
