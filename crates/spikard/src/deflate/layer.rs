//! The permessage-deflate layer under one HTTP connection: bytes pass untouched until the
//! connection's first response is a 101 that accepted compression, then the client's
//! compressed messages are inflated on the way in and the server's deflated on the way out.

use std::{
    io,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll, ready},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{inbound::Inbound, offer::Agreed, outbound::Outbound};
use crate::handshake;

/// Bytes read from the client at a time once compression is on.
const READ: usize = 16 * 1024;

/// Largest drained buffer a connection keeps for its next message.
const KEEP: usize = 512;

/// Frames for the client held unwritten before a write waits for the socket.
const HIGH: usize = 64 * 1024;

/// One connection's negotiation, between the upgrade (which agrees) and the layer (which
/// applies the agreement from the 101 on).
#[derive(Debug, Default)]
pub(crate) struct Negotiation(Mutex<Stage>);

#[derive(Debug, Default)]
enum Stage {
    /// No response written yet.
    #[default]
    Fresh,
    /// The upgrade agreed on compression; its 101 is to come.
    Agreed(Agreed),
    /// The first response is written: nothing more can be agreed on this connection.
    Settled,
}

impl Negotiation {
    /// Records the upgrade's agreement; false when the layer could not apply it (this
    /// connection already answered another request), and the upgrade goes on uncompressed.
    pub(crate) fn agree(&self, agreed: Agreed) -> bool {
        let mut stage = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*stage, Stage::Settled) {
            return false;
        }
        *stage = Stage::Agreed(agreed);
        true
    }

    /// The connection's first response starts being written: the agreement, if it is a 101.
    fn settle(&self, upgrade: bool) -> Option<Agreed> {
        let mut stage = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *stage, Stage::Settled) {
            Stage::Agreed(agreed) if upgrade => Some(agreed),
            _ => None,
        }
    }
}

/// Where a connection stands.
#[derive(Debug)]
enum State {
    /// Before the first response.
    Http(Arc<Negotiation>),
    /// The 101 head is being written (this many bytes of its end matched); compression starts
    /// after it.
    Answering(usize, Box<Active>),
    Active(Box<Active>),
    /// Plain bytes for the rest of the connection (no compression, or not this connection).
    Off,
}

/// A compressed connection's two directions and their buffers.
#[derive(Debug)]
struct Active {
    inbound: Inbound,
    outbound: Outbound,
    /// The client's bytes read, not yet transformed.
    raw: Vec<u8>,
    raw_pos: usize,
    /// Frames for tungstenite.
    ready: Vec<u8>,
    ready_pos: usize,
    /// Bytes tungstenite wrote that are not yet a whole frame.
    pending: Vec<u8>,
    /// Frames for the client, not yet written.
    out: Vec<u8>,
    out_pos: usize,
}

/// An I/O object that applies permessage-deflate once the upgrade agreed on it.
#[derive(Debug)]
pub(crate) struct Deflate<S> {
    io: S,
    state: State,
}

impl<S> Deflate<S> {
    /// A layer over `io`: with `negotiation`, ready to apply what the upgrade agrees; without,
    /// plain bytes always (compression off).
    pub(crate) fn new(io: S, negotiation: Option<Arc<Negotiation>>) -> Self {
        Self { io, state: negotiation.map_or(State::Off, State::Http) }
    }

    /// Looks at the start of a write in the HTTP phase.
    fn answering(&mut self, data: &[u8]) {
        let State::Http(negotiation) = &self.state else { return };
        if data.is_empty() {
            return;
        }
        self.state = match negotiation.settle(data.starts_with(handshake::SWITCHING)) {
            Some(agreed) => State::Answering(
                0,
                Box::new(Active {
                    inbound: Inbound::new(agreed),
                    outbound: Outbound::new(agreed),
                    raw: Vec::new(),
                    raw_pos: 0,
                    ready: Vec::new(),
                    ready_pos: 0,
                    pending: Vec::new(),
                    out: Vec::new(),
                    out_pos: 0,
                }),
            ),
            None => State::Off,
        };
    }

