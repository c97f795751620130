//! HTTPRoute filters → IR [`Filter`]s. Rule-level and backendRef-level filters share this one
//! code path: backendRef filters (a distinct generated type of the same shape) are converted to
//! the rule-level type first.

mod headers;
mod redirect;

use gateway_api::experimental::httproutes::{
    HttpRouteRulesBackendRefsFilters, HttpRouteRulesFilters, HttpRouteRulesFiltersCors,
    HttpRouteRulesFiltersRequestMirror, HttpRouteRulesFiltersType,
};
use rauta_ir::{BackendTarget, Cors, Filter, Fraction, Mirror};

use super::RuleCtx;
use super::backends::BackendSpec;
use super::matches::Invalid;
use crate::value_decoder::{DecodeError, reshape};

/// The converted filters of one list, and whether an unsupported filter makes the list answer 500.
#[derive(Debug, Default)]
pub(crate) struct Filters {
    pub filters: Vec<Filter>,
    /// An ExtensionRef (which Rauta cannot run) is present: requests must get an error.
    pub unsupported: bool,
}

/// backendRef filters in the rule-level type (the same shape).
pub(crate) fn from_backend_ref(
    list: &[HttpRouteRulesBackendRefsFilters],
) -> Result<Vec<HttpRouteRulesFilters>, DecodeError> {
    reshape(list)
}

/// Converts a filter list at `field` (`spec.rules[0].filters`). Invalid values are reported
/// to `ctx` (the route is not accepted); unresolvable mirrors are reported and dropped.
pub(crate) fn convert(list: &[HttpRouteRulesFilters], field: &str, ctx: &mut RuleCtx<'_, '_>) -> Filters {
    check_combination(list, field, ctx);
    let mut out = Filters::default();
    for (i, f) in list.iter().enumerate() {
        let at = format!("{field}[{i}]");
        if let Some(message) = config_mismatch(f) {
            ctx.reject("UnsupportedValue", Invalid::new(&at, message));
            continue;
        }
        let converted = match &f.r#type {
            HttpRouteRulesFiltersType::RequestHeaderModifier => f.request_header_modifier.as_ref().map(|m| {
                let set = m.set.iter().flatten().map(|h| (h.name.as_str(), h.value.as_str()));
                let add = m.add.iter().flatten().map(|h| (h.name.as_str(), h.value.as_str()));
                headers::header_modifier(set, add, m.remove.as_deref(), &format!("{at}.requestHeaderModifier"))
                    .map(Filter::RequestHeaders)
            }),
            HttpRouteRulesFiltersType::ResponseHeaderModifier => f.response_header_modifier.as_ref().map(|m| {
                let set = m.set.iter().flatten().map(|h| (h.name.as_str(), h.value.as_str()));
                let add = m.add.iter().flatten().map(|h| (h.name.as_str(), h.value.as_str()));
                headers::header_modifier(set, add, m.remove.as_deref(), &format!("{at}.responseHeaderModifier"))
                    .map(Filter::ResponseHeaders)
            }),
            HttpRouteRulesFiltersType::RequestRedirect => f
                .request_redirect
                .as_ref()
                .map(|r| redirect::redirect(r, &format!("{at}.requestRedirect"), ctx).map(Filter::Redirect)),
            HttpRouteRulesFiltersType::UrlRewrite => f
                .url_rewrite
                .as_ref()
                .map(|r| redirect::rewrite(r, &format!("{at}.urlRewrite"), ctx).map(Filter::Rewrite)),
            HttpRouteRulesFiltersType::Cors => f
                .cors
                .as_ref()
                .map(|c| cors(c, &format!("{at}.cors")).map(Filter::Cors)),
            HttpRouteRulesFiltersType::RequestMirror => match f.request_mirror.as_ref() {
                Some(m) => match mirror(m, &format!("{at}.requestMirror"), ctx) {
                    Ok(Some(mirror)) => Some(Ok(Filter::Mirror(mirror))),
                    Ok(None) => None,
                    Err(e) => Some(Err(e)),
                },
                None => None,
            },
            HttpRouteRulesFiltersType::ExtensionRef => {
                if let Some(e) = &f.extension_ref {
                    let kind = if e.group.is_empty() {
                        e.kind.clone()
                    } else {
                        format!("{}.{}", e.kind, e.group)
                    };
                    let message = format!(
                        "ExtensionRef filter {kind} {:?} is not supported; requests it would process get a 500",
                        e.name
                    );
                    ctx.unresolved("InvalidKind", Invalid::new(format!("{at}.extensionRef"), message));
                }
                out.unsupported = true;
                None
            }
            HttpRouteRulesFiltersType::ExternalAuth => Some(Err(Invalid::new(
                format!("{at}.type"),
                "the ExternalAuth filter is not supported",
            ))),
        };
        match converted {
            Some(Ok(filter)) => out.filters.push(filter),
            Some(Err(invalid)) => ctx.reject("UnsupportedValue", invalid),
            None => {}
        }
    }
    out
}

