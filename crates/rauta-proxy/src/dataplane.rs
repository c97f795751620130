//! The public face of the data plane: apply snapshots, read the current one, shut down.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use prometheus_client::registry::Registry;
use rauta_ir::Snapshot;
use tokio::sync::{Mutex, Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::access_log::AccessLog;
use crate::config::{Limits, ProxyConfig};
use crate::datagram;
use crate::errors::{ApplyError, BindFailure};
use crate::listener;
use crate::metrics::Metrics;
use crate::runtime::Runtime;
use crate::server::{Phase, Tracker};
use crate::tls::TlsContext;
use crate::upstream::Upstream;

/// Grace given to connections to notice a forced close before `shutdown` returns.
const CLOSE_GRACE: Duration = Duration::from_millis(200);

/// State every connection and request reads; the routing view is its one `ArcSwap`.
pub(crate) struct Shared {
    /// The compiled view of the current snapshot: one swap publishes a whole snapshot.
    pub(crate) runtime: ArcSwap<Runtime>,
    pub(crate) limits: Limits,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) access_log: Option<AccessLog>,
    pub(crate) upstream: Upstream,
    /// Downstream HTTP/2 connection settings (HTTP/1 is Rauta's own server).
    pub(crate) http2: h2::server::Builder,
    /// TLS state that outlives snapshots (ticket keys, session cache).
    pub(crate) tls: TlsContext,
    pub(crate) tracker: Arc<Tracker>,
    /// The data plane's own phase (shutdown).
    pub(crate) phase: watch::Sender<Phase>,
    /// One permit per downstream connection.
    pub(crate) connections: Arc<Semaphore>,
    /// Origin of the connections' coarse activity clocks.
    pub(crate) epoch: Instant,
    /// Worker runtimes (empty: the applying runtime serves).
    workers: Vec<tokio::runtime::Handle>,
}

/// Serves the binds of the last applied [`Snapshot`].
pub struct DataPlane {
    shared: Arc<Shared>,
    control: Mutex<Control>,
}

struct Control {
    /// Open sockets by address and transport (`true`: UDP).
    binds: HashMap<(SocketAddr, bool), BindHandle>,
    /// The phase senders of removed binds, kept so their draining connections still hear the
    /// data plane close (a connection watches only its bind's phase); each is dropped once no
    /// connection holds its receiver.
    stopped: Vec<watch::Sender<Phase>>,
    shut_down: bool,
}

impl Control {
    /// Stops every bind: no more accepts, open connections drain.
    fn stop_binds(&mut self) {
        for (_, handle) in self.binds.drain() {
            self.stopped.push(handle.stop());
        }
    }

    /// Tells every connection, of current and removed binds, that the data plane closed.
    fn close_connections(&mut self) {
        for sender in self.binds.values().map(|h| &h.phase).chain(&self.stopped) {
            sender.send_replace(Phase::Closed);
        }
    }
}

/// The sockets opened for a bind, not serving yet: one per worker for TCP, one for UDP.
enum Opened {
    Tcp(Vec<std::net::TcpListener>),
    Udp(std::net::UdpSocket),
}

struct BindHandle {
    phase: watch::Sender<Phase>,
    /// One accept loop per worker.
    accept: Vec<JoinHandle<()>>,
}

impl BindHandle {
    /// Stops accepting (dropping the sockets) and lets open connections drain; the phase
    /// sender is returned for the data plane's close.
    fn stop(self) -> watch::Sender<Phase> {
        self.abort();
        self.phase.send_replace(Phase::Draining);
        self.phase
    }

    fn abort(&self) {
        for task in &self.accept {
            task.abort();
        }
    }
}

impl DataPlane {
    /// Creates a data plane serving nothing and registers its metrics in `registry`.
    pub fn new(config: ProxyConfig, registry: &mut Registry) -> Self {
        let limits = config.limits;
        let access_log = if config.access_log {
            AccessLog::stdout()
                .map_err(|e| tracing::error!(error = %e, "cannot start the access log writer; access log disabled"))
                .ok()
        } else {
            None
        };
        let (phase, _) = watch::channel(Phase::Serving);
        let shared = Shared {
            runtime: ArcSwap::from_pointee(Runtime::empty()),
            metrics: Metrics::new(registry),
            access_log,
            upstream: Upstream::new(&limits),
            http2: crate::server::h2::builder(limits.max_concurrent_streams, limits.http2_header_list_bytes()),
            tls: TlsContext::new(),
            tracker: Arc::default(),
            phase,
            connections: Arc::new(Semaphore::new(limits.max_connections.clamp(1, Semaphore::MAX_PERMITS))),
            epoch: Instant::now(),
            limits,
            workers: config.workers,
        };
        Self {
            shared: Arc::new(shared),
            control: Mutex::new(Control {
                binds: HashMap::new(),
                stopped: Vec::new(),
                shut_down: false,
            }),
        }
    }

