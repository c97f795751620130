//! Body types: what is streamed upstream and what is streamed back to the client.
//!
//! Both are enums rather than boxed trait objects so a request costs no allocation for them,
//! and both stream frame by frame: nothing buffers a whole body.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::logging::Completion;
use crate::mirror::{MirrorBody, TeeBody};
use crate::server::h1::{ClientBodyError, RequestBody as Http1Body};
use crate::server::h2::{Http2Body, RequestBodyError as Http2BodyError};
use crate::upstream::{H1Body, H1BodyError};

/// Why a request body stream broke.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// An HTTP/1 client's body failed (closed early, malformed chunking, …).
    #[error("downstream body: {0}")]
    Http1(#[from] ClientBodyError),
    /// An HTTP/2 client's body failed (stream reset, …).
    #[error("downstream body: {0}")]
    Http2(#[from] Http2BodyError),
    /// A mirror's copy was abandoned because the mirror fell behind the main request.
    #[error("the mirror fell behind and its copy was dropped")]
    MirrorLagged,
}

/// A client's request body, as its protocol's server reads it.
pub(crate) enum DownstreamBody {
    /// The request has no body.
    Empty,
    /// Read by Rauta's HTTP/1 server.
    Http1(Http1Body),
    /// Read from its stream by the HTTP/2 server.
    Http2(Http2Body),
}

impl Body for DownstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Http1(b) => Pin::new(b).poll_frame(cx).map_err(BodyError::from),
            Self::Http2(b) => Pin::new(b).poll_frame(cx).map_err(BodyError::from),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Http1(b) => b.is_end_stream(),
            Self::Http2(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Http1(b) => b.size_hint(),
            Self::Http2(b) => b.size_hint(),
        }
    }
}

/// A body sent upstream.
pub(crate) enum RequestBody {
    /// No body (retries, bodiless mirrors).
    Empty,
    /// The client's body, relayed as it arrives.
    Downstream(DownstreamBody),
    /// The client's body, also copied to mirrors.
    Tee(TeeBody),
    /// A mirror's copy of a client body.
    Mirror(MirrorBody),
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Downstream(b) => Pin::new(b).poll_frame(cx),
            Self::Tee(b) => Pin::new(b).poll_frame(cx),
            Self::Mirror(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Downstream(b) => b.is_end_stream(),
            Self::Tee(b) => b.is_end_stream(),
            Self::Mirror(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Downstream(b) => b.size_hint(),
            Self::Tee(b) => b.size_hint(),
            Self::Mirror(b) => b.size_hint(),
        }
    }
}

/// An upstream response body.
pub(crate) enum UpstreamBody {
    /// Read by Rauta's HTTP/1.1 client.
    H1(H1Body),
    /// Read by hyper's client (HTTP/2, TLS, upgrades).
    Hyper(Incoming),
    /// No body (the head said so).
    Empty,
}

/// Why an upstream response body broke off.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamBodyError {
    #[error(transparent)]
    H1(#[from] H1BodyError),
    #[error(transparent)]
    Hyper(#[from] hyper::Error),
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = UpstreamBodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            Self::H1(b) => Pin::new(b).poll_frame(cx).map_err(UpstreamBodyError::from),
            Self::Hyper(b) => Pin::new(b).poll_frame(cx).map_err(UpstreamBodyError::from),
            Self::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::H1(b) => b.is_end_stream(),
            Self::Hyper(b) => b.is_end_stream(),
            Self::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::H1(b) => b.size_hint(),
            Self::Hyper(b) => b.size_hint(),
            Self::Empty => SizeHint::with_exact(0),
        }
    }
}

/// A body sent to the client; finishing or dropping it writes the access log and metrics.
pub(crate) struct ResponseBody {
    inner: Inner,
    completion: Option<Completion>,
}

enum Inner {
    Upstream(UpstreamBody),
    Local(Option<Bytes>),
}

impl ResponseBody {
    /// An upstream response body.
    pub(crate) fn upstream(body: UpstreamBody) -> Self {
        Self {
            inner: Inner::Upstream(body),
            completion: None,
        }
    }

    /// A body generated by the proxy.
    pub(crate) fn local(bytes: Bytes) -> Self {
        let inner = Inner::Local((!bytes.is_empty()).then_some(bytes));
        Self {
            inner,
            completion: None,
        }
    }

    /// Ties the request's log and metrics to the end of this body.
    pub(crate) fn finish_with(&mut self, completion: Completion) {
        self.completion = Some(completion);
    }

    fn count(&mut self, frame: &Frame<Bytes>) {
        if let (Some(data), Some(c)) = (frame.data_ref(), self.completion.as_mut()) {
            c.add_bytes(data.len());
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = UpstreamBodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, UpstreamBodyError>>> {
        let this = self.get_mut();
        let next = match &mut this.inner {
            Inner::Upstream(b) => ready!(Pin::new(b).poll_frame(cx)),
            Inner::Local(bytes) => bytes.take().map(|b| Ok(Frame::data(b))),
        };
        match &next {
            Some(Ok(frame)) => this.count(frame),
            Some(Err(_)) => {
                if let Some(c) = this.completion.as_mut() {
                    c.body_failed();
                }
            }
            None => drop(this.completion.take()),
        }
        Poll::Ready(next)
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Upstream(b) => b.is_end_stream(),
            Inner::Local(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Upstream(b) => b.size_hint(),
            Inner::Local(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}
