//! HTTPS termination through the real binary, checked with real clients: curl (HTTP/1.1 and
//! HTTP/2), openssl s_client (SNI, ALPN, versions, resumption) and a rustls client.
//!
//! The clients are blocking processes, so the tests run on a multi-threaded runtime: the echo
//! backends keep answering on the workers while the test thread waits for curl.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/certs.rs"]
mod certs;
mod support;

use std::time::{Duration, Instant};

use certs::{Ca, KeyKind, curl, peer_cn, s_client, secret_yaml};
use serde_json::Value;
use support::{Backend, Rauta, free_port, service_yaml};

/// GatewayClass + Gateway `tls` (namespace default) with `listeners` (YAML list items).
fn gateway(listeners: &str) -> String {
    format!(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: rauta}}
spec: {{controllerName: rauta.io/gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: tls, namespace: default}}
spec:
  gatewayClassName: rauta
  listeners:
{listeners}"#
    )
}

/// An HTTPRoute `name` on listener `section` of Gateway `tls` sending everything to `service`.
fn route(name: &str, section: &str, hostnames: &[&str], service: &str) -> String {
    format!(
        r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: default}}
spec:
  parentRefs: [{{name: tls, sectionName: {section}}}]
  hostnames: {hostnames:?}
  rules:
  - backendRefs: [{{name: {service}, port: 80}}]
"#
    )
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn https_listener(name: &str, port: u16, hostname: Option<&str>, secrets: &[&str]) -> String {
    let hostname = hostname.map(|h| format!("\n    hostname: \"{h}\"")).unwrap_or_default();
    let refs: Vec<String> = secrets.iter().map(|s| format!("{{name: {s}}}")).collect();
    format!(
        "  - name: {name}\n    protocol: HTTPS\n    port: {port}{hostname}\n    tls: {{certificateRefs: [{}]}}\n",
        refs.join(", ")
    )
}

