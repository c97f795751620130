//! TCP mode: echo-basic's line protocol. The server speaks first with [`WELCOME`], then answers
//! `PING` with `PONG`, `IS_TLS` with `false` and `TEST` with a JSON line naming the pod; other
//! lines are ignored, as echo-basic ignores them.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
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
}

/// Accepts connections until `shutdown` completes; open connections are then closed.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let config = &shared.config;
    let identity = &config.identity;
    let tcp_port = config.port.clone().unwrap_or_else(|| local.port().to_string());
    let answer = TcpAnswer {
        namespace: &identity.namespace,
        ingress: &identity.ingress,
        service: &identity.service,
        pod: &identity.pod,
        tcpport: &tcp_port,
        tlsport: config.tls_port.as_deref().filter(|p| !p.is_empty()),
        is_tls: false,
    };
    let mut test_line = json::to_go_compact(&answer).map_err(std::io::Error::other)?;
    test_line.push(b'\n');
    let test_line: Arc<[u8]> = test_line.into();
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
                        if let Err(error) = serve_connection(stream, &test_line).await {
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

async fn serve_connection(mut stream: TcpStream, test_line: &[u8]) -> std::io::Result<()> {
    stream.write_all(WELCOME).await?;
    let mut pending: Vec<u8> = Vec::with_capacity(256);
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            // Like Go's scanner, a last line without a newline still counts.
            if !pending.is_empty() {
                answer_line(&mut stream, &pending, test_line).await?;
            }
            return Ok(());
        }
        pending.extend_from_slice(&chunk[..read]);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            answer_line(&mut stream, &line[..end], test_line).await?;
        }
        if pending.len() > MAX_LINE {
            return Ok(());
        }
    }
}

async fn answer_line(stream: &mut TcpStream, line: &[u8], test_line: &[u8]) -> std::io::Result<()> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line {
        b"PING" => stream.write_all(b"PONG\n").await,
        b"IS_TLS" => stream.write_all(b"false\n").await,
        b"TEST" => stream.write_all(test_line).await,
        _ => Ok(()),
    }
}
