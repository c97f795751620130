//! backendRefs (and mirror backendRefs) → cluster keys, or why they cannot be used.

use rauta_ir::{ClusterKey, InvalidBackend, RouteKind, UpstreamProtocol};

use crate::GATEWAY_GROUP;
use crate::backend_tls;
use crate::clusters::{ClusterCatalog, ServicePort};
use crate::index::Index;
use crate::reference_grant::{self, From, To};

/// The fields every kind of backend reference has.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BackendSpec<'a> {
    pub group: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub name: &'a str,
    pub namespace: Option<&'a str>,
    pub port: Option<i32>,
}

/// Why a reference cannot be used: the route condition reason, the IR's reason, and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unresolved {
    pub reason: &'static str,
    pub invalid: InvalidBackend,
    pub message: String,
}

impl Unresolved {
    fn new(reason: &'static str, invalid: InvalidBackend, message: String) -> Self {
        Self {
            reason,
            invalid,
            message,
        }
    }
}

/// Resolves a reference made by a route of `route_kind` in `route_ns`. Checks, in order: the kind
/// (only core Services), the ReferenceGrant for another namespace (before existence, so a missing
/// grant does not reveal what exists), the Service, its port (TCP; required), its appProtocol.
/// GRPCRoute backends always speak HTTP/2 (their clusters are told apart from an HTTP/1.1 use of
/// the same Service port by a `(h2c)` suffix on the key).
pub(crate) fn resolve(
    index: &Index<'_>,
    catalog: &mut ClusterCatalog,
    route_kind: RouteKind,
    route_ns: &str,
    spec: BackendSpec<'_>,
) -> Result<ClusterKey, Unresolved> {
    let group = spec.group.unwrap_or("");
    let kind = spec.kind.unwrap_or("Service");
    if !group.is_empty() || kind != "Service" {
        let shown = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        let message = format!("backend kind {shown} is not supported (only Service is)");
        return Err(Unresolved::new("InvalidKind", InvalidBackend::InvalidKind, message));
    }
    let namespace = spec.namespace.unwrap_or(route_ns);
    let from = From {
        group: GATEWAY_GROUP,
        kind: route_kind.as_str(),
        namespace: route_ns,
    };
    let to = To {
        group: "",
        kind: "Service",
        namespace,
        name: spec.name,
    };
    if !reference_grant::permits(index, from, to) {
        let message = format!(
            "no ReferenceGrant in namespace {namespace} allows {}s in {route_ns} to reference Service {}",
            route_kind.as_str(),
            spec.name
        );
        return Err(Unresolved::new(
            "RefNotPermitted",
            InvalidBackend::RefNotPermitted,
            message,
        ));
    }
    let not_found = |message: String| Unresolved::new("BackendNotFound", InvalidBackend::NotFound, message);
    let Some(service) = index.services.get(&(namespace, spec.name)) else {
        return Err(not_found(format!("Service {namespace}/{} does not exist", spec.name)));
    };
    let Some(port) = spec.port else {
        return Err(not_found(format!(
            "a port is required to reference Service {namespace}/{}",
            spec.name
        )));
    };
    // UDPRoutes send to UDP ports, every other kind to TCP ports (the default protocol).
    let transport = if route_kind == RouteKind::Udp { "UDP" } else { "TCP" };
    let service_port = service
        .resource
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .and_then(|ports| {
            ports
                .iter()
                .find(|p| p.port == port && p.protocol.as_deref().unwrap_or("TCP") == transport)
        });
    let Some(service_port) = service_port else {
        return Err(not_found(format!(
            "Service {namespace}/{} has no {transport} port {port}",
            spec.name
        )));
    };
    let forced_h2c = route_kind == RouteKind::Grpc && service_port.app_protocol.as_deref() != Some("kubernetes.io/h2c");
    let protocol = match service_port.app_protocol.as_deref() {
        _ if route_kind == RouteKind::Udp => UpstreamProtocol::Udp,
        Some("kubernetes.io/h2c") => UpstreamProtocol::H2c,
        Some("kubernetes.io/ws") if route_kind == RouteKind::Http => UpstreamProtocol::WebSocket,
        Some("kubernetes.io/wss") => {
            let message = format!(
                "appProtocol kubernetes.io/wss of Service {namespace}/{} port {port} needs TLS to the backend, which is not supported yet",
                spec.name
            );
            return Err(Unresolved::new(
                "UnsupportedProtocol",
                InvalidBackend::UnsupportedProtocol,
                message,
            ));
        }
        _ if route_kind == RouteKind::Grpc => UpstreamProtocol::H2c,
        _ => UpstreamProtocol::Http1,
    };
    let port = u16::try_from(port).map_err(|_| not_found(format!("port {port} is not in 1-65535")))?;
    Ok(catalog.register(ServicePort {
        namespace: namespace.to_owned(),
        service: spec.name.to_owned(),
        port,
        port_name: service_port.name.clone(),
        protocol,
        forced_h2c,
        tls: (protocol != UpstreamProtocol::Udp)
            .then(|| backend_tls::for_service_port(index, namespace, spec.name, service_port.name.as_deref()))
            .flatten(),
    }))
}
