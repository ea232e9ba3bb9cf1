//! Read-ahead IO wrapper: fills its own buffer with one recv and serves tungstenite's small reads.
use std::{
    pin::Pin,
    task::{Context, Poll},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub struct ReadAhead<S> {
    io: S,
    /// Adaptive: read ahead only after a direct read filled the caller's whole buffer.
    adaptive: bool,
    ahead: bool,
    size: usize,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
}

impl<S> ReadAhead<S> {
    pub fn new(io: S, size: usize, adaptive: bool) -> Self {
        // Adaptive mode allocates the buffer on first use (a connection that only ever gets small
        // messages never has one).
        let buf = if adaptive { Box::default() } else { vec![0; size].into_boxed_slice() };
        Self { io, adaptive, ahead: false, size, buf, pos: 0, len: 0 }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.pos == this.len {
            let direct = if this.adaptive { !this.ahead } else { out.remaining() >= this.size };
            if direct {
                let want = out.remaining();
                let before = out.filled().len();
                std::task::ready!(Pin::new(&mut this.io).poll_read(cx, out))?;
                // The caller's buffer came back full: more is probably waiting.
                this.ahead = this.adaptive && want > 0 && out.filled().len() - before == want;
                return Poll::Ready(Ok(()));
            }
            if this.buf.is_empty() {
                this.buf = vec![0; this.size].into_boxed_slice();
            }
            let mut rb = ReadBuf::new(&mut this.buf);
            std::task::ready!(Pin::new(&mut this.io).poll_read(cx, &mut rb))?;
            this.len = rb.filled().len();
            this.pos = 0;
            // A short read drained the socket: back to direct reads.
            if this.adaptive && this.len < this.size / 2 {
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
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, b)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        b: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, b)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
