//! Test helpers (feature `testing`): run an app on `127.0.0.1:0` and talk to it with a real
//! WebSocket client over loopback.
//!
//! ```
//! use serde_json::{json, Value};
//! use spikard::{handler_fn, testing::TestServer, App, Connection, HandlerError};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut app = App::new();
//! app.websocket("/echo", handler_fn(|_c: Connection, m: Value| async move {
//!     Ok::<_, HandlerError>(Some(m))
//! })).unwrap();
//! let server = TestServer::start(app).await.unwrap();
//! let mut client = server.connect("/echo").await.unwrap();
//! client.send_json(&json!({"hi": 1})).await.unwrap();
//! assert_eq!(client.receive_json().await.unwrap(), json!({"hi": 1}));
//! server.shutdown().await.unwrap();
//! # }
//! ```

use std::{net::SocketAddr, time::Duration};

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::Value;
use tokio::{io::AsyncWriteExt, net::TcpStream, task::JoinHandle};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{
        self, Message,
        client::IntoClientRequest,
        http::HeaderValue,
        protocol::{
            CloseFrame,
            frame::{
                Frame,
                coding::{CloseCode, Data, OpCode},
            },
        },
    },
};

use crate::{App, Error, ServerHandle};

/// How long a `receive*` call waits before failing.
pub const RECEIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A server running in the background for a test.
#[derive(Debug)]
pub struct TestServer {
    handle: ServerHandle,
    task: JoinHandle<Result<(), Error>>,
}

impl TestServer {
    /// Bind `app` to `127.0.0.1:0` and serve it on the current tokio runtime.
    ///
    /// # Errors
    /// When binding fails.
    pub async fn start(app: App) -> Result<Self, Error> {
        let server = app.bind("127.0.0.1:0").await?;
        let handle = server.handle();
        let task = tokio::spawn(server.run());
        Ok(Self { handle, task })
    }

    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// `ws://127.0.0.1:<port><path>`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr())
    }

    /// The server's handle (metrics, shutdown).
    #[must_use]
    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }

    /// Connect a client to `path` (which may carry a query string).
    ///
    /// # Errors
    /// As [`TestClient::connect`].
    pub async fn connect(&self, path: &str) -> Result<TestClient, ClientError> {
        TestClient::connect(&self.url(path), &[]).await
    }

    /// Shut down gracefully and wait until the server has drained.
    ///
    /// # Errors
    /// When the server failed.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.handle.shutdown();
        self.task.await.unwrap_or(Ok(()))
    }
}

/// A failure on the client side of a test.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server refused the upgrade with this HTTP status.
    #[error("upgrade refused with HTTP {0}")]
    Rejected(u16),
    /// Nothing arrived within [`RECEIVE_TIMEOUT`].
    #[error("timed out waiting for the server")]
    Timeout,
    /// A frame arrived that the caller did not expect.
    #[error("unexpected frame: {0}")]
    Unexpected(String),
    /// The WebSocket client failed.
    #[error("websocket client: {0}")]
    WebSocket(#[from] tungstenite::Error),
}

/// A frame (or the end of the stream) as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Received {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
    /// A pong frame.
    Pong(Vec<u8>),
    /// A close frame: code and reason (`None` when it had no code).
    Close(Option<(u16, String)>),
    /// The connection ended without a close frame.
    Ended,
}

/// A real WebSocket client (tokio-tungstenite) for tests.
#[derive(Debug)]
pub struct TestClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    subprotocol: Option<String>,
}

