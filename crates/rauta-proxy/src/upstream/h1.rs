//! Rauta's own HTTP/1.1 client for plain-text upstream connections, with a per-endpoint pool.
//!
//! Written by hand because it is the proxy path: hyper's client runs every exchange on a
//! separate connection task and hands requests and responses across a channel, which cost two
//! task wake-ups, the channel's atomics and a large future per request. The profile of the
//! HTTP/1.1 keep-alive benchmark showed that dispatch as the largest piece of user time after
//! the server codec (docs/benchmarks.md). Here the exchange runs inline in the request's task:
//! the request head is encoded straight from the `http` types into one buffer (with a small
//! body, in the same write), the response head is parsed with `httparse` out of the
//! connection's read buffer, and the response body is read by the body the client polls, which
//! returns the connection to the pool the moment the last byte is read.
//!
//! Upgrade requests (WebSocket) and CONNECT still use hyper's client on a fresh connection: the
//! connection then belongs to the tunnel, and hyper's upgrade plumbing hands it over.
//!
//! Limits of the inline exchange: the request body is sent completely before the response is
//! read (an upstream that answers early and stops reading is still answered when its response
//! is already in the socket buffer once our write fails); only bodiless requests are retried on
//! a pooled connection the upstream had closed.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, Method, Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::UpstreamError;
use super::head::{self, HeadError, ParsedHead, RequestFraming, ResponseFraming};
use crate::body::{BodyError, RequestBody, UpstreamBody};
use crate::body_framing::{self, BodyFramer};
use crate::chunked::{ChunkedError, Decoder, Step};
use crate::config::Limits;
use crate::forwarding;

/// Bytes reserved for a read at first; doubled while reads fill it, up to [`MAX_READ`].
const FIRST_READ: usize = 8 * 1024;
const MAX_READ: usize = 64 * 1024;
/// Body bytes copied next to the head or a chunk header to save a write; larger ones are
/// written on their own.
const COALESCE: usize = 16 * 1024;

/// One upstream connection and what was read from it but not yet consumed.
struct Conn {
    io: TcpStream,
    buf: BytesMut,
}

/// A connection lives in a box from dial to close: the response body carries it, and the box
/// (8 bytes, not 64) shrinks that body and every `Response` moved along the proxy path, for one
/// allocation per connection rather than per request (docs/benchmarks.md, "Session 13").
type BoxedConn = Box<Conn>;

impl Conn {
    /// Reads more bytes into the buffer; `Ok(0)` at end of stream.
    async fn read_more(&mut self) -> io::Result<usize> {
        self.buf.reserve(FIRST_READ);
        self.io.read_buf(&mut self.buf).await
    }

    /// Whether an idle connection can take a request: nothing arrived on it while it was idle
    /// (no end of stream, no unsolicited bytes). Costs no system call unless the socket was
    /// signalled readable since its last read.
    fn still_usable(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        match self.io.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }
}

/// Why an HTTP/1.1 exchange failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    /// Writing the request failed.
    #[error("writing the request: {0}")]
    Write(io::Error),
    /// Reading the response failed.
    #[error("reading the response: {0}")]
    Read(io::Error),
    /// The upstream closed the connection before a whole response head; `partial` when some of
    /// it had arrived.
    #[error("the upstream closed the connection before responding")]
    Closed { partial: bool },
    /// The response head is not valid HTTP/1.1.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// The client's body failed while it was relayed.
    #[error("relaying the request body: {0}")]
    Body(BodyError),
    /// The client's body was longer than its Content-Length.
    #[error("the request body does not match its Content-Length")]
    BodyLength,
}

impl ExchangeError {
    /// Whether the request could not even be written: the upstream had closed the pooled
    /// connection while it was idle, so a bodiless request may go again on another one. A
    /// request that was written and then met a closed connection is not retried here: the
    /// upstream may have acted on it (the route's retry policy decides).
    fn is_stale_connection(&self) -> bool {
        matches!(self, Self::Write(_))
    }

    /// Whether the upstream reset or closed the connection (as opposed to breaking the protocol).
    pub(crate) fn is_reset(&self) -> bool {
        matches!(
            self,
            Self::Write(_) | Self::Read(_) | Self::Closed { .. } | Self::Body(_)
        )
    }
}

