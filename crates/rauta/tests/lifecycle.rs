//! The process as users run it: hot reload (good and bad), admin endpoints, promtool,
//! graceful shutdown, `rauta validate`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use std::time::Duration;

use support::{Backend, Rauta, free_port, gateway_yaml, service_yaml};

fn route(name: &str, path: &str, backend: &str) -> String {
    support::http_route(name, path, backend, "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_applies_good_changes_and_keeps_serving_through_bad_ones() {
    let port = free_port();
    let echo = Backend::start("echo", "echo").await;
    let base = format!("{}{}", gateway_yaml(port), service_yaml("echo", echo.addr, None));
    let rauta = Rauta::start(&format!("{base}{}", route("one", "/one", "echo"))).await;
    assert_eq!(rauta.get(port, "r.test", "/one").await.status, 200);
    assert_eq!(rauta.get(port, "r.test", "/two").await.status, 404);

    // A good change: a second route appears without a restart.
    rauta.rewrite(&format!(
        "{base}{}{}",
        route("one", "/one", "echo"),
        route("two", "/two", "echo")
    ));
    rauta
        .eventually("the new route serves", || async {
            rauta.get(port, "r.test", "/two").await.status == 200
        })
        .await;

    // A bad change: the file no longer parses. The last good configuration keeps serving.
    let broken = format!(
        "{base}{}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: three, namespace: default}}\nspec:\n  rules:\n  - matches: [{{path: {{type: Prefix, value: /three}}}}]\n",
        route("one", "/one", "echo")
    );
    rauta.rewrite(&broken);
    rauta
        .eventually("the rejected reload is counted", || async {
            let metrics = rauta
                .admin_get("/metrics")
                .await
                .map(|r| String::from_utf8_lossy(&r.body).into_owned());
            metrics.is_ok_and(|m| m.contains("rauta_config_reloads_total{result=\"failed\"} 1"))
        })
        .await;
    assert_eq!(
        rauta.get(port, "r.test", "/two").await.status,
        200,
        "the last good config still serves /two"
    );
    assert_eq!(rauta.get(port, "r.test", "/one").await.status, 200);
    let log = rauta.stderr_text();
    assert!(log.contains("config.yaml"), "the error names the file: {log}");
    assert!(
        log.contains("HTTPRoute default/three"),
        "the error names the resource: {log}"
    );
    assert!(
        log.contains("spec.rules[0].matches[0].path.type"),
        "the error names the field: {log}"
    );
    let three = rauta.status_of("HTTPRoute", "three").await;
    assert_eq!(three["status"]["conditions"][0]["status"], "False", "{three:#}");

    // Fixing it applies again.
    rauta.rewrite(&format!("{base}{}", route("one", "/one", "echo")));
    rauta
        .eventually("the fixed config applies", || async {
            rauta.get(port, "r.test", "/two").await.status == 404
        })
        .await;
}

/// Reloads reuse what did not change (each route's translation, its compiled rules, unchanged
/// clusters), yet routes kept from a file that did not change follow every change of what they
/// depend on: a new route file serves beside them, their Service's endpoints move, the Service
/// loses the port they name (500) and gets it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_routes_follow_changes_of_what_they_depend_on() {
    let port = free_port();
    let a = Backend::start("svc", "pod-a").await;
    let b = Backend::start("svc", "pod-b").await;
    let base = gateway_yaml(port);
    let rauta = Rauta::start(&format!("{base}{}", service_yaml("svc", a.addr, None))).await;
    let routes: String = (0..50)
        .map(|i| route(&format!("r{i}"), &format!("/r{i}"), "svc"))
        .collect();
    support::write_atomically(&rauta.dir.path().join("routes.yaml"), &routes);
    // Status, and which backend answered (only 200s come from one).
    let pod = |reply: support::Reply| {
        let pod = (reply.status == 200).then(|| reply.json()["pod"].as_str().map(str::to_owned));
        (reply.status.as_u16(), pod.flatten())
    };
    rauta
        .eventually("the routes serve", || async {
            pod(rauta.get(port, "r.test", "/r49").await) == (200, Some("pod-a".into()))
        })
        .await;

    support::write_atomically(&rauta.dir.path().join("new.yaml"), &route("new", "/new", "svc"));
    rauta
        .eventually("a new route file serves", || async {
            rauta.get(port, "r.test", "/new").await.status == 200
        })
        .await;
    assert_eq!(pod(rauta.get(port, "r.test", "/r7").await), (200, Some("pod-a".into())));

    rauta.rewrite(&format!("{base}{}", service_yaml("svc", b.addr, None)));
    rauta
        .eventually("kept routes follow the Service's new endpoints", || async {
            pod(rauta.get(port, "r.test", "/r7").await) == (200, Some("pod-b".into()))
        })
        .await;

    let other_port = service_yaml("svc", b.addr, None).replacen("port: 80\n", "port: 81\n", 1);
    rauta.rewrite(&format!("{base}{other_port}"));
    rauta
        .eventually("kept routes lose the port they name", || async {
            rauta.get(port, "r.test", "/r7").await.status == 500
        })
        .await;
    let status = rauta.status_of("HTTPRoute", "r7").await;
    assert_eq!(
        status["status"]["parents"][0]["conditions"][1]["reason"], "BackendNotFound",
        "{status:#}"
    );

    rauta.rewrite(&format!("{base}{}", service_yaml("svc", b.addr, None)));
    rauta
        .eventually("and get it back", || async {
            pod(rauta.get(port, "r.test", "/r7").await) == (200, Some("pod-b".into()))
        })
        .await;
    assert_eq!(rauta.get(port, "r.test", "/new").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_open_and_close_as_gateways_change_without_disturbing_the_others() {
    let (port, second_port) = (free_port(), free_port());
    let echo = Backend::start("echo", "echo").await;
    let base = format!(
        "{}{}{}",
        gateway_yaml(port),
        service_yaml("echo", echo.addr, None),
        route("one", "/", "echo")
    );
    let second = format!(
        r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: second, namespace: default}}
spec:
  gatewayClassName: rauta
  listeners:
  - {{name: http, protocol: HTTP, port: {second_port}, allowedRoutes: {{namespaces: {{from: All}}}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: on-second, namespace: default}}
spec:
  parentRefs: [{{name: second}}]
  rules:
  - backendRefs: [{{name: echo, port: 80}}]
"#
    );
    let rauta = Rauta::start(&base).await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", second_port))
            .await
            .is_err()
    );

    // Keep a connection to the first Gateway open across both reloads: it must keep working.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let get = |port: u16| {
        let req = http::Request::get(format!("http://127.0.0.1:{port}/"))
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        support::send(&client, req)
    };
    assert_eq!(get(port).await.unwrap().status, 200);

    rauta.rewrite(&format!("{base}{second}"));
    rauta
        .eventually("the second Gateway's listener opens", || async {
            get(second_port).await.is_ok_and(|r| r.status == 200)
        })
        .await;
    assert_eq!(get(port).await.unwrap().status, 200);

    rauta.rewrite(&base);
    rauta
        .eventually("the second Gateway's listener closes", || async {
            tokio::net::TcpStream::connect(("127.0.0.1", second_port))
                .await
                .is_err()
        })
        .await;
    assert_eq!(
        get(port).await.unwrap().status,
        200,
        "the first Gateway never stopped serving"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_cannot_be_bound_makes_the_gateway_not_programmed() {
    // Someone else holds 127.0.0.1:port, the address the Gateway asks for.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let yaml = gateway_yaml(port).replace(
        "  gatewayClassName: rauta\n",
        "  gatewayClassName: rauta\n  addresses: [{type: IPAddress, value: 127.0.0.1}]\n",
    );
    let rauta = Rauta::start(&yaml).await;
    let gw = rauta.status_of("Gateway", "gw").await;
    let condition = |t: &str| {
        gw["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == t)
            .cloned()
            .unwrap()
    };
    assert_eq!(condition("Accepted")["status"], "True", "{gw:#}");
    assert_eq!(condition("Programmed")["status"], "False", "{gw:#}");
    assert_eq!(condition("Programmed")["reason"], "AddressNotUsable");
    assert!(
        condition("Programmed")["message"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}"))
    );
    assert_eq!(
        gw["status"]["listeners"][0]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Programmed")
            .unwrap()["status"],
        "False"
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoints_and_promtool_accepts_the_metrics() {
    let port = free_port();
    let echo = Backend::start("echo", "echo").await;
    let yaml = format!(
        "{}{}{}",
        gateway_yaml(port),
        service_yaml("echo", echo.addr, None),
        route("one", "/", "echo")
    );
    let rauta = Rauta::start(&yaml).await;
    for _ in 0..3 {
        assert_eq!(rauta.get(port, "m.test", "/").await.status, 200);
    }
    assert_eq!(rauta.get(port, "m.test", "/").await.status, 200);
    assert_eq!(rauta.admin_get("/healthz").await.unwrap().status, 200);

    let config: serde_json::Value = serde_json::from_slice(&rauta.admin_get("/config").await.unwrap().body).unwrap();
    assert_eq!(config["binds"][0]["address"], format!("0.0.0.0:{port}"), "{config:#}");

    let status = rauta.status().await;
    let kinds: Vec<&str> = status
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    for kind in ["GatewayClass", "Gateway", "HTTPRoute"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    let gw = rauta.status_of("Gateway", "gw").await;
    let programmed = gw["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Programmed")
        .unwrap()
        .clone();
    assert_eq!(programmed["status"], "True");
    assert_eq!(programmed["observedGeneration"], 1);
    assert_ne!(
        programmed["lastTransitionTime"], "1970-01-01T00:00:00Z",
        "the status store sets real times"
    );

    let metrics = rauta.admin_get("/metrics").await.unwrap();
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    for name in [
        "rauta_requests_total",
        "rauta_request_duration_seconds",
        "rauta_downstream_connections_active",
        "rauta_config_reloads_total",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed by scripts/install-test-deps");
    use std::io::Write;
    promtool.stdin.take().unwrap().write_all(&metrics.body).unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_then_exits_zero() {
    let port = free_port();
    let echo = Backend::start("echo", "echo").await;
    let yaml = format!(
        "{}{}{}",
        gateway_yaml(port),
        service_yaml("echo", echo.addr, None),
        route("one", "/", "echo")
    );
    let mut rauta = Rauta::start(&yaml).await;
    let slow = {
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        let req = http::Request::get(format!("http://127.0.0.1:{port}/slow?delay=1s"))
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        tokio::spawn(async move { support::send(&client, req).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    rauta.terminate();
    let reply = slow.await.unwrap().expect("the in-flight request finishes");
    assert_eq!(reply.status, 200);
    let code = tokio::task::spawn_blocking(move || {
        let code = rauta.wait_exit(Duration::from_secs(10));
        (code, rauta)
    })
    .await
    .unwrap();
    assert_eq!(code.0, Some(0), "stderr:\n{}", code.1.stderr_text());
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(),
        "no longer accepting connections"
    );
}

#[test]
fn validate_prints_statuses_and_fails_on_invalid_resources() {
    let dir = tempfile::tempdir().unwrap();
    let good = format!("{}{}", gateway_yaml(8080), route("one", "/", "nowhere"));
    std::fs::write(dir.path().join("a.yaml"), &good).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rauta"))
        .args(["validate", "-f"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a missing backend is an error");
    assert!(stdout.contains("Gateway default/gw"), "{stdout}");
    assert!(stdout.contains("BackendNotFound"), "{stdout}");
    assert!(stderr.contains("HTTPRoute default/one"), "{stderr}");
    assert!(stderr.contains("spec.rules[0].backendRefs[0]"), "{stderr}");

    let fixed = format!(
        "{}{}",
        good,
        service_yaml("nowhere", "127.0.0.1:1".parse().unwrap(), None)
    );
    std::fs::write(dir.path().join("a.yaml"), fixed).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rauta"))
        .args(["validate", "-f"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    std::fs::write(dir.path().join("b.yaml"), "kind: HTTPRoute\napiVersion: gateway.networking.k8s.io/v1\nmetadata: {name: x}\nspec: {rules: [{matches: [{path: {type: Nope}}]}]}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rauta"))
        .args(["validate", "-f"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("b.yaml")
            && stderr.contains("HTTPRoute default/x")
            && stderr.contains("spec.rules[0].matches[0].path.type"),
        "{stderr}"
    );
}

/// The threads of process `pid` named `rauta-worker-*`, as `/proc/<pid>/task/<tid>` paths.
fn worker_threads(pid: u32) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|t| t.unwrap().path())
        .filter(|t| std::fs::read_to_string(t.join("comm")).is_ok_and(|name| name.trim().starts_with("rauta-worker-")))
        .collect();
    found.sort();
    found
}

/// How many times each thread gave up the CPU waiting (a worker blocks in epoll between
/// connections, so each burst of work it does counts at least one).
fn voluntary_switches(threads: &[std::path::PathBuf]) -> Vec<u64> {
    threads
        .iter()
        .map(|t| {
            let status = std::fs::read_to_string(t.join("status")).unwrap();
            status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect()
}

/// `--workers 3`: three single-threaded workers, each accepting on its own `SO_REUSEPORT`
/// socket of the bind, so the kernel spreads new connections over all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_worker_accepts_on_its_own_socket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let port = free_port();
    let echo = Backend::start("echo", "echo").await;
    let yaml = format!(
        "{}{}{}",
        gateway_yaml(port),
        service_yaml("echo", echo.addr, None),
        route("all", "/", "echo")
    );
    let rauta = Rauta::start_with(&yaml, &["--workers", "3"]).await;
    let workers = worker_threads(rauta.pid());
    assert_eq!(workers.len(), 3, "one thread per worker");
    let before = voluntary_switches(&workers);
    for i in 0..90 {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let request = format!("GET /{i} HTTP/1.1\r\nhost: r.test\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        assert!(
            response.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&response)
        );
    }
    let after = voluntary_switches(&workers);
    // Each worker gets a third of the connections on average; none getting fewer than three of
    // ninety has a chance below 1e-12 unless a socket is not served.
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(a - b >= 3, "worker {i} woke {} times for 90 connections", a - b);
    }
}
