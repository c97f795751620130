//! The suite's TLS client trust: it trusts the listener certificate itself as its only root and
//! checks the server name the way Go's `crypto/x509` does. The one difference from webpki that
//! matters here: Go lets `*.org` match `example.org` (a wildcard stands for exactly one label,
//! whatever follows it), which the suite's listener certificate relies on.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
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

/// A client trusting only `trusted`, offering `alpn`.
pub fn client_config(trusted: &Arc<Trusted>, alpn: &[u8]) -> Result<Arc<rustls::ClientConfig>, String> {
    let ders = CertificateDer::pem_slice_iter(trusted.pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("trusted certificate: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = TrustExactly {
        trusted: trusted.clone(),
        ders,
        provider: provider.clone(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
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
