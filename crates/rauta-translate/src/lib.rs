//! Pure translation: Gateway API resources in, Rauta IR and resource statuses out.
//!
//! `translate(&Inputs) -> Translation` does no I/O and reads no clock: the same inputs always give
//! the same snapshot, statuses and problems, which is what the golden tests pin down.
//! [`parse_documents`] reads YAML files into [`Inputs`] for the file provider.
//!
//! Choices made where the Gateway API leaves room (each pinned by a golden file):
//! - Route ties: oldest `creationTimestamp` first; a route without one counts as newer than any
//!   that has one; then `namespace/name`, rule index, match index. Gateways conflict the same way.
//! - Hostname precedence comes before match precedence: a virtual host lists the entries of the
//!   routes for its own hostname, then those of routes whose wider hostname covers it.
//! - A route attaches to listeners that are `Accepted` (whether or not programmed); a Gateway that
//!   is not accepted still counts attached routes but binds nothing.
//! - Listeners bind `spec.addresses` IPs, or `0.0.0.0`; `status.addresses` lists only requested IPs
//!   (the caller knows the reachable address of a wildcard bind).
//! - Invalid values the CRDs would reject make the route `Accepted=False UnsupportedValue` (or
//!   `IncompatibleFilters`) on every parent; unresolvable references only flip `ResolvedRefs`.

#![warn(missing_docs)]

mod backend_tls;
mod clusters;
mod gateway;
mod gateway_class;
mod index;
mod inputs;
mod ir_build;
mod namespaces;
mod parse;
mod problem;
mod reference_grant;
mod route;
mod route_cache;
mod status;
mod translator;
mod value_decoder;

pub use gateway_class::SUPPORTED_FEATURES;
pub use inputs::{Inputs, Source, Sourced};
pub use parse::{ParseError, ResourceError, parse_documents};
pub use problem::{Problem, Severity};
pub use status::{ConditionTarget, ResourceStatus, Status};
pub use translator::Translator;

use std::sync::Arc;

/// The `controllerName` of Rauta's GatewayClasses.
pub const CONTROLLER_NAME: &str = "rauta.io/gateway-controller";

/// The Gateway API group.
pub(crate) const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// What a translation produces.
#[derive(Clone, Debug, Default)]
pub struct Translation {
    /// What the data plane serves.
    pub snapshot: rauta_ir::Snapshot,
    /// The status of every GatewayClass, Gateway, ListenerSet, route and BackendTLSPolicy Rauta is
    /// responsible for, in that order, each sorted by name. Conditions carry the Unix epoch as `lastTransitionTime`.
    /// Shared: a [`Translator`] hands an unchanged route's status to the next translation as is.
    pub statuses: Vec<Arc<ResourceStatus>>,
    /// Everything wrong with the inputs: each `False` condition has at least one error naming the
    /// field that caused it; ignored settings are warnings.
    pub problems: Vec<Problem>,
}

/// Translates the inputs into a snapshot, statuses and problems, from scratch (a
/// [`Translator`] reuses what did not change since its previous translation).
pub fn translate(inputs: &Inputs) -> Translation {
    Translator::new().translate(inputs)
}
