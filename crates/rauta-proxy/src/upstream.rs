//! Talking to upstream endpoints: pooled clients, request building, retries and error kinds.
//!
//! HTTP/1.1 (and WebSocket) clusters share one hyper-util client whose pool is keyed by the
//! endpoint `ip:port` in the URI. H2c clusters get one client per endpoint whose connector always
//! dials that endpoint, so the URI authority can carry the request's host as `:authority` while
//! the pool still keeps one multiplexed connection per endpoint.

use std::error::Error as _;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Method, Request, Response, Uri, Version, header};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, ResponseFuture};
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

/// The shared HTTP/1.1 client.
#[derive(Clone)]
pub(crate) struct Upstream {
    http1: Client<HttpConnector, RequestBody>,
}

impl Upstream {
    /// Creates the HTTP/1.1 client with the configured pool limits.
    pub(crate) fn new(limits: &Limits) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(limits.upstream_connect_timeout));
        let http1 = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(limits.upstream_idle_timeout)
            .pool_max_idle_per_host(limits.upstream_max_idle_per_endpoint)
            .build(connector);
        Self { http1 }
    }

    /// Starts one exchange with `endpoint`; `protocol` must be the one `request` was built for.
    pub(crate) fn request(
        &self,
        protocol: UpstreamProtocol,
        endpoint: &Endpoint,
        request: Request<RequestBody>,
    ) -> ResponseFuture {
        match (protocol, &endpoint.h2) {
            (UpstreamProtocol::H2c, Some(h2)) => h2.request(request),
            _ => self.http1.request(request),
        }
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

/// Builds the request sent to `endpoint`: HTTP/1.1 with an `ip:port` URI and the Host header,
/// or HTTP/2 with the host as `:authority` (and no Host header).
pub(crate) fn build_request(
    protocol: UpstreamProtocol,
    endpoint: &Endpoint,
    method: Method,
    uri: &Uri,
    mut headers: HeaderMap,
    body: RequestBody,
) -> Request<RequestBody> {
    let (version, authority) = match protocol {
        UpstreamProtocol::H2c if endpoint.h2.is_some() => {
            let host = headers
                .remove(header::HOST)
                .and_then(|h| Authority::try_from(h.as_bytes()).ok());
            (Version::HTTP_2, host.unwrap_or_else(|| endpoint.authority.clone()))
        }
        _ => (Version::HTTP_11, endpoint.authority.clone()),
    };
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(authority);
    parts.path_and_query = Some(
        uri.path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    );
    let uri = Uri::from_parts(parts).unwrap_or_else(|_| Uri::from_static("/"));
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

/// Sorts a client error into the proxy's error kinds.
pub(crate) fn classify(error: &hyper_util::client::legacy::Error) -> ProxyError {
    if error.is_connect() {
        return ProxyError::UpstreamConnect;
    }
    let mut source = error.source();
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
    use http::HeaderValue;

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
        assert_eq!(r.uri().to_string(), format!("http://{addr}/a/b?c=d&e"));
        assert_eq!(r.version(), Version::HTTP_11);
        assert_eq!(r.headers()[header::HOST], "app.example:81");
        assert_eq!(r.method(), Method::PUT);
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
