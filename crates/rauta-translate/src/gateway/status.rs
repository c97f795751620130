//! The status of a Gateway: conditions, addresses, and one entry per listener.

use gateway_api::experimental::gateways::{
    GatewayStatus, GatewayStatusAddresses, GatewayStatusListeners, GatewayStatusListenersSupportedKinds,
};
use gateway_api::listenersets::{
    ListenerSetStatus, ListenerSetStatusListeners, ListenerSetStatusListenersSupportedKinds,
};

use super::{GatewayState, ListenerState};
use crate::GATEWAY_GROUP;
use crate::status::{Cond, ResourceStatus, Status, conditions};

/// The Gateway's status; `attachedRoutes` counts the routes attached to each listener, whether
/// or not it is programmed; `attachedListenerSets` the accepted ListenerSets (written when the
/// Gateway has `allowedListeners`).
pub(crate) fn status(gw: &GatewayState<'_>) -> ResourceStatus {
    let generation = gw.entry.generation();
    let own = gw.listeners_of(None).count();
    let invalid: Vec<&str> = gw
        .listeners_of(None)
        .filter(|(_, l)| !l.accepted())
        .map(|(_, l)| l.name.as_str())
        .collect();
    let accepted = match &gw.rejection {
        Some(r) => Cond::no("Accepted", r.reason, r.message.clone()),
        None if invalid.len() == own => Cond::no("Accepted", "ListenersNotValid", "no listener is valid"),
        None if !invalid.is_empty() => Cond::yes(
            "Accepted",
            "ListenersNotValid",
            format!("listener(s) not valid: {}", invalid.join(", ")),
        ),
        None => Cond::yes("Accepted", "Accepted", "Gateway is accepted"),
    };
    let programmed_count = gw.listeners_of(None).filter(|(i, _)| gw.programmed(*i)).count();
    let programmed = match &gw.rejection {
        Some(r) => Cond::no("Programmed", r.programmed_reason, r.message.clone()),
        None if programmed_count == 0 => Cond::no("Programmed", "Invalid", "no listener is programmed"),
        None => Cond::yes(
            "Programmed",
            "Programmed",
            format!("{programmed_count} listener(s) programmed"),
        ),
    };
    let addresses = (gw.rejection.is_none() && !gw.addresses.is_empty()).then(|| {
        gw.addresses
            .iter()
            .map(|ip| GatewayStatusAddresses {
                r#type: Some("IPAddress".into()),
                value: ip.to_string(),
            })
            .collect()
    });
    let listeners = gw
        .listeners_of(None)
        .map(|(i, l)| GatewayStatusListeners {
            name: l.name.clone(),
            attached_routes: attached_routes(l),
            supported_kinds: Some(
                l.kinds
                    .iter()
                    .map(|k| GatewayStatusListenersSupportedKinds {
                        group: Some(GATEWAY_GROUP.into()),
                        kind: (*k).into(),
                    })
                    .collect(),
            ),
            conditions: conditions(&listener_conditions(gw, i, l), generation),
        })
        .collect();
    let attached_listener_sets = gw.entry.resource.spec.allowed_listeners.as_ref().map(|_| {
        let accepted = (0..gw.sets.len()).filter(|&k| gw.set_accepted(k)).count();
        i32::try_from(accepted).unwrap_or(i32::MAX)
    });
    let status = GatewayStatus {
        addresses,
        attached_listener_sets,
        conditions: Some(conditions(&gateway_conditions(gw, accepted, programmed), generation)),
        listeners: Some(listeners),
    };
    ResourceStatus {
        kind: "Gateway".into(),
        namespace: Some(gw.entry.namespace.to_owned()),
        name: gw.entry.name.to_owned(),
        status: Status::Gateway(status),
    }
}

/// `attachedRoutes` of a listener.
fn attached_routes(l: &ListenerState) -> i32 {
    i32::try_from(l.attached).unwrap_or(i32::MAX)
}

/// The status of ListenerSet `k` of `gw`: `Accepted` and `Programmed` (`NotAllowed` when the
/// Gateway does not admit it, `ParentNotAccepted` when the Gateway is not accepted,
/// `ListenersNotValid` when none of its listeners is), and its listeners as a Gateway's are.
pub(crate) fn listener_set_status(gw: &GatewayState<'_>, k: usize) -> Option<ResourceStatus> {
    let set = gw.sets.get(k)?;
    let generation = set.entry.generation();
    let valid = gw.listeners_of(Some(k)).filter(|(_, l)| l.valid_in_set()).count();
    let programmed = gw.listeners_of(Some(k)).filter(|(i, _)| gw.programmed(*i)).count();
    let (accepted, programmed) = if let Some(message) = &set.not_allowed {
        (
            Cond::no("Accepted", "NotAllowed", message.clone()),
            Cond::no("Programmed", "NotAllowed", message.clone()),
        )
    } else if gw.rejection.is_some() {
        let message = format!("Gateway {} is not accepted", gw.entry.display_name());
        (
            Cond::no("Accepted", "ParentNotAccepted", message.clone()),
            Cond::no("Programmed", "ParentNotProgrammed", message),
        )
    } else if valid == 0 {
        (
            Cond::no("Accepted", "ListenersNotValid", "no listener is valid"),
            Cond::no("Programmed", "ListenersNotValid", "no listener is valid"),
        )
    } else {
        let total = gw.listeners_of(Some(k)).count();
        let accepted = if valid == total {
            Cond::yes("Accepted", "Accepted", "ListenerSet is accepted")
        } else {
            Cond::yes(
                "Accepted",
                "ListenersNotValid",
                format!("{valid} of {total} listener(s) valid"),
            )
        };
        let programmed = if programmed == 0 {
            Cond::no("Programmed", "Invalid", "no listener is programmed")
        } else {
            Cond::yes(
                "Programmed",
                "Programmed",
                format!("{programmed} listener(s) programmed"),
            )
        };
        (accepted, programmed)
    };
    let listeners = gw
        .listeners_of(Some(k))
        .map(|(i, l)| ListenerSetStatusListeners {
            name: l.name.clone(),
            attached_routes: attached_routes(l),
            supported_kinds: Some(
                l.kinds
                    .iter()
                    .map(|kind| ListenerSetStatusListenersSupportedKinds {
                        group: Some(GATEWAY_GROUP.into()),
                        kind: (*kind).into(),
                    })
                    .collect(),
            ),
            conditions: conditions(&listener_conditions(gw, i, l), generation),
        })
        .collect();
    Some(ResourceStatus {
        kind: "ListenerSet".into(),
        namespace: Some(set.entry.namespace.to_owned()),
        name: set.entry.name.to_owned(),
        status: Status::ListenerSet(ListenerSetStatus {
            conditions: Some(conditions(&[accepted, programmed], generation)),
            listeners: Some(listeners),
        }),
    })
}

