//! Test scaffolding: a tiny in-test backend, clients, and snapshot builders.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use prometheus_client::registry::Registry;
use rauta_ir::route::{HostnameMatch, PathMatch, RouteMatch};
use rauta_ir::{
    BackendRef, BackendTarget, Bind, BindProtocol, Cluster, ClusterKey, Filter, Listener, ListenerRef, RouteEntry,
    RouteKind, RouteRef, Rule, Snapshot, Timeouts, UpstreamProtocol, VirtualHost,
};
use rauta_proxy::{DataPlane, ProxyConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

/// Generous bound for anything a test waits on.
pub const PATIENCE: Duration = Duration::from_secs(10);

#[path = "../../../rauta/tests/support/ports.rs"]
mod ports;

/// An address nothing listens on right now, for a bind the test starts next (port 0 cannot be
/// expressed in the IR). Below the ephemeral range, so a backend bound to port 0 by a test
/// running in parallel cannot take it first (`ports::free_port`).
pub fn free_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], ports::free_port()))
}

/// A running in-test backend.
pub struct Backend {
    pub addr: SocketAddr,
    /// Lets a `/stream` response send its second chunk.
    pub gate: Arc<Notify>,
    /// Receives a note when `/upload` has read its first body chunk.
    pub upload_started: mpsc::UnboundedReceiver<()>,
    /// Every request the backend saw: (method, uri, headers).
    pub seen: mpsc::UnboundedReceiver<(Method, String, HeaderMap)>,
}

#[derive(Clone)]
struct BackendState {
    name: &'static str,
    gate: Arc<Notify>,
    upload_started: mpsc::UnboundedSender<()>,
    seen: mpsc::UnboundedSender<(Method, String, HeaderMap)>,
    failures: Arc<Mutex<HashMap<String, u32>>>,
}

type TestBody = BoxBody<Bytes, Infallible>;

fn full(b: impl Into<Bytes>) -> TestBody {
    Full::new(b.into()).boxed()
}

/// Starts a backend named `name` speaking HTTP/1.1 and h2c.
///
/// Paths: `/ws` upgrades and echoes raw bytes; `/stream` sends `first`, waits for the gate, then
/// `second`; `/upload` reports its first body chunk and answers the body length; `/status/N`
/// answers N; `?delay=MS` sleeps first; `?fail=N&key=K[&code=C]` fails the first N requests
/// with key K (after `faildelay=MS`; code C, or a TCP reset without code); anything else echoes the request as JSON.
pub async fn backend(name: &'static str) -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (upload_tx, upload_rx) = mpsc::unbounded_channel();
    let (seen_tx, seen_rx) = mpsc::unbounded_channel();
    let state = BackendState {
        name,
        gate: Arc::new(Notify::new()),
        upload_started: upload_tx,
        seen: seen_tx,
        failures: Arc::default(),
    };
    let gate = state.gate.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let (reset_tx, mut reset_rx) = mpsc::unbounded_channel::<()>();
                let raw = stream.into_std().unwrap();
                let stream = tokio::net::TcpStream::from_std(raw.try_clone().unwrap()).unwrap();
                let service = service_fn(move |req| {
                    let state = state.clone();
                    let reset = reset_tx.clone();
                    async move { Ok::<_, Infallible>(handle(state, req, reset).await) }
                });
                let builder = auto::Builder::new(TokioExecutor::new());
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let reset = tokio::select! {
                    _ = conn => false,
                    Some(()) = reset_rx.recv() => true,
                };
                if reset {
                    // A TCP reset after the request was read, like the conformance retry backend.
                    let _ = socket2::SockRef::from(&raw).set_linger(Some(Duration::ZERO));
                }
                drop(raw);
            });
        }
    });
    Backend {
        addr,
        gate,
        upload_started: upload_rx,
        seen: seen_rx,
    }
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

