//! Talking to upstream endpoints: pooled clients, request building, retries and error kinds.
//!
//! HTTP/1.1 (and WebSocket) requests go through an [`Http1Pool`] per endpoint: hyper's connection
//! API with our own idle list, which costs no task spawn, no pool-key hashing and no URI rebuild
//! per request (hyper-util's pooled client did all three; see docs/benchmarks.md). H2c clusters
//! get one hyper-util client per endpoint whose connector always dials that endpoint, so the URI
//! authority can carry the request's host as `:authority` while the pool still keeps one
//! multiplexed connection per endpoint.

use std::error::Error as _;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version, header};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rauta_ir::{Retry, UpstreamProtocol};
use tokio::net::TcpStream;

use crate::body::RequestBody;
use crate::config::Limits;
use crate::errors::ProxyError;
use crate::metrics::Metrics;
use crate::runtime::{Endpoint, RuntimeCluster};

/// Pooled HTTP/2 connections to one endpoint.
pub(crate) type H2Client = Client<FixedConnector, RequestBody>;

/// Starts upstream exchanges; the connection pools live on the endpoints.
#[derive(Clone)]
pub(crate) struct Upstream;

impl Upstream {
    /// The upstream side of the data plane (pool limits come with each endpoint's pool).
    pub(crate) fn new(_limits: &Limits) -> Self {
        Self
    }

    /// Starts one exchange with `endpoint`; `protocol` must be the one `request` was built for.
    /// The future owns what it needs, so mirrors can spawn it.
    pub(crate) fn request(
        &self,
        protocol: UpstreamProtocol,
        endpoint: &Endpoint,
        request: Request<RequestBody>,
    ) -> impl Future<Output = Result<Response<Incoming>, UpstreamError>> + Send + 'static {
        let h2 = match (&endpoint.tls, protocol, &endpoint.h2) {
            // A TLS endpoint speaks what its client negotiates (h2 for H2c clusters), always over TLS.
            (Some(tls), ..) => Ok(tls.request(crate::upstream_tls::absolute(request, &endpoint.authority))),
            (None, UpstreamProtocol::H2c, Some(h2)) => Ok(h2.request(request)),
            _ => Err(request),
        };
        let http1 = endpoint.http1.clone();
        async move {
            match h2 {
                Ok(pending) => pending.await.map_err(UpstreamError::Pooled),
                Err(request) => http1.send(request).await,
            }
        }
    }
}

/// Why an upstream exchange failed before a response head arrived.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// The TCP connection (or the HTTP/1 handshake on it) could not be established.
    #[error("connect: {0}")]
    Connect(io::Error),
    /// The exchange on an HTTP/1.1 connection failed.
    #[error(transparent)]
    Http1(hyper::Error),
    /// The pooled HTTP/2 client failed.
    #[error(transparent)]
    Pooled(hyper_util::client::legacy::Error),
}

/// HTTP/1.1 connections to one endpoint: the idle (or finishing) ones, most recent last.
///
/// A connection goes back on the list as soon as its response head arrives; checkout takes the
/// most recent one hyper says is ready for another request (its previous body has been read),
/// skipping busy ones and dropping closed ones. That needs no task per request, unlike waiting for
/// readiness before returning it. Connections unused for one to two sweep periods
/// (`upstream_idle_timeout / 2`) are closed by a sweeper task that holds only a weak reference.
pub(crate) struct Http1Pool {
    address: SocketAddr,
    idle: Mutex<Vec<Idle>>,
    max_idle: usize,
    idle_timeout: Duration,
    connect_timeout: Duration,
    /// Counts sweeps; each idle connection remembers the count when it was returned.
    sweeps: AtomicU64,
    sweeper_started: AtomicBool,
}

struct Idle {
    sender: http1::SendRequest<RequestBody>,
    returned_at_sweep: u64,
}

impl Http1Pool {
    /// An empty pool for `address` with the configured limits.
    pub(crate) fn new(address: SocketAddr, limits: &Limits) -> Self {
        Self {
            address,
            idle: Mutex::new(Vec::new()),
            max_idle: limits.upstream_max_idle_per_endpoint,
            idle_timeout: limits.upstream_idle_timeout,
            connect_timeout: limits.upstream_connect_timeout,
            sweeps: AtomicU64::new(0),
            sweeper_started: AtomicBool::new(false),
        }
    }

