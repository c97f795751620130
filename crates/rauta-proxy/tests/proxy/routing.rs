//! Proxying basics: what reaches the backend, what comes back, routing and metrics.

use http::{Method, StatusCode, header};
use prometheus_client::encoding::text::encode;
use rauta_ir::UpstreamProtocol::Http1;
use rauta_ir::route::HostnameMatch;

use super::support::*;

#[tokio::test]
async fn forwards_method_path_query_headers_and_body() {
    let b = backend("v1").await;
    let addr = free_port();
    let (_dp, registry) = start(snapshot(
        addr,
        vec![prefix("/", rule("web", vec![to("c", 1)]))],
        vec![cluster("c", Http1, &[b.addr])],
    ))
    .await;

    let req = request(Method::POST, addr, "/api/x?b=%20y&a=1&a=2")
        .header(header::HOST, "app.example:8080")
        .header("x-echo-set-header", "")
        .header("x-custom", "one")
        .header(header::CONNECTION, "x-hop")
        .header("x-hop", "secret")
        .header("x-forwarded-for", "203.0.113.9")
        .body(body("hello"))
        .unwrap();
    let (status, headers, bytes) = send(&http1(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-backend"], "v1");
    let e = echo(&bytes);
    assert_eq!(e["method"], "POST");
    assert_eq!(e["uri"], "/api/x?b=%20y&a=1&a=2");
    assert_eq!(e["host"], "app.example:8080");
    assert_eq!(e["body_len"], 5);
    assert_eq!(seen_header(&e, "x-echo-set-header").as_deref(), Some(""));
    assert_eq!(seen_header(&e, "x-custom").as_deref(), Some("one"));
    assert_eq!(
        seen_header(&e, "x-hop"),
        None,
        "headers named by Connection are hop-by-hop"
    );
    assert_eq!(
        seen_header(&e, "x-forwarded-for").as_deref(),
        Some("203.0.113.9, 127.0.0.1")
    );
    assert_eq!(seen_header(&e, "x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(seen_header(&e, "x-forwarded-host").as_deref(), Some("app.example:8080"));
    assert_eq!(seen_header(&e, "x-request-id").map(|id| id.len()), Some(32));

    let req = request(Method::GET, addr, "/")
        .header("x-request-id", "given-id")
        .body(empty())
        .unwrap();
    let (_, _, bytes) = send(&http1(), req).await;
    assert_eq!(seen_header(&echo(&bytes), "x-request-id").as_deref(), Some("given-id"));

    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(r#"rauta_requests_total{route="ns/web",method="POST",status_class="2xx"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"rauta_request_duration_seconds_count{route="ns/web"} 2"#),
        "{text}"
    );
}

#[tokio::test]
async fn unmatched_requests_get_404_and_listeners_do_not_fall_through() {
    let b = backend("v1").await;
    let addr = free_port();
    let exact = listener(
        "exact",
        HostnameMatch::parse("foo.example.com").unwrap(),
        addr.port(),
        vec![prefix("/only", rule("foo", vec![to("c", 1)]))],
    );
    let any = listener(
        "any",
        HostnameMatch::Any,
        addr.port(),
        vec![prefix("/", rule("any", vec![to("c", 1)]))],
    );
    let snap = std::sync::Arc::new(rauta_ir::Snapshot {
        binds: vec![bind(addr, vec![exact, any])],
        clusters: [(rauta_ir::ClusterKey("c".into()), cluster("c", Http1, &[b.addr]))].into(),
    });
    let (_dp, registry) = start(snap).await;

    assert_eq!(get(addr, "foo.example.com", "/only/x").await.0, StatusCode::OK);
    let (status, headers, bytes) = get(addr, "foo.example.com:80", "/other").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the exact listener owns the host: no fall-through"
    );
    assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(bytes, "no_route");
    assert_eq!(get(addr, "bar.example.com", "/other").await.0, StatusCode::OK);

    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(r#"rauta_requests_total{route="none",method="GET",status_class="4xx"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn weight_zero_backends_never_receive_traffic() {
    let (v1, v2) = (backend("v1").await, backend("v2").await);
    let addr = free_port();
    let r = rule("weights", vec![to("c1", 1), to("c2", 0)]);
    let clusters = vec![cluster("c1", Http1, &[v1.addr]), cluster("c2", Http1, &[v2.addr])];
    let (_dp, _) = start(snapshot(addr, vec![prefix("/", r)], clusters)).await;
    for _ in 0..20 {
        let (status, headers, _) = get(addr, "w.example", "/").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-backend"], "v1");
    }
}

#[tokio::test]
async fn endpoints_are_used_round_robin() {
    let (a, b) = (backend("a").await, backend("b").await);
    let addr = free_port();
    let (_dp, _) = start(snapshot(
        addr,
        vec![prefix("/", rule("rr", vec![to("c", 1)]))],
        vec![cluster("c", Http1, &[a.addr, b.addr])],
    ))
    .await;
    let mut names = Vec::new();
    for _ in 0..4 {
        let (_, headers, _) = get(addr, "rr.example", "/").await;
        names.push(headers["x-backend"].to_str().unwrap().to_owned());
    }
    names.sort();
    assert_eq!(names, vec!["a", "a", "b", "b"]);
}
