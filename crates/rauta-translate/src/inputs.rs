//! The one bundle of resources a translation reads, built the same way by every provider.

use std::fmt;
use std::sync::Arc;

use gateway_api::backendtlspolicies::BackendTlsPolicy;
use gateway_api::experimental::gatewayclasses::GatewayClass;
use gateway_api::experimental::gateways::Gateway;
use gateway_api::experimental::grpcroutes::GrpcRoute;
use gateway_api::experimental::httproutes::HttpRoute;
use gateway_api::experimental::referencegrants::ReferenceGrant;
use gateway_api::experimental::tcproutes::TcpRoute;
use gateway_api::experimental::tlsroutes::TlsRoute;
use gateway_api::experimental::udproutes::UdpRoute;
use gateway_api::listenersets::ListenerSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::Serialize;

/// Where a resource was read from, so errors can name the file.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Source {
    /// File path (or `kubernetes` for the cluster provider). Shared by every resource of the
    /// file: thousands of resources are copied into each load's inputs.
    pub file: Arc<str>,
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
///
/// The resource is shared: a provider that caches parsed files hands the same resource to every
/// translation until its file changes, without copying it.
#[derive(Debug, PartialEq)]
pub struct Sourced<T> {
    /// Origin of the resource; `None` when built in code.
    pub source: Option<Source>,
    /// The resource.
    pub resource: Arc<T>,
}

impl<T> Clone for Sourced<T> {
    fn clone(&self) -> Self {
        Self {
            source: self.source.clone(),
            resource: Arc::clone(&self.resource),
        }
    }
}

impl<T> Sourced<T> {
    /// Wraps a resource with its origin.
    pub fn new(source: Option<Source>, resource: T) -> Self {
        Self {
            source,
            resource: Arc::new(resource),
        }
    }
}

/// Every resource kind the translator reads. Providers fill it; the translator never does I/O.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// GatewayClasses (all; only those naming Rauta's controller are reconciled).
    pub gateway_classes: Vec<Sourced<GatewayClass>>,
    /// Gateways.
    pub gateways: Vec<Sourced<Gateway>>,
    /// ListenerSets (listeners added to a Gateway that allows them).
    pub listener_sets: Vec<Sourced<ListenerSet>>,
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

impl Inputs {
    /// Adds every resource of `other`, after those already here.
    pub fn append(&mut self, other: Inputs) {
        let Inputs {
            gateway_classes,
            gateways,
            listener_sets,
            http_routes,
            grpc_routes,
            tls_routes,
            tcp_routes,
            udp_routes,
            reference_grants,
            namespaces,
            services,
            endpoint_slices,
            secrets,
            config_maps,
            backend_tls_policies,
        } = other;
        self.gateway_classes.extend(gateway_classes);
        self.gateways.extend(gateways);
        self.listener_sets.extend(listener_sets);
        self.http_routes.extend(http_routes);
        self.grpc_routes.extend(grpc_routes);
        self.tls_routes.extend(tls_routes);
        self.tcp_routes.extend(tcp_routes);
        self.udp_routes.extend(udp_routes);
        self.reference_grants.extend(reference_grants);
        self.namespaces.extend(namespaces);
        self.services.extend(services);
        self.endpoint_slices.extend(endpoint_slices);
        self.secrets.extend(secrets);
        self.config_maps.extend(config_maps);
        self.backend_tls_policies.extend(backend_tls_policies);
    }

    /// Adds every resource of `other` (sharing, not copying, the resources), after those here.
    pub fn extend_from(&mut self, other: &Inputs) {
        let Inputs {
            gateway_classes,
            gateways,
            listener_sets,
            http_routes,
            grpc_routes,
            tls_routes,
            tcp_routes,
            udp_routes,
            reference_grants,
            namespaces,
            services,
            endpoint_slices,
            secrets,
            config_maps,
            backend_tls_policies,
        } = other;
        self.gateway_classes.extend_from_slice(gateway_classes);
        self.gateways.extend_from_slice(gateways);
        self.listener_sets.extend_from_slice(listener_sets);
        self.http_routes.extend_from_slice(http_routes);
        self.grpc_routes.extend_from_slice(grpc_routes);
        self.tls_routes.extend_from_slice(tls_routes);
        self.tcp_routes.extend_from_slice(tcp_routes);
        self.udp_routes.extend_from_slice(udp_routes);
        self.reference_grants.extend_from_slice(reference_grants);
        self.namespaces.extend_from_slice(namespaces);
        self.services.extend_from_slice(services);
        self.endpoint_slices.extend_from_slice(endpoint_slices);
        self.secrets.extend_from_slice(secrets);
        self.config_maps.extend_from_slice(config_maps);
        self.backend_tls_policies.extend_from_slice(backend_tls_policies);
    }

    /// How many resources there are, of every kind.
    pub fn len(&self) -> usize {
        self.gateway_classes.len()
            + self.gateways.len()
            + self.listener_sets.len()
            + self.http_routes.len()
            + self.grpc_routes.len()
            + self.tls_routes.len()
            + self.tcp_routes.len()
            + self.udp_routes.len()
            + self.reference_grants.len()
            + self.namespaces.len()
            + self.services.len()
            + self.endpoint_slices.len()
            + self.secrets.len()
            + self.config_maps.len()
            + self.backend_tls_policies.len()
    }

    /// True when there is no resource at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
