//! One gateway process: provider → translate → data plane, with statuses and reload metrics.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use jiff::Timestamp;
use rauta_ir::SetRef;
use rauta_provider::{FileProvider, LoadError};
use rauta_proxy::{ApplyError, BindFailure};
use rauta_translate::{Problem, ResourceStatus, Severity, Translator};

use crate::admin::AdminState;
use crate::reload_metrics::ReloadMetrics;
use crate::status_store::ConditionUpdate;

/// Loads the configuration and applies it, keeping the last good one when a load fails.
pub struct Gateway {
    provider: FileProvider,
    /// Keeps what each route translated to, so a reload re-translates only what changed.
    translator: Translator,
    admin: Arc<AdminState>,
    metrics: ReloadMetrics,
    reported: HashSet<String>,
}

impl Gateway {
    /// A gateway over `provider`, serving through `admin.dataplane`.
    pub fn new(provider: FileProvider, admin: Arc<AdminState>, metrics: ReloadMetrics) -> Self {
        Self {
            provider,
            translator: Translator::new(),
            admin,
            metrics,
            reported: HashSet::new(),
        }
    }

    /// Reads the files again (parsing only those that changed) and applies the result.
    ///
    /// A file that does not parse rejects the whole load: the last good snapshot keeps serving and
    /// the error is logged (file, resource, field), counted and shown in `/status`. Resources that
    /// parse but are invalid are handled as Kubernetes would: the translator leaves them out of the
    /// snapshot (or answers 500 for their invalid backends) and reports them in their statuses.
    pub async fn reload(&mut self) {
        let now = now();
        let mut phases = Phases::start();
        let loaded = match self.provider.load() {
            Ok(loaded) => loaded,
            Err(errors) => {
                for e in &errors {
                    tracing::error!(error = %e, "configuration rejected; the last good configuration keeps serving");
                }
                self.metrics.rejected();
                self.admin
                    .statuses
                    .mark_rejected(errors.iter().filter_map(rejected_status).collect(), now);
                return;
            }
        };
        phases.lap("load");
        let translation = self.translator.translate(&loaded.inputs);
        phases.lap("translate");
        let (routes_reused, routes_translated) = self.translator.routes_reused_and_translated();
        // Serve first: statuses report what is served (as a Kubernetes controller writes
        // `Programmed` after programming the data plane), and computing them, logging problems
        // and freeing the old configuration need not delay the new one.
        let applied = self.admin.dataplane.apply(Arc::new(translation.snapshot)).await;
        phases.lap("apply");
        self.report(loaded.warnings.iter().chain(&translation.problems));
        let errors = translation
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count();
        self.admin.statuses.replace(translation.statuses, now);
        if let Err(e) = applied {
            tracing::error!(error = %e, "some listeners could not be opened; the others serve");
            if let ApplyError::Binds(failures) = &e {
                self.report_bind_failures(failures, now);
            }
        }
        phases.lap("statuses");
        self.admin.ready.store(true, Ordering::Release);
        self.metrics.applied(errors);
        let files = loaded.files.len();
        drop(loaded);
        phases.lap("drop");
        tracing::debug!(
            phases = %phases,
            parsed_files = self.provider.parse_count(),
            routes_reused,
            routes_translated,
            "reload timing"
        );
        tracing::info!(files, problems = errors, "configuration applied");
    }

    /// Puts what only binding can find out into the Gateway statuses: a Gateway address that
    /// cannot be bound is `Programmed=False AddressNotUsable`; its listeners (and those its
    /// ListenerSets add there) are not programmed.
    fn report_bind_failures(&self, failures: &[BindFailure], now: Timestamp) {
        for failure in failures {
            let message = failure.to_string();
            // Whoever declares each listener: the Gateway (no set), or a ListenerSet.
            let mut owners: Vec<(&str, &str, Option<&SetRef>)> = failure
                .listeners
                .iter()
                .map(|l| (l.namespace.as_str(), l.gateway.as_str(), l.set.as_ref()))
                .collect();
            owners.sort();
            owners.dedup();
            let mut gateways: Vec<(&str, &str)> = owners.iter().map(|(ns, gw, _)| (*ns, *gw)).collect();
            gateways.dedup();
            // A wildcard bind failing is a port problem of the listeners; a specific address
            // failing is the Gateway's address being unusable.
            let address_unusable = !failure.address.ip().is_unspecified();
            for (namespace, gateway, set) in owners {
                let sections: Vec<&str> = failure
                    .listeners
                    .iter()
                    .filter(|l| l.namespace == namespace && l.gateway == gateway && l.set.as_ref() == set)
                    .map(|l| l.section.as_str())
                    .collect();
                let (kind, namespace, name) = match set {
                    Some(s) => ("ListenerSet", s.namespace.as_str(), s.name.as_str()),
                    None => ("Gateway", namespace, gateway),
                };
                self.admin.statuses.set_false(
                    ConditionUpdate {
                        kind,
                        namespace,
                        name,
                        resource_condition: None,
                        sections: &sections,
                        listener_conditions: &[("Programmed", "Invalid")],
                        message: &message,
                    },
                    now,
                );
            }
            for (namespace, name) in gateways.into_iter().filter(|_| address_unusable) {
                self.admin.statuses.set_false(
                    ConditionUpdate {
                        kind: "Gateway",
                        namespace,
                        name,
                        resource_condition: Some(("Programmed", "AddressNotUsable")),
                        sections: &[],
                        listener_conditions: &[],
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

/// How long each phase of a reload took, for the debug log.
struct Phases {
    last: std::time::Instant,
    laps: Vec<(&'static str, std::time::Duration)>,
}

impl Phases {
    fn start() -> Self {
        Self {
            last: std::time::Instant::now(),
            laps: Vec::new(),
        }
    }

    fn lap(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.laps.push((name, now - self.last));
        self.last = now;
    }
}

impl std::fmt::Display for Phases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (name, took)) in self.laps.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            write!(f, "{sep}{name}={:.2}ms", took.as_secs_f64() * 1e3)?;
        }
        Ok(())
    }
}

/// A `/status` entry for a resource whose document failed to parse.
fn rejected_status(error: &LoadError) -> Option<ResourceStatus> {
    let LoadError::Parse(parse) = error else { return None };
    let (kind, namespace, name) = parse.resource()?;
    Some(ResourceStatus::rejected(kind, namespace, name, parse.to_string()))
}

/// The current time, to the second, as Kubernetes writes condition times.
fn now() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}
