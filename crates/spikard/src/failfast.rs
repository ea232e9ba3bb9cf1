//! Fail-fast UTF-8 for text frames that arrive in pieces.
//!
//! tungstenite checks a text frame's UTF-8 once it has read the whole frame. A client that sent a
//! frame's invalid bytes and then held back the rest kept its connection open until the rest came
//! or a timeout ended it (Autobahn 6.4.3 and 6.4.4 were NON-STRICT). This layer sits under each
//! HTTP connection, over [`ReadAhead`](crate::readahead::ReadAhead), and reads along: it finds the
//! end of the connection's first request head, follows the WebSocket frames after it once that
//! request was answered with 101, and checks the UTF-8 of text payloads that arrive split over
//! several reads (a payload that is whole in one read is left to tungstenite alone, so a small or
//! read-ahead message costs a header parse and nothing more).
//!
//! When such a payload holds an invalid sequence and its frame is not complete yet, the layer
//! hands tungstenite the rest of the frame at once (zero bytes: the frame is invalid whatever
//! follows) and drops as many of the client's bytes when they come. tungstenite then fails the
//! connection with 1007 through the session's usual path, which alone writes to the socket.
//!
//! Only a connection whose first request is the upgrade is followed (every WebSocket client opens
//! one for it); after any other first response the layer passes bytes through untouched, and
//! tungstenite's check on complete frames still applies.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{
    frame::{self, Head, HeadReader, Taken, unmask},
    handshake,
};

/// Bytes unmasked and checked per step (a stack buffer).
const CHUNK: usize = 1024;

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading the first request's head; this many bytes of its end matched so far.
    Head(usize),
    /// The head is read: frames are followed from its end, in case the answer is 101.
    Upgrading,
    /// Answered with 101: frames are followed, and one found broken is completed at once.
    Frames,
    /// Not followed: another first response, a broken frame already handled, or a frame
    /// header out of range.
    Off,
}

/// An I/O object that completes a text frame at once when its first bytes are not UTF-8.
#[derive(Debug)]
pub(crate) struct FailFast<S> {
    io: S,
    phase: Phase,
    frames: Frames,
    /// Zero bytes still to hand over, completing a broken frame.
    fill: u64,
    /// Client bytes still to drop: the broken frame's real rest.
    skip: u64,
}

impl<S> FailFast<S> {
    pub(crate) fn new(io: S) -> Self {
        Self { io, phase: Phase::Head(0), frames: Frames::default(), fill: 0, skip: 0 }
    }

    /// Follows bytes just read (after any dropped ones).
    fn read_along(&mut self, mut data: &[u8]) {
        if let Phase::Head(mut matched) = self.phase {
            let Some(end) = handshake::head_end(&mut matched, data) else {
                self.phase = Phase::Head(matched);
                return;
            };
            self.phase = Phase::Upgrading;
            data = &data[end..];
        }
        if !matches!(self.phase, Phase::Upgrading | Phase::Frames) {
            return;
        }
        match self.frames.feed(data) {
            Fed::Going => {}
            // Before the 101 the bytes go to hyper, which hands them to tungstenite after it;
            // what to do is decided when the response is written.
            Fed::Broken(_) if self.phase == Phase::Upgrading => {}
            Fed::Broken(left) => {
                self.fill = left;
                self.skip = left;
                self.phase = Phase::Off;
            }
            Fed::Lost => self.phase = Phase::Off,
        }
    }

