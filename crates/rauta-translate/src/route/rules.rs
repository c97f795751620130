//! One rule → an IR [`Rule`] (filters, weighted backends, timeouts, retry) and its matches.

use std::sync::Arc;
use std::time::Duration;

use gateway_api::experimental::httproutes::{
    HttpRouteRules, HttpRouteRulesBackendRefs, HttpRouteRulesRetry, HttpRouteRulesTimeouts,
};
use rauta_ir::route::{PathMatch, RouteMatch};
use rauta_ir::{BackendRef, BackendTarget, InvalidBackend, Retry, RouteRef, Rule, Timeouts};

use super::backends::BackendSpec;
use super::matches::{self, Invalid};
use super::{RuleCtx, filters};

/// The largest backendRef weight the API allows.
const MAX_WEIGHT: u32 = 1_000_000;

/// Retries when `retry` is present without `attempts` (the spec leaves it to implementations).
const DEFAULT_RETRY_ATTEMPTS: u32 = 1;

/// Compiles rule `index`. A rule without matches has one match: PathPrefix `/`. An unsupported
/// filter (ExtensionRef) leaves the rule with no filters and no backends, so it answers 500.
pub(crate) fn compile(
    rule: &HttpRouteRules,
    index: usize,
    route: &RouteRef,
    ctx: &mut RuleCtx<'_, '_>,
) -> (Arc<Rule>, Vec<RouteMatch>) {
    let field = format!("spec.rules[{index}]");
    let mut route_matches = Vec::new();
    match rule.matches.as_deref() {
        None | Some([]) => route_matches.push(RouteMatch::default()),
        Some(list) => {
            for (i, m) in list.iter().enumerate() {
                match matches::convert(m, &format!("{field}.matches[{i}]")) {
                    Ok(m) => route_matches.push(m),
                    Err(invalid) => ctx.reject("UnsupportedValue", invalid),
                }
            }
        }
    }
    ctx.single_prefix_match = route_matches.len() == 1
        && rule.matches.as_ref().is_none_or(|m| m.len() == 1)
        && matches!(route_matches[0].path, PathMatch::Prefix(_));
    let mut converted = filters::convert(
        rule.filters.as_deref().unwrap_or_default(),
        &format!("{field}.filters"),
        ctx,
    );
    let mut backends = Vec::new();
    for (i, b) in rule.backend_refs.iter().flatten().enumerate() {
        if let Some(b) = backend(b, &format!("{field}.backendRefs[{i}]"), ctx) {
            backends.push(b);
        }
    }
    if converted.unsupported {
        converted.filters.clear();
        backends.clear();
    }
    if rule.session_persistence.is_some() {
        ctx.ignore(Invalid::new(
            format!("{field}.sessionPersistence"),
            "session persistence is not supported; ignored",
        ));
    }
    let timeouts = rule
        .timeouts
        .as_ref()
        .map(|t| timeouts(t, &format!("{field}.timeouts"), ctx))
        .unwrap_or_default();
    let retry = rule
        .retry
        .as_ref()
        .and_then(|r| retry(r, &format!("{field}.retry"), ctx));
    let rule = Rule {
        route: route.clone(),
        index,
        name: rule.name.clone(),
        filters: converted.filters,
        backends,
        timeouts,
        retry,
    };
    (Arc::new(rule), route_matches)
}

