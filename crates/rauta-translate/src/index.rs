//! Lookup tables over [`Inputs`]: resources by name, in a stable order, duplicates reported once.

use std::collections::{BTreeMap, btree_map};
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
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;

use crate::inputs::{Inputs, Source, Sourced};
use crate::problem::{Problem, Subject};

/// The namespace of a namespaced resource that does not name one.
pub(crate) const DEFAULT_NAMESPACE: &str = "default";

/// The label that links an EndpointSlice to its Service.
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Read access to the metadata of every input kind.
pub(crate) trait Resource {
    const KIND: &'static str;
    const NAMESPACED: bool;
    fn meta(&self) -> &ObjectMeta;
}

macro_rules! resource {
    ($t:ty, $kind:literal, $namespaced:literal) => {
        impl Resource for $t {
            const KIND: &'static str = $kind;
            const NAMESPACED: bool = $namespaced;
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
        }
    };
}

resource!(GatewayClass, "GatewayClass", false);
resource!(Gateway, "Gateway", true);
resource!(ListenerSet, "ListenerSet", true);
resource!(HttpRoute, "HTTPRoute", true);
resource!(GrpcRoute, "GRPCRoute", true);
resource!(TlsRoute, "TLSRoute", true);
resource!(TcpRoute, "TCPRoute", true);
resource!(UdpRoute, "UDPRoute", true);
resource!(ReferenceGrant, "ReferenceGrant", true);
resource!(Namespace, "Namespace", false);
resource!(Service, "Service", true);
resource!(EndpointSlice, "EndpointSlice", true);
resource!(Secret, "Secret", true);
resource!(ConfigMap, "ConfigMap", true);
resource!(BackendTlsPolicy, "BackendTLSPolicy", true);

/// A resource with its identity resolved (namespace defaulted, name present).
#[derive(Debug)]
pub(crate) struct Entry<'a, T> {
    pub source: Option<&'a Source>,
    /// The shared resource: its address identifies this version of it (see `Translator`).
    pub resource: &'a Arc<T>,
    /// Namespace; empty for cluster-scoped kinds.
    pub namespace: &'a str,
    pub name: &'a str,
}

impl<T> Clone for Entry<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Entry<'_, T> {}

impl<'a, T: Resource> Entry<'a, T> {
    /// The subject of problems about this resource.
    pub fn subject(&self) -> Subject<'a> {
        Subject {
            source: self.source,
            kind: T::KIND,
            namespace: T::NAMESPACED.then_some(self.namespace),
            name: self.name,
        }
    }

    /// `metadata.generation`, stamped on conditions as `observedGeneration`.
    pub fn generation(&self) -> Option<i64> {
        self.resource.meta().generation
    }

    /// Precedence order between resources of one kind: oldest `creationTimestamp` first (a
    /// resource without one counts as newer than any that has one), then `namespace/name`.
    pub fn age_key(&self) -> (bool, Option<Timestamp>, &'a str, &'a str) {
        let created = self.resource.meta().creation_timestamp.as_ref().map(|t| t.0);
        (created.is_none(), created, self.namespace, self.name)
    }

    /// `namespace/name`, or `name` for cluster-scoped kinds.
    pub fn display_name(&self) -> String {
        if T::NAMESPACED {
            format!("{}/{}", self.namespace, self.name)
        } else {
            self.name.to_owned()
        }
    }
}