/// Accepted and Programmed; `ResolvedRefs` when the Gateway sets a backend client certificate;
/// `InsecureFrontendValidationMode` when a client certificate validation lets clients without a
/// valid certificate in.
fn gateway_conditions(gw: &GatewayState<'_>, accepted: Cond, programmed: Cond) -> Vec<Cond> {
    let mut out = vec![accepted, programmed];
    if let Some(resolved) = resolved_refs(gw) {
        out.push(resolved);
    }
    if gw.insecure_frontend {
        out.push(Cond::yes(
            "InsecureFrontendValidationMode",
            "ConfigurationChanged",
            "client certificate validation is AllowInsecureFallback: clients without a valid certificate are accepted",
        ));
    }
    out
}

/// The Gateway's own `ResolvedRefs`, written only for Gateways with a backend client certificate
/// (the condition is optional; its only Gateway-level reference is that one): its reason when it
/// is unusable, else `ListenersNotResolved` when a listener's references are not resolved.
fn resolved_refs(gw: &GatewayState<'_>) -> Option<Cond> {
    let cond = match gw.backend_client.as_ref()? {
        Err((reason, message)) => Cond::no("ResolvedRefs", reason, message.clone()),
        Ok(_) => {
            let unresolved: Vec<&str> = gw
                .listeners_of(None)
                .map(|(_, l)| l)
                .filter(|l| {
                    l.certificates.as_ref().is_some_and(|c| c.reason().is_some()) || !l.invalid_kinds.is_empty()
                })
                .map(|l| l.name.as_str())
                .collect();
            if unresolved.is_empty() {
                Cond::yes("ResolvedRefs", "ResolvedRefs", "all references resolved")
            } else {
                Cond::no(
                    "ResolvedRefs",
                    "ListenersNotResolved",
                    format!("listener(s) with unresolved references: {}", unresolved.join(", ")),
                )
            }
        }
    };
    Some(cond)
}

/// Accepted, Programmed, ResolvedRefs and Conflicted, in that order.
fn listener_conditions(gw: &GatewayState<'_>, i: usize, l: &ListenerState) -> [Cond; 4] {
    let accepted = match (&l.conflict, &l.rejection) {
        (Some((reason, message)), _) | (None, Some((reason, message))) => Cond::no("Accepted", reason, message.clone()),
        (None, None) => Cond::yes("Accepted", "Accepted", "listener is accepted"),
    };
    let programmed = if gw.programmed(i) {
        Cond::yes("Programmed", "Programmed", "listener is programmed")
    } else if let Some((reason, message)) = &l.conflict {
        Cond::no("Programmed", reason, message.clone())
    } else {
        let why = if gw.rejection.is_some() {
            "the Gateway is not accepted"
        } else if !l.accepted() {
            "the listener is not accepted"
        } else if l.kinds.is_empty() {
            "the listener allows no supported route kind"
        } else {
            "the listener has no valid certificate"
        };
        Cond::no("Programmed", "Invalid", why)
    };
    let certificates = l.certificates.as_ref();
    let resolved = match certificates.and_then(|c| c.reason()) {
        Some(reason) => {
            let messages: Vec<String> = certificates
                .into_iter()
                .flat_map(|c| &c.invalid)
                .map(|(_, field, message)| format!("{field}: {message}"))
                .collect();
            Cond::no("ResolvedRefs", reason, messages.join("; "))
        }
        None if !l.invalid_kinds.is_empty() => Cond::no(
            "ResolvedRefs",
            "InvalidRouteKinds",
            format!("route kind(s) not supported: {}", l.invalid_kinds.join(", ")),
        ),
        None => Cond::yes("ResolvedRefs", "ResolvedRefs", "all references resolved"),
    };
    let conflicted = match &l.conflict {
        Some((reason, message)) => Cond::yes("Conflicted", reason, message.clone()),
        None => Cond::no("Conflicted", "NoConflicts", "no conflict"),
    };
    [accepted, programmed, resolved, conflicted]
}