/// HTTP/1.1 connections to one endpoint, the most recently used last.
///
/// A connection is in the list only while idle: the response body puts it back once it has
/// read the response's last byte. Connections unused for one to two sweep periods
/// (`upstream_idle_timeout / 2`) are closed by a sweeper task that holds only a weak reference.
pub(crate) struct Http1Pool {
    address: SocketAddr,
    idle: Mutex<Vec<Idle>>,
    max_idle: usize,
    idle_timeout: Duration,
    connect_timeout: Duration,
    /// Counts sweeps; each idle connection remembers the count when it was returned.
    sweeps: AtomicU64,
    sweeper_started: AtomicBool,
}

struct Idle {
    conn: BoxedConn,
    returned_at_sweep: u64,
}

/// A request ready for the wire: its head encoded, its body (none when it is empty) to follow.
struct Prepared {
    head: Vec<u8>,
    framing: RequestFraming,
    body: Option<RequestBody>,
    method: Method,
}

impl Prepared {
    fn new(request: Request<RequestBody>) -> Self {
        let (parts, body) = request.into_parts();
        let framing = request_framing(&parts.method, &parts.headers, &body);
        let mut head = Vec::with_capacity(512);
        head::encode_request(&mut head, &parts.method, &parts.uri, &parts.headers, framing);
        Self {
            head,
            framing,
            body: (!body.is_end_stream()).then_some(body),
            method: parts.method,
        }
    }
}

impl Http1Pool {
    /// An empty pool for `address` with the configured limits.
    pub(crate) fn new(address: SocketAddr, limits: &Limits) -> Self {
        Self {
            address,
            idle: Mutex::new(Vec::new()),
            max_idle: limits.upstream_max_idle_per_endpoint,
            idle_timeout: limits.upstream_idle_timeout,
            connect_timeout: limits.upstream_connect_timeout,
            sweeps: AtomicU64::new(0),
            sweeper_started: AtomicBool::new(false),
        }
    }

