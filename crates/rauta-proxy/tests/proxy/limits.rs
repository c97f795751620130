//! Downstream limits: idle timeout, connection limit, header size.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use rauta_ir::UpstreamProtocol::Http1;
use rauta_proxy::{Limits, ProxyConfig};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::support::*;

const GET: &str = "GET /status/204 HTTP/1.1\r\nHost: l.example\r\n\r\n";

async fn serve(limits: Limits) -> (rauta_proxy::DataPlane, std::net::SocketAddr) {
    let b = backend("v1").await;
    let addr = free_port();
    let snap = snapshot(
        addr,
        vec![prefix("/", rule("l", vec![to("c", 1)]))],
        vec![cluster("c", Http1, &[b.addr])],
    );
    let (dp, _) = start_with(
        ProxyConfig {
            access_log: false,
            limits,
            workers: Vec::new(),
        },
        snap,
    )
    .await;
    (dp, addr)
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let (_dp, addr) = serve(Limits {
        idle_timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let (head, _) = raw_exchange(&mut stream, GET).await;
    assert!(head.starts_with("HTTP/1.1 204"), "{head}");
    let idle_since = Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
        .await
        .expect("closed by the proxy")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(
        idle_since.elapsed() >= Duration::from_millis(250),
        "{:?}",
        idle_since.elapsed()
    );
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_slot() {
    let (_dp, addr) = serve(Limits {
        max_connections: 1,
        ..Limits::default()
    })
    .await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    raw_exchange(&mut first, GET).await;

    let mut second = TcpStream::connect(addr).await.unwrap();
    let waiting = tokio::spawn(async move { raw_exchange(&mut second, GET).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the second connection must wait while the first is open"
    );
    drop(first);
    let (head, _) = tokio::time::timeout(PATIENCE, waiting).await.unwrap().unwrap();
    assert!(head.starts_with("HTTP/1.1 204"), "{head}");
}

#[tokio::test]
async fn oversized_request_heads_get_431() {
    let (_dp, addr) = serve(Limits {
        max_header_bytes: 8 * 1024,
        ..Limits::default()
    })
    .await;
    let big = "x".repeat(20 * 1024);
    let req = request(Method::GET, addr, "/")
        .header("x-big", big)
        .body(empty())
        .unwrap();
    assert_eq!(send(&http1(), req).await.0, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let small = request(Method::GET, addr, "/")
        .header("x-small", "y")
        .body(empty())
        .unwrap();
    assert_eq!(send(&http1(), small).await.0, StatusCode::OK);
}
