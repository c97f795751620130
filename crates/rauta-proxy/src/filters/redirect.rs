//! RequestRedirect: the `Location` a redirect answers with.

use std::fmt::Write;

use http::{StatusCode, Uri};
use rauta_ir::Redirect;
use rauta_route::PathMatch;

use super::rewrite::modified_path;

/// What a redirect keeps from the request.
pub(crate) struct RedirectRequest<'a> {
    /// The scheme the request arrived with.
    pub(crate) scheme: &'a str,
    /// The request host without port.
    pub(crate) host: &'a str,
    /// The port of the listener that accepted the request.
    pub(crate) listener_port: u16,
    /// The request URI (path and query are used).
    pub(crate) uri: &'a Uri,
    /// The match entry that selected the rule (for ReplacePrefixMatch).
    pub(crate) matched: &'a PathMatch,
}

/// The redirect status; anything but 301/302/303/307/308 falls back to 302.
pub(crate) fn status(redirect: &Redirect) -> StatusCode {
    match redirect.status {
        301 | 302 | 303 | 307 | 308 => StatusCode::from_u16(redirect.status).unwrap_or(StatusCode::FOUND),
        _ => StatusCode::FOUND,
    }
}

/// Builds the absolute `Location`.
///
/// Port: the configured one; else the new scheme's well-known port when a scheme is configured;
/// else the listener's port. It is omitted for http:80 and https:443. The query is kept.
pub(crate) fn location(redirect: &Redirect, req: &RedirectRequest<'_>) -> String {
    let scheme = redirect.scheme.as_deref().unwrap_or(req.scheme);
    let host = redirect.hostname.as_deref().unwrap_or(req.host);
    let port = match (redirect.port, redirect.scheme.as_deref()) {
        (Some(port), _) => port,
        (None, Some(configured)) => well_known_port(configured),
        (None, None) => req.listener_port,
    };
    let path = match &redirect.path {
        Some(modifier) => modified_path(req.uri.path(), modifier, req.matched),
        None => req.uri.path().into(),
    };
    let mut out = String::with_capacity(scheme.len() + host.len() + path.len() + 16);
    out.push_str(scheme);
    out.push_str("://");
    out.push_str(host);
    if port != well_known_port(scheme) {
        let _ = write!(out, ":{port}");
    }
    out.push_str(&path);
    if let Some(q) = req.uri.query() {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn well_known_port(scheme: &str) -> u16 {
    if scheme.eq_ignore_ascii_case("https") { 443 } else { 80 }
}

#[cfg(test)]
mod tests {
    use rauta_ir::PathModifier;

    use super::*;

    fn redirect(scheme: Option<&str>, port: Option<u16>) -> Redirect {
        Redirect {
            scheme: scheme.map(Into::into),
            hostname: Some("example.org".into()),
            path: None,
            port,
            status: 302,
        }
    }

    fn loc(r: &Redirect, listener_port: u16, uri: &str, matched: &PathMatch) -> String {
        let uri: Uri = uri.parse().unwrap();
        location(
            r,
            &RedirectRequest {
                scheme: "http",
                host: "gw.example",
                listener_port,
                uri: &uri,
                matched,
            },
        )
    }

    /// The HTTPRouteRedirectPortAndScheme table for plain HTTP listeners on 80 and 8080.
    #[test]
    fn port_and_scheme_derivation() {
        let any = PathMatch::any();
        let cases = [
            (80, None, None, "http://example.org/p"),
            (80, None, Some(80), "http://example.org/p"),
            (80, None, Some(8080), "http://example.org:8080/p"),
            (80, Some("https"), None, "https://example.org/p"),
            (80, Some("https"), Some(443), "https://example.org/p"),
            (80, Some("https"), Some(8443), "https://example.org:8443/p"),
            (8080, None, None, "http://example.org:8080/p"),
            (8080, None, Some(80), "http://example.org/p"),
            (8080, Some("https"), None, "https://example.org/p"),
            (8080, Some("http"), None, "http://example.org/p"),
        ];
        for (listener, scheme, port, want) in cases {
            assert_eq!(
                loc(&redirect(scheme, port), listener, "/p", &any),
                want,
                "{listener} {scheme:?} {port:?}"
            );
        }
    }

    #[test]
    fn path_modifiers_and_query() {
        let mut r = redirect(None, None);
        r.path = Some(PathModifier::ReplacePrefixMatch("/replacement-prefix".into()));
        let prefix = PathMatch::prefix("/original-prefix");
        assert_eq!(
            loc(&r, 80, "/original-prefix/lemon?x=1", &prefix),
            "http://example.org/replacement-prefix/lemon?x=1"
        );
        assert_eq!(
            loc(&r, 80, "/original-prefix", &prefix),
            "http://example.org/replacement-prefix"
        );
        r.path = Some(PathModifier::ReplaceFullPath("/full-path-replacement".into()));
        assert_eq!(
            loc(&r, 80, "/full/path/original", &PathMatch::prefix("/full")),
            "http://example.org/full-path-replacement"
        );
    }

    #[test]
    fn keeps_request_host_when_unset() {
        let r = Redirect {
            scheme: None,
            hostname: None,
            path: None,
            port: None,
            status: 301,
        };
        assert_eq!(loc(&r, 80, "/a", &PathMatch::any()), "http://gw.example/a");
        assert_eq!(status(&r), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(status(&Redirect { status: 200, ..r }), StatusCode::FOUND);
    }
}
