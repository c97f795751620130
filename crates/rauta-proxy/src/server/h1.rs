//! Rauta's own HTTP/1.1 server connection (HTTP/1.0 clients too).
//!
//! Written by hand because it is the proxy path and hyper's server left no room on it: its
//! connection keeps an 8 KiB read and an 8 KiB write buffer for its whole life, idle or not
//! (most of the ~26 KiB per idle keep-alive connection measured in docs/benchmarks.md), and
//! its codec with the dispatch around it was the largest piece of user time in the profile.
//! Here a connection reads one request head at a time into a buffer allocated when bytes
//! arrive, parses it with `httparse` into `http` types without copying, runs the proxy inline
//! in the connection's task, encodes the response head straight into one buffer (with a small
//! body, one write) and frees both buffers before it waits for the next request.
//!
//! The rules it keeps: limits on the head (size, field count, the header read timeout, which
//! also bounds the wait for the next request as hyper's did), 400 for malformed requests, 431
//! for heads beyond the limits, 505 for other HTTP versions, one Host on HTTP/1.1, no request
//! with both Transfer-Encoding and Content-Length (a smuggling guard), only the chunked coding;
//! HTTP/1.0 keep-alive only when asked; `100 Continue` when the body is first needed; pipelined
//! requests answered in order, the next head parsed only after the previous response is
//! written; a body the proxy did not read drained (up to 64 KiB) or the connection closed; a
//! client that goes away while its response is pending cancels the request. An HTTP/2
//! prior-knowledge preface hands the connection (with the bytes read) to hyper's HTTP/2 server,
//! a 101 hands it to the upgrade tunnel.

mod body;
mod io;
mod request;
mod response;
#[cfg(test)]
mod tests;

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{Method, Request, Version};
use tokio::time::{Instant, Sleep};

pub(crate) use body::{ClientBodyError, RequestBody};
use io::{BodyState, ConnIo, Continue, SharedIo, lock};
use request::{BodyFraming, Head, HeadError, HeadLimits};
use response::{RequestFacts, Written};

use crate::body::DownstreamBody;
use crate::forwarding;
use crate::proxy;
use crate::server::transport::{Rewind, Transport};
use crate::server::{ConnCtx, date};
use crate::upgrade;

/// Request body bytes read and discarded after a response so that the connection can be reused.
const DRAIN_LIMIT: u64 = 64 * 1024;
/// The HTTP/2 connection preface (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// How long a closing connection waits for the client to take its last bytes and stop sending.
const LINGER: Duration = Duration::from_secs(2);
/// Bytes read and dropped while lingering.
const LINGER_BYTES: usize = 256 * 1024;

/// How a connection ended.
pub(crate) enum Outcome {
    Closed,
    /// The client spoke HTTP/2 with prior knowledge; the bytes read so far come first.
    H2(Rewind),
}

/// What the connection waits for between requests.
// Moved once per request; boxing the head would cost an allocation instead.
#[allow(clippy::large_enum_variant)]
enum Next {
    Head(Head),
    H2,
    Close,
    Refuse(HeadError),
}

/// What follows one exchange.
enum After {
    KeepAlive,
    Close { linger: bool },
    Upgrade(upgrade::UpgradeSender),
}

