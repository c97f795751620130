//! parentRefs → listeners: which listeners a route attaches to, and its per-parent status.

use std::collections::BTreeMap;

use gateway_api::experimental::httproutes::{
    HttpRouteParentRefs, HttpRouteStatus, HttpRouteStatusParents, HttpRouteStatusParentsParentRef,
};
use rauta_ir::route::HostnameMatch;

use super::CompiledRoute;
use crate::gateway::GatewayState;
use crate::index::Index;
use crate::problem::Problem;
use crate::status::{Cond, ResourceStatus, Status, conditions};
use crate::{CONTROLLER_NAME, GATEWAY_GROUP};

/// A route attached to a listener, with the hostnames it serves there (the intersections of its
/// hostnames with the listener's).
#[derive(Debug, PartialEq)]
pub(crate) struct Attachment {
    pub gateway: usize,
    pub listener: usize,
    pub route: usize,
    pub hostnames: Vec<HostnameMatch>,
}

/// Attaches every route to the listeners its parentRefs select and allow, counts the routes of
/// each listener, and writes route statuses. Routes with no parentRef to one of our Gateways get
/// no status and no problems: they belong to another controller.
pub(crate) fn attach(
    index: &Index<'_>,
    routes: &[CompiledRoute<'_>],
    gateways: &mut [GatewayState<'_>],
    statuses: &mut Vec<ResourceStatus>,
    problems: &mut Vec<Problem>,
) -> Vec<Attachment> {
    let by_name: BTreeMap<(&str, &str), usize> = gateways
        .iter()
        .enumerate()
        .map(|(i, g)| ((g.entry.namespace, g.entry.name), i))
        .collect();
    let sets: BTreeMap<(&str, &str), (usize, usize)> = gateways
        .iter()
        .enumerate()
        .flat_map(|(gi, g)| {
            g.sets
                .iter()
                .enumerate()
                .map(move |(k, s)| ((s.entry.namespace, s.entry.name), (gi, k)))
        })
        .collect();
    let mut attached: BTreeMap<(usize, usize, usize), Vec<HostnameMatch>> = BTreeMap::new();
    for (ri, route) in routes.iter().enumerate() {
        let subject = route.meta.subject;
        let mut parents = Vec::new();
        let mut seen = Vec::new();
        let mut parent_problems = Vec::new();
        for (pi, p) in route.parent_refs.iter().enumerate() {
            let group = p.group.as_deref().unwrap_or(GATEWAY_GROUP);
            let kind = p.kind.as_deref().unwrap_or("Gateway");
            if group != GATEWAY_GROUP || !matches!(kind, "Gateway" | "ListenerSet") {
                continue;
            }
            let namespace = p.namespace.as_deref().unwrap_or(route.meta.namespace);
            let key = (namespace, p.name.as_str());
            let found = if kind == "Gateway" {
                by_name.get(&key).map(|&gi| (gi, None))
            } else {
                sets.get(&key).map(|&(gi, k)| (gi, Some(k)))
            };
            let Some((gi, scope)) = found else {
                let exists = if kind == "Gateway" {
                    index.gateways.iter().any(|g| (g.namespace, g.name) == key)
                } else {
                    index.listener_sets.iter().any(|s| (s.namespace, s.name) == key)
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
            let parent = Parent {
                gateway: gi,
                set: scope,
            };
            let accepted = match &route.rejection {
                Some(rejection) => rejection.clone(),
                None => evaluate(index, route, ri, p, &mut gateways[gi], parent, &mut attached),
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
            parents.push(HttpRouteStatusParents {
                conditions: conditions(&[accepted, route.resolved_refs.clone()], route.meta.generation),
                controller_name: CONTROLLER_NAME.to_owned(),
                parent_ref,
            });
        }
        if !parents.is_empty() {
            problems.extend(route.problems.iter().cloned());
            statuses.push(ResourceStatus {
                kind: route.meta.kind.as_str().into(),
                namespace: Some(route.meta.namespace.to_owned()),
                name: route.meta.name.to_owned(),
                status: Status::Route(HttpRouteStatus { parents }),
            });
        }
        problems.extend(parent_problems);
    }
    attached
        .into_iter()
        .map(|((gateway, listener, route), hostnames)| Attachment {
            gateway,
            listener,
            route,
            hostnames,
        })
        .collect()
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
fn evaluate(
    index: &Index<'_>,
    route: &CompiledRoute<'_>,
    ri: usize,
    p: &HttpRouteParentRefs,
    gw: &mut GatewayState<'_>,
    parent: Parent,
    attached: &mut BTreeMap<(usize, usize, usize), Vec<HostnameMatch>>,
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
    let route_ns = route.meta.namespace;
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
        gw.listeners[li].attached.insert(ri);
        let merged = attached.entry((gi, li, ri)).or_default();
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
