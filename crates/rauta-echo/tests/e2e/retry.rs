//! The `/retry/…` simulator: status-code failures, TCP resets, delays, shared counters.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use rauta_echo::{EchoConfig, EchoServer, RouteKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{get, recording_config, send_h1, send_h2c, start, start_http};

#[tokio::test]
async fn fails_with_the_response_code_then_echoes() {
    let (config, records) = recording_config("infra-backend-v3-x-y");
    let server = start(config).await;
    let uri = "/retry/codes?uuid=u1&succeedAfter=2&responseCode=503";
    for _ in 0..2 {
        let answer = send_h1(server.addr, get(uri, "h")).await.unwrap();
        assert_eq!(answer.status(), 503);
        assert!(answer.body.is_empty());
    }
    let answer = send_h1(server.addr, get(uri, "h")).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json()["path"], uri);
    assert_eq!(answer.json()["pod"], "infra-backend-v3-x-y");
    // Another uuid has its own counter.
    let other = "/retry/codes?uuid=u2&succeedAfter=1&responseCode=500";
    assert_eq!(send_h1(server.addr, get(other, "h")).await.unwrap().status(), 500);

    let routes: Vec<RouteKind> = records.lock().unwrap().iter().map(|r| r.route).collect();
    use RouteKind::{Echo, RetryFailure};
    assert_eq!(routes, [RetryFailure, RetryFailure, Echo, RetryFailure]);
    server.stop().await;
}

#[tokio::test]
async fn missing_parameters_are_bad_requests() {
    let server = start(EchoConfig::default()).await;
    let answer = send_h1(server.addr, get("/retry/x?succeedAfter=1", "h")).await.unwrap();
    assert_eq!((answer.status(), &answer.body[..]), (400, &b"uuid is required"[..]));
    let answer = send_h1(server.addr, get("/retry/x?uuid=a&succeedAfter=two", "h"))
        .await
        .unwrap();
    assert_eq!(
        (answer.status(), &answer.body[..]),
        (400, &b"succeedAfter is required"[..])
    );
    server.stop().await;
}

/// Sends one raw HTTP/1.1 request and reads until the connection ends.
async fn raw_exchange(addr: SocketAddr, target: &str) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    Ok(raw)
}

#[tokio::test]
async fn without_response_code_the_connection_is_reset() {
    let server = start(EchoConfig::default()).await;
    let target = "/retry/reset?uuid=r1&succeedAfter=1";
    let error = raw_exchange(server.addr, target).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}");

    let raw = raw_exchange(server.addr, target).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");

    // The hyper client sees the reset as an error, not as a response.
    let error = send_h1(server.addr, get("/retry/reset?uuid=r2&succeedAfter=1", "h"))
        .await
        .err()
        .expect("a reset, not an answer");
    assert_eq!(io_error_kind(&error), Some(ErrorKind::ConnectionReset), "{error:?}");
    server.stop().await;
}

/// The kind of the I/O error somewhere in `error`'s source chain.
fn io_error_kind(error: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        current = error.source();
    }
    None
}

#[tokio::test]
async fn delay_retry_delays_only_failing_attempts() {
    let server = start(EchoConfig::default()).await;
    let uri = "/retry/slow?uuid=d1&succeedAfter=1&responseCode=500&delayRetry=250ms";
    let started = Instant::now();
    assert_eq!(send_h1(server.addr, get(uri, "h")).await.unwrap().status(), 500);
    assert!(started.elapsed() >= Duration::from_millis(250));
    let started = Instant::now();
    assert_eq!(send_h1(server.addr, get(uri, "h")).await.unwrap().status(), 200);
    assert!(started.elapsed() < Duration::from_millis(250));
    server.stop().await;
}

#[tokio::test]
async fn http2_cannot_be_reset_and_answers_500_like_echo_basic() {
    let server = start(EchoConfig::default()).await;
    let req = Request::get("http://h/retry/h2?uuid=h2&succeedAfter=1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = send_h2c(server.addr, req).await.unwrap();
    assert_eq!(answer.status(), 500);
    assert_eq!(answer.json()["message"], "response writer does not support hijacking");
    server.stop().await;
}

#[tokio::test]
async fn listeners_of_one_server_share_counters() {
    let server = EchoServer::new(EchoConfig::default());
    let first = start_http(server.clone()).await;
    let second = start_http(server).await;
    let uri = "/retry/shared?uuid=s1&succeedAfter=1&responseCode=502";
    assert_eq!(send_h1(first.addr, get(uri, "h")).await.unwrap().status(), 502);
    assert_eq!(send_h1(second.addr, get(uri, "h")).await.unwrap().status(), 200);
    first.stop().await;
    second.stop().await;
}