impl TestClient {
    /// Connect to `url` with extra request `headers` (a `Sec-WebSocket-Protocol` header among
    /// them offers subprotocols: see [`TestClient::subprotocol`]).
    ///
    /// # Errors
    /// [`ClientError::Rejected`] when the server answers the upgrade with an HTTP error.
    pub async fn connect(url: &str, headers: &[(&str, &str)]) -> Result<Self, ClientError> {
        let mut request = url.into_client_request()?;
        for (name, value) in headers {
            let value = HeaderValue::from_str(value)
                .map_err(|e| ClientError::Unexpected(format!("bad header value: {e}")))?;
            let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| ClientError::Unexpected(format!("bad header name: {e}")))?;
            request.headers_mut().insert(name, value);
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, response)) => {
                let subprotocol = response.headers().get("sec-websocket-protocol");
                let subprotocol = subprotocol.and_then(|p| p.to_str().ok()).map(str::to_owned);
                Ok(Self { ws, subprotocol })
            }
            Err(tungstenite::Error::Http(response)) => Err(ClientError::Rejected(response.status().as_u16())),
            Err(err) => Err(err.into()),
        }
    }

    /// The subprotocol the server selected, if any.
    #[must_use]
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// Send a value as one JSON text frame.
    ///
    /// # Errors
    /// When the socket fails.
    pub async fn send_json<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ClientError> {
        let text = serde_json::to_string(value).map_err(|e| ClientError::Unexpected(e.to_string()))?;
        self.send_text(&text).await
    }

    /// Send a text frame as is.
    ///
    /// # Errors
    /// When the socket fails.
    pub async fn send_text(&mut self, text: &str) -> Result<(), ClientError> {
        Ok(self.ws.send(Message::text(text)).await?)
    }

    /// Send arbitrary bytes in a *text* frame (to test invalid UTF-8 handling).
    ///
    /// # Errors
    /// When the socket fails.
    pub async fn send_text_bytes(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        let frame = Frame::message(bytes.to_vec(), OpCode::Data(Data::Text), true);
        Ok(self.ws.send(Message::Frame(frame)).await?)
    }

    /// Send a binary frame.
    ///
    /// # Errors
    /// When the socket fails.
    pub async fn send_binary(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        Ok(self.ws.send(Message::binary(bytes.to_vec())).await?)
    }

    /// Write these bytes to the socket as they are, in one write: frames built by hand (several
    /// at once, or broken ones). Client frames must be masked.
    ///
    /// # Errors
    /// When the socket fails.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        let stream = self.ws.get_mut();
        stream.write_all(bytes).await.map_err(tungstenite::Error::Io)?;
        stream.flush().await.map_err(tungstenite::Error::Io)?;
        Ok(())
    }

    /// Send a ping with this payload.
    ///
    /// # Errors
    /// When the socket fails.
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), ClientError> {
        Ok(self.ws.send(Message::Ping(payload.to_vec().into())).await?)
    }

    /// The next frame, or [`ClientError::Timeout`].
    ///
    /// # Errors
    /// On timeout or socket failure.
    pub async fn receive(&mut self) -> Result<Received, ClientError> {
        loop {
            let next = tokio::time::timeout(RECEIVE_TIMEOUT, self.ws.next())
                .await
                .map_err(|_| ClientError::Timeout)?;
            return Ok(match next {
                None
                | Some(Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed)) => {
                    Received::Ended
                }
                Some(Err(tungstenite::Error::Io(_) | tungstenite::Error::Protocol(_))) => Received::Ended,
                Some(Err(err)) => return Err(err.into()),
                Some(Ok(Message::Text(t))) => Received::Text(t.as_str().to_owned()),
                Some(Ok(Message::Binary(b))) => Received::Binary(b.to_vec()),
                Some(Ok(Message::Pong(p))) => Received::Pong(p.to_vec()),
                Some(Ok(Message::Close(frame))) => {
                    // Send the closing handshake's answer now, as a browser does.
                    let _ = self.ws.flush().await;
                    Received::Close(frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())))
                }
                Some(Ok(Message::Ping(_) | Message::Frame(_))) => continue,
            });
        }
    }

    /// The next data frame (pongs skipped).
    ///
    /// # Errors
    /// On timeout or socket failure.
    pub async fn receive_data(&mut self) -> Result<Received, ClientError> {
        loop {
            match self.receive().await? {
                Received::Pong(_) => {}
                other => return Ok(other),
            }
        }
    }

    /// The next data frame, which must be JSON text.
    ///
    /// # Errors
    /// On timeout, socket failure, or another kind of frame.
    pub async fn receive_json(&mut self) -> Result<Value, ClientError> {
        match self.receive_data().await? {
            Received::Text(text) => serde_json::from_str(&text)
                .map_err(|e| ClientError::Unexpected(format!("not JSON ({e}): {text}"))),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Start the closing handshake with `code` and wait for the server's answer.
    ///
    /// # Errors
    /// When the socket fails.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), ClientError> {
        let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
        self.ws.close(Some(frame)).await?;
        loop {
            match self.receive().await? {
                Received::Close(_) | Received::Ended => return Ok(()),
                _ => {}
            }
        }
    }
}
