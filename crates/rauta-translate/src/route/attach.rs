//! parentRefs → listeners: which listeners a route attaches to, and its per-parent status.
//!
//! Done in two steps so that the first can be kept between translations: [`evaluate`] judges one
//! route against the Gateways (reading them only), [`attach`] then records every route's
//! attachments on the listeners, in route order.

use std::collections::BTreeMap;
use std::sync::Arc;

use gateway_api::experimental::httproutes::{
    HttpRouteParentRefs, HttpRouteStatus, HttpRouteStatusParents, HttpRouteStatusParentsParentRef,
};
use rauta_ir::route::HostnameMatch;

use super::{CompiledEntry, CompiledRoute};
use crate::gateway::GatewayState;
use crate::index::Index;
use crate::problem::Problem;
use crate::status::{Cond, ResourceStatus, Status, conditions};
use crate::{CONTROLLER_NAME, GATEWAY_GROUP};

/// A route attached to a listener, with the hostnames it serves there (the intersections of its
/// hostnames with the listener's).
#[derive(Debug)]
pub(crate) struct Attachment<'r> {
    pub gateway: usize,
    pub listener: usize,
    /// Position of the route in the translation's route list (oldest first).
    pub route: usize,
    pub hostnames: &'r [HostnameMatch],
    /// The route's match entries.
    pub entries: &'r [CompiledEntry],
}

/// What one route's parentRefs come to, given the Gateways.
#[derive(Debug, Default)]
pub(crate) struct RouteAttachment {
    /// The route's status; `None` when no parentRef names one of our Gateways (the route
    /// belongs to another controller: no status and no problems).
    pub status: Option<Arc<ResourceStatus>>,
    /// The route's own problems, then those of its parentRefs.
    pub problems: Vec<Problem>,
    /// `(gateway, listener)` the route attaches to, in that order, with the hostnames it serves
    /// there.
    pub listeners: Vec<((usize, usize), Vec<HostnameMatch>)>,
}

/// Our Gateways, and how parentRefs find them and their ListenerSets.
pub(crate) struct Parents<'g, 'a> {
    index: &'g Index<'a>,
    gateways: &'g [GatewayState<'a>],
    by_name: BTreeMap<(&'a str, &'a str), usize>,
    /// ListenerSets by name: their Gateway and their index in its `sets`.
    sets: BTreeMap<(&'a str, &'a str), (usize, usize)>,
}

impl<'g, 'a> Parents<'g, 'a> {
    /// Indexes `gateways` by name.
    pub fn new(index: &'g Index<'a>, gateways: &'g [GatewayState<'a>]) -> Self {
        let by_name = gateways
            .iter()
            .enumerate()
            .map(|(i, g)| ((g.entry.namespace, g.entry.name), i))
            .collect();
        let sets = gateways
            .iter()
            .enumerate()
            .flat_map(|(gi, g)| {
                g.sets
                    .iter()
                    .enumerate()
                    .map(move |(k, s)| ((s.entry.namespace, s.entry.name), (gi, k)))
            })
            .collect();
        Self {
            index,
            gateways,
            by_name,
            sets,
        }
    }
}

