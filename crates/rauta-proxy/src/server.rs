//! Serving one downstream connection: the TLS handshake on HTTPS binds, then HTTP/1.1 (Rauta's
//! own server, `h1`) or HTTP/2 (`h2`: the h2 crate, streams served in the connection's task)
//! on the same socket, idle timeout, graceful drain when the bind is removed or the data plane
//! shuts down.

mod date;
pub(crate) mod h1;
pub(crate) mod h2;
pub(crate) mod transport;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use http::HeaderValue;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, watch};
use tokio::time::Instant;
use tokio_rustls::LazyConfigAcceptor;

use crate::dataplane::Shared;
use crate::forwarding::client_ip_value;
use crate::tls::ServerTls;
use transport::{Socket, Transport};

/// Where a bind, or the whole data plane, is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Accepting and serving.
    Serving,
    /// Not accepting; open connections finish their requests and close.
    Draining,
    /// Everything still open is closed now.
    Closed,
}

/// Counts connections and tunnels so shutdown can wait for them.
#[derive(Default)]
pub(crate) struct Tracker {
    count: AtomicUsize,
    idle: Notify,
}

/// Holds one slot of a [`Tracker`] until dropped.
pub(crate) struct Tracked(Arc<Tracker>);

impl Tracker {
    /// Registers one more connection or tunnel.
    pub(crate) fn track(self: &Arc<Self>) -> Tracked {
        self.count.fetch_add(1, Ordering::AcqRel);
        Tracked(self.clone())
    }

    /// Waits until nothing is tracked.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// What every request of a connection shares.
pub(crate) struct ConnCtx {
    pub(crate) shared: Arc<Shared>,
    /// `https` on TLS connections, else `http`.
    pub(crate) scheme: &'static str,
    /// The server name the client asked for in its TLS ClientHello (lower-case).
    pub(crate) sni: Option<Box<str>>,
    /// The client's address.
    pub(crate) client: SocketAddr,
    /// The client's IP, ready for `X-Forwarded-For`.
    pub(crate) client_ip: HeaderValue,
    /// The bind the connection was accepted on.
    pub(crate) local: SocketAddr,
    in_flight: AtomicUsize,
    /// Milliseconds since `shared.epoch` when the last request finished.
    last_active_ms: AtomicU64,
    /// Set when the connection should finish what it serves and close (HTTP/1).
    draining: AtomicBool,
}

/// Marks a request in flight on its connection until dropped.
pub(crate) struct InFlight(Arc<ConnCtx>);

impl ConnCtx {
    /// Notes a request starting.
    pub(crate) fn begin_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// Whether the connection should close once its current request is answered.
    pub(crate) fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// How long the connection has had no request in flight (`None` while one is).
    fn idle_for(&self, now: Instant) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = self.shared.epoch + Duration::from_millis(self.last_active_ms.load(Ordering::Acquire));
        Some(now.saturating_duration_since(since))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let ms = Instant::now()
            .saturating_duration_since(self.0.shared.epoch)
            .as_millis();
        self.0
            .last_active_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Decrements the open-connections gauge when the connection ends.
struct Gauged(Arc<Shared>);

impl Drop for Gauged {
    fn drop(&mut self) {
        self.0.metrics.active_connections().dec();
    }
}

/// Serves an accepted connection: the TLS handshake first when the bind terminates TLS (bounded
/// by the header read timeout), then HTTP. A failed handshake just closes the connection.
pub(crate) async fn accept_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    client: SocketAddr,
    local: SocketAddr,
    bind_phase: watch::Receiver<Phase>,
    permit: OwnedSemaphorePermit,
    tls: Option<ServerTls>,
) {
    let Some(tls) = tls else {
        let plain = Accepted {
            scheme: "http",
            sni: None,
        };
        let transport = Transport::Plain(Socket(stream));
        return serve_connection(shared, transport, client, local, bind_phase, permit, plain).await;
    };
    let limit = shared.limits.header_read_timeout;
    // The ClientHello is read first: it decides the cipher-suite order (`ServerTls::config_for`).
    let handshake = async {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), Socket(stream)).await?;
        let config = tls.config_for(&start.client_hello());
        start.into_stream(config).await
    };
    let stream = match tokio::time::timeout(limit, handshake).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!(client = %client, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(client = %client, "TLS handshake timed out");
            return;
        }
    };
    let sni = stream
        .get_ref()
        .1
        .server_name()
        .map(|s| s.to_ascii_lowercase().into_boxed_str());
    let accepted = Accepted { scheme: "https", sni };
    let transport = Transport::Tls(Box::new(stream));
    serve_connection(shared, transport, client, local, bind_phase, permit, accepted).await;
}

/// What the transport told about a connection before HTTP starts.
pub(crate) struct Accepted {
    scheme: &'static str,
    sni: Option<Box<str>>,
}