/// The CRD's rules on combinations: at most one of each filter type except RequestMirror and
/// ExtensionRef, and never both RequestRedirect and URLRewrite.
fn check_combination(list: &[HttpRouteRulesFilters], field: &str, ctx: &mut RuleCtx<'_, '_>) {
    let count = |t: HttpRouteRulesFiltersType| list.iter().filter(|f| f.r#type == t).count();
    for (t, name) in [
        (
            HttpRouteRulesFiltersType::RequestHeaderModifier,
            "RequestHeaderModifier",
        ),
        (
            HttpRouteRulesFiltersType::ResponseHeaderModifier,
            "ResponseHeaderModifier",
        ),
        (HttpRouteRulesFiltersType::RequestRedirect, "RequestRedirect"),
        (HttpRouteRulesFiltersType::UrlRewrite, "URLRewrite"),
        (HttpRouteRulesFiltersType::Cors, "CORS"),
    ] {
        if count(t) > 1 {
            ctx.reject(
                "IncompatibleFilters",
                Invalid::new(field, format!("{name} may appear only once")),
            );
        }
    }
    if count(HttpRouteRulesFiltersType::RequestRedirect) > 0 && count(HttpRouteRulesFiltersType::UrlRewrite) > 0 {
        ctx.reject(
            "IncompatibleFilters",
            Invalid::new(field, "RequestRedirect and URLRewrite cannot be used together"),
        );
    }
}

/// The configuration field of a filter must be set for its type, and only that one.
fn config_mismatch(f: &HttpRouteRulesFilters) -> Option<String> {
    let present = [
        (
            "requestHeaderModifier",
            f.request_header_modifier.is_some(),
            HttpRouteRulesFiltersType::RequestHeaderModifier,
        ),
        (
            "responseHeaderModifier",
            f.response_header_modifier.is_some(),
            HttpRouteRulesFiltersType::ResponseHeaderModifier,
        ),
        (
            "requestRedirect",
            f.request_redirect.is_some(),
            HttpRouteRulesFiltersType::RequestRedirect,
        ),
        (
            "urlRewrite",
            f.url_rewrite.is_some(),
            HttpRouteRulesFiltersType::UrlRewrite,
        ),
        (
            "requestMirror",
            f.request_mirror.is_some(),
            HttpRouteRulesFiltersType::RequestMirror,
        ),
        ("cors", f.cors.is_some(), HttpRouteRulesFiltersType::Cors),
        (
            "extensionRef",
            f.extension_ref.is_some(),
            HttpRouteRulesFiltersType::ExtensionRef,
        ),
        (
            "externalAuth",
            f.external_auth.is_some(),
            HttpRouteRulesFiltersType::ExternalAuth,
        ),
    ];
    for (name, is_set, t) in present {
        if t == f.r#type && !is_set {
            return Some(format!("{name} must be set for this filter type"));
        }
        if t != f.r#type && is_set {
            return Some(format!("{name} must not be set for this filter type"));
        }
    }
    None
}

