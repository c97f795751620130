//! The suite's HTTP client: one new connection per request (keep-alives off), HTTP/1.1 or
//! cleartext HTTP/2 with prior knowledge, no redirect following, and the response captured with
//! the echo backend's JSON decoded when the gateway says it is JSON.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::tls::{ClientCert, Trusted};

/// How long one request may take (the suite's `RequestTimeout`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The wire protocol of a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 (over TLS when the request has [`Tls`] settings).
    #[default]
    Http1,
    /// Cleartext HTTP/2 without an upgrade (`H2C_PRIOR_KNOWLEDGE`).
    H2cPriorKnowledge,
    /// HTTP/2 over TLS, negotiated with ALPN `h2`.
    H2,
}

/// How a request is encrypted: the SNI it sends and the certificates it trusts.
#[derive(Clone, Debug)]
pub struct Tls {
    /// Server name sent in the ClientHello.
    pub server_name: String,
    /// The certificate to trust (the suite trusts the listener certificate itself).
    pub trusted: Arc<Trusted>,
    /// The client certificate presented when the server asks for one.
    pub client_cert: Option<Arc<ClientCert>>,
}

/// A request to send to a gateway.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Method (default GET).
    pub method: Option<Method>,
    /// `Host` header; `None` sends the address, as the suite does when a test names no host.
    pub host: Option<String>,
    /// Path with query.
    pub path: String,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    /// Wire protocol.
    pub protocol: Protocol,
    /// TLS settings; `None` for cleartext.
    pub tls: Option<Tls>,
    /// Body.
    pub body: Option<String>,
}

impl Request {
    /// The method, GET by default.
    pub fn method(&self) -> Method {
        self.method.clone().unwrap_or(Method::GET)
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The `Host` header sent to `addr`: the test's host, or the address without a default port.
    pub fn host_header(&self, addr: SocketAddr) -> String {
        self.host.clone().unwrap_or_else(|| address_host(addr, self.scheme()))
    }
}

/// `ip` for the scheme's default port, `ip:port` otherwise (IPv6 in brackets), as the suite
/// computes `Host`.
pub fn address_host(addr: SocketAddr, scheme: &str) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    match (scheme, addr.port()) {
        ("http", 80) | ("https", 443) => ip,
        (_, port) => format!("{ip}:{port}"),
    }
}

/// What the echo backend says it received (its JSON answer).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct EchoAnswer {
    /// Request URI (path and query).
    #[serde(default)]
    pub path: String,
    /// Host header or `:authority`.
    #[serde(default)]
    pub host: String,
    /// Method.
    #[serde(default)]
    pub method: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, Vec<String>>,
    /// Namespace of the pod.
    #[serde(default)]
    pub namespace: String,
    /// Pod name.
    #[serde(default)]
    pub pod: String,
    /// What the backend's TLS handshake settled (echo-basic's `tls` block), when it was TLS.
    #[serde(default)]
    pub tls: Option<EchoTls>,
}

/// echo-basic's `tls` block: what the backend saw of the TLS connection that reached it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct EchoTls {
    /// SNI the backend received.
    #[serde(default, rename = "serverName")]
    pub server_name: String,
    /// The client certificates the backend was presented (PEM each, as Go's `pem.Encode` writes
    /// them).
    #[serde(default, rename = "peerCertificates")]
    pub peer_certificates: Vec<String>,
}

impl EchoAnswer {
    /// Every value of a request header (name compared without case).
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.iter().cloned())
            .collect()
    }

    /// All values of a request header (name compared without case), joined with `,`.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.iter().map(String::as_str))
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }
}

/// A response as the suite captures it.
#[derive(Clone, Debug)]
pub struct Captured {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// The echo answer, when `Content-Type` is exactly `application/json`.
    pub echo: Option<EchoAnswer>,
}

impl Captured {
    /// All values of a response header, joined with `,`.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }

    /// The body, for messages.
    pub fn body_text(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut short: String = text.chars().take(300).collect();
        if short.len() < text.len() {
            short.push('…');
        }
        short
    }
}

/// Sends `req` to `addr` on a new connection and reads the whole response.
pub async fn send(addr: SocketAddr, req: &Request) -> Result<Captured, String> {
    tokio::time::timeout(REQUEST_TIMEOUT, send_once(addr, req, true))
        .await
        .map_err(|_| format!("no response within {REQUEST_TIMEOUT:?}"))?
}

async fn send_once(addr: SocketAddr, req: &Request, echo: bool) -> Result<Captured, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let response = match &req.tls {
        None => exchange(stream, addr, req).await?,
        Some(tls) => {
            let alpn: &[u8] = if req.protocol == Protocol::H2 {
                b"h2"
            } else {
                b"http/1.1"
            };
            let connector = tokio_rustls::TlsConnector::from(crate::tls::client_config(
                &tls.trusted,
                alpn,
                tls.client_cert.as_ref(),
            )?);
            let name = ServerName::try_from(tls.server_name.clone()).map_err(|e| format!("server name: {e}"))?;
            let stream = connector
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            exchange(stream, addr, req).await?
        }
    };
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| format!("body: {e}"))?.to_bytes();
    let is_json = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/json");
    let echo = if is_json && echo {
        Some(
            serde_json::from_slice(&body)
                .map_err(|e| format!("response claims JSON but is not an echo answer: {e}"))?,
        )
    } else {
        None
    };
    Ok(Captured {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
        echo,
    })
}