/// Judges every parentRef of `route` that names one of our Gateways (or one of their
/// ListenerSets): the listeners it attaches to, its status and problems.
pub(crate) fn evaluate(route: &CompiledRoute, parents: &Parents<'_, '_>) -> RouteAttachment {
    let subject = route.meta.subject();
    let mut statuses = Vec::new();
    let mut seen = Vec::new();
    let mut parent_problems = Vec::new();
    let mut listeners: BTreeMap<(usize, usize), Vec<HostnameMatch>> = BTreeMap::new();
    for (pi, p) in route.parent_refs.iter().enumerate() {
        let group = p.group.as_deref().unwrap_or(GATEWAY_GROUP);
        let kind = p.kind.as_deref().unwrap_or("Gateway");
        if group != GATEWAY_GROUP || !matches!(kind, "Gateway" | "ListenerSet") {
            continue;
        }
        let namespace = p.namespace.as_deref().unwrap_or(&route.meta.namespace);
        let name = (namespace, p.name.as_str());
        let found = if kind == "Gateway" {
            parents.by_name.get(&name).map(|&gi| (gi, None))
        } else {
            parents.sets.get(&name).map(|&(gi, k)| (gi, Some(k)))
        };
        let Some((gi, set)) = found else {
            let exists = if kind == "Gateway" {
                parents.index.gateways.iter().any(|g| (g.namespace, g.name) == name)
            } else {
                parents
                    .index
                    .listener_sets
                    .iter()
                    .any(|s| (s.namespace, s.name) == name)
            };
            if !exists {
                let message = format!("{kind} {namespace}/{} does not exist", p.name);
                parent_problems.push(subject.warning(format!("spec.parentRefs[{pi}]"), message));
            }
            continue;
        };
        let key = (kind, namespace, p.name.as_str(), p.section_name.as_deref(), p.port);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let parent = Parent { gateway: gi, set };
        let accepted = match &route.rejection {
            Some(rejection) => rejection.clone(),
            None => evaluate_parent(parents.index, route, p, &parents.gateways[gi], parent, &mut listeners),
        };
        if !accepted.ok && route.rejection.is_none() {
            parent_problems.push(accepted.problem(&subject, format!("spec.parentRefs[{pi}]")));
        }
        let parent_ref = HttpRouteStatusParentsParentRef {
            group: Some(GATEWAY_GROUP.to_owned()),
            kind: Some(kind.to_owned()),
            namespace: Some(namespace.to_owned()),
            name: p.name.clone(),
            section_name: p.section_name.clone(),
            port: p.port,
        };
        statuses.push(HttpRouteStatusParents {
            conditions: conditions(&[accepted, route.resolved_refs.clone()], route.meta.generation),
            controller_name: CONTROLLER_NAME.to_owned(),
            parent_ref,
        });
    }
    let mut problems = Vec::new();
    let status = (!statuses.is_empty()).then(|| {
        problems.extend(route.problems.iter().cloned());
        Arc::new(ResourceStatus {
            kind: route.meta.kind.as_str().into(),
            namespace: Some(route.meta.namespace.clone()),
            name: route.meta.name.clone(),
            status: Status::Route(HttpRouteStatus { parents: statuses }),
        })
    });
    problems.extend(parent_problems);
    RouteAttachment {
        status,
        problems,
        listeners: listeners.into_iter().collect(),
    }
}

/// Counts on the listeners the routes attached to them and lists the attachments by gateway,
/// listener and route (a route attaches to a listener once, whatever its parentRefs). `routes` gives each route's entries and attachment, oldest route first.
pub(crate) fn attach<'r>(
    routes: impl Iterator<Item = (&'r [CompiledEntry], &'r RouteAttachment)>,
    gateways: &mut [GatewayState<'_>],
) -> Vec<Attachment<'r>> {
    let mut by_listener: BTreeMap<(usize, usize), Vec<Attachment<'r>>> = BTreeMap::new();
    for (ri, (entries, attachment)) in routes.enumerate() {
        for ((gi, li), hostnames) in &attachment.listeners {
            if let Some(listener) = gateways.get_mut(*gi).and_then(|g| g.listeners.get_mut(*li)) {
                listener.attached += 1;
            }
            by_listener.entry((*gi, *li)).or_default().push(Attachment {
                gateway: *gi,
                listener: *li,
                route: ri,
                hostnames,
                entries,
            });
        }
    }
    by_listener.into_values().flatten().collect()
}

/// What a parentRef names: a Gateway's own listeners, or those one of its ListenerSets adds.
#[derive(Clone, Copy, Debug)]
struct Parent {
    gateway: usize,
    /// The ListenerSet (index into the Gateway's `sets`); `None`: the Gateway itself.
    set: Option<usize>,
}