/// One HTTPS port, three listeners with a certificate each in another key format, and a fourth
/// listener with an ECDSA and an RSA certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_http1_and_http2_with_the_certificate_the_sni_selects() {
    let ca = Ca::new();
    let port = free_port();
    let any = ca.leaf("default.test", &["default.test"], KeyKind::RsaPkcs1);
    let foo = ca.leaf("foo.example.com", &["foo.example.com"], KeyKind::EcSec1);
    let wild = ca.leaf("wild.example.com", &["*.example.com"], KeyKind::EcPkcs8);
    let dual_ec = ca.leaf("dual-ec.example.net", &["dual.example.net"], KeyKind::EcSec1);
    let dual_rsa = ca.leaf("dual-rsa.example.net", &["dual.example.net"], KeyKind::RsaPkcs1);
    let web = Backend::start("web", "web-1").await;
    let mut yaml = gateway(&format!(
        "{}{}{}{}",
        https_listener("https", port, None, &["any"]),
        https_listener("foo", port, Some("foo.example.com"), &["foo"]),
        https_listener("wild", port, Some("*.example.com"), &["wild"]),
        https_listener("dual", port, Some("dual.example.net"), &["dual-ec", "dual-rsa"]),
    ));
    for (name, pem) in [
        ("any", &any),
        ("foo", &foo),
        ("wild", &wild),
        ("dual-ec", &dual_ec),
        ("dual-rsa", &dual_rsa),
    ] {
        yaml.push_str(&secret_yaml("default", name, pem));
    }
    yaml.push_str(&service_yaml("web", web.addr, None));
    for section in ["https", "foo", "wild", "dual"] {
        yaml.push_str(&route(&format!("web-{section}"), section, &[], "web"));
    }
    let rauta = Rauta::start(&yaml).await;

    // SNI picks the certificate: exact beats wildcard, unknown names get the default.
    for (sni, cn) in [
        (Some("foo.example.com"), "foo.example.com"),
        (Some("bar.example.com"), "wild.example.com"),
        (Some("unknown.test"), "default.test"),
        (None, "default.test"),
        (Some("dual.example.net"), "dual-ec.example.net"),
    ] {
        let (ok, out) = s_client(port, sni, &["-CAfile", ca.crt_path.to_str().unwrap()]);
        assert!(ok, "{sni:?}: {out}");
        assert_eq!(peer_cn(&out).as_deref(), Some(cn), "{sni:?}: {out}");
        assert!(sni.is_none() || out.contains("Verify return code: 0 (ok)"), "{out}");
    }
    // A client that only accepts RSA signatures gets the RSA certificate of the dual listener.
    let (ok, out) = s_client(
        port,
        Some("dual.example.net"),
        &[
            "-tls1_2",
            "-sigalgs",
            "RSA-PSS+SHA256:RSA+SHA256",
            "-cipher",
            "ECDHE-RSA-AES128-GCM-SHA256",
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(peer_cn(&out).as_deref(), Some("dual-rsa.example.net"), "{out}");

    // ALPN: h2 preferred, http/1.1 offered.
    let (_, out) = s_client(port, Some("foo.example.com"), &["-alpn", "h2,http/1.1"]);
    assert!(out.contains("ALPN protocol: h2"), "{out}");
    let (_, out) = s_client(port, Some("foo.example.com"), &["-alpn", "http/1.1"]);
    assert!(out.contains("ALPN protocol: http/1.1"), "{out}");

    // TLS 1.2 and 1.3 only.
    let (ok, out) = s_client(port, Some("foo.example.com"), &["-tls1_3"]);
    assert!(ok && out.contains("TLSv1.3"), "{out}");
    let (ok, out) = s_client(port, Some("foo.example.com"), &["-tls1_2"]);
    assert!(ok && out.contains("TLSv1.2"), "{out}");
    let (ok, out) = s_client(
        port,
        Some("foo.example.com"),
        &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
    );
    assert!(!ok, "TLS 1.1 must be refused: {out}");

    // curl over HTTP/1.1 and HTTP/2; the backend sees X-Forwarded-Proto https.
    let ca_path = ca.crt_path.as_path();
    for (http, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        for host in ["foo.example.com", "bar.example.com", "dual.example.net", "default.test"] {
            let reply = curl(ca_path, port, host, None, "/hello?x=1", http);
            assert!(reply.ok, "{host} {http}: {}", reply.stderr);
            assert_eq!(
                (reply.status, reply.version.as_str()),
                (200, version),
                "{host}: {}",
                reply.body
            );
            let echoed = json(&reply.body);
            assert_eq!(echoed["path"], "/hello?x=1");
            assert_eq!(echoed["headers"]["X-Forwarded-Proto"][0], "https", "{echoed}");
        }
    }
    drop(rauta);
}

/// TLS 1.2 session resumption with tickets and session IDs, and TLS 1.3 tickets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_resume() {
    let ca = Ca::new();
    let port = free_port();
    let pem = ca.leaf("resume.test", &["resume.test"], KeyKind::EcSec1);
    let web = Backend::start("web", "web-1").await;
    let mut yaml = gateway(&https_listener("https", port, None, &["cert"]));
    yaml.push_str(&secret_yaml("default", "cert", &pem));
    yaml.push_str(&service_yaml("web", web.addr, None));
    yaml.push_str(&route("web", "https", &[], "web"));
    let _rauta = Rauta::start(&yaml).await;
    let dir = tempfile::tempdir().unwrap();
    for (version, extra) in [("-tls1_2", None), ("-tls1_2", Some("-no_ticket"))] {
        let session = dir.path().join(format!("session{version}{}", extra.unwrap_or("")));
        let session = session.to_str().unwrap();
        let mut first = vec![version, "-sess_out", session];
        let mut second = vec![version, "-sess_in", session];
        first.extend(extra);
        second.extend(extra);
        let (ok, out) = s_client(port, Some("resume.test"), &first);
        assert!(ok && out.contains("New, TLSv1.2"), "{out}");
        let (_, out) = s_client(port, Some("resume.test"), &second);
        assert!(out.contains("Reused, TLSv1.2"), "{version} {extra:?}: {out}");
    }
}