    /// Sends `request` on a pooled connection, or a new one when none is idle.
    ///
    /// The head is encoded before the future starts, so the future holds the encoded head and
    /// the body, not the request: an `async fn` keeps its arguments for its whole life, and
    /// this future (copied into a box per attempt, `upstream::Exchange::send`) was 1,720 bytes.
    pub(crate) fn send(
        self: &Arc<Self>,
        request: Request<RequestBody>,
    ) -> impl Future<Output = Result<Response<UpstreamBody>, UpstreamError>> + Send + 'static {
        let pool = self.clone();
        let mut prepared =
            if request.method() == Method::CONNECT || forwarding::is_upgrade(request.version(), request.headers()) {
                Err(Box::new(request))
            } else {
                Ok(Prepared::new(request))
            };
        async move {
            // Borrowed, not moved into locals: each move would be another copy in the future.
            let p = match prepared {
                // Boxed, as `connect` below: rare paths whose futures would otherwise add to the
                // size of every request's future.
                Err(request) => return Box::pin(pool.send_upgrade(*request)).await,
                Ok(ref mut p) => p,
            };
            loop {
                let (mut conn, reused) = match pool.checkout() {
                    Some(conn) => (conn, true),
                    None => (Box::pin(pool.connect()).await?, false),
                };
                let replayable = p.body.is_none();
                match exchange(&mut conn, &p.head, p.framing, p.body.take(), &p.method).await {
                    Ok(parsed) => return Ok(pool.response(conn, parsed)),
                    // The upstream had closed the pooled connection: another one may do (the
                    // request was bodiless, so it can be sent again as it was).
                    Err(e) if reused && replayable && e.is_stale_connection() => {
                        tracing::debug!(endpoint = %pool.address, error = %e, "pooled upstream connection was closed; retrying on another");
                    }
                    Err(e) => return Err(UpstreamError::Exchange(e)),
                }
            }
        }
    }

    /// The response, with a body that reads the rest of the message from `conn`.
    fn response(self: &Arc<Self>, conn: BoxedConn, parsed: ParsedHead) -> Response<UpstreamBody> {
        let ParsedHead {
            response,
            framing,
            keep_alive,
        } = parsed;
        let state = match framing {
            ResponseFraming::Empty => {
                if keep_alive {
                    self.put_back(conn);
                }
                return response.map(|()| UpstreamBody::Empty);
            }
            ResponseFraming::Length(n) => State::Length(n),
            ResponseFraming::Chunked => State::Chunked(Box::new(Decoder::new())),
            ResponseFraming::UntilClose => State::UntilClose,
        };
        let body = H1Body {
            conn: Some(conn),
            pool: self.clone(),
            state,
            keep_alive,
            read_size: FIRST_READ,
        };
        response.map(|()| UpstreamBody::H1(body))
    }

    /// An upgrade (or CONNECT) through hyper's client on a new connection, which the tunnel takes
    /// over after a 101 (or a 2xx to CONNECT).
    async fn send_upgrade(&self, request: Request<RequestBody>) -> Result<Response<UpstreamBody>, UpstreamError> {
        let stream = self.dial().await?;
        let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(UpstreamError::Http1)?;
        let address = self.address;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!(endpoint = %address, error = %e, "upstream connection ended with an error");
            }
        });
        let response = sender.send_request(request).await.map_err(UpstreamError::Http1)?;
        Ok(response.map(UpstreamBody::Hyper))
    }

    fn checkout(&self) -> Option<BoxedConn> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(mut entry) = idle.pop() {
            if entry.conn.still_usable() {
                return Some(entry.conn);
            }
        }
        None
    }

    fn put_back(&self, mut conn: BoxedConn) {
        // A large read buffer is not worth keeping while idle.
        if conn.buf.capacity() > MAX_READ {
            conn.buf = BytesMut::new();
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.max_idle
        {
            let returned_at_sweep = self.sweeps.load(Ordering::Relaxed);
            idle.push(Idle {
                conn,
                returned_at_sweep,
            });
        }
    }

    async fn dial(&self) -> Result<TcpStream, UpstreamError> {
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(self.address))
            .await
            .map_err(|_| UpstreamError::Connect(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")))?
            .map_err(UpstreamError::Connect)?;
        stream.set_nodelay(true).map_err(UpstreamError::Connect)?;
        Ok(stream)
    }

    async fn connect(self: &Arc<Self>) -> Result<BoxedConn, UpstreamError> {
        let io = self.dial().await?;
        self.start_sweeper();
        Ok(Box::new(Conn {
            io,
            buf: BytesMut::new(),
        }))
    }

    fn start_sweeper(self: &Arc<Self>) {
        if self.sweeper_started.swap(true, Ordering::Relaxed) {
            return;
        }
        let pool = Arc::downgrade(self);
        let period = (self.idle_timeout / 2).max(Duration::from_millis(10));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(pool) = pool.upgrade() else { return };
                pool.sweep();
            }
        });
    }

    /// Closes connections returned before the previous sweep (idle for a whole period at least).
    pub(super) fn sweep(&self) {
        let now = self.sweeps.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(mut idle) = self.idle.lock() {
            idle.retain(|c| now - c.returned_at_sweep < 2);
        }
    }

    #[cfg(test)]
    pub(super) fn idle_count(&self) -> usize {
        self.idle.lock().map_or(0, |idle| idle.len())
    }
}

/// How the request body goes on the wire: none for bodiless requests (with `Content-Length: 0`
/// where the method implies a body or the client sent one), the exact length when known, chunked
/// otherwise.
fn request_framing(method: &Method, headers: &HeaderMap, body: &RequestBody) -> RequestFraming {
    if body.is_end_stream() {
        let announce =
            headers.contains_key(CONTENT_LENGTH) || matches!(*method, Method::POST | Method::PUT | Method::PATCH);
        return if announce {
            RequestFraming::Length(0)
        } else {
            RequestFraming::None
        };
    }
    match body.size_hint().exact() {
        Some(n) => RequestFraming::Length(n),
        None => RequestFraming::Chunked,
    }
}

/// Writes the request and reads the response head.
async fn exchange(
    conn: &mut Conn,
    head: &[u8],
    framing: RequestFraming,
    body: Option<RequestBody>,
    method: &Method,
) -> Result<ParsedHead, ExchangeError> {
    match body {
        None => conn.io.write_all(head).await.map_err(ExchangeError::Write)?,
        Some(body) => {
            // Boxed: most requests have no body, and inline this future (480 bytes) would be
            // part of every exchange's.
            if let Err(e) = Box::pin(send_body(&mut conn.io, head, framing, body)).await {
                // An upstream that refuses the body may have answered already (413, 401, …):
                // relay that answer, on a connection that is not reused.
                if matches!(e, ExchangeError::Write(_))
                    && let Ok(mut parsed) = read_head(conn, method).await
                {
                    parsed.keep_alive = false;
                    return Ok(parsed);
                }
                return Err(e);
            }
        }
    }
    read_head(conn, method).await
}