    /// Sends `request` on a pooled connection, or a new one when none is ready.
    async fn send(self: &Arc<Self>, mut request: Request<RequestBody>) -> Result<Response<Incoming>, UpstreamError> {
        loop {
            let (mut sender, reused) = match self.checkout() {
                Some(sender) => (sender, true),
                None => (self.connect().await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    // After a 101 the connection belongs to the tunnel.
                    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
                        self.put_back(sender);
                    }
                    return Ok(response);
                }
                Err(mut error) => match error.take_message() {
                    // Never written: the pooled connection closed under us; another one may do
                    // (hyper-util's client retries these the same way).
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(UpstreamError::Http1(error.into_error())),
                },
            }
        }
    }

    fn checkout(&self) -> Option<http1::SendRequest<RequestBody>> {
        let mut idle = self.idle.lock().ok()?;
        let mut i = idle.len();
        while i > 0 {
            i -= 1;
            if idle[i].sender.is_closed() {
                idle.swap_remove(i);
            } else if idle[i].sender.is_ready() {
                return Some(idle.swap_remove(i).sender);
            }
        }
        None
    }

    fn put_back(&self, sender: http1::SendRequest<RequestBody>) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.max_idle
        {
            let returned_at_sweep = self.sweeps.load(Ordering::Relaxed);
            idle.push(Idle {
                sender,
                returned_at_sweep,
            });
        }
    }

    async fn connect(self: &Arc<Self>) -> Result<http1::SendRequest<RequestBody>, UpstreamError> {
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(self.address))
            .await
            .map_err(|_| UpstreamError::Connect(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")))?
            .map_err(UpstreamError::Connect)?;
        stream.set_nodelay(true).map_err(UpstreamError::Connect)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(UpstreamError::Http1)?;
        let address = self.address;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!(endpoint = %address, error = %e, "upstream connection ended with an error");
            }
        });
        self.start_sweeper();
        Ok(sender)
    }

    fn start_sweeper(self: &Arc<Self>) {
        if self.sweeper_started.swap(true, Ordering::Relaxed) {
            return;
        }
        let pool = Arc::downgrade(self);
        let period = (self.idle_timeout / 2).max(Duration::from_millis(10));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(pool) = pool.upgrade() else { return };
                pool.sweep();
            }
        });
    }

    /// Closes connections returned before the previous sweep (idle for a whole period at least).
    fn sweep(&self) {
        let now = self.sweeps.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(mut idle) = self.idle.lock() {
            idle.retain(|c| !c.sender.is_closed() && now - c.returned_at_sweep < 2);
        }
    }

    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.idle.lock().map_or(0, |idle| idle.len())
    }
}

/// A client pooling HTTP/2 prior-knowledge connections to `address`.
pub(crate) fn h2_client(address: SocketAddr, limits: &Limits) -> H2Client {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(limits.upstream_idle_timeout)
        .build(FixedConnector {
            address,
            timeout: limits.upstream_connect_timeout,
        })
}

/// Builds the request sent to `endpoint`: HTTP/1.1 in origin form (authority form for CONNECT)
/// with the Host header (`ip:port` when the client sent none), or HTTP/2 with the host as
/// `:authority` (and no Host header).
pub(crate) fn build_request(
    protocol: UpstreamProtocol,
    endpoint: &Endpoint,
    method: Method,
    uri: &Uri,
    mut headers: HeaderMap,
    body: RequestBody,
) -> Request<RequestBody> {
    let path_and_query = || {
        uri.path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"))
    };
    let (version, uri) = match protocol {
        UpstreamProtocol::H2c if endpoint.h2.is_some() || endpoint.tls.is_some() => {
            let host = headers
                .remove(header::HOST)
                .and_then(|h| Authority::try_from(h.as_bytes()).ok());
            let mut parts = http::uri::Parts::default();
            parts.scheme = Some(Scheme::HTTP);
            parts.authority = Some(host.unwrap_or_else(|| endpoint.authority.clone()));
            parts.path_and_query = Some(path_and_query());
            (
                Version::HTTP_2,
                Uri::from_parts(parts).unwrap_or_else(|_| Uri::from_static("/")),
            )
        }
        _ => {
            if !headers.contains_key(header::HOST)
                && let Ok(host) = HeaderValue::from_str(endpoint.authority.as_str())
            {
                headers.insert(header::HOST, host);
            }
            // Origin-form requests (the usual HTTP/1 case) are sent with the client's URI as is.
            let uri = if method == Method::CONNECT || (uri.scheme().is_none() && uri.authority().is_none()) {
                uri.clone()
            } else {
                Uri::from(path_and_query())
            };
            (Version::HTTP_11, uri)
        }
    };
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    request
}

