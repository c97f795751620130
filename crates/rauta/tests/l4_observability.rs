//! What L4 sessions leave behind, through the real binary: one access-log line per finished TCP
//! stream, TLS stream and UDP session (protocol, SNI, route, listener, upstream, bytes each way,
//! why it failed), and the `rauta_l4_*` metrics on the admin port, which promtool accepts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/certs.rs"]
mod certs;
mod support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use certs::{Ca, KeyKind, secret_yaml};
use rauta_echo::{EchoConfig, EchoIdentity, EchoServer};
use serde_json::Value;
use support::{Rauta, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// A TCP server that echoes every byte back until the client closes.
async fn raw_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// echo-basic's UDP mode.
async fn udp_echo() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let server = EchoServer::new(EchoConfig::new(EchoIdentity {
        namespace: "default".into(),
        pod: "udp-echo".into(),
        ..Default::default()
    }));
    tokio::spawn(async move { server.serve_udp(socket, std::future::pending()).await });
    addr
}

/// Service `name` (port 7, `protocol`) with one endpoint on 127.0.0.1:`port`.
fn service(name: &str, protocol: &str, port: u16) -> String {
    format!(
        "\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  ports: [{{name: p, port: 7, protocol: {protocol}}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}, namespace: default, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{name: p, port: {port}, protocol: {protocol}}}]\nendpoints: [{{addresses: [\"127.0.0.1\"]}}]\n"
    )
}

fn route(kind: &str, name: &str, section: &str, hostnames: &str, backend: &str) -> String {
    let api = if kind == "TLSRoute" { "v1" } else { "v1alpha2" };
    format!(
        "\n---\napiVersion: gateway.networking.k8s.io/{api}\nkind: {kind}\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  parentRefs: [{{name: gw, sectionName: {section}}}]\n{hostnames}  rules:\n  - backendRefs: [{{name: {backend}, port: 7}}]\n"
    )
}

fn gateway(listeners: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {{name: rauta}}\nspec: {{controllerName: rauta.io/gateway-controller}}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: gw, namespace: default}}\nspec:\n  gatewayClassName: rauta\n  listeners:\n{listeners}"
    )
}

/// The access-log lines of sessions (those with a `bytes_in` field) so far.
fn session_lines(rauta: &Rauta) -> Vec<Value> {
    rauta
        .stdout
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("bytes_in").is_some())
        .collect()
}

/// Waits for the session line that `pick` selects.
async fn session_line(rauta: &Rauta, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let found = std::sync::Mutex::new(None);
    rauta
        .eventually(what, || {
            let line = session_lines(rauta).into_iter().find(|l| pick(l));
            let ok = line.is_some();
            *found.lock().unwrap() = line;
            async move { ok }
        })
        .await;
    found.into_inner().unwrap().unwrap()
}

async fn metrics(rauta: &Rauta) -> String {
    String::from_utf8_lossy(&rauta.admin_get("/metrics").await.unwrap().body).into_owned()
}

