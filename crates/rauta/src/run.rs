//! `rauta run`: serve files, reload on change, drain on SIGTERM/SIGINT.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use prometheus_client::registry::Registry;
use rauta_provider::FileProvider;
use rauta_proxy::{DataPlane, ProxyConfig};
use tokio::sync::watch;

use crate::admin::{self, AdminState};
use crate::cli::{RunArgs, ServeArgs, Switch};
use crate::gateway::Gateway;
use crate::logging;
use crate::reload_metrics::ReloadMetrics;
use crate::status_store::StatusStore;

/// How long the watcher waits for a burst of file changes to end before reloading.
const RELOAD_DEBOUNCE: Duration = Duration::from_millis(10);

pub fn main(args: RunArgs) -> anyhow::Result<ExitCode> {
    logging::init(args.serve.log_format);
    let runtime = runtime(args.serve.workers)?;
    runtime.block_on(serve(FileProvider::new(args.paths), args.serve, |_| {}))?;
    Ok(ExitCode::SUCCESS)
}

/// The tokio runtime with `workers` threads (default: the CPUs this process may use).
pub fn runtime(workers: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        anyhow::ensure!(workers > 0, "--workers must be at least 1");
        builder.worker_threads(workers);
    }
    builder.enable_all().build().context("cannot start the runtime")
}

/// Serves `provider` until SIGTERM/SIGINT; `on_ready` runs once the first snapshot serves.
pub async fn serve(provider: FileProvider, args: ServeArgs, on_ready: impl FnOnce(&AdminState)) -> anyhow::Result<()> {
    let mut registry = Registry::default();
    let config = ProxyConfig {
        access_log: args.access_log == Switch::On,
        ..ProxyConfig::default()
    };
    let dataplane = Arc::new(DataPlane::new(config, &mut registry));
    let metrics = ReloadMetrics::register(&mut registry);
    let admin_listener = admin::bind(args.admin_address).await?;
    let state = Arc::new(AdminState {
        ready: AtomicBool::new(false),
        registry,
        dataplane: dataplane.clone(),
        statuses: StatusStore::shared(),
    });
    let (stop_admin, admin_stopped) = watch::channel(false);
    let admin_task = tokio::spawn(admin::serve(admin_listener, state.clone(), admin_stopped));
    tracing::info!(address = %args.admin_address, "admin server listening");

    let (_watcher, mut changes) = rauta_provider::watch_paths(provider.paths(), RELOAD_DEBOUNCE)?;
    let mut gateway = Gateway::new(provider, state.clone(), metrics);
    gateway.reload().await;
    on_ready(&state);

    let stopped = stop_signal()?;
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            Some(()) = changes.recv() => gateway.reload().await,
            () = &mut stopped => break,
        }
    }
    tracing::info!(drain = ?args.drain_timeout, "shutting down: no new connections, draining in-flight requests");
    dataplane.shutdown(args.drain_timeout).await;
    let _ = stop_admin.send(true);
    let _ = admin_task.await;
    tracing::info!("stopped");
    Ok(())
}

/// A future that completes on the first SIGTERM or SIGINT.
pub fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot install signal handlers")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot install signal handlers")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}
