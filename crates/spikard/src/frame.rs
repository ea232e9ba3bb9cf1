//! WebSocket frame headers (RFC 6455 section 5.2) read as their bytes arrive, for the layers
//! under the protocol engine that follow the frame stream ([`crate::failfast`],
//! [`crate::deflate`]), and written for the frames those layers make.

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) fin: bool,
    /// RSV1: set on the first frame of a compressed message (RFC 7692).
    pub(crate) rsv1: bool,
    /// RSV2 or RSV3: no extension here uses them.
    pub(crate) rsv23: bool,
    pub(crate) opcode: u8,
    /// The masking key; `None` for an unmasked (server) frame.
    pub(crate) mask: Option<[u8; 4]>,
    /// Payload length.
    pub(crate) len: u64,
}

/// Opcode of a continuation frame.
pub(crate) const CONTINUATION: u8 = 0x0;
/// Opcode of a text frame.
pub(crate) const TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub(crate) const BINARY: u8 = 0x2;

impl Head {
    /// A control frame (close, ping, pong, or a reserved control opcode).
    pub(crate) fn is_control(&self) -> bool {
        self.opcode >= 0x8
    }

    /// Appends this header's bytes to `out`.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        let rsv1 = if self.rsv1 { 0x40 } else { 0 };
        out.push(u8::from(self.fin) << 7 | rsv1 | self.opcode);
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        match self.len {
            len @ 0..=125 => out.push(mask_bit | len as u8),
            len @ 126..=0xffff => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
        if let Some(mask) = self.mask {
            out.extend_from_slice(&mask);
        }
    }
}

/// A frame header collected across reads.
#[derive(Debug, Default)]
pub(crate) struct HeadReader {
    bytes: [u8; 14],
    have: usize,
}

/// What [`HeadReader::take`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// The header needs more bytes.
    More,
    /// The header is complete.
    Head(Head),
    /// The length has its most significant bit set (RFC 6455 forbids it).
    Invalid,
}

impl HeadReader {
    /// Takes header bytes from the start of `data`; returns how many it took and what it found.
    pub(crate) fn take(&mut self, data: &[u8]) -> (usize, Taken) {
        let mut taken = 0;
        loop {
            let need = self.len();
            let n = (need - self.have).min(data.len() - taken);
            self.bytes[self.have..self.have + n].copy_from_slice(&data[taken..taken + n]);
            self.have += n;
            taken += n;
            if self.have < need {
                return (taken, Taken::More);
            }
            // The first two bytes tell the header's length: read on if it is longer.
            if need == self.len() {
                break;
            }
        }
        let found = self.parse();
        self.have = 0;
        (taken, found)
    }

    /// The header's length, as far as its bytes so far tell.
    fn len(&self) -> usize {
        if self.have < 2 {
            return 2;
        }
        let extended = match self.bytes[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if self.bytes[1] & 0x80 != 0 { 4 } else { 0 };
        2 + extended + mask
    }

    fn parse(&self) -> Taken {
        let (b0, b1) = (self.bytes[0], self.bytes[1]);
        let (len, mask_at) = match b1 & 0x7f {
            126 => (u64::from(u16::from_be_bytes([self.bytes[2], self.bytes[3]])), 4),
            127 => {
                let mut be = [0u8; 8];
                be.copy_from_slice(&self.bytes[2..10]);
                (u64::from_be_bytes(be), 10)
            }
            small => (u64::from(small), 2),
        };
        if len > i64::MAX as u64 {
            return Taken::Invalid;
        }
        let mask = (b1 & 0x80 != 0).then(|| {
            [self.bytes[mask_at], self.bytes[mask_at + 1], self.bytes[mask_at + 2], self.bytes[mask_at + 3]]
        });
        Taken::Head(Head {
            fin: b0 & 0x80 != 0,
            rsv1: b0 & 0x40 != 0,
            rsv23: b0 & 0x30 != 0,
            opcode: b0 & 0x0f,
            mask,
            len,
        })
    }
}

/// Unmasks `masked`, which starts `at` bytes into its frame's payload, into `out`.
/// Eight bytes at a time (the mask rotated to `at` and repeated in a word), so a large payload
/// costs a fraction of a cycle per byte rather than one indexed XOR each.
pub(crate) fn unmask(masked: &[u8], mask: [u8; 4], at: u64, out: &mut [u8]) {
    let len = masked.len().min(out.len());
    let (masked, out) = (&masked[..len], &mut out[..len]);
    let mut turned = mask;
    turned.rotate_left((at % 4) as usize);
    let word = u64::from_ne_bytes([
        turned[0], turned[1], turned[2], turned[3], turned[0], turned[1], turned[2], turned[3],
    ]);
    let mut outs = out.chunks_exact_mut(8);
    let mut ins = masked.chunks_exact(8);
    for (out, bytes) in (&mut outs).zip(&mut ins) {
        let value = u64::from_ne_bytes(bytes.try_into().unwrap_or_default()) ^ word;
        out.copy_from_slice(&value.to_ne_bytes());
    }
    for (i, (out, byte)) in outs.into_remainder().iter_mut().zip(ins.remainder()).enumerate() {
        *out = byte ^ turned[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::{Head, HeadReader, Taken};

    /// The word-wise unmask agrees with the byte-wise definition at every offset and length.
    #[test]
    fn unmask_matches_the_byte_wise_definition() {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let data: Vec<u8> = (0..=255u8).cycle().take(77).collect();
        for at in 0..8u64 {
            for len in 0..data.len() {
                let mut out = vec![0u8; len];
                super::unmask(&data[..len], mask, at, &mut out);
                let want: Vec<u8> =
                    data[..len].iter().enumerate().map(|(i, b)| b ^ mask[(at as usize + i) % 4]).collect();
                assert_eq!(out, want, "at {at}, length {len}");
            }
        }
    }

    /// Headers of every length form come back as written, whatever pieces they arrive in.
    #[test]
    fn headers_round_trip_in_any_pieces() {
        for len in [0u64, 5, 125, 126, 1000, 65535, 65536, 1 << 40] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let head = Head { fin: len % 2 == 0, rsv1: true, rsv23: false, opcode: 0x2, mask, len };
                let mut bytes = Vec::new();
                head.write(&mut bytes);
                for piece in 1..=bytes.len() {
                    let mut reader = HeadReader::default();
                    let mut found = Taken::More;
                    for chunk in bytes.chunks(piece) {
                        let (taken, now) = reader.take(chunk);
                        assert_eq!(taken, chunk.len());
                        found = now;
                    }
                    assert_eq!(found, Taken::Head(head), "length {len}, pieces of {piece}");
                }
            }
        }
    }

    /// A header stops where it ends: what follows is not taken.
    #[test]
    fn a_header_takes_only_its_own_bytes() {
        let mut reader = HeadReader::default();
        let (taken, found) = reader.take(&[0x81, 0x03, b'a', b'b', b'c']);
        assert_eq!(taken, 2);
        assert!(matches!(found, Taken::Head(Head { fin: true, opcode: 0x1, len: 3, mask: None, .. })));
        let (_, found) = HeadReader::default().take(&[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(found, Taken::Invalid);
    }
}
