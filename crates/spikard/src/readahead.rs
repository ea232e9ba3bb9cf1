//! A read-ahead layer under each HTTP connection (and so under the upgraded WebSocket).
//!
//! tungstenite reads at most `read_buffer_size` (2 KiB by default) per call, zeroing that much
//! first, even once it knows a frame's length: a 16 KiB message took ~9 `recv` calls. When a
//! read fills the caller's whole buffer (more is probably waiting), the next read goes into this
//! layer's own buffer with one `recv` of up to [`AHEAD`] bytes and the caller's reads are served
//! from it; a read that comes back short switches back to direct reads and frees the buffer.
//! Connections that only ever see small messages never allocate it, and one that took a large
//! message does not keep it (idle memory stays as it was).

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Size of the read-ahead buffer, allocated on a connection's first large read.
const AHEAD: usize = 64 * 1024;

/// An I/O object whose reads go through a lazily allocated read-ahead buffer.
#[derive(Debug)]
pub(crate) struct ReadAhead<S> {
    io: S,
    /// Read into `buf` next time it is empty (the last direct read filled its buffer).
    ahead: bool,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
}

impl<S> ReadAhead<S> {
    pub(crate) fn new(io: S) -> Self {
        Self { io, ahead: false, buf: Box::default(), pos: 0, len: 0 }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos == this.len {
            let want = out.remaining();
            if !this.ahead || want >= AHEAD {
                // Back to direct reads: the buffer goes too, so a connection that once took a
                // large message does not hold it while idle.
                if !this.buf.is_empty() {
                    this.buf = Box::default();
                }
                let before = out.filled().len();
                ready!(Pin::new(&mut this.io).poll_read(cx, out))?;
                this.ahead = want > 0 && want < AHEAD && out.filled().len() - before == want;
                return Poll::Ready(Ok(()));
            }
            if this.buf.is_empty() {
                this.buf = vec![0; AHEAD].into_boxed_slice();
            }
            let mut into = ReadBuf::new(&mut this.buf);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut into))?;
            this.len = into.filled().len();
            this.pos = 0;
            // Less than half the buffer: the socket is drained, back to direct reads.
            if this.len < AHEAD / 2 {
                this.ahead = false;
            }
        }
        let n = (this.len - this.pos).min(out.remaining());
        out.put_slice(&this.buf[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
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

#[cfg(test)]
mod tests {
    use super::{AHEAD, ReadAhead};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Every byte arrives once and in order, through small and large reads, whether the
    /// read-ahead buffer is in use or not.
    #[tokio::test]
    async fn reads_every_byte_in_order() {
        let (client, server) = tokio::io::duplex(4 * AHEAD);
        let data: Vec<u8> = (0..3 * AHEAD + 123).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            let mut client = client;
            for chunk in sent.chunks(5000) {
                client.write_all(chunk).await.unwrap();
            }
        });
        let mut reader = ReadAhead::new(server);
        let mut got = Vec::new();
        let mut small = [0u8; 2048];
        while got.len() < data.len() {
            let n = reader.read(&mut small).await.unwrap();
            got.extend_from_slice(&small[..n]);
        }
        writer.await.unwrap();
        assert_eq!(got, data);
        assert_eq!(reader.buf.len(), AHEAD, "a stream of full reads switched to the read-ahead buffer");
    }

    /// Once the large messages are read and small ones follow, the buffer is freed.
    #[tokio::test]
    async fn the_buffer_is_freed_when_reads_are_small_again() {
        let (mut client, server) = tokio::io::duplex(4 * AHEAD);
        let mut reader = ReadAhead::new(server);
        let mut buf = [0u8; 2048];
        client.write_all(&vec![7u8; 2 * AHEAD]).await.unwrap();
        let mut got = 0;
        while got < 2 * AHEAD {
            got += reader.read(&mut buf).await.unwrap();
        }
        assert_eq!(reader.buf.len(), AHEAD, "the large message went through the read-ahead buffer");
        for _ in 0..3 {
            client.write_all(b"twenty bytes of text").await.unwrap();
            assert_eq!(reader.read(&mut buf).await.unwrap(), 20);
        }
        assert!(reader.buf.is_empty(), "small reads again: the buffer is released");
    }

    /// A connection that only reads small messages never allocates the buffer.
    #[tokio::test]
    async fn small_reads_allocate_nothing() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut reader = ReadAhead::new(server);
        let mut buf = [0u8; 2048];
        for _ in 0..10 {
            client.write_all(b"twenty bytes of text").await.unwrap();
            assert_eq!(reader.read(&mut buf).await.unwrap(), 20);
        }
        assert!(reader.buf.is_empty());
    }
}
