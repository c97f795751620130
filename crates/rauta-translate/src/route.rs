//! HTTPRoutes and GRPCRoutes: compiled once (matches, filters, backends), then attached to
//! listeners.

pub(crate) mod attach;
mod backends;
mod filters;
pub(crate) mod grpc;
mod matches;
mod rules;
pub(crate) mod stream;

use std::sync::Arc;

use gateway_api::experimental::httproutes::{HttpRoute, HttpRouteParentRefs, HttpRouteRules};
use k8s_openapi::jiff::Timestamp;
use rauta_ir::route::{HostnameMatch, Precedence, RouteMatch};
use rauta_ir::{ClusterKey, RouteKind, RouteRef, Rule};

use crate::clusters::ClusterCatalog;
use crate::index::{Entry, Index, Resource};
use crate::inputs::Source;
use crate::problem::{Problem, Subject};
use crate::status::Cond;
use backends::{BackendSpec, Unresolved};
use matches::Invalid;

/// One `matches[]` entry of a compiled route, ready to be sorted into a virtual host.
#[derive(Debug)]
pub(crate) struct CompiledEntry {
    /// Shared with the snapshot's entries (one per virtual host that lists it) and the data
    /// plane's.
    pub route_match: Arc<RouteMatch>,
    /// Where the match ranks (HTTPRoute and GRPCRoute matches rank by different rules).
    pub precedence: Precedence,
    pub rule: Arc<Rule>,
    pub rule_index: usize,
    pub match_index: usize,
}

/// Who a route is, whatever its kind. Owned, so that a compiled route can outlive the inputs it
/// was compiled from (the [`crate::Translator`] keeps it for the next translation).
#[derive(Clone, Debug)]
pub(crate) struct RouteMeta {
    pub kind: RouteKind,
    pub source: Option<Source>,
    pub namespace: String,
    pub name: String,
    pub generation: Option<i64>,
    /// Whether `creationTimestamp` is absent, and its value (see [`Entry::age_key`]).
    created: (bool, Option<Timestamp>),
}

impl RouteMeta {
    fn of<T: Resource>(kind: RouteKind, entry: &Entry<'_, T>) -> Self {
        let (missing, created, _, _) = entry.age_key();
        Self {
            kind,
            source: entry.source.cloned(),
            namespace: entry.namespace.to_owned(),
            name: entry.name.to_owned(),
            generation: entry.generation(),
            created: (missing, created),
        }
    }

    /// The subject of problems about this route.
    pub fn subject(&self) -> Subject<'_> {
        Subject {
            source: self.source.as_ref(),
            kind: self.kind.as_str(),
            namespace: Some(&self.namespace),
            name: &self.name,
        }
    }

    /// Oldest first, then `namespace/name` (see [`Entry::age_key`]).
    pub fn age(&self) -> (bool, Option<Timestamp>, &str, &str) {
        (self.created.0, self.created.1, &self.namespace, &self.name)
    }
}

/// A route after validation: what it serves and the route-wide conditions.
#[derive(Debug)]
pub(crate) struct CompiledRoute {
    pub meta: RouteMeta,
    /// `spec.parentRefs` (a GRPCRoute's have the same shape as an HTTPRoute's), until the route
    /// is attached (the translator then drops them: a kept route is not attached again).
    pub parent_refs: Vec<HttpRouteParentRefs>,
    /// Valid hostnames of `spec.hostnames` (empty: the route has none).
    pub hostnames: Vec<HostnameMatch>,
    /// Every match of every rule, in rule order.
    pub entries: Vec<CompiledEntry>,
    /// `Accepted=False` for every parent when the route has invalid values.
    pub rejection: Option<Cond>,
    /// `ResolvedRefs`, the same for every parent.
    pub resolved_refs: Cond,
    /// Problems found in the route itself (reported only when one of our Gateways is a parent).
    pub problems: Vec<Problem>,
}

