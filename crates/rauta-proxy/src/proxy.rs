//! The request pipeline: each phase is a named function, run in this order.
//!
//! 1. `accept` — [`listener::spawn_accept`](crate::listener) takes a connection (within the
//!    connection limit), [`server::accept_connection`](crate::server) runs the TLS handshake on
//!    HTTPS binds, and [`server::serve_connection`](crate::server) speaks HTTP/1.1 or HTTP/2.
//! 2. `read_head` — the HTTP/1 server (`server/h1.rs`) or hyper's HTTP/2 server reads the request
//!    head (header read timeout, size limit); [`serve`]
//!    loads the routing view once, ensures an `x-request-id` and starts the [`Completion`].
//! 3. [`select_route`] — listener by host, then virtual host, then the first route entry whose
//!    match holds (no fall-through between listeners); no match is a 404 (a trailers-only
//!    `grpc-status: 12` UNIMPLEMENTED for gRPC calls), a host of another
//!    listener than the one the TLS connection's SNI selected a 421.
//! 4. [`prepare_upstream_headers`] — hop-by-hop headers out, `Host` for HTTP/2 clients,
//!    `X-Forwarded-For/Proto/Host` in, so filters and mirrors see the forwarded request.
//! 5. [`request_filter`] with the rule's filters in order — a CORS preflight or a redirect is
//!    answered locally; header modifiers and rewrites change the request; mirrors start.
//! 6. [`choose_backend`](balancer::choose_backend) — weighted random among the backendRefs
//!    (weight 0 never), invalid ones answering 500; the endpoint is chosen per attempt in 8.
//! 7. [`request_filter`] with the chosen backendRef's filters.
//! 8. [`upstream_request`] — round-robin endpoint, per-try timeout, retries, all under the
//!    request timeout; the body streams through (teed to mirrors).
//! 9. [`response_filter`] — hop-by-hop headers out (unless switching protocols), response
//!    header modifiers and CORS headers; a 101 starts the [`upgrade::tunnel`].
//! 10. `logging` — when the response body ends (or is dropped) the [`Completion`] writes the
//!     access-log line and the metrics (`Completion::logging`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, LOCATION, ORIGIN};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use rauta_ir::UpstreamProtocol;
use rauta_route::{PathMatch, RequestParts};
use tokio::sync::mpsc;

use crate::balancer;
use crate::body::{DownstreamBody, RequestBody, ResponseBody, UpstreamBody};
use crate::dataplane::Shared;
use crate::errors::ProxyError;
use crate::filters::{RuntimeFilter, cors, headers, redirect};
use crate::forwarding;
use crate::grpc;
use crate::logging::Completion;
use crate::mirror::{self, MirrorChunk, TeeBody};
use crate::router;
use crate::runtime::{Runtime, RuntimeBackend, RuntimeEntry, RuntimeListener, RuntimeRule};
use crate::server::ConnCtx;
use crate::upgrade::{self, ClientUpgrade};
use crate::upstream;

