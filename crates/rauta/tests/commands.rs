//! The newcomer's commands through the real binary: `rauta quickstart` and `rauta echo`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::{free_port, send};

async fn get(url: &str, headers: &[(&str, &str)]) -> Result<support::Reply, String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut builder = http::Request::get(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    send(&client, builder.body(Full::new(Bytes::new())).unwrap()).await
}

async fn wait_for(url: &str) {
    for _ in 0..400 {
        if get(url, &[]).await.is_ok_and(|r| r.status == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{url} never answered 200");
}

/// Uses the quickstart's fixed ports (8080, 9101-9103): the only test that does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_serves_the_tour_it_prints() {
    let admin = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_rauta"))
        .args([
            "quickstart",
            "--admin-address",
            &admin,
            "--access-log",
            "off",
            "--dir",
            "/nonexistent/uses-embedded",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let tour = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.contains("Ctrl-C"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    wait_for(&format!("http://{admin}/ready")).await;

    let mut services = std::collections::HashMap::<String, u32>::new();
    for _ in 0..50 {
        let reply = get("http://127.0.0.1:8080/", &[]).await.unwrap();
        *services
            .entry(reply.json()["service"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(
        services["web-v1"] > services.get("web-v2").copied().unwrap_or(0),
        "90/10 split: {services:?}"
    );
    let canary = get("http://127.0.0.1:8080/", &[("x-canary", "always")]).await.unwrap();
    assert_eq!(canary.json()["service"], "web-v2");
    let api = get("http://127.0.0.1:8080/api/users", &[]).await.unwrap();
    assert_eq!(api.json()["path"], "/users");
    assert_eq!(api.echoed_header("x-via").as_deref(), Some("rauta"));
    let redirect = get("http://127.0.0.1:8080/old-docs/intro", &[]).await.unwrap();
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.headers["location"], "http://127.0.0.1:8080/docs/intro");

    child.kill().unwrap();
    let _ = child.wait();
    let tour = tour.join().unwrap();
    assert!(tour.contains("curl -s localhost:8080/"), "{tour}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_answers_like_echo_basic_and_logs_each_request() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rauta"))
        .args([
            "echo",
            "--address",
            &format!("127.0.0.1:{port}"),
            "--namespace",
            "ns1",
            "--pod",
            "pod-1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let url = format!("http://127.0.0.1:{port}/hello?x=1");
    for _ in 0..400 {
        if get(&url, &[]).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let reply = get(&url, &[]).await.unwrap();
    let json = reply.json();
    assert_eq!(json["path"], "/hello?x=1");
    assert_eq!(json["namespace"], "ns1");
    assert_eq!(json["pod"], "pod-1");
    let first = BufReader::new(stdout).lines().next().unwrap().unwrap();
    assert!(
        first.starts_with("Echoing back request made to /hello?x=1 to client (127.0.0.1:"),
        "{first}"
    );
    child.kill().unwrap();
    let _ = child.wait();
}
