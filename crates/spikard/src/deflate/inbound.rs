//! The client's frames, as tungstenite reads them: a compressed message is inflated into plain
//! fragments; every other frame passes as it came.

use flate2::{Decompress, FlushDecompress, Status};

use super::offer::Agreed;
use crate::frame::{self, Head, HeadReader, Taken, unmask};

/// Most inflated bytes in one fragment made for tungstenite.
const FRAGMENT: usize = 16 * 1024;

/// What every compressed message lacks at its end (RFC 7692 7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A reserved data opcode: a frame with it makes tungstenite fail the connection (1002).
const RESERVED: u8 = 0x3;

/// What the current frame's payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload {
    /// Passed as it came.
    Pass,
    /// Part of a compressed message: inflated.
    Inflate,
}

/// The client's side of one compressed connection.
#[derive(Debug)]
pub(super) struct Inbound {
    agreed: Agreed,
    head: HeadReader,
    in_payload: bool,
    payload: Payload,
    /// Payload bytes left of the current frame.
    left: u64,
    mask: [u8; 4],
    at: u64,
    /// The current frame ends its message.
    fin: bool,
    /// A compressed message is open (its first frame had RSV1).
    open: bool,
    /// Opcode of the next fragment made: the message's own, then continuation.
    next_opcode: u8,
    /// Compressed bytes taken for the current message.
    taken: u64,
    /// The deflate stream ended inside the message (a final block): the rest is ignored.
    ended: bool,
    /// Bytes of [`TAIL`] given to the inflater, once the message's payload is all in.
    tail: Option<usize>,
    inflater: Option<Box<Decompress>>,
    /// Inflated bytes of the fragment being made.
    made: Vec<u8>,
    /// A frame that fails the connection was made: nothing follows it.
    failed: bool,
}

impl Inbound {
    pub(super) fn new(agreed: Agreed) -> Self {
        Self {
            agreed,
            head: HeadReader::default(),
            in_payload: false,
            payload: Payload::Pass,
            left: 0,
            mask: [0; 4],
            at: 0,
            fin: false,
            open: false,
            next_opcode: frame::TEXT,
            taken: 0,
            ended: false,
            tail: None,
            inflater: None,
            made: Vec::new(),
            failed: false,
        }
    }

    /// Nothing more is to be read: a frame that fails the connection was the last.
    pub(super) fn failed(&self) -> bool {
        self.failed
    }

    /// Work that needs no input: the end of a compressed message.
    pub(super) fn finishing(&self) -> bool {
        self.tail.is_some()
    }

    /// Turns the client's bytes `raw` into frames for tungstenite, appended to `ready`; returns
    /// how many bytes of `raw` it took. Stops once `ready` holds something, so memory stays
    /// at a fragment.
    pub(super) fn transform(&mut self, raw: &[u8], ready: &mut Vec<u8>) -> usize {
        let mut pos = 0;
        while ready.is_empty() && !self.failed {
            if self.tail.is_some() {
                self.finish(ready);
                continue;
            }
            let data = &raw[pos..];
            if data.is_empty() {
                break;
            }
            if !self.in_payload {
                let (taken, found) = self.head.take(data);
                pos += taken;
                match found {
                    Taken::More => {}
                    Taken::Head(head) => self.begin(head, ready),
                    Taken::Invalid => self.fail(RESERVED, 0, ready),
                }
                continue;
            }
            let n = usize::try_from(self.left).unwrap_or(usize::MAX).min(data.len());
            let used = match self.payload {
                Payload::Pass => {
                    ready.extend_from_slice(&data[..n]);
                    n
                }
                Payload::Inflate => self.inflate(&data[..n], ready),
            };
            pos += used;
            self.left -= used as u64;
            self.at += used as u64;
            if self.left == 0 {
                self.end_frame();
            }
        }
        pos
    }

    /// Starts the frame whose header is complete.
    fn begin(&mut self, head: Head, ready: &mut Vec<u8>) {
        self.mask = head.mask.unwrap_or_default();
        self.left = head.len;
        self.at = 0;
        self.fin = head.fin;
        self.in_payload = true;
        let plain = !head.rsv1 && !head.rsv23;
        if !self.open && head.rsv1 && !head.rsv23 && matches!(head.opcode, frame::TEXT | frame::BINARY) {
            self.open = true;
            self.next_opcode = head.opcode;
            self.payload = Payload::Inflate;
            self.taken = 0;
        } else if self.open && plain && head.opcode == frame::CONTINUATION {
            self.payload = Payload::Inflate;
        } else {
            // Control frames, plain messages, and anything out of order, which tungstenite
            // refuses as it would without the layer.
            self.payload = Payload::Pass;
            head.write(ready);
        }
        if self.left == 0 {
            self.end_frame();
        }
    }

