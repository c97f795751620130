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
mod status;

pub use gateway_class::SUPPORTED_FEATURES;
pub use inputs::{Inputs, Source, Sourced};
pub use parse::{ParseError, ResourceError, parse_documents};
pub use problem::{Problem, Severity};
pub use status::{ConditionTarget, ResourceStatus, Status};

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
    pub statuses: Vec<ResourceStatus>,
    /// Everything wrong with the inputs: each `False` condition has at least one error naming the
    /// field that caused it; ignored settings are warnings.
    pub problems: Vec<Problem>,
}

/// Translates the inputs into a snapshot, statuses and problems.
pub fn translate(inputs: &Inputs) -> Translation {
    let mut problems = Vec::new();
    let mut statuses = Vec::new();
    let index = index::Index::build(inputs, &mut problems);
    let classes = gateway_class::reconcile(&index, &mut statuses, &mut problems);
    let mut gateways = gateway::evaluate(&index, &classes, &mut problems);
    gateway::across_gateways(&mut gateways, &mut problems);
    for gw in &gateways {
        gw.report(&mut problems);
    }
    let mut catalog = clusters::ClusterCatalog::default();
    let mut routes: Vec<_> = index
        .routes
        .iter()
        .map(|r| route::compile(*r, &index, &mut catalog))
        .collect();
    routes.extend(
        index
            .grpc_routes
            .iter()
            .map(|r| route::grpc::compile(*r, &index, &mut catalog)),
    );
    routes.extend(
        index
            .tls_routes
            .iter()
            .map(|r| route::stream::compile_tls(*r, &index, &mut catalog)),
    );
    routes.extend(
        index
            .tcp_routes
            .iter()
            .map(|r| route::stream::compile_tcp(*r, &index, &mut catalog)),
    );
    routes.extend(
        index
            .udp_routes
            .iter()
            .map(|r| route::stream::compile_udp(*r, &index, &mut catalog)),
    );
    // Oldest first across kinds: route ties go to the oldest route.
    routes.sort_by_key(|r| r.meta.age);
    let mut route_statuses = Vec::new();
    let attachments = route::attach::attach(&index, &routes, &mut gateways, &mut route_statuses, &mut problems);
    let gateway_statuses: Vec<_> = gateways.iter().map(gateway::status).collect();
    let set_statuses: Vec<_> = gateways
        .iter()
        .flat_map(|gw| (0..gw.sets.len()).filter_map(|k| gateway::listener_set_status(gw, k)))
        .collect();
    let (policy_statuses, policy_problems) = backend_tls::statuses(&index, &gateways, &routes, &attachments, &catalog);
    problems.extend(policy_problems);
    for mut list in [gateway_statuses, set_statuses, route_statuses, policy_statuses] {
        list.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        statuses.extend(list);
    }
    let snapshot = ir_build::build(&index, &gateways, &routes, &attachments, &catalog);
    Translation {
        snapshot,
        statuses,
        problems,
    }
}
