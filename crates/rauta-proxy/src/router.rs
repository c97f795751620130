//! Selecting the listener, virtual host and route entry that serve a request.
//!
//! Each level takes the first candidate that matches, in the order the IR sorted them (most
//! specific first), and never falls through to a later listener: listener isolation.

use http::{HeaderMap, HeaderValue, Uri, header};
use rauta_route::RequestParts;

use crate::runtime::{RuntimeBind, RuntimeEntry, RuntimeListener};

mod index;

pub(crate) use index::RouteIndex;

/// The host a request names, as sent (port included): the URI authority when the request has one
/// (HTTP/2 `:authority`, HTTP/1 absolute-form, which RFC 9112 says overrides Host), else `Host`.
pub(crate) fn request_host(uri: &Uri, headers: &HeaderMap) -> Option<HeaderValue> {
    match uri.authority() {
        Some(authority) => HeaderValue::from_str(authority.as_str()).ok(),
        None => headers.get(header::HOST).cloned(),
    }
}

/// `host` without its port; IPv6 literals keep their brackets.
pub(crate) fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The first listener of the bind whose hostname matches `host` (without port).
pub(crate) fn select_listener<'r>(bind: &'r RuntimeBind, host: &str) -> Option<&'r RuntimeListener> {
    bind.listeners.iter().find(|l| l.hostname.matches(host))
}

/// Whether a request on a TLS connection for `sni` names a host that `listener` serves while
/// the SNI belongs to another listener of the bind (or to none): its certificate and TLS settings
/// were chosen for another listener, so the request must not be served on this connection (421).
/// Connections without SNI are not checked.
pub(crate) fn misdirected(bind: &RuntimeBind, listener: &RuntimeListener, sni: Option<&str>) -> bool {
    let Some(sni) = sni else { return false };
    !select_listener(bind, sni).is_some_and(|l| std::ptr::eq(l, listener))
}

