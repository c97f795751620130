//! Clusters as the request path sees them: endpoints with a round-robin cursor.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::uri::Authority;
use rauta_ir::{ClusterKey, Snapshot, UpstreamProtocol, UpstreamTls};

use super::Runtime;
use crate::config::Limits;
use crate::errors::ProxyError;
use crate::upstream::{H2Client, Http1Pool, h2_client};
use crate::upstream_tls::{TlsClient, tls_client};

/// A cluster of the snapshot, ready to pick endpoints from.
pub(crate) struct RuntimeCluster {
    pub(crate) key: ClusterKey,
    pub(crate) protocol: UpstreamProtocol,
    pub(crate) endpoints: Vec<Endpoint>,
    /// The BackendTLSPolicy's TLS, which streams (terminated TLSRoutes) run themselves.
    pub(crate) tls: Option<UpstreamTls>,
    cursor: AtomicUsize,
}

/// One endpoint and what it takes to reach it.
pub(crate) struct Endpoint {
    pub(crate) address: SocketAddr,
    /// `ip:port`, the authority of HTTP/1 upstream URIs.
    pub(crate) authority: Authority,
    /// Pooled HTTP/2 connections to this endpoint (H2c clusters only).
    pub(crate) h2: Option<H2Client>,
    /// Pooled HTTP/1.1 connections to this endpoint (also used by upgrades on H2c clusters).
    pub(crate) http1: Arc<Http1Pool>,
    /// Pooled TLS connections (clusters with a BackendTLSPolicy): HTTP/2 over ALPN h2 for H2c
    /// clusters, else HTTP/1.1. When set, every request to the endpoint goes through it.
    pub(crate) tls: Option<TlsClient>,
}

impl RuntimeCluster {
    /// Round-robin over the endpoints; `NoEndpoints` when there are none.
    pub(crate) fn next_endpoint(&self) -> Result<&Endpoint, ProxyError> {
        if self.endpoints.is_empty() {
            return Err(ProxyError::NoEndpoints);
        }
        let i = self.cursor.fetch_add(1, Ordering::Relaxed) % self.endpoints.len();
        Ok(&self.endpoints[i])
    }

    #[cfg(test)]
    pub(crate) fn for_tests(protocol: UpstreamProtocol, endpoints: &[SocketAddr]) -> Self {
        Self {
            key: ClusterKey("test/c:80".into()),
            protocol,
            endpoints: endpoints
                .iter()
                .map(|a| endpoint(*a, protocol, None, None, None, &Limits::default()))
                .collect(),
            tls: None,
            cursor: AtomicUsize::new(0),
        }
    }
}

fn endpoint(
    address: SocketAddr,
    protocol: UpstreamProtocol,
    reuse: Option<&H2Client>,
    http1: Option<&Arc<Http1Pool>>,
    tls: Option<&UpstreamTls>,
    limits: &Limits,
) -> Endpoint {
    let authority =
        Authority::try_from(address.to_string().as_str()).unwrap_or_else(|_| Authority::from_static("invalid.invalid"));
    let h2 = match protocol {
        UpstreamProtocol::H2c => Some(reuse.cloned().unwrap_or_else(|| h2_client(address, limits))),
        UpstreamProtocol::Http1 | UpstreamProtocol::WebSocket | UpstreamProtocol::Udp => None,
    };
    let http1 = http1
        .cloned()
        .unwrap_or_else(|| Arc::new(Http1Pool::new(address, limits)));
    let tls = tls.map(|tls| tls_client(address, tls, protocol == UpstreamProtocol::H2c, limits));
    Endpoint {
        address,
        authority,
        h2,
        http1,
        tls,
    }
}

/// Compiles every cluster of `snapshot`, keeping `previous`'s connection pools for known endpoints,
/// and `previous`'s compiled cluster as a whole when the cluster did not change (so rules that
/// send to it need not be compiled again either).
pub(super) fn compile_all(
    snapshot: &Snapshot,
    previous: &Runtime,
    limits: &Limits,
) -> HashMap<ClusterKey, Arc<RuntimeCluster>> {
    let mut h2_clients: HashMap<SocketAddr, &H2Client> = HashMap::new();
    let mut http1_pools: HashMap<SocketAddr, Arc<Http1Pool>> = HashMap::new();
    for cluster in previous.clusters.values() {
        for e in &cluster.endpoints {
            if let Some(client) = &e.h2 {
                h2_clients.insert(e.address, client);
            }
            http1_pools.insert(e.address, e.http1.clone());
        }
    }
    snapshot
        .clusters
        .values()
        .map(|c| {
            if let Some(kept) = previous.clusters.get(&c.key)
                && previous.snapshot.clusters.get(&c.key) == Some(c)
            {
                return (c.key.clone(), kept.clone());
            }
            let endpoints = c
                .endpoints
                .iter()
                .map(|a| {
                    // One pool per address, shared by every cluster that names it.
                    let pool = http1_pools
                        .entry(*a)
                        .or_insert_with(|| Arc::new(Http1Pool::new(*a, limits)));
                    endpoint(
                        *a,
                        c.protocol,
                        h2_clients.get(a).copied(),
                        Some(pool),
                        c.tls.as_ref(),
                        limits,
                    )
                })
                .collect::<Vec<_>>();
            // Start each cluster at a random endpoint so restarts and swaps do not all hit the first.
            let start = if endpoints.is_empty() {
                0
            } else {
                fastrand::usize(..endpoints.len())
            };
            let cluster = RuntimeCluster {
                key: c.key.clone(),
                protocol: c.protocol,
                endpoints,
                tls: c.tls.clone(),
                cursor: AtomicUsize::new(start),
            };
            (c.key.clone(), Arc::new(cluster))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_visits_every_endpoint() {
        let a: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let c = RuntimeCluster::for_tests(UpstreamProtocol::Http1, &[a, b]);
        let picks: Vec<SocketAddr> = (0..4).map(|_| c.next_endpoint().unwrap().address).collect();
        assert_eq!(picks, vec![a, b, a, b]);
        assert_eq!(c.endpoints[1].authority.as_str(), "10.0.0.2:80");
    }

    #[test]
    fn empty_cluster_is_503() {
        let c = RuntimeCluster::for_tests(UpstreamProtocol::Http1, &[]);
        assert_eq!(c.next_endpoint().err(), Some(ProxyError::NoEndpoints));
    }
}
