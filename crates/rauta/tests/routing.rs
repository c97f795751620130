//! Route matching through the real binary: every match kind, precedence, hostnames.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use http::Method;
use support::{Backend, Rauta, free_port, gateway_yaml, service_yaml};

const SERVICES: [&str; 11] = [
    "exact",
    "prefix",
    "regex",
    "header",
    "header-regex",
    "query",
    "method",
    "default",
    "older",
    "specific",
    "wildcard",
];

async fn backends() -> (Vec<Backend>, String) {
    let mut yaml = String::new();
    let mut all = Vec::new();
    for name in SERVICES {
        let b = Backend::start(name, name).await;
        yaml.push_str(&service_yaml(name, b.addr, None));
        all.push(b);
    }
    (all, yaml)
}

fn pod(reply: &support::Reply) -> String {
    assert_eq!(reply.status, 200, "body: {:?}", reply.body);
    reply.json()["pod"].as_str().unwrap_or_default().to_owned()
}

const ROUTES: &str = r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: matches, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: Exact, value: /exact}}]
    backendRefs: [{name: exact, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /prefix}}]
    backendRefs: [{name: prefix, port: 80}]
  - matches: [{path: {type: RegularExpression, value: "/regex/[0-9]+"}}]
    backendRefs: [{name: regex, port: 80}]
  - matches: [{headers: [{name: X-Version, value: v2}]}]
    backendRefs: [{name: header, port: 80}]
  - matches: [{headers: [{type: RegularExpression, name: x-tier, value: "gold|platinum"}]}]
    backendRefs: [{name: header-regex, port: 80}]
  - matches: [{queryParams: [{name: animal, value: whale}]}]
    backendRefs: [{name: query, port: 80}]
  - matches: [{method: POST}]
    backendRefs: [{name: method, port: 80}]
  - backendRefs: [{name: default, port: 80}]
---
# Same match as route "younger", created earlier: the older route wins the tie.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: zz-older, namespace: default, creationTimestamp: "2020-01-01T00:00:00Z"}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: Exact, value: /tie}}]
    backendRefs: [{name: older, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: aa-younger, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: Exact, value: /tie}}]
    backendRefs: [{name: default, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: specific, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [foo.example.com]
  rules:
  - backendRefs: [{name: specific, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: wildcard, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: ["*.example.com"]
  rules:
  - backendRefs: [{name: wildcard, port: 80}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_match_kind_and_the_spec_precedence() {
    let port = free_port();
    let (_backends, services) = backends().await;
    let rauta = Rauta::start(&format!("{}{services}{ROUTES}", gateway_yaml(port))).await;
    let get = |path: &'static str| rauta.get(port, "any.test", path);

    assert_eq!(pod(&get("/exact").await), "exact");
    assert_eq!(
        pod(&get("/exact/").await),
        "default",
        "Exact does not match a trailing slash"
    );
    assert_eq!(pod(&get("/prefix").await), "prefix");
    assert_eq!(pod(&get("/prefix/a/b").await), "prefix");
    assert_eq!(
        pod(&get("/prefixed").await),
        "default",
        "PathPrefix matches whole segments"
    );
    assert_eq!(pod(&get("/regex/42").await), "regex");
    assert_eq!(pod(&get("/regex/abc").await), "default");
    assert_eq!(pod(&get("/?animal=whale").await), "query");
    assert_eq!(pod(&get("/?animal=dolphin").await), "default");
    assert_eq!(pod(&get("/tie").await), "older", "oldest route wins a tie");

    let cases = [
        ("x-version", "v2", "/", "header", "header names are case-insensitive"),
        ("x-version", "V2", "/", "default", "header values are case-sensitive"),
        ("x-tier", "platinum", "/", "header-regex", "regex header match"),
        ("x-tier", "platinum-plus", "/", "default", "regex matches whole values"),
        (
            "x-version",
            "v2",
            "/prefix/x",
            "prefix",
            "a longer prefix beats a header match",
        ),
    ];
    for (name, value, path, want, why) in cases {
        let reply = rauta
            .request(port, Method::GET, "any.test", path, &[(name, value)])
            .await;
        assert_eq!(pod(&reply), want, "{why}");
    }

    let post = rauta.request(port, Method::POST, "any.test", "/", &[]).await;
    assert_eq!(pod(&post), "method");

    assert_eq!(pod(&rauta.get(port, "foo.example.com", "/").await), "specific");
    assert_eq!(
        pod(&rauta.get(port, "FOO.example.com:1234", "/").await),
        "specific",
        "host port and case are ignored"
    );
    assert_eq!(pod(&rauta.get(port, "bar.example.com", "/").await), "wildcard");
    assert_eq!(pod(&rauta.get(port, "a.b.example.com", "/").await), "wildcard");
    assert_eq!(
        pod(&rauta.get(port, "example.com", "/").await),
        "default",
        "*.example.com needs a label"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_hostnames_isolate_routes() {
    let port = free_port();
    let a = Backend::start("a", "a").await;
    let b = Backend::start("b", "b").await;
    let yaml = format!(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: rauta}}
spec: {{controllerName: rauta.io/gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  gatewayClassName: rauta
  listeners:
  - {{name: exact, protocol: HTTP, port: {port}, hostname: a.example.com}}
  - {{name: wild, protocol: HTTP, port: {port}, hostname: "*.example.com"}}
{a}{b}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: on-exact, namespace: default}}
spec:
  parentRefs: [{{name: gw, sectionName: exact}}]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: /only-a}}}}]
    backendRefs: [{{name: a, port: 80}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: on-wild, namespace: default}}
spec:
  parentRefs: [{{name: gw, sectionName: wild}}]
  rules:
  - backendRefs: [{{name: b, port: 80}}]
"#,
        a = service_yaml("a", a.addr, None),
        b = service_yaml("b", b.addr, None)
    );
    let rauta = Rauta::start(&yaml).await;
    assert_eq!(pod(&rauta.get(port, "a.example.com", "/only-a").await), "a");
    // The exact listener owns a.example.com: its other paths do not fall through to the wildcard.
    assert_eq!(rauta.get(port, "a.example.com", "/elsewhere").await.status, 404);
    assert_eq!(pod(&rauta.get(port, "b.example.com", "/only-a").await), "b");
    assert_eq!(
        rauta.get(port, "other.test", "/").await.status,
        404,
        "no listener for the host"
    );

    let gw = rauta.status_of("Gateway", "gw").await;
    let listeners = gw["status"]["listeners"].as_array().unwrap();
    assert_eq!(listeners.len(), 2);
    for l in listeners {
        assert_eq!(l["attachedRoutes"], 1, "{l:#}");
    }
}