/// What an upstream exchange needs beyond the request itself.
pub(crate) struct Exchange<'a> {
    pub(crate) upstream: &'a Upstream,
    pub(crate) metrics: &'a Metrics,
    pub(crate) cluster: &'a RuntimeCluster,
    /// The protocol actually spoken (HTTP/1.1 for upgrades, whatever the cluster says).
    pub(crate) protocol: UpstreamProtocol,
    pub(crate) per_try: Option<Duration>,
    /// Retries allowed after the first attempt (0 when the body cannot be replayed).
    pub(crate) retries: u32,
    pub(crate) retry: Option<&'a Retry>,
}

impl Exchange<'_> {
    /// Sends the request, retrying retryable failures and listed status codes while retries
    /// remain. Only bodiless requests are retried, so every attempt resends an empty body.
    /// `on_endpoint` sees each endpoint tried.
    pub(crate) async fn send(
        &self,
        method: &Method,
        uri: &Uri,
        mut headers: HeaderMap,
        body: RequestBody,
        mut on_endpoint: impl FnMut(SocketAddr),
    ) -> Result<Response<Incoming>, ProxyError> {
        let mut body = Some(body);
        let mut attempt = 0;
        loop {
            let endpoint = self.cluster.next_endpoint()?;
            on_endpoint(endpoint.address);
            let last = attempt >= self.retries;
            let attempt_headers = if last {
                std::mem::take(&mut headers)
            } else {
                headers.clone()
            };
            let attempt_body = body.take().unwrap_or(RequestBody::Empty);
            let request = build_request(
                self.protocol,
                endpoint,
                method.clone(),
                uri,
                attempt_headers,
                attempt_body,
            );
            let pending = self.upstream.request(self.protocol, endpoint, request);
            let outcome = match self.per_try {
                Some(limit) => match tokio::time::timeout(limit, pending).await {
                    Ok(result) => result.map_err(|e| classify(&e)),
                    Err(_) => Err(ProxyError::BackendTimeout),
                },
                None => pending.await.map_err(|e| classify(&e)),
            };
            match outcome {
                Ok(response) => {
                    let retry_status = self
                        .retry
                        .is_some_and(|r| r.codes.contains(&response.status().as_u16()));
                    if last || !retry_status {
                        return Ok(response);
                    }
                }
                Err(error) => {
                    tracing::debug!(cluster = %self.cluster.key, endpoint = %endpoint.address, ?error, attempt, "upstream attempt failed");
                    self.metrics.upstream_error(error);
                    if last || !error.is_retryable() {
                        return Err(error);
                    }
                }
            }
            attempt += 1;
            if let Some(pause) = self.retry.and_then(|r| r.backoff) {
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// Sorts an upstream error into the proxy's error kinds.
pub(crate) fn classify(error: &UpstreamError) -> ProxyError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = match error {
        UpstreamError::Connect(_) => return ProxyError::UpstreamConnect,
        UpstreamError::Pooled(e) if e.is_connect() => return ProxyError::UpstreamConnect,
        UpstreamError::Pooled(e) => e.source(),
        UpstreamError::Http1(e) => Some(e),
    };
    while let Some(e) = source {
        let io_reset = e.downcast_ref::<io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            )
        });
        let closed_early = e
            .downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_incomplete_message() || h.is_canceled() || h.is_closed());
        if io_reset || closed_early {
            return ProxyError::UpstreamReset;
        }
        source = e.source();
    }
    ProxyError::UpstreamProtocol
}

/// A connector that always dials one address, whatever the URI says.
#[derive(Clone)]
pub(crate) struct FixedConnector {
    address: SocketAddr,
    timeout: Duration,
}

