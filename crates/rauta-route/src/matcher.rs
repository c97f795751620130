//! One `matches[]` entry: path, method, headers and query parameters, all of which must match.

use std::cell::OnceCell;

use http::{HeaderMap, HeaderName, Method};
use serde::{Serialize, Serializer};

use crate::path::PathMatch;
use crate::precedence::Precedence;

/// An anchored regular expression (the whole value must match), printed as its source.
#[derive(Clone, Debug)]
pub struct Pattern {
    source: String,
    regex: regex::Regex,
}

impl Pattern {
    /// Compiles `source` so that it must match a whole value.
    pub fn new(source: &str) -> Result<Self, regex::Error> {
        let regex = regex::Regex::new(&format!("^(?:{source})$"))?;
        Ok(Self {
            source: source.to_owned(),
            regex,
        })
    }

    /// The expression as configured.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `value` matches.
    pub fn is_full_match(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

/// How a header or query-parameter value is compared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value")]
pub enum ValueMatch {
    /// Case-sensitive equality.
    Exact(String),
    /// Anchored regular expression.
    Regex(Pattern),
}

impl ValueMatch {
    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(exact) => exact == value,
            Self::Regex(pattern) => pattern.is_full_match(value),
        }
    }
}

/// A header match; the name compares case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeaderMatch {
    /// Header name (lower-case, as `http` stores it).
    #[serde(serialize_with = "serialize_header_name")]
    pub name: HeaderName,
    /// Value comparison.
    pub value: ValueMatch,
}

fn serialize_header_name<S: Serializer>(name: &HeaderName, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(name.as_str())
}

/// A query-parameter match; the name compares exactly, the first value of a repeated parameter counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QueryParamMatch {
    /// Parameter name (decoded).
    pub name: String,
    /// Value comparison (against the decoded value).
    pub value: ValueMatch,
}

/// One entry of a rule's `matches[]`: every present condition must hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteMatch {
    /// Path condition (`PathPrefix /` when the entry had none).
    pub path: PathMatch,
    /// Method condition, upper-case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Header conditions, one per distinct name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderMatch>,
    /// Query-parameter conditions, one per distinct name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub query_params: Vec<QueryParamMatch>,
}

impl Default for RouteMatch {
    fn default() -> Self {
        Self {
            path: PathMatch::any(),
            method: None,
            headers: Vec::new(),
            query_params: Vec::new(),
        }
    }
}

impl RouteMatch {
    /// Builds a match, keeping only the first condition for a repeated header or parameter name
    /// as the spec requires.
    pub fn new(
        path: PathMatch,
        method: Option<String>,
        headers: Vec<HeaderMatch>,
        query_params: Vec<QueryParamMatch>,
    ) -> Self {
        let mut unique_headers: Vec<HeaderMatch> = Vec::with_capacity(headers.len());
        for h in headers {
            if !unique_headers.iter().any(|u| u.name == h.name) {
                unique_headers.push(h);
            }
        }
        let mut unique_params: Vec<QueryParamMatch> = Vec::with_capacity(query_params.len());
        for q in query_params {
            if !unique_params.iter().any(|u| u.name == q.name) {
                unique_params.push(q);
            }
        }
        Self {
            path,
            method,
            headers: unique_headers,
            query_params: unique_params,
        }
    }

    /// Whether the request satisfies every condition.
    pub fn matches(&self, req: &RequestParts<'_>) -> bool {
        self.path.matches(req.path)
            && self.method.as_deref().is_none_or(|m| m == req.method.as_str())
            && self.headers.iter().all(|h| req.header_matches(&h.name, &h.value))
            && self
                .query_params
                .iter()
                .all(|q| req.query_param(&q.name).is_some_and(|v| q.value.matches(v)))
    }

    /// The spec's precedence summary of this match.
    pub fn precedence(&self) -> Precedence {
        Precedence::of(self)
    }
}

/// The parts of a request that matching reads. Query parameters are decoded once, on first use.
pub struct RequestParts<'a> {
    method: &'a Method,
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    params: OnceCell<Vec<(String, String)>>,
}

