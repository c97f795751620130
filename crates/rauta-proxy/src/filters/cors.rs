//! The HTTPRoute CORS filter: preflights answered locally, actual responses decorated.
//!
//! With `allowCredentials` the wildcard `*` is never sent: the request's origin, method and
//! headers are echoed instead, as the Fetch standard requires.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use rauta_ir::Cors;

/// A CORS policy with its header values precomputed.
pub(crate) struct CorsPolicy {
    origins: Vec<OriginPattern>,
    methods: AllowList,
    headers: AllowList,
    expose: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
    credentials: bool,
}

enum OriginPattern {
    Any,
    /// Lower-case `scheme://host[:port]`.
    Exact(String),
    /// `scheme://*.suffix`, split around the `*`; the `*` spans one or more labels.
    Wildcard {
        before: String,
        after: String,
    },
}

enum AllowList {
    Empty,
    Any,
    Listed(HeaderValue),
}

impl AllowList {
    fn compile(items: &[String]) -> Self {
        if items.iter().any(|i| i == "*") {
            Self::Any
        } else if items.is_empty() {
            Self::Empty
        } else {
            HeaderValue::from_str(&items.join(",")).map_or(Self::Empty, Self::Listed)
        }
    }
}

/// Whether a request is a CORS preflight.
pub(crate) fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS && headers.contains_key(ORIGIN) && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

impl CorsPolicy {
    /// Precomputes the policy's header values.
    pub(crate) fn compile(cors: &Cors) -> Self {
        let origins = cors
            .allow_origins
            .iter()
            .map(|o| {
                let o = o.to_ascii_lowercase();
                if o == "*" {
                    OriginPattern::Any
                } else if let Some((before, after)) = o.split_once('*') {
                    OriginPattern::Wildcard {
                        before: before.to_owned(),
                        after: after.to_owned(),
                    }
                } else {
                    OriginPattern::Exact(o)
                }
            })
            .collect();
        let expose = (!cors.expose_headers.is_empty())
            .then(|| HeaderValue::from_str(&cors.expose_headers.join(",")).ok())
            .flatten();
        Self {
            origins,
            methods: AllowList::compile(&cors.allow_methods),
            headers: AllowList::compile(&cors.allow_headers),
            expose,
            max_age: cors.max_age.map(HeaderValue::from),
            credentials: cors.allow_credentials,
        }
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        self.origins.iter().any(|p| match p {
            OriginPattern::Any => true,
            OriginPattern::Exact(exact) => exact.eq_ignore_ascii_case(origin),
            OriginPattern::Wildcard { before, after } => {
                origin.len() > before.len() + after.len()
                    && origin[..before.len()].eq_ignore_ascii_case(before)
                    && origin[origin.len() - after.len()..].eq_ignore_ascii_case(after)
                    && !origin[before.len()..origin.len() - after.len()].contains(['/', ':'])
            }
        })
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, or `None` when it is not allowed.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        let text = origin.to_str().ok()?;
        if !self.origin_allowed(text) {
            return None;
        }
        let wildcard = self.origins.iter().any(|p| matches!(p, OriginPattern::Any));
        Some(if wildcard && !self.credentials {
            HeaderValue::from_static("*")
        } else {
            origin.clone()
        })
    }