impl tower_service::Service<Uri> for FixedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<TcpStream>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let (address, limit) = (self.address, self.timeout);
        Box::pin(async move {
            let stream = tokio::time::timeout(limit, TcpStream::connect(address))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "upstream connect timed out"))??;
            stream.set_nodelay(true)?;
            Ok(TokioIo::new(stream))
        })
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn endpoint(protocol: UpstreamProtocol) -> (RuntimeCluster, SocketAddr) {
        let addr: SocketAddr = "10.0.0.7:8080".parse().unwrap();
        (RuntimeCluster::for_tests(protocol, &[addr]), addr)
    }

    fn headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("app.example:81"));
        h
    }

    #[tokio::test]
    async fn http1_requests_target_the_endpoint_and_keep_host() {
        let (cluster, addr) = endpoint(UpstreamProtocol::Http1);
        let uri = Uri::from_static("/a/b?c=d&e");
        let r = build_request(
            UpstreamProtocol::Http1,
            &cluster.endpoints[0],
            Method::PUT,
            &uri,
            headers(),
            RequestBody::Empty,
        );
        assert_eq!(r.uri().to_string(), "/a/b?c=d&e");
        assert_eq!(r.version(), Version::HTTP_11);
        assert_eq!(r.headers()[header::HOST], "app.example:81");
        assert_eq!(r.method(), Method::PUT);
        // Absolute-form (HTTP/2 clients) becomes origin-form; a missing Host names the endpoint.
        let r = build_request(
            UpstreamProtocol::Http1,
            &cluster.endpoints[0],
            Method::GET,
            &Uri::from_static("http://app.example/x?y"),
            HeaderMap::new(),
            RequestBody::Empty,
        );
        assert_eq!(r.uri().to_string(), "/x?y");
        assert_eq!(r.headers()[header::HOST], addr.to_string().as_str());
    }

    /// A backend that answers every request on a connection with 200 (and `Connection: close`
    /// when `close` is set); returns its address and a count of accepted connections.
    async fn counting_backend(close: bool) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut seen = Vec::new();
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            seen.drain(..end + 4);
                            let reply: &[u8] = if close {
                                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                            } else {
                                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                            };
                            if stream.write_all(reply).await.is_err() || close {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (address, accepted)
    }

    async fn get_through(pool: &Arc<Http1Pool>) -> StatusCode {
        use http_body_util::BodyExt;
        let mut request = Request::new(RequestBody::Empty);
        request
            .headers_mut()
            .insert(header::HOST, HeaderValue::from_static("h"));
        let response = pool.send(request).await.unwrap();
        let status = response.status();
        response.into_body().collect().await.unwrap();
        status
    }

    #[tokio::test]
    async fn pool_reuses_keep_alive_connections() {
        let (address, accepted) = counting_backend(false).await;
        let pool = Arc::new(Http1Pool::new(address, &Limits::default()));
        for _ in 0..5 {
            assert_eq!(get_through(&pool).await, StatusCode::OK);
            // Let the connection task notice the end of the response.
            tokio::task::yield_now().await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.idle_count(), 1);
    }

    #[tokio::test]
    async fn pool_replaces_closed_connections() {
        let (address, accepted) = counting_backend(true).await;
        let pool = Arc::new(Http1Pool::new(address, &Limits::default()));
        for _ in 0..3 {
            assert_eq!(get_through(&pool).await, StatusCode::OK);
            tokio::task::yield_now().await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn pool_sweeps_idle_connections() {
        let (address, _) = counting_backend(false).await;
        let pool = Arc::new(Http1Pool::new(address, &Limits::default()));
        assert_eq!(get_through(&pool).await, StatusCode::OK);
        assert_eq!(pool.idle_count(), 1);
        pool.sweep();
        assert_eq!(pool.idle_count(), 1, "returned during the last period: kept");
        pool.sweep();
        assert_eq!(pool.idle_count(), 0, "idle for a whole period: closed");
    }

    #[tokio::test]
    async fn refused_connections_are_connect_errors() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let pool = Arc::new(Http1Pool::new(address, &Limits::default()));
        let error = pool.send(Request::new(RequestBody::Empty)).await.unwrap_err();
        assert_eq!(classify(&error), ProxyError::UpstreamConnect);
    }

    #[tokio::test]
    async fn h2c_requests_carry_the_host_as_authority() {
        let (cluster, _) = endpoint(UpstreamProtocol::H2c);
        let uri = Uri::from_static("http://ignored.example/x?y");
        let r = build_request(
            UpstreamProtocol::H2c,
            &cluster.endpoints[0],
            Method::GET,
            &uri,
            headers(),
            RequestBody::Empty,
        );
        assert_eq!(r.uri().to_string(), "http://app.example:81/x?y");
        assert_eq!(r.version(), Version::HTTP_2);
        assert!(r.headers().get(header::HOST).is_none());
    }
}