/// AES-128-GCM is chosen over AES-256-GCM whatever the client's order (TLS 1.3 and 1.2), unless
/// the client lists ChaCha20-Poly1305 first; a client offering only AES-256 still gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cipher_suites_prefer_aes_128_unless_the_client_prefers_chacha20() {
    let ca = Ca::new();
    let port = free_port();
    let pem = ca.leaf("suites.test", &["suites.test"], KeyKind::EcSec1);
    let web = Backend::start("web", "web-1").await;
    let mut yaml = gateway(&https_listener("https", port, None, &["cert"]));
    yaml.push_str(&secret_yaml("default", "cert", &pem));
    yaml.push_str(&service_yaml("web", web.addr, None));
    yaml.push_str(&route("web", "https", &[], "web"));
    let _rauta = Rauta::start(&yaml).await;
    for (version, option, offered, chosen) in [
        (
            "-tls1_3",
            "-ciphersuites",
            "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
            "TLS_AES_128_GCM_SHA256",
        ),
        (
            "-tls1_3",
            "-ciphersuites",
            "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256",
        ),
        (
            "-tls1_3",
            "-ciphersuites",
            "TLS_AES_256_GCM_SHA384",
            "TLS_AES_256_GCM_SHA384",
        ),
        (
            "-tls1_2",
            "-cipher",
            "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
        ),
        (
            "-tls1_2",
            "-cipher",
            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
        ),
    ] {
        let (ok, out) = s_client(port, Some("suites.test"), &[version, option, offered]);
        assert!(ok, "{offered}: {out}");
        assert!(
            out.contains(&format!("Cipher is {chosen}")),
            "{offered}: expected {chosen}: {out}"
        );
    }
}

/// GatewayHTTPSListenerDetectMisdirectedRequests: HTTP/2 requests whose Host belongs to another
/// listener than the SNI's get 421; a Host no route serves on the SNI's listener gets 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misdirected_requests_get_421() {
    let ca = Ca::new();
    let port = free_port();
    let pem = ca.leaf(
        "misdirected",
        &[
            "example.org",
            "second-example.org",
            "*.wildcard.org",
            "unknown-example.org",
        ],
        KeyKind::RsaPkcs1,
    );
    let (v1, v2, v3) = (
        Backend::start("v1", "v1").await,
        Backend::start("v2", "v2").await,
        Backend::start("v3", "v3").await,
    );
    let mut yaml = gateway(&format!(
        "{}{}{}{}",
        https_listener("https", port, None, &["cert"]),
        https_listener("https-with-hostname", port, Some("second-example.org"), &["cert"]),
        https_listener("https-with-wildcard-hostname", port, Some("*.wildcard.org"), &["cert"]),
        https_listener(
            "https-with-hostname-matching-wildcard",
            port,
            Some("fourth-example.wildcard.org"),
            &["cert"]
        ),
    ));
    yaml.push_str(&secret_yaml("default", "cert", &pem));
    for (name, b) in [("v1", &v1), ("v2", &v2), ("v3", &v3)] {
        yaml.push_str(&service_yaml(name, b.addr, None));
    }
    yaml.push_str(&route("r1", "https", &["example.org"], "v1"));
    yaml.push_str(&route("r2", "https-with-hostname", &[], "v2"));
    yaml.push_str(&route("r3", "https-with-wildcard-hostname", &[], "v3"));
    yaml.push_str(&route("r4", "https-with-hostname-matching-wildcard", &[], "v1"));
    let _rauta = Rauta::start(&yaml).await;
    let cases = [
        ("example.org", "example.org", 200, Some("v1")),
        ("example.org", "second-example.org", 421, None),
        ("example.org", "unknown-example.org", 404, None),
        ("second-example.org", "second-example.org", 200, Some("v2")),
        ("second-example.org", "example.org", 421, None),
        ("second-example.org", "unknown-example.org", 421, None),
        (
            "third-example.wildcard.org",
            "third-example.wildcard.org",
            200,
            Some("v3"),
        ),
        (
            "third-example.wildcard.org",
            "fith-example.wildcard.org",
            200,
            Some("v3"),
        ),
        ("third-example.wildcard.org", "fourth-example.wildcard.org", 421, None),
        ("third-example.wildcard.org", "second-example.org", 421, None),
        ("third-example.wildcard.org", "unknown-example.org", 421, None),
        (
            "fourth-example.wildcard.org",
            "fourth-example.wildcard.org",
            200,
            Some("v1"),
        ),
        ("fourth-example.wildcard.org", "fith-example.wildcard.org", 421, None),
        ("unknown-example.org", "example.org", 200, Some("v1")),
        ("unknown-example.org", "unknown-example.org", 404, None),
    ];
    for (sni, host, status, pod) in cases {
        let reply = curl(&ca.crt_path, port, sni, Some(host), "/detect", "--http2");
        assert!(reply.ok, "{sni} {host}: {}", reply.stderr);
        assert_eq!(reply.version, "2");
        assert_eq!(reply.status, status, "SNI {sni}, Host {host}: {}", reply.body);
        if let Some(pod) = pod {
            assert_eq!(json(&reply.body)["pod"], pod, "SNI {sni}, Host {host}");
        }
    }
}

