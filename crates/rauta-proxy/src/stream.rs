//! Stream binds: TLSRoute and TCPRoute connections, relayed byte for byte.
//!
//! On a TCP bind the upstream connection is opened as soon as the client connects, before any
//! byte is read, so protocols where the server speaks first work. On a TLS bind the ClientHello
//! is read (never answered) to learn the SNI; the listener and TLSRoute hostname it selects (most
//! specific first) decide the route. A Passthrough listener replays the ClientHello to the chosen
//! backend and splices both ways, so the client's TLS session is with the backend; a Terminate
//! listener completes the handshake with its certificate and relays the plain stream, over TLS
//! again when a BackendTLSPolicy targets the backend. When nothing matches, or the backend is
//! invalid, unreachable or fails the policy's handshake, the connection is closed.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use rauta_ir::BindProtocol;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::StartHandshake;

use crate::access_log::TlsMode;
use crate::balancer;
use crate::dataplane::Shared;
use crate::errors::ProxyError;
use crate::metrics::{L4Protocol, SessionSeries};
use crate::router;
use crate::runtime::{RuntimeBind, RuntimeEntry, RuntimeListener, RuntimeRule};
use crate::server::Phase;
use crate::session_logging::SessionLog;
use crate::upstream_tls;

mod counted;

use counted::Counted;

/// A ClientHello larger than this is refused (real ones are a few hundred bytes to a few KiB).
const MAX_CLIENT_HELLO: usize = 64 * 1024;

/// Why a stream was closed without being relayed, or broke while relayed.
#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("no listener or route serves server name {0:?}")]
    NoRoute(Option<String>),
    #[error("backend: {0}")]
    Backend(#[from] ProxyError),
    #[error("not a TLS ClientHello: {0}")]
    ClientHello(String),
    #[error("the client sent no ClientHello in time")]
    HelloTimeout,
    #[error("TLS handshake with the client: {0}")]
    Handshake(io::Error),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl StreamError {
    /// The `reason` of the access log and of `rauta_l4_session_errors_total`.
    fn reason(&self) -> &'static str {
        match self {
            Self::NoRoute(_) => "no_route",
            Self::Backend(e) => e.status_and_reason().1,
            Self::ClientHello(_) => "invalid_client_hello",
            Self::HelloTimeout => "client_hello_timeout",
            Self::Handshake(_) => "tls_handshake_failure",
            Self::Io(_) => "connection_error",
        }
    }
}

/// Serves one connection accepted on a stream bind, with the routing view current now.
pub(crate) async fn serve_stream(
    shared: Arc<Shared>,
    stream: TcpStream,
    client: SocketAddr,
    local: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let _permit = permit;
    let _tracked = shared.tracker.track();
    let runtime = shared.runtime.load_full();
    let Some(bind) = runtime.bind(local) else { return };
    let protocol = match bind.protocol {
        BindProtocol::Tls => L4Protocol::Tls,
        _ => L4Protocol::Tcp,
    };
    let mut log = SessionLog::start(&shared, protocol, client);
    let outcome = match protocol {
        L4Protocol::Tls => relay_tls(&shared, bind, stream, &mut log).await,
        _ => relay_tcp(&shared, bind, stream, &mut log).await,
    };
    match outcome {
        Ok(()) => tracing::debug!(client = %client, bind = %local, "stream ended"),
        Err(error) => {
            tracing::debug!(client = %client, bind = %local, %error, "stream closed");
            log.fail(error.reason());
        }
    }
}

/// TCPRoute: the first entry of the listener (the oldest route's first rule) owns the port.
async fn relay_tcp(
    shared: &Shared,
    bind: &RuntimeBind,
    stream: TcpStream,
    log: &mut SessionLog,
) -> Result<(), StreamError> {
    let listener = bind.listeners.first().ok_or(StreamError::NoRoute(None))?;
    log.listener(listener, None);
    let entry = listener
        .virtual_hosts
        .first()
        .and_then(|vh| vh.routes.first())
        .ok_or(StreamError::NoRoute(None))?;
    splice(shared, &entry.rule, stream, &[], false, log).await
}

/// TLSRoute: route by the ClientHello's SNI, then pass through or terminate.
async fn relay_tls(
    shared: &Shared,
    bind: &RuntimeBind,
    mut stream: TcpStream,
    log: &mut SessionLog,
) -> Result<(), StreamError> {
    let mut seen = Vec::new();
    let limit = shared.limits.header_read_timeout;
    let accepted = tokio::time::timeout(limit, read_client_hello(&mut stream, &mut seen))
        .await
        .map_err(|_| StreamError::HelloTimeout)??;
    let sni = accepted
        .client_hello()
        .server_name()
        .map(|s| s.trim_end_matches('.').to_ascii_lowercase());
    log.sni(sni.as_deref());
    let (listener, entry) = select(bind, sni.as_deref()).ok_or_else(|| StreamError::NoRoute(sni.clone()))?;
    if !listener.terminates_tls {
        log.listener(listener, Some(TlsMode::Passthrough));
        // The ClientHello, replayed to the backend, was received from the client too.
        return splice(shared, &entry.rule, stream, &seen, false, log).await;
    }
    log.listener(listener, Some(TlsMode::Terminate));
    let config = bind
        .tls
        .as_ref()
        .ok_or(StreamError::NoRoute(sni))?
        .config_for(&accepted.client_hello());
    let tls = StartHandshake::from_parts(accepted, stream)
        .into_stream(config)
        .await
        .map_err(StreamError::Handshake)?;
    splice(shared, &entry.rule, tls, &[], true, log).await
}