/// Serves HTTP/1 requests on `transport` until the client or the proxy closes the connection.
pub(crate) async fn serve(ctx: Arc<ConnCtx>, transport: Transport) -> Outcome {
    let limits = &ctx.shared.limits;
    let head_limits = HeadLimits {
        max_bytes: limits.max_header_bytes,
        max_headers: limits.max_headers,
    };
    let head_timeout = limits.header_read_timeout;
    let io: SharedIo = Arc::new(Mutex::new(ConnIo::new(transport)));
    let timer = tokio::time::sleep(head_timeout);
    tokio::pin!(timer);
    let mut first = true;
    loop {
        let since = Instant::now();
        let next = std::future::poll_fn(|cx| {
            poll_next(&io, &ctx, cx, head_limits, first, timer.as_mut(), since + head_timeout)
        })
        .await;
        first = false;
        let head = match next {
            Next::Head(head) => head,
            Next::H2 => {
                return handover(io).map_or(Outcome::Closed, |(buf, transport)| {
                    Outcome::H2(Rewind::new(buf, transport))
                });
            }
            Next::Close => {
                let unread = !lock(&io).buf.is_empty();
                close(&io, unread).await;
                return Outcome::Closed;
            }
            Next::Refuse(error) => {
                tracing::debug!(client = %ctx.client, %error, "request refused");
                refuse(&io, error).await;
                return Outcome::Closed;
            }
        };
        match exchange(&ctx, &io, head).await {
            After::KeepAlive => lock(&io).release_buffer(),
            After::Close { linger } => {
                close(&io, linger).await;
                return Outcome::Closed;
            }
            After::Upgrade(sender) => {
                if let Some((buf, transport)) = handover(io) {
                    sender.send(Rewind::new(buf, transport));
                }
                return Outcome::Closed;
            }
        }
    }
}

/// Waits for the next request head (or the end of the connection) within `deadline`.
fn poll_next(
    io: &SharedIo,
    ctx: &ConnCtx,
    cx: &mut Context<'_>,
    limits: HeadLimits,
    first: bool,
    mut timer: Pin<&mut Sleep>,
    deadline: Instant,
) -> Poll<Next> {
    let mut io = lock(io);
    loop {
        if !io.buf.is_empty() {
            let preface = if first { preface(&io.buf) } else { Preface::No };
            match preface {
                Preface::Full => return Poll::Ready(Next::H2),
                Preface::Partial => {}
                Preface::No => match request::parse(&mut io.buf, limits) {
                    Ok(Some(head)) => return Poll::Ready(Next::Head(head)),
                    Ok(None) => {}
                    Err(error) => return Poll::Ready(Next::Refuse(error)),
                },
            }
        } else if ctx.draining() {
            return Poll::Ready(Next::Close);
        }
        match io.poll_fill(cx) {
            Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(Next::Close),
            Poll::Ready(Ok(_)) => {}
            Poll::Pending => break,
        }
    }
    drop(io);
    // The timer runs from an earlier wait and is re-armed only when it fires early, so a busy
    // connection does not reset it for every request.
    while timer.as_mut().poll(cx).is_ready() {
        if Instant::now() >= deadline {
            tracing::debug!(client = %ctx.client, "no complete request head within the header read timeout");
            return Poll::Ready(Next::Close);
        }
        timer.as_mut().reset(deadline);
    }
    Poll::Pending
}

enum Preface {
    No,
    Partial,
    Full,
}

fn preface(buf: &[u8]) -> Preface {
    let n = buf.len().min(PREFACE.len());
    if buf[..n] != PREFACE[..n] {
        Preface::No
    } else if n == PREFACE.len() {
        Preface::Full
    } else {
        Preface::Partial
    }
}

