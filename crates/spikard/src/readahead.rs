//! A read-ahead layer under each HTTP connection (and so under the upgraded WebSocket).
//!
//! tungstenite reads at most `read_buffer_size` (2 KiB by default) per call, zeroing that much
//! first, even once it knows a frame's length: a 16 KiB message took ~9 `recv` calls. When a
//! read fills the caller's whole buffer (more is probably waiting), the next read goes into this
//! layer's own buffer with one `recv` of up to [`AHEAD`] bytes and the caller's reads are served
//! from it; a read that comes back short switches back to direct reads and frees the buffer.
//! The buffer is never zeroed (`tokio_util::io::poll_read_buf` reads into its spare capacity): a
//! closed-loop client of 16 KiB messages makes it come and go once per message.
//! Connections that only ever see small messages never allocate it, and one that took a large
//! message does not keep it (idle memory stays as it was).

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::io::poll_read_buf;

/// Size of the read-ahead buffer, allocated on a connection's first large read.
const AHEAD: usize = 64 * 1024;

/// An I/O object whose reads go through a lazily allocated read-ahead buffer.
#[derive(Debug)]
pub(crate) struct ReadAhead<S> {
    io: S,
    /// Read into `buf` next time it is empty (the last direct read filled its buffer).
    ahead: bool,
    /// Read ahead and not yet handed on (no capacity outside read-ahead).
    buf: BytesMut,
}

impl<S> ReadAhead<S> {
    pub(crate) fn new(io: S) -> Self {
        Self { io, ahead: false, buf: BytesMut::new() }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.buf.is_empty() {
            let want = out.remaining();
            if !this.ahead || want >= AHEAD {
                // Back to direct reads: the buffer goes too, so a connection that once took a
                // large message does not hold it while idle.
                if this.buf.capacity() > 0 {
                    this.buf = BytesMut::new();
                }
                let before = out.filled().len();
                ready!(Pin::new(&mut this.io).poll_read(cx, out))?;
                this.ahead = want > 0 && want < AHEAD && out.filled().len() - before == want;
                return Poll::Ready(Ok(()));
            }
            this.buf.reserve(AHEAD);
            let len = ready!(poll_read_buf(Pin::new(&mut this.io), cx, &mut this.buf))?;
            // Less than half the buffer: the socket is drained, back to direct reads.
            if len < AHEAD / 2 {
                this.ahead = false;
            }
        }
        let n = this.buf.len().min(out.remaining());
        out.put_slice(&this.buf[..n]);
        this.buf.advance(n);
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
    use std::{
        io,
        pin::Pin,
        task::{Context, Poll},
    };

    use super::{AHEAD, ReadAhead};
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream, ReadBuf};

    /// The server end of a pipe, counting the reads that reach it.
    struct Counted {
        io: DuplexStream,
        reads: usize,
    }

    impl AsyncRead for Counted {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            out: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            this.reads += 1;
            Pin::new(&mut this.io).poll_read(cx, out)
        }
    }

    fn reader(io: DuplexStream) -> ReadAhead<Counted> {
        ReadAhead::new(Counted { io, reads: 0 })
    }

    /// Every byte arrives once and in order, through small and large reads, and a stream of
    /// full 2 KiB reads is served from a few large ones.
    #[tokio::test]
    async fn reads_every_byte_in_order() {
        let (client, server) = tokio::io::duplex(4 * AHEAD);
        let data: Vec<u8> = (0..3 * AHEAD + 123).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            let mut client = client;
            client.write_all(&sent).await.unwrap();
        });
        writer.await.unwrap();
        let mut reader = reader(server);
        let mut got = Vec::new();
        let mut small = [0u8; 2048];
        while got.len() < data.len() {
            let n = reader.read(&mut small).await.unwrap();
            got.extend_from_slice(&small[..n]);
        }
        assert_eq!(got, data);
        let direct = data.len().div_ceil(small.len());
        assert!(
            reader.io.reads < direct / 4,
            "{} reads reached the socket, {direct} direct",
            reader.io.reads
        );
    }

    /// Once the large messages are read and small ones follow, the buffer is freed.
    #[tokio::test]
    async fn the_buffer_is_freed_when_reads_are_small_again() {
        let (mut client, server) = tokio::io::duplex(4 * AHEAD);
        let mut reader = reader(server);
        let mut buf = [0u8; 2048];
        client.write_all(&vec![7u8; 2 * AHEAD]).await.unwrap();
        let mut got = 0;
        while got < 2 * AHEAD {
            got += reader.read(&mut buf).await.unwrap();
        }
        assert!(
            reader.io.reads < 2 * AHEAD / buf.len() / 4,
            "the large message went through the read-ahead buffer"
        );
        for _ in 0..3 {
            client.write_all(b"twenty bytes of text").await.unwrap();
            assert_eq!(reader.read(&mut buf).await.unwrap(), 20);
        }
        assert_eq!(reader.buf.capacity(), 0, "small reads again: the buffer is released");
    }

    /// A connection that only reads small messages never allocates the buffer.
    #[tokio::test]
    async fn small_reads_allocate_nothing() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut reader = reader(server);
        let mut buf = [0u8; 2048];
        for _ in 0..10 {
            client.write_all(b"twenty bytes of text").await.unwrap();
            assert_eq!(reader.read(&mut buf).await.unwrap(), 20);
        }
        assert_eq!(reader.buf.capacity(), 0);
    }
}
