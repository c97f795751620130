//! BackendTLSPolicy through the real binary: the gateway speaks TLS to an echo backend with the
//! policy's SNI, trusts only the policy's CA, checks DNS and URI (SPIFFE) subject alternative
//! names, speaks HTTP/2 over ALPN to gRPC backends, and never falls back to plaintext.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/certs.rs"]
mod certs;
#[path = "support/grpc.rs"]
mod grpc;
mod support;

use std::net::SocketAddr;

use certs::{Ca, KeyKind, Pem, secret_yaml};
use rauta_echo::{EchoConfig, EchoIdentity, EchoServer, EchoTls, TlsFiles, TlsMode};
use support::{Rauta, free_port};
use tokio::net::TcpListener;

/// An echo backend behind TLS (certificate `pem`, ALPN h2 and http/1.1) that reports the SNI.
async fn tls_echo(pod: &str, pem: &Pem) -> SocketAddr {
    tls_echo_with(pod, pem, None).await
}

/// Same; with `client_ca`, a client certificate signed by it is required, and reported (PEM) in
/// `tls.peerCertificates`.
async fn tls_echo_with(pod: &str, pem: &Pem, client_ca: Option<&Ca>) -> SocketAddr {
    let files = TlsFiles {
        certificate: pem.crt.clone(),
        private_key: pem.key.clone(),
        client_cas: client_ca.map(Ca::crt),
        require_client_cert: true,
    };
    let tls = EchoTls::new(&files, TlsMode::Https).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = EchoServer::new(EchoConfig::new(EchoIdentity {
        namespace: "default".into(),
        pod: pod.into(),
        ..Default::default()
    }));
    tokio::spawn(async move { server.serve_tls(listener, tls, std::future::pending()).await });
    addr
}

fn service(name: &str, addr: SocketAddr) -> String {
    format!(
        "\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  ports: [{{name: btls, port: 443}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}, namespace: default, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{name: btls, port: {}}}]\nendpoints: [{{addresses: [\"127.0.0.1\"]}}]\n",
        addr.port()
    )
}

fn policy(name: &str, service: &str, ca: &str, hostname: &str, sans: &str, created: &str) -> String {
    let sans = if sans.is_empty() {
        String::new()
    } else {
        format!("\n    subjectAltNames: {sans}")
    };
    format!(
        "\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata: {{name: {name}, namespace: default, creationTimestamp: \"{created}\"}}\nspec:\n  targetRefs: [{{group: \"\", kind: Service, name: {service}}}]\n  validation:\n    caCertificateRefs: [{{group: \"\", kind: ConfigMap, name: {ca}}}]\n    hostname: {hostname}{sans}\n"
    )
}

fn config_map(name: &str, ca: &Ca) -> String {
    let indented: String = ca.crt().lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: default}}\ndata:\n  ca.crt: |\n{indented}"
    )
}

