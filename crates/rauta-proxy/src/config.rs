//! Static data-plane settings: what the process is started with, not what the snapshot says.

use std::time::Duration;

/// Settings of a [`DataPlane`](crate::DataPlane), fixed for its lifetime.
#[derive(Clone, Debug, Default)]
pub struct ProxyConfig {
    /// Write one JSON access-log line per request to stdout.
    pub access_log: bool,
    /// Resource limits for downstream and upstream connections.
    pub limits: Limits,
    /// The worker runtimes that serve connections, one per core: each bind gets one listening
    /// socket per worker (`SO_REUSEPORT` when there are several), accepted and served on that
    /// worker only. Empty: one socket, served on the runtime that applies the snapshot.
    pub workers: Vec<tokio::runtime::Handle>,
}

/// Resource limits; [`Limits::default`] gives values suitable for an edge proxy.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Time a client has to send a complete HTTP/1 request head (also bounds idle keep-alive waits).
    pub header_read_timeout: Duration,
    /// Largest request head accepted; HTTP/1 answers 431 beyond it.
    pub max_header_bytes: usize,
    /// Most request header fields accepted on HTTP/1.
    pub max_headers: usize,
    /// Downstream connections served at once over all binds; accepting pauses at the limit.
    pub max_connections: usize,
    /// A downstream connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// Concurrent streams per downstream HTTP/2 connection.
    pub max_concurrent_streams: u32,
    /// Time to establish one upstream TCP connection.
    pub upstream_connect_timeout: Duration,
    /// Idle pooled upstream connections are closed after this long.
    pub upstream_idle_timeout: Duration,
    /// Idle pooled upstream connections kept per endpoint. Above the requests an endpoint
    /// usually has in flight: a cap below that closes connections as a burst of responses
    /// completes and dials new ones for the next burst (HTTP/2 clients multiplex many streams
    /// onto one endpoint). Idle ones still close after `upstream_idle_timeout`.
    pub upstream_max_idle_per_endpoint: usize,
    /// A UDP session (one client address of a UDP bind) with no datagram either way for this
    /// long is closed, and its upstream socket with it.
    pub udp_session_idle_timeout: Duration,
    /// Most UDP sessions at once per UDP bind; datagrams from new clients beyond it are dropped.
    pub udp_max_sessions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_connections: 16 * 1024,
            idle_timeout: Duration::from_secs(60),
            max_concurrent_streams: 256,
            upstream_connect_timeout: Duration::from_secs(5),
            upstream_idle_timeout: Duration::from_secs(90),
            upstream_max_idle_per_endpoint: 1024,
            udp_session_idle_timeout: Duration::from_secs(60),
            udp_max_sessions: 16 * 1024,
        }
    }
}

impl Limits {
    /// The HTTP/2 header list limit, saturated to what the protocol can express.
    pub(crate) fn http2_header_list_bytes(&self) -> u32 {
        u32::try_from(self.max_header_bytes).unwrap_or(u32::MAX)
    }
}
