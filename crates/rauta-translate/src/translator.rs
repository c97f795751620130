//! The translation pipeline, and what it keeps between translations.

use std::sync::Arc;

use crate::clusters::ClusterCatalog;
use crate::index::{Entry, Index};
use crate::inputs::Inputs;
use crate::route::attach::{self, Parents};
use crate::route::{self, CompiledRoute};
use crate::route_cache::{RouteCache, TranslatedRoute};
use crate::status::ResourceStatus;
use crate::{Translation, backend_tls, clusters, gateway, gateway_class, ir_build};

/// Translates one version of the inputs after another, reusing what each route translated to
/// while the route and what routes depend on are unchanged (see `route_cache.rs`).
///
/// Each translation gives exactly what [`crate::translate`] gives for the same inputs: only the
/// work is saved. With thousands of routes, adding or changing one costs a small fraction of a
/// full translation.
#[derive(Debug, Default)]
pub struct Translator {
    routes: RouteCache,
}

impl Translator {
    /// A translator that has translated nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many routes the last translation reused, and how many it translated.
    pub fn routes_reused_and_translated(&self) -> (usize, usize) {
        (self.routes.reused, self.routes.translated)
    }

    /// Translates the inputs into a snapshot, statuses and problems.
    pub fn translate(&mut self, inputs: &Inputs) -> Translation {
        let mut problems = Vec::new();
        let mut class_statuses = Vec::new();
        let index = Index::build(inputs, &mut problems);
        let classes = gateway_class::reconcile(&index, &mut class_statuses, &mut problems);
        let mut gateways = gateway::evaluate(&index, &classes, &mut problems);
        gateway::across_gateways(&mut gateways, &mut problems);
        for gw in &gateways {
            gw.report(&mut problems);
        }
        let mut catalog = clusters::ClusterCatalog::default();
        let mut routes = {
            let parents = Parents::new(&index, &gateways);
            let mut each = Each {
                cache: &mut self.routes,
                parents: &parents,
                catalog: &mut catalog,
                routes: Vec::new(),
            };
            each.cache.begin(inputs);
            // Kind by kind, as Service ports are registered (the first registration of a key wins).
            for e in &index.routes {
                each.route(*e, |ports| route::compile(*e, &index, ports));
            }
            for e in &index.grpc_routes {
                each.route(*e, |ports| route::grpc::compile(*e, &index, ports));
            }
            for e in &index.tls_routes {
                each.route(*e, |ports| route::stream::compile_tls(*e, &index, ports));
            }
            for e in &index.tcp_routes {
                each.route(*e, |ports| route::stream::compile_tcp(*e, &index, ports));
            }
            for e in &index.udp_routes {
                each.route(*e, |ports| route::stream::compile_udp(*e, &index, ports));
            }
            each.cache.finish();
            each.routes
        };
        // Oldest first across kinds: route ties go to the oldest route. Each kind's list is in that
        // order already, so with one kind there is nothing to sort.
        let kinds = [
            index.routes.len(),
            index.grpc_routes.len(),
            index.tls_routes.len(),
            index.tcp_routes.len(),
            index.udp_routes.len(),
        ];
        if kinds.iter().filter(|n| **n > 0).count() > 1 {
            routes.sort_by(|a, b| a.compiled.meta.age().cmp(&b.compiled.meta.age()));
        }
        let attachments = attach::attach(
            routes.iter().map(|r| (&r.compiled.entries[..], &r.attachment)),
            &mut gateways,
        );
        let mut route_statuses = Vec::new();
        for r in &routes {
            if let Some(status) = &r.attachment.status {
                route_statuses.push(Arc::clone(status));
            }
            problems.extend(r.attachment.problems.iter().cloned());
        }
        let gateway_statuses = gateways.iter().map(|g| Arc::new(gateway::status(g))).collect();
        let set_statuses = gateways
            .iter()
            .flat_map(|gw| (0..gw.sets.len()).filter_map(|k| gateway::listener_set_status(gw, k)))
            .map(Arc::new)
            .collect();
        let (policy_statuses, policy_problems) = backend_tls::statuses(&index, &gateways, &attachments, &catalog);
        problems.extend(policy_problems);
        let mut statuses: Vec<Arc<ResourceStatus>> = class_statuses.into_iter().map(Arc::new).collect();
        let policy_statuses = policy_statuses.into_iter().map(Arc::new).collect();
        for mut list in [gateway_statuses, set_statuses, route_statuses, policy_statuses] {
            list.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
            statuses.extend(list);
        }
        let snapshot = ir_build::build(&index, &gateways, &attachments, &catalog);
        Translation {
            snapshot,
            statuses,
            problems,
        }
    }
}

/// Gathers the routes of one translation.
struct Each<'t, 'g, 'a> {
    cache: &'t mut RouteCache,
    parents: &'t Parents<'g, 'a>,
    catalog: &'t mut ClusterCatalog,
    routes: Vec<Arc<TranslatedRoute>>,
}

impl Each<'_, '_, '_> {
    /// Adds the route `entry`, kept from the last translation or compiled by `compile` (which
    /// registers the Service ports it resolves in the catalog it is given) and attached.
    fn route<T: Send + Sync + 'static>(
        &mut self,
        entry: Entry<'_, T>,
        compile: impl FnOnce(&mut ClusterCatalog) -> CompiledRoute,
    ) {
        let parents = self.parents;
        let translated = self.cache.get_or_translate(entry, || {
            let mut ports = ClusterCatalog::default();
            let mut compiled = compile(&mut ports);
            let attachment = attach::evaluate(&compiled, parents);
            // A kept route is not attached again: its parentRefs need not be kept with it.
            compiled.parent_refs = Vec::new();
            (compiled, ports, attachment)
        });
        self.catalog.merge(&translated.ports);
        self.routes.push(translated);
    }
}
