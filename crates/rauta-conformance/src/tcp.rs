//! The suite's TCP checks (`conformance/utils/tcp`) and its TLS connection-rejection check: a
//! client of echo-basic's line protocol, over TCP or TLS (SNI, trusting a CA), and a handshake
//! that must end with the gateway closing or resetting the connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::ServerName;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::client::REQUEST_TIMEOUT;
use crate::converge::Timeouts;

/// echo-basic's greeting.
const WELCOME: &str = "Gateway API Test TCP Server\n";

/// How the client reaches the gateway: plain TCP, or TLS with this SNI trusting these CAs.
#[derive(Clone, Debug)]
pub struct LineTls {
    /// Server name sent (and verified).
    pub server_name: String,
    /// CA certificates trusted, PEM.
    pub roots: String,
}

/// What the suite expects of the `TEST` answer (`tcp.ExpectedResponse`).
#[derive(Clone, Debug)]
pub struct LineExpect {
    /// Whether the backend's connection is TLS (`IS_TLS`).
    pub backend_is_tls: bool,
    /// Pod-name prefix.
    pub backend: &'static str,
    /// Namespace.
    pub namespace: &'static str,
    /// SNI the backend saw; `""`: not compared.
    pub hostname: String,
}

/// The `TEST` answer.
#[derive(Debug, Default, Deserialize)]
struct TestAnswer {
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    pod: String,
    #[serde(default)]
    tls: Option<TestTls>,
}

#[derive(Debug, Default, Deserialize)]
struct TestTls {
    #[serde(default, rename = "serverName")]
    server_name: String,
}

/// The lines one exchange read: welcome, `PING`, `IS_TLS` and `TEST` answers.
#[derive(Debug)]
struct Transcript {
    welcome: String,
    pong: String,
    is_tls: String,
    test: String,
}

/// Sends `send` (if any), then reads one line.
async fn line<S: AsyncRead + AsyncWrite + Unpin>(
    reader: &mut BufReader<S>,
    send: Option<&str>,
) -> Result<String, String> {
    if let Some(send) = send {
        reader
            .get_mut()
            .write_all(send.as_bytes())
            .await
            .map_err(|e| format!("write {send:?}: {e}"))?;
    }
    let mut out = String::new();
    let n = reader.read_line(&mut out).await.map_err(|e| format!("read: {e}"))?;
    if n == 0 || !out.ends_with('\n') {
        return Err(format!("connection closed (read {out:?})"));
    }
    Ok(out)
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: S) -> Result<Transcript, String> {
    let mut reader = BufReader::new(stream);
    Ok(Transcript {
        welcome: line(&mut reader, None).await?,
        pong: line(&mut reader, Some("PING\n")).await?,
        is_tls: line(&mut reader, Some("IS_TLS\n")).await?,
        test: line(&mut reader, Some("TEST\n")).await?,
    })
}

async fn dial(addr: SocketAddr, tls: Option<&LineTls>) -> Result<Transcript, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    match tls {
        None => exchange(tcp).await,
        Some(tls) => {
            let config = crate::tls::ca_client_config(&tls.roots)?;
            let name = ServerName::try_from(tls.server_name.clone()).map_err(|e| format!("server name: {e}"))?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            exchange(stream).await
        }
    }
}

/// `MakeTCPRequestAndExpectEventuallyValidResponse`: polls (every poll interval, within the
/// consistency limit) until one exchange completes; its answers must then be right (the suite
/// asserts them once, without retrying).
pub async fn expect_valid(
    timeouts: &Timeouts,
    addr: SocketAddr,
    tls: Option<&LineTls>,
    expected: &LineExpect,
) -> Result<(), String> {
    let start = Instant::now();
    let transcript = loop {
        tokio::time::sleep(timeouts.poll).await;
        let attempt = tokio::time::timeout(REQUEST_TIMEOUT, dial(addr, tls)).await;
        match attempt {
            Ok(Ok(t)) => break t,
            Ok(Err(e)) if start.elapsed() >= timeouts.consistency => {
                return Err(format!("no complete exchange within {:?}: {e}", timeouts.consistency));
            }
            Err(_) if start.elapsed() >= timeouts.consistency => {
                return Err(format!("no complete exchange within {:?}", timeouts.consistency));
            }
            _ => {}
        }
    };
    check(&transcript, expected)
}