/// `Accepted` for one parentRef: the listeners named by sectionName/port (among those of the
/// parent: a Gateway's own, or a ListenerSet's), those that accept the route's kind and namespace,
/// and those whose hostname intersects the route's.
fn evaluate_parent(
    index: &Index<'_>,
    route: &CompiledRoute,
    p: &HttpRouteParentRefs,
    gw: &GatewayState<'_>,
    parent: Parent,
    attached: &mut BTreeMap<(usize, usize), Vec<HostnameMatch>>,
) -> Cond {
    let gi = parent.gateway;
    let set = parent.set.and_then(|k| gw.sets.get(k));
    let gw_name = match set {
        Some(s) => format!("ListenerSet {}", s.entry.display_name()),
        None => format!("Gateway {}", gw.entry.display_name()),
    };
    // `allowedRoutes.namespaces: Same` means the namespace of whoever declares the listener.
    let owner_ns = set.map_or(gw.entry.namespace, |s| s.entry.namespace);
    let candidates: Vec<usize> = gw
        .listeners_of(parent.set)
        .filter(|(_, l)| {
            p.section_name.as_ref().is_none_or(|s| *s == l.name)
                && p.port.is_none_or(|port| l.port.is_some_and(|lp| i32::from(lp) == port))
        })
        .map(|(i, _)| i)
        .collect();
    if candidates.is_empty() {
        let which = match (&p.section_name, p.port) {
            (Some(s), Some(port)) => format!("named {s:?} on port {port}"),
            (Some(s), None) => format!("named {s:?}"),
            (None, Some(port)) => format!("on port {port}"),
            (None, None) => "at all".to_owned(),
        };
        return Cond::no(
            "Accepted",
            "NoMatchingParent",
            format!("{gw_name} has no listener {which}"),
        );
    }
    let route_ns = route.meta.namespace.as_str();
    let accepted: Vec<usize> = candidates.into_iter().filter(|&i| gw.listeners[i].accepted()).collect();
    let of_kind: Vec<usize> = accepted
        .iter()
        .copied()
        .filter(|&i| gw.listeners[i].allows_kind(route.meta.kind.as_str()))
        .collect();
    let allowed: Vec<usize> = of_kind
        .iter()
        .copied()
        .filter(|&i| {
            gw.listeners[i]
                .namespaces
                .admits(route_ns, owner_ns, || index.namespace_labels(route_ns))
        })
        .collect();
    if allowed.is_empty() {
        let why = if accepted.is_empty() {
            "is accepted".to_owned()
        } else if of_kind.is_empty() {
            format!("allows {}s", route.meta.kind.as_str())
        } else {
            format!("allows routes from namespace {route_ns}")
        };
        let message = format!("no selected listener of {gw_name} {why}");
        return Cond::no("Accepted", "NotAllowedByListeners", message);
    }
    let mut any = false;
    for li in allowed {
        let listener_host = &gw.listeners[li].hostname;
        let mut hosts: Vec<HostnameMatch> = Vec::new();
        if route.hostnames.is_empty() {
            hosts.push(listener_host.clone());
        } else {
            for h in route.hostnames.iter().filter_map(|h| listener_host.intersect(h)) {
                if !hosts.contains(&h) {
                    hosts.push(h);
                }
            }
        }
        if hosts.is_empty() {
            continue;
        }
        any = true;
        let merged = attached.entry((gi, li)).or_default();
        for h in hosts {
            if !merged.contains(&h) {
                merged.push(h);
            }
        }
    }
    if any {
        Cond::yes("Accepted", "Accepted", "route is accepted")
    } else {
        let message = format!("no hostname of the route intersects a listener hostname of {gw_name}");
        Cond::no("Accepted", "NoMatchingListenerHostname", message)
    }
}
