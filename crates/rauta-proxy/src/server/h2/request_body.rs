//! An HTTP/2 client's request body, read from its h2 stream.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use h2::{Reason, RecvStream};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

/// Why a client's HTTP/2 request body broke off.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(crate) struct RequestBodyError(#[from] h2::Error);

/// DATA frames, then trailers, from one stream. Each chunk read is handed back to the client's
/// flow-control window, so an upload moves as fast as the upstream takes it.
pub(crate) struct Http2Body {
    recv: RecvStream,
    data_done: bool,
    /// What `content-length` announced, less what has arrived.
    remaining: Option<u64>,
}

impl Http2Body {
    pub(crate) fn new(recv: RecvStream, headers: &HeaderMap) -> Self {
        // HEADERS with END_STREAM: no body, whatever `content-length` says (h2 has checked it).
        let remaining = if recv.is_end_stream() {
            Some(0)
        } else {
            content_length(headers)
        };
        Self {
            recv,
            data_done: false,
            remaining,
        }
    }
}

/// The length the `content-length` values agree on, if they do (h2 itself refuses a stream
/// whose DATA does not add up to it).
fn content_length(headers: &HeaderMap) -> Option<u64> {
    crate::body_framing::agreed_content_length(headers).ok().flatten()
}

/// RST_STREAM with NO_ERROR ends a body early without failing it: the server answered before
/// reading all of it (RFC 9113 §8.1).
fn early_end(e: &h2::Error) -> bool {
    e.reason() == Some(Reason::NO_ERROR)
}

impl Body for Http2Body {
    type Data = Bytes;
    type Error = RequestBodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, RequestBodyError>>> {
        let this = self.get_mut();
        if !this.data_done {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // Fails only once the stream is gone, which the next poll reports.
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    if let Some(n) = this.remaining.as_mut() {
                        *n = n.saturating_sub(data.len() as u64);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) if early_end(&e) => return Poll::Ready(None),
                Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                None => this.data_done = true,
            }
        }
        match ready!(this.recv.poll_trailers(cx)) {
            Ok(trailers) => Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t)))),
            Err(e) if early_end(&e) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(e.into()))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.remaining.map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;
    use http::header::CONTENT_LENGTH;

    fn lengths(values: &[&'static str]) -> Option<u64> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(CONTENT_LENGTH, http::HeaderValue::from_static(v));
        }
        super::content_length(&headers)
    }

    #[test]
    fn content_length_counts_only_when_every_value_agrees() {
        assert_eq!(lengths(&[]), None);
        assert_eq!(lengths(&["12"]), Some(12));
        assert_eq!(lengths(&["12", "12, 12"]), Some(12));
        assert_eq!(lengths(&["12", "13"]), None);
        assert_eq!(lengths(&["x"]), None);
        assert_eq!(lengths(&[""]), None);
    }
}