/// Sends one request on an established connection.
async fn exchange<I>(io: I, addr: SocketAddr, req: &Request) -> Result<http::Response<hyper::body::Incoming>, String>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let host = req.host_header(addr);
    let body = Full::new(Bytes::from(req.body.clone().unwrap_or_default()));
    if req.protocol == Protocol::Http1 {
        let mut builder = http::Request::builder()
            .method(req.method())
            .uri(&req.path)
            .header(http::header::HOST, &host);
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request = builder.body(body).map_err(|e| format!("bad request: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(conn);
        return sender.send_request(request).await.map_err(|e| format!("request: {e}"));
    }
    let uri = format!("{}://{host}{}", req.scheme(), req.path);
    let mut builder = http::Request::builder()
        .method(req.method())
        .uri(uri)
        .version(Version::HTTP_2);
    for (k, v) in &req.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let request = builder.body(body).map_err(|e| format!("bad request: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
    tokio::spawn(conn);
    sender.send_request(request).await.map_err(|e| format!("request: {e}"))
}

/// A plain GET, for the admin server (no echo answer expected).
pub async fn get(addr: SocketAddr, path: &str) -> Result<Captured, String> {
    let req = Request {
        path: path.to_owned(),
        ..Request::default()
    };
    tokio::time::timeout(REQUEST_TIMEOUT, send_once(addr, &req, false))
        .await
        .map_err(|_| format!("no response within {REQUEST_TIMEOUT:?}"))?
}

/// A redirect target as the suite reads it (`Location` resolved against the request URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// Scheme.
    pub scheme: String,
    /// Host without port.
    pub host: String,
    /// Port, empty when absent.
    pub port: String,
    /// Path, without query.
    pub path: String,
}

impl Location {
    /// Parses `location`, resolving a relative one against `http://<base_host><path>`.
    pub fn parse(location: &str, base_scheme: &str, base_authority: &str) -> Result<Self, String> {
        let (scheme, rest) = match location.split_once("://") {
            Some((scheme, rest)) if !scheme.contains('/') => (scheme.to_ascii_lowercase(), rest.to_owned()),
            _ if location.starts_with("//") => (base_scheme.to_owned(), location[2..].to_owned()),
            _ if location.starts_with('/') => (base_scheme.to_owned(), format!("{base_authority}{location}")),
            _ => return Err(format!("cannot resolve Location {location:?}")),
        };
        let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(split);
        let path = tail.split(['?', '#']).next().unwrap_or_default().to_owned();
        let (host, port) = split_authority(authority);
        if host.is_empty() {
            return Err(format!("Location {location:?} has no host"));
        }
        Ok(Self {
            scheme,
            host,
            port,
            path,
        })
    }
}

/// `host:port` → (`host`, `port`), IPv6 brackets removed.
fn split_authority(authority: &str) -> (String, String) {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (host.to_owned(), after.strip_prefix(':').unwrap_or_default().to_owned());
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), port.to_owned()),
        None => (authority.to_owned(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_omits_the_default_port() {
        assert_eq!(address_host("127.1.0.1:80".parse().unwrap(), "http"), "127.1.0.1");
        assert_eq!(
            address_host("127.1.0.1:8080".parse().unwrap(), "http"),
            "127.1.0.1:8080"
        );
        assert_eq!(address_host("127.1.0.1:443".parse().unwrap(), "https"), "127.1.0.1");
        assert_eq!(address_host("127.1.0.1:443".parse().unwrap(), "http"), "127.1.0.1:443");
        let req = Request {
            host: Some("example.com".into()),
            ..Request::default()
        };
        assert_eq!(req.host_header("127.0.0.1:80".parse().unwrap()), "example.com");
    }

    #[test]
    fn locations() {
        let loc = |l: &str| Location::parse(l, "http", "127.1.0.1").unwrap();
        assert_eq!(
            loc("https://example.org:8443/a/b?x=1"),
            Location {
                scheme: "https".into(),
                host: "example.org".into(),
                port: "8443".into(),
                path: "/a/b".into()
            }
        );
        assert_eq!(loc("http://example.org").path, "");
        assert_eq!(loc("/p").host, "127.1.0.1");
        assert_eq!(loc("//h:1/p").port, "1");
        assert_eq!(loc("http://[::1]:80/").host, "::1");
        assert!(Location::parse("relative", "http", "h").is_err());
    }

    #[test]
    fn echo_headers_join_values_ignoring_case() {
        let answer: EchoAnswer =
            serde_json::from_str(r#"{"headers": {"X-Header-Add": ["a", "b"]}, "pod": "p"}"#).unwrap();
        assert_eq!(answer.header("x-header-add").as_deref(), Some("a,b"));
        assert_eq!(answer.header("missing"), None);
    }
}
