//! TLSRoutes, TCPRoutes and UDPRoutes: no matches, only hostnames (TLSRoute, matched against the
//! SNI) and weighted backendRefs. Each rule becomes one match-all entry; on a listener the entry of
//! the oldest route comes first, so the oldest route owns a TCP or UDP listener, as the spec says.

use std::sync::Arc;

use gateway_api::experimental::httproutes::{HttpRouteParentRefs, HttpRouteRules};
use gateway_api::experimental::tcproutes::TcpRoute;
use gateway_api::experimental::tlsroutes::TlsRoute;
use gateway_api::experimental::udproutes::UdpRoute;
use rauta_ir::RouteKind;
use rauta_ir::route::{Precedence, RouteMatch};
use serde::Serialize;

use super::matches::Invalid;
use super::{CompiledEntry, CompiledRoute, Issues, RouteMeta, RuleCtx, finish, hostnames, rules};
use crate::clusters::ClusterCatalog;
use crate::index::{Entry, Index, Resource};
use crate::value_decoder::{DecodeError, reshape};

/// Compiles a TLSRoute.
pub(crate) fn compile_tls(
    entry: Entry<'_, TlsRoute>,
    index: &Index<'_>,
    catalog: &mut ClusterCatalog,
) -> CompiledRoute {
    let spec = &entry.resource.spec;
    let rules: Vec<&dyn ErasedRule> = spec.rules.iter().map(|r| r as &dyn ErasedRule).collect();
    compile(
        RouteKind::Tls,
        entry,
        &spec.hostnames,
        spec.parent_refs.as_deref(),
        &rules,
        index,
        catalog,
    )
}

/// Compiles a TCPRoute.
pub(crate) fn compile_tcp(
    entry: Entry<'_, TcpRoute>,
    index: &Index<'_>,
    catalog: &mut ClusterCatalog,
) -> CompiledRoute {
    let spec = &entry.resource.spec;
    let rules: Vec<&dyn ErasedRule> = spec.rules.iter().map(|r| r as &dyn ErasedRule).collect();
    compile(
        RouteKind::Tcp,
        entry,
        &[],
        spec.parent_refs.as_deref(),
        &rules,
        index,
        catalog,
    )
}

/// Compiles a UDPRoute (its backends are the Services' UDP ports).
pub(crate) fn compile_udp(
    entry: Entry<'_, UdpRoute>,
    index: &Index<'_>,
    catalog: &mut ClusterCatalog,
) -> CompiledRoute {
    let spec = &entry.resource.spec;
    let rules: Vec<&dyn ErasedRule> = spec.rules.iter().map(|r| r as &dyn ErasedRule).collect();
    compile(
        RouteKind::Udp,
        entry,
        &[],
        spec.parent_refs.as_deref(),
        &rules,
        index,
        catalog,
    )
}

/// A rule of any of these kinds, read as an HTTPRoute rule (its `name` and `backendRefs` have the
/// same shape).
trait ErasedRule {
    fn as_http_rule(&self) -> Result<HttpRouteRules, DecodeError>;
}

impl<T: Serialize> ErasedRule for T {
    fn as_http_rule(&self) -> Result<HttpRouteRules, DecodeError> {
        reshape(self)
    }
}

fn compile<R: Resource, P: Serialize>(
    kind: RouteKind,
    entry: Entry<'_, R>,
    hostname_list: &[String],
    parent_refs: Option<&[P]>,
    rule_list: &[&dyn ErasedRule],
    index: &Index<'_>,
    catalog: &mut ClusterCatalog,
) -> CompiledRoute {
    let meta = RouteMeta::of(kind, &entry);
    let mut issues = Issues::default();
    let hostnames = hostnames(hostname_list, &mut issues);
    let route_ref = meta.route_ref();
    let mut entries = Vec::new();
    for (rule_index, rule) in rule_list.iter().enumerate() {
        let http_rule = match rule.as_http_rule() {
            Ok(r) => r,
            Err(e) => {
                let message = format!("cannot read the rule's backendRefs: {e}");
                let field = format!("spec.rules[{rule_index}]");
                issues.rejected.push(("UnsupportedValue", Invalid::new(field, message)));
                continue;
            }
        };
        let mut ctx = RuleCtx {
            index,
            route_kind: kind,
            catalog: &mut *catalog,
            route_ns: entry.namespace,
            single_prefix_match: false,
            issues: &mut issues,
        };
        let (rule, _) = rules::compile(&http_rule, rule_index, &route_ref, &mut ctx);
        entries.push(CompiledEntry {
            route_match: Arc::new(RouteMatch::default()),
            precedence: Precedence::grpc(0, 0, 0),
            rule: Arc::clone(&rule),
            rule_index,
            match_index: 0,
        });
    }
    let parent_refs: Vec<HttpRouteParentRefs> = parent_refs.and_then(|refs| reshape(refs).ok()).unwrap_or_default();
    finish(meta, parent_refs, hostnames, entries, &issues)
}
