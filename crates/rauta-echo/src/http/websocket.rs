//! `/ws`: accept a WebSocket upgrade (HTTP/1.1) and send every text or binary message back.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::ConnCtx;
use super::route::log;
use crate::Shared;
use crate::config::RouteKind;

/// Answers `101 Switching Protocols` and spawns the echo loop, or refuses a bad handshake.
pub(super) fn upgrade(shared: &Shared, ctx: &ConnCtx, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    log(shared, ctx, &req, RouteKind::WebSocket);
    let key = match check_handshake(&req) {
        Ok(key) => key,
        Err(refusal) => return refusal.into_response(),
    };
    let protocol = req
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|offered| offered.split(',').next())
        .map(str::trim)
        .and_then(|p| HeaderValue::from_str(p).ok());

    let on_upgrade = hyper::upgrade::on(&mut req);
    // The task must not hold the connection context: its socket duplicate would keep the
    // socket open after the WebSocket closes.
    let shutdown = ctx.shutdown.clone();
    let client = ctx.client;
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
                if let Err(error) = echo_messages(ws, shutdown).await {
                    tracing::debug!(%client, %error, "websocket echo ended with an error");
                }
            }
            Err(error) => tracing::debug!(%client, %error, "websocket upgrade failed"),
        }
    });

    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = protocol {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    response
}

/// Why an opening handshake was refused; the texts are golang.org/x/net/websocket's.
#[derive(Debug, thiserror::Error)]
enum HandshakeError {
    #[error("missing or bad upgrade")]
    BadUpgrade,
    #[error("missing or bad WebSocket Version")]
    BadVersion,
    #[error("mismatch challenge/response")]
    MissingKey,
}

impl HandshakeError {
    /// The 400 answer for this refusal.
    fn into_response(self) -> Response<Full<Bytes>> {
        let mut refusal = Response::new(Full::new(Bytes::from(self.to_string())));
        *refusal.status_mut() = StatusCode::BAD_REQUEST;
        let headers = refusal.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if matches!(self, Self::BadVersion) {
            headers.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        }
        refusal
    }
}

/// Validates an RFC 6455 opening handshake and returns its `Sec-WebSocket-Key`.
fn check_handshake(req: &Request<Incoming>) -> Result<HeaderValue, HandshakeError> {
    let headers = req.headers();
    let upgrade_ok = req.method() == Method::GET
        && req.version() == Version::HTTP_11
        && has_token(headers, header::UPGRADE, "websocket")
        && has_token(headers, header::CONNECTION, "upgrade");
    if !upgrade_ok {
        return Err(HandshakeError::BadUpgrade);
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
        return Err(HandshakeError::BadVersion);
    }
    match headers.get(header::SEC_WEBSOCKET_KEY) {
        Some(key) if !key.is_empty() => Ok(key.clone()),
        _ => Err(HandshakeError::MissingKey),
    }
}

/// Whether a comma-separated header lists `token` (case-insensitively).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Completes when the listener shuts down (or its shutdown signal is gone); never for
/// connections handed in by the caller.
async fn stopped(shutdown: &mut Option<watch::Receiver<bool>>) {
    match shutdown {
        Some(shutdown) => {
            let _ = shutdown.wait_for(|stopping| *stopping).await.is_ok();
        }
        None => std::future::pending().await,
    }
}

/// Sends back every data message until the peer closes or the listener shuts down.
async fn echo_messages<S>(
    mut ws: WebSocketStream<S>,
    mut shutdown: Option<watch::Receiver<bool>>,
) -> Result<(), WsError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let message = tokio::select! {
            message = ws.next() => message,
            () = stopped(&mut shutdown) => {
                return ws.close(None).await;
            }
        };
        match message {
            None => return Ok(()),
            Some(Err(WsError::ConnectionClosed)) => return Ok(()),
            Some(Err(error)) => return Err(error),
            Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => ws.send(message).await?,
            // Pings are answered by tungstenite itself; a close is acknowledged by it too.
            Some(Ok(_)) => {}
        }
    }
}
