//! TLS settings the data plane needs: the certificates HTTPS listeners present.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

/// The TLS side of a listener that terminates TLS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ListenerTls {
    /// Certificates in `certificateRefs` order; the first one whose key suits the client's
    /// signature algorithms is presented.
    pub certificates: Vec<Certificate>,
    /// Client certificate validation (the Gateway's `tls.frontend` for the listener's port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_validation: Option<ClientValidation>,
}

/// How client certificates are checked during the handshake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClientValidation {
    /// The trusted CA certificates, PEM, one entry per usable reference.
    pub ca_certificates: Vec<PemBytes>,
    /// `AllowInsecureFallback`: a certificate is asked for, but connections without a valid one
    /// are accepted too. Otherwise (`AllowValidOnly`) the handshake fails without one.
    pub insecure_fallback: bool,
}

/// One certificate chain and its private key, PEM-encoded, as read from a Secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Certificate {
    /// Where it came from: `namespace/name` of the Secret.
    pub source: String,
    /// The chain, leaf first (`tls.crt`).
    pub chain_pem: PemBytes,
    /// The private key: PKCS#1, PKCS#8 or SEC1 (`tls.key`). Never printed.
    #[serde(serialize_with = "redacted")]
    pub key_pem: PemBytes,
}

/// PEM text; shared, because every snapshot built from the same Secret holds the same bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct PemBytes(pub Arc<[u8]>);

impl PemBytes {
    /// Wraps PEM bytes.
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Self {
        Self(bytes.into())
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for PemBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PemBytes({} bytes)", self.0.len())
    }
}

/// Certificates are public, but whole PEM blocks make `/config` unreadable: print their size.
impl Serialize for PemBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{} bytes of PEM", self.0.len()))
    }
}

fn redacted<S: Serializer>(_: &PemBytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("(redacted)")
}
