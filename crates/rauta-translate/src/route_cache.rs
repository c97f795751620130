//! What each route translated to, kept from one translation to the next.
//!
//! A route's translation (compiling it, the Service ports it resolves, and judging its parentRefs
//! against the Gateways) depends on the route itself and on the other kinds of input: Gateways,
//! ListenerSets, GatewayClasses, Namespaces, Services, ReferenceGrants, BackendTLSPolicies,
//! ConfigMaps and Secrets. It does not depend on other routes, nor on EndpointSlices (which only fill clusters).
//! So while those inputs are the very same resources as last time (the same `Arc`s: providers
//! share unchanged resources between loads), a route that is the same `Arc` with the same source
//! translates to what it did last time. Any change to those inputs forgets every route: the next
//! translation is a full one. What comes out is, by construction, what a full translation gives;
//! `tests/incremental.rs` checks it over a sequence of edits.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use rauta_ir::ClusterKey;

use crate::clusters::{ClusterCatalog, ServicePort};
use crate::index::Entry;
use crate::inputs::{Inputs, Sourced};
use crate::route::CompiledRoute;
use crate::route::attach::RouteAttachment;

/// One route, translated.
#[derive(Debug)]
pub(crate) struct TranslatedRoute {
    pub compiled: CompiledRoute,
    /// The Service ports its backendRefs resolved to.
    pub ports: Vec<(ClusterKey, ServicePort)>,
    pub attachment: RouteAttachment,
    /// The resource translated. Held so that its address, the cache key, cannot be reused by
    /// another resource while this entry lives.
    _resource: Arc<dyn Any + Send + Sync>,
}

impl TranslatedRoute {
    /// Keeps `resource`, the route these results are for.
    pub fn new(
        compiled: CompiledRoute,
        ports: Vec<(ClusterKey, ServicePort)>,
        attachment: RouteAttachment,
        resource: Arc<dyn Any + Send + Sync>,
    ) -> Self {
        Self {
            compiled,
            ports,
            attachment,
            _resource: resource,
        }
    }
}

/// Translated routes by the address of their resource.
#[derive(Debug, Default)]
pub(crate) struct RouteCache {
    /// What routes depend on, as of the last translation: every input but routes and
    /// EndpointSlices.
    context: Inputs,
    /// Entry, with the number of the last translation that used it.
    routes: HashMap<usize, (u64, Arc<TranslatedRoute>)>,
    /// Number of the current translation.
    round: u64,
    /// Routes of the current translation kept from the previous one, and translated anew.
    pub reused: usize,
    pub translated: usize,
}

impl RouteCache {
    /// Starts a translation of `inputs`, forgetting every route if what routes depend on changed.
    pub fn begin(&mut self, inputs: &Inputs) {
        self.round += 1;
        self.reused = 0;
        self.translated = 0;
        if !same_context(&self.context, inputs) {
            self.routes.clear();
            self.context = context_of(inputs);
        }
    }

    /// The translation of the route `entry`: the kept one, or `translate()`'s, then kept.
    pub fn get_or_translate<T: Send + Sync + 'static>(
        &mut self,
        entry: Entry<'_, T>,
        translate: impl FnOnce() -> (CompiledRoute, ClusterCatalog, RouteAttachment),
    ) -> Arc<TranslatedRoute> {
        let key = Arc::as_ptr(entry.resource).cast::<()>() as usize;
        if let Some((round, kept)) = self.routes.get_mut(&key)
            && kept.compiled.meta.source.as_ref() == entry.source
        {
            *round = self.round;
            self.reused += 1;
            return Arc::clone(kept);
        }
        self.translated += 1;
        let (compiled, ports, attachment) = translate();
        let resource: Arc<dyn Any + Send + Sync> = entry.resource.clone();
        let translated = Arc::new(TranslatedRoute::new(compiled, ports.into_ports(), attachment, resource));
        self.routes.insert(key, (self.round, Arc::clone(&translated)));
        translated
    }

    /// Ends the translation: routes it did not use are forgotten.
    pub fn finish(&mut self) {
        let round = self.round;
        self.routes.retain(|_, (used, _)| *used == round);
    }
}

/// The inputs routes depend on.
fn context_of(inputs: &Inputs) -> Inputs {
    Inputs {
        gateway_classes: inputs.gateway_classes.clone(),
        gateways: inputs.gateways.clone(),
        listener_sets: inputs.listener_sets.clone(),
        reference_grants: inputs.reference_grants.clone(),
        namespaces: inputs.namespaces.clone(),
        services: inputs.services.clone(),
        secrets: inputs.secrets.clone(),
        config_maps: inputs.config_maps.clone(),
        backend_tls_policies: inputs.backend_tls_policies.clone(),
        ..Inputs::default()
    }
}

/// Whether `inputs` has the very resources (same `Arc`s, same sources, same order) `context` has.
fn same_context(context: &Inputs, inputs: &Inputs) -> bool {
    same(&context.gateway_classes, &inputs.gateway_classes)
        && same(&context.gateways, &inputs.gateways)
        && same(&context.listener_sets, &inputs.listener_sets)
        && same(&context.reference_grants, &inputs.reference_grants)
        && same(&context.namespaces, &inputs.namespaces)
        && same(&context.services, &inputs.services)
        && same(&context.secrets, &inputs.secrets)
        && same(&context.config_maps, &inputs.config_maps)
        && same(&context.backend_tls_policies, &inputs.backend_tls_policies)
}

fn same<T>(a: &[Sourced<T>], b: &[Sourced<T>]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(a, b)| Arc::ptr_eq(&a.resource, &b.resource) && a.source == b.source)
}
