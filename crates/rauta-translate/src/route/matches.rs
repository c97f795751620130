//! `matches[]` entries → [`RouteMatch`]: path, headers, query parameters and method.

use gateway_api::experimental::httproutes::{
    HttpRouteRulesMatches, HttpRouteRulesMatchesHeadersType, HttpRouteRulesMatchesMethod,
    HttpRouteRulesMatchesPathType, HttpRouteRulesMatchesQueryParamsType,
};
use http::HeaderName;
use rauta_ir::route::{HeaderMatch, PathMatch, Pattern, QueryParamMatch, RouteMatch, ValueMatch};

/// A value the spec does not allow, at `field`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Converts one `matches[]` entry; `field` is its path (`spec.rules[0].matches[1]`).
pub(crate) fn convert(m: &HttpRouteRulesMatches, field: &str) -> Result<RouteMatch, Invalid> {
    let path = match &m.path {
        None => PathMatch::any(),
        Some(p) => {
            let value = p.value.as_deref().unwrap_or("/");
            let at = format!("{field}.path.value");
            match p.r#type.as_ref().unwrap_or(&HttpRouteRulesMatchesPathType::PathPrefix) {
                HttpRouteRulesMatchesPathType::Exact => PathMatch::Exact(valid_path(value, &at)?.to_owned()),
                HttpRouteRulesMatchesPathType::PathPrefix => PathMatch::prefix(valid_path(value, &at)?),
                HttpRouteRulesMatchesPathType::RegularExpression => PathMatch::Regex(pattern(value, &at)?),
            }
        }
    };
    let mut headers = Vec::new();
    for (i, h) in m.headers.iter().flatten().enumerate() {
        let at = format!("{field}.headers[{i}]");
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| Invalid::new(format!("{at}.name"), format!("{:?} is not a valid header name", h.name)))?;
        let value = match h.r#type.as_ref().unwrap_or(&HttpRouteRulesMatchesHeadersType::Exact) {
            HttpRouteRulesMatchesHeadersType::Exact => ValueMatch::Exact(h.value.clone()),
            HttpRouteRulesMatchesHeadersType::RegularExpression => {
                ValueMatch::Regex(pattern(&h.value, &format!("{at}.value"))?)
            }
        };
        headers.push(HeaderMatch { name, value });
    }
    let mut query_params = Vec::new();
    for (i, q) in m.query_params.iter().flatten().enumerate() {
        let at = format!("{field}.queryParams[{i}]");
        if q.name.is_empty() {
            return Err(Invalid::new(
                format!("{at}.name"),
                "a query parameter name must not be empty",
            ));
        }
        let value = match q
            .r#type
            .as_ref()
            .unwrap_or(&HttpRouteRulesMatchesQueryParamsType::Exact)
        {
            HttpRouteRulesMatchesQueryParamsType::Exact => ValueMatch::Exact(q.value.clone()),
            HttpRouteRulesMatchesQueryParamsType::RegularExpression => {
                ValueMatch::Regex(pattern(&q.value, &format!("{at}.value"))?)
            }
        };
        query_params.push(QueryParamMatch {
            name: q.name.clone(),
            value,
        });
    }
    let method = m.method.as_ref().map(|m| method_name(m).to_owned());
    Ok(RouteMatch::new(path, method, headers, query_params))
}

fn method_name(m: &HttpRouteRulesMatchesMethod) -> &'static str {
    match m {
        HttpRouteRulesMatchesMethod::Get => "GET",
        HttpRouteRulesMatchesMethod::Head => "HEAD",
        HttpRouteRulesMatchesMethod::Post => "POST",
        HttpRouteRulesMatchesMethod::Put => "PUT",
        HttpRouteRulesMatchesMethod::Delete => "DELETE",
        HttpRouteRulesMatchesMethod::Connect => "CONNECT",
        HttpRouteRulesMatchesMethod::Options => "OPTIONS",
        HttpRouteRulesMatchesMethod::Trace => "TRACE",
        HttpRouteRulesMatchesMethod::Patch => "PATCH",
    }
}

fn pattern(source: &str, field: &str) -> Result<Pattern, Invalid> {
    Pattern::new(source).map_err(|e| {
        // The parser's message draws the pattern over several lines; its last line says why.
        let text = e.to_string();
        let why = text
            .lines()
            .last()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_owned();
        Invalid::new(field, format!("invalid regular expression {source:?}: {why}"))
    })
}

/// The CRD's rules for Exact and PathPrefix values: an absolute path without `//`, `/./`, `/../`,
/// `%2f`, `#`, and not ending in `/.` or `/..`.
pub(crate) fn valid_path<'v>(value: &'v str, field: &str) -> Result<&'v str, Invalid> {
    let why = if !value.starts_with('/') {
        Some("must start with '/'")
    } else if value.len() > 1024 {
        Some("must be at most 1024 characters")
    } else if value.contains("//") {
        Some("must not contain '//'")
    } else if value.contains("/./") || value.contains("/../") || value.ends_with("/.") || value.ends_with("/..") {
        Some("must not contain '.' or '..' segments")
    } else if value.to_ascii_lowercase().contains("%2f") {
        Some("must not contain '%2f'")
    } else if value.contains('#') {
        Some("must not contain '#'")
    } else if value.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        Some("must not contain spaces or control characters")
    } else {
        None
    };
    match why {
        Some(why) => Err(Invalid::new(field, format!("path {value:?} {why}"))),
        None => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_values_follow_the_crd_rules() {
        for ok in ["/", "/abc", "/abc/", "/a-b_c.d~e", "/a/.well-known"] {
            assert!(valid_path(ok, "f").is_ok(), "{ok}");
        }
        for bad in [
            "", "abc", "/a//b", "/a/./b", "/a/../b", "/a/.", "/a/..", "/a%2Fb", "/a#b", "/a b",
        ] {
            assert!(valid_path(bad, "f").is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_are_prefix_slash_and_exact_values() {
        let m: HttpRouteRulesMatches = serde_json::from_value(serde_json::json!({
            "path": {"value": "/x"},
            "headers": [{"name": "Version", "value": "one"}],
            "queryParams": [{"name": "q", "value": "v"}],
            "method": "GET",
        }))
        .unwrap();
        let converted = convert(&m, "m").unwrap();
        assert_eq!(converted.path, PathMatch::prefix("/x"));
        assert_eq!(converted.headers[0].name.as_str(), "version");
        assert_eq!(converted.headers[0].value, ValueMatch::Exact("one".into()));
        assert_eq!(converted.method.as_deref(), Some("GET"));
        let empty: HttpRouteRulesMatches = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(convert(&empty, "m").unwrap(), RouteMatch::default());
    }

    #[test]
    fn invalid_values_name_their_field() {
        let m: HttpRouteRulesMatches = serde_json::from_value(serde_json::json!({
            "headers": [{"name": "ok", "value": "v"}, {"name": "x", "type": "RegularExpression", "value": "("}],
        }))
        .unwrap();
        assert_eq!(convert(&m, "m").unwrap_err().field, "m.headers[1].value");
        let m: HttpRouteRulesMatches = serde_json::from_value(serde_json::json!({
            "headers": [{"name": "bad name", "value": "v"}],
        }))
        .unwrap();
        assert_eq!(convert(&m, "m").unwrap_err().field, "m.headers[0].name");
    }
}