/// One request: the proxy serves it, the response is written, the body is settled.
async fn exchange(ctx: &Arc<ConnCtx>, io: &SharedIo, head: Head) -> After {
    let Head {
        method,
        uri,
        version,
        headers,
        framing,
        keep_alive,
        expect_continue,
    } = head;
    let facts = RequestFacts {
        head: method == Method::HEAD,
        connect: method == Method::CONNECT,
        http10: version == Version::HTTP_10,
        upgrade: forwarding::is_upgrade(version, &headers),
    };
    let generation = lock(io).start_body(framing, expect_continue);
    let body = match framing {
        BodyFraming::None => DownstreamBody::Empty,
        _ => DownstreamBody::Http1(RequestBody::new(io.clone(), generation)),
    };
    let (upgrade_sender, on_upgrade) = if facts.upgrade {
        let (sender, receiver) = upgrade::pending();
        (Some(sender), Some(receiver))
    } else {
        (None, None)
    };
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    let max_buffered = ctx.shared.limits.max_header_bytes;
    let response = tokio::select! {
        biased;
        response = proxy::serve(ctx.clone(), proxy::Downstream::new(request, on_upgrade)) => response,
        () = client_left(io, max_buffered) => {
            tracing::debug!(client = %ctx.client, "client closed the connection before the response");
            return After::Close { linger: false };
        }
    };
    // Settle what the client may still send before the head says whether the connection stays.
    let (body_settles, prefix) = {
        let mut io = lock(io);
        let prefix = match io.expect {
            Continue::Writing(n) => &io::CONTINUE[n..],
            _ => &[][..],
        };
        // A client still waiting for `100 Continue` never sends its body: the connection cannot
        // be reused once the final response is written.
        let awaited = io.expect == Continue::Due;
        io.expect = if awaited { Continue::Skipped } else { Continue::No };
        let settles = match io.body {
            BodyState::Done => true,
            BodyState::Length(n) => !awaited && n <= DRAIN_LIMIT,
            BodyState::Chunked(_) | BodyState::Failed => false,
        };
        (settles, prefix)
    };
    let keep_alive = keep_alive && body_settles && !ctx.draining();
    match response::write(io, response, &facts, keep_alive, prefix).await {
        Written::Upgraded => {
            let done = lock(io).body_done();
            match upgrade_sender {
                Some(sender) if done => After::Upgrade(sender),
                _ => After::Close { linger: false },
            }
        }
        Written::Close => {
            let unread = !lock(io).body_done();
            After::Close { linger: unread }
        }
        Written::KeepAlive => {
            let done = lock(io).body_done();
            if done || tokio::time::timeout(LINGER, body::drain(io, DRAIN_LIMIT)).await == Ok(true) {
                After::KeepAlive
            } else {
                After::Close { linger: true }
            }
        }
    }
}

/// Completes when the client closes the connection while its request is served. Watches only
/// once the request body has been read (the body reports a close itself before that); reads
/// pipelined bytes meanwhile, up to `max_buffered`.
async fn client_left(io: &SharedIo, max_buffered: usize) {
    std::future::poll_fn(|cx| {
        let mut io = lock(io);
        if !io.body_done() {
            io.watcher = Some(cx.waker().clone());
            return Poll::Pending;
        }
        while io.buf.len() < max_buffered {
            match ready!(io.poll_fill(cx)) {
                Ok(0) | Err(_) => return Poll::Ready(()),
                Ok(_) => {}
            }
        }
        Poll::Pending
    })
    .await;
}

/// Answers a refused request head and closes.
async fn refuse(io: &SharedIo, error: HeadError) {
    let status = error.status();
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\ncontent-length: 0\r\nconnection: close\r\ndate: ");
    date::extend(&mut out);
    out.extend_from_slice(b"\r\n\r\n");
    if response::write_all(io, &[&out]).await.is_ok() {
        close(io, true).await;
    }
}

/// Shuts the write side down (TLS: `close_notify`), and when the client may still be sending,
/// reads and drops its bytes for a while first: closing a socket with unread bytes resets the
/// connection, and a reset can destroy the response before the client reads it.
async fn close(io: &SharedIo, linger: bool) {
    let shutdown = std::future::poll_fn(|cx| lock(io).poll_shutdown(cx));
    if tokio::time::timeout(LINGER, shutdown).await.is_err() || !linger {
        return;
    }
    let mut dropped = 0usize;
    let discard = std::future::poll_fn(|cx| {
        let mut io = lock(io);
        loop {
            dropped += io.buf.len();
            io.buf.clear();
            if dropped > LINGER_BYTES {
                return Poll::Ready(());
            }
            match ready!(io.poll_fill(cx)) {
                Ok(0) | Err(_) => return Poll::Ready(()),
                Ok(_) => {}
            }
        }
    });
    let _ = tokio::time::timeout(LINGER, discard).await;
}

/// The stream and the bytes read from it, once nothing else holds the connection.
fn handover(io: SharedIo) -> Option<(bytes::Bytes, Transport)> {
    let conn = Arc::try_unwrap(io)
        .ok()?
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    Some((conn.buf.freeze(), conn.transport))
}