/// The first route entry of the first matching virtual host of `listener`.
pub(crate) fn select_entry<'r>(
    listener: &'r RuntimeListener,
    host: &str,
    request: &RequestParts<'_>,
) -> Option<&'r RuntimeEntry> {
    let vhost = listener.virtual_hosts.iter().find(|vh| vh.hostname.matches(host))?;
    let position = vhost.index.first_match(&vhost.routes, |e| &*e.route_match, request)?;
    vhost.routes.get(position)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http::Method;
    use rauta_ir::{RouteKind, RouteRef, Rule, Timeouts};
    use rauta_route::{HeaderMatch, HostnameMatch, PathMatch, RouteMatch, ValueMatch};

    use super::*;
    use crate::runtime::{RuntimeRule, RuntimeVirtualHost};

    fn host(s: &str) -> HostnameMatch {
        if s == "*" {
            HostnameMatch::Any
        } else {
            HostnameMatch::parse(s).unwrap()
        }
    }

    fn rule(name: &str) -> Arc<RuntimeRule> {
        let metrics = crate::metrics::Metrics::new(&mut prometheus_client::registry::Registry::default());
        Arc::new(RuntimeRule {
            rule: Arc::new(Rule {
                route: RouteRef {
                    kind: RouteKind::Http,
                    namespace: "ns".into(),
                    name: name.into(),
                },
                index: 0,
                name: None,
                filters: vec![],
                backends: vec![],
                timeouts: Timeouts::default(),
                retry: None,
            }),
            filters: vec![],
            backends: vec![],
            total_weight: 0,
            metrics: metrics.route(name.into()),
        })
    }

    fn entry(m: RouteMatch, name: &str) -> RuntimeEntry {
        RuntimeEntry {
            route_match: Arc::new(m),
            rule: rule(name),
        }
    }

    fn listener(hostname: &str, vhosts: Vec<(&str, Vec<RuntimeEntry>)>) -> RuntimeListener {
        RuntimeListener {
            hostname: host(hostname),
            port: 80,
            label: hostname.into(),
            terminates_tls: false,
            virtual_hosts: vhosts
                .into_iter()
                .map(|(h, routes)| RuntimeVirtualHost {
                    hostname: host(h),
                    index: RouteIndex::build(routes.iter().map(|e| &*e.route_match)),
                    routes,
                })
                .collect(),
        }
    }

    fn bind() -> RuntimeBind {
        RuntimeBind {
            address: "127.0.0.1:80".parse().unwrap(),
            protocol: rauta_ir::BindProtocol::Http,
            tls: None,
            listeners: vec![
                listener(
                    "foo.example.com",
                    vec![("foo.example.com", vec![entry(RouteMatch::default(), "foo")])],
                ),
                listener(
                    "*.example.com",
                    vec![
                        ("bar.example.com", vec![entry(RouteMatch::default(), "bar")]),
                        (
                            "*.example.com",
                            vec![entry(
                                RouteMatch::new(PathMatch::prefix("/only"), None, vec![], vec![]),
                                "wild",
                            )],
                        ),
                    ],
                ),
                listener(
                    "*",
                    vec![(
                        "*",
                        vec![
                            entry(
                                RouteMatch::new(
                                    PathMatch::prefix("/v2"),
                                    None,
                                    vec![HeaderMatch {
                                        name: "version".parse().unwrap(),
                                        value: ValueMatch::Exact("two".into()),
                                    }],
                                    vec![],
                                ),
                                "v2-header",
                            ),
                            entry(RouteMatch::new(PathMatch::prefix("/v2"), None, vec![], vec![]), "v2"),
                            entry(RouteMatch::default(), "catch-all"),
                        ],
                    )],
                ),
            ],
        }
    }

    fn route(bind: &RuntimeBind, host_header: &str, path: &str, headers: &HeaderMap) -> Option<String> {
        let host = strip_port(host_header);
        let listener = select_listener(bind, host)?;
        let method = Method::GET;
        let parts = RequestParts::new(&method, path, None, headers);
        select_entry(listener, host, &parts).map(|e| e.rule.rule.route.name.clone())
    }

    #[test]
    fn most_specific_listener_wins_and_never_falls_through() {
        let b = bind();
        let none = HeaderMap::new();
        assert_eq!(route(&b, "foo.example.com", "/", &none).as_deref(), Some("foo"));
        assert_eq!(route(&b, "FOO.example.com:8080", "/", &none).as_deref(), Some("foo"));
        assert_eq!(route(&b, "bar.example.com", "/x", &none).as_deref(), Some("bar"));
        assert_eq!(route(&b, "baz.example.com", "/only/x", &none).as_deref(), Some("wild"));
        // The wildcard listener owns baz.example.com: its miss is a 404, not the catch-all listener.
        assert_eq!(route(&b, "baz.example.com", "/other", &none), None);
        assert_eq!(route(&b, "example.com", "/other", &none).as_deref(), Some("catch-all"));
    }

    #[test]
    fn first_matching_entry_wins() {
        let b = bind();
        let mut h = HeaderMap::new();
        assert_eq!(route(&b, "other.net", "/v2/x", &h).as_deref(), Some("v2"));
        assert_eq!(route(&b, "other.net", "/v2example", &h).as_deref(), Some("catch-all"));
        h.insert("version", HeaderValue::from_static("two"));
        assert_eq!(route(&b, "other.net", "/v2", &h).as_deref(), Some("v2-header"));
    }

    #[test]
    fn no_vhost_or_listener_is_a_miss() {
        let b = RuntimeBind {
            address: "127.0.0.1:80".parse().unwrap(),
            protocol: rauta_ir::BindProtocol::Http,
            tls: None,
            listeners: vec![listener("a.com", vec![("b.a.com", vec![])])],
        };
        assert_eq!(route(&b, "a.com", "/", &HeaderMap::new()), None);
        assert_eq!(route(&b, "zzz.com", "/", &HeaderMap::new()), None);
    }

    /// The conformance suite's table for GatewayHTTPSListenerDetectMisdirectedRequests, on the
    /// listeners of `bind()`: the SNI picks a listener, a Host of another listener is a 421.
    #[test]
    fn misdirected_when_host_and_sni_pick_different_listeners() {
        let b = bind();
        let cases = [
            (Some("foo.example.com"), "foo.example.com", false),
            (Some("foo.example.com"), "bar.example.com", true),
            (Some("bar.example.com"), "baz.example.com", false),
            (Some("bar.example.com"), "foo.example.com", true),
            (Some("bar.example.com"), "other.net", true),
            (Some("other.net"), "example.com", false),
            (Some("other.net"), "foo.example.com", true),
            (None, "foo.example.com", false),
        ];
        for (sni, host, want) in cases {
            let listener = select_listener(&b, host).unwrap();
            assert_eq!(misdirected(&b, listener, sni), want, "SNI {sni:?}, Host {host}");
        }
        let no_catch_all = RuntimeBind {
            address: "127.0.0.1:80".parse().unwrap(),
            protocol: rauta_ir::BindProtocol::Http,
            tls: None,
            listeners: vec![listener("a.com", vec![])],
        };
        let a = select_listener(&no_catch_all, "a.com").unwrap();
        assert!(misdirected(&no_catch_all, a, Some("unknown.com")));
    }

    #[test]
    fn host_comes_from_authority_then_host_header() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("h.example:81"));
        assert_eq!(request_host(&Uri::from_static("/p"), &h).unwrap(), "h.example:81");
        assert_eq!(
            request_host(&Uri::from_static("http://a.example/p"), &h).unwrap(),
            "a.example"
        );
        assert_eq!(request_host(&Uri::from_static("/p"), &HeaderMap::new()), None);
    }

    #[test]
    fn strips_ports() {
        assert_eq!(strip_port("very.specific.com:1234"), "very.specific.com");
        assert_eq!(strip_port("very.specific.com"), "very.specific.com");
        assert_eq!(strip_port("[::1]:8080"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }
}