impl<'a> RequestParts<'a> {
    /// Wraps a request's method, path (without query), raw query string and headers.
    pub fn new(method: &'a Method, path: &'a str, query: Option<&'a str>, headers: &'a HeaderMap) -> Self {
        Self {
            method,
            path,
            query,
            headers,
            params: OnceCell::new(),
        }
    }

    /// The request path without query string.
    pub fn path(&self) -> &'a str {
        self.path
    }

    fn header_matches(&self, name: &HeaderName, value: &ValueMatch) -> bool {
        let mut values = self.headers.get_all(name).iter();
        let Some(first) = values.next() else { return false };
        let Ok(first) = first.to_str() else { return false };
        match values.next() {
            None => value.matches(first),
            // Repeated headers are compared as RFC 9110 folds them: one comma-separated value.
            Some(_) => {
                let joined: Vec<&str> = self
                    .headers
                    .get_all(name)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                value.matches(&joined.join(","))
            }
        }
    }

    fn query_param(&self, name: &str) -> Option<&str> {
        let params = self.params.get_or_init(|| {
            self.query
                .map(|q| {
                    form_urlencoded::parse(q.as_bytes())
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect()
                })
                .unwrap_or_default()
        });
        params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        map
    }

    fn header(name: &str, value: ValueMatch) -> HeaderMatch {
        HeaderMatch {
            name: HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value,
        }
    }

    #[test]
    fn every_condition_must_hold() {
        let m = RouteMatch::new(
            PathMatch::prefix("/api"),
            Some("POST".into()),
            vec![header("Version", ValueMatch::Exact("two".into()))],
            vec![QueryParamMatch {
                name: "animal".into(),
                value: ValueMatch::Exact("whale".into()),
            }],
        );
        let h = headers(&[("version", "two")]);
        let post = Method::POST;
        let get = Method::GET;
        assert!(m.matches(&RequestParts::new(&post, "/api/x", Some("animal=whale&x=1"), &h)));
        assert!(!m.matches(&RequestParts::new(&get, "/api/x", Some("animal=whale"), &h)));
        assert!(!m.matches(&RequestParts::new(&post, "/api/x", Some("animal=dolphin"), &h)));
        assert!(!m.matches(&RequestParts::new(&post, "/api/x", None, &h)));
        let wrong = headers(&[("version", "Two")]);
        assert!(!m.matches(&RequestParts::new(&post, "/api/x", Some("animal=whale"), &wrong)));
    }

    #[test]
    fn first_query_value_counts_and_values_are_decoded() {
        let m = RouteMatch::new(
            PathMatch::any(),
            None,
            vec![],
            vec![QueryParamMatch {
                name: "q".into(),
                value: ValueMatch::Exact("a b".into()),
            }],
        );
        let h = HeaderMap::new();
        let get = Method::GET;
        assert!(m.matches(&RequestParts::new(&get, "/", Some("q=a%20b&q=c"), &h)));
        assert!(!m.matches(&RequestParts::new(&get, "/", Some("q=c&q=a%20b"), &h)));
    }

    #[test]
    fn repeated_header_names_keep_the_first_condition() {
        let m = RouteMatch::new(
            PathMatch::any(),
            None,
            vec![
                header("x", ValueMatch::Exact("1".into())),
                header("X", ValueMatch::Exact("2".into())),
            ],
            vec![],
        );
        assert_eq!(m.headers.len(), 1);
        let h = headers(&[("x", "1")]);
        let get = Method::GET;
        assert!(m.matches(&RequestParts::new(&get, "/", None, &h)));
    }

    #[test]
    fn header_regex_is_anchored() {
        let m = RouteMatch::new(
            PathMatch::any(),
            None,
            vec![header("x", ValueMatch::Regex(Pattern::new("v[0-9]").unwrap()))],
            vec![],
        );
        let get = Method::GET;
        assert!(m.matches(&RequestParts::new(&get, "/", None, &headers(&[("x", "v1")]))));
        assert!(!m.matches(&RequestParts::new(&get, "/", None, &headers(&[("x", "av1")]))));
    }
}