    /// Inflates masked payload bytes into the fragment being made; returns how many it took.
    fn inflate(&mut self, masked: &[u8], ready: &mut Vec<u8>) -> usize {
        if self.ended {
            return masked.len();
        }
        // Deflate can make incompressible data a little longer, never by an eighth.
        let limit = self.agreed.max_message_size as u64;
        self.taken += masked.len() as u64;
        if self.taken > limit + limit / 8 + 1024 {
            // A frame longer than the limit: tungstenite closes with 1009.
            self.fail(self.next_opcode, limit + 1, ready);
            return masked.len();
        }
        let mut plain = [0u8; 4096];
        let n = masked.len().min(plain.len());
        unmask(&masked[..n], self.mask, self.at, &mut plain[..n]);
        let (used, status) = self.run(&plain[..n], FlushDecompress::None);
        // What was not taken is unmasked again next time, at its own offset.
        self.taken -= (masked.len() - used) as u64;
        match status {
            Ok(Status::StreamEnd) => self.ended = true,
            Ok(_) if used == 0 && !self.full() => self.fail(RESERVED, 0, ready),
            Ok(_) => {}
            Err(()) => self.fail(RESERVED, 0, ready),
        }
        if self.full() {
            self.emit(false, ready);
        }
        if self.ended { masked.len() } else { used }
    }

    /// Runs the inflater on `input` into the fragment being made; returns how much it took.
    fn run(&mut self, input: &[u8], flush: FlushDecompress) -> (usize, Result<Status, ()>) {
        let inflater =
            self.inflater.get_or_insert_with(|| Box::new(Decompress::new_with_window_bits(false, 15)));
        if self.made.capacity() == 0 {
            self.made = Vec::with_capacity(FRAGMENT);
        }
        let before = inflater.total_in();
        let status = inflater.decompress_vec(input, &mut self.made, flush).map_err(drop);
        ((inflater.total_in() - before) as usize, status)
    }

    /// The fragment being made is full.
    fn full(&self) -> bool {
        self.made.capacity() > 0 && self.made.len() == self.made.capacity()
    }

    /// The current frame's payload is all in.
    fn end_frame(&mut self) {
        self.in_payload = false;
        if self.payload == Payload::Inflate && self.fin {
            self.tail = Some(if self.ended { TAIL.len() } else { 0 });
        }
        self.payload = Payload::Pass;
    }

    /// Ends a compressed message: the tail, the last of the inflated bytes, the final fragment.
    fn finish(&mut self, ready: &mut Vec<u8>) {
        let Some(fed) = self.tail else { return };
        if fed < TAIL.len() {
            let (used, status) = self.run(&TAIL[fed..], FlushDecompress::Sync);
            let fed = match status {
                Err(()) => return self.fail(RESERVED, 0, ready),
                Ok(Status::StreamEnd) => TAIL.len(),
                Ok(_) => fed + used,
            };
            self.tail = Some(fed);
            if self.full() {
                return self.emit(false, ready);
            }
            if fed < TAIL.len() {
                if used == 0 {
                    self.fail(RESERVED, 0, ready);
                }
                return;
            }
        }
        // All of the tail is in: what the inflater still holds comes out with a sync flush.
        if self.run(&[], FlushDecompress::Sync).1.is_err() {
            return self.fail(RESERVED, 0, ready);
        }
        if self.full() {
            return self.emit(false, ready);
        }
        self.emit(true, ready);
        self.tail = None;
        self.open = false;
        if self.agreed.client_no_context_takeover || self.ended {
            self.inflater = None;
        }
        self.ended = false;
    }

    /// Appends the fragment made so far to `ready`.
    fn emit(&mut self, fin: bool, ready: &mut Vec<u8>) {
        let head = Head {
            fin,
            rsv1: false,
            rsv23: false,
            opcode: self.next_opcode,
            mask: Some([0; 4]),
            len: self.made.len() as u64,
        };
        head.write(ready);
        ready.extend_from_slice(&self.made);
        self.made.clear();
        self.next_opcode = if fin { frame::TEXT } else { frame::CONTINUATION };
        if fin {
            self.made = Vec::new();
        }
    }

    /// Makes a frame header that tungstenite refuses (opcode and length chosen for the close code),
    /// after which nothing more is read.
    fn fail(&mut self, opcode: u8, len: u64, ready: &mut Vec<u8>) {
        Head { fin: false, rsv1: false, rsv23: false, opcode, mask: Some([0; 4]), len }.write(ready);
        self.failed = true;
        self.inflater = None;
        self.made = Vec::new();
    }
}