/// One weighted backend; `None` when its weight is invalid (reported, after resolving the
/// reference so that `ResolvedRefs` still reflects it).
fn backend(b: &HttpRouteRulesBackendRefs, field: &str, ctx: &mut RuleCtx<'_, '_>) -> Option<BackendRef> {
    let spec = BackendSpec {
        group: b.group.as_deref(),
        kind: b.kind.as_deref(),
        name: &b.name,
        namespace: b.namespace.as_deref(),
        port: b.port,
    };
    let mut target = match ctx.resolve(spec) {
        Ok(key) => BackendTarget::Cluster(key),
        Err(u) => {
            ctx.unresolved(u.reason, Invalid::new(field, u.message));
            BackendTarget::Invalid(u.invalid)
        }
    };
    let weight = match u32::try_from(b.weight.unwrap_or(1)) {
        Ok(w) if w <= MAX_WEIGHT => w,
        _ => {
            let message = format!("weight {} is not in 0-{MAX_WEIGHT}", b.weight.unwrap_or_default());
            ctx.reject("UnsupportedValue", Invalid::new(format!("{field}.weight"), message));
            return None;
        }
    };
    let mut converted = filters::Filters::default();
    if let Some(list) = b.filters.as_deref() {
        match filters::from_backend_ref(list) {
            Ok(list) => converted = filters::convert(&list, &format!("{field}.filters"), ctx),
            Err(e) => ctx.reject(
                "UnsupportedValue",
                Invalid::new(format!("{field}.filters"), e.to_string()),
            ),
        }
    }
    if converted.unsupported {
        converted.filters.clear();
        target = BackendTarget::Invalid(InvalidBackend::InvalidKind);
    }
    Some(BackendRef {
        weight,
        target,
        filters: converted.filters,
    })
}

/// A Gateway API duration; `0s` means no timeout.
fn duration(value: &str, field: &str) -> Result<Option<Duration>, Invalid> {
    let parsed: gateway_api::Duration = value
        .parse()
        .map_err(|e| Invalid::new(field, format!("{value:?} is not a Gateway API duration: {e}")))?;
    let millis = u64::try_from(parsed.as_millis()).unwrap_or(u64::MAX);
    Ok((millis > 0).then(|| Duration::from_millis(millis)))
}

/// `request` and `backendRequest`; `backendRequest` may not exceed a set `request`.
fn timeouts(t: &HttpRouteRulesTimeouts, field: &str, ctx: &mut RuleCtx<'_, '_>) -> Timeouts {
    let mut parse = |value: Option<&String>, name: &str| {
        value.and_then(|v| {
            duration(v, &format!("{field}.{name}")).unwrap_or_else(|e| {
                ctx.reject("UnsupportedValue", e);
                None
            })
        })
    };
    let request = parse(t.request.as_ref(), "request");
    let backend_request = parse(t.backend_request.as_ref(), "backendRequest");
    if let (Some(r), Some(b)) = (request, backend_request)
        && b > r
    {
        let message = "backendRequest must not be longer than request";
        ctx.reject(
            "UnsupportedValue",
            Invalid::new(format!("{field}.backendRequest"), message),
        );
    }
    Timeouts {
        request,
        backend_request,
    }
}

/// Experimental `retry`: attempts (retries after the first try), codes (400-599), backoff.
fn retry(r: &HttpRouteRulesRetry, field: &str, ctx: &mut RuleCtx<'_, '_>) -> Option<Retry> {
    let attempts = match r.attempts.map(u32::try_from) {
        None => DEFAULT_RETRY_ATTEMPTS,
        Some(Ok(a)) => a,
        Some(Err(_)) => {
            let message = format!("attempts {} is not a count", r.attempts.unwrap_or_default());
            ctx.reject("UnsupportedValue", Invalid::new(format!("{field}.attempts"), message));
            return None;
        }
    };
    let mut codes = Vec::new();
    for (i, code) in r.codes.iter().flatten().enumerate() {
        match u16::try_from(*code) {
            Ok(c) if (400..=599).contains(&c) => codes.push(c),
            _ => {
                let message = format!("status code {code} is not in 400-599");
                ctx.reject("UnsupportedValue", Invalid::new(format!("{field}.codes[{i}]"), message));
                return None;
            }
        }
    }
    let backoff = match r
        .backoff
        .as_deref()
        .map(|b| duration(b, &format!("{field}.backoff")))
        .transpose()
    {
        Ok(b) => b.flatten(),
        Err(e) => {
            ctx.reject("UnsupportedValue", e);
            return None;
        }
    };
    Some(Retry {
        attempts,
        codes,
        backoff,
    })
}
