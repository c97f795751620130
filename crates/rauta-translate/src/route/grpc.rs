//! GRPCRoutes: matches on `/service/method` paths and metadata, the rest compiled like HTTPRoutes.
//!
//! A gRPC call is an HTTP/2 POST to `/package.Service/Method`, so a method match becomes a path
//! match: service and method exact → Exact `/S/M`; service only → PathPrefix `/S`; method only or
//! regular expressions → an anchored expression over both segments. Filters and backendRefs have
//! the same shape as an HTTPRoute rule's and go through the same conversion; backends are always
//! spoken to over HTTP/2. Matches rank by the GRPCRoute rules ([`Precedence::grpc`]).

use std::sync::Arc;

use gateway_api::experimental::grpcroutes::{
    GrpcRoute, GrpcRouteRules, GrpcRouteRulesMatches, GrpcRouteRulesMatchesHeadersType, GrpcRouteRulesMatchesMethodType,
};
use gateway_api::experimental::httproutes::{HttpRouteParentRefs, HttpRouteRules};
use http::HeaderName;
use rauta_ir::RouteKind;
use rauta_ir::route::{HeaderMatch, PathMatch, Pattern, Precedence, RouteMatch, ValueMatch};

use super::matches::Invalid;
use super::{CompiledEntry, CompiledRoute, Issues, RouteMeta, RuleCtx, finish, hostnames, rules};
use crate::clusters::ClusterCatalog;
use crate::index::{Entry, Index};
use crate::value_decoder::{DecodeError, decode, reshape, to_value};

/// Any one path segment.
const SEGMENT: &str = "[^/]+";

/// Compiles a GRPCRoute.
pub(crate) fn compile(entry: Entry<'_, GrpcRoute>, index: &Index<'_>, catalog: &mut ClusterCatalog) -> CompiledRoute {
    let spec = &entry.resource.spec;
    let meta = RouteMeta::of(RouteKind::Grpc, &entry);
    let mut issues = Issues::default();
    let hostnames = hostnames(spec.hostnames.as_deref().unwrap_or_default(), &mut issues);
    let route_ref = meta.route_ref();
    // The CRD defaults absent rules to nothing: a route without rules serves nothing.
    let mut entries = Vec::new();
    for (rule_index, rule) in spec.rules.iter().flatten().enumerate() {
        let field = format!("spec.rules[{rule_index}]");
        let mut matches = Vec::new();
        match rule.matches.as_deref() {
            None | Some([]) => matches.push((RouteMatch::default(), Precedence::grpc(0, 0, 0))),
            Some(list) => {
                for (i, m) in list.iter().enumerate() {
                    match convert(m, &format!("{field}.matches[{i}]")) {
                        Ok(m) => matches.push(m),
                        Err(invalid) => issues.rejected.push(("UnsupportedValue", invalid)),
                    }
                }
            }
        }
        let http_rule = match as_http_rule(rule) {
            Ok(r) => r,
            Err(e) => {
                let message = format!("cannot read the rule's filters and backendRefs: {e}");
                issues
                    .rejected
                    .push(("UnsupportedValue", Invalid::new(&field, message)));
                continue;
            }
        };
        let mut ctx = RuleCtx {
            index,
            route_kind: RouteKind::Grpc,
            catalog: &mut *catalog,
            route_ns: entry.namespace,
            single_prefix_match: false,
            issues: &mut issues,
        };
        let (rule, _) = rules::compile(&http_rule, rule_index, &route_ref, &mut ctx);
        for (match_index, (route_match, precedence)) in matches.into_iter().enumerate() {
            entries.push(CompiledEntry {
                route_match: Arc::new(route_match),
                precedence,
                rule: Arc::clone(&rule),
                rule_index,
                match_index,
            });
        }
    }
    let parent_refs: Vec<HttpRouteParentRefs> = spec
        .parent_refs
        .as_deref()
        .map(|refs| reshape(refs).unwrap_or_default())
        .unwrap_or_default();
    finish(meta, parent_refs, hostnames, entries, &issues)
}

