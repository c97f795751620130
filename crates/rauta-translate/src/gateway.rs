//! Gateways of Rauta's classes: listeners, addresses, conflicts, and their status.

mod addresses;
mod backend_client;
mod certificates;
mod conflicts;
mod frontend;
mod listener_sets;
mod listeners;
mod status;

use std::collections::BTreeSet;
use std::net::IpAddr;

use gateway_api::experimental::gateways::Gateway;
use rauta_ir::Certificate;

pub(crate) use conflicts::across_gateways;
pub(crate) use listener_sets::ListenerSetState;
pub(crate) use listeners::{ListenerState, Protocol};
pub(crate) use status::{listener_set_status, status};

use crate::gateway_class::Classes;
use crate::index::{Entry, Index};
use crate::problem::Problem;

/// Why a whole Gateway is not accepted: `Accepted` reason, message, and `Programmed` reason.
#[derive(Debug)]
pub(crate) struct GatewayRejection {
    pub reason: &'static str,
    pub message: String,
    pub programmed_reason: &'static str,
}

/// A Gateway of one of Rauta's classes, evaluated.
#[derive(Debug)]
pub(crate) struct GatewayState<'a> {
    pub entry: Entry<'a, Gateway>,
    /// Set when the Gateway as a whole is not accepted (then nothing of it is programmed).
    pub rejection: Option<GatewayRejection>,
    /// Requested IPs (empty: the unspecified address).
    pub addresses: Vec<IpAddr>,
    /// The Gateway's listeners in spec order, then those of the ListenerSets it admits (oldest
    /// ListenerSet first; `ListenerState::set` says whose).
    pub listeners: Vec<ListenerState>,
    /// The ListenerSets whose parent is this Gateway, oldest first.
    pub sets: Vec<ListenerSetState<'a>>,
    /// Some client certificate validation is `AllowInsecureFallback`.
    pub insecure_frontend: bool,
    /// `spec.tls.backend.clientCertificateRef`, resolved (`None`: the Gateway sets none). An
    /// unusable one presents no certificate: backends that require one refuse the handshake.
    pub backend_client: Option<Result<Certificate, backend_client::Invalid>>,
}

impl GatewayState<'_> {
    /// The IPs every listener of this Gateway binds.
    pub fn bind_ips(&self) -> Vec<IpAddr> {
        addresses::bind_ips(&self.addresses)
    }

    /// Whether listener `i` is programmed: the Gateway is accepted and the listener can serve.
    pub fn programmed(&self, i: usize) -> bool {
        self.rejection.is_none() && self.listeners.get(i).is_some_and(ListenerState::servable)
    }

    /// The listeners declared by the Gateway itself (`None`) or by its ListenerSet `Some(k)`,
    /// with their indices into `listeners`.
    pub fn listeners_of(&self, set: Option<usize>) -> impl Iterator<Item = (usize, &ListenerState)> {
        self.listeners.iter().enumerate().filter(move |(_, l)| l.set == set)
    }

    /// Whether ListenerSet `k` is accepted: admitted, and at least one of its listeners is valid.
    pub fn set_accepted(&self, k: usize) -> bool {
        self.sets.get(k).is_some_and(|s| s.not_allowed.is_none())
            && self.listeners_of(Some(k)).any(|(_, l)| l.valid_in_set())
    }

    /// The certificate this Gateway presents to TLS backends, when it has a usable one.
    pub fn client_certificate(&self) -> Option<&Certificate> {
        self.backend_client.as_ref()?.as_ref().ok()
    }

    /// Reports a Gateway none of whose listeners is valid.
    pub fn report(&self, problems: &mut Vec<Problem>) {
        if self.rejection.is_none() && !self.listeners_of(None).any(|(_, l)| l.accepted()) {
            problems.push(
                self.entry
                    .subject()
                    .error("spec.listeners", "ListenersNotValid: no listener is valid"),
            );
        }
    }
}