/// Waits until the metrics hold every line of `wants`.
async fn metrics_have(rauta: &Rauta, wants: &[String]) {
    rauta
        .eventually(&format!("metrics {wants:?}"), || async {
            let text = metrics(rauta).await;
            wants.iter().all(|w| text.lines().any(|l| l == w))
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l4_sessions_are_counted_and_logged() {
    let ca = Ca::new();
    let (tcp, refused, tls, udp) = (free_port(), free_port(), free_port(), free_port());
    let echo = raw_echo().await;
    let closed = free_port();
    let gateway_cert = ca.leaf("tls.example.net", &["tls.example.net"], KeyKind::EcSec1);
    let listeners = format!(
        "  - {{name: tcp, protocol: TCP, port: {tcp}}}\n  - {{name: refused, protocol: TCP, port: {refused}}}\n  - name: tls\n    protocol: TLS\n    port: {tls}\n    hostname: tls.example.net\n    tls: {{mode: Terminate, certificateRefs: [{{name: gateway-cert}}]}}\n"
    );
    let udp_listener = format!("  - {{name: udp, protocol: UDP, port: {udp}}}\n");
    let mut rest = String::new();
    rest.push_str(&secret_yaml("default", "gateway-cert", &gateway_cert));
    rest.push_str(&service("echo", "TCP", echo.port()));
    rest.push_str(&service("nothing", "TCP", closed));
    rest.push_str(&service("udp-echo", "UDP", udp_echo().await.port()));
    rest.push_str(&route("TCPRoute", "stream", "tcp", "", "echo"));
    rest.push_str(&route("TCPRoute", "refused", "refused", "", "nothing"));
    rest.push_str(&route(
        "TLSRoute",
        "secure",
        "tls",
        "  hostnames: [tls.example.net]\n",
        "echo",
    ));
    let udp_route = route("UDPRoute", "datagrams", "udp", "", "udp-echo");
    let yaml = format!("{}{udp_listener}{rest}{udp_route}", gateway(&listeners));
    let rauta = Rauta::start(&yaml).await;

    // TCP: 12 bytes each way, counted while the stream is open.
    let mut stream = TcpStream::connect(("127.0.0.1", tcp)).await.unwrap();
    let client = stream.local_addr().unwrap();
    stream.write_all(b"hello world\n").await.unwrap();
    let mut back = [0u8; 12];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"hello world\n");
    let series = r#"{protocol="tcp",route="default/stream"}"#;
    metrics_have(
        &rauta,
        &[
            format!("rauta_l4_sessions_total{series} 1"),
            format!("rauta_l4_sessions_active{series} 1"),
            format!("rauta_l4_received_bytes_total{series} 12"),
            format!("rauta_l4_sent_bytes_total{series} 12"),
        ],
    )
    .await;
    drop(stream);
    let line = session_line(&rauta, "the TCP line", |l| {
        l["protocol"] == "TCP" && l["route"] == "default/stream"
    })
    .await;
    assert_eq!(line["client"], client.to_string(), "{line}");
    assert_eq!(line["listener"], "default/gw/tcp", "{line}");
    assert_eq!(line["upstream"], echo.to_string(), "{line}");
    assert_eq!(
        (line["bytes_in"].as_u64(), line["bytes_out"].as_u64()),
        (Some(12), Some(12)),
        "{line}"
    );
    assert_eq!(line["reason"], Value::Null, "{line}");
    assert_eq!(line["tls_mode"], Value::Null, "{line}");
    assert!(line["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
    metrics_have(&rauta, &[format!("rauta_l4_sessions_active{series} 0")]).await;

    // A backend that refuses: the stream is closed, and says why.
    let mut stream = TcpStream::connect(("127.0.0.1", refused)).await.unwrap();
    let mut nothing = Vec::new();
    let _ = stream.read_to_end(&mut nothing).await;
    let line = session_line(&rauta, "the refused line", |l| l["route"] == "default/refused").await;
    assert_eq!(line["reason"], "upstream_connect_failure", "{line}");
    assert_eq!(line["upstream"], format!("127.0.0.1:{closed}"), "{line}");
    metrics_have(
        &rauta,
        &[
            r#"rauta_l4_session_errors_total{protocol="tcp",reason="upstream_connect_failure"} 1"#.to_owned(),
            r#"rauta_l4_sessions_total{protocol="tcp",route="default/refused"} 1"#.to_owned(),
        ],
    )
    .await;

    // TLS terminated: the decrypted bytes, the SNI and the mode.
    let mut secure = ca.connect(tls, "tls.example.net", &[]).await.unwrap();
    secure.write_all(b"0123456789").await.unwrap();
    let mut back = [0u8; 10];
    secure.read_exact(&mut back).await.unwrap();
    secure.shutdown().await.unwrap();
    drop(secure);
    let line = session_line(&rauta, "the TLS line", |l| l["route"] == "default/secure").await;
    assert_eq!(line["protocol"], "TLS", "{line}");
    assert_eq!(line["tls_mode"], "Terminate", "{line}");
    assert_eq!(line["sni"], "tls.example.net", "{line}");
    assert_eq!(line["listener"], "default/gw/tls", "{line}");
    assert_eq!(
        (line["bytes_in"].as_u64(), line["bytes_out"].as_u64()),
        (Some(10), Some(10)),
        "{line}"
    );
    let series = r#"{protocol="tls",route="default/secure"}"#;
    metrics_have(
        &rauta,
        &[
            format!("rauta_l4_received_bytes_total{series} 10"),
            format!("rauta_l4_sent_bytes_total{series} 10"),
        ],
    )
    .await;

    // TLS for a name no listener serves: closed, counted without a route.
    assert!(ca.connect(tls, "unknown.example.org", &[]).await.is_err());
    let line = session_line(&rauta, "the unrouted TLS line", |l| l["sni"] == "unknown.example.org").await;
    assert_eq!(line["reason"], "no_route", "{line}");
    assert_eq!(
        (line["route"].clone(), line["listener"].clone()),
        (Value::Null, Value::Null),
        "{line}"
    );
    metrics_have(
        &rauta,
        &[
            r#"rauta_l4_session_errors_total{protocol="tls",reason="no_route"} 1"#.to_owned(),
            r#"rauta_l4_sessions_total{protocol="tls",route="none"} 1"#.to_owned(),
        ],
    )
    .await;

    // UDP: one session for two datagrams, open until its bind goes away.
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.connect(("127.0.0.1", udp)).await.unwrap();
    let mut answered = 0;
    for payload in ["ping", "pong!"] {
        socket.send(payload.as_bytes()).await.unwrap();
        let mut buffer = [0u8; 2048];
        answered += socket.recv(&mut buffer).await.unwrap() as u64;
    }
    let series = r#"{protocol="udp",route="default/datagrams"}"#;
    metrics_have(
        &rauta,
        &[
            format!("rauta_l4_sessions_total{series} 1"),
            format!("rauta_l4_sessions_active{series} 1"),
            format!("rauta_l4_received_bytes_total{series} 9"),
            format!("rauta_l4_sent_bytes_total{series} {answered}"),
        ],
    )
    .await;
    rauta.rewrite(&format!("{}{rest}", gateway(&listeners)));
    let line = session_line(&rauta, "the UDP line", |l| l["protocol"] == "UDP").await;
    assert_eq!(line["client"], socket.local_addr().unwrap().to_string(), "{line}");
    assert_eq!(line["route"], "default/datagrams", "{line}");
    assert_eq!(line["listener"], "default/gw/udp", "{line}");
    assert_eq!(
        (line["bytes_in"].as_u64(), line["bytes_out"].as_u64()),
        (Some(9), Some(answered)),
        "{line}"
    );
    assert_eq!(line["reason"], Value::Null, "{line}");
    metrics_have(&rauta, &[format!("rauta_l4_sessions_active{series} 0")]).await;

    // The exposition, L4 families included, is valid.
    let text = metrics(&rauta).await;
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed by scripts/install-test-deps");
    let mut stdin = promtool.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, text.as_bytes()).unwrap();
    drop(stdin);
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