fn check(t: &Transcript, expected: &LineExpect) -> Result<(), String> {
    let mut failures = Vec::new();
    if t.welcome != WELCOME {
        failures.push(format!("welcome message {:?}", t.welcome));
    }
    if t.pong != "PONG\n" {
        failures.push(format!("PING answered {:?}", t.pong));
    }
    if t.is_tls.trim_end_matches('\n') != expected.backend_is_tls.to_string() {
        failures.push(format!(
            "IS_TLS answered {:?}, expected {}",
            t.is_tls, expected.backend_is_tls
        ));
    }
    let answer: TestAnswer = serde_json::from_str(&t.test).map_err(|e| format!("TEST answer {:?}: {e}", t.test))?;
    if answer.namespace != expected.namespace {
        failures.push(format!(
            "namespace {:?}, expected {:?}",
            answer.namespace, expected.namespace
        ));
    }
    if !answer.pod.starts_with(&format!("{}-", expected.backend)) {
        failures.push(format!("pod {:?}, expected {}-*", answer.pod, expected.backend));
    }
    if !expected.hostname.is_empty() {
        let seen = answer.tls.as_ref().map(|t| t.server_name.as_str()).unwrap_or_default();
        if seen != expected.hostname {
            failures.push(format!("backend saw SNI {seen:?}, expected {:?}", expected.hostname));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// Whether a handshake error means the gateway closed (EOF) or reset the connection, as the
/// suite's `isConnectionRejected` reads Go's errors.
fn is_rejection(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
    )
}

/// `MakeTLSConnectionAndExpectEventuallyConnectionRejection`: polls until a TLS handshake with
/// SNI `server_name` is closed or reset by the gateway.
pub async fn expect_rejected(timeouts: &Timeouts, addr: SocketAddr, server_name: &str) -> Result<(), String> {
    let config: Arc<rustls::ClientConfig> = crate::tls::any_server_config()?;
    let name = ServerName::try_from(server_name.to_owned()).map_err(|e| format!("server name: {e}"))?;
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < timeouts.consistency {
        tokio::time::sleep(timeouts.poll).await;
        let attempt = async {
            let tcp = TcpStream::connect(addr).await?;
            tokio_rustls::TlsConnector::from(config.clone())
                .connect(name.clone(), tcp)
                .await
                .map(|_| ())
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, attempt).await {
            Ok(Err(e)) if is_rejection(&e) => return Ok(()),
            Ok(Err(e)) => last = format!("could not connect: {e}"),
            Ok(Ok(())) => last = "the handshake completed".to_owned(),
            Err(_) => last = format!("no answer within {REQUEST_TIMEOUT:?}"),
        }
    }
    Err(format!(
        "SNI {server_name}: the connection was not rejected within {:?}: {last}",
        timeouts.consistency
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript(is_tls: &str, test: &str) -> Transcript {
        Transcript {
            welcome: WELCOME.to_owned(),
            pong: "PONG\n".to_owned(),
            is_tls: format!("{is_tls}\n"),
            test: test.to_owned(),
        }
    }

    #[test]
    fn answers_are_checked_like_the_suite() {
        let expected = LineExpect {
            backend_is_tls: true,
            backend: "tcp-backend",
            namespace: "infra",
            hostname: "abc.example.com".to_owned(),
        };
        let good =
            r#"{"namespace":"infra","pod":"tcp-backend-abc-de","isTLS":true,"tls":{"serverName":"abc.example.com"}}"#;
        assert_eq!(check(&transcript("true", good), &expected), Ok(()));
        assert!(check(&transcript("false", good), &expected).is_err(), "IS_TLS");
        let other_sni = good.replace("abc.example.com", "tls.example.com");
        assert!(check(&transcript("true", &other_sni), &expected).is_err(), "SNI");
        let other_pod = good.replace("tcp-backend-abc", "tcp-backendx-abc");
        assert!(check(&transcript("true", &other_pod), &expected).is_err(), "pod prefix");
        let plain = LineExpect {
            backend_is_tls: false,
            hostname: String::new(),
            ..expected
        };
        let no_tls = r#"{"namespace":"infra","pod":"tcp-backend-abc-de","isTLS":false}"#;
        assert_eq!(check(&transcript("false", no_tls), &plain), Ok(()));
    }

    #[test]
    fn only_closes_and_resets_are_rejections() {
        use std::io::{Error, ErrorKind};
        assert!(is_rejection(&Error::from(ErrorKind::UnexpectedEof)));
        assert!(is_rejection(&Error::from(ErrorKind::ConnectionReset)));
        assert!(!is_rejection(&Error::new(
            ErrorKind::InvalidData,
            "received fatal alert"
        )));
    }
}
