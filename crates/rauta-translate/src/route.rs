//! HTTPRoutes: compiled once (matches, filters, backends), then attached to listeners.

pub(crate) mod attach;
mod backends;
mod filters;
mod matches;
mod rules;

use std::sync::Arc;

use gateway_api::experimental::httproutes::{HttpRoute, HttpRouteRules};
use rauta_ir::route::{HostnameMatch, RouteMatch};
use rauta_ir::{ClusterKey, RouteKind, RouteRef, Rule};

use crate::clusters::ClusterCatalog;
use crate::index::{Entry, Index};
use crate::problem::Problem;
use crate::status::Cond;
use backends::{BackendSpec, Unresolved};
use matches::Invalid;

/// One `matches[]` entry of a compiled route, ready to be sorted into a virtual host.
#[derive(Debug)]
pub(crate) struct CompiledEntry {
    pub route_match: RouteMatch,
    pub rule: Arc<Rule>,
    pub rule_index: usize,
    pub match_index: usize,
}

/// An HTTPRoute after validation: what it serves and the route-wide conditions.
#[derive(Debug)]
pub(crate) struct CompiledRoute<'a> {
    pub entry: Entry<'a, HttpRoute>,
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
        backends::resolve(self.index, self.catalog, self.route_ns, spec)
    }
}

/// Compiles a route: hostnames, then each rule.
pub(crate) fn compile<'a>(
    entry: Entry<'a, HttpRoute>,
    index: &Index<'a>,
    catalog: &mut ClusterCatalog,
) -> CompiledRoute<'a> {
    let spec = &entry.resource.spec;
    let mut issues = Issues::default();
    let mut hostnames = Vec::new();
    for (i, h) in spec.hostnames.iter().flatten().enumerate() {
        match HostnameMatch::parse(h) {
            Ok(h) if !hostnames.contains(&h) => hostnames.push(h),
            Ok(_) => {}
            Err(e) => issues.rejected.push((
                "UnsupportedValue",
                Invalid::new(format!("spec.hostnames[{i}]"), e.to_string()),
            )),
        }
    }
    let route_ref = RouteRef {
        kind: RouteKind::Http,
        namespace: entry.namespace.to_owned(),
        name: entry.name.to_owned(),
    };
    // The CRD defaults an absent `rules` to one rule matching PathPrefix "/" (no backends: 500).
    let default_rules = [HttpRouteRules::default()];
    let rules = spec.rules.as_deref().unwrap_or(&default_rules);
    let mut entries = Vec::new();
    for (rule_index, rule) in rules.iter().enumerate() {
        let mut ctx = RuleCtx {
            index,
            catalog: &mut *catalog,
            route_ns: entry.namespace,
            single_prefix_match: false,
            issues: &mut issues,
        };
        let (rule, matches) = rules::compile(rule, rule_index, &route_ref, &mut ctx);
        for (match_index, route_match) in matches.into_iter().enumerate() {
            entries.push(CompiledEntry {
                route_match,
                rule: Arc::clone(&rule),
                rule_index,
                match_index,
            });
        }
    }
    let subject = entry.subject();
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
        entry,
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
