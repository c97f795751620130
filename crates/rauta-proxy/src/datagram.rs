//! UDP binds (UDPRoute): datagrams relayed per client session.
//!
//! Each client address is a session. Its first datagram starts it with the routing view current
//! then: the listener's first route entry (the oldest UDPRoute's rule) chooses a backend by
//! weight, the backend's cluster an endpoint (round-robin), and a socket connected to that
//! endpoint is opened for the session alone. The client's datagrams go out on it; whatever the
//! endpoint sends back is relayed to the client from the bind's socket, so the client sees the
//! address it spoke to. A session with no datagram either way for
//! [`Limits::udp_session_idle_timeout`](crate::Limits) is closed; a bind keeps at most
//! [`Limits::udp_max_sessions`](crate::Limits) sessions, and datagrams from new clients beyond
//! that are dropped. A new snapshot applies to new sessions; running ones keep their endpoint.
//!
//! Every session is counted in the L4 metrics while it runs and leaves one access-log line when
//! it is closed (idle, or its bind closed); a datagram that cannot start a session leaves one too.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::balancer;
use crate::dataplane::Shared;
use crate::errors::ProxyError;
use crate::metrics::{L4Protocol, SessionSeries};
use crate::session_logging::SessionLog;

/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

/// Why a session could not start; its datagram is dropped.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("no UDPRoute serves this listener")]
    NoRoute,
    #[error("backend: {0}")]
    Backend(#[from] ProxyError),
    #[error("upstream socket: {0}")]
    Io(#[from] io::Error),
}

impl SessionError {
    /// The `reason` of the access log and of `rauta_l4_session_errors_total`.
    fn reason(&self) -> &'static str {
        match self {
            Self::NoRoute => "no_route",
            Self::Backend(e) => e.status_and_reason().1,
            Self::Io(_) => "upstream_socket_error",
        }
    }
}

/// One client's session: its own socket connected to the chosen endpoint.
struct Session {
    upstream: Arc<UdpSocket>,
    /// When a datagram last went either way, in milliseconds since the data plane's epoch.
    last_seen: Arc<AtomicU64>,
    /// Relays the endpoint's datagrams to the client.
    replies: JoinHandle<()>,
    /// The route's series: datagram bytes from the client are counted as they pass.
    series: SessionSeries,
    /// Bytes relayed to the client (by the replies task).
    sent: Arc<AtomicU64>,
    /// Written when the session is dropped, after the fields above.
    log: SessionLog,
}

impl Session {
    /// Counts a datagram of `n` bytes from the client.
    fn received(&mut self, n: usize) {
        let n = n as u64;
        self.series.received.inc_by(n);
        self.log.add_bytes(n, 0);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.replies.abort();
        self.log.add_bytes(0, self.sent.load(Ordering::Relaxed));
    }
}

/// The sessions of one bind, by client address.
#[derive(Default)]
struct Sessions {
    by_client: HashMap<SocketAddr, Session>,
}

impl Sessions {
    /// Closes every session idle for `idle` or longer at `now_ms`.
    fn expire(&mut self, now_ms: u64, idle: Duration) {
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        self.by_client
            .retain(|_, s| now_ms.saturating_sub(s.last_seen.load(Ordering::Relaxed)) < idle_ms);
    }
}

/// Relays datagrams received on `socket` (the UDP bind at `address`) until the task is aborted,
/// on `worker` (or the current runtime); sessions and their sockets live on that runtime too.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    socket: std::net::UdpSocket,
    address: SocketAddr,
    worker: Option<&Handle>,
) -> JoinHandle<()> {
    let task = async move {
        // Registered with the reactor of the runtime this task runs on.
        match UdpSocket::from_std(socket) {
            Ok(socket) => relay(shared, Arc::new(socket), address).await,
            Err(error) => tracing::error!(%address, %error, "cannot register the UDP socket"),
        }
    };
    match worker {
        Some(worker) => worker.spawn(task),
        None => tokio::spawn(task),
    }
}

fn now_ms(shared: &Shared) -> u64 {
    u64::try_from(shared.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

async fn relay(shared: Arc<Shared>, socket: Arc<UdpSocket>, address: SocketAddr) {
    let idle = shared.limits.udp_session_idle_timeout;
    let max_sessions = shared.limits.udp_max_sessions.max(1);
    let mut sessions = Sessions::default();
    let mut sweep = tokio::time::interval((idle / 4).max(Duration::from_millis(100)));
    sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, client) = tokio::select! {
            received = socket.recv_from(&mut buffer) => match received {
                Ok(received) => received,
                Err(error) => {
                    tracing::debug!(bind = %address, %error, "udp receive failed");
                    continue;
                }
            },
            _ = sweep.tick() => {
                sessions.expire(now_ms(&shared), idle);
                continue;
            }
        };
        let now = now_ms(&shared);
        if !sessions.by_client.contains_key(&client) {
            if sessions.by_client.len() >= max_sessions {
                sessions.expire(now, idle);
            }
            let mut log = SessionLog::start(&shared, L4Protocol::Udp, client);
            if sessions.by_client.len() >= max_sessions {
                tracing::warn!(bind = %address, %client, max_sessions, "udp session limit reached; datagram dropped");
                log.fail("udp_session_limit");
                continue;
            }
            match open(&shared, &socket, address, client, now, log).await {
                Ok(session) => {
                    sessions.by_client.insert(client, session);
                }
                Err(error) => {
                    tracing::debug!(bind = %address, %client, %error, "udp session not started; datagram dropped");
                    continue;
                }
            }
        }
        if let Some(session) = sessions.by_client.get_mut(&client) {
            session.received(n);
            session.last_seen.store(now, Ordering::Relaxed);
            if let Err(error) = session.upstream.send(&buffer[..n]).await {
                tracing::debug!(bind = %address, %client, %error, "udp send to upstream failed");
            }
        }
    }
}

