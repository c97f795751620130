//! Parsing a client's request head (`httparse`, zero-copy into `http` types) and deciding how
//! its body is framed (RFC 9112 §6), whether the connection may carry another request, and
//! which requests are refused before they reach the proxy.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, EXPECT, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
use smallvec::SmallVec;

use crate::forwarding::connection_has;
use crate::head_names::HeadNames;

/// Header slots parsed on the stack; a larger `max_headers` limit parses into a heap vector.
const STACK_HEADERS: usize = 100;
/// Headers the proxy adds to a typical request.
const ADDED_HEADERS: usize = 4;
/// Header spans kept on the stack while a head is parsed (more spill to the heap).
const INLINE_HEADERS: usize = 24;
/// The longest request target `http::Uri` represents.
const MAX_URI_LEN: usize = u16::MAX as usize - 1;

/// How the request body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// No body.
    None,
    /// Exactly this many bytes (more than zero).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) framing: BodyFraming,
    /// The client may send another request on this connection after this one.
    pub(crate) keep_alive: bool,
    /// The client waits for `100 Continue` before sending the body.
    pub(crate) expect_continue: bool,
}

/// Why a request head is refused; each maps to the status answered before closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HeadError {
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("the request head exceeds the size or header count limit")]
    TooLarge,
    #[error("the request target is too long")]
    UriTooLong,
    #[error("unsupported HTTP version")]
    Version,
    #[error("unsupported transfer coding")]
    Coding,
}

impl HeadError {
    /// The status answered to a request refused for this reason.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::Version => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Self::Coding => StatusCode::NOT_IMPLEMENTED,
        }
    }
}

/// Limits on a request head.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeadLimits {
    /// Largest head (request line and header section).
    pub(crate) max_bytes: usize,
    /// Most header fields.
    pub(crate) max_headers: usize,
}

/// Parses a request head at the front of `buf`. `Ok(None)` means more bytes are needed; on
/// success the head's bytes are removed from `buf` (header values and the URI share them).
pub(crate) fn parse(buf: &mut BytesMut, limits: HeadLimits) -> Result<Option<Head>, HeadError> {
    // Uninitialised slots: zeroing them costs more than parsing a typical head.
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    let mut heap = Vec::new();
    let slots = if limits.max_headers <= STACK_HEADERS {
        &mut stack[..limits.max_headers]
    } else {
        heap.resize_with(limits.max_headers, MaybeUninit::uninit);
        &mut heap[..]
    };
    let mut parsed = httparse::Request::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut parsed, buf, slots) {
        Ok(httparse::Status::Complete(len)) if len > limits.max_bytes => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= limits.max_bytes => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(httparse::Error::Version) => return Err(version_error(buf)),
        Err(_) => return Err(HeadError::Malformed("invalid request line or header")),
    };
    let (Some(method), Some(path), Some(minor)) = (parsed.method, parsed.path, parsed.version) else {
        return Err(HeadError::Malformed("incomplete request line"));
    };
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| HeadError::Malformed("invalid method"))?;
    let version = if minor == 1 { Version::HTTP_11 } else { Version::HTTP_10 };
    if path.len() > MAX_URI_LEN {
        return Err(HeadError::UriTooLong);
    }
    // Header values and the target are slices of the head's bytes: note their offsets, then
    // freeze the head and slice it (no copy).
    let base = buf.as_ptr() as usize;
    let target = (path.as_ptr() as usize - base, path.len());
    let mut spans: SmallVec<[(HeaderName, usize, usize); INLINE_HEADERS]> = SmallVec::new();
    let mut names = HeadNames::default();
    for h in parsed.headers.iter() {
        let name =
            HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| HeadError::Malformed("invalid header name"))?;
        names.note(&name);
        spans.push((name, h.value.as_ptr() as usize - base, h.value.len()));
    }
    let head: Bytes = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(target.0..target.0 + target.1))
        .map_err(|_| HeadError::Malformed("invalid request target"))?;
    // Room for the headers the proxy adds (X-Forwarded-*, x-request-id) without growing.
    let mut headers = HeaderMap::with_capacity(spans.len() + ADDED_HEADERS);
    // `drain`, not `into_iter`, which copied the ~1 KB inline array (as in upstream/head.rs).
    for (name, start, len) in spans.drain(..) {
        let value = HeaderValue::from_maybe_shared(head.slice(start..start + len))
            .map_err(|_| HeadError::Malformed("invalid header value"))?;
        headers.append(name, value);
    }
    check_target(&method, &uri)?;
    check_host(version, &headers)?;
    let framing = framing(version, &headers, names)?;
    let keep_alive = if names.connection && connection_has(&headers, "close") {
        false
    } else {
        version == Version::HTTP_11 || names.connection && connection_has(&headers, "keep-alive")
    };
    let expect_continue = version == Version::HTTP_11
        && framing != BodyFraming::None
        && names.expect
        && headers
            .get(EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    Ok(Some(Head {
        method,
        uri,
        version,
        headers,
        framing,
        keep_alive,
        expect_continue,
    }))
}

