//! HTTP filters: header modification, redirects, rewrites, mirroring and CORS.

use http::{HeaderName, HeaderValue};
use serde::Serialize;

use crate::backend::BackendTarget;
use crate::serde_helpers::{header_names, header_pairs};

/// One filter, applied in the order the rule lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Filter {
    /// Modifies request headers sent upstream.
    RequestHeaders(HeaderModifier),
    /// Modifies response headers sent downstream.
    ResponseHeaders(HeaderModifier),
    /// Answers with a redirect instead of proxying.
    Redirect(Redirect),
    /// Rewrites host and/or path sent upstream.
    Rewrite(Rewrite),
    /// Sends a copy of the request to another backend and ignores its answer.
    Mirror(Mirror),
    /// Answers CORS preflights and decorates responses.
    Cors(Cors),
}

/// `set` replaces, `add` appends, `remove` deletes; names compare case-insensitively.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HeaderModifier {
    /// Headers to set (replacing all values).
    #[serde(serialize_with = "header_pairs")]
    pub set: Vec<(HeaderName, HeaderValue)>,
    /// Headers to append (an existing `a` plus added `b` gives `a,b`).
    #[serde(serialize_with = "header_pairs")]
    pub add: Vec<(HeaderName, HeaderValue)>,
    /// Headers to remove.
    #[serde(serialize_with = "header_names")]
    pub remove: Vec<HeaderName>,
}

/// A path modification for redirects and rewrites.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum PathModifier {
    /// Replace the whole path.
    ReplaceFullPath(String),
    /// Replace the prefix the request matched (the entry's PathPrefix) by this value.
    ReplacePrefixMatch(String),
}

/// RequestRedirect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Redirect {
    /// `http` or `https`; `None` keeps the request's scheme.
    pub scheme: Option<String>,
    /// `None` keeps the request's host (without port).
    pub hostname: Option<String>,
    /// `None` keeps the request's path.
    pub path: Option<PathModifier>,
    /// `None` derives the port: the scheme's well-known port when `scheme` is set, else the listener's port.
    pub port: Option<u16>,
    /// 301, 302, 303, 307 or 308.
    pub status: u16,
}

/// URLRewrite.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rewrite {
    /// Host sent upstream instead of the request's.
    pub hostname: Option<String>,
    /// Path sent upstream instead of the request's (the query string is kept).
    pub path: Option<PathModifier>,
}

/// A sampling fraction: `numerator / denominator` of requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Fraction {
    /// Sampled share, numerator.
    pub numerator: u32,
    /// Sampled share, denominator (never 0).
    pub denominator: u32,
}

impl Fraction {
    /// Every request.
    pub const ALL: Fraction = Fraction {
        numerator: 1,
        denominator: 1,
    };
}

/// RequestMirror: fire-and-forget copy of the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mirror {
    /// Where the copy goes (a mirror to an invalid backend is dropped by the translator).
    pub target: BackendTarget,
    /// Share of requests mirrored.
    pub fraction: Fraction,
}

/// CORS policy (the HTTPRoute CORS filter).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Cors {
    /// Allowed origins: `*`, exact origins, or `scheme://*.suffix` wildcards.
    pub allow_origins: Vec<String>,
    /// Allowed methods (`*` allowed).
    pub allow_methods: Vec<String>,
    /// Allowed request headers (`*` allowed).
    pub allow_headers: Vec<String>,
    /// Response headers exposed to the page.
    pub expose_headers: Vec<String>,
    /// Preflight cache lifetime in seconds.
    pub max_age: Option<u32>,
    /// Whether credentials are allowed (never answer `*` then).
    pub allow_credentials: bool,
}
