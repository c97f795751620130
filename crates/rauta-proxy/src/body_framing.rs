//! Writing an HTTP/1.1 message body the way its head announced it (RFC 9112 §6, §7.1): a
//! Content-Length checked against the frames sent, or the chunked coding with its trailer
//! section. Shared by the server's responses and the upstream client's requests; each decides
//! itself when to write what this appends to its buffer.

use std::io::Write as _;

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HOST, MAX_FORWARDS,
    SET_COOKIE, TE, TRAILER, TRANSFER_ENCODING,
};
use http::{HeaderMap, HeaderName};
use http_body::Frame;

/// A `content-length` that is not a decimal number, or two that disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadContentLength;

/// The length every `content-length` value, and every member of a list in one, agrees on
/// (RFC 9110 §8.6); `Ok(None)` when there is none. Read by the upstream client (response
/// framing) and the HTTP/2 server (a request body's size hint).
pub(crate) fn agreed_content_length(headers: &HeaderMap) -> Result<Option<u64>, BadContentLength> {
    let mut length: Option<u64> = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        for part in value.to_str().map_err(|_| BadContentLength)?.split(',') {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(BadContentLength);
            }
            let n: u64 = part.parse().map_err(|_| BadContentLength)?;
            if length.is_some_and(|l| l != n) {
                return Err(BadContentLength);
            }
            length = Some(n);
        }
    }
    Ok(length)
}

/// A data frame would take the body past its announced length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLong;

/// The framing of one outgoing body and how much of it is left.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyFramer {
    chunked: bool,
    /// Bytes still owed under a Content-Length.
    remaining: Option<u64>,
}

impl BodyFramer {
    /// Exactly `n` bytes, as a Content-Length announced.
    pub(crate) fn length(n: u64) -> Self {
        Self {
            chunked: false,
            remaining: Some(n),
        }
    }

    /// The chunked coding.
    pub(crate) fn chunked() -> Self {
        Self {
            chunked: true,
            remaining: None,
        }
    }

    /// Delimited by the end of the connection (HTTP/1.0 clients): bytes as they come.
    pub(crate) fn until_close() -> Self {
        Self {
            chunked: false,
            remaining: None,
        }
    }

    /// Accounts for `len` bytes of data and appends what precedes them (a chunk-size line).
    pub(crate) fn start_data(&mut self, out: &mut Vec<u8>, len: usize) -> Result<(), TooLong> {
        if let Some(left) = self.remaining.as_mut() {
            *left = left.checked_sub(len as u64).ok_or(TooLong)?;
        }
        if self.chunked {
            // Writing to a Vec cannot fail.
            let _ = write!(out, "{len:x}\r\n");
        }
        Ok(())
    }

    /// What follows a data frame: the CRLF that ends a chunk.
    pub(crate) fn data_tail(&self) -> &'static [u8] {
        if self.chunked { b"\r\n" } else { b"" }
    }

    /// Whether every announced byte has been accounted for.
    pub(crate) fn complete(&self) -> bool {
        self.remaining.is_none_or(|left| left == 0)
    }

    /// Appends the end of a chunked body: the last chunk and the trailer fields that may be sent
    /// in a trailer section (nothing for other framings).
    pub(crate) fn finish(&self, out: &mut Vec<u8>, trailers: Option<&HeaderMap>) {
        if !self.chunked {
            return;
        }
        out.extend_from_slice(b"0\r\n");
        for (name, value) in trailers.into_iter().flatten() {
            if allowed_in_trailers(name) {
                header_line(out, name, value.as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// The data of `frame`, or `None` after keeping its trailers in `trailers` (empty data is `None`
/// too: nothing to frame).
pub(crate) fn data_of(frame: Frame<Bytes>, trailers: &mut Option<HeaderMap>) -> Option<Bytes> {
    match frame.into_data() {
        Ok(data) => (!data.is_empty()).then_some(data),
        Err(frame) => {
            if let Ok(fields) = frame.into_trailers() {
                *trailers = Some(fields);
            }
            None
        }
    }
}

/// Appends `content-length: n` and its CRLF. Through `itoa`: `write!` went through the
/// formatting machinery, 331 instructions for a response's length (docs/benchmarks.md,
/// "Session 13").
pub(crate) fn content_length_line(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(b"content-length: ");
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `name: value` and its CRLF.
pub(crate) fn header_line(out: &mut Vec<u8>, name: &HeaderName, value: &[u8]) {
    out.extend_from_slice(name.as_str().as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Fields a trailer section may not carry (framing, routing, authentication, controls; RFC 9110
/// §6.5.1): dropped.
fn allowed_in_trailers(name: &HeaderName) -> bool {
    ![
        AUTHORIZATION,
        CACHE_CONTROL,
        CONTENT_ENCODING,
        CONTENT_LENGTH,
        CONTENT_RANGE,
        CONTENT_TYPE,
        HOST,
        MAX_FORWARDS,
        SET_COOKIE,
        TRAILER,
        TRANSFER_ENCODING,
        TE,
    ]
    .contains(name)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn lengths_are_held_to_what_was_announced() {
        let mut out = Vec::new();
        let mut framer = BodyFramer::length(5);
        assert_eq!(framer.start_data(&mut out, 3), Ok(()));
        assert!(!framer.complete());
        assert_eq!(framer.start_data(&mut out, 3), Err(TooLong));
        assert_eq!(framer.start_data(&mut out, 2), Ok(()));
        assert!(framer.complete());
        framer.finish(&mut out, None);
        assert!(out.is_empty(), "a length-framed body adds no framing bytes");
        assert!(BodyFramer::until_close().complete());
    }

    #[test]
    fn chunks_and_trailer_sections() {
        let mut out = Vec::new();
        let mut framer = BodyFramer::chunked();
        framer.start_data(&mut out, 300).unwrap();
        out.extend_from_slice(b"...");
        out.extend_from_slice(framer.data_tail());
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        trailers.insert(CONTENT_LENGTH, HeaderValue::from_static("3"));
        framer.finish(&mut out, Some(&trailers));
        assert_eq!(out, b"12c\r\n...\r\n0\r\ngrpc-status: 0\r\n\r\n");
    }

    #[test]
    fn frames_give_their_data_or_keep_their_trailers() {
        let mut trailers = None;
        assert_eq!(
            data_of(Frame::data(Bytes::from_static(b"ab")), &mut trailers).as_deref(),
            Some(&b"ab"[..])
        );
        assert_eq!(data_of(Frame::data(Bytes::new()), &mut trailers), None);
        let mut fields = HeaderMap::new();
        fields.insert("x-t", HeaderValue::from_static("1"));
        assert_eq!(data_of(Frame::trailers(fields.clone()), &mut trailers), None);
        assert_eq!(trailers, Some(fields));
    }
}