/// The phase a connection follows: its bind's, which the data plane's close reaches too
/// (`DataPlane::shutdown`). One channel, not the bind's and the data plane's: each is polled
/// whenever the connection's task wakes, twice per HTTP/1 request, ~190 instructions a poll
/// (docs/benchmarks.md, "Session 13").
struct Phases {
    bind: Option<watch::Receiver<Phase>>,
    /// The furthest it has reached (or the connection's own idle timeout).
    current: Phase,
}

/// Serves `transport` until the client closes it, it idles out, or its bind or the data plane
/// closes: HTTP/2 when ALPN chose it or the client starts with the HTTP/2 preface, else HTTP/1.
pub(crate) async fn serve_connection(
    shared: Arc<Shared>,
    transport: Transport,
    client: SocketAddr,
    local: SocketAddr,
    bind_phase: watch::Receiver<Phase>,
    permit: OwnedSemaphorePermit,
    accepted: Accepted,
) {
    let _permit = permit;
    let _tracked = shared.tracker.track();
    shared.metrics.active_connections().inc();
    let _gauged = Gauged(shared.clone());
    let started = Instant::now().saturating_duration_since(shared.epoch).as_millis();
    let ctx = Arc::new(ConnCtx {
        shared: shared.clone(),
        scheme: accepted.scheme,
        sni: accepted.sni,
        client,
        client_ip: client_ip_value(client.ip()),
        local,
        in_flight: AtomicUsize::new(0),
        last_active_ms: AtomicU64::new(u64::try_from(started).unwrap_or(u64::MAX)),
        draining: AtomicBool::new(false),
    });
    let current = *bind_phase.borrow();
    let mut phases = Phases {
        current,
        bind: Some(bind_phase),
    };
    // HTTP/2 boxed: inline, hyper's connection would be part of every HTTP/1 connection's task
    // too (docs/benchmarks.md, "Session 7": RSS per idle keep-alive connection).
    if transport.alpn_h2() {
        return Box::pin(serve_h2(&ctx, transport, &mut phases)).await;
    }
    let h1 = h1::serve(ctx.clone(), transport);
    tokio::pin!(h1);
    if let Some(h1::Outcome::H2(transport)) = drive(&ctx, &mut phases, h1, |_| ctx.start_draining()).await {
        Box::pin(serve_h2(&ctx, transport, &mut phases)).await;
    }
}

/// Serves an HTTP/2 connection (`h2::Connection`).
async fn serve_h2<I>(ctx: &Arc<ConnCtx>, io: I, phases: &mut Phases)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = h2::Connection::new(ctx.clone(), io);
    tokio::pin!(conn);
    if let Some(Err(e)) = drive(ctx, phases, conn, |c| c.get_mut().graceful_shutdown()).await {
        tracing::debug!(client = %ctx.client, error = %e, "downstream connection ended with an error");
    }
}

/// Runs `conn` to its end, unless its bind or the data plane closes first (`None`). When either
/// starts draining, or the connection has had no request in flight for the idle timeout,
/// `drain` tells the connection to finish what it serves and close.
async fn drive<F: Future>(
    ctx: &ConnCtx,
    phases: &mut Phases,
    mut conn: Pin<&mut F>,
    mut drain: impl FnMut(Pin<&mut F>),
) -> Option<F::Output> {
    let idle_timeout = ctx.shared.limits.idle_timeout;
    let idle = tokio::time::sleep(idle_timeout);
    tokio::pin!(idle);
    let mut draining = false;
    loop {
        if phases.current == Phase::Closed {
            return None;
        }
        if phases.current == Phase::Draining && !draining {
            draining = true;
            drain(conn.as_mut());
        }
        tokio::select! {
            output = conn.as_mut() => return Some(output),
            Some(p) = changed(&mut phases.bind) => phases.current = phases.current.max(p),
            () = &mut idle => {
                let now = Instant::now();
                match ctx.idle_for(now) {
                    Some(idle_for) if idle_for >= idle_timeout => {
                        phases.current = phases.current.max(Phase::Draining);
                        idle.as_mut().reset(now + idle_timeout);
                    }
                    Some(idle_for) => idle.as_mut().reset(now + (idle_timeout - idle_for)),
                    None => idle.as_mut().reset(now + idle_timeout),
                }
            }
        }
    }
}

/// The next phase a channel announces; `None` (and the channel forgotten) once its sender is gone.
async fn changed(rx: &mut Option<watch::Receiver<Phase>>) -> Option<Phase> {
    let Some(r) = rx.as_mut() else {
        return std::future::pending().await;
    };
    match r.changed().await {
        Ok(()) => Some(*r.borrow_and_update()),
        Err(_) => {
            *rx = None;
            None
        }
    }
}
