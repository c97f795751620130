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

/// How long the watcher waits for a burst of file changes to end before reloading. Short: an
/// editor or `cp` writes a file in well under a millisecond, and a reload that changes a few
/// routes costs a few milliseconds (the translator and the data plane reuse the rest), so an
/// extra reload in a longer burst is cheap, while every millisecond here delays every change.
const RELOAD_DEBOUNCE: Duration = Duration::from_millis(5);

pub fn main(args: RunArgs) -> anyhow::Result<ExitCode> {
    logging::init(args.serve.log_format);
    let runtimes = Runtimes::start(args.serve.workers)?;
    let workers = runtimes.worker_handles();
    runtimes
        .control
        .block_on(serve(FileProvider::new(args.paths), args.serve, workers, |_| {}))?;
    Ok(ExitCode::SUCCESS)
}

/// The runtimes of a serving process: the control runtime on the calling thread (provider,
/// reloads, admin server) and one single-threaded worker runtime per core, each on its own
/// thread, serving the connections its listening sockets accept.
///
/// Per-core runtimes instead of one work-stealing runtime: no scheduler synchronisation and no
/// cross-thread wake-ups on the request path (docs/benchmarks.md), and a reload never runs on a
/// thread that serves requests.
pub struct Runtimes {
    /// Runs the control plane; `block_on` it.
    pub control: tokio::runtime::Runtime,
    workers: Vec<Worker>,
}

struct Worker {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Runtimes {
    /// Starts `workers` worker runtimes (default: the CPUs this process may run on).
    pub fn start(workers: Option<usize>) -> anyhow::Result<Self> {
        let count = match workers {
            Some(n) => {
                anyhow::ensure!(n > 0, "--workers must be at least 1");
                n
            }
            None => std::thread::available_parallelism().map_or(1, usize::from),
        };
        let control = single_threaded()?;
        let workers = (0..count).map(start_worker).collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self { control, workers })
    }

    /// Handles to the worker runtimes, for the data plane.
    pub fn worker_handles(&self) -> Vec<tokio::runtime::Handle> {
        self.workers.iter().map(|w| w.handle.clone()).collect()
    }
}

impl Drop for Runtimes {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            if let Some(stop) = worker.stop.take() {
                let _ = stop.send(());
            }
        }
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

fn start_worker(index: usize) -> anyhow::Result<Worker> {
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("rauta-worker-{index}"))
        .spawn(move || {
            crate::allocator::use_mimalloc_on_this_thread();
            let runtime = match single_threaded() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = handle_tx.send(Err(e));
                    return;
                }
            };
            let _ = handle_tx.send(Ok(runtime.handle().clone()));
            // The worker serves whatever is spawned on it until the process stops.
            runtime.block_on(async {
                let _ = stopped.await;
            });
        })
        .context("cannot start a worker thread")?;
    let handle = handle_rx.recv().context("a worker thread died while starting")??;
    Ok(Worker {
        handle,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// A single-threaded tokio runtime with I/O and timers.
pub fn single_threaded() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

/// Serves `provider` until SIGTERM/SIGINT; `on_ready` runs once the first snapshot serves.
pub async fn serve(
    provider: FileProvider,
    args: ServeArgs,
    workers: Vec<tokio::runtime::Handle>,
    on_ready: impl FnOnce(&AdminState),
) -> anyhow::Result<()> {
    let mut registry = Registry::default();
    let config = ProxyConfig {
        access_log: args.access_log == Switch::On,
        workers,
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
