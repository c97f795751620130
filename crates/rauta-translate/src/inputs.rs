//! The one bundle of resources a translation reads, built the same way by every provider.

use std::fmt;

use gateway_api::backendtlspolicies::BackendTlsPolicy;
use gateway_api::experimental::gatewayclasses::GatewayClass;
use gateway_api::experimental::gateways::Gateway;
use gateway_api::experimental::grpcroutes::GrpcRoute;
use gateway_api::experimental::httproutes::HttpRoute;
use gateway_api::experimental::referencegrants::ReferenceGrant;
use gateway_api::experimental::tcproutes::TcpRoute;
use gateway_api::experimental::tlsroutes::TlsRoute;
use gateway_api::experimental::udproutes::UdpRoute;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::Serialize;

/// Where a resource was read from, so errors can name the file.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Source {
    /// File path (or `kubernetes` for the cluster provider).
    pub file: String,
    /// Index of the YAML document in the file, from 0.
    pub document: usize,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.document == 0 {
            f.write_str(&self.file)
        } else {
            write!(f, "{} (document {})", self.file, self.document + 1)
        }
    }
}

/// A resource and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Sourced<T> {
    /// Origin of the resource; `None` when built in code.
    pub source: Option<Source>,
    /// The resource.
    pub resource: T,
}

impl<T> Sourced<T> {
    /// Wraps a resource with its origin.
    pub fn new(source: Option<Source>, resource: T) -> Self {
        Self { source, resource }
    }
}

/// Every resource kind the translator reads. Providers fill it; the translator never does I/O.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// GatewayClasses (all; only those naming Rauta's controller are reconciled).
    pub gateway_classes: Vec<Sourced<GatewayClass>>,
    /// Gateways.
    pub gateways: Vec<Sourced<Gateway>>,
    /// HTTPRoutes.
    pub http_routes: Vec<Sourced<HttpRoute>>,
    /// GRPCRoutes.
    pub grpc_routes: Vec<Sourced<GrpcRoute>>,
    /// TLSRoutes.
    pub tls_routes: Vec<Sourced<TlsRoute>>,
    /// TCPRoutes.
    pub tcp_routes: Vec<Sourced<TcpRoute>>,
    /// UDPRoutes.
    pub udp_routes: Vec<Sourced<UdpRoute>>,
    /// ReferenceGrants.
    pub reference_grants: Vec<Sourced<ReferenceGrant>>,
    /// Namespaces (labels, for `allowedRoutes` selectors). A namespace used by a resource but not
    /// listed here exists with no labels.
    pub namespaces: Vec<Sourced<Namespace>>,
    /// Services.
    pub services: Vec<Sourced<Service>>,
    /// EndpointSlices, linked to Services by the `kubernetes.io/service-name` label.
    pub endpoint_slices: Vec<Sourced<EndpointSlice>>,
    /// Secrets (TLS certificates).
    pub secrets: Vec<Sourced<Secret>>,
    /// ConfigMaps (CA certificates under `ca.crt`).
    pub config_maps: Vec<Sourced<ConfigMap>>,
    /// BackendTLSPolicies.
    pub backend_tls_policies: Vec<Sourced<BackendTlsPolicy>>,
}
