//! The HTTP/2 server through the real binary, with the `h2` crate as the client so each frame is
//! the test's choice: uploads and downloads larger than the flow-control windows, bodies with
//! and without a length, many streams at once on one connection, connection-specific headers a
//! filter adds, and a client's RST_STREAM reaching the upstream request.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use h2::{Reason, RecvStream};
use http::{Method, Request, StatusCode};
use serde_json::Value;
use support::{Backend, Rauta, free_port, gateway_yaml, http_route as route, service_yaml};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const PATIENCE: Duration = Duration::from_secs(20);

/// An h2c (prior knowledge) connection to the gateway.
async fn connect(port: u16) -> SendRequest<Bytes> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

fn request(method: Method, port: u16, path: &str) -> Request<()> {
    Request::builder()
        .method(method)
        .uri(format!("http://app.test:{port}{path}"))
        .body(())
        .unwrap()
}

/// Sends `request` with `body` in 16 KiB DATA frames (none when empty); the status and the whole
/// response body, read with its window handed back as it arrives.
async fn exchange(
    client: &mut SendRequest<Bytes>,
    request: Request<()>,
    body: &[u8],
) -> (StatusCode, http::HeaderMap, Vec<u8>) {
    let mut client = tokio::time::timeout(PATIENCE, client.clone().ready())
        .await
        .unwrap()
        .unwrap();
    let (response, mut send) = client.send_request(request, body.is_empty()).unwrap();
    if !body.is_empty() {
        let chunks: Vec<&[u8]> = body.chunks(16 * 1024).collect();
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.into_iter().enumerate() {
            send.send_data(Bytes::copy_from_slice(chunk), i == last).unwrap();
        }
    }
    let response = tokio::time::timeout(PATIENCE, response).await.unwrap().unwrap();
    let (parts, recv) = response.into_parts();
    let bytes = tokio::time::timeout(PATIENCE, read_all(recv)).await.unwrap();
    (parts.status, parts.headers, bytes)
}

async fn read_all(mut recv: RecvStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.unwrap();
        recv.flow_control().release_capacity(chunk.len()).unwrap();
        out.extend_from_slice(&chunk);
    }
    out
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