/// What is wrong inside a route, by kind of consequence.
#[derive(Debug, Default)]
pub(crate) struct Issues {
    /// Invalid values: the route is not accepted (reason, where).
    rejected: Vec<(&'static str, Invalid)>,
    /// Unresolvable references: `ResolvedRefs=False` (reason, where).
    unresolved: Vec<(&'static str, Invalid)>,
    /// Settings that are ignored.
    ignored: Vec<Invalid>,
}

/// What converting one rule needs.
pub(crate) struct RuleCtx<'c, 'a> {
    pub index: &'c Index<'a>,
    pub route_kind: RouteKind,
    pub catalog: &'c mut ClusterCatalog,
    pub route_ns: &'c str,
    /// The rule has exactly one match, of type PathPrefix (ReplacePrefixMatch needs it).
    pub single_prefix_match: bool,
    pub issues: &'c mut Issues,
}

impl RuleCtx<'_, '_> {
    /// An invalid value: the route is not accepted.
    pub fn reject(&mut self, reason: &'static str, invalid: Invalid) {
        self.issues.rejected.push((reason, invalid));
    }

    /// An unresolvable reference: `ResolvedRefs=False`.
    pub fn unresolved(&mut self, reason: &'static str, invalid: Invalid) {
        self.issues.unresolved.push((reason, invalid));
    }

    /// A setting that is ignored (a warning).
    pub fn ignore(&mut self, invalid: Invalid) {
        self.issues.ignored.push(invalid);
    }

    /// Resolves a backend reference made by this route.
    pub fn resolve(&mut self, spec: BackendSpec<'_>) -> Result<ClusterKey, Unresolved> {
        backends::resolve(self.index, self.catalog, self.route_kind, self.route_ns, spec)
    }
}

/// Compiles an HTTPRoute: hostnames, then each rule.
pub(crate) fn compile(entry: Entry<'_, HttpRoute>, index: &Index<'_>, catalog: &mut ClusterCatalog) -> CompiledRoute {
    let spec = &entry.resource.spec;
    let meta = RouteMeta::of(RouteKind::Http, &entry);
    let mut issues = Issues::default();
    let hostnames = hostnames(spec.hostnames.as_deref().unwrap_or_default(), &mut issues);
    let route_ref = meta.route_ref();
    // The CRD defaults an absent `rules` to one rule matching PathPrefix "/" (no backends: 500).
    let default_rules = [HttpRouteRules::default()];
    let rules = spec.rules.as_deref().unwrap_or(&default_rules);
    let mut entries = Vec::new();
    for (rule_index, rule) in rules.iter().enumerate() {
        let mut ctx = RuleCtx {
            index,
            route_kind: RouteKind::Http,
            catalog: &mut *catalog,
            route_ns: entry.namespace,
            single_prefix_match: false,
            issues: &mut issues,
        };
        let (rule, matches) = rules::compile(rule, rule_index, &route_ref, &mut ctx);
        for (match_index, route_match) in matches.into_iter().enumerate() {
            entries.push(CompiledEntry {
                precedence: route_match.precedence(),
                route_match: Arc::new(route_match),
                rule: Arc::clone(&rule),
                rule_index,
                match_index,
            });
        }
    }
    let parent_refs = spec.parent_refs.clone().unwrap_or_default();
    finish(meta, parent_refs, hostnames, entries, &issues)
}

impl RouteMeta {
    /// How the IR names the route.
    pub fn route_ref(&self) -> RouteRef {
        RouteRef {
            kind: self.kind,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

/// `spec.hostnames`, deduplicated; invalid ones reject the route.
fn hostnames(list: &[String], issues: &mut Issues) -> Vec<HostnameMatch> {
    let mut hostnames = Vec::new();
    for (i, h) in list.iter().enumerate() {
        match HostnameMatch::parse(h) {
            Ok(h) if !hostnames.contains(&h) => hostnames.push(h),
            Ok(_) => {}
            Err(e) => issues.rejected.push((
                "UnsupportedValue",
                Invalid::new(format!("spec.hostnames[{i}]"), e.to_string()),
            )),
        }
    }
    hostnames
}

/// The compiled route with its problems and route-wide conditions.
fn finish(
    meta: RouteMeta,
    parent_refs: Vec<HttpRouteParentRefs>,
    hostnames: Vec<HostnameMatch>,
    entries: Vec<CompiledEntry>,
    issues: &Issues,
) -> CompiledRoute {
    let subject = meta.subject();
    let mut problems = Vec::new();
    for (reason, i) in issues.rejected.iter().chain(&issues.unresolved) {
        problems.push(subject.error(&i.field, format!("{reason}: {}", i.message)));
    }
    for i in &issues.ignored {
        problems.push(subject.warning(&i.field, &i.message));
    }
    let rejection = summary(&issues.rejected).map(|(reason, message)| Cond::no("Accepted", reason, message));
    let resolved_refs = match summary(&issues.unresolved) {
        Some((reason, message)) => Cond::no("ResolvedRefs", reason, message),
        None => Cond::yes("ResolvedRefs", "ResolvedRefs", "all references resolved"),
    };
    CompiledRoute {
        meta,
        parent_refs,
        hostnames,
        entries,
        rejection,
        resolved_refs,
        problems,
    }
}

/// The first reason, and every message with its field.
fn summary(list: &[(&'static str, Invalid)]) -> Option<(&'static str, String)> {
    let (reason, _) = list.first()?;
    let messages: Vec<String> = list
        .iter()
        .map(|(_, i)| format!("{}: {}", i.field, i.message))
        .collect();
    Some((reason, messages.join("; ")))
}
