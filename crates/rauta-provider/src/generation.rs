//! `metadata.generation` for resources read from files, which carry none.
//!
//! Kubernetes bumps an object's generation when its spec changes and conditions echo it as
//! `observedGeneration`. Files have no API server, so the provider plays that part: a resource
//! keeps its generation while its spec is unchanged and gets the next one when it changes. A
//! generation written in the file wins.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use rauta_translate::{Inputs, Sourced};
use serde::Serialize;

/// Remembers each resource's spec digest and generation across loads.
#[derive(Debug, Default)]
pub struct GenerationTracker {
    seen: HashMap<(&'static str, String, String), (u64, i64)>,
}

trait Object: Serialize + Clone {
    fn meta(&self) -> &ObjectMeta;
    fn meta_mut(&mut self) -> &mut ObjectMeta;
}

macro_rules! object {
    ($($t:ty),*) => {$(
        impl Object for $t {
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    )*};
}

object!(
    gateway_api::experimental::gatewayclasses::GatewayClass,
    gateway_api::experimental::gateways::Gateway,
    gateway_api::listenersets::ListenerSet,
    gateway_api::experimental::httproutes::HttpRoute,
    gateway_api::experimental::grpcroutes::GrpcRoute,
    gateway_api::experimental::tlsroutes::TlsRoute,
    gateway_api::experimental::tcproutes::TcpRoute,
    gateway_api::experimental::udproutes::UdpRoute,
    gateway_api::experimental::referencegrants::ReferenceGrant,
    k8s_openapi::api::core::v1::Namespace,
    k8s_openapi::api::core::v1::Service,
    k8s_openapi::api::core::v1::Secret,
    k8s_openapi::api::core::v1::ConfigMap,
    gateway_api::backendtlspolicies::BackendTlsPolicy,
    k8s_openapi::api::discovery::v1::EndpointSlice
);

impl GenerationTracker {
    /// Assigns generations to every resource of `inputs` that has none.
    pub fn assign(&mut self, inputs: &mut Inputs) {
        self.kind("GatewayClass", &mut inputs.gateway_classes);
        self.kind("Gateway", &mut inputs.gateways);
        self.kind("ListenerSet", &mut inputs.listener_sets);
        self.kind("HTTPRoute", &mut inputs.http_routes);
        self.kind("GRPCRoute", &mut inputs.grpc_routes);
        self.kind("TLSRoute", &mut inputs.tls_routes);
        self.kind("TCPRoute", &mut inputs.tcp_routes);
        self.kind("UDPRoute", &mut inputs.udp_routes);
        self.kind("ReferenceGrant", &mut inputs.reference_grants);
        self.kind("Namespace", &mut inputs.namespaces);
        self.kind("Service", &mut inputs.services);
        self.kind("EndpointSlice", &mut inputs.endpoint_slices);
        self.kind("Secret", &mut inputs.secrets);
        self.kind("ConfigMap", &mut inputs.config_maps);
        self.kind("BackendTLSPolicy", &mut inputs.backend_tls_policies);
    }

    fn kind<T: Object>(&mut self, kind: &'static str, items: &mut [Sourced<T>]) {
        for item in items {
            if item.resource.meta().generation.is_some() {
                continue;
            }
            // Not shared yet when it was just parsed, so this does not copy.
            let resource = Arc::make_mut(&mut item.resource);
            let digest = spec_digest(&*resource);
            let meta = resource.meta_mut();
            let key = (
                kind,
                meta.namespace.clone().unwrap_or_default(),
                meta.name.clone().unwrap_or_default(),
            );
            let generation = match self.seen.get(&key) {
                Some(&(old, generation)) if old == digest => generation,
                Some(&(_, generation)) => generation + 1,
                None => 1,
            };
            self.seen.insert(key, (digest, generation));
            meta.generation = Some(generation);
        }
    }
}

/// A digest of everything but `metadata` and `status`: what Kubernetes counts as the spec.
fn spec_digest<T: Serialize>(resource: &T) -> u64 {
    let mut hasher = DefaultHasher::new();
    if let Ok(serde_json::Value::Object(mut map)) = serde_json::to_value(resource) {
        map.remove("metadata");
        map.remove("status");
        map.remove("apiVersion");
        serde_json::Value::Object(map).to_string().hash(&mut hasher);
    }
    hasher.finish()
}
