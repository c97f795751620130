//! Load through an HTTPS listener with a real HTTP/2 client: nghttp2's h2load (installed by
//! `scripts/install-test-deps`), several connections each with many concurrent streams.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/certs.rs"]
mod certs;
mod support;

use std::process::Command;

use certs::{Ca, KeyKind, secret_yaml};
use support::{Backend, Rauta, free_port, service_yaml};

/// The counts of h2load's summary line
/// `requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout`.
fn request_counts(output: &str) -> Option<Vec<(String, u64)>> {
    let line = output.lines().find(|l| l.starts_with("requests:"))?;
    line.trim_start_matches("requests:")
        .split(',')
        .map(|part| {
            let (n, what) = part.trim().split_once(' ')?;
            Some((what.to_owned(), n.parse().ok()?))
        })
        .collect()
}

#[test]
fn summary_lines_parse() {
    let out =
        "finished in 1s\nrequests: 400 total, 400 started, 400 done, 398 succeeded, 2 failed, 0 errored, 0 timeout\n";
    let counts = request_counts(out).unwrap();
    assert_eq!(counts[3], ("succeeded".to_owned(), 398));
    assert_eq!(counts[4], ("failed".to_owned(), 2));
    assert_eq!(request_counts("no summary"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2load_over_tls_succeeds_on_every_request() {
    const REQUESTS: u64 = 400;
    let ca = Ca::new();
    let pem = ca.leaf("h2load.test", &["h2load.test"], KeyKind::EcSec1);
    let backend = Backend::start("web", "web-0").await;
    let port = free_port();
    let mut yaml = format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {{name: rauta}}\nspec: {{controllerName: rauta.io/gateway-controller}}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: gw, namespace: default}}\nspec:\n  gatewayClassName: rauta\n  listeners:\n  - {{name: https, protocol: HTTPS, port: {port}, hostname: h2load.test, tls: {{certificateRefs: [{{name: cert}}]}}}}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: r, namespace: default}}\nspec:\n  parentRefs: [{{name: gw}}]\n  rules:\n  - backendRefs: [{{name: web, port: 80}}]\n"
    );
    yaml.push_str(&secret_yaml("default", "cert", &pem));
    yaml.push_str(&service_yaml("web", backend.addr, None));
    let rauta = Rauta::start(&yaml).await;

    // SNI and :authority h2load.test, TCP to loopback; 4 connections, 10 streams each.
    let output = tokio::task::spawn_blocking(move || {
        Command::new("h2load")
            .args(["-n", &REQUESTS.to_string(), "-c4", "-m10"])
            .arg(format!("--connect-to=127.0.0.1:{port}"))
            .arg(format!("https://h2load.test:{port}/load"))
            .output()
            .expect("run h2load (scripts/install-test-deps installs it)")
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "h2load failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("Application protocol: h2"), "not HTTP/2 over TLS: {text}");
    let counts = request_counts(&text).unwrap_or_else(|| panic!("no summary in: {text}"));
    let count = |what: &str| counts.iter().find(|(w, _)| w == what).map(|(_, n)| *n);
    assert_eq!(count("total"), Some(REQUESTS), "{text}");
    assert_eq!(count("succeeded"), Some(REQUESTS), "{text}");
    assert_eq!((count("failed"), count("errored")), (Some(0), Some(0)), "{text}");
    assert!(text.contains(&format!("status codes: {REQUESTS} 2xx")), "{text}");
    assert_eq!(backend.paths().len() as u64, REQUESTS, "{}", rauta.stderr_text());
}
