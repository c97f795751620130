//! Talking to upstream endpoints: pooled clients, request building, retries and error kinds.
//!
//! HTTP/1.1 requests go through an [`Http1Pool`] per endpoint: Rauta's own HTTP/1.1 client with
//! its idle list (`h1`), which runs the exchange inline in the request's task (see that module
//! for why; WebSocket upgrades still go through hyper's client). H2c clusters
//! get one hyper-util client per endpoint whose connector always dials that endpoint, so the URI
//! authority can carry the request's host as `:authority` while the pool still keeps one
//! multiplexed connection per endpoint.

use std::error::Error as _;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::Either;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri, Version, header};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rauta_ir::{Retry, UpstreamProtocol};
use tokio::net::TcpStream;

mod h1;
mod head;

pub(crate) use h1::{H1Body, H1BodyError, Http1Pool};

use crate::body::{RequestBody, UpstreamBody};
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
    ) -> impl Future<Output = Result<Response<UpstreamBody>, UpstreamError>> + Send + 'static {
        // One future or the other, not both: an `async` block holding the HTTP/2 arm's state
        // while awaiting the HTTP/1 one was their sum (1,312 bytes, copied into a box on every
        // attempt).
        let pending = match (&endpoint.tls, protocol, &endpoint.h2) {
            // A TLS endpoint speaks what its client negotiates (h2 for H2c clusters), always over TLS.
            (Some(tls), ..) => tls.request(crate::upstream_tls::absolute(request, &endpoint.authority)),
            (None, UpstreamProtocol::H2c, Some(h2)) => h2.request(request),
            _ => return Either::Right(endpoint.http1.send(request)),
        };
        Either::Left(pending.map(|result| {
            result
                .map(|r| r.map(UpstreamBody::Hyper))
                .map_err(UpstreamError::Pooled)
        }))
    }
}

/// Why an upstream exchange failed before a response head arrived.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// The TCP connection (or the HTTP/1 handshake on it) could not be established.
    #[error("connect: {0}")]
    Connect(io::Error),
    /// An upgrade exchange (hyper's HTTP/1.1 client) failed.
    #[error(transparent)]
    Http1(hyper::Error),
    /// An exchange on a pooled HTTP/1.1 connection failed.
    #[error(transparent)]
    Exchange(h1::ExchangeError),
    /// The pooled HTTP/2 client failed.
    #[error(transparent)]
    Pooled(hyper_util::client::legacy::Error),
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
    ) -> Result<Response<UpstreamBody>, ProxyError> {
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
            // Boxed: each `async fn` awaiting the exchange kept it twice (the local it is built
            // into and what it awaits); at ~2 KB that made `proxy::serve`'s future 10.9 KB, 3.2
            // KB with the box (docs/benchmarks.md, "Session 7"). It is 640 bytes since session
            // 13; inline, HTTP/1.1 ran 1% fewer instructions and h2c 0.2% more, and every idle
            // HTTP/1 connection's task would grow with it: kept.
            let pending = Box::pin(self.upstream.request(self.protocol, endpoint, request));
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
        UpstreamError::Exchange(e) if e.is_reset() => return ProxyError::UpstreamReset,
        UpstreamError::Exchange(_) => return ProxyError::UpstreamProtocol,
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
