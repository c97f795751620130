//! Rauta's HTTP/1 server on the wire: keep-alive and close, pipelining, request framing and
//! its smuggling guards, 100-continue, unread bodies, HTTP/1.0, the header read timeout, and a
//! client that leaves before its response.

use std::net::SocketAddr;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use rauta_ir::UpstreamProtocol::Http1;
use rauta_proxy::{DataPlane, Limits, ProxyConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::support::*;

/// A data plane routing `/api` and `/stream` to an echo backend (anything else is a local 404).
async fn serve(limits: Limits) -> (DataPlane, Registry, SocketAddr, Backend) {
    let b = backend("v1").await;
    let addr = free_port();
    let snap = snapshot(
        addr,
        vec![
            prefix("/api", rule("api", vec![to("c", 1)])),
            prefix("/stream", rule("stream", vec![to("c", 1)])),
        ],
        vec![cluster("c", Http1, &[b.addr])],
    );
    let config = ProxyConfig {
        access_log: false,
        limits,
        workers: Vec::new(),
    };
    let (dp, registry) = start_with(config, snap).await;
    (dp, registry, addr, b)
}

fn json(body: &[u8]) -> serde_json::Value {
    echo(&bytes::Bytes::copy_from_slice(body))
}

/// Reads until the peer closes; what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut rest = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest))
        .await
        .expect("closed by the proxy")
        .unwrap_or(0);
    String::from_utf8_lossy(&rest).into_owned()
}

/// Reads one response head.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tokio::time::timeout(PATIENCE, stream.read_exact(&mut byte))
            .await
            .expect("a response head")
            .unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

const GET: &str = "GET /api/a HTTP/1.1\r\nHost: h.example\r\n\r\n";

