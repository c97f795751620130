//! TLSRoute (Passthrough and Terminate, mixed on one port, re-encrypted by a BackendTLSPolicy) and
//! TCPRoute through the real binary: echo-basic's TCP line protocol (the server speaks first, in
//! plain or over TLS), a TLS backend that reports the SNI it saw, a rustls client, and openssl
//! s_client to see whose certificate answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/certs.rs"]
mod certs;
mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use certs::{Ca, KeyKind, peer_cn, s_client, secret_yaml};
use rauta_echo::{EchoConfig, EchoIdentity, EchoServer, EchoTls, TlsFiles, TlsMode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::{Rauta, free_port};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// echo-basic's TCP mode as pod `pod`; the listener stays open for the test's life.
async fn tcp_echo(pod: &str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = EchoConfig::new(EchoIdentity {
        namespace: "default".into(),
        pod: pod.into(),
        ..Default::default()
    });
    tokio::spawn(async move {
        EchoServer::new(config)
            .serve_tcp(listener, std::future::pending())
            .await
    });
    addr
}

/// A TLS server (certificate `pem`) that speaks first: `hello <name> sni=<sni>`, then echoes lines.
async fn tls_backend(name: &'static str, pem: &certs::Pem) -> SocketAddr {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.crt.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(pem.key.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let sni = tls.get_ref().1.server_name().unwrap_or("").to_owned();
                let _ = tls.write_all(format!("hello {name} sni={sni}\n").as_bytes()).await;
                let mut lines = BufReader::new(tls);
                let mut line = String::new();
                while lines.read_line(&mut line).await.is_ok_and(|n| n > 0) {
                    let _ = lines.get_mut().write_all(line.as_bytes()).await;
                    line.clear();
                }
            });
        }
    });
    addr
}

fn service(name: &str, addr: SocketAddr) -> String {
    format!(
        "\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  ports: [{{name: tcp, port: 3000}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}, namespace: default, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{name: tcp, port: {}}}]\nendpoints: [{{addresses: [\"127.0.0.1\"]}}]\n",
        addr.port()
    )
}

fn gateway(listeners: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {{name: rauta}}\nspec: {{controllerName: rauta.io/gateway-controller}}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: gw, namespace: default}}\nspec:\n  gatewayClassName: rauta\n  listeners:\n{listeners}"
    )
}

fn route(kind: &str, name: &str, section: &str, hostnames: &[&str], backends: &[(&str, u32)], created: &str) -> String {
    let api = if kind == "TCPRoute" { "v1alpha2" } else { "v1" };
    let hostnames = if kind == "TLSRoute" {
        format!("\n  hostnames: {hostnames:?}")
    } else {
        String::new()
    };
    let refs: Vec<String> = backends
        .iter()
        .map(|(b, w)| format!("{{name: {b}, port: 3000, weight: {w}}}"))
        .collect();
    format!(
        "\n---\napiVersion: gateway.networking.k8s.io/{api}\nkind: {kind}\nmetadata: {{name: {name}, namespace: default, creationTimestamp: \"{created}\"}}\nspec:\n  parentRefs: [{{name: gw, sectionName: {section}}}]{hostnames}\n  rules:\n  - backendRefs: [{}]\n",
        refs.join(", ")
    )
}

/// Reads one line.
async fn line<S: AsyncRead + Unpin>(reader: &mut BufReader<S>) -> String {
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line))
        .await
        .expect("a line in time")
        .expect("read");
    line.trim_end().to_owned()
}

