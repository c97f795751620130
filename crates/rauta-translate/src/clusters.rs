//! Clusters: one per Service port that a served rule references, with endpoints from EndpointSlices.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use rauta_ir::{Cluster, ClusterKey, UpstreamProtocol, UpstreamTls};

use crate::index::Index;

/// A Service port that backendRefs resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServicePort {
    pub namespace: String,
    pub service: String,
    /// The Service's port number (what backendRefs name).
    pub port: u16,
    /// The Service port's name: EndpointSlice ports are matched by it (`None` and `""` are equal).
    pub port_name: Option<String>,
    pub protocol: UpstreamProtocol,
    /// HTTP/2 because a GRPCRoute uses the port, not because its appProtocol says so: the
    /// cluster key gets a ` (h2c)` suffix so an HTTPRoute can still use the port over HTTP/1.1.
    pub forced_h2c: bool,
    /// TLS to the endpoints, from the BackendTLSPolicy that targets the port.
    pub tls: Option<UpstreamTls>,
}

/// Every Service port resolved so far, by cluster key.
#[derive(Debug, Default)]
pub(crate) struct ClusterCatalog {
    ports: BTreeMap<ClusterKey, ServicePort>,
}

impl ClusterCatalog {
    /// Records a resolved Service port and returns its cluster key.
    pub fn register(&mut self, port: ServicePort) -> ClusterKey {
        let mut key = ClusterKey::service(&port.namespace, &port.service, port.port);
        if port.protocol == UpstreamProtocol::Udp {
            key.0.push_str(" (udp)");
        }
        if port.forced_h2c {
            key.0.push_str(" (h2c)");
        }
        self.ports.entry(key.clone()).or_insert(port);
        key
    }

    /// Every Service port, by key, in a list of its exact size (a map's node of thousands of
    /// kept one-port catalogs would take over a kilobyte each).
    pub fn into_ports(self) -> Vec<(ClusterKey, ServicePort)> {
        self.ports.into_iter().collect()
    }

    /// Adds the Service ports of `ports` that this catalog does not have yet (by key: the first
    /// registration of a key wins, as with [`Self::register`]).
    pub fn merge(&mut self, ports: &[(ClusterKey, ServicePort)]) {
        for (key, port) in ports {
            if !self.ports.contains_key(key) {
                self.ports.insert(key.clone(), port.clone());
            }
        }
    }

    /// Whether the cluster of `key` speaks TLS (a BackendTLSPolicy targets its Service port).
    pub fn speaks_tls(&self, key: &ClusterKey) -> bool {
        self.ports.get(key).is_some_and(|p| p.tls.is_some())
    }

    /// The `(namespace, service)` a cluster key was registered for.
    pub fn service_of(&self, key: &ClusterKey) -> Option<(&str, &str)> {
        self.ports.get(key).map(|p| (p.namespace.as_str(), p.service.as_str()))
    }

    /// The cluster of `key`: the ready endpoints of every EndpointSlice of the Service whose port
    /// has the Service port's name. Not-ready endpoints (`conditions.ready: false`; unset counts as
    /// ready), FQDN slices and ports of the other transport (TCP or UDP) are skipped. No slice at all gives no endpoints (503).
    pub fn build(&self, key: &ClusterKey, index: &Index<'_>) -> Option<Cluster> {
        let sp = self.ports.get(key)?;
        let mut endpoints = Vec::new();
        let slices = index.slices.get(&(sp.namespace.as_str(), sp.service.as_str()));
        for slice in slices.into_iter().flatten() {
            let slice = slice.resource;
            if !matches!(slice.address_type.as_str(), "IPv4" | "IPv6") {
                continue;
            }
            let wanted = sp.port_name.as_deref().unwrap_or("");
            let transport = if sp.protocol == UpstreamProtocol::Udp {
                "UDP"
            } else {
                "TCP"
            };
            let port = slice.ports.iter().flatten().find(|p| {
                p.name.as_deref().unwrap_or("") == wanted && p.protocol.as_deref().unwrap_or("TCP") == transport
            });
            let Some(port) = port.and_then(|p| p.port).and_then(|p| u16::try_from(p).ok()) else {
                continue;
            };
            for endpoint in &slice.endpoints {
                if endpoint.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                    continue;
                }
                for address in &endpoint.addresses {
                    if let Ok(ip) = address.parse::<IpAddr>() {
                        endpoints.push(SocketAddr::new(ip, port));
                    }
                }
            }
        }
        endpoints.sort();
        endpoints.dedup();
        Some(Cluster {
            key: key.clone(),
            protocol: sp.protocol,
            endpoints,
            tls: sp.tls.clone(),
        })
    }
}
