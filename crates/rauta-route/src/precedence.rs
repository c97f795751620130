//! The spec's precedence between matches, as one `Ord` key.

use std::cmp::Ordering;

use crate::matcher::RouteMatch;
use crate::path::PathMatch;

/// Summary of a [`RouteMatch`] whose order is the Gateway API precedence: sorting ascending puts
/// the match that must win first.
///
/// 1. Exact path beats RegularExpression, which beats PathPrefix (regex placement is
///    implementation-specific; this is Envoy Gateway's choice);
/// 2. a longer path value beats a shorter one of the same kind;
/// 3. a method match beats none;
/// 4. more header matches beat fewer;
/// 5. more query-parameter matches beat fewer.
///
/// Ties between routes (creation time, then `namespace/name`) and between rules (list order) are
/// the caller's: they are not properties of a match. GRPCRoute matches rank by their own rules
/// ([`Precedence::grpc`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Precedence {
    path_kind: u8,
    path_len: usize,
    has_method: bool,
    headers: usize,
    query_params: usize,
}

impl Precedence {
    /// The precedence of a GRPCRoute match, whose spec ranks by the characters of the matching
    /// service, then of the matching method, then by the number of header matches. Its path
    /// (`/service/method`) is ranked as one key: service length first, method length second.
    pub fn grpc(service_chars: usize, method_chars: usize, headers: usize) -> Self {
        let capped = |n: usize| n.min(usize::from(u16::MAX));
        Self {
            path_kind: 0,
            path_len: (capped(service_chars) << 16) | capped(method_chars),
            has_method: false,
            headers,
            query_params: 0,
        }
    }

    pub(crate) fn of(m: &RouteMatch) -> Self {
        let (path_kind, path_len) = match &m.path {
            PathMatch::Exact(p) => (0, p.len()),
            PathMatch::Regex(p) => (1, p.as_str().len()),
            PathMatch::Prefix(p) => (2, p.as_str().len()),
        };
        Self {
            path_kind,
            path_len,
            has_method: m.method.is_some(),
            headers: m.headers.len(),
            query_params: m.query_params.len(),
        }
    }
}

impl Ord for Precedence {
    fn cmp(&self, other: &Self) -> Ordering {
        self.path_kind
            .cmp(&other.path_kind)
            .then(other.path_len.cmp(&self.path_len))
            .then(other.has_method.cmp(&self.has_method))
            .then(other.headers.cmp(&self.headers))
            .then(other.query_params.cmp(&self.query_params))
    }
}

impl PartialOrd for Precedence {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderName;

    use super::*;
    use crate::matcher::{HeaderMatch, Pattern, QueryParamMatch, ValueMatch};

    fn m(path: PathMatch, method: bool, headers: usize, params: usize) -> RouteMatch {
        RouteMatch::new(
            path,
            method.then(|| "GET".to_owned()),
            (0..headers)
                .map(|i| HeaderMatch {
                    name: HeaderName::from_bytes(format!("h{i}").as_bytes()).unwrap(),
                    value: ValueMatch::Exact("v".into()),
                })
                .collect(),
            (0..params)
                .map(|i| QueryParamMatch {
                    name: format!("q{i}"),
                    value: ValueMatch::Exact("v".into()),
                })
                .collect(),
        )
    }

    /// Each row must sort strictly before the next: the spec's precedence list, in order.
    #[test]
    fn spec_precedence_table() {
        let rows = [
            m(PathMatch::Exact("/a/b".into()), false, 0, 0),
            m(PathMatch::Exact("/a".into()), true, 3, 3),
            m(PathMatch::Regex(Pattern::new("/a/.*/c").unwrap()), false, 0, 0),
            m(PathMatch::prefix("/a/b"), false, 0, 0),
            m(PathMatch::prefix("/a"), true, 0, 0),
            m(PathMatch::prefix("/a"), false, 2, 0),
            m(PathMatch::prefix("/a"), false, 1, 5),
            m(PathMatch::prefix("/a"), false, 1, 0),
            m(PathMatch::prefix("/a"), false, 0, 1),
            m(PathMatch::prefix("/a"), false, 0, 0),
            m(PathMatch::any(), false, 0, 0),
        ];
        for pair in rows.windows(2) {
            assert_eq!(
                pair[0].precedence().cmp(&pair[1].precedence()),
                Ordering::Less,
                "{:?} vs {:?}",
                pair[0],
                pair[1]
            );
        }
    }

    /// GRPCRoute: longer service, then longer method, then more headers.
    #[test]
    fn grpc_precedence_table() {
        let rows = [
            Precedence::grpc(20, 0, 0),
            Precedence::grpc(10, 8, 0),
            Precedence::grpc(10, 4, 2),
            Precedence::grpc(10, 4, 1),
            Precedence::grpc(10, 0, 0),
            Precedence::grpc(0, 30, 0),
            Precedence::grpc(0, 0, 3),
            Precedence::grpc(0, 0, 0),
        ];
        for pair in rows.windows(2) {
            assert_eq!(pair[0].cmp(&pair[1]), Ordering::Less, "{:?} vs {:?}", pair[0], pair[1]);
        }
    }

    #[test]
    fn trailing_slash_does_not_lengthen_a_prefix() {
        assert_eq!(
            m(PathMatch::prefix("/a/"), false, 0, 0).precedence(),
            m(PathMatch::prefix("/a"), false, 0, 0).precedence()
        );
    }
}