    /// Serves `snapshot` from now on.
    ///
    /// The snapshot is compiled and published in one atomic swap; requests in flight finish on
    /// the view they started with. Sockets are opened for new binds and closed for removed
    /// ones (whose open connections drain). A bind that cannot be opened is reported in the
    /// error while the snapshot is still published and every other bind serves; the next apply
    /// tries it again.
    pub async fn apply(&self, snapshot: Arc<Snapshot>) -> Result<(), ApplyError> {
        let mut control = self.control.lock().await;
        if control.shut_down {
            return Err(ApplyError::ShutDown);
        }
        let runtime = Runtime::compile(
            snapshot.clone(),
            &self.shared.runtime.load(),
            &self.shared.metrics,
            &self.shared.limits,
            &self.shared.tls,
        );

        let mut failures = Vec::new();
        let mut opened = Vec::new();
        for bind in &snapshot.binds {
            let udp = bind.protocol.is_udp();
            if control.binds.contains_key(&(bind.address, udp)) {
                continue;
            }
            let socket = if udp {
                listener::open_udp(bind.address).map(Opened::Udp)
            } else {
                listener::open(bind.address, self.shared.workers.len()).map(Opened::Tcp)
            };
            match socket {
                Ok(socket) => opened.push((bind.address, socket)),
                Err(source) => failures.push(BindFailure {
                    address: bind.address,
                    listeners: bind.listeners.iter().map(|l| l.name.clone()).collect(),
                    source,
                }),
            }
        }

        self.shared.runtime.store(Arc::new(runtime));

        for (address, socket) in opened {
            let (phase, rx) = watch::channel(Phase::Serving);
            let (udp, accept) = match socket {
                Opened::Tcp(sockets) => {
                    let accept = sockets
                        .into_iter()
                        .enumerate()
                        .map(|(i, socket)| {
                            let worker = self.shared.workers.get(i);
                            listener::spawn_accept(self.shared.clone(), socket, address, rx.clone(), worker)
                        })
                        .collect();
                    (false, accept)
                }
                // One relay task per UDP bind, on the first worker: sessions live in its table.
                Opened::Udp(socket) => {
                    let worker = self.shared.workers.first();
                    (
                        true,
                        vec![datagram::spawn(self.shared.clone(), socket, address, worker)],
                    )
                }
            };
            control.binds.insert((address, udp), BindHandle { phase, accept });
        }
        let wanted: HashSet<(SocketAddr, bool)> = snapshot
            .binds
            .iter()
            .map(|b| (b.address, b.protocol.is_udp()))
            .collect();
        let removed: Vec<(SocketAddr, bool)> = control.binds.keys().filter(|a| !wanted.contains(a)).copied().collect();
        for key in removed {
            if let Some(handle) = control.binds.remove(&key) {
                tracing::info!(address = %key.0, udp = key.1, "bind removed; draining its connections");
                let sender = handle.stop();
                control.stopped.push(sender);
            }
        }
        control.stopped.retain(|sender| !sender.is_closed());
        for failure in &failures {
            tracing::warn!(error = %failure, "bind could not be opened");
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ApplyError::Binds(failures))
        }
    }

    /// The snapshot currently served.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.runtime.load().snapshot.clone()
    }

    /// The addresses currently accepting connections.
    pub async fn listening(&self) -> Vec<SocketAddr> {
        let mut addresses: Vec<SocketAddr> = self.control.lock().await.binds.keys().map(|(a, _)| *a).collect();
        addresses.sort();
        addresses.dedup();
        addresses
    }

    /// Stops accepting everywhere, lets requests in flight finish for up to `drain`, then closes
    /// whatever is still open and returns. Later applies fail with [`ApplyError::ShutDown`].
    pub async fn shutdown(&self, drain: Duration) {
        let mut control = self.control.lock().await;
        control.shut_down = true;
        control.stop_binds();
        drop(control);
        self.shared.phase.send_replace(Phase::Draining);
        if tokio::time::timeout(drain, self.shared.tracker.wait_idle())
            .await
            .is_err()
        {
            tracing::warn!(?drain, "drain period over; closing the remaining connections");
        }
        self.shared.phase.send_replace(Phase::Closed);
        self.control.lock().await.close_connections();
        let _ = tokio::time::timeout(CLOSE_GRACE, self.shared.tracker.wait_idle()).await;
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        let control = self.control.get_mut();
        for handle in control.binds.values() {
            handle.abort();
        }
        control.close_connections();
        self.shared.phase.send_replace(Phase::Closed);
    }
}