const CASES: [(&str, &str, &str, &str); 8] = [
    // (service, CA ConfigMap, hostname, subjectAltNames)
    ("normative", "ca", "abc.example.com", ""),
    ("host-mismatch", "ca", "mismatch.example.com", ""),
    ("cert-mismatch", "other-ca", "abc.example.com", ""),
    (
        "san-uri",
        "ca",
        "abc.example.com",
        "[{type: URI, uri: \"spiffe://abc.example.com/test-identity\"}]",
    ),
    (
        "san-uri-mismatch",
        "ca",
        "abc.example.com",
        "[{type: URI, uri: \"spiffe://def.example.com/test-identity\"}]",
    ),
    (
        "san-dns",
        "ca",
        "mismatch.example.com",
        "[{type: Hostname, hostname: other.example.com}]",
    ),
    (
        "san-dns-mismatch",
        "ca",
        "abc.example.com",
        "[{type: Hostname, hostname: dce.example.com}]",
    ),
    ("missing-ca", "does-not-exist", "abc.example.com", ""),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_tls_policies_verify_the_backend() {
    let (ca, other_ca) = (Ca::new(), Ca::new());
    let pem = ca.server(
        "abc.example.com",
        "DNS:abc.example.com,URI:spiffe://abc.example.com/test-identity,DNS:other.example.com",
        KeyKind::RsaPkcs1,
    );
    let backend = tls_echo("tls-backend", &pem).await;
    let port = free_port();
    let mut yaml = format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {{name: rauta}}\nspec: {{controllerName: rauta.io/gateway-controller}}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: gw, namespace: default}}\nspec:\n  gatewayClassName: rauta\n  listeners: [{{name: http, protocol: HTTP, port: {port}}}]\n"
    );
    yaml.push_str(&config_map("ca", &ca));
    yaml.push_str(&config_map("other-ca", &other_ca));
    let mut rules = String::new();
    for (svc, cm, hostname, sans) in CASES {
        yaml.push_str(&service(svc, backend));
        yaml.push_str(&policy(svc, svc, cm, hostname, sans, "2020-01-01T00:00:00Z"));
        rules.push_str(&format!(
            "  - matches: [{{path: {{type: Exact, value: /{svc}}}}}]\n    backendRefs: [{{name: {svc}, port: 443}}]\n"
        ));
    }
    // A newer policy on the same Service loses: Conflicted, and its hostname is not used.
    yaml.push_str(&policy(
        "normative-newer",
        "normative",
        "ca",
        "other.example.com",
        "",
        "2024-01-01T00:00:00Z",
    ));
    yaml.push_str(&format!(
        "\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: r, namespace: default}}\nspec:\n  parentRefs: [{{name: gw}}]\n  rules:\n{rules}  - matches: [{{path: {{type: Exact, value: /grpc}}}}]\n    backendRefs: [{{name: normative, port: 443}}]\n"
    ));
    yaml.push_str("\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: g, namespace: default}\nspec:\n  parentRefs: [{name: gw}]\n  hostnames: [grpc.example.com]\n  rules:\n  - backendRefs: [{name: normative, port: 443}]\n");
    let rauta = Rauta::start(&yaml).await;

    let condition = |status: &serde_json::Value, t: &str| {
        let conds = status["status"]["ancestors"][0]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let c = conds.iter().find(|c| c["type"] == t).cloned().unwrap_or_default();
        (
            c["status"].as_str().unwrap_or("").to_owned(),
            c["reason"].as_str().unwrap_or("").to_owned(),
        )
    };
    let normative = rauta.status_of("BackendTLSPolicy", "normative").await;
    assert_eq!(
        normative["status"]["ancestors"][0]["ancestorRef"]["name"], "gw",
        "{normative}"
    );
    assert_eq!(condition(&normative, "Accepted"), ("True".into(), "Accepted".into()));
    assert_eq!(
        condition(&normative, "ResolvedRefs"),
        ("True".into(), "ResolvedRefs".into())
    );
    let newer = rauta.status_of("BackendTLSPolicy", "normative-newer").await;
    assert_eq!(condition(&newer, "Accepted"), ("False".into(), "Conflicted".into()));
    let missing = rauta.status_of("BackendTLSPolicy", "missing-ca").await;
    assert_eq!(
        condition(&missing, "Accepted"),
        ("False".into(), "NoValidCACertificate".into())
    );
    assert_eq!(
        condition(&missing, "ResolvedRefs"),
        ("False".into(), "InvalidCACertificateRef".into())
    );
    let mismatch = rauta.status_of("BackendTLSPolicy", "host-mismatch").await;
    assert_eq!(
        condition(&mismatch, "Accepted"),
        ("True".into(), "Accepted".into()),
        "verification fails at run time only"
    );

    for (svc, ..) in CASES {
        let reply = rauta.get(port, "abc.example.com", &format!("/{svc}")).await;
        let ok = matches!(svc, "normative" | "san-uri" | "san-dns");
        if ok {
            assert_eq!(reply.status, 200, "{svc}: {:?}", reply.body);
            let json = reply.json();
            let sni = if svc == "san-dns" {
                "mismatch.example.com"
            } else {
                "abc.example.com"
            };
            assert_eq!(json["tls"]["serverName"], sni, "{svc}: {json}");
            assert_eq!(json["tls"]["negotiatedProtocol"], "http/1.1", "{svc}: {json}");
            assert_eq!(json["path"], format!("/{svc}"));
        } else {
            assert!(
                matches!(reply.status.as_u16(), 500 | 502 | 503),
                "{svc}: {}",
                reply.status
            );
        }
    }

    // gRPC over TLS: HTTP/2 negotiated with ALPN h2.
    let channel = grpc::channel(port, "grpc.example.com").await;
    let echo = grpc::call(&channel, "Echo", &[]).await.unwrap();
    assert_eq!(echo.pod(), "tls-backend");
}

/// GatewayClass + one Gateway per `(name, port, clientCertificateRef)` with an HTTP listener.
fn gateways(list: &[(&str, u16, Option<&str>)]) -> String {
    let mut yaml = "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: rauta}\nspec: {controllerName: rauta.io/gateway-controller}\n".to_owned();
    for (name, port, client) in list {
        let tls = client
            .map(|c| format!("\n  tls:\n    backend:\n      clientCertificateRef: {c}"))
            .unwrap_or_default();
        yaml.push_str(&format!(
            "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  gatewayClassName: rauta\n  listeners: [{{name: http, protocol: HTTP, port: {port}}}]{tls}\n"
        ));
    }
    yaml
}

