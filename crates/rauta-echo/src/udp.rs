//! UDP mode: every datagram is answered with `{"request": <payload>, "namespace", …, "pod"}`.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use tokio::net::UdpSocket;

use crate::{Shared, json};

/// echo-basic reads datagrams into a 1024-byte buffer; longer ones are truncated.
const MAX_DATAGRAM: usize = 1024;

/// The answer to one datagram; field names and order are echo-basic's.
#[derive(Serialize)]
struct UdpAnswer<'a> {
    request: &'a str,
    namespace: &'a str,
    ingress: &'a str,
    service: &'a str,
    pod: &'a str,
}

/// Answers datagrams until `shutdown` completes.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    socket: UdpSocket,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let local = socket.local_addr()?;
    let identity = &shared.config.identity;
    tracing::debug!(%local, "echo server listening (udp)");
    let mut buffer = [0u8; MAX_DATAGRAM];
    tokio::pin!(shutdown);
    loop {
        let (read, client) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            received = socket.recv_from(&mut buffer) => match received {
                Ok(received) => received,
                Err(error) => {
                    // e.g. ICMP port unreachable from an earlier answer; keep serving.
                    tracing::debug!(%error, "udp echo receive failed");
                    continue;
                }
            },
        };
        let request = String::from_utf8_lossy(&buffer[..read]);
        tracing::debug!(%client, bytes = read, "udp echo datagram");
        let answer = UdpAnswer {
            request: &request,
            namespace: &identity.namespace,
            ingress: &identity.ingress,
            service: &identity.service,
            pod: &identity.pod,
        };
        let payload = match json::to_go_compact(&answer) {
            Ok(payload) => payload,
            Err(error) => {
                tracing::warn!(%error, "udp echo answer could not be encoded");
                continue;
            }
        };
        if let Err(error) = socket.send_to(&payload, client).await {
            tracing::debug!(%client, %error, "udp echo send failed");
        }
    }
}
