//! A connection's outgoing queue, bounded in messages and in bytes.
//!
//! Replies, pushes, published messages, pings and the close frame all wait here for the
//! connection's writer. The queue holds at most a number of messages and at most a number of
//! payload bytes; a message that does not fit is refused (the connection then closes with 1013)
//! instead of growing the queue. A message larger than the byte bound still fits into an empty
//! queue, so that one reply of the largest accepted size always goes out.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::extract::ws::Message;
use tokio::sync::mpsc;

/// The bytes a queued message holds: its payload (text, binary, ping or pong data, close reason).
fn weight(message: &Message) -> usize {
    match message {
        Message::Text(text) => text.len(),
        Message::Binary(data) | Message::Ping(data) | Message::Pong(data) => data.len(),
        Message::Close(frame) => frame.as_ref().map_or(0, |f| f.reason.len()),
    }
}

/// Why a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The queue holds its largest number of messages.
    Messages,
    /// The message would take the queue past its byte bound.
    Bytes,
    /// The writer is gone.
    Closed,
}

/// The sending half, kept by the [`Connection`](crate::Connection).
#[derive(Debug)]
pub(crate) struct OutgoingSender {
    tx: mpsc::Sender<Message>,
    bytes: Arc<AtomicUsize>,
    max_bytes: usize,
}

/// The receiving half, owned by the connection's writer.
#[derive(Debug)]
pub(crate) struct OutgoingReceiver {
    rx: mpsc::Receiver<Message>,
    bytes: Arc<AtomicUsize>,
}

/// A queue of at most `messages` messages and `max_bytes` payload bytes.
pub(crate) fn channel(messages: usize, max_bytes: usize) -> (OutgoingSender, OutgoingReceiver) {
    let (tx, rx) = mpsc::channel(messages);
    let bytes = Arc::new(AtomicUsize::new(0));
    (OutgoingSender { tx, bytes: Arc::clone(&bytes), max_bytes }, OutgoingReceiver { rx, bytes })
}

impl OutgoingSender {
    /// Queue `message` if it fits, without waiting.
    pub(crate) fn try_send(&self, message: Message) -> Result<(), Refused> {
        let size = weight(&message);
        let before = self.bytes.fetch_add(size, Ordering::AcqRel);
        if before > 0 && before + size > self.max_bytes {
            self.bytes.fetch_sub(size, Ordering::AcqRel);
            return Err(Refused::Bytes);
        }
        self.tx.try_send(message).map_err(|err| {
            self.bytes.fetch_sub(size, Ordering::AcqRel);
            match err {
                mpsc::error::TrySendError::Full(_) => Refused::Messages,
                mpsc::error::TrySendError::Closed(_) => Refused::Closed,
            }
        })
    }

    /// Payload bytes waiting in the queue now.
    #[cfg(test)]
    fn queued_bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }
}

impl OutgoingReceiver {
    /// The next message, waiting for one; `None` once every sender is gone.
    pub(crate) async fn recv(&mut self) -> Option<Message> {
        let message = self.rx.recv().await?;
        self.bytes.fetch_sub(weight(&message), Ordering::AcqRel);
        Some(message)
    }

    /// The next message if one is waiting.
    pub(crate) fn try_recv(&mut self) -> Result<Message, mpsc::error::TryRecvError> {
        let message = self.rx.try_recv()?;
        self.bytes.fetch_sub(weight(&message), Ordering::AcqRel);
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: usize) -> Message {
        Message::Text("x".repeat(n).into())
    }

    #[tokio::test]
    async fn bytes_are_bounded_and_freed_when_the_writer_takes_a_message() {
        let (tx, mut rx) = channel(100, 10);
        tx.try_send(text(6)).unwrap();
        assert_eq!(tx.try_send(text(5)), Err(Refused::Bytes));
        tx.try_send(text(4)).unwrap();
        assert_eq!(tx.queued_bytes(), 10);
        assert_eq!(rx.recv().await, Some(text(6)));
        assert_eq!(tx.queued_bytes(), 4);
        tx.try_send(text(5)).unwrap();
        assert_eq!(rx.try_recv().unwrap(), text(4));
        assert_eq!(rx.try_recv().unwrap(), text(5));
        assert_eq!(tx.queued_bytes(), 0);
    }

    #[test]
    fn a_message_larger_than_the_bound_fits_into_an_empty_queue_only() {
        let (tx, _rx) = channel(100, 10);
        tx.try_send(text(50)).unwrap();
        assert_eq!(tx.try_send(text(1)), Err(Refused::Bytes));
    }

    #[test]
    fn the_message_count_is_bounded_too() {
        let (tx, _rx) = channel(2, 1000);
        tx.try_send(text(1)).unwrap();
        tx.try_send(text(1)).unwrap();
        assert_eq!(tx.try_send(text(1)), Err(Refused::Messages));
        assert_eq!(tx.queued_bytes(), 2);
    }

    #[test]
    fn a_closed_queue_refuses_and_keeps_no_bytes() {
        let (tx, rx) = channel(2, 1000);
        drop(rx);
        assert_eq!(tx.try_send(text(3)), Err(Refused::Closed));
        assert_eq!(tx.queued_bytes(), 0);
    }
}
