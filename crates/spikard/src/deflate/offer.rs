//! Negotiation of permessage-deflate (RFC 7692 section 7.1): the client's offers in
//! `Sec-WebSocket-Extensions`, the first one the server can honour, and the response header.

use axum::http::{HeaderMap, HeaderValue, header};

use super::Compression;

/// The parameters of an accepted offer, for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// The server compresses with this LZ77 window (2^bits bytes), 9 to 15.
    pub(crate) server_window_bits: u8,
    /// The server starts every message with an empty compression context.
    pub(crate) server_no_context_takeover: bool,
    /// The client starts every message with an empty compression context (the server may drop
    /// its decompression context between messages).
    pub(crate) client_no_context_takeover: bool,
    /// Messages shorter than this many bytes go out uncompressed.
    pub(crate) threshold: usize,
    /// zlib level of outgoing messages, 0 to 9.
    pub(crate) level: u32,
    /// Largest message the route accepts, in bytes, also bounding a message's compressed size.
    pub(crate) max_message_size: usize,
}

/// The first permessage-deflate offer in the request that the server can honour, and the
/// response header that accepts it; `None` when there is none (the connection goes on
/// uncompressed).
pub(crate) fn negotiate(
    headers: &HeaderMap,
    settings: &Compression,
    max_message_size: usize,
) -> Option<(Agreed, HeaderValue)> {
    for value in headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS) {
        let Ok(value) = value.to_str() else { continue };
        for offer in split_outside_quotes(value, ',') {
            if let Some(found) = accept(offer, settings, max_message_size) {
                return Some(found);
            }
        }
    }
    None
}

/// The answer to one offer, when it is permessage-deflate with parameters the server honours.
fn accept(offer: &str, settings: &Compression, max_message_size: usize) -> Option<(Agreed, HeaderValue)> {
    let mut parts = split_outside_quotes(offer, ';');
    if !parts.next()?.trim().eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut server_no_context_takeover = false;
    let mut client_no_context_takeover = false;
    let mut server_max_window_bits = None;
    let mut client_max_window_bits = false;
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (param.trim(), None),
        };
        let seen = match (name.to_ascii_lowercase().as_str(), value) {
            ("server_no_context_takeover", None) => std::mem::replace(&mut server_no_context_takeover, true),
            ("client_no_context_takeover", None) => std::mem::replace(&mut client_no_context_takeover, true),
            ("server_max_window_bits", Some(bits)) => {
                // zlib has no 256-byte window for raw deflate: an offer that needs it is declined.
                let bits = bits.parse::<u8>().ok().filter(|bits| (9..=15).contains(bits))?;
                server_max_window_bits.replace(bits).is_some()
            }
            ("client_max_window_bits", value) => {
                // Any window the client uses inflates with the server's 32 KiB one.
                if value.is_some_and(|bits| !bits.parse::<u8>().is_ok_and(|bits| (8..=15).contains(&bits))) {
                    return None;
                }
                std::mem::replace(&mut client_max_window_bits, true)
            }
            _ => return None,
        };
        if seen {
            return None;
        }
    }
    // The server may keep no context between messages whatever the client asked (7.1.1.1).
    let server_no_context_takeover = server_no_context_takeover || !settings.server_context_takeover;
    let mut response = String::from("permessage-deflate");
    if server_no_context_takeover {
        response.push_str("; server_no_context_takeover");
    }
    if client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    if let Some(bits) = server_max_window_bits {
        response.push_str(&format!("; server_max_window_bits={bits}"));
    }
    let agreed = Agreed {
        server_window_bits: server_max_window_bits.unwrap_or(15),
        server_no_context_takeover,
        client_no_context_takeover,
        threshold: settings.threshold,
        level: settings.level.min(crate::deflate::MAX_COMPRESSION_LEVEL),
        max_message_size,
    };
    Some((agreed, HeaderValue::from_str(&response).ok()?))
}

/// Splits `text` at `at`, except inside double quotes.
fn split_outside_quotes(text: &str, at: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    text.split(move |c| {
        if c == '"' {
            quoted = !quoted;
        }
        c == at && !quoted
    })
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};

    use super::{Agreed, negotiate};
    use crate::deflate::Compression;

    fn answer(offers: &[&str], settings: &Compression) -> Option<(Agreed, String)> {
        let mut headers = HeaderMap::new();
        for offer in offers {
            headers.append(header::SEC_WEBSOCKET_EXTENSIONS, HeaderValue::from_str(offer).unwrap());
        }
        negotiate(&headers, settings, 1000)
            .map(|(agreed, value)| (agreed, value.to_str().unwrap().to_owned()))
    }

    /// A browser's offer: accepted, the server keeping no context by default.
    #[test]
    fn a_plain_offer_is_accepted() {
        let (agreed, header) =
            answer(&["permessage-deflate; client_max_window_bits"], &Compression::default()).unwrap();
        assert_eq!(header, "permessage-deflate; server_no_context_takeover");
        assert_eq!(agreed.server_window_bits, 15);
        assert!(agreed.server_no_context_takeover && !agreed.client_no_context_takeover);
        let keep = Compression { server_context_takeover: true, ..Compression::default() };
        let (agreed, header) = answer(&["permessage-deflate"], &keep).unwrap();
        assert_eq!(header, "permessage-deflate");
        assert!(!agreed.server_no_context_takeover);
    }

    /// The parameters the client asks for are honoured and answered.
    #[test]
    fn parameters_are_honoured() {
        let (agreed, header) = answer(
            &["permessage-deflate; server_max_window_bits=\"10\"; client_no_context_takeover"],
            &Compression::default(),
        )
        .unwrap();
        assert_eq!(
            header,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"
        );
        assert_eq!(agreed.server_window_bits, 10);
        assert!(agreed.client_no_context_takeover);
    }

    /// An offer the server cannot honour is skipped for the next one; none honoured, none taken.
    #[test]
    fn offers_are_tried_in_order() {
        let offers = "permessage-deflate; server_max_window_bits=8, x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=9";
        let (agreed, _) = answer(&[offers], &Compression::default()).unwrap();
        assert_eq!(agreed.server_window_bits, 9);
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; unknown",
            "x-webkit-deflate-frame",
        ] {
            assert_eq!(answer(&[bad], &Compression::default()), None, "{bad}");
        }
        assert_eq!(answer(&[], &Compression::default()), None);
    }
}
