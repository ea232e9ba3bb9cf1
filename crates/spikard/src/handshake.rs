//! Checks on an upgrade request before anything of the app runs: the `Sec-WebSocket-Key`
//! (RFC 6455), the size of each header, and the `Origin` allowlist.

use axum::http::{HeaderMap, HeaderValue};
use base64::{Engine, engine::general_purpose::STANDARD};

use crate::Error;

/// How the response that upgrades a connection starts, as the layers under the protocol engine
/// see it written.
pub(crate) const SWITCHING: &[u8] = b"HTTP/1.1 101 ";

/// The end of an HTTP head.
const HEAD_END: &[u8] = b"\r\n\r\n";

/// Follows bytes of an HTTP head as they stream by; `matched` carries how much of its end
/// (`\r\n\r\n`) was seen across calls. Returns how many bytes of `data` the head takes once it
/// ends there.
pub(crate) fn head_end(matched: &mut usize, data: &[u8]) -> Option<usize> {
    for (i, &byte) in data.iter().enumerate() {
        *matched = if byte == HEAD_END[*matched] { *matched + 1 } else { usize::from(byte == HEAD_END[0]) };
        if *matched == HEAD_END.len() {
            return Some(i + 1);
        }
    }
    None
}

/// Whether `key` is what RFC 6455 §4.1 asks of `Sec-WebSocket-Key`: the base64 encoding of 16
/// bytes (24 characters, canonical padding).
pub(crate) fn key_is_valid(key: &HeaderValue) -> bool {
    let bytes = key.as_bytes();
    // Checked first so that a long value is never decoded.
    bytes.len() == 24 && STANDARD.decode(bytes).is_ok_and(|decoded| decoded.len() == 16)
}

/// The first header whose name and value together are longer than `limit` bytes.
pub(crate) fn oversized_header(headers: &HeaderMap, limit: usize) -> Option<&str> {
    headers
        .iter()
        .find(|(name, value)| name.as_str().len() + value.len() > limit)
        .map(|(name, _)| name.as_str())
}

/// The origins allowed to open connections (see `App::allowed_origins`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origins(Vec<String>);

impl Origins {
    /// Parse an allowlist: each entry is an origin as browsers send it (`scheme://host[:port]`,
    /// no path) or `null`; compared without regard to ASCII case.
    pub(crate) fn parse<I, S>(origins: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = Vec::new();
        for origin in origins {
            let origin = origin.as_ref();
            let well_formed = origin == "null"
                || origin.split_once("://").is_some_and(|(scheme, host)| {
                    !scheme.is_empty() && !host.is_empty() && !host.contains(['/', '?', '#'])
                });
            if !well_formed || origin.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(Error::InvalidConfig(format!(
                    "allowed origin {origin:?}: expected scheme://host[:port] (no path, no trailing /) or null"
                )));
            }
            list.push(origin.to_ascii_lowercase());
        }
        if list.is_empty() {
            return Err(Error::InvalidConfig(
                "allowed_origins needs at least one origin; leave it unset to accept every origin".into(),
            ));
        }
        Ok(Self(list))
    }

    /// Whether a request with this `Origin` header may connect (a missing one may not).
    pub(crate) fn allows(&self, origin: Option<&HeaderValue>) -> bool {
        origin
            .is_some_and(|origin| self.0.iter().any(|o| o.as_bytes().eq_ignore_ascii_case(origin.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> HeaderValue {
        HeaderValue::from_str(text).unwrap()
    }

    #[test]
    fn a_key_must_encode_sixteen_bytes() {
        assert!(key_is_valid(&value("dGhlIHNhbXBsZSBub25jZQ==")));
        for bad in [
            "short",
            "",
            "dGhlIHNhbXBsZSBub25jZQ",           // no padding
            "dGhlIHNhbXBsZSBub25jZQ==dGhl",     // longer
            "dGhlIHNhbXBsZSBub25jZR==",         // non-canonical trailing bits
            "dGhlIHNhbXBsZSBub25jZ!==",         // not base64
            "dGhlIHNhbXBsZSBub25jZXh4eHg=",     // 20 bytes
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", // 24 bytes
        ] {
            assert!(!key_is_valid(&value(bad)), "{bad:?} was accepted");
        }
    }

    #[test]
    fn oversized_header_names_the_first_one_over_the_limit() {
        let mut headers = HeaderMap::new();
        headers.insert("host", value("example.com"));
        headers.insert("cookie", value(&"a".repeat(100)));
        assert_eq!(oversized_header(&headers, 106), None);
        assert_eq!(oversized_header(&headers, 105), Some("cookie"));
    }

    #[test]
    fn origins_match_exactly_ignoring_case_and_refuse_a_missing_origin() {
        let origins = Origins::parse(["https://Example.com", "http://localhost:8000"]).unwrap();
        assert!(origins.allows(Some(&value("https://example.com"))));
        assert!(origins.allows(Some(&value("HTTP://LOCALHOST:8000"))));
        assert!(!origins.allows(Some(&value("https://example.com:443"))));
        assert!(!origins.allows(Some(&value("https://evil.example.com"))));
        assert!(!origins.allows(Some(&value("null"))));
        assert!(!origins.allows(None));
        assert!(Origins::parse(["null"]).unwrap().allows(Some(&value("null"))));
    }

    #[test]
    fn malformed_or_empty_allowlists_are_refused() {
        for bad in ["example.com", "https://example.com/", "https://", "https://a b", "*"] {
            assert!(Origins::parse([bad]).is_err(), "{bad:?} was accepted");
        }
        assert!(Origins::parse(Vec::<String>::new()).is_err());
    }
}
