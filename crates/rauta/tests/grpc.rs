//! GRPCRoute through the real binary with a real gRPC client (tonic, h2c): method and header
//! matching, precedence, hostnames, weights, filters, and UNIMPLEMENTED when nothing matches.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/grpc.rs"]
mod grpc;
mod support;

use std::collections::BTreeMap;

use support::{Backend, Rauta, free_port, service_yaml};
use tonic::Code;

fn gateway(port: u16, hostname: Option<&str>) -> String {
    let hostname = hostname.map(|h| format!("\n    hostname: \"{h}\"")).unwrap_or_default();
    format!(
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
  - name: http
    protocol: HTTP
    port: {port}{hostname}
"#
    )
}

async fn backends(names: &[&str]) -> (Vec<Backend>, String) {
    let mut yaml = String::new();
    let mut all = Vec::new();
    for name in names {
        let b = Backend::start(name, &format!("{name}-pod")).await;
        // No appProtocol: GRPCRoute backends are spoken to over HTTP/2 anyway.
        yaml.push_str(&service_yaml(name, b.addr, None));
        all.push(b);
    }
    (all, yaml)
}

const ROUTES: &str = r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: exact, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{method: {service: gateway_api_conformance.echo_basic.grpcecho.GrpcEcho, method: Echo}}]
    backendRefs: [{name: v1, port: 80}]
  - matches: [{method: {service: gateway_api_conformance.echo_basic.grpcecho.GrpcEcho, method: EchoTwo}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-header-set, value: set}], remove: [x-header-remove]}
    backendRefs: [{name: v2, port: 80}]
  - matches: [{method: {method: EchoTwo}, headers: [{name: version, value: two}]}]
    backendRefs: [{name: v3, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: regex, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [regex.example.com]
  rules:
  - matches: [{method: {type: RegularExpression, service: ".*\\.GrpcEcho", method: "Echo(Two)?"}}]
    backendRefs: [{name: v3, port: 80}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_headers_hostnames_and_unimplemented() {
    let port = free_port();
    let (_backends, yaml) = backends(&["v1", "v2", "v3"]).await;
    let rauta = Rauta::start(&format!("{}{yaml}{ROUTES}", gateway(port, None))).await;
    let route = rauta.status_of("GRPCRoute", "exact").await;
    assert_eq!(
        route["status"]["parents"][0]["conditions"][0]["status"], "True",
        "{route}"
    );
    let kinds = rauta.status_of("Gateway", "gw").await["status"]["listeners"][0]["supportedKinds"].clone();
    assert_eq!(kinds.as_array().unwrap().len(), 2, "{kinds}");

    let channel = grpc::channel(port, "grpc.example.com").await;
    let echo = grpc::call(&channel, "Echo", &[]).await.unwrap();
    assert_eq!(echo.pod(), "v1-pod");
    let assertions = echo.assertions.clone().unwrap();
    assert_eq!(assertions.fully_qualified_method, format!("/{}/Echo", grpc::SERVICE));
    assert_eq!(assertions.authority, "grpc.example.com");

    let two = grpc::call(&channel, "EchoTwo", &[("x-header-remove", "gone")])
        .await
        .unwrap();
    assert_eq!(two.pod(), "v2-pod");
    assert_eq!(two.header("x-header-set"), Some("set"));
    assert_eq!(two.header("x-header-remove"), None);

    // The longer service match (route exact, rule 1) beats a method-only match with a header.
    let with_header = grpc::call(&channel, "EchoTwo", &[("version", "two")]).await.unwrap();
    assert_eq!(with_header.pod(), "v2-pod");

    // No rule matches: the gateway answers UNIMPLEMENTED itself.
    let three = grpc::call(&channel, "EchoThree", &[]).await.unwrap_err();
    assert_eq!(three.code(), Code::Unimplemented, "{three:?}");

    // Hostname-specific routes win for their authority; regular expressions match.
    let regex = grpc::channel(port, "regex.example.com").await;
    assert_eq!(grpc::call(&regex, "Echo", &[]).await.unwrap().pod(), "v3-pod");
    assert_eq!(grpc::call(&regex, "EchoTwo", &[]).await.unwrap().pod(), "v3-pod");
    let err = grpc::call(&regex, "EchoThree", &[]).await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);

    // The backend itself says EchoThree is unimplemented when a route sends it there.
    let catch_all = format!(
        "{}{yaml}{ROUTES}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {{name: all, namespace: default}}\nspec:\n  parentRefs: [{{name: gw}}]\n  rules:\n  - backendRefs: [{{name: v1, port: 80}}]\n",
        gateway(port, None)
    );
    rauta.rewrite(&catch_all);
    rauta
        .eventually("the catch-all route serves", || async {
            let err = grpc::call(&channel, "EchoThree", &[]).await.unwrap_err();
            err.code() == Code::Unimplemented && err.message().contains("not implemented")
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_hostname_mismatch_is_unimplemented() {
    let port = free_port();
    let (_backends, yaml) = backends(&["v1"]).await;
    let route = "\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: r, namespace: default}\nspec:\n  parentRefs: [{name: gw}]\n  rules:\n  - backendRefs: [{name: v1, port: 80}]\n";
    let _rauta = Rauta::start(&format!("{}{yaml}{route}", gateway(port, Some("*.bar.com")))).await;
    let ok = grpc::channel(port, "foo.bar.com").await;
    assert_eq!(grpc::call(&ok, "Echo", &[]).await.unwrap().pod(), "v1-pod");
    for authority in ["bar.com", "no.matching.host"] {
        let ch = grpc::channel(port, authority).await;
        let err = grpc::call(&ch, "Echo", &[]).await.unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented, "{authority}: {err:?}");
    }
}

/// Weights are applied per call, even on one HTTP/2 connection: 70/30/0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_split_calls() {
    let port = free_port();
    let (_backends, yaml) = backends(&["v1", "v2", "v3"]).await;
    let route = "\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: w, namespace: default}\nspec:\n  parentRefs: [{name: gw}]\n  rules:\n  - backendRefs: [{name: v1, port: 80, weight: 70}, {name: v2, port: 80, weight: 30}, {name: v3, port: 80, weight: 0}]\n";
    let _rauta = Rauta::start(&format!("{}{yaml}{route}", gateway(port, None))).await;
    let channel = grpc::channel(port, "grpc.example.com").await;
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let calls = 500;
    for _ in 0..calls {
        let reply = grpc::call(&channel, "Echo", &[]).await.unwrap();
        *seen.entry(reply.pod().to_owned()).or_default() += 1;
    }
    let v1 = f64::from(seen.get("v1-pod").copied().unwrap_or(0)) / f64::from(calls);
    assert!((0.6..0.8).contains(&v1), "{seen:?}");
    assert_eq!(seen.get("v3-pod"), None, "{seen:?}");
}
