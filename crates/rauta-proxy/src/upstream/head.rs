//! HTTP/1.1 message heads on upstream connections: encoding the request head and parsing the
//! response head (with `httparse`), including how the response body is framed (RFC 9112 §6).

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Uri, Version};
use smallvec::SmallVec;

use crate::body_framing::{agreed_content_length, content_length_line, header_line};
use crate::forwarding::connection_has;
use crate::head_names::HeadNames;

/// Most headers accepted in an upstream response head.
const MAX_HEADERS: usize = 128;
/// Header spans kept on the stack while a head is parsed (more spill to the heap).
const INLINE_HEADERS: usize = 24;
/// Largest upstream response head accepted (status line and headers).
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How the request body is framed on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestFraming {
    /// No body and no framing header.
    None,
    /// `Content-Length: n` (n may be 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Appends the request head to `out`: request line, the headers (framing headers replaced by
/// `framing`'s, `Expect` dropped because the downstream side already answered it), blank line.
pub(crate) fn encode_request(
    out: &mut Vec<u8>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    framing: RequestFraming,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    match (uri.path_and_query(), uri.authority()) {
        (_, Some(authority)) if method == Method::CONNECT => out.extend_from_slice(authority.as_str().as_bytes()),
        (Some(pq), _) => out.extend_from_slice(pq.as_str().as_bytes()),
        (None, _) => out.push(b'/'),
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == EXPECT {
            continue;
        }
        header_line(out, name, value.as_bytes());
    }
    match framing {
        RequestFraming::None => {}
        RequestFraming::Length(n) => content_length_line(out, n),
        RequestFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// How the response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResponseFraming {
    /// No body (HEAD, 1xx, 204, 304, or `Content-Length: 0`).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the upstream closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct ParsedHead {
    pub(crate) response: Response<()>,
    pub(crate) framing: ResponseFraming,
    /// Whether the connection may carry another request once this response is read.
    pub(crate) keep_alive: bool,
}

/// Why an upstream response head is unusable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HeadError {
    #[error("malformed response head: {0}")]
    Parse(#[from] httparse::Error),
    #[error("invalid response header {0}")]
    Header(String),
    #[error("invalid Content-Length")]
    ContentLength,
    #[error("the response head exceeds {MAX_HEAD_BYTES} bytes")]
    TooLarge,
    #[error("unexpected 101 Switching Protocols to a request that asked for no upgrade")]
    UnexpectedSwitch,
}

/// Parses a response head at the start of `buf`. `Ok(None)` means more bytes are needed; on
/// success the head's bytes are removed from `buf` (header values share them, no copy).
/// Interim 1xx responses other than 101 are consumed and skipped.
pub(crate) fn parse_response(buf: &mut BytesMut, request_method: &Method) -> Result<Option<ParsedHead>, HeadError> {
    loop {
        // Uninitialised slots: zeroing 128 headers costs more than parsing a typical head.
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut []);
        let len =
            match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut parsed, buf, &mut slots)? {
                httparse::Status::Complete(len) => len,
                httparse::Status::Partial if buf.len() >= MAX_HEAD_BYTES => return Err(HeadError::TooLarge),
                httparse::Status::Partial => return Ok(None),
            };
        let code = parsed.code.unwrap_or(0);
        let status = StatusCode::from_u16(code).map_err(|_| HeadError::Header(format!("status {code}")))?;
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            let _ = buf.split_to(len);
            continue;
        }
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(HeadError::UnexpectedSwitch);
        }
        let http10 = parsed.version == Some(0);
        // Header values are slices of the head's bytes: find each one's offset in `buf`.
        let base = buf.as_ptr() as usize;
        let mut spans: SmallVec<[(HeaderName, usize, usize); INLINE_HEADERS]> = SmallVec::new();
        let mut names = HeadNames::default();
        for h in parsed.headers.iter() {
            let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| HeadError::Header(h.name.to_owned()))?;
            names.note(&name);
            let start = h.value.as_ptr() as usize - base;
            spans.push((name, start, start + h.value.len()));
        }
        let head: Bytes = buf.split_to(len).freeze();
        let mut headers = HeaderMap::with_capacity(spans.len());
        // `drain`, not `into_iter`: moving the inline array (~1 KB) into an iterator cost a
        // 136-instruction copy per response (docs/benchmarks.md, "Session 13").
        for (name, start, end) in spans.drain(..) {
            let value = HeaderValue::from_maybe_shared(head.slice(start..end))
                .map_err(|_| HeadError::Header(name.as_str().to_owned()))?;
            headers.append(name, value);
        }
        let (framing, mut keep_alive) = framing(status, request_method, &headers, names)?;
        let connection_has = |token| names.connection && connection_has(&headers, token);
        if http10 && !connection_has("keep-alive") || connection_has("close") {
            keep_alive = false;
        }
        let mut response = Response::new(());
        *response.status_mut() = status;
        *response.version_mut() = if http10 { Version::HTTP_10 } else { Version::HTTP_11 };
        *response.headers_mut() = headers;
        return Ok(Some(ParsedHead {
            response,
            framing,
            keep_alive,
        }));
    }
}

