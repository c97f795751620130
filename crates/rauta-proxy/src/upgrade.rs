//! Protocol upgrades (WebSocket and any other `Upgrade`): once the upstream answers 101, the two
//! connections are spliced and bytes copied both ways until either side closes.

use std::sync::Arc;

use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use crate::body::UpstreamBody;
use crate::dataplane::Shared;
use crate::server::Phase;
use crate::server::transport::Rewind;

/// The client's side of an upgrade: its connection, handed over by the HTTP/1 server once the
/// 101 head is written (with whatever the client sent after its request).
pub(crate) struct ClientUpgrade(oneshot::Receiver<Rewind>);

/// Hands the client's connection to the tunnel.
pub(crate) struct UpgradeSender(oneshot::Sender<Rewind>);

impl UpgradeSender {
    pub(crate) fn send(self, connection: Rewind) {
        // No tunnel waiting (the upstream did not switch): the connection just closes.
        let _ = self.0.send(connection);
    }
}

/// A connection to hand over, and the handle the tunnel waits on.
pub(crate) fn pending() -> (UpgradeSender, ClientUpgrade) {
    let (tx, rx) = oneshot::channel();
    (UpgradeSender(tx), ClientUpgrade(rx))
}

/// Why a tunnel could not start.
#[derive(Debug, thiserror::Error)]
enum UpgradeError {
    #[error("the client connection was not handed over")]
    Client,
    #[error("upstream upgrade: {0}")]
    Upstream(#[from] hyper::Error),
}

/// Spawns the tunnel between the client's connection and the upstream's after a 101 response.
/// It is tracked like a connection: shutdown waits for it and then closes it.
pub(crate) fn tunnel(
    shared: &Arc<Shared>,
    downstream: ClientUpgrade,
    upstream_response: &mut http::Response<UpstreamBody>,
) {
    let upstream = hyper::upgrade::on(upstream_response);
    let tracked = shared.tracker.track();
    let mut phase = shared.phase.subscribe();
    tokio::spawn(async move {
        let _tracked = tracked;
        let client = async { downstream.0.await.map_err(|_| UpgradeError::Client) };
        let server = async { Ok::<_, UpgradeError>(upstream.await?) };
        let (mut client, server) = match tokio::try_join!(client, server) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade failed");
                return;
            }
        };
        let mut server = TokioIo::new(server);
        let closed = async {
            while *phase.borrow_and_update() != Phase::Closed {
                if phase.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            result = tokio::io::copy_bidirectional(&mut client, &mut server) => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "tunnel ended with an error");
                }
            }
            () = closed => {}
        }
    });
}
