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
use std::sync::Arc;

use certs::{Ca, KeyKind, Pem};
use rauta_echo::{ConnectionInfo, EchoConfig, EchoIdentity, EchoServer, TlsInfo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::{Rauta, free_port};
use tokio::net::TcpListener;

/// An echo backend behind TLS (certificate `pem`, ALPN h2 and http/1.1) that reports the SNI.
async fn tls_echo(pod: &str, pem: &Pem) -> SocketAddr {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.crt.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(pem.key.as_bytes()).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = EchoServer::new(EchoConfig::new(EchoIdentity {
        namespace: "default".into(),
        pod: pod.into(),
        ..Default::default()
    }));
    tokio::spawn(async move {
        while let Ok((tcp, client)) = listener.accept().await {
            let (acceptor, server) = (acceptor.clone(), server.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let conn = tls.get_ref().1;
                let info = TlsInfo {
                    server_name: conn.server_name().unwrap_or_default().to_owned(),
                    negotiated_protocol: conn
                        .alpn_protocol()
                        .map(|p| String::from_utf8_lossy(p).into_owned())
                        .unwrap_or_default(),
                    ..Default::default()
                };
                let info = ConnectionInfo {
                    client,
                    tls: Some(info),
                    reset: None,
                };
                server.serve_connection(tls, info).await;
            });
        }
    });
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
