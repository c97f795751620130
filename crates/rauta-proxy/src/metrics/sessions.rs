//! The series of L4 sessions (TCP and TLS streams, UDP client sessions): started, open, bytes
//! each way by protocol and route, and sessions that ended in an error by protocol and reason.

use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// What an L4 session speaks: its `protocol` label, and the access log's `protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L4Protocol {
    /// A TCPRoute connection.
    Tcp,
    /// A TLSRoute connection (passed through or terminated).
    Tls,
    /// A UDPRoute client session.
    Udp,
}

impl L4Protocol {
    const ALL: [L4Protocol; 3] = [Self::Tcp, Self::Tls, Self::Udp];

    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Udp => "udp",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SessionLabels {
    protocol: &'static str,
    route: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    protocol: &'static str,
    reason: &'static str,
}

/// The families of L4 sessions.
#[derive(Debug)]
pub(crate) struct SessionFamilies {
    started: Family<SessionLabels, Counter>,
    active: Family<SessionLabels, Gauge>,
    received: Family<SessionLabels, Counter>,
    sent: Family<SessionLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
}

impl SessionFamilies {
    /// Creates the families and registers them.
    pub(crate) fn new(registry: &mut Registry) -> Arc<Self> {
        let families = Self {
            started: Family::default(),
            active: Family::default(),
            received: Family::default(),
            sent: Family::default(),
            errors: Family::default(),
        };
        registry.register(
            "rauta_l4_sessions",
            "L4 sessions started (TCP and TLS connections, UDP client sessions), by protocol and route (none: no route)",
            families.started.clone(),
        );
        registry.register(
            "rauta_l4_sessions_active",
            "L4 sessions open now, by protocol and route",
            families.active.clone(),
        );
        registry.register(
            "rauta_l4_received_bytes",
            "Bytes received from clients on L4 sessions (on terminated TLS: the decrypted payload), by protocol and route",
            families.received.clone(),
        );
        registry.register(
            "rauta_l4_sent_bytes",
            "Bytes sent to clients on L4 sessions (on terminated TLS: the payload before encryption), by protocol and route",
            families.sent.clone(),
        );
        registry.register(
            "rauta_l4_session_errors",
            "L4 sessions that ended in an error (not routed, backend unusable or unreachable, failed handshake, broken connection), by protocol and reason",
            families.errors.clone(),
        );
        Arc::new(families)
    }

    /// Counts one session of `protocol` that ended with `reason`.
    pub(crate) fn error(&self, protocol: L4Protocol, reason: &'static str) {
        self.errors
            .get_or_create(&ErrorLabels {
                protocol: protocol.label(),
                reason,
            })
            .inc();
    }
}

/// The series of one route and protocol.
#[derive(Clone, Debug)]
pub(crate) struct SessionSeries {
    /// Sessions started.
    pub(crate) started: Counter,
    /// Sessions open now.
    pub(crate) active: Gauge,
    /// Bytes from clients.
    pub(crate) received: Counter,
    /// Bytes to clients.
    pub(crate) sent: Counter,
}

/// One route's L4 series, created in the registry the first time a session of a protocol uses
/// them (most routes are HTTP routes and never do).
#[derive(Debug, Default)]
pub(crate) struct RouteSessions {
    series: OnceLock<Box<[OnceLock<SessionSeries>; L4Protocol::ALL.len()]>>,
}

impl RouteSessions {
    /// The series of `route` for `protocol`.
    pub(crate) fn get(&self, families: &SessionFamilies, route: &Arc<str>, protocol: L4Protocol) -> &SessionSeries {
        let slots = self
            .series
            .get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())));
        slots[protocol.index()].get_or_init(|| {
            let labels = SessionLabels {
                protocol: protocol.label(),
                route: route.clone(),
            };
            SessionSeries {
                started: families.started.get_or_create_owned(&labels),
                active: families.active.get_or_create_owned(&labels),
                received: families.received.get_or_create_owned(&labels),
                sent: families.sent.get_or_create_owned(&labels),
            }
        })
    }
}
