//! TCP mode (server speaks first, line protocol) and UDP mode (JSON per datagram).

use rauta_echo::{EchoConfig, EchoServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UdpSocket};

use crate::support::{identity, start_tcp, start_udp};

#[tokio::test]
async fn tcp_server_speaks_first_and_answers_the_line_protocol() {
    let config = EchoConfig {
        tls_port: Some("8443".into()),
        ..EchoConfig::new(identity("tcp-backend-1-a"))
    };
    let server = start_tcp(EchoServer::new(config)).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "Gateway API Test TCP Server");

    write.write_all(b"HELLO\nPING\r\nIS_TLS\nTEST\n").await.unwrap();
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "PONG");
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "false");
    let test = lines.next_line().await.unwrap().unwrap();
    let port = server.addr.port();
    assert_eq!(
        test,
        format!(
            r#"{{"namespace":"gateway-conformance-infra","ingress":"","service":"infra-backend-v1","pod":"tcp-backend-1-a","tcpport":"{port}","tlsport":"8443","isTLS":false}}"#
        )
    );
    // A last line without a newline is still answered when the client half-closes.
    write.write_all(b"PING").await.unwrap();
    write.shutdown().await.unwrap();
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "PONG");
    assert_eq!(lines.next_line().await.unwrap(), None);
    server.stop().await;
}

#[tokio::test]
async fn tcp_shutdown_closes_open_connections() {
    let server = start_tcp(EchoServer::new(EchoConfig::default())).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let mut lines = BufReader::new(stream).lines();
    lines.next_line().await.unwrap().unwrap();
    server.stop().await;
    let next = tokio::time::timeout(std::time::Duration::from_secs(3), lines.next_line())
        .await
        .expect("connection closed by shutdown");
    assert!(matches!(next, Ok(None) | Err(_)), "{next:?}");
}

#[tokio::test]
async fn udp_datagrams_are_answered_with_the_pod_identity() {
    let server = start_udp(EchoServer::new(EchoConfig::new(identity("udp-backend-0")))).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.connect(server.addr).await.unwrap();
    client.send(b"Hello <World>\n").await.unwrap();
    let mut buffer = [0u8; 2048];
    let read = client.recv(&mut buffer).await.unwrap();
    assert_eq!(
        std::str::from_utf8(&buffer[..read]).unwrap(),
        r#"{"request":"Hello \u003cWorld\u003e\n","namespace":"gateway-conformance-infra","ingress":"","service":"infra-backend-v1","pod":"udp-backend-0"}"#
    );
    // Datagrams longer than echo-basic's 1024-byte buffer are truncated.
    client.send(&[b'a'; 1500]).await.unwrap();
    let read = client.recv(&mut buffer).await.unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&buffer[..read]).unwrap();
    assert_eq!(answer["request"].as_str().unwrap().len(), 1024);
    server.stop().await;
}
