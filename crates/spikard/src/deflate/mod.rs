//! permessage-deflate (RFC 7692): negotiated per connection in the upgrade, applied by a layer
//! under the protocol engine.
//!
//! tungstenite has no compression, so the layer ([`layer::Deflate`]) sits between the socket and
//! it, like the read-ahead and fail-fast layers: a compressed message from the client is
//! inflated into plain fragments (masked with a zero key) as tungstenite reads them, and a
//! message tungstenite writes is deflated into one frame with RSV1 set. Everything above the
//! layer (limits, UTF-8, the session) sees uncompressed messages; the message size limit applies
//! to the inflated message, and a message's compressed size is bounded by the same limit.

mod inbound;
pub(crate) mod layer;
pub(crate) mod offer;
mod outbound;

/// permessage-deflate settings ([`App::compression`](crate::App::compression)); compression is
/// off unless the app sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compression {
    /// Keep the server's compression context from one message to the next (better ratios for
    /// similar messages, at about 260 KiB per connection for as long as it lives). Off by default:
    /// the server answers `server_no_context_takeover` and frees its compressor after each
    /// message.
    pub server_context_takeover: bool,
    /// Messages shorter than this many bytes go out uncompressed (the RFC lets every message
    /// choose). Default [`DEFAULT_COMPRESSION_THRESHOLD`].
    pub threshold: usize,
}

/// Default [`Compression::threshold`]: 1 KiB, below which deflate rarely saves a packet.
pub const DEFAULT_COMPRESSION_THRESHOLD: usize = 1024;

impl Default for Compression {
    fn default() -> Self {
        Self { server_context_takeover: false, threshold: DEFAULT_COMPRESSION_THRESHOLD }
    }
}