/// Reads until a whole response head is buffered and parses it.
async fn read_head(conn: &mut Conn, method: &Method) -> Result<ParsedHead, ExchangeError> {
    loop {
        if !conn.buf.is_empty()
            && let Some(parsed) = head::parse_response(&mut conn.buf, method)?
        {
            return Ok(parsed);
        }
        let n = conn.read_more().await.map_err(ExchangeError::Read)?;
        if n == 0 {
            return Err(ExchangeError::Closed {
                partial: !conn.buf.is_empty(),
            });
        }
    }
}

/// Writes the head and streams the body after it, framed as announced. The first frame goes
/// in the same write as the head when it is small.
async fn send_body(
    io: &mut TcpStream,
    head: &[u8],
    framing: RequestFraming,
    mut body: RequestBody,
) -> Result<(), ExchangeError> {
    let mut framer = match framing {
        RequestFraming::Length(n) => BodyFramer::length(n),
        RequestFraming::Chunked => BodyFramer::chunked(),
        RequestFraming::None => BodyFramer::length(0),
    };
    let mut out = Vec::with_capacity(head.len() + 1024);
    out.extend_from_slice(head);
    let mut trailers: Option<HeaderMap> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ExchangeError::Body)?;
        let Some(data) = body_framing::data_of(frame, &mut trailers) else {
            continue;
        };
        framer
            .start_data(&mut out, data.len())
            .map_err(|_| ExchangeError::BodyLength)?;
        if data.len() <= COALESCE {
            out.extend_from_slice(&data);
            out.extend_from_slice(framer.data_tail());
            io.write_all(&out).await.map_err(ExchangeError::Write)?;
        } else {
            io.write_all(&out).await.map_err(ExchangeError::Write)?;
            io.write_all(&data).await.map_err(ExchangeError::Write)?;
            io.write_all(framer.data_tail()).await.map_err(ExchangeError::Write)?;
        }
        out.clear();
    }
    if !framer.complete() {
        return Err(ExchangeError::BodyLength);
    }
    framer.finish(&mut out, trailers.as_ref());
    if !out.is_empty() {
        io.write_all(&out).await.map_err(ExchangeError::Write)?;
    }
    Ok(())
}