/// RFC 9112 §6.3: the body length of a response, and whether the connection survives it.
fn framing(
    status: StatusCode,
    method: &Method,
    headers: &HeaderMap,
    names: HeadNames,
) -> Result<(ResponseFraming, bool), HeadError> {
    if method == Method::HEAD || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Ok((ResponseFraming::Empty, true));
    }
    if names.transfer_encoding {
        // Chunked must be the final coding; anything else is delimited by the close. A response
        // with both framings is suspect (smuggling): never reuse its connection.
        let chunked_last = headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"));
        let reusable = chunked_last && !names.content_length;
        return Ok(if chunked_last {
            (ResponseFraming::Chunked, reusable)
        } else {
            (ResponseFraming::UntilClose, false)
        });
    }
    if !names.content_length {
        return Ok((ResponseFraming::UntilClose, false));
    }
    let length = agreed_content_length(headers).map_err(|_| HeadError::ContentLength)?;
    Ok(match length {
        Some(0) => (ResponseFraming::Empty, true),
        Some(n) => (ResponseFraming::Length(n), true),
        None => (ResponseFraming::UntilClose, false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8], method: &Method) -> Result<Option<ParsedHead>, HeadError> {
        parse_response(&mut BytesMut::from(bytes), method)
    }

    #[test]
    fn request_heads_carry_the_framing_we_choose() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("app"));
        headers.insert("content-length", HeaderValue::from_static("99"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("expect", HeaderValue::from_static("100-continue"));
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        let mut out = Vec::new();
        let uri = Uri::from_static("/p?q=1");
        encode_request(&mut out, &Method::POST, &uri, &headers, RequestFraming::Length(12345));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /p?q=1 HTTP/1.1\r\nhost: app\r\nx-a: 1\r\nx-a: 2\r\ncontent-length: 12345\r\n\r\n"
        );
        let mut out = Vec::new();
        encode_request(&mut out, &Method::PUT, &uri, &HeaderMap::new(), RequestFraming::Chunked);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "PUT /p?q=1 HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        let mut out = Vec::new();
        encode_request(
            &mut out,
            &Method::GET,
            &uri,
            &HeaderMap::new(),
            RequestFraming::Length(0),
        );
        assert!(String::from_utf8(out).unwrap().contains("content-length: 0\r\n"));
        let mut out = Vec::new();
        let connect = Uri::from_static("example.com:443");
        encode_request(
            &mut out,
            &Method::CONNECT,
            &connect,
            &HeaderMap::new(),
            RequestFraming::None,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "CONNECT example.com:443 HTTP/1.1\r\n\r\n"
        );
    }

    #[test]
    fn response_framing_follows_rfc_9112() {
        let get = Method::GET;
        let cases: &[(&[u8], &Method, ResponseFraming, bool)] = &[
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n",
                &get,
                ResponseFraming::Length(5),
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
                &get,
                ResponseFraming::Length(5),
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
                &get,
                ResponseFraming::Empty,
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n",
                &Method::HEAD,
                ResponseFraming::Empty,
                true,
            ),
            (b"HTTP/1.1 204 No Content\r\n\r\n", &get, ResponseFraming::Empty, true),
            (
                b"HTTP/1.1 304 Not Modified\r\ncontent-length: 7\r\n\r\n",
                &get,
                ResponseFraming::Empty,
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                &get,
                ResponseFraming::Chunked,
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
                &get,
                ResponseFraming::Chunked,
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n",
                &get,
                ResponseFraming::Chunked,
                false,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n",
                &get,
                ResponseFraming::UntilClose,
                false,
            ),
            (b"HTTP/1.1 200 OK\r\n\r\n", &get, ResponseFraming::UntilClose, false),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: close\r\n\r\n",
                &get,
                ResponseFraming::Length(1),
                false,
            ),
            (
                b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n",
                &get,
                ResponseFraming::Length(1),
                false,
            ),
            (
                b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\nconnection: keep-alive\r\n\r\n",
                &get,
                ResponseFraming::Length(1),
                true,
            ),
        ];
        for (bytes, method, framing, keep_alive) in cases {
            let head = parse(bytes, method).unwrap().unwrap();
            let text = String::from_utf8_lossy(bytes);
            assert_eq!(head.framing, *framing, "{text}");
            assert_eq!(head.keep_alive, *keep_alive, "{text}");
        }
    }

    #[test]
    fn bad_lengths_and_oversized_heads_are_errors() {
        for bad in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 5, 6\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: +1\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
        ] {
            assert!(parse(bad, &Method::GET).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let big = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD_BYTES));
        assert!(matches!(parse(big.as_bytes(), &Method::GET), Err(HeadError::TooLarge)));
    }

    #[test]
    fn partial_heads_wait_and_interim_responses_are_skipped() {
        assert!(
            parse(b"HTTP/1.1 200 OK\r\ncontent-len", &Method::GET)
                .unwrap()
                .is_none()
        );
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nx-y: z\r\ncontent-length: 2\r\n\r\nok"[..],
        );
        let head = parse_response(&mut buf, &Method::POST).unwrap().unwrap();
        assert_eq!(head.response.status(), StatusCode::CREATED);
        assert_eq!(head.response.headers()["x-y"], "z");
        assert_eq!(&buf[..], b"ok", "the body stays in the buffer");
    }
}
