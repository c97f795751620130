//! Ports for listeners a test starts itself; shared by the test suites of `rauta` and
//! `rauta-proxy`.

use std::net::TcpListener as StdListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// A port nobody listens on right now, for a gateway listener the test starts next.
///
/// Taken below Linux's ephemeral range (32768 and up): a port the kernel hands out for port 0
/// could be handed out again, to a backend or client of a test running in parallel, between
/// this check and the gateway's bind; the request then reached that test's backend. Ports are
/// not repeated within a test binary, and each binary (by process id) starts at its own offset.
pub fn free_port() -> u16 {
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(97) % SPAN;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < SPAN, "no free port left below the ephemeral range");
        let port = u16::try_from(FIRST + (start + n) % SPAN).expect("port below 32000");
        if StdListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