/// A response and, for answers the proxy generated itself, why.
type Reply = (Response<ResponseBody>, Option<&'static str>);

/// Serves one request on the routing view current when it arrived.
///
/// The request comes as a [`Downstream`], which the future works on in place: an `async fn`
/// keeps its arguments for its whole life, and a `Request` taken apart inside would have been
/// stored twice (as it came and as its parts) in a future that the HTTP/2 server copies into a
/// box per stream (2,032 -> 1,808 bytes, docs/benchmarks.md "Session 13").
pub(crate) async fn serve(conn: Arc<ConnCtx>, mut request: Downstream) -> Response<ResponseBody> {
    let runtime = conn.shared.runtime.load_full();
    forwarding::ensure_request_id(&mut request.head.headers);
    request.host = router::request_host(&request.head.uri, &request.head.headers);
    let mut done = Completion::start(&conn, &request.head, request.host.as_ref());
    let (mut response, reason) = match proxy(&conn, &runtime, &mut request, &mut done).await {
        Ok(reply) => reply,
        // gRPC clients expect a method nobody serves to be UNIMPLEMENTED, in gRPC's terms.
        Err(ProxyError::NoRoute) if grpc::is_grpc(&request.head.headers) => {
            (grpc::unimplemented(), Some("grpc_unimplemented"))
        }
        Err(error) => {
            let (status, reason) = error.status_and_reason();
            (local_response(status, reason), Some(reason))
        }
    };
    done.respond(response.status(), reason);
    response.body_mut().finish_with(done);
    response
}

/// The request as read from the client.
pub(crate) struct Downstream {
    head: Parts,
    /// Taken by the upstream phase.
    body: Option<DownstreamBody>,
    /// The host as sent (URI authority or Host header, port included), found by [`serve`].
    host: Option<HeaderValue>,
    on_upgrade: Option<ClientUpgrade>,
}

impl Downstream {
    /// The request to serve. `on_upgrade` is the client's connection when the request asks to
    /// switch protocols (HTTP/1.1 only).
    pub(crate) fn new(request: Request<DownstreamBody>, on_upgrade: Option<ClientUpgrade>) -> Self {
        let (head, body) = request.into_parts();
        Self {
            head,
            body: Some(body),
            host: None,
            on_upgrade,
        }
    }

    fn host_name(&self) -> &str {
        self.host
            .as_ref()
            .and_then(|h| h.to_str().ok())
            .map_or("", router::strip_port)
    }
}

/// What the request filters leave for later phases.
struct FilterState {
    /// Mirrors waiting for a copy of the body.
    mirrors: Vec<mpsc::Sender<MirrorChunk>>,
}

async fn proxy(
    conn: &Arc<ConnCtx>,
    runtime: &Runtime,
    request: &mut Downstream,
    done: &mut Completion,
) -> Result<Reply, ProxyError> {
    let shared = &conn.shared;
    let (listener, entry) = select_route(conn, runtime, request, done)?;
    let rule = &entry.rule;
    let deadline = nonzero(rule.rule.timeouts.request).map(|d| tokio::time::Instant::now() + d);
    prepare_upstream_headers(conn, request);
    let origin = request.head.headers.get(ORIGIN).cloned();
    let mut state = FilterState { mirrors: Vec::new() };
    if let Some(reply) = request_filter(conn, &rule.filters, request, listener, entry, &mut state) {
        return Ok(reply);
    }
    let backend = balancer::choose_backend(rule)?;
    if let Some(reply) = request_filter(conn, &backend.filters, request, listener, entry, &mut state) {
        return Ok(reply);
    }
    let upstream = upstream_request(shared, rule, backend, request, state, done);
    let mut response = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, upstream)
            .await
            .map_err(|_| ProxyError::RequestTimeout)??,
        None => upstream.await?,
    };
    match request.on_upgrade.take() {
        Some(client) if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
            upgrade::tunnel(shared, client, &mut response);
        }
        _ => forwarding::strip_hop_by_hop(response.headers_mut(), false),
    }
    response_filter(rule, backend, response.headers_mut(), origin.as_ref());
    // The client's protocol, not the upstream's, frames the response.
    *response.version_mut() = request.head.version;
    Ok((response.map(ResponseBody::upstream), None))
}

/// Phase 3: the listener, then the route entry, serving the request.
fn select_route<'r>(
    conn: &ConnCtx,
    runtime: &'r Runtime,
    request: &Downstream,
    done: &mut Completion,
) -> Result<(&'r RuntimeListener, &'r RuntimeEntry), ProxyError> {
    let host = request.host_name();
    let bind = runtime.bind(conn.local).ok_or(ProxyError::NoRoute)?;
    let listener = router::select_listener(bind, host).ok_or(ProxyError::NoRoute)?;
    if router::misdirected(bind, listener, conn.sni.as_deref()) {
        done.listener(listener);
        return Err(ProxyError::Misdirected);
    }
    done.listener(listener);
    let head = &request.head;
    let parts = RequestParts::new(&head.method, head.uri.path(), head.uri.query(), &head.headers);
    let entry = router::select_entry(listener, host, &parts).ok_or(ProxyError::NoRoute)?;
    done.rule(&entry.rule);
    Ok((listener, entry))
}

/// Phase 4: the headers every upstream (and mirror) sees before filters run.
fn prepare_upstream_headers(conn: &ConnCtx, request: &mut Downstream) {
    let headers = &mut request.head.headers;
    forwarding::strip_hop_by_hop(headers, request.on_upgrade.is_some());
    // HTTP/2 clients and HTTP/1 absolute-form requests name the host in the URI; upstreams
    // speaking HTTP/1.1 need it in Host.
    if let (Some(_), Some(host)) = (request.head.uri.authority(), &request.host) {
        headers.insert(HOST, host.clone());
    }
    forwarding::add_forwarded(headers, &conn.client_ip, conn.scheme, request.host.as_ref());
}