/// Why an upstream response body broke off.
#[derive(Debug, thiserror::Error)]
pub(crate) enum H1BodyError {
    #[error("reading the upstream response body: {0}")]
    Read(#[from] io::Error),
    #[error("the upstream closed the connection before the end of the response body")]
    Incomplete,
    #[error(transparent)]
    Chunked(#[from] ChunkedError),
}

enum State {
    Length(u64),
    /// Boxed: the decoder is 112 bytes, most responses are not chunked, and the state is part
    /// of every response moved along the proxy path.
    Chunked(Box<Decoder>),
    UntilClose,
}

/// The body of a response read by [`Http1Pool`]: it reads the rest of the message from the
/// connection and puts the connection back into the pool after the last byte (dropping the body
/// early closes the connection instead).
pub(crate) struct H1Body {
    conn: Option<BoxedConn>,
    pool: Arc<Http1Pool>,
    state: State,
    keep_alive: bool,
    read_size: usize,
}

impl H1Body {
    /// The message is complete: the connection goes back to the pool when it may carry another.
    fn finish(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.keep_alive
            && conn.buf.is_empty()
        {
            self.pool.put_back(conn);
        }
    }

    /// Reads more bytes into the connection's buffer; `Ok(0)` at end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        conn.buf.reserve(self.read_size);
        let spare = conn.buf.capacity() - conn.buf.len();
        let n = ready!(tokio_util::io::poll_read_buf(Pin::new(&mut conn.io), cx, &mut conn.buf))?;
        if n == spare && self.read_size < MAX_READ {
            self.read_size *= 2;
        }
        Poll::Ready(Ok(n))
    }
}

impl Body for H1Body {
    type Data = Bytes;
    type Error = H1BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, H1BodyError>>> {
        let this = self.get_mut();
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match &mut this.state {
                State::Length(remaining) if !conn.buf.is_empty() => {
                    let n = usize::try_from(*remaining).map_or(conn.buf.len(), |r| r.min(conn.buf.len()));
                    let data = conn.buf.split_to(n).freeze();
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        this.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                State::Chunked(decoder) => match decoder.step(&mut conn.buf)? {
                    Step::Data(data) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Step::End(trailers) => {
                        this.finish();
                        return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))));
                    }
                    Step::NeedMore => {}
                },
                State::UntilClose if !conn.buf.is_empty() => {
                    return Poll::Ready(Some(Ok(Frame::data(conn.buf.split().freeze()))));
                }
                State::Length(_) | State::UntilClose => {}
            }
            if ready!(this.poll_fill(cx))? == 0 {
                if matches!(this.state, State::UntilClose) {
                    this.conn = None;
                    return Poll::Ready(None);
                }
                this.conn = None;
                return Poll::Ready(Some(Err(H1BodyError::Incomplete)));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.conn.is_none() || matches!(self.state, State::Length(0))
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.conn, &self.state) {
            (None, _) => SizeHint::with_exact(0),
            (Some(_), State::Length(n)) => SizeHint::with_exact(*n),
            (Some(_), State::Chunked(d)) if d.is_done() => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use http::{HeaderValue, StatusCode, header};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    use super::*;
    use crate::mirror::MirrorChunk;

    /// A scripted backend: for each accepted connection, reads requests (heads, plus the body of
    /// a Content-Length or chunked request) and answers each with the next reply of the script.
    /// Returns its address, the accepted-connection count and every request received.
    async fn backend(
        replies: Vec<&'static [u8]>,
        close_after: bool,
    ) -> (SocketAddr, Arc<AtomicUsize>, Arc<Mutex<Vec<Vec<u8>>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (count, log) = (accepted.clone(), seen.clone());
        let replies = Arc::new(Mutex::new(replies.into_iter()));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let (log, replies) = (log.clone(), replies.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Some(request) = take_request(&mut buf) else {
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        };
                        log.lock().unwrap().push(request);
                        let Some(reply) = replies.lock().unwrap().next() else {
                            return;
                        };
                        if stream.write_all(reply).await.is_err() || close_after {
                            return;
                        }
                    }
                });
            }
        });
        (address, accepted, seen)
    }

    /// A whole request at the front of `buf` (head, then a Content-Length or chunked body).
    fn take_request(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let total = if let Some(len) = head.split("content-length: ").nth(1) {
            end + len.split("\r\n").next()?.parse::<usize>().ok()?
        } else if head.contains("transfer-encoding: chunked") {
            end + buf[end..].windows(5).position(|w| w == b"0\r\n\r\n")? + 5
        } else {
            end
        };
        (buf.len() >= total).then(|| buf.drain(..total).collect())
    }

    fn get(path: &'static str) -> Request<RequestBody> {
        let mut request = Request::new(RequestBody::Empty);
        *request.uri_mut() = http::Uri::from_static(path);
        request
            .headers_mut()
            .insert(header::HOST, HeaderValue::from_static("h"));
        request
    }

    async fn body_of(response: Response<UpstreamBody>) -> (Vec<u8>, Option<HeaderMap>) {
        let collected = response.into_body().collect().await.unwrap();
        let trailers = collected.trailers().cloned();
        (collected.to_bytes().to_vec(), trailers)
    }

    #[tokio::test]
    async fn keep_alive_connections_are_reused_across_framings() {
        let (address, accepted, seen) = backend(
            vec![
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nx-t: 1\r\n\r\n",
                b"HTTP/1.1 204 No Content\r\n\r\n",
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok",
            ],
            false,
        )
        .await;
        let pool = Arc::new(Http1Pool::new(address, &Limits::default()));
        let r = pool.send(get("/a")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(body_of(r).await.0, b"hello");
        let (body, trailers) = body_of(pool.send(get("/b")).await.unwrap()).await;
        assert_eq!(body, b"abcde");
        assert_eq!(trailers.unwrap()["x-t"], "1");
        assert_eq!(pool.send(get("/c")).await.unwrap().status(), StatusCode::NO_CONTENT);
        let r = pool.send(get("/d")).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(body_of(r).await.0, b"ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection for all four");
        assert_eq!(pool.idle_count(), 1);
        let seen = seen.lock().unwrap();
        assert_eq!(String::from_utf8_lossy(&seen[0]), "GET /a HTTP/1.1\r\nhost: h\r\n\r\n");
    }

    #[tokio::test]
    async fn request_bodies_are_framed_by_length_or_chunked() {
        let (address, _, seen) = backend(
            vec![
                b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
                b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
                b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            ],
            false,
        )
        .await;
        let pool = Arc::new(Http1Pool::new(address, &Limits::default()));
        // Known length: one write with the head.
        let (tx, body) = crate::mirror::test_body(Some(11));
        tx.send(MirrorChunk::Data(Bytes::from_static(b"hello world")))
            .await
            .unwrap();
        tx.send(MirrorChunk::End).await.unwrap();
        let mut request = get("/len");
        *request.method_mut() = Method::POST;
        *request.body_mut() = body;
        pool.send(request).await.unwrap();
        // Unknown length: chunked, two frames.
        let (tx, body) = crate::mirror::test_body(None);
        tx.send(MirrorChunk::Data(Bytes::from_static(b"ab"))).await.unwrap();
        tx.send(MirrorChunk::Data(Bytes::from_static(b"cde"))).await.unwrap();
        tx.send(MirrorChunk::End).await.unwrap();
        let mut request = get("/chunked");
        *request.method_mut() = Method::PUT;
        *request.body_mut() = body;
        pool.send(request).await.unwrap();
        // Empty POST: Content-Length: 0.
        let mut request = get("/empty");
        *request.method_mut() = Method::POST;
        pool.send(request).await.unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&seen[0]),
            "POST /len HTTP/1.1\r\nhost: h\r\ncontent-length: 11\r\n\r\nhello world"
        );
        assert_eq!(
            String::from_utf8_lossy(&seen[1]),
            "PUT /chunked HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"
        );
        assert_eq!(
            String::from_utf8_lossy(&seen[2]),
            "POST /empty HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn closed_and_close_delimited_connections_are_not_reused() {
        let (address, accepted, _) = backend(
            vec![
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                b"HTTP/1.1 200 OK\r\n\r\nuntil close",
            ],
            true,
        )
        .await;
        let pool = Arc::new(Http1Pool::new(address, &Limits::default()));
        assert_eq!(body_of(pool.send(get("/1")).await.unwrap()).await.0, b"ok");
        assert_eq!(body_of(pool.send(get("/2")).await.unwrap()).await.0, b"until close");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        assert_eq!(pool.idle_count(), 0);
    }

    #[tokio::test]
    async fn a_pooled_connection_closed_by_the_upstream_is_replaced() {
        // The backend answers one request per connection and closes without saying so.
        let (address, accepted, _) = backend(
            vec![
                b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na",
                b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nb",
            ],
            true,
        )
        .await;
        let pool = Arc::new(Http1Pool::new(address, &Limits::default()));
        assert_eq!(body_of(pool.send(get("/1")).await.unwrap()).await.0, b"a");
        assert_eq!(pool.idle_count(), 1);
        // Let the FIN arrive: checkout sees it and dials a new connection.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(body_of(pool.send(get("/2")).await.unwrap()).await.0, b"b");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_truncated_body_is_an_error_and_the_connection_is_dropped() {
        let (address, _, _) = backend(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"], true).await;
        let pool = Arc::new(Http1Pool::new(address, &Limits::default()));
        let response = pool.send(get("/")).await.unwrap();
        assert!(response.into_body().collect().await.is_err());
        assert_eq!(pool.idle_count(), 0);
    }

    #[tokio::test]
    async fn garbage_is_a_protocol_error() {
        let (address, _, _) = backend(vec![b"SSH-2.0-OpenSSH\r\n\r\n"], true).await;
        let pool = Arc::new(Http1Pool::new(address, &Limits::default()));
        let Err(error) = pool.send(get("/")).await else {
            panic!("expected an error")
        };
        assert_eq!(
            super::super::classify(&error),
            crate::errors::ProxyError::UpstreamProtocol
        );
    }

    #[tokio::test]
    async fn pool_sweeps_idle_connections() {
        let (address, _, _) = backend(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"], false).await;
        let pool = Arc::new(Http1Pool::new(address, &Limits::default()));
        assert_eq!(pool.send(get("/")).await.unwrap().status(), StatusCode::OK);
        assert_eq!(pool.idle_count(), 1);
        pool.sweep();
        assert_eq!(pool.idle_count(), 1, "returned during the last period: kept");
        pool.sweep();
        assert_eq!(pool.idle_count(), 0, "idle for a whole period: closed");
    }

    #[tokio::test]
    async fn refused_connections_are_connect_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let pool = Arc::new(Http1Pool::new(address, &Limits::default()));
        let Err(error) = pool.send(get("/")).await else {
            panic!("expected an error")
        };
        assert_eq!(
            super::super::classify(&error),
            crate::errors::ProxyError::UpstreamConnect
        );
    }
}
