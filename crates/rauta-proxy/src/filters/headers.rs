//! RequestHeaderModifier and ResponseHeaderModifier.

use http::HeaderMap;
use rauta_ir::HeaderModifier;

/// Applies a modifier: `set` replaces every value, `add` appends another value (the peer sees
/// `a,b`), `remove` deletes; names are case-insensitive because `HeaderName` is lower-case.
pub(crate) fn modify(headers: &mut HeaderMap, modifier: &HeaderModifier) {
    for (name, value) in &modifier.set {
        headers.insert(name.clone(), value.clone());
    }
    for (name, value) in &modifier.add {
        headers.append(name.clone(), value.clone());
    }
    for name in &modifier.remove {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderName, HeaderValue};

    use super::*;

    fn n(s: &str) -> HeaderName {
        HeaderName::from_bytes(s.as_bytes()).unwrap()
    }

    fn v(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    fn joined(h: &HeaderMap, name: &str) -> Option<String> {
        let values: Vec<&str> = h.get_all(name).iter().map(|v| v.to_str().unwrap()).collect();
        (!values.is_empty()).then(|| values.join(","))
    }

    #[test]
    fn set_add_remove_follow_the_spec() {
        let mut h = HeaderMap::new();
        h.append("x-header-set", v("old1"));
        h.append("x-header-set", v("old2"));
        h.append("x-header-add-append", v("append-val-1"));
        h.append("x-header-remove", v("gone"));
        h.append("x-header-echo", v("echo"));
        let m = HeaderModifier {
            set: vec![(n("X-Header-Set"), v("set-overwrites-values"))],
            add: vec![
                (n("X-Header-Add"), v("header-val-1")),
                (n("X-Header-Add-Append"), v("header-val-2")),
            ],
            remove: vec![n("X-Header-Remove")],
        };
        modify(&mut h, &m);
        assert_eq!(joined(&h, "x-header-set").as_deref(), Some("set-overwrites-values"));
        assert_eq!(joined(&h, "x-header-add").as_deref(), Some("header-val-1"));
        assert_eq!(
            joined(&h, "x-header-add-append").as_deref(),
            Some("append-val-1,header-val-2")
        );
        assert_eq!(joined(&h, "x-header-remove"), None);
        assert_eq!(joined(&h, "x-header-echo").as_deref(), Some("echo"));
    }

    #[test]
    fn names_are_case_insensitive() {
        let mut h = HeaderMap::new();
        h.append("x-lower", v("a"));
        let m = HeaderModifier {
            set: vec![],
            add: vec![(n("X-LOWER"), v("b"))],
            remove: vec![],
        };
        modify(&mut h, &m);
        assert_eq!(joined(&h, "X-Lower").as_deref(), Some("a,b"));
    }
}