/// A request line whose version is well-formed (`HTTP/x.y`) but not HTTP/1.0 or 1.1 is answered
/// 505; anything else httparse calls a version error is a malformed request line.
fn version_error(buf: &[u8]) -> HeadError {
    let line = buf
        .trim_ascii_start()
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default()
        .trim_ascii_end();
    let mut parts = line.split(|&b| b == b' ');
    let (Some(_method), Some(_target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return HeadError::Malformed("invalid request line");
    };
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            HeadError::Version
        }
        _ => HeadError::Malformed("invalid HTTP version"),
    }
}

/// RFC 9112 §3.2: origin form or absolute form; authority form only for CONNECT, `*` only for
/// OPTIONS.
fn check_target(method: &Method, uri: &Uri) -> Result<(), HeadError> {
    let authority_form = uri.scheme().is_none() && uri.authority().is_some();
    let asterisk = uri.scheme().is_none() && uri.authority().is_none() && uri.path() == "*";
    let valid = if method == Method::CONNECT {
        authority_form
    } else if asterisk {
        method == Method::OPTIONS
    } else {
        !authority_form
    };
    if valid {
        Ok(())
    } else {
        Err(HeadError::Malformed("request target not allowed for the method"))
    }
}

/// RFC 9112 §3.2: exactly one valid Host on HTTP/1.1 (at most one on HTTP/1.0).
fn check_host(version: Version, headers: &HeaderMap) -> Result<(), HeadError> {
    let mut hosts = headers.get_all(HOST).iter();
    let Some(host) = hosts.next() else {
        return if version == Version::HTTP_11 {
            Err(HeadError::Malformed("missing Host"))
        } else {
            Ok(())
        };
    };
    if hosts.next().is_some() {
        return Err(HeadError::Malformed("more than one Host"));
    }
    let bytes = host.as_bytes();
    if bytes.is_empty() || valid_host(bytes) {
        Ok(())
    } else {
        Err(HeadError::Malformed("invalid Host"))
    }
}

/// `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2): an IP literal in brackets or a
/// reg-name (an IPv4 address is one), then an optional port of digits. Checked by hand because
/// `http::uri::Authority` copies the value to parse it, once per request.
pub(super) fn valid_host(host: &[u8]) -> bool {
    let (name_ok, rest) = match host.strip_prefix(b"[") {
        Some(inner) => match inner.iter().position(|&b| b == b']') {
            Some(end) => (ip_literal(&inner[..end]), &inner[end + 1..]),
            None => return false,
        },
        None => {
            let end = host.iter().position(|&b| b == b':').unwrap_or(host.len());
            (host[..end].iter().all(|&b| reg_name_byte(b)), &host[end..])
        }
    };
    let port_ok = match rest {
        [] => true,
        [b':', port @ ..] => port.len() <= 5 && port.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    name_ok && port_ok
}

/// The inside of `[...]`: an IPv6 address (possibly with an IPv4 tail) or `vX.` IPvFuture.
fn ip_literal(inner: &[u8]) -> bool {
    match inner {
        [] => false,
        [b'v' | b'V', rest @ ..] => {
            !rest.is_empty() && rest.iter().all(|&b| reg_name_byte(b) || b == b':') && rest.contains(&b'.')
        }
        _ => inner.contains(&b':') && inner.iter().all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.'),
    }
}

/// unreserved / pct-encoded (its `%` and hex digits) / sub-delims.
fn reg_name_byte(b: u8) -> bool {
    REG_NAME[usize::from(b)]
}

/// [`reg_name_byte`] as a table: the search through the delimiters for every `.` of a Host
/// made `check_host` 431 instructions per request, 327 with the table.
const REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        i += 1;
    }
    table
};

/// RFC 9112 §6.3 for requests. A request with both Transfer-Encoding and Content-Length is
/// refused rather than resolved in favour of one: two parsers that resolve it differently are
/// how requests are smuggled. Only the chunked coding is supported (as nginx does).
fn framing(version: Version, headers: &HeaderMap, names: HeadNames) -> Result<BodyFraming, HeadError> {
    if names.transfer_encoding {
        if version != Version::HTTP_11 {
            return Err(HeadError::Malformed("Transfer-Encoding in an HTTP/1.0 request"));
        }
        if names.content_length {
            return Err(HeadError::Malformed("both Transfer-Encoding and Content-Length"));
        }
        let mut codings = headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|c| !c.is_empty());
        let mut chunked = 0;
        let mut last_chunked = false;
        for coding in codings.by_ref() {
            last_chunked = coding.eq_ignore_ascii_case(b"chunked");
            if !last_chunked {
                return Err(HeadError::Coding);
            }
            chunked += 1;
        }
        return if chunked == 1 && last_chunked {
            Ok(BodyFraming::Chunked)
        } else {
            Err(HeadError::Malformed("invalid Transfer-Encoding"))
        };
    }
    if !names.content_length {
        return Ok(BodyFraming::None);
    }
    let mut length: Option<u64> = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        for part in value.as_bytes().split(|&b| b == b',') {
            let part = part.trim_ascii();
            if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
                return Err(HeadError::Malformed("invalid Content-Length"));
            }
            let n = part.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            if length.is_some_and(|l| l != n) {
                return Err(HeadError::Malformed("conflicting Content-Length values"));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        None | Some(0) => BodyFraming::None,
        Some(n) => BodyFraming::Length(n),
    })
}
