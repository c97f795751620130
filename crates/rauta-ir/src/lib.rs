//! Rauta's intermediate representation (IR).
//!
//! The translator turns Gateway API resources into one [`Snapshot`]; the data plane serves it and
//! never sees a Kubernetes type. A snapshot is immutable: a change produces a new one, swapped in
//! atomically, and requests in flight finish on the snapshot they started with.
//!
//! Shape: [`Snapshot`] → [`Bind`] (one socket) → [`Listener`] (a Gateway listener, chosen by
//! hostname) → [`VirtualHost`] (chosen by hostname) → [`RouteEntry`] (sorted by precedence) →
//! [`Rule`] (filters, backends, timeouts) → [`BackendRef`] → [`Cluster`] (endpoints).
//!
//! Stream binds ([`BindProtocol::Tls`], [`BindProtocol::Tcp`]) and UDP binds
//! ([`BindProtocol::Udp`]) use the same shape: a virtual host per TLSRoute hostname (chosen by
//! SNI; `*` for TCP and UDP), whose first route entry (a match-all) leads to the rule whose
//! backends receive the connection (or the UDP session).

mod backend;
mod filter;
mod listener;
mod serde_helpers;
mod tls;

use std::collections::BTreeMap;

use serde::Serialize;

pub use backend::{
    BackendRef, BackendTarget, Cluster, ClusterKey, InvalidBackend, SubjectAltName, UpstreamProtocol, UpstreamTls,
};
pub use filter::{Cors, Filter, Fraction, HeaderModifier, Mirror, PathModifier, Redirect, Rewrite};
pub use listener::{
    Bind, BindProtocol, Listener, ListenerRef, Retry, RouteEntry, RouteKind, RouteRef, Rule, SetRef, Timeouts,
    VirtualHost,
};
pub use rauta_route as route;
pub use tls::{Certificate, ClientValidation, ListenerTls, PemBytes};

/// Everything the data plane serves, as one consistent, immutable view.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// Sockets to serve, sorted by address (a UDP bind after the TCP-based one of its address).
    pub binds: Vec<Bind>,
    /// Upstream clusters by key; rules refer to them by [`ClusterKey`].
    pub clusters: BTreeMap<ClusterKey, Cluster>,
}

impl Snapshot {
    /// The cluster a key names, if the snapshot has it.
    pub fn cluster(&self, key: &ClusterKey) -> Option<&Cluster> {
        self.clusters.get(key)
    }
}
