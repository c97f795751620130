//! RequestRedirect and URLRewrite: precise hostnames and path modifiers.

use gateway_api::experimental::httproutes::{
    HttpRouteRulesFiltersRequestRedirect, HttpRouteRulesFiltersRequestRedirectPathType,
    HttpRouteRulesFiltersRequestRedirectScheme, HttpRouteRulesFiltersUrlRewrite,
    HttpRouteRulesFiltersUrlRewritePathType,
};
use rauta_ir::route::HostnameMatch;
use rauta_ir::{PathModifier, Redirect, Rewrite};

use crate::route::RuleCtx;
use crate::route::matches::Invalid;

/// A hostname without wildcard (`PreciseHostname`), lower-cased.
fn precise_hostname(value: &str, field: &str) -> Result<String, Invalid> {
    match HostnameMatch::parse(value) {
        Ok(HostnameMatch::Exact(h)) => Ok(h),
        _ => Err(Invalid::new(
            field,
            format!("{value:?} is not a valid hostname (no wildcard, no IP)"),
        )),
    }
}

/// ReplaceFullPath needs `replaceFullPath`; ReplacePrefixMatch needs `replacePrefixMatch` and a
/// rule with exactly one match, of type PathPrefix.
fn path_modifier(
    full: bool,
    full_path: Option<&String>,
    prefix: Option<&String>,
    field: &str,
    ctx: &RuleCtx<'_, '_>,
) -> Result<PathModifier, Invalid> {
    match (full, full_path, prefix) {
        (true, Some(p), None) => Ok(PathModifier::ReplaceFullPath(p.clone())),
        (false, None, Some(p)) if ctx.single_prefix_match => Ok(PathModifier::ReplacePrefixMatch(p.clone())),
        (false, None, Some(_)) => Err(Invalid::new(
            field,
            "ReplacePrefixMatch needs a rule with exactly one match, of type PathPrefix",
        )),
        (true, _, _) => Err(Invalid::new(
            field,
            "type ReplaceFullPath needs replaceFullPath, and only it",
        )),
        (false, _, _) => Err(Invalid::new(
            field,
            "type ReplacePrefixMatch needs replacePrefixMatch, and only it",
        )),
    }
}

pub(super) fn redirect(
    r: &HttpRouteRulesFiltersRequestRedirect,
    field: &str,
    ctx: &RuleCtx<'_, '_>,
) -> Result<Redirect, Invalid> {
    let scheme = r.scheme.as_ref().map(|s| match s {
        HttpRouteRulesFiltersRequestRedirectScheme::Http => "http".to_owned(),
        HttpRouteRulesFiltersRequestRedirectScheme::Https => "https".to_owned(),
    });
    let hostname = r
        .hostname
        .as_deref()
        .map(|h| precise_hostname(h, &format!("{field}.hostname")))
        .transpose()?;
    let path = r
        .path
        .as_ref()
        .map(|p| {
            let full = p.r#type == HttpRouteRulesFiltersRequestRedirectPathType::ReplaceFullPath;
            path_modifier(
                full,
                p.replace_full_path.as_ref(),
                p.replace_prefix_match.as_ref(),
                &format!("{field}.path"),
                ctx,
            )
        })
        .transpose()?;
    let port = r
        .port
        .map(|p| {
            u16::try_from(p)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| Invalid::new(format!("{field}.port"), format!("port {p} is not in 1-65535")))
        })
        .transpose()?;
    let status = match r.status_code.unwrap_or(302) {
        code @ (301 | 302 | 303 | 307 | 308) => u16::try_from(code).unwrap_or(302),
        code => {
            return Err(Invalid::new(
                format!("{field}.statusCode"),
                format!("status code {code} is not one of 301, 302, 303, 307, 308"),
            ));
        }
    };
    Ok(Redirect {
        scheme,
        hostname,
        path,
        port,
        status,
    })
}

pub(super) fn rewrite(
    r: &HttpRouteRulesFiltersUrlRewrite,
    field: &str,
    ctx: &RuleCtx<'_, '_>,
) -> Result<Rewrite, Invalid> {
    let hostname = r
        .hostname
        .as_deref()
        .map(|h| precise_hostname(h, &format!("{field}.hostname")))
        .transpose()?;
    let path = r
        .path
        .as_ref()
        .map(|p| {
            let full = p.r#type == HttpRouteRulesFiltersUrlRewritePathType::ReplaceFullPath;
            path_modifier(
                full,
                p.replace_full_path.as_ref(),
                p.replace_prefix_match.as_ref(),
                &format!("{field}.path"),
                ctx,
            )
        })
        .transpose()?;
    Ok(Rewrite { hostname, path })
}