/// An HTTP/1.1 backend that answers every request on a connection with `size` bytes of `b'z'`,
/// and reports each request head it reads and each connection that the gateway closes.
async fn raw_backend(size: usize) -> (SocketAddr, mpsc::UnboundedReceiver<&'static str>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (events, seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let events = events.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut byte = [0u8; 4096];
                loop {
                    let n = stream.read(&mut byte).await.unwrap_or(0);
                    if n == 0 {
                        let _ = events.send("closed");
                        return;
                    }
                    buf.extend_from_slice(&byte[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        buf.drain(..end + 4);
                        let _ = events.send("request");
                        if head.starts_with("GET /hang") {
                            continue;
                        }
                        let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n");
                        if stream.write_all(reply.as_bytes()).await.is_err()
                            || stream.write_all(&vec![b'z'; size]).await.is_err()
                        {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, seen)
}

async fn next_event(seen: &mut mpsc::UnboundedReceiver<&'static str>, want: &str) {
    loop {
        let event = tokio::time::timeout(PATIENCE, seen.recv()).await.unwrap().unwrap();
        if event == want {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_larger_than_the_windows_stream_both_ways() {
    let port = free_port();
    let echo = Backend::start("echo", "echo").await;
    let big = 3 << 20;
    let (big_addr, _seen) = raw_backend(big).await;
    let yaml = format!(
        "{}{}{}{}{}",
        gateway_yaml(port),
        service_yaml("echo", echo.addr, None),
        service_yaml("big", big_addr, None),
        route("echo", "/", "echo", ""),
        route("big", "/big", "big", "")
    );
    let rauta = Rauta::start(&yaml).await;
    let mut client = connect(port).await;

    // 3 MiB up, three times the 1 MiB windows the gateway announces: it hands the window back
    // as the upstream takes the body. With a length, then without one.
    let body = vec![b'u'; 3 << 20];
    let mut with_length = request(Method::POST, port, "/upload");
    with_length.headers_mut().insert("content-length", body.len().into());
    let (status, _, reply) = exchange(&mut client, with_length, &body).await;
    assert_eq!(status, 200, "{}", rauta.stderr_text());
    assert_eq!(json(&reply)["bodyLength"], 3 << 20);
    let (status, _, reply) = exchange(&mut client, request(Method::POST, port, "/stream"), &body).await;
    assert_eq!(status, 200);
    assert_eq!(json(&reply)["bodyLength"], 3 << 20);

    // 3 MiB down, under the client's 64 KiB stream window: sent as the client opens it.
    let (status, headers, reply) = exchange(&mut client, request(Method::GET, port, "/big"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-length"], big.to_string());
    assert!(headers.contains_key("date"));
    assert_eq!(reply.len(), big);
    assert!(reply.iter().all(|b| *b == b'z'));

    // A body-less request on the same connection still works after all that.
    let (status, _, reply) = exchange(&mut client, request(Method::GET, port, "/after"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(json(&reply)["path"], "/after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_streams_at_once_on_one_connection() {
    let port = free_port();
    let echo = Backend::start("echo", "echo").await;
    let yaml = format!(
        "{}{}{}",
        gateway_yaml(port),
        service_yaml("echo", echo.addr, None),
        route("echo", "/", "echo", "")
    );
    let _rauta = Rauta::start(&yaml).await;
    let client = connect(port).await;
    let mut calls = Vec::new();
    for i in 0..100 {
        let mut client = client.clone();
        calls.push(tokio::spawn(async move {
            let (status, _, reply) = exchange(
                &mut client,
                request(Method::GET, port, &format!("/many/{i}?delay=20ms")),
                &[],
            )
            .await;
            (status, json(&reply)["path"].as_str().unwrap_or_default().to_string(), i)
        }));
    }
    for call in calls {
        let (status, path, i) = call.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(path, format!("/many/{i}?delay=20ms"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_specific_headers_a_filter_adds_stay_off_http2() {
    let port = free_port();
    let echo = Backend::start("echo", "echo").await;
    let filters = r#"    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        add:
        - {name: Keep-Alive, value: timeout=5}
        - {name: X-Kept, value: "yes"}"#;
    let yaml = format!(
        "{}{}{}",
        gateway_yaml(port),
        service_yaml("echo", echo.addr, None),
        route("echo", "/", "echo", filters)
    );
    let rauta = Rauta::start(&yaml).await;

    // HTTP/1.1 clients get what the filter says.
    let reply = rauta.get(port, "app.test", "/h1").await;
    assert_eq!(
        reply.headers.get("keep-alive").map(|v| v.as_bytes()),
        Some(&b"timeout=5"[..])
    );

    // HTTP/2 forbids it (RFC 9113 §8.2.2): the response goes out without it, not as a reset.
    let mut client = connect(port).await;
    let (status, headers, _) = exchange(&mut client, request(Method::GET, port, "/h2"), &[]).await;
    assert_eq!(status, 200);
    assert!(!headers.contains_key("keep-alive"), "{headers:?}");
    assert_eq!(headers["x-kept"], "yes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reset_cancels_the_upstream_request() {
    let port = free_port();
    let echo = Backend::start("echo", "echo").await;
    let (hang_addr, mut seen) = raw_backend(0).await;
    let yaml = format!(
        "{}{}{}{}{}",
        gateway_yaml(port),
        service_yaml("echo", echo.addr, None),
        service_yaml("hang", hang_addr, None),
        route("echo", "/", "echo", ""),
        route("hang", "/hang", "hang", "")
    );
    let rauta = Rauta::start(&yaml).await;
    let client = connect(port).await;

    let mut ready = tokio::time::timeout(PATIENCE, client.clone().ready())
        .await
        .unwrap()
        .unwrap();
    let (response, mut send) = ready.send_request(request(Method::GET, port, "/hang"), true).unwrap();
    next_event(&mut seen, "request").await;
    // Reset while the upstream has not answered: the gateway drops the request, and with it
    // the upstream connection, which cannot be reused mid-response.
    send.send_reset(Reason::CANCEL);
    drop(response);
    next_event(&mut seen, "closed").await;

    // The connection serves on.
    let mut client = client;
    let (status, _, reply) = exchange(&mut client, request(Method::GET, port, "/still"), &[]).await;
    assert_eq!(status, 200, "{}", rauta.stderr_text());
    assert_eq!(json(&reply)["path"], "/still");
}
