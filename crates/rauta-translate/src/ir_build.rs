//! The IR snapshot: programmed listeners grouped by socket, their virtual hosts and sorted routes.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use rauta_ir::route::HostnameMatch;
use rauta_ir::{
    BackendTarget, Bind, BindProtocol, Certificate, Cluster, ClusterKey, Filter, Listener, ListenerRef, ListenerTls,
    RouteEntry, Rule, SetRef, Snapshot, VirtualHost,
};

use crate::clusters::ClusterCatalog;
use crate::gateway::{GatewayState, Protocol};
use crate::index::Index;
use crate::route::attach::Attachment;

/// Builds the snapshot. Listeners of every accepted Gateway that are programmed bind each of the
/// Gateway's IPs on their port; listeners of several Gateways on one socket share its [`Bind`].
pub(crate) fn build(
    index: &Index<'_>,
    gateways: &[GatewayState<'_>],
    attachments: &[Attachment<'_>],
    catalog: &ClusterCatalog,
) -> Snapshot {
    let mut by_listener: BTreeMap<(usize, usize), Vec<&Attachment<'_>>> = BTreeMap::new();
    for a in attachments {
        by_listener.entry((a.gateway, a.listener)).or_default().push(a);
    }
    // By address and transport (UDP or not): a UDP socket may share a TCP one's address.
    let mut binds: BTreeMap<(SocketAddr, bool), (BindProtocol, Vec<Listener>)> = BTreeMap::new();
    let mut variants = ClientVariants::new(catalog);
    for (gi, gw) in gateways.iter().enumerate() {
        for (li, l) in gw.listeners.iter().enumerate() {
            let Some(port) = l.port.filter(|_| gw.programmed(li)) else {
                continue;
            };
            let mut listener = Listener {
                name: ListenerRef {
                    namespace: gw.entry.namespace.to_owned(),
                    gateway: gw.entry.name.to_owned(),
                    set: l.set.and_then(|k| gw.sets.get(k)).map(|s| SetRef {
                        namespace: s.entry.namespace.to_owned(),
                        name: s.entry.name.to_owned(),
                    }),
                    section: l.name.clone(),
                },
                hostname: l.hostname.clone(),
                port,
                virtual_hosts: virtual_hosts(by_listener.get(&(gi, li)).map(Vec::as_slice).unwrap_or_default()),
                tls: l.certificates.as_ref().map(|c| ListenerTls {
                    certificates: c.certificates.clone(),
                    client_validation: l.client_validation.clone(),
                }),
            };
            if let Some(certificate) = gw.client_certificate() {
                variants.apply(gi, gw.entry.namespace, gw.entry.name, certificate, &mut listener);
            }
            // Conflict checks keep listeners of different protocols off one socket.
            let protocol = match l.protocol {
                Protocol::Https => BindProtocol::Https,
                Protocol::Tls => BindProtocol::Tls,
                Protocol::Tcp => BindProtocol::Tcp,
                Protocol::Udp => BindProtocol::Udp,
                _ => BindProtocol::Http,
            };
            let ips = gw.bind_ips();
            let mut listener = Some(listener);
            for (i, ip) in ips.iter().enumerate() {
                // Moved into the last bind (usually the only one), copied into the others.
                let copy = if i + 1 == ips.len() {
                    listener.take()
                } else {
                    listener.clone()
                };
                binds
                    .entry((SocketAddr::new(*ip, port), protocol.is_udp()))
                    .or_insert_with(|| (protocol, Vec::new()))
                    .1
                    .extend(copy);
            }
        }
    }
    let binds: Vec<Bind> = binds
        .into_iter()
        .map(|((address, _), (protocol, mut listeners))| {
            listeners.sort_by(|a, b| {
                a.hostname
                    .specificity_cmp(&b.hostname)
                    .then_with(|| a.name.cmp(&b.name))
            });
            Bind {
                address,
                protocol,
                listeners,
            }
        })
        .collect();
    let mut keys = BTreeSet::new();
    for rule in binds
        .iter()
        .flat_map(|b| &b.listeners)
        .flat_map(|l| &l.virtual_hosts)
        .flat_map(|v| &v.routes)
    {
        cluster_keys(&rule.rule, &mut keys);
    }
    let clusters = keys
        .into_iter()
        .filter_map(|k| variants.build(&k, index).map(|c| (k, c)))
        .collect();
    Snapshot { binds, clusters }
}

/// The per-Gateway variants of TLS clusters for Gateways with a backend client certificate (see
/// [`ClusterKey`]): a rule served by such a Gateway is copied once per Gateway with its TLS
/// clusters renamed to the Gateway's variants; rules without TLS clusters stay shared.
struct ClientVariants<'c> {
    catalog: &'c ClusterCatalog,
    /// Variant key → (the Service port's key, the certificate it presents).
    clusters: BTreeMap<ClusterKey, (ClusterKey, Certificate)>,
    /// (Gateway, address of the shared rule) → the Gateway's copy.
    rules: HashMap<(usize, *const Rule), Arc<Rule>>,
}

impl<'c> ClientVariants<'c> {
    fn new(catalog: &'c ClusterCatalog) -> Self {
        Self {
            catalog,
            clusters: BTreeMap::new(),
            rules: HashMap::new(),
        }
    }

    /// Points the rules of `listener` (of Gateway `gi`, `namespace/name`) at the Gateway's variants.
    fn apply(&mut self, gi: usize, namespace: &str, name: &str, certificate: &Certificate, listener: &mut Listener) {
        for entry in listener.virtual_hosts.iter_mut().flat_map(|v| v.routes.iter_mut()) {
            let key = (gi, Arc::as_ptr(&entry.rule));
            if let Some(copy) = self.rules.get(&key) {
                entry.rule = Arc::clone(copy);
                continue;
            }
            let mut rule = Rule::clone(&entry.rule);
            let mut changed = false;
            let mut rename = |target: &mut BackendTarget| {
                if let BackendTarget::Cluster(k) = target
                    && self.catalog.speaks_tls(k)
                {
                    let variant = k.with_client(namespace, name);
                    self.clusters
                        .entry(variant.clone())
                        .or_insert_with(|| (k.clone(), certificate.clone()));
                    *k = variant;
                    changed = true;
                }
            };
            let mirrors = |filters: &mut [Filter], rename: &mut dyn FnMut(&mut BackendTarget)| {
                for f in filters {
                    if let Filter::Mirror(m) = f {
                        rename(&mut m.target);
                    }
                }
            };
            mirrors(&mut rule.filters, &mut rename);
            for b in &mut rule.backends {
                rename(&mut b.target);
                mirrors(&mut b.filters, &mut rename);
            }
            if changed {
                entry.rule = Arc::new(rule);
            }
            self.rules.insert(key, Arc::clone(&entry.rule));
        }
    }

    /// The cluster of `key`: a Service port's, or a variant presenting its Gateway's certificate.
    fn build(&self, key: &ClusterKey, index: &Index<'_>) -> Option<Cluster> {
        let Some((base, certificate)) = self.clusters.get(key) else {
            return self.catalog.build(key, index);
        };
        let mut cluster = self.catalog.build(base, index)?;
        cluster.key = key.clone();
        if let Some(tls) = cluster.tls.as_mut() {
            tls.client_certificate = Some(certificate.clone());
        }
        Some(cluster)
    }
}

/// The patterns that match every host `host` matches, most specific first: itself, the
/// wildcards of its parent domains (longest first), and `Any`.
fn coverers(host: &HostnameMatch) -> Vec<HostnameMatch> {
    let mut out = vec![host.clone()];
    let suffix = match host {
        HostnameMatch::Any => return out,
        HostnameMatch::Exact(h) => h.as_str(),
        // `.example.com`: its parents start after the first label.
        HostnameMatch::Wildcard(s) => &s[1..],
    };
    let mut rest = suffix;
    while let Some(dot) = rest.find('.') {
        out.push(HostnameMatch::Wildcard(rest[dot..].to_owned()));
        rest = &rest[dot + 1..];
    }
    out.push(HostnameMatch::Any);
    out
}

fn hostname_cmp(a: &HostnameMatch, b: &HostnameMatch) -> Ordering {
    a.specificity_cmp(b).then_with(|| a.to_string().cmp(&b.to_string()))
}

/// One virtual host per distinct hostname the listener's routes serve, most specific first.
///
/// The spec ranks routes by hostname before match precedence: a request for `foo.example.com`
/// prefers the rules of a route for `foo.example.com`, then those of routes for `*.example.com`.
/// So each virtual host lists the entries of every route whose hostname covers it, sorted by
/// (that hostname, most specific first; match precedence; route age and name; rule index;
/// match index). The data plane takes the first virtual host matching the Host and the first
/// entry matching the request, and never falls through to another virtual host.
fn virtual_hosts(attachments: &[&Attachment<'_>]) -> Vec<VirtualHost> {
    let mut by_host: HashMap<&HostnameMatch, Vec<&Attachment<'_>>> = HashMap::new();
    // Consecutive routes usually serve the same hostname: a run of them is hashed once.
    let mut run: Option<(&HostnameMatch, Vec<&Attachment<'_>>)> = None;
    for a in attachments {
        for h in a.hostnames {
            match &mut run {
                Some((host, list)) if *host == h => list.push(a),
                _ => {
                    if let Some((host, mut list)) = run.replace((h, vec![a])) {
                        by_host.entry(host).or_default().append(&mut list);
                    }
                }
            }
        }
    }
    if let Some((host, mut list)) = run {
        by_host.entry(host).or_default().append(&mut list);
    }
    let routes = attachments.iter().map(|a| a.route + 1).max().unwrap_or(0);
    let mut hosts: Vec<&HostnameMatch> = by_host.keys().copied().collect();
    hosts.sort_by(|a, b| hostname_cmp(a, b));
    hosts
        .into_iter()
        .map(|host| {
            let mut items = Vec::with_capacity(attachments.iter().map(|a| a.entries.len()).sum());
            let mut seen = vec![false; routes];
            // Most specific covering hostname first, so a route listed under several keeps its best.
            for (rank, via) in coverers(host).iter().enumerate() {
                for a in by_host.get(via).into_iter().flatten() {
                    if std::mem::replace(&mut seen[a.route], true) {
                        continue;
                    }
                    for e in a.entries {
                        items.push((rank, e.precedence, a.route, e.rule_index, e.match_index, e));
                    }
                }
            }
            // Mostly in order already (routes come oldest first): the stable sort merges runs.
            items.sort_by_key(|x| (x.0, x.1, x.2, x.3, x.4));
            let routes = items
                .into_iter()
                .map(|(.., e)| RouteEntry {
                    route_match: Arc::clone(&e.route_match),
                    rule: Arc::clone(&e.rule),
                })
                .collect();
            VirtualHost {
                hostname: host.clone(),
                routes,
            }
        })
        .collect()
}

/// Every cluster a rule can send traffic (or mirrored copies) to.
fn cluster_keys(rule: &Rule, keys: &mut BTreeSet<ClusterKey>) {
    let mirrors = |filters: &[Filter], keys: &mut BTreeSet<ClusterKey>| {
        for f in filters {
            if let Filter::Mirror(m) = f
                && let BackendTarget::Cluster(k) = &m.target
                && !keys.contains(k)
            {
                keys.insert(k.clone());
            }
        }
    };
    mirrors(&rule.filters, keys);
    for b in &rule.backends {
        // Looked up before cloning: thousands of rules usually share a few clusters.
        if let BackendTarget::Cluster(k) = &b.target
            && !keys.contains(k)
        {
            keys.insert(k.clone());
        }
        mirrors(&b.filters, keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> HostnameMatch {
        if s == "*" {
            HostnameMatch::Any
        } else {
            HostnameMatch::parse(s).unwrap()
        }
    }

    #[test]
    fn coverers_are_the_host_its_parent_wildcards_and_any() {
        let cases = [
            (
                "a.b.example.com",
                vec!["a.b.example.com", "*.b.example.com", "*.example.com", "*.com", "*"],
            ),
            (
                "*.b.example.com",
                vec!["*.b.example.com", "*.example.com", "*.com", "*"],
            ),
            ("localhost", vec!["localhost", "*"]),
            ("*", vec!["*"]),
        ];
        for (host, want) in cases {
            let want: Vec<HostnameMatch> = want.into_iter().map(h).collect();
            assert_eq!(coverers(&h(host)), want, "{host}");
            for c in &want {
                assert_eq!(c.intersect(&h(host)), Some(h(host)), "{c} covers {host}");
            }
        }
    }
}
