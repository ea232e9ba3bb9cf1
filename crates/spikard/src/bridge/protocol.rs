//! The protocol checks every language applies the same way, so that a mistake in a handler is
//! refused with the same error whichever language made it.

use axum::http::StatusCode;

use super::{Code, code::Failure};
use crate::connection::Connection;

/// Longest close reason in bytes: a close frame's payload is at most 125 bytes, two of which
/// are the code (RFC 6455 §5.5).
pub const MAX_CLOSE_REASON: usize = 123;

/// Deepest nesting of arrays and objects converted between JSON and a host value (as deep as
/// `serde_json` parses a message).
pub const MAX_DEPTH: usize = 128;

/// Whether a server may send `code` in a close frame: 1000-1003, 1007-1014 and the application
/// range 3000-4999 (RFC 6455 §7.4; 1004-1006 and 1015 are reserved, never sent).
#[must_use]
pub fn is_sendable_close_code(code: u32) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Check a close code and reason a handler asked for.
///
/// # Errors
/// [`Code::InvalidClose`] for a code a server may not send or a reason over
/// [`MAX_CLOSE_REASON`] bytes.
pub fn check_close(code: u32, reason: &str) -> Result<u16, Failure> {
    if !is_sendable_close_code(code) {
        return Err(Failure::new(
            Code::InvalidClose,
            format!("close code {code} cannot be sent: use 1000-1003, 1007-1014 or 3000-4999"),
        ));
    }
    if reason.len() > MAX_CLOSE_REASON {
        return Err(Failure::new(
            Code::InvalidClose,
            format!(
                "close reason is {} bytes long; at most {MAX_CLOSE_REASON} fit in a close frame",
                reason.len()
            ),
        ));
    }
    // The range check above keeps the code within u16.
    Ok(u16::try_from(code).unwrap_or(1000))
}

/// Close `conn` with a checked code and reason, after everything queued before.
///
/// # Errors
/// As [`check_close`]; the connection is left open then.
pub fn close(conn: &Connection, code: u32, reason: &str) -> Result<(), Failure> {
    let code = check_close(code, reason)?;
    conn.close(code, reason);
    Ok(())
}

/// The status of an `on_connect` refusal: a client or server error (400-599).
///
/// # Errors
/// [`Code::InvalidState`] for any other status: a refusal answered with 200 or 302 would look
/// like a success or a redirect to the client.
pub fn rejection_status(status: u16) -> Result<StatusCode, Failure> {
    StatusCode::from_u16(status).ok().filter(|s| s.is_client_error() || s.is_server_error()).ok_or_else(
        || Failure::new(Code::InvalidState, format!("a refusal needs a 4xx or 5xx status, not {status}")),
    )
}

/// The `host:port` text to bind, with brackets around an IPv6 host (`::1` becomes `[::1]:8000`).
#[must_use]
pub fn listen_address(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_follow_rfc_6455() {
        for ok in [1000, 1003, 1007, 1011, 1014, 3000, 4000, 4999] {
            assert!(check_close(ok, "").is_ok(), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 2000, 2999, 5000, 70000] {
            assert_eq!(check_close(bad, "").unwrap_err().code, Code::InvalidClose, "{bad}");
        }
        assert!(check_close(1000, &"x".repeat(123)).is_ok());
        assert_eq!(check_close(1000, &"x".repeat(124)).unwrap_err().code, Code::InvalidClose);
    }

    #[test]
    fn refusals_need_an_error_status() {
        assert_eq!(rejection_status(401).unwrap(), StatusCode::UNAUTHORIZED);
        assert_eq!(rejection_status(503).unwrap(), StatusCode::SERVICE_UNAVAILABLE);
        for bad in [0, 100, 200, 302, 600, 1000] {
            assert!(rejection_status(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ipv6_hosts_get_brackets() {
        assert_eq!(listen_address("::1", 80), "[::1]:80");
        assert_eq!(listen_address("[::1]", 80), "[::1]:80");
        assert_eq!(listen_address("127.0.0.1", 80), "127.0.0.1:80");
        assert_eq!(listen_address("localhost", 80), "localhost:80");
    }
}