/// The listener for `sni` (most specific first; no SNI reaches only a listener without
/// hostname) and its first route entry for the most specific TLSRoute hostname matching `sni`.
fn select<'r>(bind: &'r RuntimeBind, sni: Option<&str>) -> Option<(&'r RuntimeListener, &'r RuntimeEntry)> {
    let host = sni.unwrap_or("");
    let listener = router::select_listener(bind, host)?;
    let vhost = listener.virtual_hosts.iter().find(|vh| vh.hostname.matches(host))?;
    Some((listener, vhost.routes.first()?))
}

/// Reads until rustls has a whole ClientHello, keeping every byte read in `seen`.
async fn read_client_hello(
    stream: &mut TcpStream,
    seen: &mut Vec<u8>,
) -> Result<rustls::server::Accepted, StreamError> {
    let mut acceptor = rustls::server::Acceptor::default();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(StreamError::ClientHello(
                "connection closed before the ClientHello".into(),
            ));
        }
        seen.extend_from_slice(&chunk[..n]);
        if seen.len() > MAX_CLIENT_HELLO {
            return Err(StreamError::ClientHello("ClientHello too large".into()));
        }
        let mut rest = &chunk[..n];
        while !rest.is_empty() {
            // Ok(0) with bytes left means rustls buffers no more: never spin on it.
            if acceptor.read_tls(&mut rest)? == 0 {
                return Err(StreamError::ClientHello("ClientHello does not fit the buffer".into()));
            }
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => return Ok(accepted),
            Ok(None) => {}
            Err((error, _)) => return Err(StreamError::ClientHello(error.to_string())),
        }
    }
}

/// Connects to an endpoint of a backend of `rule` (trying the next endpoint when one refuses),
/// speaking TLS to it when `terminated` and the backend's cluster has a BackendTLSPolicy, sends
/// `initial` (bytes already received from the client), then copies both ways until either side
/// closes or the data plane closes.
async fn splice<S>(
    shared: &Shared,
    rule: &RuntimeRule,
    downstream: S,
    initial: &[u8],
    terminated: bool,
    log: &mut SessionLog,
) -> Result<(), StreamError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let series = log.rule(rule);
    let backend = balancer::choose_backend(rule)?;
    let cluster = backend.target.as_ref().map_err(|e| *e)?;
    let mut upstream = None;
    for _ in 0..cluster.endpoints.len().max(1) {
        let endpoint = cluster.next_endpoint()?;
        log.upstream(endpoint.address);
        let connect = TcpStream::connect(endpoint.address);
        match tokio::time::timeout(shared.limits.upstream_connect_timeout, connect).await {
            Ok(Ok(s)) => {
                upstream = Some(s);
                break;
            }
            Ok(Err(e)) => tracing::debug!(endpoint = %endpoint.address, error = %e, "stream upstream connect failed"),
            Err(_) => tracing::debug!(endpoint = %endpoint.address, "stream upstream connect timed out"),
        }
        shared.metrics.upstream_error(ProxyError::UpstreamConnect);
    }
    let upstream = upstream.ok_or(ProxyError::UpstreamConnect)?;
    upstream.set_nodelay(true)?;
    match cluster.tls.as_ref().filter(|_| terminated) {
        Some(tls) => {
            let limit = shared.limits.upstream_connect_timeout;
            let upstream = match tokio::time::timeout(limit, upstream_tls::handshake(upstream, tls)).await {
                Ok(Ok(upstream)) => upstream,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "stream upstream TLS handshake failed");
                    shared.metrics.upstream_error(ProxyError::UpstreamProtocol);
                    return Err(ProxyError::UpstreamProtocol.into());
                }
                Err(_) => {
                    shared.metrics.upstream_error(ProxyError::UpstreamConnect);
                    return Err(ProxyError::UpstreamConnect.into());
                }
            };
            relay(shared, downstream, upstream, initial, series, log).await
        }
        None => relay(shared, downstream, upstream, initial, series, log).await,
    }
}

/// Sends `initial` upstream, then copies both ways until either side closes or the data plane
/// closes; the bytes each way are counted in `series` as they pass and in `log` at the end.
async fn relay<D, U>(
    shared: &Shared,
    downstream: D,
    mut upstream: U,
    initial: &[u8],
    series: SessionSeries,
    log: &mut SessionLog,
) -> Result<(), StreamError>
where
    D: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let received_before = initial.len() as u64;
    series.received.inc_by(received_before);
    log.add_bytes(received_before, 0);
    if !initial.is_empty() {
        upstream.write_all(initial).await?;
    }
    let mut downstream = Counted::new(downstream, series);
    let mut phase = shared.phase.subscribe();
    let closed = async move {
        while *phase.borrow_and_update() != Phase::Closed {
            if phase.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    let result = tokio::select! {
        result = tokio::io::copy_bidirectional(&mut downstream, &mut upstream) => result.map(|_| ()),
        () = closed => Ok(()),
    };
    log.add_bytes(downstream.received, downstream.sent);
    Ok(result?)
}
