//! Backends through the real binary: weights, error statuses, forwarding headers, bodies,
//! WebSocket and HTTP/2.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Method, Request};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::{Backend, Rauta, free_port, gateway_yaml, http_route_rule as route, service_yaml};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_split_traffic_and_weight_zero_gets_none() {
    let port = free_port();
    let (a, b, c) = (
        Backend::start("a", "a").await,
        Backend::start("b", "b").await,
        Backend::start("c", "c").await,
    );
    let yaml = format!(
        "{}{}{}{}{}",
        gateway_yaml(port),
        service_yaml("a", a.addr, None),
        service_yaml("b", b.addr, None),
        service_yaml("c", c.addr, None),
        route(
            "split",
            "/",
            "    backendRefs:\n    - {name: a, port: 80, weight: 3}\n    - {name: b, port: 80, weight: 1}\n    - {name: c, port: 80, weight: 0}"
        )
    );
    let rauta = Rauta::start(&yaml).await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..400 {
        let reply = rauta.get(port, "w.test", "/").await;
        *counts
            .entry(reply.json()["pod"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    // Expected 300/100/0; the bounds are seven standard deviations wide.
    let a = counts.get("a").copied().unwrap_or(0);
    assert!((240..=360).contains(&a), "{counts:?}");
    assert_eq!(counts.get("c"), None, "weight 0 never chosen: {counts:?}");
    assert_eq!(counts.values().sum::<usize>(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_status_and_its_reason() {
    let port = free_port();
    let slow = Backend::start("slow", "slow").await;
    let closed = free_port();
    let yaml = format!(
        r#"{gw}{slow}
---
apiVersion: v1
kind: Service
metadata: {{name: empty, namespace: default}}
spec: {{ports: [{{name: http, port: 80}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: empty, namespace: default, labels: {{kubernetes.io/service-name: empty}}}}
addressType: IPv4
ports: [{{name: http, port: 80}}]
endpoints:
- addresses: ["127.0.0.1"]
  conditions: {{ready: false}}
{closed}{r500}{r500b}{r503}{r502}{r504}{r504b}"#,
        gw = gateway_yaml(port),
        slow = service_yaml("slow", slow.addr, None),
        closed = service_yaml("closed", format!("127.0.0.1:{closed}").parse().unwrap(), None),
        r500 = route(
            "missing",
            "/missing",
            "    backendRefs: [{name: does-not-exist, port: 80}]"
        ),
        r500b = route("nothing", "/nothing", ""),
        r503 = route("empty", "/empty", "    backendRefs: [{name: empty, port: 80}]"),
        r502 = route("closed", "/closed", "    backendRefs: [{name: closed, port: 80}]"),
        r504 = route(
            "slow",
            "/slow",
            "    timeouts: {request: 300ms}\n    backendRefs: [{name: slow, port: 80}]"
        ),
        r504b = route(
            "slow-try",
            "/try",
            "    timeouts: {request: 5s, backendRequest: 300ms}\n    backendRefs: [{name: slow, port: 80}]"
        ),
    );
    let rauta = Rauta::start(&yaml).await;
    assert_eq!(rauta.get(port, "e.test", "/no-route").await.status, 404);
    assert_eq!(rauta.get(port, "e.test", "/missing").await.status, 500);
    assert_eq!(rauta.get(port, "e.test", "/nothing").await.status, 500);
    assert_eq!(rauta.get(port, "e.test", "/empty").await.status, 503);
    assert_eq!(rauta.get(port, "e.test", "/closed").await.status, 502);
    assert_eq!(rauta.get(port, "e.test", "/slow?delay=3s").await.status, 504);
    assert_eq!(rauta.get(port, "e.test", "/try?delay=3s").await.status, 504);
    assert_eq!(
        rauta.get(port, "e.test", "/slow?delay=10ms").await.status,
        200,
        "within the timeout"
    );

    // The route with the missing backend is Accepted but not ResolvedRefs.
    let missing = rauta.status_of("HTTPRoute", "missing").await;
    let conditions = missing["status"]["parents"][0]["conditions"]
        .as_array()
        .unwrap()
        .clone();
    let find = |t: &str| conditions.iter().find(|c| c["type"] == t).cloned().unwrap();
    assert_eq!(find("Accepted")["status"], "True");
    assert_eq!(find("ResolvedRefs")["status"], "False");
    assert_eq!(find("ResolvedRefs")["reason"], "BackendNotFound");

    // Every locally generated error is in the access log with a reason.
    rauta
        .eventually("access log lines for the errors", || {
            let lines = rauta.stdout.lock().unwrap().clone();
            let statuses: Vec<u64> = lines
                .iter()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| v.get("reason").is_some_and(|r| !r.is_null()))
                .filter_map(|v| v["status"].as_u64())
                .collect();
            let ok = [404, 500, 503, 502, 504].iter().all(|s| statuses.contains(s));
            async move { ok }
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_request_ids_and_streamed_bodies() {
    let port = free_port();
    let echo = Backend::start("echo", "echo").await;
    let yaml = format!(
        "{}{}{}",
        gateway_yaml(port),
        service_yaml("echo", echo.addr, None),
        route("all", "/", "    backendRefs: [{name: echo, port: 80}]")
    );
    let rauta = Rauta::start(&yaml).await;

    let reply = rauta.get(port, "app.test", "/fwd").await;
    assert_eq!(reply.echoed_header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(reply.echoed_header("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(reply.echoed_header("x-forwarded-host").as_deref(), Some("app.test"));
    let generated = reply.echoed_header("x-request-id").expect("a request id is generated");
    assert!(generated.len() >= 16, "{generated}");
    let reply = rauta
        .request(
            port,
            Method::GET,
            "app.test",
            "/fwd",
            &[("x-request-id", "client-chosen-id")],
        )
        .await;
    assert_eq!(reply.echoed_header("x-request-id").as_deref(), Some("client-chosen-id"));
    rauta
        .eventually("the access log names the request id", || {
            let seen = rauta
                .stdout
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains("client-chosen-id"));
            async move { seen }
        })
        .await;

    // Hop-by-hop headers stay on their hop.
    let reply = rauta
        .request(
            port,
            Method::GET,
            "app.test",
            "/hop",
            &[("connection", "x-hop"), ("x-hop", "1")],
        )
        .await;
    assert_eq!(reply.echoed_header("x-hop"), None);

    // A 1 MiB body reaches the backend whole.
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let body = Bytes::from(vec![b'x'; 1 << 20]);
    let req = Request::post(format!("http://127.0.0.1:{port}/upload"))
        .header("host", "app.test")
        .body(Full::new(body))
        .unwrap();
    let reply = support::send(&client, req).await.unwrap();
    assert_eq!(reply.json()["bodyLength"], 1 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_both_sides_and_websocket_upgrades() {
    let port = free_port();
    let h1 = Backend::start("h1", "h1").await;
    let h2 = Backend::start("h2", "h2").await;
    let ws = Backend::start("ws", "ws").await;
    let yaml = format!(
        "{}{}{}{}{}{}{}",
        gateway_yaml(port),
        service_yaml("h1", h1.addr, None),
        service_yaml("h2", h2.addr, Some("kubernetes.io/h2c")),
        service_yaml("ws", ws.addr, Some("kubernetes.io/ws")),
        route("h1", "/h1", "    backendRefs: [{name: h1, port: 80}]"),
        route("h2", "/h2", "    backendRefs: [{name: h2, port: 80}]"),
        route("ws", "/ws", "    backendRefs: [{name: ws, port: 80}]")
    );
    let rauta = Rauta::start(&yaml).await;

    // h2c prior knowledge downstream; HTTP/1.1 or h2c upstream by appProtocol.
    let h2_client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    for (path, proto) in [("/h1", "HTTP/1.1"), ("/h2", "HTTP/2.0")] {
        let req = Request::get(format!("http://127.0.0.1:{port}{path}"))
            .version(http::Version::HTTP_2)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let reply = support::send(&h2_client, req)
            .await
            .unwrap_or_else(|e| panic!("{e}: {}", rauta.stderr_text()));
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json()["proto"], proto, "{path}");
        assert_eq!(
            reply.json()["host"],
            format!("127.0.0.1:{port}"),
            "the :authority is the host"
        );
    }

    // WebSocket through the gateway to the echo backend's /ws.
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut socket, response) = tokio_tungstenite::client_async(format!("ws://ws.test:{port}/ws"), stream)
        .await
        .unwrap_or_else(|e| panic!("websocket handshake: {e}; {}", rauta.stderr_text()));
    assert_eq!(response.status(), 101);
    socket.send(Message::Text("hello through rauta".into())).await.unwrap();
    let echoed = socket.next().await.unwrap().unwrap();
    assert_eq!(echoed.into_text().unwrap().as_str(), "hello through rauta");
}
