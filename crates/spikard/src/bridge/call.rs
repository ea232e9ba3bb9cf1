//! [`Call`]: what the host language is asked to do for one connection.

use bytes::Bytes;
use serde_json::Value;

use crate::connection::CloseInfo;

/// One call into the host language.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Call {
    /// Run `on_connect` (before the upgrade completes).
    Connect,
    /// Run the message handler on a JSON message that passed the route's schema.
    Message(Value),
    /// Run the binary handler on a binary message.
    Binary(Bytes),
    /// Run `on_disconnect` (if the route has one) and release the host's connection object.
    Disconnect(CloseInfo),
}

impl Call {
    /// Which kind of call this is.
    #[must_use]
    pub fn kind(&self) -> CallKind {
        match self {
            Self::Connect => CallKind::Connect,
            Self::Message(_) => CallKind::Message,
            Self::Binary(_) => CallKind::Binary,
            Self::Disconnect(_) => CallKind::Disconnect,
        }
    }

    /// The JSON message of a [`Call::Message`].
    #[must_use]
    pub fn message(&self) -> Option<&Value> {
        match self {
            Self::Message(value) => Some(value),
            _ => None,
        }
    }

    /// The bytes of a [`Call::Binary`].
    #[must_use]
    pub fn binary(&self) -> Option<&Bytes> {
        match self {
            Self::Binary(data) => Some(data),
            _ => None,
        }
    }

    /// How the connection ended, for a [`Call::Disconnect`].
    #[must_use]
    pub fn close(&self) -> Option<&CloseInfo> {
        match self {
            Self::Disconnect(info) => Some(info),
            _ => None,
        }
    }
}

/// The kind of a [`Call`], as a small number for the host side to dispatch on.
///
/// Bindings export each kind under its [`CallKind::name`] (`spikard._native.MESSAGE`, ...)
/// instead of hard-coding numbers on the host side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum CallKind {
    /// [`Call::Connect`].
    Connect = 0,
    /// [`Call::Message`].
    Message = 1,
    /// [`Call::Binary`].
    Binary = 2,
    /// [`Call::Disconnect`].
    Disconnect = 3,
}

impl CallKind {
    /// Every kind, for bindings that export them as constants.
    pub const ALL: [Self; 4] = [Self::Connect, Self::Message, Self::Binary, Self::Disconnect];

    /// The kind's name in upper case (`"MESSAGE"`), as bindings export it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Connect => "CONNECT",
            Self::Message => "MESSAGE",
            Self::Binary => "BINARY",
            Self::Disconnect => "DISCONNECT",
        }
    }

    /// The kind as its number.
    #[must_use]
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}
