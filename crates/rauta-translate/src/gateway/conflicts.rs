//! Listener distinctness: within a Gateway, and between Gateways that share a socket.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::GatewayState;
use super::listeners::{ListenerState, Protocol};
use crate::problem::{Problem, Subject};

/// Marks every listener of one Gateway that is not distinct from another as `Conflicted`: on one
/// port, protocols that cannot share it (HTTP, HTTPS, TLS and TCP each need the port to
/// themselves; UDP is its own transport) are a `ProtocolConflict` for all of them; HTTP (or HTTPS,
/// or TLS: Terminate and Passthrough may mix) listeners with the same hostname are a
/// `HostnameConflict` for all of them; two TCP (or UDP) listeners on a port conflict too. No
/// winner is picked. Listeners with an unknown protocol or an invalid port or hostname are
/// already rejected and take no part.
pub(crate) fn within_gateway(listeners: &mut [ListenerState], subject: &Subject<'_>, problems: &mut Vec<Problem>) {
    let mut by_port: BTreeMap<(u16, bool), Vec<usize>> = BTreeMap::new();
    for (i, l) in listeners.iter().enumerate() {
        let judged = !matches!(l.protocol, Protocol::Other(_))
            && l.rejection
                .as_ref()
                .is_none_or(|(reason, _)| *reason == "UnsupportedProtocol");
        if let (true, Some(port)) = (judged, l.port) {
            by_port.entry((port, l.protocol == Protocol::Udp)).or_default().push(i);
        }
    }
    let mut conflicts: Vec<(usize, &'static str, String)> = Vec::new();
    for ((port, _), group) in by_port {
        if group.len() < 2 {
            continue;
        }
        let class = |i: usize| listeners[i].protocol.socket_class();
        let first = class(group[0]);
        if let Some(&other) = group.iter().find(|&&i| class(i) != first) {
            for &i in &group {
                let message = format!("port {port} is shared by {first} and {} listeners", class(other));
                conflicts.push((i, "ProtocolConflict", message));
            }
        } else if matches!(first, "TCP" | "UDP") {
            for &i in &group {
                conflicts.push((
                    i,
                    "ProtocolConflict",
                    format!("port {port} is used by more than one {first} listener"),
                ));
            }
        } else {
            for &i in &group {
                let same: Vec<&str> = group
                    .iter()
                    .filter(|&&j| j != i && listeners[j].hostname == listeners[i].hostname)
                    .map(|&j| listeners[j].name.as_str())
                    .collect();
                if !same.is_empty() {
                    let message = format!(
                        "port {port} and hostname {} are also used by listener(s) {}",
                        listeners[i].hostname,
                        same.join(", ")
                    );
                    conflicts.push((i, "HostnameConflict", message));
                }
            }
        }
    }
    for (i, reason, message) in conflicts {
        problems.push(subject.error(format!("spec.listeners[{i}]"), format!("{reason}: {message}")));
        listeners[i].conflict = Some((reason, message));
    }
}

/// Marks listener `i` of a ListenerSet `Conflicted` when it is not distinct from an accepted
/// listener declared before it (`listeners[..i]`: the Gateway's own, older ListenerSets', and the
/// earlier ones of its own set): the earlier listener keeps its port and hostname. On one port,
/// another protocol (or a second TCP or UDP listener) is a `ProtocolConflict`, the same hostname
/// a `HostnameConflict`. `field` names the listener in its ListenerSet.
pub(crate) fn with_earlier(
    listeners: &mut [ListenerState],
    i: usize,
    field: &str,
    subject: &Subject<'_>,
    problems: &mut Vec<Problem>,
) {
    let Some((l, earlier)) = listeners.get_mut(..=i).and_then(<[_]>::split_last_mut) else {
        return;
    };
    let Some(port) = l.port.filter(|_| l.accepted()) else {
        return;
    };
    let udp = l.protocol == Protocol::Udp;
    let class = l.protocol.socket_class();
    let found = earlier.iter().find_map(|e| {
        if !e.accepted() || e.port != Some(port) || (e.protocol == Protocol::Udp) != udp {
            return None;
        }
        let other = e.protocol.socket_class();
        if other != class || matches!(class, "TCP" | "UDP") {
            let message = format!("port {port} is already used by {other} listener {}", e.name);
            Some(("ProtocolConflict", message))
        } else if e.hostname == l.hostname {
            let message = format!(
                "port {port} and hostname {} are already used by listener {}",
                l.hostname, e.name
            );
            Some(("HostnameConflict", message))
        } else {
            None
        }
    });
    if let Some((reason, message)) = found {
        problems.push(subject.error(field, format!("{reason}: {message}")));
        l.conflict = Some((reason, message));
    }
}

/// Listeners of different Gateways that bind the same socket share it; two of them with the same
/// hostname are not distinct, and HTTP cannot share a socket with HTTPS (`ProtocolConflict`). The
/// older Gateway (creation time, then `namespace/name`: the order of `gateways`) keeps the
/// hostname; the newer one's listener is `Conflicted` (HostnameConflict). UDP sockets are apart
/// from TCP ones: a UDP listener only meets UDP listeners (and, having no hostname, conflicts with
/// them).
pub(crate) fn across_gateways(gateways: &mut [GatewayState<'_>], problems: &mut Vec<Problem>) {
    // Sockets are `(address, UDP)`.
    let mut claims: BTreeMap<((SocketAddr, bool), String), String> = BTreeMap::new();
    // One socket speaks one protocol: plain HTTP or TLS.
    let mut schemes: BTreeMap<(SocketAddr, bool), (&'static str, String)> = BTreeMap::new();
    for gw in gateways.iter_mut() {
        if gw.rejection.is_some() {
            continue;
        }
        let ips = gw.bind_ips();
        let subject = gw.entry.subject();
        let owner = gw.entry.display_name();
        for (i, l) in gw.listeners.iter_mut().enumerate() {
            let Some(port) = l.port.filter(|_| l.servable()) else {
                continue;
            };
            let udp = l.protocol == Protocol::Udp;
            let sockets: Vec<(SocketAddr, bool)> = ips.iter().map(|ip| (SocketAddr::new(*ip, port), udp)).collect();
            let host = l.hostname.to_string();
            let taken = sockets
                .iter()
                .find_map(|s| claims.get(&(*s, host.clone())).map(|by| (*s, by.clone())));
            let scheme = l.protocol.socket_class();
            let other_protocol = sockets.iter().find_map(|s| {
                schemes
                    .get(s)
                    .filter(|(p, _)| *p != scheme)
                    .map(|(p, by)| (*s, *p, by.clone()))
            });
            if let Some(((socket, _), protocol, by)) = other_protocol {
                let message = format!("{socket} already serves {protocol} for listener {by}");
                problems.push(subject.error(format!("spec.listeners[{i}]"), format!("ProtocolConflict: {message}")));
                l.conflict = Some(("ProtocolConflict", message));
                continue;
            }
            if let Some(((socket, _), by)) = taken {
                let message = format!("{socket} with hostname {host} is already served by listener {by}");
                problems.push(subject.error(format!("spec.listeners[{i}]"), format!("HostnameConflict: {message}")));
                l.conflict = Some(("HostnameConflict", message));
                continue;
            }
            for s in sockets {
                claims.insert((s, host.clone()), format!("{owner}/{}", l.name));
                schemes.entry(s).or_insert((scheme, format!("{owner}/{}", l.name)));
            }
        }
    }
}
