//! The logging phase: one [`Completion`] per request records the access-log line and the
//! metrics when the response body ends, fails or is dropped (a client that went away before
//! the response is logged as 499).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::request::Parts;
use http::{HeaderValue, StatusCode};

use crate::access_log::{AccessLog, AccessRecord};
use crate::forwarding::REQUEST_ID;
use crate::metrics::{MethodClass, RouteMetrics};
use crate::runtime::{RuntimeListener, RuntimeRule};
use crate::server::{ConnCtx, InFlight};

/// nginx's "client closed request", for requests abandoned before a response.
const CLIENT_CLOSED: u16 = 499;

/// What is known about a request so far, recorded when it completes.
pub(crate) struct Completion {
    start: Instant,
    method: MethodClass,
    status: StatusCode,
    metrics: Arc<RouteMetrics>,
    bytes_out: u64,
    log: Option<Box<(AccessLog, AccessRecord)>>,
    _in_flight: InFlight,
}

impl Completion {
    /// Starts tracking a request whose head is `head`.
    pub(crate) fn start(conn: &Arc<ConnCtx>, head: &Parts, host: Option<&HeaderValue>) -> Self {
        let shared = &conn.shared;
        let log = shared.access_log.as_ref().map(|log| {
            Box::new((
                log.clone(),
                AccessRecord {
                    time: SystemTime::now(),
                    request_id: head.headers.get(&REQUEST_ID).cloned(),
                    client: conn.client,
                    method: head.method.clone(),
                    host: host.cloned(),
                    uri: head.uri.clone(),
                    version: head.version,
                    status: CLIENT_CLOSED,
                    duration: Default::default(),
                    bytes_out: None,
                    route: None,
                    rule: None,
                    listener: None,
                    upstream: None,
                    reason: Some("downstream_closed"),
                },
            ))
        });
        Self {
            start: Instant::now(),
            method: MethodClass::of(&head.method),
            status: StatusCode::from_u16(CLIENT_CLOSED).unwrap_or(StatusCode::BAD_REQUEST),
            metrics: shared.metrics.unrouted().clone(),
            bytes_out: 0,
            log,
            _in_flight: conn.begin_request(),
        }
    }

    /// Records the listener that accepted the request.
    pub(crate) fn listener(&mut self, listener: &RuntimeListener) {
        if let Some(b) = self.log.as_mut() {
            b.1.listener = Some(listener.label.clone());
        }
    }

    /// Records the rule that matched.
    pub(crate) fn rule(&mut self, rule: &RuntimeRule) {
        self.metrics = rule.metrics.clone();
        if let Some(b) = self.log.as_mut() {
            b.1.route = Some(rule.metrics.label().clone());
            b.1.rule = Some(rule.rule.index);
        }
    }

    /// Records the upstream endpoint tried last.
    pub(crate) fn upstream(&mut self, endpoint: SocketAddr) {
        if let Some(b) = self.log.as_mut() {
            b.1.upstream = Some(endpoint);
        }
    }

    /// Records the response status and, for local answers, why.
    pub(crate) fn respond(&mut self, status: StatusCode, reason: Option<&'static str>) {
        self.status = status;
        if let Some(b) = self.log.as_mut() {
            b.1.status = status.as_u16();
            b.1.reason = reason;
        }
    }

    /// Counts response body bytes sent.
    pub(crate) fn add_bytes(&mut self, n: usize) {
        self.bytes_out += n as u64;
    }

    /// Notes that the upstream body broke mid-stream.
    pub(crate) fn body_failed(&mut self) {
        if let Some(b) = self.log.as_mut() {
            b.1.reason = Some("upstream_body_error");
        }
    }
}

impl Completion {
    /// Phase 10: the access-log line and the metrics of the finished request.
    fn logging(&mut self) {
        let elapsed = self.start.elapsed();
        self.metrics.record(self.method, self.status, elapsed);
        if let Some(b) = self.log.take() {
            let (log, mut record) = *b;
            record.duration = elapsed;
            record.bytes_out = Some(self.bytes_out);
            log.log(record);
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        self.logging();
    }
}