async fn handle(
    state: BackendState,
    mut req: Request<Incoming>,
    reset: mpsc::UnboundedSender<()>,
) -> Response<TestBody> {
    let _ = state
        .seen
        .send((req.method().clone(), req.uri().to_string(), req.headers().clone()));
    let query = req.uri().query().unwrap_or("").to_owned();
    if let Some(ms) = query_param(&query, "delay").and_then(|v| v.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let (Some(n), Some(key)) = (
        query_param(&query, "fail").and_then(|v| v.parse::<u32>().ok()),
        query_param(&query, "key"),
    ) {
        let failed = {
            let mut f = state.failures.lock().unwrap();
            let count = f.entry(key.to_owned()).or_default();
            *count += 1;
            *count <= n
        };
        if failed {
            if let Some(ms) = query_param(&query, "faildelay").and_then(|v| v.parse().ok()) {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            match query_param(&query, "code").and_then(|c| c.parse::<u16>().ok()) {
                Some(code) => {
                    let mut r = Response::new(full("failing"));
                    *r.status_mut() = StatusCode::from_u16(code).unwrap();
                    return r;
                }
                None => {
                    let _ = reset.send(());
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    let path = req.uri().path().to_owned();
    if path == "/ws" {
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(upgraded) = upgrade.await else { return };
            let mut io = TokioIo::new(upgraded);
            let mut buf = [0u8; 1024];
            loop {
                match io.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if io.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut r = Response::new(full(Bytes::new()));
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        r.headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        return r;
    }
    if let Some(code) = path.strip_prefix("/status/").and_then(|c| c.parse::<u16>().ok()) {
        let mut r = Response::new(full("status"));
        *r.status_mut() = StatusCode::from_u16(code).unwrap();
        return r;
    }
    if path == "/stream" {
        let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(2);
        let gate = state.gate.clone();
        tokio::spawn(async move {
            let _ = tx.send(Ok(Frame::data(Bytes::from_static(b"first")))).await;
            gate.notified().await;
            let _ = tx.send(Ok(Frame::data(Bytes::from_static(b"second")))).await;
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
        return Response::new(StreamBody::new(stream).boxed());
    }
    let version = format!("{:?}", req.version());
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let host = req.headers().get(header::HOST).map(|h| h.to_str().unwrap().to_owned());
    let authority = req.uri().authority().map(|a| a.to_string());
    let mut headers: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in req.headers() {
        headers
            .entry(k.to_string())
            .or_default()
            .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
    let mut body = req.into_body();
    let mut body_len = 0usize;
    let mut first = true;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(d) = frame.data_ref() {
            body_len += d.len();
            if first && path == "/upload" {
                let _ = state.upload_started.send(());
            }
            first = false;
        }
    }
    let json = serde_json::json!({
        "backend": state.name,
        "method": method,
        "uri": uri,
        "version": version,
        "host": host,
        "authority": authority,
        "headers": headers,
        "body_len": body_len,
    });
    let mut r = Response::new(full(json.to_string()));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut()
        .insert("x-backend", HeaderValue::from_static(state.name));
    r
}

/// A TCP server that accepts and immediately resets every connection.
pub async fn resetting_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let mut stream = stream;
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            let std = stream.into_std().unwrap();
            let _ = socket2::SockRef::from(&std).set_linger(Some(Duration::ZERO));
            drop(std);
        }
    });
    addr
}

// ---- snapshot builders ----

pub fn cluster(key: &str, protocol: UpstreamProtocol, endpoints: &[SocketAddr]) -> Cluster {
    Cluster {
        key: ClusterKey(key.into()),
        protocol,
        endpoints: endpoints.to_vec(),
        tls: None,
    }
}

pub fn to(key: &str, weight: u32) -> BackendRef {
    BackendRef {
        weight,
        target: BackendTarget::Cluster(ClusterKey(key.into())),
        filters: vec![],
    }
}

pub fn rule(route: &str, backends: Vec<BackendRef>) -> Rule {
    Rule {
        route: RouteRef {
            kind: RouteKind::Http,
            namespace: "ns".into(),
            name: route.into(),
        },
        index: 0,
        name: None,
        filters: vec![],
        backends,
        timeouts: Timeouts::default(),
        retry: None,
    }
}

pub fn with_filters(mut r: Rule, filters: Vec<Filter>) -> Rule {
    r.filters = filters;
    r
}

pub fn prefix(p: &str, r: Rule) -> RouteEntry {
    RouteEntry {
        route_match: Arc::new(RouteMatch::new(PathMatch::prefix(p), None, vec![], vec![])),
        rule: Arc::new(r),
    }
}

pub fn listener(section: &str, hostname: HostnameMatch, port: u16, routes: Vec<RouteEntry>) -> Listener {
    Listener {
        name: ListenerRef {
            namespace: "ns".into(),
            gateway: "gw".into(),
            set: None,
            section: section.into(),
        },
        virtual_hosts: vec![VirtualHost {
            hostname: hostname.clone(),
            routes,
        }],
        hostname,
        port,
        tls: None,
    }
}

pub fn bind(address: SocketAddr, listeners: Vec<Listener>) -> Bind {
    Bind {
        address,
        protocol: BindProtocol::Http,
        listeners,
    }
}

/// One bind with one catch-all listener serving `routes`.
pub fn snapshot(address: SocketAddr, routes: Vec<RouteEntry>, clusters: Vec<Cluster>) -> Arc<Snapshot> {
    let listener = listener("http", HostnameMatch::Any, address.port(), routes);
    Arc::new(Snapshot {
        binds: vec![bind(address, vec![listener])],
        clusters: clusters.into_iter().map(|c| (c.key.clone(), c)).collect(),
    })
}

/// A data plane serving `snapshot`, and the registry holding its metrics.
pub async fn start(snapshot: Arc<Snapshot>) -> (DataPlane, Registry) {
    start_with(ProxyConfig::default(), snapshot).await
}

/// A data plane with `config` serving `snapshot`.
pub async fn start_with(config: ProxyConfig, snapshot: Arc<Snapshot>) -> (DataPlane, Registry) {
    let mut registry = Registry::default();
    let dp = DataPlane::new(config, &mut registry);
    dp.apply(snapshot).await.unwrap();
    (dp, registry)
}

/// Sends a raw HTTP/1.1 request on `stream` and reads the response head and a body of
/// `Content-Length` bytes.
pub async fn raw_exchange(stream: &mut tokio::net::TcpStream, request: &str) -> (String, Vec<u8>) {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    (head, body)
}

// ---- clients ----

pub type Http1 = Client<HttpConnector, BoxBody<Bytes, Infallible>>;

pub fn http1() -> Http1 {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub fn h2c() -> Http1 {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(HttpConnector::new())
}

pub fn request(method: Method, proxy: SocketAddr, path_and_query: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(format!("http://{proxy}{path_and_query}"))
}

/// Sends `req` and reads the whole response.
pub async fn send(client: &Http1, req: Request<BoxBody<Bytes, Infallible>>) -> (StatusCode, HeaderMap, Bytes) {
    let response = tokio::time::timeout(PATIENCE, client.request(req))
        .await
        .expect("response in time")
        .expect("response");
    let (parts, body) = response.into_parts();
    let bytes = tokio::time::timeout(PATIENCE, body.collect())
        .await
        .expect("body in time")
        .expect("body")
        .to_bytes();
    (parts.status, parts.headers, bytes)
}

pub fn empty() -> BoxBody<Bytes, Infallible> {
    Empty::new().boxed()
}

pub fn body(b: &'static str) -> BoxBody<Bytes, Infallible> {
    full(b)
}

/// GETs `path` with Host `host` through the proxy.
pub async fn get(proxy: SocketAddr, host: &str, path: &str) -> (StatusCode, HeaderMap, Bytes) {
    let req = request(Method::GET, proxy, path)
        .header(header::HOST, host)
        .body(empty())
        .unwrap();
    send(&http1(), req).await
}

/// The echo backend's JSON.
pub fn echo(body: &Bytes) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("not echo JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// All values of header `name` the backend saw, joined by `,`.
pub fn seen_header(echo: &serde_json::Value, name: &str) -> Option<String> {
    echo["headers"][name]
        .as_array()
        .map(|vs| vs.iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>().join(","))
}
