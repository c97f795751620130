//! What a proxy changes in the headers it relays: hop-by-hop headers out, `X-Forwarded-*` and
//! `x-request-id` in.

use http::header::{CONNECTION, Entry, HOST, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
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
///
/// Compared as bytes: the tokens are ASCII, and a value is not first checked as a string
/// (that check and the string splitting were ~480 instructions for one `keep-alive`, on every
/// upstream response head).
pub(crate) fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .any(|v| list_has(v.as_bytes(), token.as_bytes()))
}

/// Whether the comma-separated `list` has `token` as one of its elements (case-insensitive,
/// optional whitespace around each element).
pub(crate) fn list_has(list: &[u8], token: &[u8]) -> bool {
    list.split(|&b| b == b',')
        .any(|element| element.trim_ascii().eq_ignore_ascii_case(token))
}

/// Removes hop-by-hop headers: `Connection` and every header it names, `Keep-Alive`,
/// `Proxy-Connection`, `TE` (except `te: trailers`, which gRPC needs end to end), `Trailer`,
/// `Transfer-Encoding` and `Upgrade`. With `keep_upgrade`, `Upgrade` and `Connection: upgrade`
/// are relayed so the peer can switch protocols.
///
/// Twice per proxied request: one pass over the names (standard names compare as integers)
/// finds which of them are present, and only those are removed. Most responses carry just
/// `Connection: keep-alive`; looking every hop-by-hop name up by hash cost ten lookups there.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let mut present = HopByHop::default();
    for name in headers.keys() {
        present.add(name);
    }
    if present.is_empty() && !keep_upgrade {
        return;
    }
    // Hop-by-hop names a `Connection` header lists are removed even where they would be kept.
    let mut named = HopByHop::default();
    if present.has(HopByHop::CONNECTION) {
        let mut values = headers.get_all(CONNECTION).iter();
        match (values.next(), values.next()) {
            // The usual value, a hop-by-hop name removed below anyway: no tokenising (with the
            // request's pass, 1,180 -> 738 instructions per request; docs/benchmarks.md,
            // "Session 13").
            (Some(value), None) if value.as_bytes().eq_ignore_ascii_case(b"keep-alive") => {
                headers.remove(CONNECTION);
            }
            (Some(value), None) => {
                let value = value.clone();
                headers.remove(CONNECTION);
                remove_named(headers, &value, keep_upgrade, &mut named);
            }
            _ => {
                let values: Vec<HeaderValue> = headers.get_all(CONNECTION).iter().cloned().collect();
                headers.remove(CONNECTION);
                for value in &values {
                    remove_named(headers, value, keep_upgrade, &mut named);
                }
            }
        }
    }
    for (bit, name) in [
        (HopByHop::KEEP_ALIVE, &KEEP_ALIVE),
        (HopByHop::PROXY_CONNECTION, &PROXY_CONNECTION),
        (HopByHop::TRAILER, &TRAILER),
        (HopByHop::TRANSFER_ENCODING, &TRANSFER_ENCODING),
    ] {
        if present.has(bit) {
            headers.remove(name);
        }
    }
    if present.has(HopByHop::TE) {
        let te_trailers = {
            let mut values = headers.get_all(TE).iter();
            matches!((values.next(), values.next()), (Some(v), None) if v.as_bytes().eq_ignore_ascii_case(b"trailers"))
        };
        if !te_trailers || named.has(HopByHop::TE) {
            headers.remove(TE);
        }
    }
    if keep_upgrade {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    } else if present.has(HopByHop::UPGRADE) {
        headers.remove(UPGRADE);
    }
}

/// Which hop-by-hop header names a message has, one bit each.
#[derive(Default, Clone, Copy)]
struct HopByHop(u8);

impl HopByHop {
    const CONNECTION: u8 = 1;
    const KEEP_ALIVE: u8 = 1 << 1;
    const PROXY_CONNECTION: u8 = 1 << 2;
    const TE: u8 = 1 << 3;
    const TRAILER: u8 = 1 << 4;
    const TRANSFER_ENCODING: u8 = 1 << 5;
    const UPGRADE: u8 = 1 << 6;

    fn bit_of(name: &HeaderName) -> u8 {
        if *name == CONNECTION {
            Self::CONNECTION
        } else if *name == TE {
            Self::TE
        } else if *name == TRAILER {
            Self::TRAILER
        } else if *name == TRANSFER_ENCODING {
            Self::TRANSFER_ENCODING
        } else if *name == UPGRADE {
            Self::UPGRADE
        } else if *name == KEEP_ALIVE {
            Self::KEEP_ALIVE
        } else if *name == PROXY_CONNECTION {
            Self::PROXY_CONNECTION
        } else {
            0
        }
    }

