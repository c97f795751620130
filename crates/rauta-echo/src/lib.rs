//! An echo backend that answers like the Gateway API conformance suite's `echo-basic` server.
//!
//! Three modes, each served from a socket the caller binds (so port 0 works and many echo
//! servers can share one process):
//! - [`serve_http`]: HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one port. Answers with
//!   echo-basic's JSON (`path`, `host`, `method`, `proto`, `headers`, `namespace`, `pod`, …) plus
//!   `bodyLength`; supports `?delay=`, `X-Echo-Set-Header`, `/health`, `/status/NNN`, `/ws`
//!   (WebSocket echo) and the `/retry/…` simulator, including its TCP-reset failure mode.
//! - [`serve_tcp`]: the server speaks first (`Gateway API Test TCP Server`), then answers the
//!   `PING`, `IS_TLS` and `TEST` lines.
//! - [`serve_udp`]: every datagram is answered with a JSON envelope naming the pod.
//!
//! Every HTTP request is reported to an optional [`RequestLog`] callback; the CLI prints
//! [`RequestRecord::echo_line`] from it, the line the conformance suite greps for when it checks
//! request mirroring.

mod config;
mod duration;
mod http;
mod json;
mod tcp;
mod udp;

use std::future::Future;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};

pub use config::{EchoConfig, EchoIdentity, RequestLog, RequestRecord, RouteKind};

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
    pub async fn serve_http(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        http::serve(self.shared.clone(), listener, shutdown).await
    }

    /// Serves echo-basic's TCP line protocol on `listener` until `shutdown` completes.
    pub async fn serve_tcp(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        tcp::serve(self.shared.clone(), listener, shutdown).await
    }

    /// Answers every datagram received on `socket` until `shutdown` completes.
    pub async fn serve_udp(
        &self,
        socket: UdpSocket,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
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
