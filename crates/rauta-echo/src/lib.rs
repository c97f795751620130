//! An echo backend that answers like the Gateway API conformance suite's `echo-basic` server.
//!
//! Three modes, each served from a socket the caller binds (so port 0 works and many echo
//! servers can share one process):
//! - [`serve_http`]: HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one port. Answers with
//!   echo-basic's JSON (`path`, `host`, `method`, `proto`, `headers`, `namespace`, `pod`, …) plus
//!   `bodyLength`; supports `?delay=`, `X-Echo-Set-Header`, `/health`, `/status/NNN`, `/ws`
//!   (WebSocket echo) and the `/retry/…` simulator, including its TCP-reset failure mode.
//!   gRPC calls (`content-type: application/grpc`) on the same port reach echo-basic's gRPC mode:
//!   the `GrpcEcho` service (`Echo`, `EchoTwo`; `EchoThree` is `UNIMPLEMENTED`).
//! - [`serve_tcp`]: the server speaks first (`Gateway API Test TCP Server`), then answers the
//!   `PING`, `IS_TLS` and `TEST` lines.
//! - [`serve_udp`]: every datagram is answered with a JSON envelope naming the pod.
//!
//! - [`EchoServer::serve_tls`]: echo-basic's TLS ports (8443) with a certificate ([`EchoTls`]):
//!   HTTPS (HTTP/1.1 and HTTP/2 by ALPN, optional client certificate verification), gRPC over
//!   TLS (ALPN `h2`), or the TCP line protocol over TLS. Answers carry echo-basic's `tls` block.
//!
//! A caller that terminates TLS itself can hand the stream to [`EchoServer::serve_connection`]
//! with a [`TlsInfo`].
//!
//! Every HTTP request is reported to an optional [`RequestLog`] callback; the CLI prints
//! [`RequestRecord::echo_line`] from it, the line the conformance suite greps for when it checks
//! request mirroring.
//!
//! ```
//! use rauta_echo::{EchoConfig, EchoIdentity, EchoServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?; // where the backend answers
//! let config = EchoConfig::new(EchoIdentity { pod: "infra-backend-v1-0".into(), ..Default::default() })
//!     .with_request_log(|record| tracing::info!("{}", record.echo_line()));
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(async move {
//!     let shutdown = async { let _ = stopped.await; };
//!     EchoServer::new(config).serve_http(listener, shutdown).await
//! });
//! # let _ = addr;
//! let _ = stop.send(());
//! server.await.map_err(std::io::Error::other)??;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod config;
mod duration;
mod http;
mod json;
mod tcp;
mod tls;
mod udp;

use std::future::Future;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UdpSocket};

pub use config::{EchoConfig, EchoIdentity, RequestLog, RequestRecord, RouteKind};
pub use http::{ConnectionInfo, ResetHandle, TlsInfo};
pub use tls::{EchoTls, TlsFiles, TlsMode, TlsSetupError};

/// An echo backend: configuration plus the state its listeners share (the retry counters).
///
/// Cloning is cheap; clones share the state, like the ports of one echo-basic pod.
#[derive(Clone)]
pub struct EchoServer {
    shared: Arc<Shared>,
}

/// What every listener of one [`EchoServer`] shares.
pub(crate) struct Shared {
    pub(crate) config: EchoConfig,
    pub(crate) retries: http::RetryCounters,
}

impl EchoServer {
    /// Creates an echo backend with the given configuration.
    pub fn new(config: EchoConfig) -> Self {
        let shared = Shared {
            config,
            retries: http::RetryCounters::default(),
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// The configuration this backend answers with.
    pub fn config(&self) -> &EchoConfig {
        &self.shared.config
    }

    /// Serves HTTP/1.1 and h2c on `listener` until `shutdown` completes, then drains briefly.
    pub async fn serve_http(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        http::serve(self.shared.clone(), listener, shutdown).await
    }

    /// Serves the HTTP mode on one connection the caller accepted (for instance after its own
    /// TLS handshake, reporting [`TlsInfo`]) until the connection closes; drop the future to
    /// abort it. `httpPort` is [`EchoConfig::port`] or empty.
    pub async fn serve_connection<I>(&self, io: I, info: ConnectionInfo)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        http::serve_connection(self.shared.clone(), io, info).await;
    }

    /// Serves echo-basic's TCP line protocol on `listener` until `shutdown` completes.
    pub async fn serve_tcp(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        tcp::serve(self.shared.clone(), listener, shutdown).await
    }

    /// Answers every datagram received on `socket` until `shutdown` completes.
    pub async fn serve_udp(&self, socket: UdpSocket, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        udp::serve(self.shared.clone(), socket, shutdown).await
    }
}

/// Serves HTTP/1.1 and h2c on `listener` with a fresh [`EchoServer`] until `shutdown` completes.
pub async fn serve_http(
    listener: TcpListener,
    config: EchoConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    EchoServer::new(config).serve_http(listener, shutdown).await
}

/// Serves the TCP line protocol on `listener` with a fresh [`EchoServer`] until `shutdown`.
pub async fn serve_tcp(
    listener: TcpListener,
    config: EchoConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    EchoServer::new(config).serve_tcp(listener, shutdown).await
}

/// Answers datagrams on `socket` with a fresh [`EchoServer`] until `shutdown` completes.
pub async fn serve_udp(
    socket: UdpSocket,
    config: EchoConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    EchoServer::new(config).serve_udp(socket, shutdown).await
}
