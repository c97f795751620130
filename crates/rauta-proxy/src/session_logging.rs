//! The logging phase of L4 sessions: one [`SessionLog`] per TCP or TLS stream and per UDP client
//! session counts it in the metrics while it runs (started and open once routed, bytes as they
//! pass) and, when it is dropped, writes its access-log line and counts its error, if any.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::access_log::{AccessLog, SessionRecord, TlsMode};
use crate::dataplane::Shared;
use crate::metrics::{L4Protocol, Metrics, SessionSeries};
use crate::runtime::{RuntimeListener, RuntimeRule};

/// What is known about a session so far, recorded when it ends.
pub(crate) struct SessionLog {
    metrics: Arc<Metrics>,
    access_log: Option<AccessLog>,
    start: Instant,
    /// The route's series once routed (the session is counted as open until it ends).
    series: Option<SessionSeries>,
    record: SessionRecord,
}

impl SessionLog {
    /// Starts tracking a session of `protocol` from `client`.
    pub(crate) fn start(shared: &Shared, protocol: L4Protocol, client: SocketAddr) -> Self {
        Self::with(&shared.metrics, shared.access_log.as_ref(), protocol, client)
    }

    /// Starts tracking a session counted in `metrics` and logged to `access_log`.
    pub(crate) fn with(
        metrics: &Arc<Metrics>,
        access_log: Option<&AccessLog>,
        protocol: L4Protocol,
        client: SocketAddr,
    ) -> Self {
        Self {
            metrics: metrics.clone(),
            access_log: access_log.cloned(),
            start: Instant::now(),
            series: None,
            record: SessionRecord {
                time: SystemTime::now(),
                client,
                protocol,
                tls_mode: None,
                sni: None,
                duration: Default::default(),
                bytes_in: 0,
                bytes_out: 0,
                route: None,
                rule: None,
                listener: None,
                upstream: None,
                reason: None,
            },
        }
    }

    /// Records the ClientHello's server name.
    pub(crate) fn sni(&mut self, sni: Option<&str>) {
        self.record.sni = sni.map(Into::into);
    }

    /// Records the listener that serves the session and, on TLS, what it does with the stream.
    pub(crate) fn listener(&mut self, listener: &RuntimeListener, tls_mode: Option<TlsMode>) {
        self.record.listener = Some(listener.label.clone());
        self.record.tls_mode = tls_mode;
    }

    /// Records the rule that routes the session, counts it as started and open, and returns the
    /// series its bytes are counted in.
    pub(crate) fn rule(&mut self, rule: &RuntimeRule) -> SessionSeries {
        self.record.route = Some(rule.metrics.label().clone());
        self.record.rule = Some(rule.rule.index);
        let series = rule.metrics.sessions(self.record.protocol).clone();
        series.started.inc();
        series.active.inc();
        if let Some(previous) = self.series.replace(series.clone()) {
            previous.active.dec();
        }
        series
    }

    /// Records the upstream endpoint the session goes to.
    pub(crate) fn upstream(&mut self, endpoint: SocketAddr) {
        self.record.upstream = Some(endpoint);
    }

    /// Adds bytes received from and sent to the client (the metrics count them as they pass).
    pub(crate) fn add_bytes(&mut self, received: u64, sent: u64) {
        self.record.bytes_in += received;
        self.record.bytes_out += sent;
    }

    /// Records why the session ends in an error.
    pub(crate) fn fail(&mut self, reason: &'static str) {
        self.record.reason = Some(reason);
    }
}

impl Drop for SessionLog {
    fn drop(&mut self) {
        let protocol = self.record.protocol;
        match self.series.take() {
            Some(series) => {
                series.active.dec();
            }
            None => {
                self.metrics.unrouted().sessions(protocol).started.inc();
            }
        }
        if let Some(reason) = self.record.reason {
            self.metrics.session_error(protocol, reason);
        }
        if let Some(log) = &self.access_log {
            self.record.duration = self.start.elapsed();
            let record = SessionRecord {
                sni: self.record.sni.take(),
                route: self.record.route.take(),
                listener: self.record.listener.take(),
                ..self.record
            };
            log.log_session(record);
        }
    }
}
