//! Path matching: Exact, PathPrefix (whole segments) and RegularExpression (anchored).

use std::fmt;

use serde::{Serialize, Serializer};

use crate::matcher::Pattern;

/// How a rule matches the request path (never including the query string).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value")]
pub enum PathMatch {
    /// Byte-exact, case-sensitive.
    Exact(String),
    /// Element-wise prefix on `/`-separated segments; stored without a trailing `/` (`/` is stored as `""`).
    Prefix(NormalizedPrefix),
    /// Anchored regular expression: the whole path must match.
    Regex(Pattern),
}

/// A PathPrefix value with its trailing `/` removed, so `/abc/` and `/abc` behave the same.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NormalizedPrefix(String);

impl NormalizedPrefix {
    /// Normalises a configured PathPrefix value.
    pub fn new(prefix: &str) -> Self {
        Self(prefix.trim_end_matches('/').to_owned())
    }

    /// The prefix without its trailing `/` (`""` for `/`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NormalizedPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.display())
    }
}

impl NormalizedPrefix {
    fn display(&self) -> &str {
        if self.0.is_empty() { "/" } else { &self.0 }
    }
}

impl Serialize for NormalizedPrefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.display())
    }
}

impl PathMatch {
    /// A PathPrefix match.
    pub fn prefix(prefix: &str) -> Self {
        Self::Prefix(NormalizedPrefix::new(prefix))
    }

    /// The catch-all match: PathPrefix `/`.
    pub fn any() -> Self {
        Self::prefix("/")
    }

    /// Whether `path` (without query string) matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(exact) => exact == path,
            Self::Prefix(prefix) => path_prefix_matches(prefix.as_str(), path),
            Self::Regex(pattern) => pattern.is_full_match(path),
        }
    }
}

/// Element-wise prefix test; `prefix` is normalised (no trailing `/`, `""` for `/`).
pub fn path_prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix.is_empty() {
        return true;
    }
    path.starts_with(prefix) && (path.len() == prefix.len() || path.as_bytes().get(prefix.len()) == Some(&b'/'))
}

/// ReplacePrefixMatch: replaces the matched `prefix` (normalised) of `path` by `replacement`.
///
/// `/foo/bar` with prefix `/foo` and replacement `/xyz` gives `/xyz/bar`; a replacement of `/` or
/// `""` strips the prefix (`/foo` → `/`, `/foo/three` → `/three`). Callers pass a path that
/// [`path_prefix_matches`] accepted; any other path is returned unchanged.
pub fn replace_prefix(path: &str, prefix: &str, replacement: &str) -> String {
    if !path_prefix_matches(prefix, path) {
        return path.to_owned();
    }
    let rest = &path[prefix.len()..];
    let replacement = replacement.trim_end_matches('/');
    let mut out = String::with_capacity(replacement.len() + rest.len() + 1);
    out.push_str(replacement);
    out.push_str(rest);
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matches_whole_segments_only() {
        let cases = [
            ("/abc", "/abc", true),
            ("/abc", "/abc/", true),
            ("/abc", "/abc/def", true),
            ("/abc", "/abcd", false),
            ("/abc/", "/abc", true),
            ("/abc/", "/abcd", false),
            ("/", "/anything", true),
            ("/", "/", true),
            ("/v2", "/v2example", false),
            ("/port", "/port-and-host", false),
            ("/Abc", "/abc", false),
        ];
        for (prefix, path, want) in cases {
            assert_eq!(PathMatch::prefix(prefix).matches(path), want, "{prefix} vs {path}");
        }
    }

    #[test]
    fn exact_is_byte_exact() {
        let m = PathMatch::Exact("/abc".into());
        assert!(m.matches("/abc"));
        assert!(!m.matches("/abc/"));
        assert!(!m.matches("/Abc"));
    }

    #[test]
    fn regex_is_anchored() {
        let m = PathMatch::Regex(Pattern::new("/v[0-9]+/.*").unwrap());
        assert!(m.matches("/v1/users"));
        assert!(!m.matches("/api/v1/users"));
        assert!(!m.matches("/v1"));
    }

    #[test]
    fn replace_prefix_follows_the_spec_examples() {
        let cases = [
            ("/foo/bar", "/foo", "/xyz", "/xyz/bar"),
            ("/foo/", "/foo", "/xyz", "/xyz/"),
            ("/foo", "/foo", "/xyz", "/xyz"),
            ("/strip-prefix", "/strip-prefix", "/", "/"),
            ("/strip-prefix/three", "/strip-prefix", "/", "/three"),
            ("/strip-prefix/three", "/strip-prefix", "", "/three"),
            ("/foo/bar", "/foo", "/xyz/", "/xyz/bar"),
            ("/x", "", "/abc", "/abc/x"),
            ("/other", "/foo", "/xyz", "/other"),
        ];
        for (path, prefix, replacement, want) in cases {
            assert_eq!(
                replace_prefix(path, prefix, replacement),
                want,
                "{path} {prefix} {replacement}"
            );
        }
    }
}