/// A mirror whose backend resolves; `Ok(None)` when it does not (reported, dropped).
fn mirror(
    m: &HttpRouteRulesFiltersRequestMirror,
    field: &str,
    ctx: &mut RuleCtx<'_, '_>,
) -> Result<Option<Mirror>, Invalid> {
    let fraction = match (m.percent, &m.fraction) {
        (Some(_), Some(_)) => return Err(Invalid::new(field, "percent and fraction cannot both be set")),
        (Some(p), None) => match u32::try_from(p) {
            Ok(p) if p <= 100 => Fraction {
                numerator: p,
                denominator: 100,
            },
            _ => {
                return Err(Invalid::new(
                    format!("{field}.percent"),
                    format!("percent {p} is not in 0-100"),
                ));
            }
        },
        (None, Some(f)) => {
            let denominator = f.denominator.unwrap_or(100);
            match (u32::try_from(f.numerator), u32::try_from(denominator)) {
                (Ok(n), Ok(d)) if d > 0 && n <= d => Fraction {
                    numerator: n,
                    denominator: d,
                },
                _ => {
                    return Err(Invalid::new(
                        format!("{field}.fraction"),
                        format!("fraction {}/{denominator} is not a fraction in [0, 1]", f.numerator),
                    ));
                }
            }
        }
        (None, None) => Fraction::ALL,
    };
    let b = &m.backend_ref;
    let spec = BackendSpec {
        group: b.group.as_deref(),
        kind: b.kind.as_deref(),
        name: &b.name,
        namespace: b.namespace.as_deref(),
        port: b.port,
    };
    match ctx.resolve(spec) {
        Ok(key) => Ok(Some(Mirror {
            target: BackendTarget::Cluster(key),
            fraction,
        })),
        Err(u) => {
            let message = format!("{}; the mirror is dropped", u.message);
            ctx.unresolved(u.reason, Invalid::new(format!("{field}.backendRef"), message));
            Ok(None)
        }
    }
}

/// The values `allowMethods` accepts.
const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "*",
];

/// CORS: `*` must stand alone in allowOrigins and allowMethods; origins are `scheme://host[:port]`
/// (the host may start with `*.`); methods are upper-case names; header names must be valid;
/// maxAge defaults to 5 seconds, as the API does.
fn cors(c: &HttpRouteRulesFiltersCors, field: &str) -> Result<Cors, Invalid> {
    let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
    let allow_origins = list(&c.allow_origins);
    let allow_methods = list(&c.allow_methods);
    let allow_headers = list(&c.allow_headers);
    let expose_headers = list(&c.expose_headers);
    for (name, values) in [("allowOrigins", &allow_origins), ("allowMethods", &allow_methods)] {
        if values.len() > 1 && values.iter().any(|v| v == "*") {
            return Err(Invalid::new(format!("{field}.{name}"), "\"*\" must be the only entry"));
        }
    }
    for (i, origin) in allow_origins.iter().enumerate() {
        let is_origin = origin.split_once("://").is_some_and(|(scheme, host)| {
            !scheme.is_empty()
                && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                && !host.is_empty()
        });
        if origin != "*" && !is_origin {
            return Err(Invalid::new(
                format!("{field}.allowOrigins[{i}]"),
                format!("{origin:?} is not an origin (scheme://host[:port])"),
            ));
        }
    }
    for (i, method) in allow_methods.iter().enumerate() {
        if !METHODS.contains(&method.as_str()) {
            return Err(Invalid::new(
                format!("{field}.allowMethods[{i}]"),
                format!("{method:?} is not an HTTP method name or \"*\""),
            ));
        }
    }
    for (name, values) in [("allowHeaders", &allow_headers), ("exposeHeaders", &expose_headers)] {
        for (i, h) in values.iter().enumerate() {
            if h != "*" {
                headers::header_name(h, &format!("{field}.{name}[{i}]"))?;
            }
        }
    }
    let max_age = match c.max_age {
        None => Some(5),
        Some(s) => match u32::try_from(s) {
            Ok(s) if s > 0 => Some(s),
            _ => {
                return Err(Invalid::new(
                    format!("{field}.maxAge"),
                    format!("maxAge {s} must be at least 1"),
                ));
            }
        },
    };
    Ok(Cors {
        allow_origins,
        allow_methods,
        allow_headers,
        expose_headers,
        max_age,
        allow_credentials: c.allow_credentials.unwrap_or(false),
    })
}
