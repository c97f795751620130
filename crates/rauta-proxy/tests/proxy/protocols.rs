//! Streaming, upgrades and HTTP/2 on both sides.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rauta_ir::UpstreamProtocol::{H2c, Http1, WebSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::support::*;

#[tokio::test]
async fn response_bodies_stream_without_buffering() {
    let b = backend("v1").await;
    let addr = free_port();
    let (_dp, _) = start(snapshot(
        addr,
        vec![prefix("/", rule("s", vec![to("c", 1)]))],
        vec![cluster("c", Http1, &[b.addr])],
    ))
    .await;
    let req = request(Method::GET, addr, "/stream").body(empty()).unwrap();
    let response = tokio::time::timeout(PATIENCE, http1().request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    // The backend sends "second" only after the gate opens: the first chunk must arrive before.
    let first = tokio::time::timeout(PATIENCE, body.frame())
        .await
        .expect("first chunk streamed")
        .unwrap()
        .unwrap();
    assert_eq!(first.into_data().unwrap(), "first");
    b.gate.notify_one();
    let rest = tokio::time::timeout(PATIENCE, body.collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    assert_eq!(rest, "second");
}

#[tokio::test]
async fn request_bodies_stream_without_buffering() {
    let mut b = backend("v1").await;
    let addr = free_port();
    let (_dp, _) = start(snapshot(
        addr,
        vec![prefix("/", rule("s", vec![to("c", 1)]))],
        vec![cluster("c", Http1, &[b.addr])],
    ))
    .await;
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    let req = request(Method::POST, addr, "/upload")
        .body(StreamBody::new(stream).boxed())
        .unwrap();
    let client = http1();
    let pending = tokio::spawn(async move { send(&client, req).await });
    tx.send(Ok(Frame::data(Bytes::from_static(b"part one;"))))
        .await
        .unwrap();
    // The backend sees the first chunk while the client still holds the second.
    tokio::time::timeout(PATIENCE, b.upload_started.recv())
        .await
        .expect("first chunk relayed")
        .unwrap();
    tx.send(Ok(Frame::data(Bytes::from_static(b"part two")))).await.unwrap();
    drop(tx);
    let (status, _, bytes) = pending.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echo(&bytes)["body_len"], 17);
}

#[tokio::test]
async fn websocket_upgrades_are_tunnelled_both_ways() {
    let b = backend("ws").await;
    let addr = free_port();
    let (_dp, _) = start(snapshot(
        addr,
        vec![prefix("/", rule("ws", vec![to("c", 1)]))],
        vec![cluster("c", WebSocket, &[b.addr])],
    ))
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tokio::time::timeout(PATIENCE, stream.read_exact(&mut byte))
            .await
            .unwrap()
            .unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    for message in [&b"Websocket Support!"[..], &[0u8, 1, 2, 3, 4, 5, 6][..]] {
        stream.write_all(message).await.unwrap();
        let mut echoed = vec![0u8; message.len()];
        tokio::time::timeout(PATIENCE, stream.read_exact(&mut echoed))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(echoed, message);
    }
}

async fn h2_request(addr: std::net::SocketAddr, uri: &str) -> (StatusCode, serde_json::Value) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get(uri).body(empty()).unwrap();
    let response = tokio::time::timeout(PATIENCE, sender.send_request(req))
        .await
        .unwrap()
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, echo(&bytes))
}

#[tokio::test]
async fn h2c_clients_reach_h2c_and_http1_backends() {
    let b = backend("v1").await;
    let addr = free_port();
    let routes = vec![
        prefix("/h2", rule("h2", vec![to("h2", 1)])),
        prefix("/h1", rule("h1", vec![to("h1", 1)])),
    ];
    let clusters = vec![cluster("h2", H2c, &[b.addr]), cluster("h1", Http1, &[b.addr])];
    let (_dp, _) = start(snapshot(addr, routes, clusters)).await;

    let (status, e) = h2_request(addr, "http://h2.example:8443/h2/x?y=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(e["version"], "HTTP/2.0");
    assert_eq!(e["authority"], "h2.example:8443");
    assert_eq!(e["uri"], "http://h2.example:8443/h2/x?y=1");

    let (status, e) = h2_request(addr, "http://h2.example:8443/h1/x?y=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(e["version"], "HTTP/1.1");
    assert_eq!(e["host"], "h2.example:8443");
    assert_eq!(e["uri"], "/h1/x?y=1");

    // The pooled h2c client also serves HTTP/1.1 clients.
    let req = request(Method::GET, addr, "/h2/y")
        .header(header::HOST, "one.example")
        .body(empty())
        .unwrap();
    let (status, _, bytes) = send(&http1(), req).await;
    assert_eq!(status, StatusCode::OK);
    let e = echo(&bytes);
    assert_eq!(
        (e["version"].as_str(), e["authority"].as_str()),
        (Some("HTTP/2.0"), Some("one.example"))
    );

    let (status, _, _) = send(&h2c(), request(Method::GET, addr, "/h2/z").body(empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
}
