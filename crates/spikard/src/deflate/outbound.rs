//! The frames tungstenite writes, as they go to the client: a data message of at least the
//! threshold is deflated into a frame with RSV1 set; every other frame goes as written.

use flate2::{Compress, Compression as Level, FlushCompress};

use super::offer::Agreed;
use crate::frame::{self, HeadReader, Taken};

/// The end of a sync flush, which a compressed message leaves off (RFC 7692 7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The server's side of one compressed connection.
#[derive(Debug)]
pub(super) struct Outbound {
    agreed: Agreed,
    deflater: Option<Box<Compress>>,
    /// A fragmented message is going out, compressed or not.
    open: Option<bool>,
}

impl Outbound {
    pub(super) fn new(agreed: Agreed) -> Self {
        Self { agreed, deflater: None, open: None }
    }

    /// Turns the complete frames at the start of `pending` (as tungstenite wrote them) into
    /// frames for the client, appended to `out`; returns how many bytes of `pending` it used
    /// (a frame not yet whole waits for the rest).
    pub(super) fn transform(&mut self, pending: &[u8], out: &mut Vec<u8>) -> usize {
        let mut pos = 0;
        loop {
            let rest = &pending[pos..];
            let (header, head) = match HeadReader::default().take(rest) {
                (_, Taken::More) => return pos,
                (header, Taken::Head(head)) => (header, head),
                (_, Taken::Invalid) => {
                    // Not a frame tungstenite would write; sent as it is.
                    out.extend_from_slice(rest);
                    return pending.len();
                }
            };
            let Some(total) = usize::try_from(head.len).ok().and_then(|len| len.checked_add(header)) else {
                out.extend_from_slice(rest);
                return pending.len();
            };
            if rest.len() < total {
                return pos;
            }
            let payload = &rest[header..total];
            let first = head.opcode != frame::CONTINUATION;
            let compress = if head.is_control() {
                false
            } else if first {
                payload.len() >= self.agreed.threshold || !head.fin
            } else {
                self.open == Some(true)
            };
            if !head.is_control() {
                self.open = (!head.fin).then_some(compress);
            }
            if compress {
                let start = out.len();
                // The header's length is known once the payload is compressed: room for the
                // longest header first, then the header moved into place.
                out.resize(start + 10, 0);
                self.deflate(payload, head.fin, out);
                let len = (out.len() - start - 10) as u64;
                let mut written = Vec::with_capacity(10);
                frame::Head { rsv1: first, len, ..head }.write(&mut written);
                let gap = 10 - written.len();
                out[start + gap..start + 10].copy_from_slice(&written);
                out.drain(start..start + gap);
            } else {
                out.extend_from_slice(&rest[..total]);
            }
            pos += total;
        }
    }

    /// Deflates one frame's payload onto `out` with a sync flush (its tail left off at the end of
    /// the message).
    fn deflate(&mut self, payload: &[u8], fin: bool, out: &mut Vec<u8>) {
        let (bits, level) = (self.agreed.server_window_bits, self.agreed.level);
        let deflater = self
            .deflater
            .get_or_insert_with(|| Box::new(Compress::new_with_window_bits(Level::new(level), false, bits)));
        let before = deflater.total_in();
        loop {
            let used = (deflater.total_in() - before) as usize;
            out.reserve((payload.len() - used) / 2 + 64);
            let room = out.capacity() - out.len();
            let written = out.len();
            if deflater.compress_vec(&payload[used..], out, FlushCompress::Sync).is_err() {
                break;
            }
            // Done once all input is in and the flush did not fill the room it had.
            if (deflater.total_in() - before) as usize == payload.len() && out.len() - written < room {
                break;
            }
        }
        if fin {
            if out.ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            }
            if self.agreed.server_no_context_takeover {
                // A new context per message: nothing is held between them.
                self.deflater = None;
            }
        }
    }
}