/// Evaluates every Gateway whose class is Rauta's, oldest first; other Gateways are left alone.
pub(crate) fn evaluate<'a>(
    index: &Index<'a>,
    classes: &Classes<'_>,
    problems: &mut Vec<Problem>,
) -> Vec<GatewayState<'a>> {
    let mut out = Vec::new();
    for entry in &index.gateways {
        let spec = &entry.resource.spec;
        let subject = entry.subject();
        let class = spec.gateway_class_name.as_str();
        let mut rejection = match classes.get(class) {
            Some(true) => None,
            Some(false) => Some(GatewayRejection {
                reason: "Invalid",
                message: format!("GatewayClass {class} is not accepted"),
                programmed_reason: "Invalid",
            }),
            None => {
                if !index.classes.contains_key(class) {
                    problems.push(subject.warning(
                        "spec.gatewayClassName",
                        format!("GatewayClass {class} does not exist; Gateway ignored"),
                    ));
                }
                continue;
            }
        };
        if let Some(p) = spec.infrastructure.as_ref().and_then(|i| i.parameters_ref.as_ref()) {
            rejection.get_or_insert(GatewayRejection {
                reason: "InvalidParameters",
                message: format!(
                    "infrastructure.parametersRef {}/{} {:?} is not supported",
                    p.group, p.kind, p.name
                ),
                programmed_reason: "Invalid",
            });
        }
        let addresses = match addresses::requested(spec.addresses.as_ref()) {
            Ok(ips) => ips,
            Err(e) => {
                problems.push(subject.error(&e.field, format!("UnsupportedAddress: {}", e.message)));
                rejection.get_or_insert(GatewayRejection {
                    reason: "UnsupportedAddress",
                    message: e.message,
                    programmed_reason: "AddressNotUsable",
                });
                Vec::new()
            }
        };
        if let Some(r) = &rejection
            && r.reason != "UnsupportedAddress"
        {
            let field = if r.reason == "InvalidParameters" {
                "spec.infrastructure.parametersRef"
            } else {
                "spec.gatewayClassName"
            };
            problems.push(subject.error(field, format!("{}: {}", r.reason, r.message)));
        }
        let frontend = frontend::Frontend::read(spec.tls.as_ref());
        let backend_client = backend_client::resolve(index, entry.namespace, spec.tls.as_ref());
        if let Some(Err((reason, message))) = &backend_client {
            problems.push(subject.error(backend_client::FIELD, format!("{reason}: {message}")));
        }
        let mut names = BTreeSet::new();
        let mut listeners = Vec::with_capacity(spec.listeners.len());
        for (i, l) in spec.listeners.iter().enumerate() {
            let field = format!("spec.listeners[{i}]");
            let mut state = ListenerState::from_spec(l, &field, &subject, problems);
            let by = certificates::Referrer::gateway(entry.namespace);
            state.resolve_certificates(l, index, by, &field, &subject, problems);
            if state.protocol == Protocol::Https
                && state.rejection.is_none()
                && let Some(validation) = state.port.and_then(|p| frontend.for_port(p))
            {
                state.resolve_client_validation(index, entry.namespace, validation, &field, &subject, problems);
            }
            if !names.insert(l.name.as_str()) {
                let message = format!("listener name {:?} is used twice", l.name);
                problems.push(subject.error(format!("{field}.name"), format!("UnsupportedValue: {message}")));
                state.rejection = Some(("UnsupportedValue", message));
            }
            listeners.push(state);
        }
        conflicts::within_gateway(&mut listeners, &subject, problems);
        let sets = listener_sets::evaluate(index, entry, &frontend, &mut listeners, problems);
        out.push(GatewayState {
            entry: *entry,
            rejection,
            addresses,
            listeners,
            sets,
            insecure_frontend: frontend.insecure(),
            backend_client,
        });
    }
    listener_sets::report_orphans(index, problems);
    out
}
