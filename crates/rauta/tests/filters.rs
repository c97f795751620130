//! HTTPRoute filters through the real binary: headers, redirects, rewrites, mirrors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use http::Method;
use support::{Backend, Rauta, free_port, gateway_yaml, service_yaml};

const ROUTES: &str = r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: filters, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /headers}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: X-Set, value: set-value}]
        add: [{name: X-Add, value: added}]
        remove: [X-Remove]
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set: [{name: X-Response-Set, value: from-gateway}]
        add: [{name: X-Response-Add, value: more}]
    backendRefs: [{name: main, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /redirect-scheme}}]
    filters:
    - {type: RequestRedirect, requestRedirect: {scheme: https}}
  - matches: [{path: {type: PathPrefix, value: /redirect-host}}]
    filters:
    - {type: RequestRedirect, requestRedirect: {hostname: elsewhere.test, statusCode: 301}}
  - matches: [{path: {type: PathPrefix, value: /redirect-port}}]
    filters:
    - {type: RequestRedirect, requestRedirect: {port: 8443}}
  - matches: [{path: {type: PathPrefix, value: /redirect-full}}]
    filters:
    - {type: RequestRedirect, requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /new}}}
  - matches: [{path: {type: PathPrefix, value: /redirect-prefix}}]
    filters:
    - {type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /moved}}}
  - matches: [{path: {type: PathPrefix, value: /rewrite-prefix}}]
    filters:
    - {type: URLRewrite, urlRewrite: {hostname: rewritten.test, path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}}
    backendRefs: [{name: main, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /strip}}]
    filters:
    - {type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}}
    backendRefs: [{name: main, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /rewrite-full}}]
    filters:
    - {type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /full}}}
    backendRefs: [{name: main, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /mirror}}]
    filters:
    - type: RequestMirror
      requestMirror: {backendRef: {name: mirror, port: 80}}
    backendRefs: [{name: main, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /sampled}}]
    filters:
    - type: RequestMirror
      requestMirror: {backendRef: {name: mirror, port: 80}, percent: 50}
    - type: RequestMirror
      requestMirror: {backendRef: {name: mirror2, port: 80}, fraction: {numerator: 0}}
    backendRefs: [{name: main, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /per-backend}}]
    backendRefs:
    - name: main
      port: 80
      filters:
      - type: RequestHeaderModifier
        requestHeaderModifier: {add: [{name: X-Backend, value: main}]}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_redirect_rewrite_and_mirror_filters() {
    let port = free_port();
    let main = Backend::start("main", "main").await;
    let mirror = Backend::start("mirror", "mirror").await;
    let mirror2 = Backend::start("mirror2", "mirror2").await;
    let yaml = format!(
        "{}{}{}{}{ROUTES}",
        gateway_yaml(port),
        service_yaml("main", main.addr, None),
        service_yaml("mirror", mirror.addr, None),
        service_yaml("mirror2", mirror2.addr, None)
    );
    let rauta = Rauta::start(&yaml).await;

    // Request and response header modifiers.
    let reply = rauta
        .request(
            port,
            Method::GET,
            "h.test",
            "/headers",
            &[("x-set", "client"), ("x-add", "client"), ("x-remove", "gone")],
        )
        .await;
    assert_eq!(reply.status, 200);
    let headers = reply.json()["headers"].clone();
    assert_eq!(headers["X-Set"], serde_json::json!(["set-value"]));
    let added: Vec<String> = headers["X-Add"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(added.join(","), "client,added");
    assert!(headers.get("X-Remove").is_none(), "{headers:#}");
    assert_eq!(reply.headers["x-response-set"], "from-gateway");
    assert_eq!(reply.headers["x-response-add"], "more");

    // Redirects: status, scheme, host, port and path rules.
    let location = |reply: &support::Reply| reply.headers["location"].to_str().unwrap().to_owned();
    let r = rauta.get(port, "r.test", "/redirect-scheme/x?q=1").await;
    assert_eq!(r.status, 302);
    assert_eq!(
        location(&r),
        "https://r.test/redirect-scheme/x?q=1",
        "scheme set: well-known port, omitted"
    );
    let r = rauta.get(port, "r.test:9999", "/redirect-host").await;
    assert_eq!(r.status, 301);
    assert_eq!(
        location(&r),
        format!("http://elsewhere.test:{port}/redirect-host"),
        "no scheme: listener port"
    );
    let r = rauta.get(port, "r.test", "/redirect-port").await;
    assert_eq!(location(&r), "http://r.test:8443/redirect-port");
    let r = rauta.get(port, "r.test", "/redirect-full/deep").await;
    assert_eq!(location(&r), format!("http://r.test:{port}/new"));
    let r = rauta.get(port, "r.test", "/redirect-prefix/deep").await;
    assert_eq!(location(&r), format!("http://r.test:{port}/moved/deep"));

    // Rewrites: host and path, query kept.
    let reply = rauta.get(port, "orig.test", "/rewrite-prefix/users?id=7").await;
    let json = reply.json();
    assert_eq!(json["path"], "/v2/users?id=7");
    assert_eq!(json["host"], "rewritten.test");
    assert_eq!(rauta.get(port, "orig.test", "/strip").await.json()["path"], "/");
    assert_eq!(
        rauta.get(port, "orig.test", "/strip/three").await.json()["path"],
        "/three"
    );
    let reply = rauta.get(port, "orig.test", "/rewrite-full/a/b").await;
    assert_eq!(reply.json()["path"], "/full");
    assert_eq!(
        reply.json()["host"],
        "orig.test",
        "host unchanged without a hostname rewrite"
    );

    // Per-backend filters apply when that backend is chosen.
    assert_eq!(
        rauta
            .get(port, "b.test", "/per-backend")
            .await
            .echoed_header("x-backend")
            .as_deref(),
        Some("main")
    );

    // Mirror: the main backend answers, the mirror gets a copy.
    let reply = rauta.get(port, "m.test", "/mirror/copy?n=1").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["pod"], "main");
    rauta
        .eventually("the mirror backend got the copy", || {
            let seen = mirror.paths().contains(&"/mirror/copy?n=1".to_owned());
            async move { seen }
        })
        .await;
    assert!(main.paths().contains(&"/mirror/copy?n=1".to_owned()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        mirror.paths().iter().filter(|p| p.starts_with("/mirror")).count(),
        1,
        "one copy per request"
    );

    // Sampled mirrors: percent 50 mirrors about half (bounds: seven standard deviations), a zero
    // fraction never mirrors.
    for i in 0..200 {
        assert_eq!(rauta.get(port, "m.test", &format!("/sampled/{i}")).await.status, 200);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sampled = mirror.paths().iter().filter(|p| p.starts_with("/sampled")).count();
    assert!((51..=149).contains(&sampled), "percent 50 mirrored {sampled} of 200");
    assert_eq!(mirror2.paths().len(), 0, "fraction 0 never mirrors");
}