/// The rule without its matches, as an HTTPRoute rule: name, filters, backendRefs and session
/// persistence have the same shape in both kinds.
fn as_http_rule(rule: &GrpcRouteRules) -> Result<HttpRouteRules, DecodeError> {
    let mut value = to_value(rule)?;
    if let Some(map) = value.as_mapping_mut() {
        map.remove("matches");
    }
    decode(value, &mut Vec::new())
}

/// One `matches[]` entry → a route match on the request path and headers, and its precedence.
fn convert(m: &GrpcRouteRulesMatches, field: &str) -> Result<(RouteMatch, Precedence), Invalid> {
    let (path, service_chars, method_chars) = match &m.method {
        None => (PathMatch::any(), 0, 0),
        Some(method) => {
            let at = format!("{field}.method");
            let service = method.service.as_deref().filter(|s| !s.is_empty());
            let name = method.method.as_deref().filter(|s| !s.is_empty());
            if service.is_none() && name.is_none() {
                return Err(Invalid::new(at, "one of service or method must be set"));
            }
            let chars = (service.map_or(0, str::len), name.map_or(0, str::len));
            let path = match method
                .r#type
                .as_ref()
                .unwrap_or(&GrpcRouteRulesMatchesMethodType::Exact)
            {
                GrpcRouteRulesMatchesMethodType::Exact => exact_path(service, name, &at)?,
                GrpcRouteRulesMatchesMethodType::RegularExpression => {
                    // Each side is its own group: `a|b` must not swallow the other segment.
                    let source = format!("/(?:{})/(?:{})", service.unwrap_or(SEGMENT), name.unwrap_or(SEGMENT));
                    PathMatch::Regex(pattern(&source, &at)?)
                }
            };
            (path, chars.0, chars.1)
        }
    };
    let mut headers = Vec::new();
    for (i, h) in m.headers.iter().flatten().enumerate() {
        let at = format!("{field}.headers[{i}]");
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| Invalid::new(format!("{at}.name"), format!("{:?} is not a valid header name", h.name)))?;
        let value = match h.r#type.as_ref().unwrap_or(&GrpcRouteRulesMatchesHeadersType::Exact) {
            GrpcRouteRulesMatchesHeadersType::Exact => ValueMatch::Exact(h.value.clone()),
            GrpcRouteRulesMatchesHeadersType::RegularExpression => {
                ValueMatch::Regex(pattern(&h.value, &format!("{at}.value"))?)
            }
        };
        headers.push(HeaderMatch { name, value });
    }
    let route_match = RouteMatch::new(path, None, headers, Vec::new());
    let precedence = Precedence::grpc(service_chars, method_chars, route_match.headers.len());
    Ok((route_match, precedence))
}

/// Exact service and/or method, checked against the CRD's patterns.
fn exact_path(service: Option<&str>, method: Option<&str>, field: &str) -> Result<PathMatch, Invalid> {
    if let Some(s) = service
        && !valid_service(s)
    {
        return Err(Invalid::new(
            format!("{field}.service"),
            format!("{s:?} is not a gRPC service name"),
        ));
    }
    if let Some(m) = method
        && !valid_identifier(m)
    {
        return Err(Invalid::new(
            format!("{field}.method"),
            format!("{m:?} is not a gRPC method name"),
        ));
    }
    Ok(match (service, method) {
        (Some(s), Some(m)) => PathMatch::Exact(format!("/{s}/{m}")),
        (Some(s), None) => PathMatch::prefix(&format!("/{s}")),
        (None, Some(m)) => PathMatch::Regex(pattern(&format!("/{SEGMENT}/{}", regex_escape(m)), field)?),
        (None, None) => PathMatch::any(),
    })
}

