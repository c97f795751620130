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

use crate::balancer;
use crate::dataplane::Shared;
use crate::errors::ProxyError;
use crate::router;
use crate::runtime::{RuntimeBind, RuntimeEntry, RuntimeRule};
use crate::server::Phase;
use crate::upstream_tls;

/// A ClientHello larger than this is refused (real ones are a few hundred bytes to a few KiB).
const MAX_CLIENT_HELLO: usize = 64 * 1024;

/// Why a stream was closed without being relayed.
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
    #[error(transparent)]
    Io(#[from] io::Error),
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
    let outcome = match bind.protocol {
        BindProtocol::Tls => relay_tls(&shared, bind, stream).await,
        _ => relay_tcp(&shared, bind, stream).await,
    };
    match outcome {
        Ok(()) => tracing::debug!(client = %client, bind = %local, "stream ended"),
        Err(error) => tracing::debug!(client = %client, bind = %local, %error, "stream closed"),
    }
}

/// TCPRoute: the first entry of the listener (the oldest route's first rule) owns the port.
async fn relay_tcp(shared: &Shared, bind: &RuntimeBind, stream: TcpStream) -> Result<(), StreamError> {
    let entry = bind
        .listeners
        .first()
        .and_then(|l| l.virtual_hosts.first())
        .and_then(|vh| vh.routes.first())
        .ok_or(StreamError::NoRoute(None))?;
    splice(shared, &entry.rule, stream, &[], false).await
}

/// TLSRoute: route by the ClientHello's SNI, then pass through or terminate.
async fn relay_tls(shared: &Shared, bind: &RuntimeBind, mut stream: TcpStream) -> Result<(), StreamError> {
    let mut seen = Vec::new();
    let limit = shared.limits.header_read_timeout;
    let accepted = tokio::time::timeout(limit, read_client_hello(&mut stream, &mut seen))
        .await
        .map_err(|_| StreamError::HelloTimeout)??;
    let sni = accepted
        .client_hello()
        .server_name()
        .map(|s| s.trim_end_matches('.').to_ascii_lowercase());
    let (terminate, entry) = select(bind, sni.as_deref()).ok_or_else(|| StreamError::NoRoute(sni.clone()))?;
    if !terminate {
        return splice(shared, &entry.rule, stream, &seen, false).await;
    }
    let config = bind
        .tls
        .as_ref()
        .ok_or(StreamError::NoRoute(sni))?
        .config_for(&accepted.client_hello());
    let tls = StartHandshake::from_parts(accepted, stream).into_stream(config).await?;
    splice(shared, &entry.rule, tls, &[], true).await
}

/// The listener for `sni` (most specific first; no SNI reaches only a listener without
/// hostname), whether it terminates, and its first route entry for the most specific
/// TLSRoute hostname matching `sni`.
fn select<'r>(bind: &'r RuntimeBind, sni: Option<&str>) -> Option<(bool, &'r RuntimeEntry)> {
    let host = sni.unwrap_or("");
    let listener = router::select_listener(bind, host)?;
    let vhost = listener.virtual_hosts.iter().find(|vh| vh.hostname.matches(host))?;
    Some((listener.terminates_tls, vhost.routes.first()?))
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
/// `initial`, then copies both ways until either side closes or the data plane closes.
async fn splice<S>(
    shared: &Shared,
    rule: &RuntimeRule,
    downstream: S,
    initial: &[u8],
    terminated: bool,
) -> Result<(), StreamError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let backend = balancer::choose_backend(rule)?;
    let cluster = backend.target.as_ref().map_err(|e| *e)?;
    let mut upstream = None;
    for _ in 0..cluster.endpoints.len().max(1) {
        let endpoint = cluster.next_endpoint()?;
        let connect = TcpStream::connect(endpoint.address);
        match tokio::time::timeout(shared.limits.upstream_connect_timeout, connect).await {
            Ok(Ok(s)) => {
                upstream = Some(s);
                break;
            }
            Ok(Err(e)) => tracing::debug!(endpoint = %endpoint.address, error = %e, "stream upstream connect failed"),
            Err(_) => tracing::debug!(endpoint = %endpoint.address, "stream upstream connect timed out"),
        }
    }
    let upstream = upstream.ok_or(ProxyError::UpstreamConnect)?;
    upstream.set_nodelay(true)?;
    match cluster.tls.as_ref().filter(|_| terminated) {
        Some(tls) => {
            let limit = shared.limits.upstream_connect_timeout;
            let upstream = tokio::time::timeout(limit, upstream_tls::handshake(upstream, tls))
                .await
                .map_err(|_| ProxyError::UpstreamConnect)??;
            relay(shared, downstream, upstream, initial).await
        }
        None => relay(shared, downstream, upstream, initial).await,
    }
}

/// Sends `initial` upstream, then copies both ways until either side closes or the data plane
/// closes.
async fn relay<D, U>(shared: &Shared, mut downstream: D, mut upstream: U, initial: &[u8]) -> Result<(), StreamError>
where
    D: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    if !initial.is_empty() {
        upstream.write_all(initial).await?;
    }
    let mut phase = shared.phase.subscribe();
    let closed = async move {
        while *phase.borrow_and_update() != Phase::Closed {
            if phase.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        result = tokio::io::copy_bidirectional(&mut downstream, &mut upstream) => {
            result?;
        }
        () = closed => {}
    }
    Ok(())
}