/// Every input, deduplicated and ordered.
#[derive(Debug)]
pub(crate) struct Index<'a> {
    /// GatewayClasses by name.
    pub classes: BTreeMap<&'a str, Entry<'a, GatewayClass>>,
    /// Gateways, oldest first.
    pub gateways: Vec<Entry<'a, Gateway>>,
    /// ListenerSets, oldest first (the order their listeners rank in after the Gateway's own).
    pub listener_sets: Vec<Entry<'a, ListenerSet>>,
    /// HTTPRoutes, oldest first (the spec's tie-break between routes).
    pub routes: Vec<Entry<'a, HttpRoute>>,
    /// GRPCRoutes, oldest first.
    pub grpc_routes: Vec<Entry<'a, GrpcRoute>>,
    /// TLSRoutes, oldest first.
    pub tls_routes: Vec<Entry<'a, TlsRoute>>,
    /// TCPRoutes, oldest first.
    pub tcp_routes: Vec<Entry<'a, TcpRoute>>,
    /// UDPRoutes, oldest first.
    pub udp_routes: Vec<Entry<'a, UdpRoute>>,
    /// ReferenceGrants by namespace.
    pub grants: BTreeMap<&'a str, Vec<Entry<'a, ReferenceGrant>>>,
    /// Namespace labels by name.
    pub namespaces: BTreeMap<&'a str, Entry<'a, Namespace>>,
    /// Services by `(namespace, name)`.
    pub services: BTreeMap<(&'a str, &'a str), Entry<'a, Service>>,
    /// EndpointSlices by `(namespace, service name)`, in name order.
    pub slices: BTreeMap<(&'a str, &'a str), Vec<Entry<'a, EndpointSlice>>>,
    /// Secrets by `(namespace, name)`.
    pub secrets: BTreeMap<(&'a str, &'a str), Entry<'a, Secret>>,
    /// ConfigMaps by `(namespace, name)`.
    pub config_maps: BTreeMap<(&'a str, &'a str), Entry<'a, ConfigMap>>,
    /// BackendTLSPolicies, oldest first (the spec's tie-break between conflicting policies).
    pub backend_tls_policies: Vec<Entry<'a, BackendTlsPolicy>>,
}

impl<'a> Index<'a> {
    /// Indexes `inputs`; a second resource with the same kind and name is reported and ignored.
    pub fn build(inputs: &'a Inputs, problems: &mut Vec<Problem>) -> Self {
        let classes = unique(&inputs.gateway_classes, problems)
            .into_iter()
            .map(|((_, n), e)| (n, e))
            .collect();
        let gateways = oldest_first(&inputs.gateways, problems);
        let listener_sets = oldest_first(&inputs.listener_sets, problems);
        let routes = oldest_first(&inputs.http_routes, problems);
        let grpc_routes = oldest_first(&inputs.grpc_routes, problems);
        let tls_routes = oldest_first(&inputs.tls_routes, problems);
        let tcp_routes = oldest_first(&inputs.tcp_routes, problems);
        let udp_routes = oldest_first(&inputs.udp_routes, problems);
        let mut grants: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for ((ns, _), e) in unique(&inputs.reference_grants, problems) {
            grants.entry(ns).or_default().push(e);
        }
        let namespaces = unique(&inputs.namespaces, problems)
            .into_iter()
            .map(|((_, n), e)| (n, e))
            .collect();
        let services = unique(&inputs.services, problems);
        let mut slices: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for ((ns, _), e) in unique(&inputs.endpoint_slices, problems) {
            let labels = e.resource.metadata.labels.as_ref();
            if let Some(service) = labels.and_then(|l| l.get(SERVICE_NAME_LABEL)) {
                slices.entry((ns, service.as_str())).or_default().push(e);
            }
        }
        let secrets = unique(&inputs.secrets, problems);
        let config_maps = unique(&inputs.config_maps, problems);
        let backend_tls_policies = oldest_first(&inputs.backend_tls_policies, problems);
        Self {
            classes,
            gateways,
            listener_sets,
            routes,
            grpc_routes,
            tls_routes,
            tcp_routes,
            udp_routes,
            grants,
            namespaces,
            services,
            slices,
            secrets,
            config_maps,
            backend_tls_policies,
        }
    }