#[tokio::test]
async fn keep_alive_pipelining_and_split_heads() {
    let (_dp, _r, addr, _b) = serve(Limits::default()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // Three requests in one write: answered in order on the same connection.
    let pipelined = "GET /api/1 HTTP/1.1\r\nHost: h\r\n\r\nGET /nothing HTTP/1.1\r\nHost: h\r\n\r\n\
                     POST /api/3 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody";
    let (head, body) = raw_exchange(&mut stream, pipelined).await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.to_ascii_lowercase().contains("\r\ndate: "), "{head}");
    assert_eq!(json(&body)["uri"], "/api/1");
    let (head, _) = raw_exchange(&mut stream, "").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let (head, body) = raw_exchange(&mut stream, "").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(
        (json(&body)["uri"].as_str(), json(&body)["body_len"].as_u64()),
        (Some("/api/3"), Some(4))
    );
    // A head arriving a byte at a time.
    for b in GET.as_bytes() {
        stream.write_all(&[*b]).await.unwrap();
        stream.flush().await.unwrap();
    }
    let (head, _) = raw_exchange(&mut stream, "").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Connection: close is answered in kind, then the connection ends.
    let (head, _) = raw_exchange(
        &mut stream,
        "GET /api/c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(head.contains("\r\nconnection: close\r\n"), "{head}");
    assert_eq!(read_to_close(&mut stream).await, "");
}

#[tokio::test]
async fn malformed_and_smuggling_requests_are_refused_and_the_connection_closed() {
    let (_dp, _r, addr, mut b) = serve(Limits::default()).await;
    let cases = [
        (
            "POST /api HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "400",
        ),
        (
            "POST /api HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nbody",
            "400",
        ),
        (
            "POST /api HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
            "501",
        ),
        ("GET /api HTTP/1.1\r\n\r\n", "400"),
        ("GET /api HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400"),
        ("GET /api HTTP/2.0\r\nHost: h\r\n\r\n", "505"),
        ("GET /api HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n", "400"),
        ("\x16\x03\x01\x02\x00\x01\r\n\r\n", "400"),
    ];
    for (request, status) in cases {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let rest = read_to_close(&mut stream).await;
        assert!(rest.starts_with(&format!("HTTP/1.1 {status} ")), "{request:?}: {rest}");
        assert!(rest.contains("\r\nconnection: close\r\n"), "{rest}");
    }
    assert!(b.seen.try_recv().is_err(), "nothing reached the backend");
}

#[tokio::test]
async fn chunked_bodies_and_100_continue_reach_the_backend() {
    let (_dp, _r, addr, _b) = serve(Limits::default()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let (head, body) = raw_exchange(
        &mut stream,
        "PUT /api/c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nx-t: 1\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(json(&body)["body_len"], 5);
    // The client waits for 100 Continue before it sends the body.
    stream
        .write_all(b"POST /api/e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n")
        .await
        .unwrap();
    let interim = read_head(&mut stream).await;
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    let (head, body) = raw_exchange(&mut stream, "123456").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(json(&body)["body_len"], 6);
    assert!(!json(&body)["headers"].as_object().unwrap().contains_key("expect"));
    // Answered without the body (no route): no 100 Continue, and the connection closes
    // because the client never sends that body.
    stream
        .write_all(b"POST /nothing HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n")
        .await
        .unwrap();
    let rest = read_to_close(&mut stream).await;
    assert!(rest.starts_with("HTTP/1.1 404"), "{rest}");
    assert!(rest.contains("\r\nconnection: close\r\n"), "{rest}");
}

#[tokio::test]
async fn unread_bodies_are_drained_when_small_and_close_the_connection_when_large() {
    let (_dp, _r, addr, _b) = serve(Limits::default()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // A local 404 never reads the body: its 1 KiB is drained and the connection serves on.
    let small = format!(
        "POST /nothing HTTP/1.1\r\nHost: h\r\nContent-Length: 1024\r\n\r\n{}",
        "x".repeat(1024)
    );
    let (head, _) = raw_exchange(&mut stream, &small).await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    let (head, _) = raw_exchange(&mut stream, GET).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // 1 MiB announced: not worth reading; the connection closes after the answer.
    stream
        .write_all(b"POST /nothing HTTP/1.1\r\nHost: h\r\nContent-Length: 1048576\r\n\r\nstart")
        .await
        .unwrap();
    let rest = read_to_close(&mut stream).await;
    assert!(rest.starts_with("HTTP/1.1 404"), "{rest}");
    assert!(rest.contains("\r\nconnection: close\r\n"), "{rest}");
}

#[tokio::test]
async fn http10_clients_get_keep_alive_only_when_asked_and_no_chunked_bodies() {
    let (_dp, _r, addr, b) = serve(Limits::default()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let (head, body) = raw_exchange(&mut stream, "GET /api/k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("\r\nconnection: keep-alive\r\n"), "{head}");
    assert_eq!(json(&body)["version"], "HTTP/1.1", "the upstream request is HTTP/1.1");
    // Without keep-alive, and a body of unknown length: delimited by the close.
    b.gate.notify_one();
    stream.write_all(b"GET /stream HTTP/1.0\r\n\r\n").await.unwrap();
    let rest = read_to_close(&mut stream).await;
    let (head, body) = rest.split_once("\r\n\r\n").unwrap();
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    assert_eq!(body, "firstsecond");
    // HTTP/1.1 clients get the same body chunked, and HEAD gets no body at all.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    b.gate.notify_one();
    stream
        .write_all(b"GET /stream HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let rest = read_to_close(&mut stream).await;
    assert!(rest.contains("\r\ntransfer-encoding: chunked\r\n"), "{rest}");
    assert!(
        rest.ends_with("\r\n\r\n5\r\nfirst\r\n6\r\nsecond\r\n0\r\n\r\n"),
        "{rest:?}"
    );
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"HEAD /api/h HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let rest = read_to_close(&mut stream).await;
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
    assert!(rest.ends_with("\r\n\r\n"), "no body after a HEAD answer: {rest:?}");
}

#[tokio::test]
async fn incomplete_heads_time_out() {
    let (_dp, _r, addr, _b) = serve(Limits {
        header_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /api HTTP/1.1\r\nHost: h\r\n").await.unwrap();
    assert_eq!(read_to_close(&mut stream).await, "");
}

#[tokio::test]
async fn a_client_that_leaves_cancels_its_request() {
    let (_dp, registry, addr, _b) = serve(Limits::default()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /api/slow?delay=60000 HTTP/1.1\r\nHost: h\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(stream);
    // Logged as 499 (client closed request) once the proxy notices.
    let wanted = r#"rauta_requests_total{route="ns/api",method="GET",status_class="4xx"} 1"#;
    let mut text = String::new();
    for _ in 0..100 {
        text.clear();
        encode(&mut text, &registry).unwrap();
        if text.contains(wanted) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{text}");
}
