//! Metrics of configuration reloads.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// `rauta_config_reloads_total{result}` and `rauta_config_last_reload_successful`.
#[derive(Clone, Debug, Default)]
pub struct ReloadMetrics {
    reloads: Family<ResultLabel, Counter>,
    last_ok: Gauge,
    problems: Gauge,
}

impl ReloadMetrics {
    /// Registers the metrics.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "rauta_config_reloads",
            "Configuration loads by result",
            metrics.reloads.clone(),
        );
        registry.register(
            "rauta_config_last_reload_successful",
            "1 when the last configuration load was applied, 0 when it was rejected",
            metrics.last_ok.clone(),
        );
        registry.register(
            "rauta_config_problems",
            "Error-severity problems (invalid or not accepted resources) in the applied configuration",
            metrics.problems.clone(),
        );
        metrics
    }

    /// Records an applied configuration with `problems` errors in it.
    pub fn applied(&self, problems: usize) {
        self.reloads.get_or_create(&ResultLabel { result: "ok" }).inc();
        self.last_ok.set(1);
        self.problems.set(i64::try_from(problems).unwrap_or(i64::MAX));
    }

    /// Records a rejected configuration.
    pub fn rejected(&self) {
        self.reloads.get_or_create(&ResultLabel { result: "failed" }).inc();
        self.last_ok.set(0);
    }
}
