//! The runtime view: a snapshot compiled once per apply into what the request path needs.
//!
//! Compiling resolves every backendRef to its cluster, shares one [`RuntimeRule`] between the
//! entries of a rule, precomputes labels, CORS header values and weight sums, and carries the
//! per-endpoint HTTP/2 clients over from the previous view so their pooled connections survive
//! a swap. The whole view is published with one `ArcSwap` store.
//!
//! Compiling is incremental: a cluster whose IR is unchanged keeps its compiled form, and so does
//! a rule the translator handed over unchanged (the same `Arc<Rule>`, which the previous view
//! holds, so its address cannot have been reused) when the clusters it sends to are the same. A
//! reload that adds one route among thousands compiles that route's rules only.

mod cluster;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use rauta_ir::{BackendTarget, BindProtocol, ClusterKey, Filter, Rule, Snapshot};
use rauta_route::{HostnameMatch, RouteMatch};

use crate::config::Limits;
use crate::errors::ProxyError;
use crate::filters::RuntimeFilter;
use crate::metrics::{Metrics, RouteMetrics};
use crate::router::RouteIndex;
use crate::tls::{ServerTls, TlsContext};
pub(crate) use cluster::{Endpoint, RuntimeCluster};

/// Everything a request needs, compiled from one snapshot.
pub(crate) struct Runtime {
    /// The snapshot this view was compiled from.
    pub(crate) snapshot: Arc<Snapshot>,
    /// Binds in snapshot order.
    pub(crate) binds: Vec<RuntimeBind>,
    /// Every cluster, by key.
    pub(crate) clusters: HashMap<ClusterKey, Arc<RuntimeCluster>>,
    /// Every compiled rule, by the address of its IR rule (which it holds).
    rules: HashMap<usize, Arc<RuntimeRule>, BuildAddressHasher>,
}

/// Hashes addresses (keys that are already well spread) with one multiplication: SipHash on the
/// ten thousand lookups of a 5,000-route compile cost more than the rest of reusing rules.
#[derive(Clone, Copy, Default)]
struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        // Fibonacci hashing; the high bits, which hashbrown uses, mix every bit of the address.
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type BuildAddressHasher = std::hash::BuildHasherDefault<AddressHasher>;

/// One socket's listeners.
pub(crate) struct RuntimeBind {
    pub(crate) address: SocketAddr,
    /// HTTP, HTTPS, a stream protocol (TLS, TCP), or UDP.
    pub(crate) protocol: BindProtocol,
    /// The TLS server side of an HTTPS bind (or of the Terminate listeners of a TLS bind),
    /// built from this snapshot's certificates.
    pub(crate) tls: Option<ServerTls>,
    pub(crate) listeners: Vec<RuntimeListener>,
}

/// A Gateway listener.
pub(crate) struct RuntimeListener {
    pub(crate) hostname: HostnameMatch,
    pub(crate) port: u16,
    /// `namespace/gateway/section`, for the access log.
    pub(crate) label: Arc<str>,
    pub(crate) virtual_hosts: Vec<RuntimeVirtualHost>,
    /// On TLS binds: the listener terminates TLS (Terminate mode) rather than passing it through.
    pub(crate) terminates_tls: bool,
}

/// A virtual host and its routes in precedence order.
pub(crate) struct RuntimeVirtualHost {
    pub(crate) hostname: HostnameMatch,
    pub(crate) routes: Vec<RuntimeEntry>,
    /// Finds the first matching entry of `routes` without testing them all.
    pub(crate) index: RouteIndex,
}

/// One match entry leading to a rule.
pub(crate) struct RuntimeEntry {
    /// Shared with the snapshot.
    pub(crate) route_match: Arc<RouteMatch>,
    pub(crate) rule: Arc<RuntimeRule>,
}

/// A rule with its filters and backends resolved.
pub(crate) struct RuntimeRule {
    /// The IR rule (route, index, timeouts, retry).
    pub(crate) rule: Arc<Rule>,
    pub(crate) filters: Vec<RuntimeFilter>,
    pub(crate) backends: Vec<RuntimeBackend>,
    /// Sum of the backends' weights.
    pub(crate) total_weight: u64,
    pub(crate) metrics: Arc<RouteMetrics>,
}

/// A backendRef with its cluster resolved.
pub(crate) struct RuntimeBackend {
    pub(crate) weight: u32,
    /// The cluster, or the error its share of requests gets.
    pub(crate) target: Result<Arc<RuntimeCluster>, ProxyError>,
    pub(crate) filters: Vec<RuntimeFilter>,
}

impl Runtime {
    /// A view that serves nothing.
    pub(crate) fn empty() -> Self {
        Self {
            snapshot: Arc::new(Snapshot::default()),
            binds: Vec::new(),
            clusters: HashMap::new(),
            rules: HashMap::default(),
        }
    }

    /// The TCP-based bind serving `address` (a UDP bind may share it); a handful of binds at
    /// most, so a scan beats hashing.
    pub(crate) fn bind(&self, address: SocketAddr) -> Option<&RuntimeBind> {
        self.binds.iter().find(|b| b.address == address && !b.protocol.is_udp())
    }

