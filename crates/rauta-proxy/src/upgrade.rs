//! Protocol upgrades (WebSocket and any other `Upgrade`): once the upstream answers 101, the two
//! connections are spliced and bytes copied both ways until either side closes.

use std::sync::Arc;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::body::UpstreamBody;
use crate::dataplane::Shared;
use crate::server::Phase;

/// Spawns the tunnel between the client's connection and the upstream's after a 101 response.
/// It is tracked like a connection: shutdown waits for it and then closes it.
pub(crate) fn tunnel(
    shared: &Arc<Shared>,
    downstream: OnUpgrade,
    upstream_response: &mut http::Response<UpstreamBody>,
) {
    let upstream = hyper::upgrade::on(upstream_response);
    let tracked = shared.tracker.track();
    let mut phase = shared.phase.subscribe();
    tokio::spawn(async move {
        let _tracked = tracked;
        let (client, server) = match tokio::try_join!(downstream, upstream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade failed");
                return;
            }
        };
        let (mut client, mut server) = (TokioIo::new(client), TokioIo::new(server));
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
