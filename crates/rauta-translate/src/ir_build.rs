//! The IR snapshot: programmed listeners grouped by socket, their virtual hosts and sorted routes.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use rauta_ir::route::HostnameMatch;
use rauta_ir::{
    BackendTarget, Bind, BindProtocol, ClusterKey, Filter, Listener, ListenerRef, RouteEntry, Rule, Snapshot,
    VirtualHost,
};

use crate::clusters::ClusterCatalog;
use crate::gateway::GatewayState;
use crate::index::Index;
use crate::route::CompiledRoute;
use crate::route::attach::Attachment;

/// Builds the snapshot. Listeners of every accepted Gateway that are programmed bind each of the
/// Gateway's IPs on their port; listeners of several Gateways on one socket share its [`Bind`].
pub(crate) fn build(
    index: &Index<'_>,
    gateways: &[GatewayState<'_>],
    routes: &[CompiledRoute<'_>],
    attachments: &[Attachment],
    catalog: &ClusterCatalog,
) -> Snapshot {
    let mut by_listener: BTreeMap<(usize, usize), Vec<&Attachment>> = BTreeMap::new();
    for a in attachments {
        by_listener.entry((a.gateway, a.listener)).or_default().push(a);
    }
    let mut binds: BTreeMap<SocketAddr, Vec<Listener>> = BTreeMap::new();
    for (gi, gw) in gateways.iter().enumerate() {
        for (li, l) in gw.listeners.iter().enumerate() {
            let Some(port) = l.port.filter(|_| gw.programmed(li)) else {
                continue;
            };
            let listener = Listener {
                name: ListenerRef {
                    namespace: gw.entry.namespace.to_owned(),
                    gateway: gw.entry.name.to_owned(),
                    section: l.name.clone(),
                },
                hostname: l.hostname.clone(),
                port,
                virtual_hosts: virtual_hosts(
                    by_listener.get(&(gi, li)).map(Vec::as_slice).unwrap_or_default(),
                    routes,
                ),
            };
            for ip in gw.bind_ips() {
                binds
                    .entry(SocketAddr::new(ip, port))
                    .or_default()
                    .push(listener.clone());
            }
        }
    }
    let binds: Vec<Bind> = binds
        .into_iter()
        .map(|(address, mut listeners)| {
            listeners.sort_by(|a, b| {
                a.hostname
                    .specificity_cmp(&b.hostname)
                    .then_with(|| a.name.cmp(&b.name))
            });
            Bind {
                address,
                protocol: BindProtocol::Http,
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
        .filter_map(|k| catalog.build(&k, index).map(|c| (k, c)))
        .collect();
    Snapshot { binds, clusters }
}

/// Whether every host `narrow` matches is also matched by `wide`.
fn covers(wide: &HostnameMatch, narrow: &HostnameMatch) -> bool {
    wide.intersect(narrow).as_ref() == Some(narrow)
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
fn virtual_hosts(attachments: &[&Attachment], routes: &[CompiledRoute<'_>]) -> Vec<VirtualHost> {
    let mut hosts: Vec<&HostnameMatch> = Vec::new();
    for h in attachments.iter().flat_map(|a| &a.hostnames) {
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    hosts.sort_by(|a, b| hostname_cmp(a, b));
    hosts
        .into_iter()
        .map(|host| {
            let mut items = Vec::new();
            for a in attachments {
                let Some(via) = a
                    .hostnames
                    .iter()
                    .filter(|h| covers(h, host))
                    .min_by(|x, y| hostname_cmp(x, y))
                else {
                    continue;
                };
                for e in &routes[a.route].entries {
                    items.push((via, e.route_match.precedence(), a.route, e.rule_index, e.match_index, e));
                }
            }
            items.sort_by(|x, y| {
                hostname_cmp(x.0, y.0)
                    .then_with(|| x.1.cmp(&y.1))
                    .then_with(|| (x.2, x.3, x.4).cmp(&(y.2, y.3, y.4)))
            });
            let routes = items
                .into_iter()
                .map(|(.., e)| RouteEntry {
                    route_match: e.route_match.clone(),
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
            {
                keys.insert(k.clone());
            }
        }
    };
    mirrors(&rule.filters, keys);
    for b in &rule.backends {
        if let BackendTarget::Cluster(k) = &b.target {
            keys.insert(k.clone());
        }
        mirrors(&b.filters, keys);
    }
}