    /// Compiles `snapshot`, reusing what `previous` can lend (HTTP/2 clients per endpoint).
    pub(crate) fn compile(
        snapshot: Arc<Snapshot>,
        previous: &Runtime,
        metrics: &Metrics,
        limits: &Limits,
        tls: &TlsContext,
    ) -> Self {
        let clusters = cluster::compile_all(&snapshot, previous, limits);
        let clusters_kept = clusters.len() == previous.clusters.len()
            && clusters
                .iter()
                .all(|(k, c)| previous.clusters.get(k).is_some_and(|p| Arc::ptr_eq(c, p)));
        let mut compiler = Compiler {
            clusters: &clusters,
            clusters_kept,
            previous,
            metrics,
            rules: HashMap::with_capacity_and_hasher(previous.rules.len(), BuildAddressHasher::default()),
            routes: HashMap::new(),
        };
        let binds = snapshot
            .binds
            .iter()
            .map(|bind| RuntimeBind {
                address: bind.address,
                protocol: bind.protocol,
                tls: tls.server_tls(bind),
                listeners: bind
                    .listeners
                    .iter()
                    .map(|l| RuntimeListener {
                        hostname: l.hostname.clone(),
                        port: l.port,
                        label: l.name.to_string().into(),
                        terminates_tls: l.tls.is_some(),
                        virtual_hosts: l
                            .virtual_hosts
                            .iter()
                            .map(|vh| RuntimeVirtualHost {
                                hostname: vh.hostname.clone(),
                                index: RouteIndex::build(vh.routes.iter().map(|e| &*e.route_match)),
                                routes: vh
                                    .routes
                                    .iter()
                                    .map(|e| RuntimeEntry {
                                        route_match: Arc::clone(&e.route_match),
                                        rule: compiler.rule(&e.rule),
                                    })
                                    .collect(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        let rules = compiler.rules;
        Self {
            snapshot,
            binds,
            clusters,
            rules,
        }
    }
}

struct Compiler<'a> {
    clusters: &'a HashMap<ClusterKey, Arc<RuntimeCluster>>,
    /// Every cluster is the previous view's (so every kept rule's targets still hold).
    clusters_kept: bool,
    /// The view being replaced, whose rules can be reused.
    previous: &'a Runtime,
    metrics: &'a Metrics,
    /// Rules already compiled, by the address of their shared `Arc<Rule>`.
    rules: HashMap<usize, Arc<RuntimeRule>, BuildAddressHasher>,
    routes: HashMap<String, Arc<RouteMetrics>>,
}

impl Compiler<'_> {
    fn rule(&mut self, rule: &Arc<Rule>) -> Arc<RuntimeRule> {
        let key = Arc::as_ptr(rule) as usize;
        if let Some(done) = self.rules.get(&key) {
            return done.clone();
        }
        if let Some(kept) = self.previous.rules.get(&key)
            && Arc::ptr_eq(&kept.rule, rule)
            && (self.clusters_kept || self.same_clusters(rule))
        {
            self.rules.insert(key, kept.clone());
            return kept.clone();
        }
        let label = rule.route.to_string();
        let metrics = match self.routes.get(&label) {
            Some(m) => m.clone(),
            None => {
                let m = self.metrics.route(label.as_str().into());
                self.routes.insert(label, m.clone());
                m
            }
        };
        let backends: Vec<RuntimeBackend> = rule
            .backends
            .iter()
            .map(|b| RuntimeBackend {
                weight: b.weight,
                target: self.target(&b.target),
                filters: self.filters(&b.filters),
            })
            .collect();
        let total_weight = backends.iter().map(|b| u64::from(b.weight)).sum();
        let compiled = Arc::new(RuntimeRule {
            rule: rule.clone(),
            filters: self.filters(&rule.filters),
            backends,
            total_weight,
            metrics,
        });
        self.rules.insert(key, compiled.clone());
        compiled
    }

    /// Whether every cluster `rule` sends to (or mirrors to) compiled to what the previous view
    /// has, so that the previous view's compiled rule still holds.
    fn same_clusters(&self, rule: &Rule) -> bool {
        let same = |target: &BackendTarget| match target {
            BackendTarget::Cluster(key) => match (self.clusters.get(key), self.previous.clusters.get(key)) {
                (Some(now), Some(before)) => Arc::ptr_eq(now, before),
                (None, None) => true,
                _ => false,
            },
            BackendTarget::Invalid(_) => true,
        };
        let mirrors_same = |filters: &[Filter]| {
            filters.iter().all(|f| match f {
                Filter::Mirror(m) => same(&m.target),
                _ => true,
            })
        };
        mirrors_same(&rule.filters)
            && rule
                .backends
                .iter()
                .all(|b| same(&b.target) && mirrors_same(&b.filters))
    }

    fn target(&self, target: &BackendTarget) -> Result<Arc<RuntimeCluster>, ProxyError> {
        match target {
            BackendTarget::Cluster(key) => self.clusters.get(key).cloned().ok_or(ProxyError::UnknownCluster),
            BackendTarget::Invalid(why) => Err(ProxyError::InvalidBackend(*why)),
        }
    }

    fn filters(&self, filters: &[Filter]) -> Vec<RuntimeFilter> {
        filters
            .iter()
            .map(|f| RuntimeFilter::compile(f, |t| self.target(t).ok()))
            .collect()
    }
}
