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
    /// zlib compression level of outgoing messages, 0 (stored) to 9 (smallest). Default
    /// [`DEFAULT_COMPRESSION_LEVEL`]: on a 16 KiB JSON document level 1 costs less than half the
    /// CPU of level 6 for a reply about 17% larger (docs/decisions.md). A level above
    /// [`MAX_COMPRESSION_LEVEL`] compresses as 9 (the bindings refuse it instead).
    pub level: u32,
}

/// Default [`Compression::threshold`]: 1 KiB, below which deflate rarely saves a packet.
pub const DEFAULT_COMPRESSION_THRESHOLD: usize = 1024;

/// Default [`Compression::level`]: 1, zlib's fastest.
pub const DEFAULT_COMPRESSION_LEVEL: u32 = 1;

/// Highest [`Compression::level`].
pub const MAX_COMPRESSION_LEVEL: u32 = 9;

impl Default for Compression {
    fn default() -> Self {
        Self {
            server_context_takeover: false,
            threshold: DEFAULT_COMPRESSION_THRESHOLD,
            level: DEFAULT_COMPRESSION_LEVEL,
        }
    }
}

#[cfg(test)]
mod tests {
    use flate2::{Compress, Compression as Level, Decompress, FlushCompress, FlushDecompress};
    use proptest::prelude::*;

    use super::{inbound::Inbound, offer::Agreed, outbound::Outbound};
    use crate::frame::{self, Head, HeadReader, Taken};

    fn agreed(no_context_takeover: bool, max_message_size: usize) -> Agreed {
        Agreed {
            server_window_bits: 15,
            server_no_context_takeover: no_context_takeover,
            client_no_context_takeover: no_context_takeover,
            threshold: 0,
            level: super::DEFAULT_COMPRESSION_LEVEL,
            max_message_size,
        }
    }