/// echo-basic's exchange: welcome line first (the server speaks first), PING, IS_TLS, TEST.
async fn tcp_exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: S) -> (String, String) {
    let mut s = BufReader::new(stream);
    assert_eq!(line(&mut s).await, "Gateway API Test TCP Server");
    s.get_mut().write_all(b"PING\nIS_TLS\nTEST\n").await.unwrap();
    assert_eq!(line(&mut s).await, "PONG");
    let is_tls = line(&mut s).await;
    let test: serde_json::Value = serde_json::from_str(&line(&mut s).await).unwrap();
    (is_tls, test["pod"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_routes_relay_server_first_protocols_with_weights_and_the_oldest_route_owns_the_port() {
    let port = free_port();
    let mut yaml = gateway(&format!("  - {{name: tcp, protocol: TCP, port: {port}}}\n"));
    for pod in ["v1", "v2", "v3", "newer"] {
        yaml.push_str(&service(pod, tcp_echo(pod).await));
    }
    yaml.push_str(&route(
        "TCPRoute",
        "older",
        "tcp",
        &[],
        &[("v1", 70), ("v2", 30), ("v3", 0)],
        "2020-01-01T00:00:00Z",
    ));
    yaml.push_str(&route(
        "TCPRoute",
        "newer",
        "tcp",
        &[],
        &[("newer", 1)],
        "2024-01-01T00:00:00Z",
    ));
    let rauta = Rauta::start(&yaml).await;
    let status = rauta.status_of("Gateway", "gw").await;
    assert_eq!(status["status"]["listeners"][0]["attachedRoutes"], 2, "{status}");
    let newer = rauta.status_of("TCPRoute", "newer").await;
    assert_eq!(
        newer["status"]["parents"][0]["conditions"][0]["status"], "True",
        "{newer}"
    );

    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let connections = 200;
    for _ in 0..connections {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (is_tls, pod) = tcp_exchange(stream).await;
        assert_eq!(is_tls, "false");
        *seen.entry(pod).or_default() += 1;
    }
    let v1 = f64::from(seen.get("v1").copied().unwrap_or(0)) / f64::from(connections);
    assert!((0.6..0.8).contains(&v1), "{seen:?}");
    assert!(!seen.contains_key("v3") && !seen.contains_key("newer"), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_routes_pass_through_or_terminate_by_sni_on_one_port() {
    let ca = Ca::new();
    let port = free_port();
    let abc = ca.leaf("abc.example.com", &["abc.example.com"], KeyKind::EcSec1);
    let other = ca.leaf("other.example.com", &["*.example.com"], KeyKind::RsaPkcs1);
    let gateway_cert = ca.leaf("tls.example.net", &["tls.example.net"], KeyKind::EcPkcs8);
    let mut yaml = gateway(&format!(
        "  - name: passthrough\n    protocol: TLS\n    port: {port}\n    hostname: \"*.example.com\"\n    tls: {{mode: Passthrough}}\n  - name: terminate\n    protocol: TLS\n    port: {port}\n    hostname: tls.example.net\n    tls: {{mode: Terminate, certificateRefs: [{{name: gateway-cert}}]}}\n"
    ));
    yaml.push_str(&secret_yaml("default", "gateway-cert", &gateway_cert));
    yaml.push_str(&service("tls-abc", tls_backend("tls-abc", &abc).await));
    yaml.push_str(&service("tls-other", tls_backend("tls-other", &other).await));
    yaml.push_str(&service("plain", tcp_echo("plain").await));
    yaml.push_str(&route(
        "TLSRoute",
        "abc",
        "passthrough",
        &["abc.example.com"],
        &[("tls-abc", 1)],
        "2020-01-01T00:00:00Z",
    ));
    yaml.push_str(&route(
        "TLSRoute",
        "wild",
        "passthrough",
        &["*.com"],
        &[("tls-other", 1)],
        "2020-01-01T00:00:00Z",
    ));
    yaml.push_str(&route(
        "TLSRoute",
        "term",
        "terminate",
        &["tls.example.net"],
        &[("plain", 1)],
        "2020-01-01T00:00:00Z",
    ));
    let rauta = Rauta::start(&yaml).await;
    let status = rauta.status_of("Gateway", "gw").await;
    for l in status["status"]["listeners"].as_array().unwrap() {
        assert_eq!(l["conditions"][0]["status"], "True", "{l}");
    }

    // Passthrough: the backend terminates, sees the client's SNI, the most specific route wins.
    for (sni, backend) in [("abc.example.com", "tls-abc"), ("other.example.com", "tls-other")] {
        let tls = ca.connect(port, sni, &[]).await.unwrap();
        let mut s = BufReader::new(tls);
        assert_eq!(line(&mut s).await, format!("hello {backend} sni={sni}"));
        s.get_mut().write_all(b"ping\n").await.unwrap();
        assert_eq!(line(&mut s).await, "ping");
    }
    let (ok, out) = s_client(port, Some("abc.example.com"), &[]);
    assert!(ok, "{out}");
    assert_eq!(
        peer_cn(&out).as_deref(),
        Some("abc.example.com"),
        "the backend's certificate: {out}"
    );

    // Terminate: the gateway's certificate, a plain stream to a server that speaks first.
    let tls = ca.connect(port, "tls.example.net", &[]).await.unwrap();
    let (is_tls, pod) = tcp_exchange(tls).await;
    assert_eq!((is_tls.as_str(), pod.as_str()), ("false", "plain"));
    let (ok, out) = s_client(port, Some("tls.example.net"), &[]);
    assert!(ok, "{out}");
    assert_eq!(peer_cn(&out).as_deref(), Some("tls.example.net"), "{out}");

    // No listener or route for the name, or no SNI: the connection is closed.
    for sni in [Some("non.matching.org"), None] {
        let (ok, out) = s_client(port, sni, &[]);
        assert!(!ok, "{sni:?}: {out}");
    }
    assert!(ca.connect(port, "non.matching.org", &[]).await.is_err());
}

/// echo-basic's TCP mode over TLS (certificate `pem`) as pod `pod`.
async fn tcp_tls_echo(pod: &str, pem: &certs::Pem) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let files = TlsFiles {
        certificate: pem.crt.clone(),
        private_key: pem.key.clone(),
        client_cas: None,
        require_client_cert: false,
    };
    let tls = EchoTls::new(&files, TlsMode::Tcp).unwrap();
    let config = EchoConfig::new(EchoIdentity {
        namespace: "default".into(),
        pod: pod.into(),
        ..Default::default()
    });
    tokio::spawn(async move {
        EchoServer::new(config)
            .serve_tls(listener, tls, std::future::pending())
            .await
    });
    addr
}

fn config_map(name: &str, ca: &Ca) -> String {
    let indented: String = ca.crt().lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: default}}\ndata:\n  ca.crt: |\n{indented}"
    )
}

fn backend_tls_policy(service: &str, ca: &str) -> String {
    format!(
        "\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata: {{name: {service}, namespace: default}}\nspec:\n  targetRefs: [{{group: \"\", kind: Service, name: {service}}}]\n  validation:\n    caCertificateRefs: [{{group: \"\", kind: ConfigMap, name: {ca}}}]\n    hostname: abc.example.com\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_tls_routes_speak_tls_to_backends_with_a_backend_tls_policy() {
    let (ca, other_ca) = (Ca::new(), Ca::new());
    let port = free_port();
    let backend_cert = ca.leaf("abc.example.com", &["abc.example.com"], KeyKind::RsaPkcs1);
    let gateway_cert = ca.leaf(
        "tls.example.net",
        &["tls.example.net", "*.example.net"],
        KeyKind::EcPkcs8,
    );
    let mut yaml = gateway(&format!(
        "  - name: terminate\n    protocol: TLS\n    port: {port}\n    tls: {{mode: Terminate, certificateRefs: [{{name: gateway-cert}}]}}\n"
    ));
    yaml.push_str(&secret_yaml("default", "gateway-cert", &gateway_cert));
    yaml.push_str(&config_map("ca", &ca));
    yaml.push_str(&config_map("other-ca", &other_ca));
    let backend = tcp_tls_echo("secure", &backend_cert).await;
    for (service, trusted) in [("secure", "ca"), ("untrusted", "other-ca")] {
        yaml.push_str(&self::service(service, backend));
        yaml.push_str(&backend_tls_policy(service, trusted));
    }
    yaml.push_str(&route(
        "TLSRoute",
        "secure",
        "terminate",
        &["tls.example.net"],
        &[("secure", 1)],
        "2020-01-01T00:00:00Z",
    ));
    yaml.push_str(&route(
        "TLSRoute",
        "untrusted",
        "terminate",
        &["untrusted.example.net"],
        &[("untrusted", 1)],
        "2020-01-01T00:00:00Z",
    ));
    let _rauta = Rauta::start(&yaml).await;

    // The backend's connection is TLS, with the policy's SNI.
    let tls = ca.connect(port, "tls.example.net", &[]).await.unwrap();
    let mut s = BufReader::new(tls);
    assert_eq!(line(&mut s).await, "Gateway API Test TCP Server");
    s.get_mut().write_all(b"IS_TLS\nTEST\n").await.unwrap();
    assert_eq!(line(&mut s).await, "true");
    let test: serde_json::Value = serde_json::from_str(&line(&mut s).await).unwrap();
    assert_eq!(test["pod"], "secure", "{test}");
    assert_eq!(test["tls"]["serverName"], "abc.example.com", "{test}");

    // A backend the policy does not trust: the stream is closed, never relayed in plaintext.
    let tls = ca.connect(port, "untrusted.example.net", &[]).await.unwrap();
    let mut s = BufReader::new(tls);
    let mut first = String::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_line(&mut first)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "expected the connection to close, read {first:?}"
    );
}
