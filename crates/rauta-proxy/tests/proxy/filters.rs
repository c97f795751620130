//! Filters end to end: redirects, header modifiers, rewrites, CORS and mirrors.

use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use rauta_ir::UpstreamProtocol::Http1;
use rauta_ir::{
    BackendTarget, ClusterKey, Cors, Filter, Fraction, HeaderModifier, Mirror, PathModifier, Redirect, Rewrite,
};

use super::support::*;

fn n(s: &str) -> HeaderName {
    HeaderName::from_bytes(s.as_bytes()).unwrap()
}

fn v(s: &'static str) -> HeaderValue {
    HeaderValue::from_static(s)
}

#[tokio::test]
async fn redirects_answer_locally_with_a_location() {
    let addr = free_port();
    let redirect = Filter::Redirect(Redirect {
        scheme: None,
        hostname: Some("example.org".into()),
        path: Some(PathModifier::ReplacePrefixMatch("/new".into())),
        port: None,
        status: 301,
    });
    let r = with_filters(rule("redir", vec![]), vec![redirect]);
    let (_dp, _) = start(snapshot(addr, vec![prefix("/old", r)], vec![])).await;
    let (status, headers, _) = get(addr, "gw.example", "/old/x?q=1").await;
    assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        headers[header::LOCATION],
        format!("http://example.org:{}/new/x?q=1", addr.port())
    );
}

#[tokio::test]
async fn header_modifiers_and_rewrites_reach_the_backend() {
    let b = backend("v1").await;
    let addr = free_port();
    let filters = vec![
        Filter::RequestHeaders(HeaderModifier {
            set: vec![(n("X-Header-Set"), v("set-overwrites-values"))],
            add: vec![(n("X-Header-Add-Append"), v("header-val-2"))],
            remove: vec![n("X-Header-Remove")],
        }),
        Filter::Rewrite(Rewrite {
            hostname: Some("rewritten.example".into()),
            path: Some(PathModifier::ReplacePrefixMatch("/".into())),
        }),
        Filter::ResponseHeaders(HeaderModifier {
            set: vec![(n("X-Response-Set"), v("set"))],
            add: vec![(n("X-Backend"), v("added"))],
            remove: vec![n("Content-Type")],
        }),
    ];
    let mut backend_ref = to("c", 1);
    backend_ref.filters = vec![Filter::RequestHeaders(HeaderModifier {
        set: vec![(n("Backend"), v("v1"))],
        ..Default::default()
    })];
    let r = with_filters(rule("mod", vec![backend_ref]), filters);
    let (_dp, _) = start(snapshot(
        addr,
        vec![prefix("/strip", r)],
        vec![cluster("c", Http1, &[b.addr])],
    ))
    .await;

    let req = request(Method::GET, addr, "/strip/three?x=1")
        .header(header::HOST, "orig.example")
        .header("x-header-set", "old")
        .header("x-header-add-append", "append-val-1")
        .header("x-header-remove", "gone")
        .body(empty())
        .unwrap();
    let (status, headers, bytes) = send(&http1(), req).await;
    assert_eq!(status, StatusCode::OK);
    let e = echo(&bytes);
    assert_eq!(e["uri"], "/three?x=1");
    assert_eq!(e["host"], "rewritten.example");
    assert_eq!(seen_header(&e, "x-forwarded-host").as_deref(), Some("orig.example"));
    assert_eq!(
        seen_header(&e, "x-header-set").as_deref(),
        Some("set-overwrites-values")
    );
    assert_eq!(
        seen_header(&e, "x-header-add-append").as_deref(),
        Some("append-val-1,header-val-2")
    );
    assert_eq!(seen_header(&e, "x-header-remove"), None);
    assert_eq!(seen_header(&e, "backend").as_deref(), Some("v1"));
    assert_eq!(headers["x-response-set"], "set");
    let backend_values: Vec<&str> = headers
        .get_all("x-backend")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(backend_values, vec!["v1", "added"]);
    assert!(headers.get(header::CONTENT_TYPE).is_none());
}

