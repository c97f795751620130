//! Prometheus metrics, named `rauta_*`, with bounded label sets.
//!
//! Label values come from small closed sets (standard methods, status classes, error reasons)
//! or from the routes of the snapshot (`namespace/name`, `none` before a route matched). The
//! request path never takes the registry's locks: each route caches its series on first use.
//! L4 sessions (TCP and TLS streams, UDP sessions) have their own families, `rauta_l4_*`
//! (`sessions.rs`).

mod histogram;
mod sessions;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{Method, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::errors::ProxyError;
pub(crate) use histogram::LatencyHistogram;
pub(crate) use sessions::{L4Protocol, SessionSeries};
use sessions::{RouteSessions, SessionFamilies};

/// The standard methods; anything else is counted as `OTHER`.
const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "OTHER",
];
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const SERIES_PER_ROUTE: usize = METHODS.len() * STATUS_CLASSES.len();

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: Arc<str>,
    method: &'static str,
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Every metric the data plane exports.
pub(crate) struct Metrics {
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, LatencyHistogram>,
    upstream_errors: [Counter; ProxyError::UPSTREAM.len()],
    active_connections: Gauge,
    sessions: Arc<SessionFamilies>,
    unrouted: Arc<RouteMetrics>,
}

impl Metrics {
    /// Creates the metrics and registers them.
    pub(crate) fn new(registry: &mut Registry) -> Arc<Self> {
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<RouteLabels, LatencyHistogram>::default();
        let upstream_family = Family::<ReasonLabels, Counter>::default();
        let active_connections = Gauge::default();
        registry.register(
            "rauta_requests",
            "Requests served, by route, method and status class",
            requests.clone(),
        );
        registry.register(
            "rauta_request_duration_seconds",
            "Time from request head to the end of the response body, by route",
            durations.clone(),
        );
        registry.register(
            "rauta_upstream_errors",
            "Failed upstream attempts (including retried ones), by reason",
            upstream_family.clone(),
        );
        registry.register(
            "rauta_downstream_connections_active",
            "Downstream connections currently open",
            active_connections.clone(),
        );
        let upstream_errors = ProxyError::UPSTREAM.map(|e| {
            upstream_family.get_or_create_owned(&ReasonLabels {
                reason: e.status_and_reason().1,
            })
        });
        let sessions = SessionFamilies::new(registry);
        let unrouted = Arc::new(RouteMetrics::new("none".into(), &requests, &durations, &sessions));
        Arc::new(Self {
            requests,
            durations,
            upstream_errors,
            active_connections,
            sessions,
            unrouted,
        })
    }

    /// The per-route handle for a route labelled `namespace/name`.
    pub(crate) fn route(&self, label: Arc<str>) -> Arc<RouteMetrics> {
        Arc::new(RouteMetrics::new(
            label,
            &self.requests,
            &self.durations,
            &self.sessions,
        ))
    }

    /// The handle for requests that matched no route.
    pub(crate) fn unrouted(&self) -> &Arc<RouteMetrics> {
        &self.unrouted
    }

    /// Counts one failed upstream attempt.
    pub(crate) fn upstream_error(&self, error: ProxyError) {
        if let Some(i) = ProxyError::UPSTREAM.iter().position(|e| *e == error) {
            self.upstream_errors[i].inc();
        }
    }

    /// The open downstream connections gauge.
    pub(crate) fn active_connections(&self) -> &Gauge {
        &self.active_connections
    }

    /// Counts one L4 session of `protocol` that ended with `reason`.
    pub(crate) fn session_error(&self, protocol: L4Protocol, reason: &'static str) {
        self.sessions.error(protocol, reason);
    }
}

/// One route's series, created in the registry the first time they are used.
pub(crate) struct RouteMetrics {
    label: Arc<str>,
    family: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, LatencyHistogram>,
    /// Allocated on the first request: most of thousands of routes may never see one, and the
    /// slots take ~800 bytes.
    requests: OnceLock<Box<[OnceLock<Counter>; SERIES_PER_ROUTE]>>,
    duration: OnceLock<LatencyHistogram>,
    session_families: Arc<SessionFamilies>,
    sessions: RouteSessions,
}

impl RouteMetrics {
    fn new(
        label: Arc<str>,
        family: &Family<RequestLabels, Counter>,
        durations: &Family<RouteLabels, LatencyHistogram>,
        sessions: &Arc<SessionFamilies>,
    ) -> Self {
        Self {
            label,
            family: family.clone(),
            durations: durations.clone(),
            requests: OnceLock::new(),
            duration: OnceLock::new(),
            session_families: sessions.clone(),
            sessions: RouteSessions::default(),
        }
    }

