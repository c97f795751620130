//! What a proxy changes in the headers it relays: hop-by-hop headers out, `X-Forwarded-*` and
//! `x-request-id` in.

use http::header::{CONNECTION, HOST, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Version};

/// `x-request-id`.
pub(crate) static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Whether an HTTP/1.1 request asks to switch protocols (`Connection: upgrade` + `Upgrade`).
pub(crate) fn is_upgrade(version: Version, headers: &HeaderMap) -> bool {
    version == Version::HTTP_11 && headers.contains_key(UPGRADE) && connection_has(headers, "upgrade")
}

/// Whether the `Connection` header lists `token` (case-insensitive).
pub(crate) fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Removes hop-by-hop headers: `Connection` and every header it names, `Keep-Alive`,
/// `Proxy-Connection`, `TE` (except `te: trailers`, which gRPC needs end to end), `Trailer`,
/// `Transfer-Encoding` and `Upgrade`. With `keep_upgrade`, `Upgrade` and `Connection: upgrade`
/// are relayed so the peer can switch protocols.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Most messages carry none of them: one pass over the names (standard names compare as
    // integers) instead of a hashed lookup per hop-by-hop name, twice per proxied request.
    if !keep_upgrade && !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let named = headers.get_all(CONNECTION).iter().count();
    if named == 1 {
        if let Some(value) = headers.remove(CONNECTION) {
            remove_named(headers, &value, keep_upgrade);
        }
    } else if named > 1 {
        let values: Vec<HeaderValue> = headers.get_all(CONNECTION).iter().cloned().collect();
        headers.remove(CONNECTION);
        for value in &values {
            remove_named(headers, value, keep_upgrade);
        }
    }
    headers.remove(&KEEP_ALIVE);
    headers.remove(&PROXY_CONNECTION);
    headers.remove(TRAILER);
    headers.remove(TRANSFER_ENCODING);
    let te_trailers = {
        let mut values = headers.get_all(TE).iter();
        matches!((values.next(), values.next()), (Some(v), None) if v.as_bytes().eq_ignore_ascii_case(b"trailers"))
    };
    if !te_trailers {
        headers.remove(TE);
    }
    if keep_upgrade {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(UPGRADE);
    }
}

/// A header [`strip_hop_by_hop`] may remove: the hop-by-hop names, and `Connection`, which can
/// name any other.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    *name == CONNECTION
        || *name == TE
        || *name == TRAILER
        || *name == TRANSFER_ENCODING
        || *name == UPGRADE
        || *name == KEEP_ALIVE
        || *name == PROXY_CONNECTION
}

fn remove_named(headers: &mut HeaderMap, connection: &HeaderValue, keep_upgrade: bool) {
    let Ok(text) = connection.to_str() else { return };
    for token in text.split(',').map(str::trim) {
        let protected = token.is_empty()
            || token.eq_ignore_ascii_case(HOST.as_str())
            || (keep_upgrade && token.eq_ignore_ascii_case(UPGRADE.as_str()));
        if !protected {
            headers.remove(token);
        }
    }
}

/// Adds the client to `X-Forwarded-For` and sets `X-Forwarded-Proto` and `X-Forwarded-Host`.
pub(crate) fn add_forwarded(
    headers: &mut HeaderMap,
    client_ip: &HeaderValue,
    scheme: &'static str,
    host: Option<&HeaderValue>,
) {
    let mut existing = headers.get_all(&X_FORWARDED_FOR).iter();
    let appended = match (existing.next(), existing.next()) {
        (None, _) => Some(client_ip.clone()),
        (Some(first), None) => join(&[first.as_bytes()], client_ip),
        (Some(_), Some(_)) => {
            let all: Vec<&[u8]> = headers
                .get_all(&X_FORWARDED_FOR)
                .iter()
                .map(HeaderValue::as_bytes)
                .collect();
            join(&all, client_ip)
        }
    };
    if let Some(value) = appended {
        headers.insert(X_FORWARDED_FOR.clone(), value);
    }
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(scheme));
    if let Some(host) = host {
        headers.insert(X_FORWARDED_HOST.clone(), host.clone());
    }
}

fn join(parts: &[&[u8]], last: &HeaderValue) -> Option<HeaderValue> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 2).sum::<usize>() + last.len());
    for p in parts {
        out.extend_from_slice(p);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(last.as_bytes());
    HeaderValue::from_bytes(&out).ok()
}

