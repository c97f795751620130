//! HTTP mode: the echo JSON, h2c, bodies, delays, response headers, routes, logging.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use rauta_echo::{ConnectionInfo, EchoConfig, EchoServer, ResetHandle, RouteKind, TlsInfo};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Answer, get, identity, recording_config, send_h1, send_h2c, start, start_http};

#[tokio::test]
async fn http1_echo_describes_the_request_like_echo_basic() {
    let server = start(EchoConfig::new(identity("infra-backend-v1-abc-123"))).await;
    let req = Request::get("/some/path?x=1&y=two")
        .header("host", "example.com")
        .header("x-forwarded-for", "10.0.0.1")
        .header("x-multi", "a")
        .header("x-multi", "b")
        .header("x-echo-set-header", "")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = send_h1(server.addr, req).await.unwrap();

    assert_eq!(answer.status(), 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    let body = answer.json();
    let port = server.addr.port().to_string();
    assert_eq!(
        body,
        json!({
            "path": "/some/path?x=1&y=two",
            "host": "example.com",
            "method": "GET",
            "proto": "HTTP/1.1",
            "headers": {
                "X-Forwarded-For": ["10.0.0.1"],
                "X-Multi": ["a", "b"],
                "X-Echo-Set-Header": [""],
            },
            "httpPort": port,
            "namespace": "gateway-conformance-infra",
            "ingress": "",
            "service": "infra-backend-v1",
            "pod": "infra-backend-v1-abc-123",
            "bodyLength": 0,
        })
    );
    // Go's MarshalIndent(v, "", " ") layout, field order included.
    let text = std::str::from_utf8(&answer.body).unwrap();
    assert!(
        text.starts_with("{\n \"path\": \"/some/path?x=1\\u0026y=two\",\n \"host\""),
        "{text}"
    );
    assert!(text.ends_with("\"bodyLength\": 0\n}"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn h2c_prior_knowledge_is_served_on_the_same_port() {
    let server = start(EchoConfig::new(identity("pod-h2"))).await;
    let req = Request::post("http://gateway.example:8080/h2/path?q=1")
        .header("x-header", "v")
        .body(Full::new(Bytes::from_static(b"hello")))
        .unwrap();
    let body = send_h2c(server.addr, req).await.unwrap().json();
    assert_eq!(body["proto"], "HTTP/2.0");
    assert_eq!(body["path"], "/h2/path?q=1");
    assert_eq!(body["host"], "gateway.example:8080");
    assert_eq!(body["method"], "POST");
    assert_eq!(body["headers"]["X-Header"], json!(["v"]));
    assert_eq!(body["bodyLength"], 5);
    assert_eq!(body["pod"], "pod-h2");
    // HTTP/1 still works on the very same listener.
    let body = send_h1(server.addr, get("/", "h1")).await.unwrap().json();
    assert_eq!(body["proto"], "HTTP/1.1");
    server.stop().await;
}

#[tokio::test]
async fn body_length_counts_large_bodies_over_both_protocols() {
    let server = start(EchoConfig::default()).await;
    let big = Bytes::from(vec![b'x'; 3 * 1024 * 1024 + 7]);
    let req = Request::put("/upload")
        .header("host", "h")
        .body(Full::new(big.clone()))
        .unwrap();
    let body = send_h1(server.addr, req).await.unwrap().json();
    assert_eq!(body["bodyLength"], 3 * 1024 * 1024 + 7);
    assert_eq!(body["headers"]["Content-Length"], json!(["3145735"]));

    let req = Request::put("http://h/upload").body(Full::new(big)).unwrap();
    let body = send_h2c(server.addr, req).await.unwrap().json();
    assert_eq!(body["bodyLength"], 3 * 1024 * 1024 + 7);
    server.stop().await;
}

#[tokio::test]
async fn chunked_bodies_are_counted_and_framing_headers_hidden() {
    let server = start(EchoConfig::default()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            b"POST /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
              5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    // Header names go out in Go's canonical casing.
    assert!(head.contains("\r\nContent-Type: application/json"), "{head}");
    assert!(head.contains("\r\nX-Content-Type-Options: nosniff"), "{head}");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["bodyLength"], 11);
    assert!(body["headers"].get("Transfer-Encoding").is_none());
    assert_eq!(body["headers"]["Connection"], json!(["close"]));
    server.stop().await;
}

#[tokio::test]
async fn delay_query_waits_before_answering() {
    let server = start(EchoConfig::default()).await;
    let started = Instant::now();
    let answer = send_h1(server.addr, get("/slow?delay=300ms", "h")).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(answer.json()["path"], "/slow?delay=300ms");

    let started = Instant::now();
    send_h1(server.addr, get("/fast?delay=", "h")).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(300));

    let answer = send_h1(server.addr, get("/bad?delay=soon", "h")).await.unwrap();
    assert_eq!(answer.status(), 500);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.json(), json!({"message": "time: invalid duration \"soon\""}));
    server.stop().await;
}

#[tokio::test]
async fn echo_set_header_sets_response_headers() {
    let server = start(EchoConfig::default()).await;
    let req = Request::get("/")
        .header("host", "h")
        .header("x-echo-set-header", "X-Header-Set-1:one, X-Header-Set-2: two")
        .header("x-echo-set-header", "X-Header-Set-1:uno")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = send_h1(server.addr, req).await.unwrap();
    assert_eq!(answer.header("x-header-set-1"), Some("one,uno"));
    assert_eq!(answer.header("x-header-set-2"), Some("two"));

    let req = Request::get("http://h/")
        .header("x-echo-set-header", "X-Over-H2:yes")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = send_h2c(server.addr, req).await.unwrap();
    assert_eq!(answer.header("x-over-h2"), Some("yes"));
    server.stop().await;
}

#[tokio::test]
async fn health_status_and_slash_folding_routes() {
    let server = start(EchoConfig::default()).await;
    let check = |answer: Answer, status: u16, body: &str| {
        assert_eq!(answer.status(), status);
        assert_eq!(std::str::from_utf8(&answer.body).unwrap(), body);
    };
    check(send_h1(server.addr, get("/health", "h")).await.unwrap(), 200, "OK");
    check(send_h1(server.addr, get("//health", "h")).await.unwrap(), 200, "OK");
    check(send_h1(server.addr, get("/status/503", "h")).await.unwrap(), 503, "");
    check(send_h1(server.addr, get("/status/418", "h")).await.unwrap(), 418, "");
    check(send_h1(server.addr, get("/status/5033", "h")).await.unwrap(), 400, "");
    check(
        send_h1(server.addr, get("/status/503?x=1", "h")).await.unwrap(),
        400,
        "",
    );
    // A path that merely starts like a route is echoed, with the path as sent.
    let answer = send_h1(server.addr, get("/healthz//x", "h")).await.unwrap();
    assert_eq!(answer.json()["path"], "/healthz//x");
    server.stop().await;
}

#[tokio::test]
async fn every_request_is_logged_with_echo_basics_line() {
    let (config, records) = recording_config("pod-log");
    let server = start(config).await;
    let uri = "/mirror?gateway-api-conformance-request-id=4f1c";
    send_h1(server.addr, get(uri, "mirror.example")).await.unwrap();
    send_h1(server.addr, get("/health", "h")).await.unwrap();

    let records = records.lock().unwrap().clone();
    assert_eq!(records.len(), 2);
    let echo = &records[0];
    assert_eq!(echo.route, RouteKind::Echo);
    assert_eq!(echo.method, "GET");
    assert_eq!(echo.uri, uri);
    assert_eq!(echo.host, "mirror.example");
    assert_eq!(echo.proto, "HTTP/1.1");
    assert_eq!(echo.client.ip().to_string(), "127.0.0.1");
    assert_eq!(
        echo.echo_line(),
        format!("Echoing back request made to {uri} to client ({})", echo.client)
    );
    assert_eq!(records[1].route, RouteKind::Health);
    server.stop().await;
}

#[tokio::test]
async fn strict_h2c_listener_refuses_plain_http1() {
    let config = EchoConfig {
        strict_h2c: true,
        ..EchoConfig::new(identity("pod-h2c"))
    };
    let server = start(config).await;
    let answer = send_h1(server.addr, get("/", "h")).await.unwrap();
    assert_eq!(answer.status(), 400);
    assert_eq!(&answer.body[..], b"Expected h2c request");

    let req = Request::get("/upgrade")
        .header("host", "h")
        .header("upgrade", "h2c")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let body = send_h1(server.addr, req).await.unwrap().json();
    assert_eq!(body["proto"], "HTTP/1.1");

    // No routes on this listener: /health is echoed too.
    let answer = send_h2c(
        server.addr,
        Request::get("http://h/health").body(Full::default()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(answer.json()["proto"], "HTTP/2.0");
    server.stop().await;
}

#[tokio::test]
async fn many_servers_share_a_process_and_stop_cleanly() {
    let mut servers = Vec::new();
    for pod in ["v1-a-1", "v2-b-2", "v3-c-3"] {
        servers.push((pod, start(EchoConfig::new(identity(pod))).await));
    }
    for (pod, server) in &servers {
        let body = send_h1(server.addr, get("/", "h")).await.unwrap().json();
        assert_eq!(body["pod"], *pod);
    }
    // An advertised port overrides the listener's own in `httpPort`.
    let advertised = EchoConfig {
        port: Some("3000".into()),
        ..EchoConfig::default()
    };
    let server = start_http(EchoServer::new(advertised)).await;
    let body = send_h1(server.addr, get("/", "h")).await.unwrap().json();
    assert_eq!(body["httpPort"], "3000");

    for (_, server) in servers {
        let addr = server.addr;
        server.stop().await;
        assert!(TcpStream::connect(addr).await.is_err(), "{addr} still accepts");
    }
    server.stop().await;
}

#[tokio::test]
async fn shutdown_waits_for_in_flight_requests_only_briefly() {
    let server = start(EchoConfig::default()).await;
    let addr = server.addr;
    let slow = tokio::spawn(async move { send_h1(addr, get("/?delay=200ms", "h")).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    server.stop().await;
    // The in-flight request finishes during the grace period.
    assert_eq!(slow.await.unwrap().unwrap().status(), 200);
    assert!(started.elapsed() < Duration::from_secs(1));

    let server = start(EchoConfig::default()).await;
    let addr = server.addr;
    let stuck = tokio::spawn(async move { send_h1(addr, get("/?delay=1h", "h")).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    server.stop().await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(stuck.await.unwrap().is_err());
}

/// Accepts one connection on a fresh listener and hands it to `serve_connection`.
async fn serve_one(
    server: EchoServer,
    info: impl FnOnce(&TcpStream, std::net::SocketAddr) -> ConnectionInfo + Send + 'static,
) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, client) = listener.accept().await.unwrap();
        let info = info(&stream, client);
        server.serve_connection(stream, info).await;
    });
    addr
}

#[tokio::test]
async fn caller_accepted_connections_report_their_tls_facts() {
    let tls = TlsInfo {
        version: "TLSv1.3".into(),
        peer_certificates: vec![],
        server_name: "abc.example.com".into(),
        negotiated_protocol: "http/1.1".into(),
        cipher_suite: "TLS_AES_128_GCM_SHA256".into(),
    };
    let server = EchoServer::new(EchoConfig {
        port: Some("8443".into()),
        ..EchoConfig::new(identity("tls-backend-1"))
    });
    let addr = serve_one(server, move |_, client| ConnectionInfo {
        client,
        tls: Some(tls),
        reset: None,
    })
    .await;
    let body = send_h1(addr, get("/secure", "abc.example.com")).await.unwrap().json();
    assert_eq!(
        body["tls"],
        json!({
            "version": "TLSv1.3",
            "serverName": "abc.example.com",
            "negotiatedProtocol": "http/1.1",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
        })
    );
    assert_eq!(body["httpPort"], "8443");
    assert_eq!(body["pod"], "tls-backend-1");
}

#[tokio::test]
async fn caller_accepted_connections_reset_only_with_a_reset_handle() {
    let server = EchoServer::new(EchoConfig::default());
    let target = "/retry/r?uuid=x&succeedAfter=5";

    let addr = serve_one(server.clone(), |stream, client| ConnectionInfo {
        client,
        tls: None,
        reset: Some(ResetHandle::new(stream).unwrap()),
    })
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let error = stream.read_to_end(&mut raw).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);

    let addr = serve_one(server, |_, client| ConnectionInfo {
        client,
        tls: None,
        reset: None,
    })
    .await;
    let answer = send_h1(addr, get(target, "h")).await.unwrap();
    assert_eq!(answer.status(), 500);
    assert_eq!(answer.json()["message"], "connection cannot be reset");
}
