//! Opening bind sockets and accepting connections on them.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::dataplane::Shared;
use crate::server::{Phase, accept_connection};
use crate::stream;

/// Pending connections the kernel queues per socket.
const BACKLOG: i32 = 1024;

/// Opens `count` listening sockets on `address` with `SO_REUSEADDR` (IPv6 sockets are IPv6-only,
/// so `0.0.0.0` and `[::]` binds of the same port can coexist), and `SO_REUSEPORT` when there
/// are several, so that the kernel spreads new connections over them (one per worker). They
/// are registered with a runtime only by the worker that accepts on them.
pub(crate) fn open(address: SocketAddr, count: usize) -> io::Result<Vec<std::net::TcpListener>> {
    (0..count.max(1)).map(|_| open_one(address, count > 1)).collect()
}

fn open_one(address: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Opens the UDP socket of a UDP bind (`SO_REUSEADDR`; IPv6 sockets are IPv6-only, as for TCP).
/// One socket serves every session: it is registered with a runtime by the task that relays it.
pub(crate) fn open_udp(address: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(address), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    Ok(socket.into())
}

/// Accepts connections on `listener` until the task is aborted, on `worker` (or the current
/// runtime); each connection is served on its own task there. At the connection limit accepting
/// pauses and the kernel backlog absorbs new clients.
pub(crate) fn spawn_accept(
    shared: Arc<Shared>,
    listener: std::net::TcpListener,
    address: SocketAddr,
    phase: watch::Receiver<Phase>,
    worker: Option<&Handle>,
) -> JoinHandle<()> {
    let accept = async move {
        // Registered with the reactor of the runtime this task runs on.
        let listener = match TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                tracing::error!(address = %address, error = %e, "cannot register the listening socket");
                return;
            }
        };
        loop {
            let Ok(permit) = shared.connections.clone().acquire_owned().await else {
                return;
            };
            match listener.accept().await {
                Ok((stream, client)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                    }
                    // The view current at accept time decides whether this socket speaks TLS
                    // and with which certificates.
                    let (stream_bind, tls) = {
                        let runtime = shared.runtime.load();
                        let bind = runtime.bind(address);
                        (
                            bind.is_some_and(|b| b.protocol.is_stream()),
                            bind.and_then(|b| b.tls.clone()),
                        )
                    };
                    if stream_bind {
                        tokio::spawn(stream::serve_stream(shared.clone(), stream, client, address, permit));
                        continue;
                    }
                    tokio::spawn(accept_connection(
                        shared.clone(),
                        stream,
                        client,
                        address,
                        phase.clone(),
                        permit,
                        tls,
                    ));
                }
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(address = %address, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    };
    match worker {
        Some(worker) => worker.spawn(accept),
        None => tokio::spawn(accept),
    }
}