#[tokio::test]
async fn cors_preflights_are_answered_by_the_gateway() {
    let mut b = backend("v1").await;
    let addr = free_port();
    let cors = Filter::Cors(Cors {
        allow_origins: vec!["https://*.bar.com".into()],
        allow_methods: vec!["GET".into(), "OPTIONS".into()],
        allow_headers: vec!["x-header-1".into()],
        expose_headers: vec!["x-header-3".into()],
        max_age: Some(3600),
        allow_credentials: true,
    });
    let r = with_filters(rule("cors", vec![to("c", 1)]), vec![cors]);
    let (_dp, _) = start(snapshot(
        addr,
        vec![prefix("/", r)],
        vec![cluster("c", Http1, &[b.addr])],
    ))
    .await;

    let preflight = request(Method::OPTIONS, addr, "/cors")
        .header(header::ORIGIN, "https://xpto.www.bar.com")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .body(empty())
        .unwrap();
    let (status, headers, _) = send(&http1(), preflight).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://xpto.www.bar.com");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_METHODS], "GET,OPTIONS");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], "3600");
    assert!(b.seen.try_recv().is_err(), "the preflight never reaches the backend");

    let actual = request(Method::GET, addr, "/cors")
        .header(header::ORIGIN, "https://www.bar.com")
        .body(empty())
        .unwrap();
    let (status, headers, _) = send(&http1(), actual).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://www.bar.com");
    assert_eq!(headers[header::ACCESS_CONTROL_EXPOSE_HEADERS], "x-header-3");
    let other = request(Method::GET, addr, "/cors")
        .header(header::ORIGIN, "https://foobar.com")
        .body(empty())
        .unwrap();
    let (status, headers, _) = send(&http1(), other).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

#[tokio::test]
async fn mirrors_get_a_copy_after_earlier_filters() {
    let main = backend("main").await;
    let mut shadow = backend("shadow").await;
    let addr = free_port();
    let filters = vec![
        Filter::RequestHeaders(HeaderModifier {
            set: vec![(n("X-Before-Mirror"), v("yes"))],
            ..Default::default()
        }),
        Filter::Mirror(Mirror {
            target: BackendTarget::Cluster(ClusterKey("m".into())),
            fraction: Fraction::ALL,
        }),
        Filter::RequestHeaders(HeaderModifier {
            set: vec![(n("X-After-Mirror"), v("yes"))],
            ..Default::default()
        }),
    ];
    let r = with_filters(rule("mirror", vec![to("c", 1)]), filters);
    let clusters = vec![cluster("c", Http1, &[main.addr]), cluster("m", Http1, &[shadow.addr])];
    let (_dp, _) = start(snapshot(addr, vec![prefix("/", r)], clusters)).await;

    let (status, headers, _) = get(addr, "m.example", "/mirror?request-id=42").await;
    assert_eq!(
        (status, &headers["x-backend"]),
        (StatusCode::OK, &HeaderValue::from_static("main"))
    );
    let (method, uri, seen) = tokio::time::timeout(PATIENCE, shadow.seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((method, uri.as_str()), (Method::GET, "/mirror?request-id=42"));
    assert_eq!(seen["x-before-mirror"], "yes");
    assert!(seen.get("x-after-mirror").is_none());

    // A body is teed to the mirror while it streams to the main backend.
    let req = request(Method::POST, addr, "/upload").body(body("payload")).unwrap();
    let (status, _, bytes) = send(&http1(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echo(&bytes)["body_len"], 7);
    tokio::time::timeout(PATIENCE, shadow.upload_started.recv())
        .await
        .expect("mirror received the body")
        .unwrap();
}

#[tokio::test]
async fn a_dead_mirror_never_fails_the_request() {
    let main = backend("main").await;
    let addr = free_port();
    let mirror = Filter::Mirror(Mirror {
        target: BackendTarget::Cluster(ClusterKey("m".into())),
        fraction: Fraction::ALL,
    });
    let r = with_filters(rule("mirror", vec![to("c", 1)]), vec![mirror]);
    let clusters = vec![cluster("c", Http1, &[main.addr]), cluster("m", Http1, &[free_port()])];
    let (_dp, _) = start(snapshot(addr, vec![prefix("/", r)], clusters)).await;
    let req = request(Method::POST, addr, "/upload").body(body("payload")).unwrap();
    assert_eq!(send(&http1(), req).await.0, StatusCode::OK);
}