/// `[A-Za-z_][A-Za-z_0-9]*`.
fn valid_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Dot-separated identifiers, optionally with a leading dot.
fn valid_service(s: &str) -> bool {
    s.strip_prefix('.').unwrap_or(s).split('.').all(valid_identifier)
}

/// gRPC names hold only letters, digits, `_` and `.`; the dot is the one to escape.
fn regex_escape(s: &str) -> String {
    s.replace('.', "\\.")
}

fn pattern(source: &str, field: &str) -> Result<Pattern, Invalid> {
    Pattern::new(source).map_err(|_| Invalid::new(field, format!("invalid regular expression {source:?}")))
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, Method};
    use rauta_ir::route::RequestParts;

    use super::*;

    fn m(json: serde_json::Value) -> (RouteMatch, Precedence) {
        convert(&serde_json::from_value(json).unwrap(), "m").unwrap()
    }

    fn hits(m: &RouteMatch, path: &str) -> bool {
        let (method, headers) = (Method::POST, HeaderMap::new());
        m.matches(&RequestParts::new(&method, path, None, &headers))
    }

    const SVC: &str = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho";

    #[test]
    fn method_matches_become_path_matches() {
        let (both, _) = m(serde_json::json!({"method": {"service": SVC, "method": "Echo"}}));
        assert!(hits(&both, &format!("/{SVC}/Echo")));
        assert!(!hits(&both, &format!("/{SVC}/EchoTwo")));
        let (service, _) = m(serde_json::json!({"method": {"service": SVC}}));
        assert!(hits(&service, &format!("/{SVC}/EchoThree")));
        assert!(!hits(&service, &format!("/{SVC}x/Echo")));
        let (method, _) = m(serde_json::json!({"method": {"method": "Echo"}}));
        assert!(hits(&method, "/any.Service/Echo"));
        assert!(!hits(&method, "/any.Service/EchoTwo"));
        let (re, _) =
            m(serde_json::json!({"method": {"type": "RegularExpression", "service": ".*Echo", "method": "Echo.*"}}));
        assert!(hits(&re, &format!("/{SVC}/EchoTwo")));
        assert!(!hits(&re, "/other.Service/Echo"));
        let (alt, _) =
            m(serde_json::json!({"method": {"type": "RegularExpression", "service": "a\\.B|c\\.D", "method": "X|Y"}}));
        assert!(hits(&alt, "/c.D/X"));
        assert!(!hits(&alt, "Y"));
        assert!(!hits(&alt, "/a.B/Z"));
    }

    #[test]
    fn precedence_counts_service_then_method_then_headers() {
        let service = m(serde_json::json!({"method": {"service": SVC}})).1;
        let method = m(serde_json::json!({"method": {"method": "Echo"}})).1;
        let both = m(serde_json::json!({"method": {"service": SVC, "method": "Echo"}})).1;
        let headers = m(serde_json::json!({"headers": [{"name": "version", "value": "one"}]})).1;
        let mut all = [headers, method, service, both];
        all.sort();
        assert_eq!(all, [both, service, method, headers]);
    }

    #[test]
    fn invalid_names_and_expressions_name_their_field() {
        let bad = |json: serde_json::Value| convert(&serde_json::from_value(json).unwrap(), "m").unwrap_err().field;
        assert_eq!(
            bad(serde_json::json!({"method": {"service": "a b"}})),
            "m.method.service"
        );
        assert_eq!(
            bad(serde_json::json!({"method": {"method": "Echo/x"}})),
            "m.method.method"
        );
        assert_eq!(bad(serde_json::json!({"method": {}})), "m.method");
        assert_eq!(
            bad(serde_json::json!({"method": {"type": "RegularExpression", "method": "("}})),
            "m.method"
        );
        assert_eq!(
            bad(serde_json::json!({"headers": [{"name": "a b", "value": "v"}]})),
            "m.headers[0].name"
        );
    }
}
