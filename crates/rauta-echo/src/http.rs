//! HTTP mode: HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one listener.
//!
//! Each connection keeps a duplicate of its socket so that the retry simulator can abort it with
//! a TCP reset (SO_LINGER 0) even though hyper owns the stream.

mod answer;
mod grpc;
mod retry;
mod route;
mod websocket;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Either;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::Shared;

pub(crate) use retry::RetryCounters;

/// How long in-flight connections may finish after shutdown before they are aborted.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What a request handler knows about the listener and connection it arrived on.
pub(crate) struct ConnCtx {
    /// Address of the peer.
    pub(crate) client: SocketAddr,
    /// Value of the `httpPort` field.
    pub(crate) http_port: Arc<str>,
    /// The `tls` block of echo answers.
    pub(crate) tls: Option<TlsInfo>,
    /// Becomes `true` when the listener shuts down (long-lived WebSocket tasks watch it);
    /// `None` for connections handed in by the caller, which end when the caller drops them.
    pub(crate) shutdown: Option<watch::Receiver<bool>>,
    /// Lets the handler abort the connection with a TCP reset.
    pub(crate) reset: Option<ResetHandle>,
}

/// The TLS facts echo-basic reports in its `tls` block, for connections the caller terminated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TlsInfo {
    /// Protocol version as Go names it: `TLSv1.3`, `TLSv1.2`.
    pub version: String,
    /// Client certificates in PEM, leaf first.
    #[serde(rename = "peerCertificates", skip_serializing_if = "Vec::is_empty")]
    pub peer_certificates: Vec<String>,
    /// SNI the client sent.
    #[serde(rename = "serverName")]
    pub server_name: String,
    /// ALPN protocol, e.g. `h2`.
    #[serde(rename = "negotiatedProtocol", skip_serializing_if = "String::is_empty")]
    pub negotiated_protocol: String,
    /// Cipher suite as Go names it, e.g. `TLS_AES_128_GCM_SHA256`.
    #[serde(rename = "cipherSuite")]
    pub cipher_suite: String,
}

/// How a connection handed to [`EchoServer::serve_connection`](crate::EchoServer) was accepted.
#[derive(Debug)]
pub struct ConnectionInfo {
    /// Address of the peer.
    pub client: SocketAddr,
    /// TLS facts to report, when the caller terminated TLS.
    pub tls: Option<TlsInfo>,
    /// Lets `/retry/…` reset the connection; without it a reset becomes a 500 answer.
    pub reset: Option<ResetHandle>,
}

/// A second handle on a TCP socket, used to abort its connection with RST (SO_LINGER 0).
#[derive(Debug)]
pub struct ResetHandle {
    socket: socket2::Socket,
    requested: Notify,
}

impl ResetHandle {
    /// Duplicates `stream`'s socket so it can be reset while something else owns the stream.
    pub fn new(stream: &TcpStream) -> std::io::Result<Self> {
        Ok(Self {
            socket: socket2::SockRef::from(stream).try_clone()?,
            requested: Notify::new(),
        })
    }

    /// Arms SO_LINGER 0 and asks the connection task to drop the connection: the peer sees RST.
    pub(crate) fn trigger(&self) -> std::io::Result<()> {
        self.socket.set_linger(Some(Duration::ZERO))?;
        self.requested.notify_one();
        Ok(())
    }
}

/// Accepts connections until `shutdown` completes, then drains them for [`SHUTDOWN_GRACE`].
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let http_port: Arc<str> = match &shared.config.port {
        Some(port) => port.as_str().into(),
        None => local.port().to_string().into(),
    };
    let builder = Arc::new(connection_builder());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tracing::debug!(%local, "echo server listening (http, h2c)");

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, client)) => {
                    let _ = stream.set_nodelay(true);
                    let reset = ResetHandle::new(&stream)
                        .inspect_err(|error| tracing::debug!(%error, "no reset handle for this connection"))
                        .ok();
                    let ctx = ConnCtx {
                        client,
                        http_port: http_port.clone(),
                        tls: None,
                        shutdown: Some(stop_rx.clone()),
                        reset,
                    };
                    connections.spawn(drive(shared.clone(), builder.clone(), stream, ctx));
                }
                Err(error) => {
                    tracing::warn!(%error, "echo server accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }

    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::debug!(%local, remaining = connections.len(), "aborting echo connections");
    }
    Ok(())
}

fn connection_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Go prints canonical header names (`Content-Type`); hyper's title case is the same here.
    builder.http1().title_case_headers(true).timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    builder
}

/// Serves one connection accepted by the caller until it closes.
pub(crate) async fn serve_connection<I>(shared: Arc<Shared>, io: I, info: ConnectionInfo)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ctx = ConnCtx {
        client: info.client,
        http_port: shared.config.port.as_deref().unwrap_or_default().into(),
        tls: info.tls,
        shutdown: None,
        reset: info.reset,
    };
    drive(shared, Arc::new(connection_builder()), io, ctx).await;
}

/// Runs hyper on one connection until it ends, the listener drains it, or a handler resets it.
async fn drive<I>(shared: Arc<Shared>, builder: Arc<auto::Builder<TokioExecutor>>, io: I, ctx: ConnCtx)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut stop = ctx.shutdown.clone();
    let ctx = Arc::new(ctx);
    let service = {
        let ctx = ctx.clone();
        service_fn(move |req| {
            let (shared, ctx) = (shared.clone(), ctx.clone());
            async move {
                let response = if grpc::is_grpc(&req) {
                    grpc::handle(&shared, &ctx, req).await.map(Either::Right)
                } else {
                    route::handle(&shared, &ctx, req).await.map(Either::Left)
                };
                Ok::<_, Infallible>(response)
            }
        })
    };
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let reset_requested = async {
        match &ctx.reset {
            Some(reset) => reset.requested.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(reset_requested);
    let mut draining = false;
    loop {
        let stopping = async {
            match stop.as_mut() {
                Some(stop) => {
                    let _ = stop.wait_for(|stopping| *stopping).await.is_ok();
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(client = %ctx.client, %error, "echo connection ended with an error");
                }
                return;
            }
            // Dropping the connection (and, with it, the socket duplicate) closes the socket
            // with linger 0 already set, so the kernel sends RST instead of FIN.
            () = &mut reset_requested => return,
            () = stopping, if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
