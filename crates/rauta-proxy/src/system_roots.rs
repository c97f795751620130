//! The system's root CAs, for backends whose BackendTLSPolicy says
//! `wellKnownCACertificates: System`.
//!
//! They are read from the host once, the first time a snapshot needs them, and kept for the life
//! of the process: `SSL_CERT_FILE` / `SSL_CERT_DIR` when set, else the distribution's bundle (as
//! OpenSSL finds it). A host without any makes every such handshake fail, which is logged once
//! here as an error and then per failed request.

use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;

static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();

/// The system's root CAs (possibly none), loaded on first use.
pub(crate) fn roots() -> Arc<RootCertStore> {
    ROOTS.get_or_init(|| Arc::new(load())).clone()
}

fn load() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "reading the system's root certificates");
    }
    let mut store = RootCertStore::empty();
    let (added, ignored) = store.add_parsable_certificates(found.certs);
    if store.is_empty() {
        tracing::error!(
            "no system root certificates found (set SSL_CERT_FILE or install a CA bundle): \
             TLS to backends that trust wellKnownCACertificates System will fail"
        );
    } else {
        tracing::info!(added, ignored, "loaded the system's root certificates");
    }
    store
}
