//! ListenerSets: listeners that other resources (often in other namespaces) add to a Gateway
//! whose `spec.allowedListeners` admits them.
//!
//! Their listeners join the Gateway's after its own, oldest ListenerSet first, each set's in
//! order: on a port and hostname already taken by an earlier listener, the later one is
//! `Conflicted` and the earlier one keeps serving. Certificates and
//! `allowedRoutes.namespaces: Same` are relative to the ListenerSet, ReferenceGrants name it as
//! `from` kind `ListenerSet`.

use gateway_api::experimental::gateways::{Gateway, GatewayListeners};
use gateway_api::listenersets::{ListenerSet, ListenerSetListeners};

use super::certificates::Referrer;
use super::conflicts;
use super::frontend::Frontend;
use super::listeners::{ListenerState, Protocol};
use crate::GATEWAY_GROUP;
use crate::index::{Entry, Index};
use crate::namespaces::NamespacePolicy;
use crate::problem::Problem;
use crate::value_decoder::{DecodeError, reshape};

/// A ListenerSet attached to one of Rauta's Gateways.
#[derive(Debug)]
pub(crate) struct ListenerSetState<'a> {
    pub entry: Entry<'a, ListenerSet>,
    /// Why the Gateway does not admit it (`NotAllowed`); its listeners are then not read.
    pub not_allowed: Option<String>,
}

/// Whether `ls` names the Gateway `gw` as its parent (group and kind default to the Gateway's,
/// the namespace to the ListenerSet's).
fn is_parent(ls: &Entry<'_, ListenerSet>, gw: &Entry<'_, Gateway>) -> bool {
    let p = &ls.resource.spec.parent_ref;
    p.group.as_deref().unwrap_or(GATEWAY_GROUP) == GATEWAY_GROUP
        && p.kind.as_deref().unwrap_or("Gateway") == "Gateway"
        && p.namespace.as_deref().unwrap_or(ls.namespace) == gw.namespace
        && p.name == gw.name
}

/// Reads the ListenerSets whose parent is `gw`, oldest first, and appends the listeners of those
/// the Gateway admits to `listeners` (tagged with their ListenerSet), each checked against every
/// listener before it.
pub(crate) fn evaluate<'a>(
    index: &Index<'a>,
    gw: &Entry<'a, Gateway>,
    frontend: &Frontend,
    listeners: &mut Vec<ListenerState>,
    problems: &mut Vec<Problem>,
) -> Vec<ListenerSetState<'a>> {
    let mut sets = Vec::new();
    let mut policy = None;
    for ls in index.listener_sets.iter().filter(|ls| is_parent(ls, gw)) {
        let policy = policy.get_or_insert_with(|| {
            let spec = gw.resource.spec.allowed_listeners.as_ref();
            NamespacePolicy::for_listener_sets(spec).unwrap_or_else(|message| {
                let field = "spec.allowedListeners.namespaces";
                problems.push(
                    gw.subject()
                        .warning(field, format!("{message}; no namespace is allowed")),
                );
                NamespacePolicy::Nothing
            })
        });
        let subject = ls.subject();
        let k = sets.len();
        if !policy.admits(ls.namespace, gw.namespace, || index.namespace_labels(ls.namespace)) {
            let message = format!(
                "Gateway {} does not allow ListenerSets from namespace {}",
                gw.display_name(),
                ls.namespace
            );
            problems.push(subject.error("spec.parentRef", format!("NotAllowed: {message}")));
            sets.push(ListenerSetState {
                entry: *ls,
                not_allowed: Some(message),
            });
            continue;
        }
        let start = listeners.len();
        let by = Referrer {
            kind: "ListenerSet",
            namespace: ls.namespace,
        };
        for (i, spec) in ls.resource.spec.listeners.iter().enumerate() {
            let field = format!("spec.listeners[{i}]");
            let spec = match as_gateway_listener(spec) {
                Ok(spec) => spec,
                Err(e) => {
                    problems.push(subject.error(&field, format!("cannot read the listener: {e}")));
                    continue;
                }
            };
            let mut state = ListenerState::from_spec(&spec, &field, &subject, problems);
            state.resolve_certificates(&spec, index, by, &field, &subject, problems);
            if state.protocol == Protocol::Https
                && state.rejection.is_none()
                && let Some(validation) = state.port.and_then(|p| frontend.for_port(p))
            {
                // The Gateway's client certificate validation covers every listener on the port;
                // its CA references are the Gateway's.
                state.resolve_client_validation(index, gw.namespace, validation, &field, &subject, problems);
            }
            if listeners[start..].iter().any(|l| l.name == spec.name) {
                let message = format!("listener name {:?} is used twice", spec.name);
                problems.push(subject.error(format!("{field}.name"), format!("UnsupportedValue: {message}")));
                state.rejection = Some(("UnsupportedValue", message));
            }
            state.set = Some(k);
            listeners.push(state);
            let last = listeners.len() - 1;
            conflicts::with_earlier(listeners, last, &field, &subject, problems);
        }
        if !listeners[start..].iter().any(ListenerState::valid_in_set) {
            problems.push(subject.error("spec.listeners", "ListenersNotValid: no listener is valid"));
        }
        sets.push(ListenerSetState {
            entry: *ls,
            not_allowed: None,
        });
    }
    sets
}

/// Warns about ListenerSets whose parent Gateway does not exist (those of other controllers'
/// Gateways are not ours to judge).
pub(crate) fn report_orphans(index: &Index<'_>, problems: &mut Vec<Problem>) {
    for ls in &index.listener_sets {
        if !index.gateways.iter().any(|gw| is_parent(ls, gw)) {
            let p = &ls.resource.spec.parent_ref;
            let namespace = p.namespace.as_deref().unwrap_or(ls.namespace);
            let message = format!(
                "parent Gateway {namespace}/{} does not exist; ListenerSet ignored",
                p.name
            );
            problems.push(ls.subject().warning("spec.parentRef", message));
        }
    }
}

/// A ListenerSet's listener as the Gateway listener it is (the same schema, another Rust type).
fn as_gateway_listener(spec: &ListenerSetListeners) -> Result<GatewayListeners, DecodeError> {
    reshape(spec)
}
