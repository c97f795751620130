//! The body of an HTTP/1 request, read from the connection as the proxy polls it: framed by
//! Content-Length or chunked (with trailers), `100 Continue` written the first time it needs
//! bytes the client has not sent yet.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::io::{BodyState, ConnIo, SharedIo, lock};
use crate::chunked::{ChunkedError, Step};

/// Why a request body broke off.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientBodyError {
    #[error("reading the request body: {0}")]
    Read(io::Error),
    #[error("the client closed the connection before the end of the request body")]
    Incomplete,
    #[error(transparent)]
    Chunked(#[from] ChunkedError),
    #[error("the request body broke off earlier")]
    Broken,
    #[error("the request body was abandoned: its response is complete")]
    Abandoned,
}

/// A request body handed to the proxy; it reads from the connection's shared state.
pub(crate) struct RequestBody {
    io: SharedIo,
    generation: u64,
}

impl RequestBody {
    pub(super) fn new(io: SharedIo, generation: u64) -> Self {
        Self { io, generation }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = ClientBodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
        let mut io = lock(&self.io);
        if io.generation != self.generation {
            return Poll::Ready(Some(Err(ClientBodyError::Abandoned)));
        }
        poll_body(&mut io, cx)
    }

    fn is_end_stream(&self) -> bool {
        let io = lock(&self.io);
        io.generation != self.generation || matches!(io.body, BodyState::Done | BodyState::Length(0))
    }

    fn size_hint(&self) -> SizeHint {
        let io = lock(&self.io);
        match io.body {
            _ if io.generation != self.generation => SizeHint::with_exact(0),
            BodyState::Done => SizeHint::with_exact(0),
            BodyState::Length(n) => SizeHint::with_exact(n),
            BodyState::Chunked(_) | BodyState::Failed => SizeHint::default(),
        }
    }
}

/// The next frame of the current request's body.
fn poll_body(io: &mut ConnIo, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
    loop {
        match &mut io.body {
            BodyState::Done => return Poll::Ready(None),
            BodyState::Failed => return Poll::Ready(Some(Err(ClientBodyError::Broken))),
            BodyState::Length(remaining) if !io.buf.is_empty() => {
                let n = usize::try_from(*remaining).map_or(io.buf.len(), |r| r.min(io.buf.len()));
                *remaining -= n as u64;
                let done = *remaining == 0;
                let data = io.buf.split_to(n).freeze();
                if done {
                    io.finish_body();
                }
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            BodyState::Length(_) => {}
            BodyState::Chunked(decoder) => match decoder.step(&mut io.buf) {
                Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(Step::End(trailers)) => {
                    io.finish_body();
                    return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))));
                }
                Ok(Step::NeedMore) => {}
                Err(e) => {
                    io.fail_body();
                    return Poll::Ready(Some(Err(e.into())));
                }
            },
        }
        if let Err(e) = ready!(io.poll_continue(cx)) {
            io.fail_body();
            return Poll::Ready(Some(Err(ClientBodyError::Read(e))));
        }
        match ready!(io.poll_fill(cx)) {
            Ok(0) => {
                io.fail_body();
                return Poll::Ready(Some(Err(ClientBodyError::Incomplete)));
            }
            Ok(_) => {}
            Err(e) => {
                io.fail_body();
                return Poll::Ready(Some(Err(ClientBodyError::Read(e))));
            }
        }
    }
}

/// Takes the current body away from any handle of it and reads it to its end, discarding up to
/// `limit` bytes; whether it ended within them (else the connection cannot be reused).
pub(super) async fn drain(io: &SharedIo, limit: u64) -> bool {
    let mut discarded = 0u64;
    lock(io).generation += 1;
    std::future::poll_fn(|cx| {
        let mut io = lock(io);
        loop {
            match ready!(poll_body(&mut io, cx)) {
                None => return Poll::Ready(true),
                Some(Err(_)) => return Poll::Ready(false),
                Some(Ok(frame)) => {
                    discarded += frame.data_ref().map_or(0, |d| d.len() as u64);
                    if discarded > limit {
                        io.fail_body();
                        return Poll::Ready(false);
                    }
                }
            }
        }
    })
    .await
}
