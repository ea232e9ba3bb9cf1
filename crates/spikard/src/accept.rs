//! Accepting TCP connections: errors are logged and retried with a growing pause instead of a
//! busy loop (a full file descriptor table, `EMFILE`, stays full until something closes).

use std::{io, net::SocketAddr, time::Duration};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// First pause after an accept error.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// Longest pause between accept attempts while errors continue.
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// The next connection, or `None` once `token` is cancelled.
///
/// Errors that concern only the connection being accepted (it was reset or aborted before it
/// was taken) are skipped at `debug`. Any other error (`EMFILE`, `ENFILE`, `ENOBUFS`, ...) is
/// logged at `warn` and retried after a pause that doubles from 10 ms up to 1 s; the first
/// success after errors is logged at `info` with how many there were.
pub(crate) async fn next(
    listener: &TcpListener,
    token: &CancellationToken,
) -> Option<(TcpStream, SocketAddr)> {
    let mut pause = FIRST_PAUSE;
    let mut failures = 0_u64;
    loop {
        let accepted = tokio::select! {
            biased;
            () = token.cancelled() => return None,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok(connection) => {
                if failures > 0 {
                    tracing::info!(failures, "accepting connections again");
                }
                return Some(connection);
            }
            Err(err) if is_connection_error(&err) => {
                tracing::debug!(error = %err, "connection failed before it was accepted");
            }
            Err(err) => {
                failures += 1;
                tracing::warn!(
                    error = %err,
                    retry_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                    "cannot accept connections"
                );
                tokio::select! {
                    biased;
                    () = token.cancelled() => return None,
                    () = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        }
    }
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}