/// Starts the session of `client`: a backend by weight, an endpoint, a socket connected to it and
/// the task relaying its replies. When it cannot start, `log` records why.
async fn open(
    shared: &Arc<Shared>,
    downstream: &Arc<UdpSocket>,
    address: SocketAddr,
    client: SocketAddr,
    now: u64,
    mut log: SessionLog,
) -> Result<Session, SessionError> {
    match connect(shared, address, &mut log).await {
        Ok((upstream, series)) => {
            let upstream = Arc::new(upstream);
            let last_seen = Arc::new(AtomicU64::new(now));
            let sent = Arc::new(AtomicU64::new(0));
            let replies = tokio::spawn(relay_replies(
                shared.clone(),
                Reply {
                    upstream: upstream.clone(),
                    downstream: downstream.clone(),
                    client,
                    last_seen: last_seen.clone(),
                    series: series.clone(),
                    sent: sent.clone(),
                },
            ));
            Ok(Session {
                upstream,
                last_seen,
                replies,
                series,
                sent,
                log,
            })
        }
        Err(error) => {
            log.fail(error.reason());
            Err(error)
        }
    }
}

/// Routes a new session of the UDP bind at `address` and opens its socket, connected to an
/// endpoint of the chosen backend.
async fn connect(
    shared: &Arc<Shared>,
    address: SocketAddr,
    log: &mut SessionLog,
) -> Result<(UdpSocket, SessionSeries), SessionError> {
    let (endpoint, series) = {
        let runtime = shared.runtime.load();
        let listener = runtime
            .binds
            .iter()
            .find(|b| b.address == address && b.protocol.is_udp())
            .and_then(|b| b.listeners.first())
            .ok_or(SessionError::NoRoute)?;
        log.listener(listener, None);
        let entry = listener
            .virtual_hosts
            .first()
            .and_then(|vh| vh.routes.first())
            .ok_or(SessionError::NoRoute)?;
        let series = log.rule(&entry.rule);
        let backend = balancer::choose_backend(&entry.rule)?;
        let cluster = backend.target.as_ref().map_err(|e| *e)?;
        (cluster.next_endpoint()?.address, series)
    };
    log.upstream(endpoint);
    let local: SocketAddr = if endpoint.is_ipv6() {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let upstream = UdpSocket::bind(local).await?;
    upstream.connect(endpoint).await?;
    tracing::debug!(bind = %address, %endpoint, "udp session started");
    Ok((upstream, series))
}

/// What the task relaying one session's replies works with.
struct Reply {
    upstream: Arc<UdpSocket>,
    downstream: Arc<UdpSocket>,
    client: SocketAddr,
    last_seen: Arc<AtomicU64>,
    series: SessionSeries,
    sent: Arc<AtomicU64>,
}

/// Sends every datagram the endpoint answers to the client, from the bind's socket.
async fn relay_replies(shared: Arc<Shared>, reply: Reply) {
    let client = reply.client;
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        match reply.upstream.recv(&mut buffer).await {
            Ok(n) => {
                reply.last_seen.store(now_ms(&shared), Ordering::Relaxed);
                match reply.downstream.send_to(&buffer[..n], client).await {
                    Ok(sent) => {
                        let sent = sent as u64;
                        reply.sent.fetch_add(sent, Ordering::Relaxed);
                        reply.series.sent.inc_by(sent);
                    }
                    Err(error) => tracing::debug!(%client, %error, "udp send to client failed"),
                }
            }
            // Typically ICMP port unreachable from the endpoint: later datagrams may still pass.
            Err(error) => tracing::debug!(%client, %error, "udp receive from upstream failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn session(last_seen: u64) -> Session {
        let upstream = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let metrics = crate::metrics::Metrics::new(&mut prometheus_client::registry::Registry::default());
        let client = "127.0.0.1:9".parse().unwrap();
        Session {
            upstream,
            last_seen: Arc::new(AtomicU64::new(last_seen)),
            replies: tokio::spawn(std::future::pending()),
            series: metrics.unrouted().sessions(L4Protocol::Udp).clone(),
            sent: Arc::default(),
            log: SessionLog::with(&metrics, None, L4Protocol::Udp, client),
        }
    }

    #[tokio::test]
    async fn idle_sessions_expire_and_active_ones_stay() {
        let mut sessions = Sessions::default();
        let (a, b): (SocketAddr, SocketAddr) = ("127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap());
        sessions.by_client.insert(a, session(1_000).await);
        sessions.by_client.insert(b, session(50_000).await);
        sessions.expire(60_999, Duration::from_secs(60));
        assert_eq!(sessions.by_client.len(), 2, "neither is idle for 60 s yet");
        sessions.expire(61_000, Duration::from_secs(60));
        assert!(!sessions.by_client.contains_key(&a), "a was idle for 60 s");
        assert!(sessions.by_client.contains_key(&b));
    }

    #[tokio::test]
    async fn a_closed_session_stops_relaying_replies() {
        let s = session(0).await;
        let replies = s.replies.abort_handle();
        drop(s);
        for _ in 0..100 {
            if replies.is_finished() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(replies.is_finished());
    }
}