    /// The route's L4 series for `protocol`.
    pub(crate) fn sessions(&self, protocol: L4Protocol) -> &SessionSeries {
        self.sessions.get(&self.session_families, &self.label, protocol)
    }

    /// The route label (`namespace/name` or `none`).
    pub(crate) fn label(&self) -> &Arc<str> {
        &self.label
    }

    /// Records one finished request.
    pub(crate) fn record(&self, method: MethodClass, status: StatusCode, elapsed: Duration) {
        let class = usize::from((status.as_u16() / 100).clamp(1, 5) - 1);
        let slot = method.0 * STATUS_CLASSES.len() + class;
        let slots = self
            .requests
            .get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())));
        let counter = slots[slot].get_or_init(|| {
            self.family.get_or_create_owned(&RequestLabels {
                route: self.label.clone(),
                method: METHODS[method.0],
                status_class: STATUS_CLASSES[class],
            })
        });
        counter.inc();
        let histogram = self.duration.get_or_init(|| {
            self.durations.get_or_create_owned(&RouteLabels {
                route: self.label.clone(),
            })
        });
        histogram.observe(elapsed);
    }
}

/// A request method folded into the bounded set used as a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MethodClass(usize);

impl MethodClass {
    /// Classifies a method; extension methods become `OTHER`.
    pub(crate) fn of(method: &Method) -> Self {
        let other = METHODS.len() - 1;
        Self(
            METHODS[..other]
                .iter()
                .position(|m| *m == method.as_str())
                .unwrap_or(other),
        )
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    #[test]
    fn labels_are_bounded_and_named_rauta() {
        let mut registry = Registry::default();
        let metrics = Metrics::new(&mut registry);
        let route = metrics.route("ns/web".into());
        let custom = Method::from_bytes(b"PURGE").unwrap();
        route.record(MethodClass::of(&custom), StatusCode::OK, Duration::from_millis(3));
        route.record(
            MethodClass::of(&Method::GET),
            StatusCode::NOT_FOUND,
            Duration::from_millis(3),
        );
        metrics
            .unrouted()
            .record(MethodClass::of(&Method::GET), StatusCode::NOT_FOUND, Duration::ZERO);
        metrics.upstream_error(ProxyError::UpstreamConnect);
        metrics.active_connections().inc();
        let tls = metrics.route("ns/passthrough".into());
        let series = tls.sessions(L4Protocol::Tls);
        series.started.inc();
        series.active.inc();
        series.received.inc_by(517);
        tls.sessions(L4Protocol::Tls).sent.inc_by(1024);
        metrics.unrouted().sessions(L4Protocol::Udp).started.inc();
        metrics.session_error(L4Protocol::Udp, "no_route");
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for want in [
            r#"rauta_requests_total{route="ns/web",method="OTHER",status_class="2xx"} 1"#,
            r#"rauta_requests_total{route="ns/web",method="GET",status_class="4xx"} 1"#,
            r#"rauta_requests_total{route="none",method="GET",status_class="4xx"} 1"#,
            r#"rauta_upstream_errors_total{reason="upstream_connect_failure"} 1"#,
            r#"rauta_upstream_errors_total{reason="backend_timeout"} 0"#,
            r#"rauta_request_duration_seconds_bucket{le="0.005",route="ns/web"} 2"#,
            r#"rauta_request_duration_seconds_count{route="ns/web"} 2"#,
            "rauta_downstream_connections_active 1",
            r#"rauta_l4_sessions_total{protocol="tls",route="ns/passthrough"} 1"#,
            r#"rauta_l4_sessions_active{protocol="tls",route="ns/passthrough"} 1"#,
            r#"rauta_l4_received_bytes_total{protocol="tls",route="ns/passthrough"} 517"#,
            r#"rauta_l4_sent_bytes_total{protocol="tls",route="ns/passthrough"} 1024"#,
            r#"rauta_l4_sessions_total{protocol="udp",route="none"} 1"#,
            r#"rauta_l4_session_errors_total{protocol="udp",reason="no_route"} 1"#,
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
    }

    #[test]
    fn histogram_counts_every_observation() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_secs(100));
        h.observe(Duration::ZERO);
        assert_eq!(h.count(), 2);
    }
}