    fn common(&self, allow_origin: HeaderValue, out: &mut HeaderMap) {
        if allow_origin != "*" {
            out.append(VARY, HeaderValue::from_static("origin"));
        }
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if self.credentials {
            out.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
        if let Some(expose) = &self.expose {
            out.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
    }

    /// Answers a preflight: 204 with the policy's headers, or 403 without any when the origin
    /// is not allowed.
    pub(crate) fn preflight(&self, request: &HeaderMap) -> (StatusCode, HeaderMap) {
        let mut out = HeaderMap::new();
        let Some(allow_origin) = request.get(ORIGIN).and_then(|o| self.allow_origin(o)) else {
            return (StatusCode::FORBIDDEN, out);
        };
        self.common(allow_origin, &mut out);
        let echo = |name| request.get(name).cloned();
        let star = || Some(HeaderValue::from_static("*"));
        let methods = match &self.methods {
            AllowList::Listed(v) => Some(v.clone()),
            AllowList::Any if self.credentials => echo(ACCESS_CONTROL_REQUEST_METHOD),
            AllowList::Any => star(),
            AllowList::Empty => None,
        };
        let headers = match &self.headers {
            AllowList::Listed(v) => Some(v.clone()),
            AllowList::Any if self.credentials => echo(ACCESS_CONTROL_REQUEST_HEADERS),
            AllowList::Any => star(),
            AllowList::Empty => None,
        };
        if let Some(m) = methods {
            out.insert(ACCESS_CONTROL_ALLOW_METHODS, m);
        }
        if let Some(h) = headers {
            out.insert(ACCESS_CONTROL_ALLOW_HEADERS, h);
        }
        if let Some(age) = &self.max_age {
            out.insert(ACCESS_CONTROL_MAX_AGE, age.clone());
        }
        (StatusCode::NO_CONTENT, out)
    }

    /// Adds the CORS headers of an actual (non-preflight) response when the origin is allowed.
    pub(crate) fn decorate(&self, origin: Option<&HeaderValue>, response: &mut HeaderMap) {
        if let Some(allow_origin) = origin.and_then(|o| self.allow_origin(o)) {
            self.common(allow_origin, response);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str], methods: &[&str], headers: &[&str], credentials: bool) -> CorsPolicy {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        CorsPolicy::compile(&Cors {
            allow_origins: s(origins),
            allow_methods: s(methods),
            allow_headers: s(headers),
            expose_headers: s(&["x-header-3", "x-header-4"]),
            max_age: Some(3600),
            allow_credentials: credentials,
        })
    }

    fn preflight_from(origin: &str, method: &str, headers: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ORIGIN, HeaderValue::from_str(origin).unwrap());
        h.insert(ACCESS_CONTROL_REQUEST_METHOD, HeaderValue::from_str(method).unwrap());
        if let Some(v) = headers {
            h.insert(ACCESS_CONTROL_REQUEST_HEADERS, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn get(h: &HeaderMap, name: http::header::HeaderName) -> Option<&str> {
        h.get(name).map(|v| v.to_str().unwrap())
    }

    #[test]
    fn listed_origins_and_wildcard_labels() {
        let p = policy(
            &["https://www.foo.com", "https://*.bar.com"],
            &["GET", "OPTIONS"],
            &["x-header-1", "x-header-2"],
            true,
        );
        for origin in ["https://www.foo.com", "https://www.bar.com", "https://xpto.www.bar.com"] {
            let (status, h) = p.preflight(&preflight_from(origin, "GET", None));
            assert_eq!(status, StatusCode::NO_CONTENT);
            assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_ORIGIN), Some(origin));
            assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_METHODS), Some("GET,OPTIONS"));
            assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_HEADERS), Some("x-header-1,x-header-2"));
            assert_eq!(get(&h, ACCESS_CONTROL_EXPOSE_HEADERS), Some("x-header-3,x-header-4"));
            assert_eq!(get(&h, ACCESS_CONTROL_MAX_AGE), Some("3600"));
            assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_CREDENTIALS), Some("true"));
        }
        let (status, h) = p.preflight(&preflight_from("https://foobar.com", "GET", None));
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(h.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert!(!p.origin_allowed("https://bar.com"), "the * needs at least one label");
    }

    #[test]
    fn credentials_never_answer_a_wildcard() {
        let p = policy(&["*"], &["*"], &["*"], true);
        let (_, h) = p.preflight(&preflight_from(
            "https://other.foo.com",
            "PUT",
            Some("x-header-1, x-header-2"),
        ));
        assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_ORIGIN), Some("https://other.foo.com"));
        assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_METHODS), Some("PUT"));
        assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_HEADERS), Some("x-header-1, x-header-2"));
        assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_CREDENTIALS), Some("true"));
    }

    #[test]
    fn without_credentials_wildcards_are_allowed() {
        let p = policy(&["*"], &["PUT"], &["*"], false);
        let (_, h) = p.preflight(&preflight_from("https://foobar.com:12345", "PUT", Some("x-a")));
        assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
        assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_METHODS), Some("PUT"));
        assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_HEADERS), Some("*"));
        assert!(h.get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
    }

    #[test]
    fn actual_responses_are_decorated_only_for_allowed_origins() {
        let p = policy(&["https://www.foo.com"], &["GET"], &[], true);
        let mut h = HeaderMap::new();
        p.decorate(Some(&HeaderValue::from_static("https://www.foo.com")), &mut h);
        assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_ORIGIN), Some("https://www.foo.com"));
        assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_CREDENTIALS), Some("true"));
        assert_eq!(get(&h, VARY), Some("origin"));
        let mut h = HeaderMap::new();
        p.decorate(Some(&HeaderValue::from_static("https://foobar.com")), &mut h);
        assert!(h.is_empty());
        p.decorate(None, &mut h);
        assert!(h.is_empty());
    }

    #[test]
    fn detects_preflights() {
        let h = preflight_from("https://a.com", "GET", None);
        assert!(is_preflight(&Method::OPTIONS, &h));
        assert!(!is_preflight(&Method::GET, &h));
        assert!(!is_preflight(&Method::OPTIONS, &HeaderMap::new()));
    }
}
