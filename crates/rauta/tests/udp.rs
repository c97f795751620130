//! UDPRoute through the real binary: echo-basic's UDP mode behind weighted backendRefs, one
//! session per client address (every datagram of a client goes to the endpoint its first one
//! chose), replies from the address the client spoke to, the oldest route owning the listener,
//! and a TCP listener on the same port number served beside it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use rauta_echo::{EchoConfig, EchoIdentity, EchoServer};
use serde_json::Value;
use support::{Rauta, free_port};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

fn identity(pod: &str) -> EchoIdentity {
    EchoIdentity {
        namespace: "default".into(),
        pod: pod.into(),
        ..Default::default()
    }
}

/// echo-basic's UDP mode as pod `pod`.
async fn udp_echo(pod: &str) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let server = EchoServer::new(EchoConfig::new(identity(pod)));
    tokio::spawn(async move { server.serve_udp(socket, std::future::pending()).await });
    addr
}

/// echo-basic's TCP mode as pod `pod`.
async fn tcp_echo(pod: &str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = EchoServer::new(EchoConfig::new(identity(pod)));
    tokio::spawn(async move { server.serve_tcp(listener, std::future::pending()).await });
    addr
}

/// Service `name` with port 53 of `protocol` and one endpoint, `addr`.
fn service(name: &str, protocol: &str, addr: SocketAddr) -> String {
    format!(
        "\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  ports: [{{name: dns, port: 53, protocol: {protocol}}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}, namespace: default, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{name: dns, port: {}, protocol: {protocol}}}]\nendpoints: [{{addresses: [\"127.0.0.1\"]}}]\n",
        addr.port()
    )
}

fn route(kind: &str, name: &str, section: &str, backends: &[(&str, u32)], created: &str) -> String {
    let refs: Vec<String> = backends
        .iter()
        .map(|(b, w)| format!("{{name: {b}, port: 53, weight: {w}}}"))
        .collect();
    format!(
        "\n---\napiVersion: gateway.networking.k8s.io/v1alpha2\nkind: {kind}\nmetadata: {{name: {name}, namespace: default, creationTimestamp: \"{created}\"}}\nspec:\n  parentRefs: [{{name: gw, sectionName: {section}}}]\n  rules:\n  - backendRefs: [{}]\n",
        refs.join(", ")
    )
}

/// Sends `payload` from `socket` to the gateway and reads the echo's answer, which must come from
/// the gateway's address.
async fn exchange(socket: &UdpSocket, port: u16, payload: &str) -> Value {
    let gateway: SocketAddr = ([127, 0, 0, 1], port).into();
    socket.send_to(payload.as_bytes(), gateway).await.unwrap();
    let mut buffer = [0u8; 2048];
    let (n, from) = tokio::time::timeout(Duration::from_secs(10), socket.recv_from(&mut buffer))
        .await
        .expect("no answer to a datagram")
        .unwrap();
    assert_eq!(
        from, gateway,
        "the answer must come from the address the client spoke to"
    );
    let answer: Value = serde_json::from_slice(&buffer[..n]).unwrap();
    assert_eq!(answer["request"], payload, "{answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_routes_relay_datagrams_per_session_with_weights() {
    let port = free_port();
    let mut yaml = format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {{name: rauta}}\nspec: {{controllerName: rauta.io/gateway-controller}}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: gw, namespace: default}}\nspec:\n  gatewayClassName: rauta\n  listeners:\n  - {{name: udp, protocol: UDP, port: {port}}}\n  - {{name: tcp, protocol: TCP, port: {port}}}\n"
    );
    for pod in ["v1", "v2", "v3", "newer"] {
        yaml.push_str(&service(pod, "UDP", udp_echo(pod).await));
    }
    yaml.push_str(&service("tcp", "TCP", tcp_echo("tcp").await));
    yaml.push_str(&route(
        "UDPRoute",
        "older",
        "udp",
        &[("v1", 3), ("v2", 1), ("v3", 0)],
        "2020-01-01T00:00:00Z",
    ));
    yaml.push_str(&route(
        "UDPRoute",
        "newer",
        "udp",
        &[("newer", 1)],
        "2024-01-01T00:00:00Z",
    ));
    yaml.push_str(&route("TCPRoute", "tcp", "tcp", &[("tcp", 1)], "2020-01-01T00:00:00Z"));
    let rauta = Rauta::start(&yaml).await;

    let status = rauta.status_of("Gateway", "gw").await;
    assert_eq!(status["status"]["listeners"][0]["attachedRoutes"], 2, "{status}");
    assert_eq!(
        status["status"]["listeners"][0]["supportedKinds"][0]["kind"],
        "UDPRoute"
    );
    let older = rauta.status_of("UDPRoute", "older").await;
    for (i, t) in ["Accepted", "ResolvedRefs"].iter().enumerate() {
        let c = &older["status"]["parents"][0]["conditions"][i];
        assert_eq!(
            (c["type"].as_str(), c["status"].as_str()),
            (Some(*t), Some("True")),
            "{older}"
        );
    }

    // One client per session: the backend of each is chosen by weight.
    let sessions = 200;
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for i in 0..sessions {
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let answer = exchange(&client, port, &format!("hello {i}")).await;
        *seen.entry(answer["pod"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert!(!seen.contains_key("v3") && !seen.contains_key("newer"), "{seen:?}");
    let v1 = f64::from(seen.get("v1").copied().unwrap_or(0)) / f64::from(sessions);
    assert!((0.6..0.9).contains(&v1), "weights 3:1 gave {seen:?}");
    assert!(seen.get("v2").copied().unwrap_or(0) > 0, "{seen:?}");

    // Every datagram of one client goes to the endpoint its first datagram chose.
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let first = exchange(&client, port, "sticky 0").await["pod"].clone();
    for i in 1..20 {
        assert_eq!(exchange(&client, port, &format!("sticky {i}")).await["pod"], first);
    }

    // The TCP listener on the same port number is a socket of its own.
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut tcp = BufReader::new(tcp);
    let mut line = String::new();
    tcp.read_line(&mut line).await.unwrap();
    assert_eq!(
        line.trim_end(),
        "Gateway API Test TCP Server",
        "echo-basic speaks first"
    );
    tcp.get_mut().write_all(b"TEST\n").await.unwrap();
    line.clear();
    tcp.read_line(&mut line).await.unwrap();
    let test: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(test["pod"], "tcp", "{test}");
}