/// Phases 5 and 7: runs `filters` in order; returns a reply when one answers locally.
fn request_filter(
    conn: &ConnCtx,
    filters: &[RuntimeFilter],
    request: &mut Downstream,
    listener: &RuntimeListener,
    entry: &RuntimeEntry,
    state: &mut FilterState,
) -> Option<Reply> {
    for filter in filters {
        let head = &mut request.head;
        match filter {
            RuntimeFilter::Cors(policy) if cors::is_preflight(&head.method, &head.headers) => {
                let (status, cors_headers) = policy.preflight(&head.headers);
                let mut response = local_response(status, "");
                response.headers_mut().extend(cors_headers);
                return Some((response, Some("cors_preflight")));
            }
            RuntimeFilter::Redirect(r) => {
                let location = redirect::location(
                    r,
                    &redirect::RedirectRequest {
                        scheme: conn.scheme,
                        host: request.host_name(),
                        listener_port: listener.port,
                        uri: &request.head.uri,
                        matched: &entry.route_match.path,
                    },
                );
                let mut response = local_response(redirect::status(r), "");
                if let Ok(value) = HeaderValue::try_from(location) {
                    response.headers_mut().insert(LOCATION, value);
                }
                return Some((response, Some("redirect")));
            }
            RuntimeFilter::RequestHeaders(m) => headers::modify(&mut head.headers, m),
            RuntimeFilter::Rewrite(r) => r.apply(&mut head.uri, &mut head.headers, matched_path(entry)),
            RuntimeFilter::Mirror(m) => {
                // An upgrade cannot be tunnelled twice; mirrors skip it.
                let Some(cluster) = &m.cluster else { continue };
                if request.on_upgrade.is_none() && m.sampled() {
                    let with_body = request.body.as_ref().is_some_and(|b| !b.is_end_stream());
                    let hint = request.body.as_ref().map(Body::size_hint).unwrap_or_default();
                    if let Some(tx) = mirror::start(&conn.shared, cluster, head, hint, with_body) {
                        state.mirrors.push(tx);
                    }
                }
            }
            RuntimeFilter::Cors(_) | RuntimeFilter::ResponseHeaders(_) => {}
        }
    }
    None
}

fn matched_path(entry: &RuntimeEntry) -> &PathMatch {
    &entry.route_match.path
}

/// Phase 8: sends the request to the chosen cluster, with per-try timeouts and retries.
///
/// Only requests without a body are retried: replaying a body would mean buffering it, and
/// streaming it is worth more. The request timeout around this phase bounds all attempts.
async fn upstream_request(
    shared: &Arc<Shared>,
    rule: &RuntimeRule,
    backend: &RuntimeBackend,
    request: &mut Downstream,
    state: FilterState,
    done: &mut Completion,
) -> Result<Response<UpstreamBody>, ProxyError> {
    let cluster = backend.target.as_ref().map_err(|e| *e)?;
    let upgrade = request.on_upgrade.is_some();
    let (replayable, upstream_body) = match request.body.take() {
        None => (true, RequestBody::Empty),
        Some(body) => {
            let empty = body.is_end_stream();
            let relayed = if state.mirrors.is_empty() {
                RequestBody::Downstream(body)
            } else {
                RequestBody::Tee(TeeBody::new(body, state.mirrors))
            };
            (empty, relayed)
        }
    };
    let replayable = replayable && !upgrade;
    let retry = rule.rule.retry.as_ref();
    let exchange = upstream::Exchange {
        upstream: &shared.upstream,
        metrics: &shared.metrics,
        cluster,
        protocol: if upgrade {
            UpstreamProtocol::Http1
        } else {
            cluster.protocol
        },
        per_try: nonzero(rule.rule.timeouts.backend_request),
        retries: if replayable { retry.map_or(0, |r| r.attempts) } else { 0 },
        retry,
    };
    let head = &mut request.head;
    let headers = std::mem::take(&mut head.headers);
    exchange
        .send(&head.method, &head.uri, headers, upstream_body, |endpoint| {
            done.upstream(endpoint)
        })
        .await
}

/// Phase 9: response header modifiers and CORS, rule filters first, then the backend's.
fn response_filter(
    rule: &RuntimeRule,
    backend: &RuntimeBackend,
    response: &mut HeaderMap,
    origin: Option<&HeaderValue>,
) {
    for filter in rule.filters.iter().chain(&backend.filters) {
        match filter {
            RuntimeFilter::ResponseHeaders(m) => headers::modify(response, m),
            RuntimeFilter::Cors(policy) => policy.decorate(origin, response),
            _ => {}
        }
    }
}

/// A response generated by the proxy, with a short text/plain body.
fn local_response(status: StatusCode, body: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::local(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    if !body.is_empty() {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    }
    response
}

/// A zero duration disables a Gateway API timeout.
fn nonzero(d: Option<Duration>) -> Option<Duration> {
    d.filter(|d| !d.is_zero())
}
