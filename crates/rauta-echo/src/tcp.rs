//! TCP mode: echo-basic's line protocol. The server speaks first with [`WELCOME`], then answers
//! `PING` with `PONG`, `IS_TLS` with whether the connection is TLS and `TEST` with a JSON line
//! naming the pod (and, over TLS, what the handshake settled); other lines are ignored, as
//! echo-basic ignores them. The TLS port is served by [`crate::tls`].

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::{Shared, json};

/// The greeting written as soon as a connection is accepted.
pub(crate) const WELCOME: &[u8] = b"Gateway API Test TCP Server\n";
/// Longest line read; echo-basic's line scanner gives up (and closes) past 64 KiB.
const MAX_LINE: usize = 64 * 1024;

/// The `TEST` answer; field names and order are echo-basic's.
#[derive(Serialize)]
struct TcpAnswer<'a> {
    namespace: &'a str,
    ingress: &'a str,
    service: &'a str,
    pod: &'a str,
    tcpport: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tlsport: Option<&'a str>,
    #[serde(rename = "isTLS")]
    is_tls: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<&'a TlsFacts>,
}

/// The `tls` block of a `TEST` answer over TLS; field names and order are echo-basic's.
#[derive(Serialize)]
pub(crate) struct TlsFacts {
    /// Go's `tls.VersionName`: `TLS 1.3`.
    pub(crate) version: String,
    #[serde(rename = "serverName")]
    pub(crate) server_name: String,
    #[serde(rename = "negotiatedProtocol", skip_serializing_if = "String::is_empty")]
    pub(crate) negotiated_protocol: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) curves: String,
    #[serde(rename = "cipherSuite")]
    pub(crate) cipher_suite: String,
}

/// The `TEST` answer line (newline included) of a connection on a port reported as `tcp_port`.
pub(crate) fn test_line(shared: &Shared, tcp_port: &str, tls: Option<&TlsFacts>) -> Vec<u8> {
    let config = &shared.config;
    let identity = &config.identity;
    let answer = TcpAnswer {
        namespace: &identity.namespace,
        ingress: &identity.ingress,
        service: &identity.service,
        pod: &identity.pod,
        tcpport: tcp_port,
        tlsport: config.tls_port.as_deref().filter(|p| !p.is_empty()),
        is_tls: tls.is_some(),
        tls,
    };
    // Serialising strings and booleans cannot fail; an empty line would only fail the check.
    let mut line = json::to_go_compact(&answer).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Accepts connections until `shutdown` completes; open connections are then closed.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let tcp_port = shared.config.port.clone().unwrap_or_else(|| local.port().to_string());
    let test_line: Arc<[u8]> = test_line(&shared, &tcp_port, None).into();
    tracing::debug!(%local, "echo server listening (tcp)");

    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, client)) => {
                    let test_line = test_line.clone();
                    connections.spawn(async move {
                        if let Err(error) = serve_connection(stream, &test_line, false).await {
                            tracing::debug!(%client, %error, "tcp echo connection failed");
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "tcp echo accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
    }
    // Dropping the set aborts the connection tasks, which closes their sockets.
    drop(connections);
    Ok(())
}

/// Speaks the line protocol on one connection (plain, or TLS already accepted) until it closes.
pub(crate) async fn serve_connection<S>(mut stream: S, test_line: &[u8], is_tls: bool) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(WELCOME).await?;
    let mut pending: Vec<u8> = Vec::with_capacity(256);
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            // Like Go's scanner, a last line without a newline still counts.
            if !pending.is_empty() {
                answer_line(&mut stream, &pending, test_line, is_tls).await?;
            }
            return Ok(());
        }
        pending.extend_from_slice(&chunk[..read]);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            answer_line(&mut stream, &line[..end], test_line, is_tls).await?;
        }
        if pending.len() > MAX_LINE {
            return Ok(());
        }
    }
}

async fn answer_line<S>(stream: &mut S, line: &[u8], test_line: &[u8], is_tls: bool) -> std::io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line {
        b"PING" => stream.write_all(b"PONG\n").await,
        b"IS_TLS" => stream.write_all(if is_tls { b"true\n" } else { b"false\n" }).await,
        b"TEST" => stream.write_all(test_line).await,
        _ => Ok(()),
    }
}