/// Gives the request an `x-request-id` (a random one) unless it has one.
pub(crate) fn ensure_request_id(headers: &mut HeaderMap) {
    if headers.contains_key(&REQUEST_ID) {
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut n = fastrand::u128(..);
    let mut buf = [0u8; 32];
    for b in &mut buf {
        *b = HEX[(n & 0xf) as usize];
        n >>= 4;
    }
    let id = HeaderValue::from_bytes(&buf).unwrap_or(HeaderValue::from_static("0"));
    headers.insert(REQUEST_ID.clone(), id);
}

/// The client address as a header value, computed once per connection.
pub(crate) fn client_ip_value(ip: std::net::IpAddr) -> HeaderValue {
    HeaderValue::from_str(&ip.to_string()).unwrap_or(HeaderValue::from_static("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn strips_hop_by_hop_and_connection_named_headers() {
        let mut h = headers(&[
            ("connection", "keep-alive, X-Custom-Hop"),
            ("connection", "close"),
            ("x-custom-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("te", "gzip"),
            ("trailer", "x"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-end-to-end", "kept"),
            ("x-echo-set-header", ""),
        ]);
        strip_hop_by_hop(&mut h, false);
        let mut names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, vec!["x-echo-set-header", "x-end-to-end"]);
    }

    #[test]
    fn messages_without_hop_by_hop_headers_are_unchanged() {
        let mut h = headers(&[("host", "a"), ("x-a", "1"), ("x-a", "2"), ("content-length", "3")]);
        let before = h.clone();
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h, before);
        for name in [
            "keep-alive",
            "proxy-connection",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
        ] {
            let mut h = headers(&[("host", "a"), (name, "x")]);
            strip_hop_by_hop(&mut h, false);
            assert!(!h.contains_key(name), "{name}");
            assert_eq!(h.len(), 1, "{name}");
        }
    }

    #[test]
    fn keeps_te_trailers_and_host() {
        let mut h = headers(&[("te", "trailers"), ("connection", "host"), ("host", "a")]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.get("te").unwrap(), "trailers");
        assert_eq!(h.get("host").unwrap(), "a");
    }

    #[test]
    fn upgrades_keep_upgrade_headers() {
        let mut h = headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "k"),
        ]);
        assert!(is_upgrade(Version::HTTP_11, &h));
        assert!(!is_upgrade(Version::HTTP_2, &h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get("connection").unwrap(), "upgrade");
        assert_eq!(h.get("upgrade").unwrap(), "websocket");
        assert_eq!(h.get("sec-websocket-key").unwrap(), "k");
        assert!(!is_upgrade(Version::HTTP_11, &headers(&[("upgrade", "websocket")])));
    }

    #[test]
    fn forwarded_headers() {
        let ip = client_ip_value("10.1.2.3".parse().unwrap());
        let mut h = HeaderMap::new();
        add_forwarded(&mut h, &ip, "http", Some(&HeaderValue::from_static("example.com:8080")));
        assert_eq!(h.get("x-forwarded-for").unwrap(), "10.1.2.3");
        assert_eq!(h.get("x-forwarded-proto").unwrap(), "http");
        assert_eq!(h.get("x-forwarded-host").unwrap(), "example.com:8080");
        let mut h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "2.2.2.2"),
            ("x-forwarded-proto", "https"),
        ]);
        add_forwarded(&mut h, &ip, "https", None);
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h.get("x-forwarded-for").unwrap(), "1.1.1.1, 2.2.2.2, 10.1.2.3");
        assert_eq!(h.get("x-forwarded-proto").unwrap(), "https");
    }

    #[test]
    fn request_id_is_generated_once() {
        let mut h = HeaderMap::new();
        ensure_request_id(&mut h);
        let id = h.get(&REQUEST_ID).unwrap().clone();
        assert_eq!(id.len(), 32);
        assert!(id.as_bytes().iter().all(u8::is_ascii_hexdigit));
        ensure_request_id(&mut h);
        assert_eq!(h.get_all(&REQUEST_ID).iter().collect::<Vec<_>>(), vec![&id]);
        let mut given = headers(&[("x-request-id", "abc")]);
        ensure_request_id(&mut given);
        assert_eq!(given.get(&REQUEST_ID).unwrap(), "abc");
    }
}
