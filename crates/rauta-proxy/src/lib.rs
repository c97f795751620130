//! Rauta's data plane: serves an immutable IR [`Snapshot`](rauta_ir::Snapshot) over HTTP/1.1 and
//! HTTP/2, in clear text (prior knowledge) or over TLS (rustls, ALPN), with tokio and hyper.
//!
//! A [`DataPlane`] compiles each applied snapshot into a runtime view and publishes it with one
//! atomic swap; every request loads that view once and uses it to the end, so a swap never
//! mixes two snapshots in one request. The request path takes no locks.
//!
//! Request phases, in order (each is a named function in `proxy.rs`):
//!
//! 1. **accept** — a connection is accepted within the connection limit; HTTPS binds run the TLS
//!    handshake with the certificate the SNI selects.
//! 2. **read_head** — Rauta's HTTP/1 server (`server/h1`) or hyper's HTTP/2 server reads the
//!    request head; an `x-request-id` is ensured.
//! 3. **select_route** — listener by host (421 when it is not the SNI's), virtual host, then the
//!    first matching route entry.
//! 4. **prepare_upstream_headers** — hop-by-hop headers removed, `X-Forwarded-*` added.
//! 5. **request_filter** (rule filters) — CORS preflight and redirects answer locally; header
//!    modifiers, rewrites and mirrors apply in the order listed.
//! 6. **choose_backend** — weighted random over backendRefs with weight > 0.
//! 7. **request_filter** (backendRef filters).
//! 8. **upstream_request** — round-robin endpoint, per-try timeout and retries under the
//!    request timeout; bodies stream both ways.
//! 9. **response_filter** — hop-by-hop headers removed, response header modifiers, CORS;
//!    a 101 response starts a bidirectional tunnel.
//! 10. **logging** — access-log line and metrics when the response body ends.

mod access_log;
mod balancer;
mod body;
mod body_framing;
mod chunked;
mod config;
mod datagram;
mod dataplane;
mod errors;
mod filters;
mod forwarding;
mod grpc;
mod head_names;
mod listener;
mod logging;
mod metrics;
mod mirror;
mod proxy;
mod router;
mod runtime;
mod server;
mod session_logging;
mod stream;
mod system_roots;
mod tls;
mod upgrade;
mod upstream;
mod upstream_tls;

pub use config::{Limits, ProxyConfig};
pub use dataplane::DataPlane;
pub use errors::{ApplyError, BindFailure, ProxyError};
