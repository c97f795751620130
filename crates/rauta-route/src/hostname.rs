//! Hostname matching and the spec's listener/route hostname intersection.

use std::cmp::Ordering;

use serde::{Serialize, Serializer};

/// A hostname pattern as Gateway API writes it: exact, `*.suffix`, or any host.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostnameMatch {
    /// Any host (a listener or route without hostnames).
    Any,
    /// One exact, lower-case host name.
    Exact(String),
    /// `*.example.com`, stored as the suffix `.example.com`: one or more labels before it.
    Wildcard(String),
}

/// A hostname that is not a valid Gateway API hostname.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid hostname {0:?}")]
pub struct InvalidHostname(pub String);

impl HostnameMatch {
    /// Parses a Gateway API hostname: lower-cased, `*.` prefix for wildcards, no port, no IP.
    pub fn parse(value: &str) -> Result<Self, InvalidHostname> {
        let lower = value.to_ascii_lowercase();
        let invalid = || InvalidHostname(value.to_owned());
        let (wildcard, rest) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        if rest.is_empty() || rest.len() > 253 || rest.parse::<std::net::IpAddr>().is_ok() {
            return Err(invalid());
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !rest.split('.').all(label_ok) {
            return Err(invalid());
        }
        Ok(if wildcard {
            Self::Wildcard(format!(".{rest}"))
        } else {
            Self::Exact(rest.to_owned())
        })
    }

    /// Whether a request host (lower-case, without port) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(exact) => exact.eq_ignore_ascii_case(host),
            Self::Wildcard(suffix) => {
                host.len() > suffix.len()
                    && host.as_bytes()[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
            }
        }
    }

    /// Whether every host this pattern matches is also matched by `other`.
    fn within(&self, other: &Self) -> bool {
        match (self, other) {
            (_, Self::Any) => true,
            (Self::Any, _) => false,
            (Self::Exact(a), _) => other.matches(a),
            (Self::Wildcard(_), Self::Exact(_)) => false,
            (Self::Wildcard(a), Self::Wildcard(b)) => a == b || (a.len() > b.len() && a.ends_with(b.as_str())),
        }
    }

    /// The spec's intersection of a listener hostname with a route hostname: the hosts both
    /// accept, or `None` when they share none. A route wildcard wider than the listener's
    /// hostname is narrowed to the listener's.
    pub fn intersect(&self, route: &Self) -> Option<Self> {
        if route.within(self) {
            Some(route.clone())
        } else if self.within(route) {
            Some(self.clone())
        } else {
            None
        }
    }

    /// Orders patterns most specific first: exact, then wildcards with longer suffixes, then any.
    pub fn specificity_cmp(&self, other: &Self) -> Ordering {
        fn rank(h: &HostnameMatch) -> (u8, usize) {
            match h {
                HostnameMatch::Exact(s) => (0, usize::MAX - s.len()),
                HostnameMatch::Wildcard(s) => (1, usize::MAX - s.len()),
                HostnameMatch::Any => (2, 0),
            }
        }
        rank(self).cmp(&rank(other))
    }
}

impl std::fmt::Display for HostnameMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Exact(h) => f.write_str(h),
            Self::Wildcard(suffix) => write!(f, "*{suffix}"),
        }
    }
}

impl Serialize for HostnameMatch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> HostnameMatch {
        if s == "*" {
            HostnameMatch::Any
        } else {
            HostnameMatch::parse(s).unwrap()
        }
    }

    #[test]
    fn wildcard_needs_at_least_one_label() {
        let w = h("*.example.com");
        assert!(w.matches("foo.example.com"));
        assert!(w.matches("a.b.example.com"));
        assert!(!w.matches("example.com"));
        assert!(!w.matches("fooexample.com"));
        assert!(h("Foo.Example.com").matches("foo.example.com"));
    }

    #[test]
    fn parse_rejects_ips_and_bad_labels() {
        for bad in ["", "1.2.3.4", "foo..com", "-a.com", "a_b.com", "*", "*.", "foo.*.com"] {
            assert!(HostnameMatch::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn intersection_table() {
        let cases = [
            // listener, route, intersection
            ("*", "foo.com", Some("foo.com")),
            ("*", "*.foo.com", Some("*.foo.com")),
            ("foo.com", "foo.com", Some("foo.com")),
            ("foo.com", "bar.com", None),
            ("very.specific.com", "*.specific.com", Some("very.specific.com")),
            ("*.specific.com", "very.specific.com", Some("very.specific.com")),
            ("*.specific.com", "specific.com", None),
            ("*.example.com", "*.example.com", Some("*.example.com")),
            ("*.example.com", "*.foo.example.com", Some("*.foo.example.com")),
            ("*.foo.example.com", "*.example.com", Some("*.foo.example.com")),
            ("*.example.com", "*.example.net", None),
        ];
        for (listener, route, want) in cases {
            assert_eq!(h(listener).intersect(&h(route)), want.map(h), "{listener} ∩ {route}");
        }
    }

    #[test]
    fn specificity_orders_exact_then_longer_wildcards_then_any() {
        let mut v = vec![h("*"), h("*.com"), h("a.b.com"), h("*.b.com")];
        v.sort_by(|a, b| a.specificity_cmp(b));
        assert_eq!(v, vec![h("a.b.com"), h("*.b.com"), h("*.com"), h("*")]);
    }
}