    /// The labels of a namespace. Kubernetes gives every namespace the immutable label
    /// `kubernetes.io/metadata.name: <name>`, so it is present even for namespaces not in the inputs.
    pub fn namespace_labels(&self, namespace: &str) -> BTreeMap<String, String> {
        let mut labels = self
            .namespaces
            .get(namespace)
            .and_then(|n| n.resource.metadata.labels.clone())
            .unwrap_or_default();
        labels.insert("kubernetes.io/metadata.name".to_owned(), namespace.to_owned());
        labels
    }
}

/// Resources of one kind by `(namespace, name)`; the first of duplicates wins.
fn unique<'a, T: Resource>(
    items: &'a [Sourced<T>],
    problems: &mut Vec<Problem>,
) -> BTreeMap<(&'a str, &'a str), Entry<'a, T>> {
    let mut out: BTreeMap<(&str, &str), Entry<'a, T>> = BTreeMap::new();
    for item in items {
        let Some(entry) = entry_of(item, problems) else {
            continue;
        };
        match out.entry((entry.namespace, entry.name)) {
            btree_map::Entry::Occupied(first) => duplicate(first.get(), &entry, problems),
            btree_map::Entry::Vacant(slot) => {
                slot.insert(entry);
            }
        }
    }
    out
}

/// Resources of one kind, oldest first (see [`Entry::age_key`]); the first of duplicates wins.
///
/// Sorted rather than hashed: providers list thousands of routes mostly in name order already,
/// and a stable sort of such a list only checks it.
fn oldest_first<'a, T: Resource>(items: &'a [Sourced<T>], problems: &mut Vec<Problem>) -> Vec<Entry<'a, T>> {
    let mut found = Vec::new();
    let mut out: Vec<(usize, Entry<'a, T>)> = Vec::with_capacity(items.len());
    for (position, item) in items.iter().enumerate() {
        let mut unnamed = Vec::new();
        match entry_of(item, &mut unnamed) {
            Some(entry) => out.push((position, entry)),
            None => found.extend(unnamed.into_iter().map(|p| (position, p))),
        }
    }
    // Stable: a name's duplicates end up next to each other, in input order.
    out.sort_by(|(_, a), (_, b)| (a.namespace, a.name).cmp(&(b.namespace, b.name)));
    out.dedup_by(|(position, later), (_, first)| {
        let same = (later.namespace, later.name) == (first.namespace, first.name);
        if same {
            let mut copy = Vec::new();
            duplicate(first, later, &mut copy);
            found.extend(copy.into_iter().map(|p| (*position, p)));
        }
        same
    });
    // Problems in input order, as they would be found one resource at a time.
    found.sort_by_key(|(position, _)| *position);
    problems.extend(found.into_iter().map(|(_, p)| p));
    out.sort_by_key(|(_, e)| e.age_key());
    out.into_iter().map(|(_, e)| e).collect()
}

/// A resource with its identity resolved; an unnamed one is reported.
fn entry_of<'a, T: Resource>(item: &'a Sourced<T>, problems: &mut Vec<Problem>) -> Option<Entry<'a, T>> {
    let meta = item.resource.meta();
    let namespace = if T::NAMESPACED {
        meta.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE)
    } else {
        ""
    };
    let Some(name) = meta.name.as_deref() else {
        let subject = Subject {
            source: item.source.as_ref(),
            kind: T::KIND,
            namespace: None,
            name: "(unnamed)",
        };
        problems.push(subject.error("metadata.name", "a name is required; resource ignored"));
        return None;
    };
    Some(Entry {
        source: item.source.as_ref(),
        resource: &item.resource,
        namespace,
        name,
    })
}

/// Reports `entry`, a second resource named like `first`.
fn duplicate<T: Resource>(first: &Entry<'_, T>, entry: &Entry<'_, T>, problems: &mut Vec<Problem>) {
    let at = first
        .source
        .map(|s| format!(" (first defined in {s})"))
        .unwrap_or_default();
    problems.push(
        entry
            .subject()
            .error("", format!("defined twice{at}; this copy is ignored")),
    );
}