    /// Looks at the start of the first response written on the connection.
    fn answered(&mut self, first: &[u8]) {
        if !matches!(self.phase, Phase::Head(_) | Phase::Upgrading) || first.is_empty() {
            return;
        }
        let upgraded = self.phase == Phase::Upgrading && first.starts_with(handshake::SWITCHING);
        self.phase = if upgraded { Phase::Frames } else { Phase::Off };
        if upgraded && self.frames.broken {
            self.fill = self.frames.left;
            self.skip = self.frames.left;
            self.phase = Phase::Off;
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FailFast<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.fill > 0 {
            let n = usize::try_from(this.fill).unwrap_or(usize::MAX).min(out.remaining());
            out.initialize_unfilled_to(n).fill(0);
            out.advance(n);
            this.fill -= n as u64;
            return Poll::Ready(Ok(()));
        }
        loop {
            let before = out.filled().len();
            ready!(Pin::new(&mut this.io).poll_read(cx, out))?;
            let got = out.filled().len() - before;
            if got == 0 {
                return Poll::Ready(Ok(()));
            }
            if this.skip > 0 {
                let dropped = usize::try_from(this.skip).unwrap_or(usize::MAX).min(got);
                this.skip -= dropped as u64;
                out.filled_mut().copy_within(before + dropped.., before);
                out.set_filled(before + got - dropped);
                if dropped == got {
                    continue;
                }
            }
            if this.phase != Phase::Off {
                this.read_along(&out.filled()[before..]);
            }
            return Poll::Ready(Ok(()));
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FailFast<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.answered(data);
        Pin::new(&mut this.io).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(first) = bufs.iter().find(|buf| !buf.is_empty()) {
            this.answered(first);
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// What following some bytes found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fed {
    /// Nothing to act on.
    Going,
    /// The current frame holds invalid UTF-8 and has this many bytes still to come.
    Broken(u64),
    /// The frames can no longer be followed (a broken frame completed, or a header out of range).
    Lost,
}

/// The frame stream as the client sends it.
#[derive(Debug, Default)]
struct Frames {
    head: HeadReader,
    /// In a frame's payload (else reading a header).
    in_payload: bool,
    /// Payload bytes left of the current frame.
    left: u64,
    mask: [u8; 4],
    /// Payload bytes of the current frame seen so far.
    at: u64,
    /// The current frame's payload is text to check.
    check: bool,
    /// Part of the current frame's payload was checked (it did not come whole).
    streaming: bool,
    /// The current frame ends its message.
    ends_message: bool,
    /// A fragmented text message goes on in the next continuation frame.
    text: bool,
    utf8: Utf8,
    /// The current frame holds invalid UTF-8.
    broken: bool,
}

impl Frames {
    /// Follows the next bytes of the stream.
    fn feed(&mut self, mut data: &[u8]) -> Fed {
        while !data.is_empty() {
            if !self.in_payload {
                let (taken, found) = self.head.take(data);
                data = &data[taken..];
                match found {
                    Taken::More => {}
                    Taken::Head(head) => self.start(head),
                    Taken::Invalid => return Fed::Lost,
                }
                continue;
            }
            let n = usize::try_from(self.left).unwrap_or(usize::MAX).min(data.len());
            let (part, rest) = data.split_at(n);
            if self.check {
                if !self.streaming && n as u64 == self.left && self.utf8.len == 0 {
                    // Whole in this read: tungstenite checks it now; only an incomplete
                    // sequence at its end matters, for the next fragment.
                    self.utf8.carry_tail(part, self.mask, self.at);
                } else {
                    self.streaming = true;
                    if !self.utf8.feed(part, self.mask, self.at) {
                        self.broken = true;
                        self.check = false;
                    }
                }
            }
            self.at += n as u64;
            self.left -= n as u64;
            data = rest;
            if self.left == 0 {
                if self.broken {
                    return Fed::Lost;
                }
                self.end();
            }
        }
        if self.broken { Fed::Broken(self.left) } else { Fed::Going }
    }

    /// Starts the frame whose header is complete.
    fn start(&mut self, head: Head) {
        self.mask = head.mask.unwrap_or_default();
        match head.opcode {
            frame::TEXT => {
                self.utf8 = Utf8::default();
                self.check = true;
                self.text = !head.fin;
            }
            frame::CONTINUATION => self.check = self.text,
            _ => self.check = false,
        }
        self.ends_message = head.fin && !head.is_control();
        self.at = 0;
        self.left = head.len;
        self.streaming = false;
        self.in_payload = true;
        if head.len == 0 {
            self.end();
        }
    }

    /// The current frame's payload is complete.
    fn end(&mut self) {
        if self.ends_message {
            self.text = false;
        }
        self.in_payload = false;
    }
}

/// UTF-8 checked as it streams in: an incomplete sequence at the end of one piece is carried
/// into the next.
#[derive(Debug, Default)]
struct Utf8 {
    carry: [u8; 3],
    len: usize,
}

impl Utf8 {
    /// Checks the next masked payload bytes, `at` bytes into their frame; false when invalid.
    fn feed(&mut self, masked: &[u8], mask: [u8; 4], mut at: u64) -> bool {
        let mut buf = [0u8; 3 + CHUNK];
        for piece in masked.chunks(CHUNK) {
            let carried = self.len;
            buf[..carried].copy_from_slice(&self.carry[..carried]);
            unmask(piece, mask, at, &mut buf[carried..carried + piece.len()]);
            at += piece.len() as u64;
            let all = &buf[..carried + piece.len()];
            self.len = 0;
            if let Err(err) = std::str::from_utf8(all) {
                if err.error_len().is_some() {
                    return false;
                }
                let rest = &all[err.valid_up_to()..];
                self.carry[..rest.len()].copy_from_slice(rest);
                self.len = rest.len();
            }
        }
        true
    }

    /// Keeps an incomplete sequence at the end of a payload that was not checked here.
    fn carry_tail(&mut self, masked: &[u8], mask: [u8; 4], at: u64) {
        let n = masked.len().min(3);
        let start = masked.len() - n;
        let mut last = [0u8; 3];
        unmask(&masked[start..], mask, at + start as u64, &mut last[..n]);
        self.len = 0;
        for back in 1..=n {
            let byte = last[n - back];
            if byte & 0xc0 == 0x80 {
                continue;
            }
            let width = match byte {
                0xf0.. => 4,
                0xe0.. => 3,
                0xc0.. => 2,
                _ => 1,
            };
            if width > back {
                self.carry[..back].copy_from_slice(&last[n - back..n]);
                self.len = back;
            }
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::VecDeque,
        io,
        pin::Pin,
        task::{Context, Poll, Waker},
    };

    use proptest::prelude::*;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    use super::FailFast;

    /// A socket whose reads return the given pieces one by one, then wait.
    struct Pieces(VecDeque<Vec<u8>>);

    impl AsyncRead for Pieces {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            out: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            let Some(piece) = this.0.front_mut() else { return Poll::Pending };
            let n = piece.len().min(out.remaining());
            out.put_slice(&piece[..n]);
            piece.drain(..n);
            if piece.is_empty() {
                this.0.pop_front();
            }
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Pieces {
        fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(data.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    const REQUEST: &[u8] = b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n";

    /// A client frame: FIN as given, this opcode, masked with `mask`.
    fn frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![u8::from(fin) << 7 | opcode];
        match payload.len() {
            n @ 0..=125 => out.push(0x80 | n as u8),
            n @ 126..=0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, byte)| byte ^ mask[i % 4]));
        out
    }

    /// The connection with the request read and answered (`status` line start), then `pieces`.
    fn connection(status: &[u8], pieces: Vec<Vec<u8>>) -> FailFast<Pieces> {
        let mut io = FailFast::new(Pieces(VecDeque::from([REQUEST.to_vec()])));
        assert_eq!(read(&mut io, 4096), Some(REQUEST.to_vec()));
        let mut cx = Context::from_waker(Waker::noop());
        let written = Pin::new(&mut io).poll_write(&mut cx, status);
        assert!(matches!(written, Poll::Ready(Ok(_))));
        io.io.0.extend(pieces);
        io
    }

    /// One read of at most `size` bytes; `None` when it would wait.
    fn read(io: &mut FailFast<Pieces>, size: usize) -> Option<Vec<u8>> {
        let mut storage = vec![0u8; size];
        let mut out = ReadBuf::new(&mut storage);
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(io).poll_read(&mut cx, &mut out) {
            Poll::Ready(result) => {
                result.unwrap();
                Some(out.filled().to_vec())
            }
            Poll::Pending => None,
        }
    }

    /// Everything readable now, in reads of at most `size` bytes.
    fn read_all(io: &mut FailFast<Pieces>, size: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while let Some(bytes) = read(io, size) {
            got.extend(bytes);
        }
        got
    }

    /// A text frame whose first bytes are invalid and whose rest has not come is completed at
    /// once with zeros; the client's rest is dropped when it comes, and what follows it passes.
    #[test]
    fn a_broken_text_frame_is_completed_at_once() {
        let whole = frame(true, 0x1, b"hi\xc3\x28 and more", [1, 2, 3, 4]);
        let (first, rest) = whole.split_at(2 + 4 + 4);
        let mut io = connection(b"HTTP/1.1 101 Switching Protocols\r\n", vec![first.to_vec()]);
        assert_eq!(read(&mut io, 4096), Some(first.to_vec()));
        assert_eq!(read(&mut io, 4096), Some(vec![0; rest.len()]), "the frame's rest comes at once");
        let close = frame(true, 0x8, &1000u16.to_be_bytes(), [9, 9, 9, 9]);
        io.io.0.push_back(rest[..3].to_vec());
        io.io.0.push_back([&rest[3..], &close[..]].concat());
        assert_eq!(read_all(&mut io, 4096), close, "the real rest is dropped, the close frame passes");
    }

    /// An incomplete sequence at the end of one fragment is carried into the next.
    #[test]
    fn a_sequence_split_over_fragments_is_followed() {
        let first = frame(false, 0x1, b"h\xc3", [5, 6, 7, 8]);
        let second = frame(true, 0x0, b"\x28 rest", [1, 1, 1, 1]);
        let mut io =
            connection(b"HTTP/1.1 101 Switching Protocols\r\n", vec![first.clone(), second[..7].to_vec()]);
        assert_eq!(read_all(&mut io, 4096), [&first[..], &second[..7], &[0u8; 5][..]].concat());

        let valid = frame(true, 0x0, b"\xa9 rest", [1, 1, 1, 1]);
        let mut io =
            connection(b"HTTP/1.1 101 Switching Protocols\r\n", vec![first.clone(), valid[..7].to_vec()]);
        assert_eq!(
            read_all(&mut io, 4096),
            [&first[..], &valid[..7]].concat(),
            "é split over two frames is valid"
        );
    }

    /// A sequence that is only incomplete so far is not invalid: the rest is awaited.
    #[test]
    fn an_incomplete_sequence_waits_for_the_rest() {
        let whole = frame(true, 0x1, b"hi\xe2\x82\xac!", [1, 2, 3, 4]);
        let mut io = connection(b"HTTP/1.1 101 Switching Protocols\r\n", vec![whole[..2 + 4 + 3].to_vec()]);
        assert_eq!(read_all(&mut io, 4096), whole[..9].to_vec());
        assert_eq!(io.fill, 0);
    }

    /// Binary frames, and connections not answered with 101, are never completed.
    #[test]
    fn only_text_on_an_upgraded_connection_is_completed() {
        let binary = frame(true, 0x2, b"\xff\xff\xff\xff", [1, 2, 3, 4]);
        let mut io = connection(b"HTTP/1.1 101 Switching Protocols\r\n", vec![binary[..8].to_vec()]);
        assert_eq!(read_all(&mut io, 4096), binary[..8].to_vec());

        let text = frame(true, 0x1, b"\xff\xff\xff\xff", [1, 2, 3, 4]);
        let mut io = connection(b"HTTP/1.1 200 OK\r\n", vec![text[..8].to_vec()]);
        assert_eq!(read_all(&mut io, 4096), text[..8].to_vec());
    }

    /// A frame that broke before the 101 was written (hyper read it with the head) is completed
    /// once the 101 goes out.
    #[test]
    fn a_frame_broken_before_the_answer_is_completed_after_it() {
        let text = frame(true, 0x1, b"\xff and the rest", [1, 2, 3, 4]);
        let mut io = FailFast::new(Pieces(VecDeque::from([[REQUEST, &text[..8]].concat()])));
        assert_eq!(read_all(&mut io, 4096), [REQUEST, &text[..8]].concat());
        let mut cx = Context::from_waker(Waker::noop());
        let _ = Pin::new(&mut io).poll_write(&mut cx, b"HTTP/1.1 101 Switching Protocols\r\n");
        assert_eq!(read_all(&mut io, 4096), vec![0; text.len() - 8]);
    }

    /// One message of a valid stream: a text message (maybe fragmented), binary, or a ping.
    fn message() -> impl Strategy<Value = Vec<u8>> {
        let text = (any::<String>(), 1usize..4, any::<[u8; 4]>()).prop_map(|(text, parts, mask)| {
            let bytes = text.as_bytes();
            let size = bytes.len().div_ceil(parts).max(1);
            let pieces: Vec<&[u8]> =
                if bytes.is_empty() { vec![&[][..]] } else { bytes.chunks(size).collect() };
            let last = pieces.len() - 1;
            let mut out = Vec::new();
            for (i, piece) in pieces.into_iter().enumerate() {
                out.extend(frame(i == last, if i == 0 { 0x1 } else { 0x0 }, piece, mask));
                if i == 0 && i != last {
                    out.extend(frame(true, 0x9, b"ping", mask));
                }
            }
            out
        });
        let binary = (proptest::collection::vec(any::<u8>(), 0..300), any::<[u8; 4]>())
            .prop_map(|(bytes, mask)| frame(true, 0x2, &bytes, mask));
        prop_oneof![text, binary]
    }

    proptest! {
        /// A valid stream comes through byte for byte, whatever the reads' sizes and the pieces
        /// the client wrote.
        #[test]
        fn a_valid_stream_passes_unchanged(
            messages in proptest::collection::vec(message(), 1..12),
            cuts in proptest::collection::vec(1usize..200, 1..40),
            size in 1usize..300,
        ) {
            let stream = messages.concat();
            let mut pieces = Vec::new();
            let mut at = 0;
            for cut in cuts.iter().cycle() {
                if at >= stream.len() {
                    break;
                }
                let end = (at + cut).min(stream.len());
                pieces.push(stream[at..end].to_vec());
                at = end;
            }
            let mut io = connection(b"HTTP/1.1 101 Switching Protocols\r\n", pieces);
            prop_assert_eq!(read_all(&mut io, size), stream);
        }
    }
}