    /// Deflates with a sync flush, as a client or the server does (flate2, not the layer).
    fn deflate(compressor: &mut Compress, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 64);
        let before = compressor.total_in();
        loop {
            out.reserve(1024);
            compressor
                .compress_vec(
                    &data[(compressor.total_in() - before) as usize..],
                    &mut out,
                    FlushCompress::Sync,
                )
                .unwrap();
            if (compressor.total_in() - before) as usize == data.len() && out.capacity() > out.len() {
                break;
            }
        }
        out.truncate(out.len() - 4);
        out
    }

    /// Inflates one message's payload (its tail added).
    fn inflate(decompressor: &mut Decompress, data: &[u8]) -> Vec<u8> {
        let input = [data, &[0, 0, 0xff, 0xff]].concat();
        let mut out = Vec::with_capacity(input.len() * 4 + 1024);
        let before = decompressor.total_in();
        while ((decompressor.total_in() - before) as usize) < input.len() {
            out.reserve(out.len() + 1024);
            let used = (decompressor.total_in() - before) as usize;
            decompressor.decompress_vec(&input[used..], &mut out, FlushDecompress::Sync).unwrap();
        }
        out
    }

    /// The frames of a stream, each with its payload unmasked.
    fn frames(mut stream: &[u8]) -> Vec<(Head, Vec<u8>)> {
        let mut out = Vec::new();
        while !stream.is_empty() {
            let (taken, Taken::Head(head)) = HeadReader::default().take(stream) else {
                panic!("a broken frame")
            };
            let len = head.len as usize;
            let mut payload = vec![0; len];
            frame::unmask(&stream[taken..taken + len], head.mask.unwrap_or_default(), 0, &mut payload);
            out.push((head, payload));
            stream = &stream[taken + len..];
        }
        out
    }

    /// Whole messages from plain frames: (opcode, payload).
    fn messages(stream: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out: Vec<(u8, Vec<u8>)> = Vec::new();
        let mut open = None;
        for (head, payload) in frames(stream) {
            assert!(!head.rsv1 && head.mask.is_some(), "tungstenite gets plain, masked frames");
            if head.is_control() {
                out.push((head.opcode, payload));
                continue;
            }
            match open {
                Some(at) => {
                    assert_eq!(head.opcode, frame::CONTINUATION);
                    let message: &mut (u8, Vec<u8>) = &mut out[at];
                    message.1.extend(payload);
                }
                None => out.push((head.opcode, payload)),
            }
            open = if head.fin { None } else { open.or(Some(out.len() - 1)) };
        }
        assert!(open.is_none());
        out
    }

    /// Runs `stream` through `inbound` in pieces of the given sizes.
    fn through(inbound: &mut Inbound, stream: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut got = Vec::new();
        let mut ready = Vec::new();
        let mut at = 0;
        for cut in cuts.iter().cycle() {
            if at >= stream.len() && !inbound.finishing() || inbound.failed() {
                break;
            }
            let piece = &stream[at..(at + cut).min(stream.len())];
            let mut pos = 0;
            loop {
                pos += inbound.transform(&piece[pos..], &mut ready);
                got.append(&mut ready);
                if pos == piece.len() && !inbound.finishing() || inbound.failed() {
                    break;
                }
            }
            at += piece.len();
        }
        got
    }

    fn message() -> impl Strategy<Value = (u8, Vec<u8>)> {
        let repetitive = (1usize..70_000, any::<u8>()).prop_map(|(n, byte)| vec![byte; n]);
        let random = proptest::collection::vec(any::<u8>(), 0..3000);
        (prop_oneof![Just(frame::TEXT), Just(frame::BINARY)], prop_oneof![repetitive, random])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Compressed messages, in fragments and with control frames between them, cut anywhere,
        /// reach tungstenite as the plain messages the client compressed.
        #[test]
        fn client_messages_arrive_inflated(
            sent in proptest::collection::vec(message(), 1..6),
            parts in 1usize..4,
            takeover in any::<bool>(),
            cuts in proptest::collection::vec(1usize..9000, 1..20),
        ) {
            let mut compressor = Compress::new(Level::default(), false);
            let mut stream = Vec::new();
            for (opcode, payload) in &sent {
                if !takeover {
                    compressor.reset();
                }
                let compressed = deflate(&mut compressor, payload);
                let size = compressed.len().div_ceil(parts).max(1);
                let pieces: Vec<&[u8]> = if compressed.is_empty() { vec![&[][..]] } else { compressed.chunks(size).collect() };
                let last = pieces.len() - 1;
                for (i, piece) in pieces.into_iter().enumerate() {
                    let opcode = if i == 0 { *opcode } else { frame::CONTINUATION };
                    let mask = [7, 1, 3, (i % 256) as u8];
                    Head { fin: i == last, rsv1: i == 0, rsv23: false, opcode, mask: Some(mask), len: piece.len() as u64 }
                        .write(&mut stream);
                    stream.extend(piece.iter().enumerate().map(|(j, b)| b ^ mask[j % 4]));
                    if i == 0 && i != last {
                        Head { fin: true, rsv1: false, rsv23: false, opcode: 0x9, mask: Some([0; 4]), len: 2 }.write(&mut stream);
                        stream.extend_from_slice(b"hi");
                    }
                }
            }
            let mut inbound = Inbound::new(agreed(!takeover, usize::MAX / 4));
            let got = messages(&through(&mut inbound, &stream, &cuts));
            let data: Vec<(u8, Vec<u8>)> = got.into_iter().filter(|(opcode, _)| *opcode != 0x9).collect();
            prop_assert!(!inbound.failed());
            prop_assert_eq!(data, sent);
        }

        /// Messages tungstenite writes go out deflated with RSV1 on their first frame, and a
        /// client inflates them back; control frames go as written.
        #[test]
        fn replies_go_out_deflated(
            sent in proptest::collection::vec(message(), 1..6),
            takeover in any::<bool>(),
        ) {
            let mut outbound = Outbound::new(agreed(!takeover, usize::MAX / 4));
            let mut written = Vec::new();
            for (opcode, payload) in &sent {
                Head { fin: true, rsv1: false, rsv23: false, opcode: *opcode, mask: None, len: payload.len() as u64 }.write(&mut written);
                written.extend_from_slice(payload);
                Head { fin: true, rsv1: false, rsv23: false, opcode: 0xA, mask: None, len: 0 }.write(&mut written);
            }
            let mut out = Vec::new();
            // In two writes, the first ending inside a frame: it waits for the rest.
            let half = written.len() / 2;
            let used = outbound.transform(&written[..half], &mut out);
            let rest = [&written[used..half], &written[half..]].concat();
            prop_assert_eq!(outbound.transform(&rest, &mut out), rest.len());
            let mut decompressor = Decompress::new(false);
            let mut got = Vec::new();
            for (head, payload) in frames(&out) {
                if head.opcode == 0xA {
                    prop_assert!(!head.rsv1 && payload.is_empty());
                    continue;
                }
                prop_assert!(head.rsv1 && head.fin && head.mask.is_none());
                if !takeover {
                    decompressor.reset(false);
                }
                got.push((head.opcode, inflate(&mut decompressor, &payload)));
            }
            prop_assert_eq!(got, sent);
        }
    }

    /// The configured level is the one replies are compressed with: a higher level gives a
    /// smaller frame of JSON records, level 0 stores them (larger than the text), and each
    /// inflates back to the reply.
    #[test]
    fn replies_are_compressed_at_the_configured_level() {
        let text: String = (0..200)
            .map(|i| format!(r#"{{"id":{i},"user":"user{}","text":"message {i}"}},"#, i % 7))
            .collect();
        let mut sizes = Vec::new();
        for level in [0, 1, 9] {
            let mut outbound = Outbound::new(Agreed { level, ..agreed(true, usize::MAX / 4) });
            let mut written = Vec::new();
            Head {
                fin: true,
                rsv1: false,
                rsv23: false,
                opcode: frame::TEXT,
                mask: None,
                len: text.len() as u64,
            }
            .write(&mut written);
            written.extend_from_slice(text.as_bytes());
            let mut out = Vec::new();
            assert_eq!(outbound.transform(&written, &mut out), written.len());
            let [(head, payload)] = &frames(&out)[..] else { panic!("one frame") };
            assert!(head.rsv1);
            assert_eq!(inflate(&mut Decompress::new(false), payload), text.as_bytes(), "level {level}");
            sizes.push(payload.len());
        }
        assert!(sizes[0] > text.len() && sizes[1] < text.len() / 3 && sizes[2] < sizes[1], "sizes {sizes:?}");
    }

    /// A message that inflates past the limit ends in a frame tungstenite refuses with 1009;
    /// corrupt compressed data in a frame it refuses with 1002; nothing follows either.
    #[test]
    fn bombs_and_corrupt_data_fail_the_connection() {
        let mut compressor = Compress::new(Level::default(), false);
        let bomb = deflate(&mut compressor, &vec![b'a'; 1 << 20]);
        let mut stream = Vec::new();
        Head {
            fin: true,
            rsv1: true,
            rsv23: false,
            opcode: frame::TEXT,
            mask: Some([0; 4]),
            len: bomb.len() as u64,
        }
        .write(&mut stream);
        stream.extend_from_slice(&bomb);
        let mut inbound = Inbound::new(agreed(true, 1000));
        let got = through(&mut inbound, &stream, &[100]);
        let sizes: Vec<u64> = frames(&got).iter().map(|(head, _)| head.len).collect();
        // tungstenite reads the fragments (16 KiB each) and refuses the message once past the
        // limit; the layer only makes them as they are read.
        assert!(sizes.iter().all(|&len| len <= 16 * 1024), "{sizes:?}");

        let mut inbound = Inbound::new(agreed(true, 1000));
        let mut stream = Vec::new();
        Head { fin: true, rsv1: true, rsv23: false, opcode: frame::TEXT, mask: Some([0; 4]), len: 4 }
            .write(&mut stream);
        stream.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        let got = through(&mut inbound, &stream, &[100]);
        assert!(inbound.failed());
        assert_eq!(frames(&got).last().map(|(head, _)| head.opcode), Some(0x3));
    }
}