    /// Follows the 101 head's bytes as they are written; compression starts after its end.
    fn written(&mut self, data: &[u8]) {
        let State::Answering(matched, _) = &mut self.state else { return };
        if handshake::head_end(matched, data).is_some() {
            let State::Answering(_, active) = std::mem::replace(&mut self.state, State::Off) else {
                unreachable!()
            };
            self.state = State::Active(active);
        }
    }
}

/// Empties a drained buffer, freeing it unless it is small: an idle connection holds no
/// message-sized buffers.
fn release(buf: &mut Vec<u8>) {
    if buf.capacity() > KEEP {
        *buf = Vec::new();
    } else {
        buf.clear();
    }
}

impl<S: AsyncWrite + Unpin> Deflate<S> {
    /// Writes frames for the client until at most `keep` bytes of them are left, or the socket
    /// is full.
    fn write_out(io: &mut S, active: &mut Active, cx: &mut Context<'_>, keep: usize) -> Poll<io::Result<()>> {
        while active.out.len() - active.out_pos > keep {
            let n = ready!(Pin::new(&mut *io).poll_write(cx, &active.out[active.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            active.out_pos += n;
        }
        if active.out_pos == active.out.len() {
            active.out_pos = 0;
            release(&mut active.out);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deflate<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let State::Active(active) = &mut this.state else {
            return Pin::new(&mut this.io).poll_read(cx, out);
        };
        loop {
            if active.ready_pos < active.ready.len() {
                let n = (active.ready.len() - active.ready_pos).min(out.remaining());
                out.put_slice(&active.ready[active.ready_pos..active.ready_pos + n]);
                active.ready_pos += n;
                if active.ready_pos == active.ready.len() {
                    release(&mut active.ready);
                    active.ready_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if active.inbound.failed() {
                return Poll::Ready(Ok(()));
            }
            if active.raw_pos < active.raw.len() || active.inbound.finishing() {
                let used = active.inbound.transform(&active.raw[active.raw_pos..], &mut active.ready);
                active.raw_pos += used;
                if active.raw_pos == active.raw.len() {
                    active.raw.clear();
                    active.raw_pos = 0;
                }
                if used > 0 || !active.ready.is_empty() || active.inbound.failed() {
                    continue;
                }
            }
            // Everything read is transformed: read more, and keep only what is not taken at once.
            let mut buf = [0u8; READ];
            let mut read = ReadBuf::new(&mut buf);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut read))?;
            let fresh = read.filled();
            if fresh.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let used = active.inbound.transform(fresh, &mut active.ready);
            active.raw.clear();
            active.raw.extend_from_slice(&fresh[used..]);
            if active.raw.is_empty() {
                release(&mut active.raw);
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deflate<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.answering(data);
        let State::Active(active) = &mut this.state else {
            let n = ready!(Pin::new(&mut this.io).poll_write(cx, data))?;
            this.written(&data[..n]);
            return Poll::Ready(Ok(n));
        };
        ready!(Self::write_out(&mut this.io, active, cx, HIGH))?;
        active.pending.extend_from_slice(data);
        let used = active.outbound.transform(&active.pending, &mut active.out);
        active.pending.drain(..used);
        if active.pending.is_empty() {
            release(&mut active.pending);
        }
        // Best effort now; a flush finishes it.
        let _ = Self::write_out(&mut this.io, active, cx, 0)?;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if matches!(this.state, State::Off) {
            return Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        }
        let first = bufs.iter().find(|buf| !buf.is_empty()).map_or(&[][..], |buf| &**buf);
        Pin::new(this).poll_write(cx, first)
    }

    fn is_write_vectored(&self) -> bool {
        matches!(self.state, State::Off) && self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let State::Active(active) = &mut this.state {
            ready!(Self::write_out(&mut this.io, active, cx, 0))?;
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let State::Active(active) = &mut this.state {
            ready!(Self::write_out(&mut this.io, active, cx, 0))?;
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}
