//! Protocol-engine spike (issue 17): a raw echo on `/echo` (text as text, binary as binary, 16 MiB
//! limit) for each candidate engine, so they can be compared without the Spikard core around them.
//! `spike-engine <engine> <port>` prints `READY <port>`. Engines:
//! - `tung`: axum's `WebSocketUpgrade` (tungstenite 0.29), read buffer `RBUF` (default 2048)
//! - `tungraw`: tokio-tungstenite over the hyper upgrade directly; with `RA=<bytes>` its reads go
//!   through a read-ahead buffer of that size (one `recv` serves tungstenite's small reads); with
//!   `RA_ADAPTIVE=1` only after a direct read filled tungstenite's buffer (allocated then)
//! - `yawc`, `yawc-deflate`: yawc 0.5 through its axum extractor, UTF-8 checked, deflate off / on
//! - `fws`: fastwebsockets 0.10 with its `FragmentCollector`
use axum::{Router, response::IntoResponse, routing::get};
use futures_util::{SinkExt, StreamExt};
mod ra;

async fn tung(ws: axum::extract::ws::WebSocketUpgrade) -> impl IntoResponse {
    ws.max_message_size(16 << 20)
        .max_frame_size(16 << 20)
        .read_buffer_size(std::env::var("RBUF").ok().and_then(|v| v.parse().ok()).unwrap_or(2048))
        .on_upgrade(|mut s| async move {
            use axum::extract::ws::Message;
            while let Some(Ok(m)) = s.next().await {
                match m {
                    Message::Text(_) | Message::Binary(_) => {
                        if s.send(m).await.is_err() {
                            break;
                        }
                    }
                    Message::Close(_) => {
                        let _ = s.flush().await;
                    }
                    _ => {}
                }
            }
        })
}

fn yawc_opts(deflate: bool) -> yawc::Options {
    let o = yawc::Options::default().with_utf8().with_limits(16 << 20, 32 << 20).with_no_delay();
    let o = match std::env::var("RBUF").ok().and_then(|v| v.parse().ok()) {
        Some(n) => o.with_read_buffer_capacity(n),
        None => o,
    };
    if deflate {
        o.with_compression_level(yawc::CompressionLevel::default())
    } else {
        o.without_compression()
    }
}

async fn yawc_h(ws: yawc::IncomingUpgrade, deflate: bool) -> impl IntoResponse {
    let (resp, fut) = ws.upgrade(yawc_opts(deflate)).unwrap();
    tokio::spawn(async move {
        let Ok(mut ws) = fut.await else { return };
        while let Some(frame) = ws.next().await {
            match frame.opcode() {
                yawc::frame::OpCode::Text | yawc::frame::OpCode::Binary => {
                    if ws.send(frame).await.is_err() {
                        break;
                    }
                }
                yawc::frame::OpCode::Close => {
                    let _ = ws.flush().await;
                }
                _ => {}
            }
        }
    });
    resp
}

async fn fws(ws: fastwebsockets::upgrade::IncomingUpgrade) -> impl IntoResponse {
    let (resp, fut) = ws.upgrade().unwrap();
    tokio::spawn(async move {
        let Ok(ws) = fut.await else { return };
        let mut ws = fastwebsockets::FragmentCollector::new(ws);
        loop {
            let Ok(frame) = ws.read_frame().await else { break };
            match frame.opcode {
                fastwebsockets::OpCode::Close => break,
                fastwebsockets::OpCode::Text | fastwebsockets::OpCode::Binary => {
                    if ws.write_frame(frame).await.is_err() {
                        break;
                    }
                }
                _ => {}
            }
        }
    });
    resp
}

async fn tung_raw(mut req: axum::extract::Request) -> axum::response::Response {
    use tokio_tungstenite::tungstenite::{
        self, Message,
        protocol::{Role, WebSocketConfig},
    };
    let key = req.headers().get("sec-websocket-key").unwrap().as_bytes().to_vec();
    let accept = tungstenite::handshake::derive_accept_key(&key);
    let on = hyper::upgrade::on(&mut req);
    let rbuf: usize = std::env::var("RBUF").ok().and_then(|v| v.parse().ok()).unwrap_or(2048);
    let ra: usize = std::env::var("RA").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    tokio::spawn(async move {
        let Ok(up) = on.await else { return };
        let io = hyper_util::rt::TokioIo::new(up);
        let cfg = WebSocketConfig::default()
            .max_message_size(Some(16 << 20))
            .max_frame_size(Some(16 << 20))
            .read_buffer_size(rbuf);
        async fn echo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
            mut s: tokio_tungstenite::WebSocketStream<S>,
        ) {
            while let Some(Ok(m)) = s.next().await {
                match m {
                    Message::Text(_) | Message::Binary(_) => {
                        if s.send(m).await.is_err() {
                            break;
                        }
                    }
                    Message::Close(_) => {
                        let _ = s.flush().await;
                    }
                    _ => {}
                }
            }
        }
        if ra > 0 {
            echo(
                tokio_tungstenite::WebSocketStream::from_raw_socket(
                    ra::ReadAhead::new(io, ra, std::env::var_os("RA_ADAPTIVE").is_some()),
                    Role::Server,
                    Some(cfg),
                )
                .await,
            )
            .await
        } else {
            echo(tokio_tungstenite::WebSocketStream::from_raw_socket(io, Role::Server, Some(cfg)).await).await
        }
    });
    axum::response::Response::builder()
        .status(101)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", accept)
        .body(axum::body::Body::empty())
        .unwrap()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let engine = args.get(1).cloned().unwrap_or_else(|| "tung".into());
    let port: u16 = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(0);
    let app = match engine.as_str() {
        "tung" => Router::new().route("/echo", get(tung)),
        "yawc" => Router::new().route("/echo", get(|ws| yawc_h(ws, false))),
        "yawc-deflate" => Router::new().route("/echo", get(|ws| yawc_h(ws, true))),
        "fws" => Router::new().route("/echo", get(fws)),
        "tungraw" => Router::new().route("/echo", get(tung_raw)),
        e => panic!("unknown engine {e}"),
    };
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    println!("READY {}", l.local_addr().unwrap().port());
    axum::serve(l, app).await.unwrap();
}