/// Listener conditions for bad certificates, while the Gateway's other listeners keep serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_certificate_only_takes_down_its_listener() {
    let ca = Ca::new();
    let (http_port, good_port, bad_port) = (free_port(), free_port(), free_port());
    let pem = ca.leaf("good.test", &["good.test"], KeyKind::EcPkcs8);
    let web = Backend::start("web", "web-1").await;
    let mut yaml = gateway(&format!(
        "  - {{name: http, protocol: HTTP, port: {http_port}}}\n{}{}{}",
        https_listener("good", good_port, None, &["good"]),
        https_listener("missing", bad_port, Some("missing.test"), &["does-not-exist"]),
        https_listener("malformed", bad_port, Some("malformed.test"), &["malformed"]),
    ));
    yaml.push_str(&secret_yaml("default", "good", &pem));
    yaml.push_str(&secret_yaml(
        "default",
        "malformed",
        &certs::Pem {
            crt: "Hello world\n".into(),
            key: "Hello world\n".into(),
        },
    ));
    yaml.push_str(&service_yaml("web", web.addr, None));
    for section in ["http", "good", "missing", "malformed"] {
        yaml.push_str(&route(section, section, &[], "web"));
    }
    let rauta = Rauta::start(&yaml).await;
    let status = rauta.status_of("Gateway", "tls").await;
    let listener = |name: &str| {
        status["status"]["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .cloned()
            .unwrap()
    };
    let condition = |l: &Value, t: &str| {
        let c = l["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == t)
            .unwrap();
        (
            c["status"].as_str().unwrap().to_owned(),
            c["reason"].as_str().unwrap().to_owned(),
        )
    };
    for name in ["missing", "malformed"] {
        let l = listener(name);
        assert_eq!(
            condition(&l, "ResolvedRefs"),
            ("False".into(), "InvalidCertificateRef".into()),
            "{l}"
        );
        assert_eq!(condition(&l, "Programmed").0, "False", "{l}");
        assert_eq!(l["attachedRoutes"], 1, "{l}");
    }
    assert_eq!(
        condition(&listener("good"), "Programmed"),
        ("True".into(), "Programmed".into())
    );
    assert_eq!(
        condition(&status["status"], "Programmed"),
        ("True".into(), "Programmed".into())
    );
    assert_eq!(rauta.get(http_port, "web.test", "/").await.status, 200);
    let reply = curl(&ca.crt_path, good_port, "good.test", None, "/", "--http2");
    assert_eq!(reply.status, 200, "{}", reply.stderr);
    // Nothing listens where only invalid listeners are.
    let (ok, out) = s_client(bad_port, Some("missing.test"), &[]);
    assert!(!ok, "{out}");
}

/// A Secret that changes (cert-manager renewing it) reaches new handshakes within moments, with
/// no restart, while a connection opened before keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_rotate_without_restart_or_dropped_connections() {
    let ca = Ca::new();
    let port = free_port();
    let old = ca.leaf("rotate-old", &["rotate.test"], KeyKind::RsaPkcs1);
    let new = ca.leaf("rotate-new", &["rotate.test"], KeyKind::EcSec1);
    let web = Backend::start("web", "web-1").await;
    let mut config = gateway(&https_listener("https", port, None, &["cert"]));
    config.push_str(&service_yaml("web", web.addr, None));
    config.push_str(&route("web", "https", &[], "web"));
    let rauta = Rauta::start(&config).await;
    let secret_file = rauta.dir.path().join("secret.yaml");
    support::write_atomically(&secret_file, &secret_yaml("default", "cert", &old));
    rauta
        .eventually("the first certificate serves", || async {
            peer_cn(&s_client(port, Some("rotate.test"), &[]).1).as_deref() == Some("rotate-old")
        })
        .await;

    // A keep-alive HTTP/1.1 connection made with the old certificate.
    let stream = ca.connect(port, "rotate.test", &["http/1.1"]).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, http_body_util::Empty<bytes::Bytes>>(
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    // One request at a time on the connection: wait until it is ready, read the whole answer.
    async fn get(sender: &mut hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>) -> u16 {
        use http_body_util::BodyExt;
        sender
            .ready()
            .await
            .expect("the connection made before the rotation is still open");
        let request = http::Request::get("/before")
            .header("host", "rotate.test")
            .body(http_body_util::Empty::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        response.into_body().collect().await.unwrap();
        status
    }
    assert_eq!(get(&mut sender).await, 200);

    let rotated = Instant::now();
    support::write_atomically(&secret_file, &secret_yaml("default", "cert", &new));
    rauta
        .eventually("new handshakes see the new certificate", || async {
            peer_cn(&s_client(port, Some("rotate.test"), &[]).1).as_deref() == Some("rotate-new")
        })
        .await;
    let took = rotated.elapsed();
    eprintln!("certificate rotation reached new handshakes in {took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // The old connection still serves requests.
    for _ in 0..3 {
        assert_eq!(get(&mut sender).await, 200);
    }
    let reply = curl(&ca.crt_path, port, "rotate.test", None, "/after", "--http2");
    assert_eq!(reply.status, 200, "{}", reply.stderr);
}

/// Redirects keep the scheme the request came with; a scheme redirect sends HTTP to HTTPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_know_the_scheme() {
    let ca = Ca::new();
    let (http_port, https_port) = (free_port(), free_port());
    let pem = ca.leaf("app.test", &["app.test"], KeyKind::EcSec1);
    let mut yaml = gateway(&format!(
        "  - {{name: http, protocol: HTTP, port: {http_port}}}\n{}",
        https_listener("https", https_port, None, &["cert"])
    ));
    yaml.push_str(&secret_yaml("default", "cert", &pem));
    yaml.push_str(&format!(
        r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: to-https, namespace: default}}
spec:
  parentRefs: [{{name: tls, sectionName: http}}]
  rules:
  - filters: [{{type: RequestRedirect, requestRedirect: {{scheme: https, port: {https_port}}}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: moved, namespace: default}}
spec:
  parentRefs: [{{name: tls, sectionName: https}}]
  rules:
  - filters: [{{type: RequestRedirect, requestRedirect: {{path: {{type: ReplaceFullPath, replaceFullPath: /new}}}}}}]
"#
    ));
    let rauta = Rauta::start(&yaml).await;
    let reply = rauta.get(http_port, "app.test", "/x?y=1").await;
    assert_eq!(reply.status, 302);
    assert_eq!(
        reply.headers["location"],
        format!("https://app.test:{https_port}/x?y=1")
    );
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "--cacert",
        ])
        .arg(&ca.crt_path)
        .args(["--resolve", &format!("app.test:{https_port}:127.0.0.1")])
        .arg(format!("https://app.test:{https_port}/old"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text, format!("302 https://app.test:{https_port}/new"));
}

