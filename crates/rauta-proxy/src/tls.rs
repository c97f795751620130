//! TLS termination: one rustls server configuration per HTTPS bind, built when a snapshot is
//! compiled and published with it, so a certificate rotation reaches new handshakes with the next
//! swap while open connections keep the session they negotiated.
//!
//! The certificate is chosen by SNI the way requests choose listeners: the first listener of the
//! bind (most specific hostname first) whose hostname matches the SNI presents its certificate;
//! a client without SNI, or with a name no listener serves, gets the default certificate: the
//! catch-all listener's, else the least specific listener's. Among a listener's certificates the
//! first whose key suits the client's signature algorithms wins (say, ECDSA before RSA).

use std::fmt;
use std::sync::Arc;

use rauta_ir::{Bind, BindProtocol, Certificate, Listener};
use rauta_route::HostnameMatch;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{
    ClientHello, ProducesTickets, ResolvesServerCert, ServerSessionMemoryCache, StoresServerSessions,
};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, version};

/// Sessions remembered for stateful resumption (TLS 1.2 session IDs), over all binds.
const SESSION_CACHE_ENTRIES: usize = 4096;

/// Why a certificate of the snapshot cannot be loaded (the translator checks the same things, so
/// this only happens when the IR was built by something else).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CertificateError {
    #[error("certificate {source_name}: {message}")]
    Invalid { source_name: String, message: String },
}

/// What every TLS bind shares across snapshots: the crypto provider, the session-ticket keys and
/// the session cache, so resumption survives configuration swaps.
pub(crate) struct TlsContext {
    provider: Arc<CryptoProvider>,
    ticketer: Option<Arc<dyn ProducesTickets>>,
    sessions: Arc<dyn StoresServerSessions + Send + Sync>,
}

impl TlsContext {
    /// The ring provider, a ticketer with rotating keys, and a bounded session cache.
    pub(crate) fn new() -> Self {
        let ticketer = rustls::crypto::ring::Ticketer::new()
            .map_err(|e| tracing::error!(error = %e, "cannot create the TLS session ticketer; tickets disabled"))
            .ok();
        Self {
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            ticketer,
            sessions: ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES),
        }
    }

    /// The server configuration of an HTTPS bind, or of the Terminate listeners of a TLS bind
    /// (`None` for other binds): TLS 1.2 and 1.3, tickets and session IDs for resumption, and on
    /// HTTPS ALPN `h2` then `http/1.1` (a TLSRoute relays bytes, so it offers no ALPN).
    pub(crate) fn server_config(&self, bind: &Bind) -> Option<Arc<ServerConfig>> {
        let https = match bind.protocol {
            BindProtocol::Https => true,
            BindProtocol::Tls if bind.listeners.iter().any(|l| l.tls.is_some()) => false,
            _ => return None,
        };
        let resolver = SniResolver::new(&bind.listeners, &self.provider);
        let builder = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&version::TLS13, &version::TLS12])
            .map_err(|e| tracing::error!(error = %e, bind = %bind.address, "TLS versions rejected"))
            .ok()?;
        let mut config = builder.with_no_client_auth().with_cert_resolver(Arc::new(resolver));
        if https {
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        }
        config.session_storage = self.sessions.clone();
        if let Some(ticketer) = &self.ticketer {
            config.ticketer = ticketer.clone();
        }
        Some(Arc::new(config))
    }
}

/// Parses one certificate of the snapshot into what rustls presents.
pub(crate) fn certified_key(cert: &Certificate, provider: &CryptoProvider) -> Result<CertifiedKey, CertificateError> {
    let invalid = |message: String| CertificateError::Invalid {
        source_name: cert.source.clone(),
        message,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(format!("chain is not PEM: {e}")))?;
    if chain.is_empty() {
        return Err(invalid("no certificate in the chain".to_owned()));
    }
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).map_err(|e| invalid(format!("key: {e}")))?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| invalid(e.to_string()))
}

/// Picks the certificate for a ClientHello by SNI.
struct SniResolver {
    /// Listeners in the bind's order (most specific first) with their loaded certificates.
    listeners: Vec<(HostnameMatch, Vec<Arc<CertifiedKey>>)>,
    /// Index into `listeners` of the default certificate's listener.
    default: Option<usize>,
}

impl SniResolver {
    fn new(listeners: &[Listener], provider: &CryptoProvider) -> Self {
        let listeners: Vec<(HostnameMatch, Vec<Arc<CertifiedKey>>)> = listeners
            .iter()
            .filter_map(|l| {
                let certs = l.tls.as_ref()?.certificates.iter().filter_map(|c| {
                    certified_key(c, provider)
                        .map_err(|e| tracing::error!(error = %e, listener = %l.name, "certificate skipped"))
                        .ok()
                        .map(Arc::new)
                });
                let certs: Vec<_> = certs.collect();
                (!certs.is_empty()).then(|| (l.hostname.clone(), certs))
            })
            .collect();
        let default = listeners
            .iter()
            .position(|(h, _)| *h == HostnameMatch::Any)
            .or_else(|| listeners.len().checked_sub(1));
        Self { listeners, default }
    }

    fn certificates_for(&self, sni: Option<&str>) -> Option<&[Arc<CertifiedKey>]> {
        let by_name = sni.and_then(|name| {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            self.listeners.iter().find(|(h, _)| h.matches(&name))
        });
        let (_, certs) = by_name.or_else(|| self.listeners.get(self.default?))?;
        Some(certs)
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let certs = self.certificates_for(hello.server_name())?;
        let schemes = hello.signature_schemes();
        certs
            .iter()
            .find(|c| c.key.choose_scheme(schemes).is_some())
            .or_else(|| certs.first())
            .cloned()
    }
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts: Vec<String> = self.listeners.iter().map(|(h, _)| h.to_string()).collect();
        f.debug_struct("SniResolver").field("listeners", &hosts).finish()
    }
}

#[cfg(test)]
mod tests;
