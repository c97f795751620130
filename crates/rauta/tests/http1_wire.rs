//! Rauta's own HTTP/1.1 server through the real binary, on a raw socket: pipelined requests are
//! answered in order, smuggling shapes and malformed heads are refused and the connection
//! closed, HTTP/1.0 closes unless asked to keep alive, and a connection that waited idle still
//! serves its next request.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::{Backend, Rauta, free_port, gateway_yaml, service_yaml};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ROUTE: &str = r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{name: app, port: 80}]
"#;

async fn start() -> (Rauta, Backend, u16) {
    let backend = Backend::start("app", "app-1").await;
    let port = free_port();
    let yaml = format!(
        "{}{}{ROUTE}",
        gateway_yaml(port),
        service_yaml("app", backend.addr, None)
    );
    (Rauta::start(&yaml).await, backend, port)
}

/// Reads until the peer closes the connection (or 5 s pass) and returns what arrived.
async fn read_to_close(stream: &mut TcpStream) -> (String, bool) {
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
        .await
        .is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

/// Reads `n` complete responses whose bodies are framed by Content-Length.
async fn read_responses(stream: &mut TcpStream, n: usize) -> Vec<(String, String)> {
    let mut buf = Vec::new();
    let mut responses = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while responses.len() < n {
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("content-length");
            if buf.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned();
                responses.push((head.to_owned(), body));
                buf.drain(..end + 4 + length);
                continue;
            }
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .expect("responses within 5 s")
            .unwrap();
        assert!(n > 0, "connection closed after {} responses", responses.len());
        buf.extend_from_slice(&chunk[..n]);
    }
    responses
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let (_rauta, backend, port) = start().await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let requests = "GET /one HTTP/1.1\r\nHost: a.example\r\n\r\n\
                    POST /two HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\n\r\nhello\
                    GET /three?x=1 HTTP/1.1\r\nHost: a.example\r\n\r\n";
    stream.write_all(requests.as_bytes()).await.unwrap();
    let responses = read_responses(&mut stream, 3).await;
    for ((head, body), path) in responses.iter().zip(["/one", "/two", "/three?x=1"]) {
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        let echoed = json["path"].as_str().unwrap_or_default();
        assert!(echoed.starts_with(path.split('?').next().unwrap()), "{body}");
    }
    assert_eq!(backend.paths(), vec!["/one", "/two", "/three?x=1"]);
    // The connection idles with nothing buffered, then serves again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream
        .write_all(b"GET /four HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (rest, closed) = read_to_close(&mut stream).await;
    assert!(rest.starts_with("HTTP/1.1 200 "), "{rest}");
    assert!(rest.to_ascii_lowercase().contains("connection: close"), "{rest}");
    assert!(closed, "Connection: close must close");
}

#[tokio::test]
async fn smuggling_shapes_and_malformed_heads_are_refused_and_closed() {
    let (_rauta, backend, port) = start().await;
    let cases: &[(&str, &str)] = &[
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "400",
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
            "400",
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
            "400",
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "501",
        ),
        ("GET / HTTP/1.1\r\n\r\n", "400"),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400"),
        ("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", "400"),
        ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", "505"),
    ];
    for (request, status) in cases {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let (reply, closed) = read_to_close(&mut stream).await;
        assert!(
            reply.starts_with(&format!("HTTP/1.1 {status} ")),
            "{request:?}: {reply}"
        );
        assert!(closed, "{request:?}: the connection must close");
    }
    assert!(backend.paths().is_empty(), "nothing refused reaches the backend");
}

#[tokio::test]
async fn http10_closes_unless_asked_to_keep_alive() {
    let (_rauta, _backend, port) = start().await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(b"GET /a HTTP/1.0\r\n\r\n").await.unwrap();
    let (reply, closed) = read_to_close(&mut stream).await;
    assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
    assert!(closed);

    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream
        .write_all(b"GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await
        .unwrap();
    let responses = read_responses(&mut stream, 1).await;
    assert!(
        responses[0].0.to_ascii_lowercase().contains("connection: keep-alive"),
        "{}",
        responses[0].0
    );
    stream.write_all(b"GET /c HTTP/1.0\r\n\r\n").await.unwrap();
    let (reply, closed) = read_to_close(&mut stream).await;
    assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
    assert!(closed);
}
