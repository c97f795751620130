//! URLRewrite, and the path modifiers it shares with RequestRedirect.

use std::borrow::Cow;

use http::uri::PathAndQuery;
use http::{HeaderValue, Uri, header};
use rauta_ir::{PathModifier, Rewrite};
use rauta_route::{PathMatch, replace_prefix};

/// A URLRewrite with its host header value prepared.
pub(crate) struct CompiledRewrite {
    /// Host sent upstream instead of the request's.
    pub(crate) host: Option<HeaderValue>,
    /// Path modification.
    pub(crate) path: Option<PathModifier>,
}

impl CompiledRewrite {
    /// Prepares `rewrite`; a hostname that is not a valid header value is ignored.
    pub(crate) fn compile(rewrite: &Rewrite) -> Self {
        let host = rewrite.hostname.as_deref().and_then(|h| HeaderValue::from_str(h).ok());
        Self {
            host,
            path: rewrite.path.clone(),
        }
    }

    /// Rewrites the request's Host header and path (keeping the query string).
    pub(crate) fn apply(&self, uri: &mut Uri, headers: &mut http::HeaderMap, matched: &PathMatch) {
        if let Some(host) = &self.host {
            headers.insert(header::HOST, host.clone());
        }
        if let Some(modifier) = &self.path {
            let path = modified_path(uri.path(), modifier, matched);
            if path != uri.path() {
                let path = path.into_owned();
                *uri = with_path(uri, &path);
            }
        }
    }
}

/// The path `modifier` makes of `path`, given the match entry that selected the rule.
///
/// ReplacePrefixMatch replaces the entry's PathPrefix; an Exact entry counts as a prefix equal to
/// the whole path, and a RegularExpression entry leaves the path alone (the translator rejects it).
pub(crate) fn modified_path<'a>(path: &'a str, modifier: &'a PathModifier, matched: &PathMatch) -> Cow<'a, str> {
    match modifier {
        PathModifier::ReplaceFullPath(full) => Cow::Borrowed(full.as_str()),
        PathModifier::ReplacePrefixMatch(replacement) => match matched {
            PathMatch::Prefix(prefix) => Cow::Owned(replace_prefix(path, prefix.as_str(), replacement)),
            PathMatch::Exact(exact) => Cow::Owned(replace_prefix(path, exact.trim_end_matches('/'), replacement)),
            PathMatch::Regex(_) => Cow::Borrowed(path),
        },
    }
}

/// `uri` with its path replaced and its query string, scheme and authority kept.
fn with_path(uri: &Uri, path: &str) -> Uri {
    let mut pq = String::with_capacity(path.len() + uri.query().map_or(0, |q| q.len() + 1));
    pq.push_str(path);
    if let Some(q) = uri.query() {
        pq.push('?');
        pq.push_str(q);
    }
    let Ok(pq) = PathAndQuery::try_from(pq) else {
        return uri.clone();
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq);
    Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;

    fn rewrite(path: Option<PathModifier>, host: Option<&str>) -> CompiledRewrite {
        CompiledRewrite::compile(&Rewrite {
            hostname: host.map(Into::into),
            path,
        })
    }

    fn run(r: &CompiledRewrite, uri: &str, matched: &PathMatch) -> (String, Option<String>) {
        let mut uri: Uri = uri.parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("rewrite.example"));
        r.apply(&mut uri, &mut headers, matched);
        (
            uri.to_string(),
            headers.get(header::HOST).map(|h| h.to_str().unwrap().to_owned()),
        )
    }

    #[test]
    fn prefix_and_full_path_rewrites_keep_the_query() {
        let prefix = rewrite(Some(PathModifier::ReplacePrefixMatch("/one".into())), None);
        assert_eq!(
            run(&prefix, "/prefix/one/two?a=1", &PathMatch::prefix("/prefix/one")).0,
            "/one/two?a=1"
        );
        let strip = rewrite(Some(PathModifier::ReplacePrefixMatch("/".into())), None);
        assert_eq!(run(&strip, "/strip-prefix", &PathMatch::prefix("/strip-prefix")).0, "/");
        assert_eq!(
            run(&strip, "/strip-prefix/three", &PathMatch::prefix("/strip-prefix")).0,
            "/three"
        );
        let full = rewrite(Some(PathModifier::ReplaceFullPath("/one".into())), None);
        assert_eq!(
            run(&full, "/full/one/two?x=y", &PathMatch::prefix("/full/one")).0,
            "/one?x=y"
        );
    }

    #[test]
    fn hostname_rewrite_replaces_the_host_header() {
        let r = rewrite(None, Some("one.example.org"));
        assert_eq!(
            run(&r, "/one", &PathMatch::any()),
            ("/one".into(), Some("one.example.org".into()))
        );
    }

    #[test]
    fn absolute_uris_keep_scheme_and_authority() {
        let r = rewrite(Some(PathModifier::ReplaceFullPath("/x".into())), None);
        assert_eq!(
            run(&r, "http://a.example/old?q", &PathMatch::any()).0,
            "http://a.example/x?q"
        );
    }
}
