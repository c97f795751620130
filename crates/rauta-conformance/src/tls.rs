//! The suite's TLS client trust: its HTTPS checks trust the listener certificate itself as their
//! only root and check the server name the way Go's `crypto/x509` does. The one difference from
//! webpki that matters here: Go lets `*.org` match `example.org` (a wildcard stands for exactly
//! one label, whatever follows it), which the suite's listener certificate relies on. Its TCP
//! checks trust a CA (plain webpki verification); its client certificates are presented only
//! when the server asks, and the asking is recorded, as the suite's hook records it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, DigitallySignedStruct, Error, SignatureScheme};

/// A certificate a client trusts, with the DNS names it is valid for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trusted {
    /// PEM.
    pub pem: String,
    /// DNS subject alternative names (wildcards included).
    pub dns_names: Vec<String>,
}

/// Whether `host` matches the certificate name `pattern` by Go's rules: case-insensitive,
/// label by label, a `*` first label standing for exactly one label.
pub fn name_matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let (p, h): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), host.split('.').collect());
    if p.len() != h.len() || host.is_empty() {
        return false;
    }
    p.iter()
        .zip(&h)
        .enumerate()
        .all(|(i, (p, h))| (i == 0 && *p == "*" && !h.is_empty()) || p == h)
}

/// Accepts exactly the trusted certificate, valid for the server name.
#[derive(Debug)]
struct TrustExactly {
    trusted: Arc<Trusted>,
    ders: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for TrustExactly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if !self.ders.iter().any(|d| d.as_ref() == end_entity.as_ref()) {
            return Err(Error::InvalidCertificate(CertificateError::UnknownIssuer));
        }
        let name = server_name.to_str();
        if !self.trusted.dns_names.iter().any(|p| name_matches(p, &name)) {
            return Err(Error::InvalidCertificate(CertificateError::NotValidForName));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A client certificate the suite presents when the server asks for one (its
/// `GetClientCertificate` hook), remembering that it was asked.
#[derive(Debug)]
pub struct ClientCert {
    /// Certificate, PEM.
    pub crt: String,
    /// Private key, PEM.
    pub key: String,
    /// Set when a server asked for a client certificate.
    pub asked: AtomicBool,
}

impl ClientCert {
    /// A client certificate not asked for yet.
    pub fn new(crt: &str, key: &str) -> Arc<Self> {
        Arc::new(Self {
            crt: crt.to_owned(),
            key: key.to_owned(),
            asked: AtomicBool::new(false),
        })
    }

    /// Whether some server asked for it.
    pub fn was_asked(&self) -> bool {
        self.asked.load(Ordering::Relaxed)
    }
}

/// Presents the certificate and notes that the server asked.
#[derive(Debug)]
struct PresentAndRecord {
    cert: Arc<ClientCert>,
    key: Arc<CertifiedKey>,
}

impl ResolvesClientCert for PresentAndRecord {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.cert.asked.store(true, Ordering::Relaxed);
        Some(self.key.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn certified_key(cert: &ClientCert, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, String> {
    let chain = CertificateDer::pem_slice_iter(cert.crt.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("client certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(cert.key.as_bytes()).map_err(|e| format!("client key: {e}"))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("client key: {e}"))?;
    Ok(Arc::new(CertifiedKey::new(chain, signing)))
}

/// A client trusting only `trusted`, offering `alpn`, presenting `client` when asked.
pub fn client_config(
    trusted: &Arc<Trusted>,
    alpn: &[u8],
    client: Option<&Arc<ClientCert>>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let ders = CertificateDer::pem_slice_iter(trusted.pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("trusted certificate: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = TrustExactly {
        trusted: trusted.clone(),
        ders,
        provider: provider.clone(),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some(cert) => builder.with_client_cert_resolver(Arc::new(PresentAndRecord {
            cert: cert.clone(),
            key: certified_key(cert, &provider)?,
        })),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(Arc::new(config))
}

/// A client trusting the CAs in `roots_pem` with the usual (webpki) verification, as Go's
/// `RootCAs` does for the suite's TCP checks; no ALPN.
pub fn ca_client_config(roots_pem: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(roots_pem.as_bytes()) {
        let ca = ca.map_err(|e| format!("CA certificate: {e}"))?;
        roots.add(ca).map_err(|e| format!("CA certificate: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts any server certificate: for checks that only care whether the gateway closes the
/// connection during the handshake.
#[derive(Debug)]
struct AcceptAnything(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client that completes any handshake (no trust decisions), no ALPN.
pub fn any_server_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_like_go() {
        assert!(name_matches("*.org", "example.org"));
        assert!(name_matches("*.wildcard.org", "third-example.wildcard.org"));
        assert!(name_matches("Example.ORG", "example.org."));
        assert!(!name_matches("*.org", "a.example.org"), "a wildcard is one label");
        assert!(!name_matches("*.org", "org"));
        assert!(!name_matches("a*.org", "ab.org"), "no partial wildcards");
        assert!(!name_matches("example.org", "other.org"));
    }
}