/// Client certificate validation: the default CA on one port, a per-port CA on another, and
/// AllowInsecureFallback on a third Gateway. Strict ports refuse in the handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_checked_during_the_handshake() {
    let server_ca = Ca::new();
    let (default_ca, port_ca) = (Ca::new(), Ca::new());
    let (strict, per_port, fallback) = (free_port(), free_port(), free_port());
    let pem = server_ca.leaf("mtls.test", &["mtls.test"], KeyKind::EcSec1);
    let web = Backend::start("web", "web-1").await;
    let config_map = |name: &str, ca: &Ca| {
        let indented: String = ca.crt().lines().map(|l| format!("    {l}\n")).collect();
        format!(
            "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: default}}\ndata:\n  ca.crt: |\n{indented}"
        )
    };
    let mut yaml = gateway(&format!(
        "{}{}",
        https_listener("https", strict, None, &["cert"]),
        https_listener("https-per-port", per_port, None, &["cert"]),
    ));
    yaml = yaml.replace(
        "  gatewayClassName: rauta\n",
        &format!(
            "  gatewayClassName: rauta\n  tls:\n    frontend:\n      default:\n        validation:\n          caCertificateRefs: [{{group: \"\", kind: ConfigMap, name: default-ca}}]\n      perPort:\n      - port: {per_port}\n        tls: {{validation: {{caCertificateRefs: [{{group: \"\", kind: ConfigMap, name: port-ca}}]}}}}\n"
        ),
    );
    yaml.push_str(&format!(
        "\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: fallback, namespace: default}}\nspec:\n  gatewayClassName: rauta\n  tls:\n    frontend:\n      default:\n        validation:\n          mode: AllowInsecureFallback\n          caCertificateRefs: [{{group: \"\", kind: ConfigMap, name: default-ca}}]\n  listeners:\n{}",
        https_listener("https", fallback, None, &["cert"])
    ));
    yaml.push_str(&config_map("default-ca", &default_ca));
    yaml.push_str(&config_map("port-ca", &port_ca));
    yaml.push_str(&secret_yaml("default", "cert", &pem));
    yaml.push_str(&service_yaml("web", web.addr, None));
    yaml.push_str(&route("web", "https", &[], "web"));
    yaml.push_str(&route("web-per-port", "https-per-port", &[], "web"));
    yaml.push_str(
        "\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: web-fallback, namespace: default}\nspec:\n  parentRefs: [{name: fallback}]\n  rules:\n  - backendRefs: [{name: web, port: 80}]\n",
    );
    let rauta = Rauta::start(&yaml).await;
    let fallback_status = rauta.status_of("Gateway", "fallback").await;
    let insecure = fallback_status["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "InsecureFrontendValidationMode" && c["status"] == "True");
    assert!(insecure, "{fallback_status}");

    let default_client = server_ca.files("default-client", &default_ca.client("default-client"));
    let port_client = port_ca.files("port-client", &port_ca.client("port-client"));
    let ca = server_ca.crt_path.as_path();
    let with = |(crt, key): &(std::path::PathBuf, std::path::PathBuf), port: u16| {
        certs::curl_with(
            ca,
            port,
            "mtls.test",
            None,
            "/",
            "--http2",
            &["--cert", crt.to_str().unwrap(), "--key", key.to_str().unwrap()],
        )
    };
    let without = |port: u16| curl(ca, port, "mtls.test", None, "/", "--http2");

    // The server asks for a certificate, naming the CA it trusts.
    let (_, out) = s_client(strict, Some("mtls.test"), &[]);
    assert!(out.contains("Acceptable client certificate CA names"), "{out}");
    assert!(out.contains("Rauta Test CA"), "{out}");

    assert_eq!(with(&default_client, strict).status, 200);
    for refused in [
        with(&port_client, strict),
        without(strict),
        with(&default_client, per_port),
        without(per_port),
    ] {
        assert!(
            !refused.ok && refused.status == 0,
            "refused in the handshake: {refused:?}"
        );
    }
    assert_eq!(with(&port_client, per_port).status, 200);
    for reply in [
        with(&default_client, fallback),
        with(&port_client, fallback),
        without(fallback),
    ] {
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    let (_, out) = s_client(fallback, Some("mtls.test"), &[]);
    assert!(out.contains("Acceptable client certificate CA names"), "{out}");
}