/// `(status, reason)` of the Gateway condition `t`.
fn gateway_condition(status: &serde_json::Value, t: &str) -> (String, String) {
    let conds = status["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let c = conds.iter().find(|c| c["type"] == t).cloned().unwrap_or_default();
    (
        c["status"].as_str().unwrap_or("").to_owned(),
        c["reason"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_present_their_backend_client_certificate() {
    let (server_ca, client_ca, rogue_ca) = (Ca::new(), Ca::new(), Ca::new());
    let pem = server_ca.leaf("abc.example.com", &["abc.example.com"], KeyKind::EcSec1);
    let backend = tls_echo_with("mtls-backend", &pem, Some(&client_ca)).await;
    let (good, rogue) = (client_ca.client("gateway-good"), rogue_ca.client("gateway-rogue"));
    let (with, without, untrusted, missing) = (free_port(), free_port(), free_port(), free_port());
    let mut yaml = gateways(&[
        (
            "with-client",
            with,
            Some("{group: \"\", kind: Secret, name: good-client}"),
        ),
        ("without-client", without, None),
        ("untrusted-client", untrusted, Some("{name: rogue-client}")),
        ("missing-client", missing, Some("{name: does-not-exist}")),
    ]);
    yaml.push_str(&secret_yaml("default", "good-client", &good));
    yaml.push_str(&secret_yaml("default", "rogue-client", &rogue));
    yaml.push_str(&config_map("ca", &server_ca));
    yaml.push_str(&service("mtls", backend));
    yaml.push_str(&policy(
        "mtls",
        "mtls",
        "ca",
        "abc.example.com",
        "",
        "2020-01-01T00:00:00Z",
    ));
    // One route on every Gateway: each Gateway's requests carry its own certificate.
    yaml.push_str("\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: default}\nspec:\n  parentRefs: [{name: with-client}, {name: without-client}, {name: untrusted-client}, {name: missing-client}]\n  rules:\n  - backendRefs: [{name: mtls, port: 443}]\n");
    let rauta = Rauta::start(&yaml).await;

    let status = rauta.status_of("Gateway", "with-client").await;
    assert_eq!(
        gateway_condition(&status, "ResolvedRefs"),
        ("True".into(), "ResolvedRefs".into())
    );
    let status = rauta.status_of("Gateway", "missing-client").await;
    assert_eq!(
        gateway_condition(&status, "ResolvedRefs"),
        ("False".into(), "InvalidClientCertificateRef".into()),
        "{status}"
    );
    assert_eq!(
        gateway_condition(&status, "Accepted"),
        ("True".into(), "Accepted".into())
    );

    let reply = rauta.get(with, "abc.example.com", "/").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let json = reply.json();
    assert_eq!(json["pod"], "mtls-backend");
    assert_eq!(
        json["tls"]["peerCertificates"][0].as_str().map(str::trim),
        Some(good.crt.trim()),
        "{json}"
    );
    // No certificate, one the backend does not trust, or an unusable reference: the backend
    // refuses the handshake.
    for port in [without, untrusted, missing] {
        let reply = rauta.get(port, "abc.example.com", "/").await;
        assert_eq!(reply.status, 502, "port {port}: {:?}", reply.body);
    }
    // The first Gateway's pooled connections stay its own.
    let reply = rauta.get(with, "abc.example.com", "/again").await;
    assert_eq!(reply.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn well_known_system_roots_are_the_hosts() {
    let (system_ca, other_ca) = (Ca::new(), Ca::new());
    let trusted = tls_echo(
        "trusted",
        &system_ca.leaf("abc.example.com", &["abc.example.com"], KeyKind::EcSec1),
    )
    .await;
    let unknown = tls_echo(
        "unknown",
        &other_ca.leaf("abc.example.com", &["abc.example.com"], KeyKind::EcSec1),
    )
    .await;
    let port = free_port();
    let mut yaml = gateways(&[("gw", port, None)]);
    for (svc, addr) in [("trusted", trusted), ("unknown", unknown)] {
        yaml.push_str(&service(svc, addr));
        yaml.push_str(&format!(
            "\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata: {{name: {svc}, namespace: default}}\nspec:\n  targetRefs: [{{group: \"\", kind: Service, name: {svc}}}]\n  validation: {{wellKnownCACertificates: System, hostname: abc.example.com}}\n"
        ));
    }
    yaml.push_str("\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: default}\nspec:\n  parentRefs: [{name: gw}]\n  rules:\n  - matches: [{path: {type: Exact, value: /trusted}}]\n    backendRefs: [{name: trusted, port: 443}]\n  - matches: [{path: {type: Exact, value: /unknown}}]\n    backendRefs: [{name: unknown, port: 443}]\n");
    // rustls-native-certs reads SSL_CERT_FILE instead of the distribution's bundle.
    let bundle = system_ca.crt_path.to_str().unwrap();
    let rauta = Rauta::start_with_env(&yaml, &[], &[("SSL_CERT_FILE", bundle)]).await;

    let status = rauta.status_of("BackendTLSPolicy", "trusted").await;
    let accepted = &status["status"]["ancestors"][0]["conditions"][0];
    assert_eq!(
        (accepted["type"].as_str(), accepted["status"].as_str()),
        (Some("Accepted"), Some("True")),
        "{status}"
    );
    let reply = rauta.get(port, "abc.example.com", "/trusted").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.json()["pod"], "trusted");
    assert_eq!(reply.json()["tls"]["serverName"], "abc.example.com");
    let reply = rauta.get(port, "abc.example.com", "/unknown").await;
    assert_eq!(reply.status, 502, "{:?}", reply.body);
}
