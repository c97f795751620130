//! Serving an HTTP/2 connection with the `h2` crate directly: frames, HPACK and flow control are
//! h2's; which streams run, and how a response reaches its stream, is ours.
//!
//! Every stream of a connection runs inside the connection's own task (a `FuturesUnordered`),
//! not in a task of its own as hyper's server spawns: no task per request, and no wake-up across
//! tasks between a stream queueing its response and the connection writing it (streams that
//! finish are flushed in the same poll). A connection's streams share one worker, as they did
//! before: each worker is a single-threaded runtime. Measured in docs/benchmarks.md, "Session 14".

mod request_body;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use h2::server::{Connection as H2Connection, Handshake, SendResponse};
use h2::{Reason, RecvStream, SendStream};
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, HeaderName, TE, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::Body;
use tokio::io::{AsyncRead, AsyncWrite};

pub(crate) use request_body::{Http2Body, RequestBodyError};

use super::ConnCtx;
use super::date;
use crate::body::{DownstreamBody, ResponseBody};
use crate::proxy;

/// The settings Rauta announces to HTTP/2 clients.
pub(crate) fn builder(max_concurrent_streams: u32, max_header_list_bytes: u32) -> h2::server::Builder {
    let mut builder = h2::server::Builder::new();
    builder
        // 1 MiB windows, as hyper's server had: the spec's 64 KiB would stall uploads on any
        // path with latency.
        .initial_window_size(1024 * 1024)
        .initial_connection_window_size(1024 * 1024)
        .max_frame_size(16 * 1024)
        .max_send_buffer_size(400 * 1024)
        .max_concurrent_streams(max_concurrent_streams)
        .max_header_list_size(max_header_list_bytes)
        // Rapid-reset protection (CVE-2023-44487): a client whose streams keep failing is
        // sent GOAWAY.
        .max_local_error_reset_streams(Some(1024));
    builder
}

type StreamFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

enum State<I> {
    Handshaking(Handshake<I, Bytes>),
    Serving(H2Connection<I, Bytes>),
    Done,
}

/// One HTTP/2 connection and the streams it serves; resolves when the connection ends.
pub(crate) struct Connection<I> {
    ctx: Arc<ConnCtx>,
    state: State<I>,
    streams: FuturesUnordered<StreamFuture>,
    /// Graceful shutdown was asked for during the handshake.
    drain_pending: bool,
}

impl<I> Connection<I>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// Starts the handshake on `io` (the client's preface, then both sides' settings).
    pub(crate) fn new(ctx: Arc<ConnCtx>, io: I) -> Self {
        let state = State::Handshaking(ctx.shared.http2.handshake(io));
        Self {
            ctx,
            state,
            streams: FuturesUnordered::new(),
            drain_pending: false,
        }
    }

    /// Sends GOAWAY: streams already open finish, no new ones are accepted, then the
    /// connection closes.
    pub(crate) fn graceful_shutdown(&mut self) {
        match &mut self.state {
            State::Handshaking(_) => self.drain_pending = true,
            State::Serving(conn) => conn.graceful_shutdown(),
            State::Done => {}
        }
    }
}

impl<I> Future for Connection<I>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Output = Result<(), h2::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            let conn = match &mut this.state {
                State::Handshaking(handshake) => {
                    let mut conn = match ready!(Pin::new(handshake).poll(cx)) {
                        Ok(conn) => conn,
                        Err(e) => {
                            this.state = State::Done;
                            return Poll::Ready(Err(e));
                        }
                    };
                    if this.drain_pending {
                        conn.graceful_shutdown();
                    }
                    this.state = State::Serving(conn);
                    continue;
                }
                State::Serving(conn) => conn,
                State::Done => return Poll::Ready(Ok(())),
            };
            // Reading frames, accepting streams and writing what the streams queued all happen
            // in `poll_accept`; `None` once the connection is finished (closed by the client, or
            // drained after GOAWAY: h2 waits for every stream's handles to be dropped).
            loop {
                match conn.poll_accept(cx) {
                    Poll::Ready(Some(Ok((request, respond)))) => {
                        this.streams
                            .push(Box::pin(serve_stream(this.ctx.clone(), request, respond)));
                    }
                    Poll::Ready(Some(Err(e))) => {
                        this.state = State::Done;
                        return Poll::Ready(Err(e));
                    }
                    Poll::Ready(None) => {
                        this.state = State::Done;
                        return Poll::Ready(Ok(()));
                    }
                    Poll::Pending => break,
                }
            }
            // Streams that finished queued their last frames: poll the connection again so they
            // are written in this turn, not after another wake-up.
            let mut finished = false;
            while let Poll::Ready(Some(())) = this.streams.poll_next_unpin(cx) {
                finished = true;
            }
            if !finished {
                return Poll::Pending;
            }
        }
    }
}

