//! One gateway process: provider → translate → data plane, with statuses and reload metrics.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rauta_provider::{FileProvider, GenerationTracker, LoadError};
use rauta_proxy::{ApplyError, BindFailure};
use rauta_translate::{Problem, Severity};

use crate::admin::AdminState;
use crate::reload_metrics::ReloadMetrics;
use crate::status_store::GatewayCondition;

/// Loads the configuration and applies it, keeping the last good one when a load fails.
pub struct Gateway {
    provider: FileProvider,
    generations: GenerationTracker,
    admin: Arc<AdminState>,
    metrics: ReloadMetrics,
    reported: HashSet<String>,
}

impl Gateway {
    /// A gateway over `provider`, serving through `admin.dataplane`.
    pub fn new(provider: FileProvider, admin: Arc<AdminState>, metrics: ReloadMetrics) -> Self {
        Self {
            provider,
            generations: GenerationTracker::default(),
            admin,
            metrics,
            reported: HashSet::new(),
        }
    }

    /// Reads every file again and applies the result.
    ///
    /// A file that does not parse rejects the whole load: the last good snapshot keeps serving and
    /// the error is logged (file, resource, field), counted and shown in `/status`. Resources that
    /// parse but are invalid are handled as Kubernetes would: the translator leaves them out of the
    /// snapshot (or answers 500 for their invalid backends) and reports them in their statuses.
    pub async fn reload(&mut self) {
        let now = now_rfc3339();
        let mut loaded = match self.provider.load() {
            Ok(loaded) => loaded,
            Err(errors) => {
                for e in &errors {
                    tracing::error!(error = %e, "configuration rejected; the last good configuration keeps serving");
                }
                self.metrics.rejected();
                self.admin
                    .statuses
                    .mark_rejected(errors.iter().filter_map(rejected_status).collect(), &now);
                return;
            }
        };
        self.generations.assign(&mut loaded.inputs);
        let translation = rauta_translate::translate(&loaded.inputs);
        self.report(loaded.warnings.iter().chain(&translation.problems));
        let errors = translation
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count();
        let statuses = translation
            .statuses
            .iter()
            .filter_map(|s| serde_json::to_value(s).ok())
            .collect();
        self.admin.statuses.replace(statuses, &now);
        let snapshot = Arc::new(translation.snapshot);
        if let Err(e) = self.admin.dataplane.apply(snapshot).await {
            tracing::error!(error = %e, "some listeners could not be opened; the others serve");
            if let ApplyError::Binds(failures) = &e {
                self.report_bind_failures(failures, &now);
            }
        }
        self.admin.ready.store(true, Ordering::Release);
        self.metrics.applied(errors);
        tracing::info!(files = loaded.files.len(), problems = errors, "configuration applied");
    }

    /// Puts what only binding can find out into the Gateway statuses: a Gateway address that
    /// cannot be bound is `Programmed=False AddressNotUsable`; its listeners are not programmed.
    fn report_bind_failures(&self, failures: &[BindFailure], now: &str) {
        for failure in failures {
            let message = failure.to_string();
            let mut gateways: Vec<(&str, &str)> = failure
                .listeners
                .iter()
                .map(|l| (l.namespace.as_str(), l.gateway.as_str()))
                .collect();
            gateways.dedup();
            for (namespace, name) in gateways {
                let sections: Vec<&str> = failure
                    .listeners
                    .iter()
                    .filter(|l| l.namespace == namespace && l.gateway == name)
                    .map(|l| l.section.as_str())
                    .collect();
                // A wildcard bind failing is a port problem of the listeners; a specific address
                // failing is the Gateway's address being unusable.
                let gateway_condition =
                    (!failure.address.ip().is_unspecified()).then_some(("Programmed", "AddressNotUsable"));
                self.admin.statuses.set_gateway_false(
                    GatewayCondition {
                        namespace,
                        name,
                        gateway_condition,
                        sections: &sections,
                        listener_conditions: &[("Programmed", "Invalid")],
                        message: &message,
                    },
                    now,
                );
            }
        }
    }

    /// Logs each problem once, until it goes away and comes back.
    fn report<'a>(&mut self, problems: impl Iterator<Item = &'a Problem>) {
        let mut current = HashSet::new();
        for problem in problems {
            let line = problem.to_string();
            if !self.reported.contains(&line) {
                match problem.severity {
                    Severity::Error => tracing::warn!(problem = %line, "invalid resource"),
                    Severity::Warning => tracing::warn!(problem = %line, "ignored"),
                }
            }
            current.insert(line);
        }
        self.reported = current;
    }
}

/// A `/status` entry for a resource whose document failed to parse.
fn rejected_status(error: &LoadError) -> Option<serde_json::Value> {
    let LoadError::Parse(parse) = error else { return None };
    let (kind, namespace, name) = parse.resource()?;
    Some(serde_json::json!({
        "kind": kind,
        "namespace": namespace,
        "name": name,
        "status": {"conditions": [{
            "type": "Accepted",
            "status": "False",
            "reason": "Invalid",
            "message": parse.to_string(),
            "lastTransitionTime": "1970-01-01T00:00:00Z",
        }]},
    }))
}

/// The current time in RFC 3339, as Kubernetes writes condition times.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
