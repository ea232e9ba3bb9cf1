//! The smallest WebSocket client the load generator needs: the upgrade request, pre-built
//! masked client frames, and a parser for the server's (unmasked) frames.

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// A frame's opcode as far as the benchmark cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Text or binary: a reply.
    Data,
    /// Close: the server ended the connection.
    Close,
    /// Ping, pong or continuation: ignored.
    Other,
}

/// The extension offer of a `--deflate` run: permessage-deflate without client context
/// takeover, so every message is compressed on its own and one pre-built frame serves them all.
const DEFLATE_OFFER: &str = "permessage-deflate; client_no_context_takeover";

/// Open a TCP connection to `host_port` and upgrade it on `path`; with `deflate`, offer
/// permessage-deflate and fail unless the server accepts it.
pub(crate) async fn connect(host_port: &str, path: &str, deflate: bool) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(host_port).await?;
    stream.set_nodelay(true)?;
    let offer =
        if deflate { format!("Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n") } else { String::new() };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(256);
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 {
            return Err(std::io::Error::other("server closed during the upgrade"));
        }
        head.push(byte[0]);
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        let status = String::from_utf8_lossy(&head[..head.len().min(40)]).into_owned();
        return Err(std::io::Error::other(format!("upgrade refused: {status}")));
    }
    if deflate && !String::from_utf8_lossy(&head).to_ascii_lowercase().contains("permessage-deflate") {
        return Err(std::io::Error::other("the server did not accept permessage-deflate"));
    }
    Ok(stream)
}

/// One complete masked client frame (FIN set) carrying `payload`.
pub(crate) fn client_frame(payload: &[u8], binary: bool) -> Vec<u8> {
    masked_frame(payload, if binary { 0x82 } else { 0x81 })
}

/// One complete masked text frame carrying `text` compressed per RFC 7692 (RSV1 set, raw
/// deflate, the trailing `00 00 ff ff` of the sync flush removed), for a connection without
/// client context takeover.
pub(crate) fn deflated_text_frame(text: &[u8]) -> Vec<u8> {
    let mut deflate = flate2::Compress::new(flate2::Compression::default(), false);
    let mut out = Vec::with_capacity(text.len() + 64);
    deflate
        .compress_vec(text, &mut out, flate2::FlushCompress::Sync)
        .expect("deflate into a buffer with room to spare");
    debug_assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len().saturating_sub(4));
    masked_frame(&out, 0xc1)
}

/// A masked frame with first byte `first` (FIN, RSV bits, opcode) and `payload`.
fn masked_frame(payload: &[u8], first: u8) -> Vec<u8> {
    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(first);
    let len = payload.len();
    if len < 126 {
        frame.push(0x80 | u8::try_from(len).unwrap_or(0));
    } else if let Ok(short) = u16::try_from(len) {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&short.to_be_bytes());
    } else {
        frame.push(0x80 | 127);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
    }
    frame.extend_from_slice(&MASK);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    frame
}

/// Parse every complete server frame at the start of `buf`; returns the frames' kinds and how
/// many bytes they used.
pub(crate) fn parse(buf: &[u8], kinds: &mut Vec<Kind>) -> usize {
    let mut at = 0;
    loop {
        let rest = &buf[at..];
        if rest.len() < 2 {
            return at;
        }
        let opcode = rest[0] & 0x0f;
        let masked = rest[1] & 0x80 != 0;
        let (len, mut header) = match rest[1] & 0x7f {
            126 if rest.len() >= 4 => (usize::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
            127 if rest.len() >= 10 => {
                let mut b = [0_u8; 8];
                b.copy_from_slice(&rest[2..10]);
                (usize::try_from(u64::from_be_bytes(b)).unwrap_or(usize::MAX), 10)
            }
            126 | 127 => return at,
            short => (usize::from(short), 2),
        };
        if masked {
            header += 4;
        }
        if rest.len() < header + len {
            return at;
        }
        kinds.push(match opcode {
            0x1 | 0x2 => Kind::Data,
            0x8 => Kind::Close,
            _ => Kind::Other,
        });
        at += header + len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_through_the_parser_lengths() {
        for len in [0, 20, 125, 126, 1024, 70_000] {
            let frame = client_frame(&vec![b'x'; len], false);
            let mut kinds = Vec::new();
            // A client frame is masked; the parser accepts masked frames too.
            assert_eq!(parse(&frame, &mut kinds), frame.len(), "len {len}");
            assert_eq!(kinds, vec![Kind::Data]);
            let mut partial = Vec::new();
            assert_eq!(parse(&frame[..frame.len() - 1], &mut partial), 0);
            assert!(partial.is_empty());
        }
    }

    #[test]
    fn a_deflated_frame_inflates_back_to_its_text() {
        let text = crate::Payload::Doc16k.text().expect("a text payload");
        let frame = deflated_text_frame(&text);
        assert_eq!(frame[0], 0xc1, "FIN, RSV1, text");
        let mut kinds = Vec::new();
        assert_eq!(parse(&frame, &mut kinds), frame.len());
        let header = 2 + if frame[1] & 0x7f == 126 { 2 } else { 0 };
        let mask = &frame[header..header + 4];
        let mut payload: Vec<u8> =
            frame[header + 4..].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
        payload.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut inflate = flate2::Decompress::new(false);
        let mut back = Vec::with_capacity(text.len() + 16);
        inflate.decompress_vec(&payload, &mut back, flate2::FlushDecompress::Sync).expect("inflates");
        assert_eq!(back, text);
        assert!(
            payload.len() < text.len() / 3,
            "{} B from {} B: the document compresses",
            payload.len(),
            text.len()
        );
    }
}
