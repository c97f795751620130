//! TLS termination: one rustls server configuration per HTTPS bind, built when a snapshot is
//! compiled and published with it, so a certificate rotation reaches new handshakes with the next
//! swap while open connections keep the session they negotiated.
//!
//! The certificate is chosen by SNI the way requests choose listeners: the first listener of the
//! bind (most specific hostname first) whose hostname matches the SNI presents its certificate;
//! a client without SNI, or with a name no listener serves, gets the default certificate: the
//! catch-all listener's, else the least specific listener's. Among a listener's certificates the
//! first whose key suits the client's signature algorithms wins (say, ECDSA before RSA).
//!
//! Each bind has two configurations that differ only in their cipher-suite order
//! (`cipher_order`): the ClientHello picks one.
//!
//! Client certificate validation (the Gateway's `tls.frontend`) is part of the same
//! configuration: `AllowValidOnly` fails the handshake without a certificate the CAs vouch for,
//! `AllowInsecureFallback` asks for one and lets every client in.

use std::fmt;
use std::sync::Arc;

use rauta_ir::{Bind, BindProtocol, Certificate, Listener};
use rauta_route::HostnameMatch;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{
    ClientHello, ProducesTickets, ResolvesServerCert, ServerSessionMemoryCache, StoresServerSessions,
};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use rustls::{ServerConfig, version};

use cipher_order::Preference;

mod cipher_order;

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

    /// The server configurations of an HTTPS bind, or of the Terminate listeners of a TLS bind
    /// (`None` for other binds): TLS 1.2 and 1.3, tickets and session IDs for resumption, and on
    /// HTTPS ALPN `h2` then `http/1.1` (a TLSRoute relays bytes, so it offers no ALPN).
    pub(crate) fn server_tls(&self, bind: &Bind) -> Option<ServerTls> {
        let https = match bind.protocol {
            BindProtocol::Https => true,
            BindProtocol::Tls if bind.listeners.iter().any(|l| l.tls.is_some()) => false,
            _ => return None,
        };
        let resolver: Arc<dyn ResolvesServerCert> = Arc::new(SniResolver::new(&bind.listeners, &self.provider));
        let verifier = client_verifier(bind, &self.provider);
        let config = |preference| {
            let provider = Arc::new(cipher_order::ordered(&self.provider, preference));
            let builder = ServerConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&version::TLS13, &version::TLS12])
                .map_err(|e| tracing::error!(error = %e, bind = %bind.address, "TLS versions rejected"))
                .ok()?;
            let builder = match &verifier {
                Some(verifier) => builder.with_client_cert_verifier(verifier.clone()),
                None => builder.with_no_client_auth(),
            };
            let mut config = builder.with_cert_resolver(resolver.clone());
            if https {
                config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            }
            config.ignore_client_order = true;
            config.session_storage = self.sessions.clone();
            if let Some(ticketer) = &self.ticketer {
                config.ticketer = ticketer.clone();
            }
            Some(Arc::new(config))
        };
        Some(ServerTls {
            aes_first: config(Preference::Aes)?,
            chacha_first: config(Preference::ChaCha)?,
        })
    }
}

/// The TLS server side of a bind: one configuration per cipher-suite order, sharing the
/// certificates, client validation, tickets and session cache.
#[derive(Clone)]
pub(crate) struct ServerTls {
    aes_first: Arc<ServerConfig>,
    chacha_first: Arc<ServerConfig>,
}

impl ServerTls {
    /// The configuration to complete the handshake this ClientHello starts.
    pub(crate) fn config_for(&self, hello: &ClientHello<'_>) -> Arc<ServerConfig> {
        match cipher_order::preference(hello, &self.aes_first.crypto_provider().cipher_suites) {
            Preference::Aes => self.aes_first.clone(),
            Preference::ChaCha => self.chacha_first.clone(),
        }
    }
}

/// The client certificate verifier of a bind: the validation of its first (most specific)
/// listener that has one, since a handshake asks for a client certificate before any request
/// names a host. `AllowValidOnly` fails the handshake without a certificate the CAs vouch for;
/// `AllowInsecureFallback` asks for one and lets every client in.
fn client_verifier(bind: &Bind, provider: &Arc<CryptoProvider>) -> Option<Arc<dyn ClientCertVerifier>> {
    let validation = bind
        .listeners
        .iter()
        .find_map(|l| l.tls.as_ref()?.client_validation.as_ref())?;
    let mut roots = RootCertStore::empty();
    for pem in &validation.ca_certificates {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()).flatten() {
            if let Err(e) = roots.add(cert) {
                tracing::warn!(error = %e, bind = %bind.address, "client CA certificate skipped");
            }
        }
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    let builder = if validation.insecure_fallback {
        builder.allow_unauthenticated()
    } else {
        builder
    };
    match builder.build() {
        Ok(verifier) if validation.insecure_fallback => Some(Arc::new(InsecureFallback(verifier))),
        Ok(verifier) => Some(verifier),
        Err(e) => {
            // Never fall back to no validation: a verifier with no roots refuses every client.
            tracing::error!(error = %e, bind = %bind.address, "client certificate validation cannot be built; refusing clients");
            let no_roots =
                WebPkiClientVerifier::builder_with_provider(Arc::new(RootCertStore::empty()), provider.clone());
            no_roots.build().ok()
        }
    }
}

/// `AllowInsecureFallback`: a certificate is asked for and checked (the result is logged), but
/// clients without a valid one are let in.
#[derive(Debug)]
struct InsecureFallback(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for InsecureFallback {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0.verify_client_cert(end_entity, intermediates, now).or_else(|e| {
            tracing::debug!(error = %e, "invalid client certificate accepted (AllowInsecureFallback)");
            Ok(ClientCertVerified::assertion())
        })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
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