/// Serves one stream: the request through the proxy, then its response head and body, watching
/// for the client's RST_STREAM throughout (which drops the request's work, upstream included).
async fn serve_stream(ctx: Arc<ConnCtx>, request: Request<RecvStream>, mut respond: SendResponse<Bytes>) {
    let (head, recv) = request.into_parts();
    let body = DownstreamBody::Http2(Http2Body::new(recv, &head.headers));
    let downstream = proxy::Downstream::new(Request::from_parts(head, body), None);
    // In a block: the request's future ends here, so its space in this future is reused by
    // the response body's (this future is moved into its box whole, once per stream).
    let response = {
        let serve = proxy::serve(ctx, downstream);
        tokio::pin!(serve);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(response) = serve.as_mut().poll(cx) {
                return Poll::Ready(Some(response));
            }
            match respond.poll_reset(cx) {
                Poll::Ready(reason) => {
                    tracing::debug!(reason = ?reason, "client reset the stream before its response");
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    };
    let Some(response) = response else { return };
    let (mut parts, body) = response.into_parts();
    let end = body.is_end_stream();
    complete_head(&mut parts.headers, (!end).then(|| body.size_hint().exact()).flatten());
    match respond.send_response(Response::from_parts(parts, ()), end) {
        Ok(send) if !end => {
            if let Err(e) = (Pipe {
                body,
                send,
                pending: None,
            })
            .await
            {
                tracing::debug!(error = %e, "response body to an HTTP/2 client broke off");
            }
        }
        Ok(_) => {}
        Err(e) => {
            tracing::debug!(error = %e, "sending a response head to an HTTP/2 client failed");
            respond.send_reset(Reason::INTERNAL_ERROR);
        }
    }
}

/// Readies a response head for HTTP/2 in one pass over its names: drops the headers that
/// belong to one HTTP/1 connection, which HTTP/2 forbids (RFC 9113 §8.2.2) and h2 refuses to
/// send (the proxy strips the upstream's already; a filter or a local answer may add one), adds
/// `date` and, when the body's length is known, `content-length`. (One pass, not a lookup per
/// name: six removals and two lookups were ~700 instructions per response.)
fn complete_head(headers: &mut HeaderMap, body_length: Option<u64>) {
    let (mut dated, mut sized, mut forbidden) = (false, false, false);
    for name in headers.keys() {
        if *name == DATE {
            dated = true;
        } else if *name == CONTENT_LENGTH {
            sized = true;
        } else {
            forbidden |= connection_specific(name);
        }
    }
    if forbidden {
        strip_connection_headers(headers);
    }
    if !dated && let Ok(value) = date::with(HeaderValue::from_bytes) {
        headers.insert(DATE, value);
    }
    if !sized && let Some(length) = body_length {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    }
}

fn connection_specific(name: &HeaderName) -> bool {
    name == CONNECTION
        || name == TE
        || name == TRANSFER_ENCODING
        || name == UPGRADE
        || matches!(name.as_str(), "keep-alive" | "proxy-connection")
}

/// Removes the connection-specific headers and the ones `Connection` names.
fn strip_connection_headers(headers: &mut HeaderMap) {
    if let Some(listed) = headers.remove(CONNECTION)
        && let Ok(listed) = listed.to_str()
    {
        for name in listed.split(',') {
            headers.remove(name.trim());
        }
    }
    let names: Vec<HeaderName> = headers.keys().filter(|n| connection_specific(n)).cloned().collect();
    for name in names {
        headers.remove(name);
    }
}

/// Why a response body could not be sent to the client.
#[derive(Debug, thiserror::Error)]
enum PipeError {
    #[error("the client reset the stream ({0:?})")]
    Reset(Reason),
    #[error(transparent)]
    H2(#[from] h2::Error),
    #[error("the response body failed: {0}")]
    Body(#[source] crate::body::UpstreamBodyError),
    #[error("the stream lost its send capacity")]
    CapacityClosed,
}

/// Streams a response body to its HTTP/2 stream under the client's flow control.
struct Pipe {
    body: ResponseBody,
    send: SendStream<Bytes>,
    /// A chunk taken from the body that waits for send capacity, and whether it ends the body.
    pending: Option<(Bytes, bool)>,
}

impl Pipe {
    /// Waits: registers for the client's RST_STREAM too, so a reset wakes the stream while it
    /// waits for the body or for capacity. (Only here: sending to a reset stream fails anyway,
    /// and each `poll_reset` takes h2's lock.)
    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), PipeError>> {
        match self.send.poll_reset(cx) {
            Poll::Ready(reason) => Poll::Ready(Err(reason.map_or_else(PipeError::H2, PipeError::Reset))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Future for Pipe {
    type Output = Result<(), PipeError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            if let Some((chunk, end)) = this.pending.take() {
                while this.send.capacity() == 0 {
                    match this.send.poll_capacity(cx) {
                        Poll::Pending => {
                            this.pending = Some((chunk, end));
                            return this.wait(cx);
                        }
                        Poll::Ready(Some(Ok(_))) => {}
                        Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e.into())),
                        Poll::Ready(None) => return Poll::Ready(Err(PipeError::CapacityClosed)),
                    }
                }
                // h2 buffers what exceeds the window and sends it as the window opens.
                this.send.send_data(chunk, end)?;
                if end {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            let frame = match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending => return this.wait(cx),
                Poll::Ready(frame) => frame,
            };
            match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(chunk) => {
                        let end = this.body.is_end_stream();
                        // The last chunk (most bodies' only one) goes straight to h2, which sends
                        // it as the window allows: buffering it costs no more than holding it
                        // here. So does an empty one, which needs no capacity.
                        if end || chunk.is_empty() {
                            this.send.send_data(chunk, end)?;
                            if end {
                                return Poll::Ready(Ok(()));
                            }
                            continue;
                        }
                        // A claim of one byte, not the chunk: h2 raises it to what is buffered,
                        // and a stream that waits must not pin the connection's window.
                        this.send.reserve_capacity(1);
                        this.pending = Some((chunk, end));
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            this.send.reserve_capacity(0);
                            this.send.send_trailers(trailers)?;
                            return Poll::Ready(Ok(()));
                        }
                    }
                },
                Some(Err(e)) => {
                    this.send.send_reset(Reason::INTERNAL_ERROR);
                    return Poll::Ready(Err(PipeError::Body(e)));
                }
                None => {
                    this.send.send_data(Bytes::new(), true)?;
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    #[test]
    fn connection_specific_headers_are_stripped_with_the_ones_connection_names() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "close, x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("te", "trailers"),
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("x-kept", "yes"),
        ] {
            headers.insert(
                http::HeaderName::from_static(name),
                http::HeaderValue::from_static(value),
            );
        }
        super::complete_head(&mut headers, None);
        assert_eq!(headers.len(), 2, "{headers:?}");
        assert_eq!(headers["x-kept"], "yes");
        assert_eq!(headers["date"], "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn date_and_a_known_length_are_added_unless_present() {
        let mut headers = HeaderMap::new();
        super::complete_head(&mut headers, Some(12));
        assert_eq!(headers["content-length"], "12");
        assert!(httpdate::parse_http_date(headers["date"].to_str().unwrap()).is_ok());

        let mut headers = HeaderMap::new();
        headers.insert("content-length", http::HeaderValue::from_static("7"));
        super::complete_head(&mut headers, Some(12));
        assert_eq!(headers["content-length"], "7");

        let mut headers = HeaderMap::new();
        super::complete_head(&mut headers, None);
        assert!(!headers.contains_key("content-length"));
    }
}