    /// The bit of a name as a `Connection` value spells it (any case).
    fn bit_of_token(token: &str) -> u8 {
        [
            (Self::CONNECTION, &CONNECTION),
            (Self::TE, &TE),
            (Self::TRAILER, &TRAILER),
            (Self::TRANSFER_ENCODING, &TRANSFER_ENCODING),
            (Self::UPGRADE, &UPGRADE),
            (Self::KEEP_ALIVE, &KEEP_ALIVE),
            (Self::PROXY_CONNECTION, &PROXY_CONNECTION),
        ]
        .into_iter()
        .find(|(_, name)| token.eq_ignore_ascii_case(name.as_str()))
        .map_or(0, |(bit, _)| bit)
    }

    fn add(&mut self, name: &HeaderName) {
        self.0 |= Self::bit_of(name);
    }

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Removes the headers a `Connection` value names. The hop-by-hop names among them are left to
/// the caller, which removes those anyway (`named` records them); `close` and `keep-alive`, the
/// usual tokens, then cost no lookup.
fn remove_named(headers: &mut HeaderMap, connection: &HeaderValue, keep_upgrade: bool, named: &mut HopByHop) {
    let Ok(text) = connection.to_str() else { return };
    for token in text.split(',').map(str::trim) {
        let protected = token.is_empty()
            || token.eq_ignore_ascii_case(HOST.as_str())
            || (keep_upgrade && token.eq_ignore_ascii_case(UPGRADE.as_str()));
        if protected {
            continue;
        }
        if token.eq_ignore_ascii_case("close") && !headers.keys().any(|k| k.as_str() == "close") {
            continue;
        }
        match HopByHop::bit_of_token(token) {
            0 => {
                headers.remove(token);
            }
            bit => named.0 |= bit,
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
    // One lookup (`entry`) for the read and the write: hashing a custom name is the costly part.
    match headers.entry(&X_FORWARDED_FOR) {
        Entry::Vacant(slot) => {
            slot.insert(client_ip.clone());
        }
        Entry::Occupied(mut present) => {
            let joined = {
                let all: Vec<&[u8]> = present.iter().map(HeaderValue::as_bytes).collect();
                join(&all, client_ip)
            };
            if let Some(value) = joined {
                present.insert(value);
            }
        }
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
    let Entry::Vacant(slot) = headers.entry(&REQUEST_ID) else {
        return;
    };
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 32];
    for (digits, byte) in buf.chunks_exact_mut(2).zip(fastrand::u128(..).to_le_bytes()) {
        digits[0] = HEX[usize::from(byte >> 4)];
        digits[1] = HEX[usize::from(byte & 0xf)];
    }
    let id = HeaderValue::from_bytes(&buf).unwrap_or(HeaderValue::from_static("0"));
    slot.insert(id);
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
    fn connection_tokens_are_whole_list_elements_in_any_case() {
        let h = headers(&[("connection", " Keep-Alive ,\tUpgrade"), ("connection", "CLOSE")]);
        assert!(connection_has(&h, "keep-alive"));
        assert!(connection_has(&h, "upgrade"));
        assert!(connection_has(&h, "close"));
        // Parts of an element, or an element with more in it, do not count.
        let h = headers(&[("connection", "keep-alive-ish, clo, x-close")]);
        assert!(!connection_has(&h, "keep-alive"));
        assert!(!connection_has(&h, "close"));
        assert!(!connection_has(&HeaderMap::new(), "close"));
        // A value with bytes outside ASCII still has its ASCII elements read.
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_bytes(b"\xe9t\xe9, close").unwrap());
        assert!(connection_has(&h, "close"));
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
    fn hop_by_hop_names_listed_in_connection_go_even_where_they_would_stay() {
        let mut h = headers(&[
            ("connection", "TE, Close"),
            ("te", "trailers"),
            ("close", "x"),
            ("x-a", "1"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.keys().map(HeaderName::as_str).collect::<Vec<_>>(), ["x-a"]);
        let mut h = headers(&[("connection", "keep-alive"), ("date", "d"), ("server", "s")]);
        strip_hop_by_hop(&mut h, false);
        let mut names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["date", "server"]);
        let mut h = headers(&[
            ("connection", "upgrade, x-b"),
            ("upgrade", "h2c"),
            ("x-b", "1"),
            ("x-c", "2"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.keys().map(HeaderName::as_str).collect::<Vec<_>>(), ["x-c"]);
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
