//! Backends: weighted references from rules to clusters, and the clusters themselves.

use std::fmt;
use std::net::SocketAddr;

use serde::Serialize;

use crate::filter::Filter;
use crate::tls::{Certificate, PemBytes};

/// Names a cluster: `namespace/service:port` for a Service port.
///
/// One Service port may give several clusters, told apart by a suffix: ` (udp)` for a UDP port
/// (which may have the number of a TCP one), ` (h2c)` when a GRPCRoute forces HTTP/2 on it, and ` (client namespace/gateway)` when it is reached over TLS from the
/// routes of a Gateway that presents a client certificate (`spec.tls.backend`). The client
/// certificate belongs to the Gateway, not to the Service, so such a Gateway's rules name their own
/// variant of each TLS cluster: its connection pools never mix identities, and the data plane
/// needs no notion of Gateways to pick the certificate.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ClusterKey(pub String);

impl ClusterKey {
    /// The key of a Service port.
    pub fn service(namespace: &str, name: &str, port: u16) -> Self {
        Self(format!("{namespace}/{name}:{port}"))
    }

    /// The variant of this cluster whose TLS connections present the client certificate of
    /// Gateway `namespace/gateway`.
    pub fn with_client(&self, namespace: &str, gateway: &str) -> Self {
        Self(format!("{} (client {namespace}/{gateway})", self.0))
    }
}

impl fmt::Display for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How the data plane speaks to a cluster's endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamProtocol {
    /// HTTP/1.1 (Upgrade requests are tunnelled).
    #[default]
    Http1,
    /// HTTP/2 cleartext with prior knowledge (`appProtocol: kubernetes.io/h2c`, gRPC).
    H2c,
    /// HTTP/1.1 with WebSocket upgrades expected (`appProtocol: kubernetes.io/ws`).
    WebSocket,
    /// UDP datagrams (UDPRoute backends: a Service's UDP port).
    Udp,
}

/// A set of endpoints reached the same way: one Service port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cluster {
    /// The cluster's key.
    pub key: ClusterKey,
    /// Protocol to the endpoints.
    pub protocol: UpstreamProtocol,
    /// Ready endpoints, in a stable order; empty means 503.
    pub endpoints: Vec<SocketAddr>,
    /// TLS to the endpoints (a BackendTLSPolicy targets the Service port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<UpstreamTls>,
}

/// How the data plane speaks TLS to a cluster's endpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UpstreamTls {
    /// SNI sent, and the name verified when `subject_alt_names` is empty.
    pub server_name: String,
    /// The CAs trusted, PEM. With `system_roots` false, empty means no certificate can be trusted
    /// (every handshake fails: the policy's CA references are unusable).
    pub ca_certificates: Vec<PemBytes>,
    /// Trust the system's root CAs (`wellKnownCACertificates: System`). The data plane loads
    /// them once from the host (the translator does no I/O); with none found, handshakes fail.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub system_roots: bool,
    /// When not empty, the certificate must carry one of these instead of `server_name`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<SubjectAltName>,
    /// The certificate presented when the backend asks for one: the Gateway's
    /// `spec.tls.backend.clientCertificateRef` (see [`ClusterKey`] for why this makes a variant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<Certificate>,
}

/// A subject alternative name a backend certificate may be required to carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum SubjectAltName {
    /// A DNS name (wildcards in the certificate match as usual).
    Hostname(String),
    /// A URI, compared exactly (SPIFFE IDs: `spiffe://trust-domain/path`).
    Uri(String),
}

/// Why a backendRef cannot receive traffic; requests sent its way get a 500.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidBackend {
    /// The referenced object does not exist (or the port is not one of its ports).
    NotFound,
    /// A cross-namespace reference without a ReferenceGrant allowing it.
    RefNotPermitted,
    /// A group/kind Rauta cannot send traffic to.
    InvalidKind,
    /// The Service port's appProtocol is not one Rauta speaks.
    UnsupportedProtocol,
}

impl InvalidBackend {
    /// Short reason for access logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "backend_not_found",
            Self::RefNotPermitted => "ref_not_permitted",
            Self::InvalidKind => "invalid_kind",
            Self::UnsupportedProtocol => "unsupported_protocol",
        }
    }
}

/// Where a backendRef sends traffic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendTarget {
    /// A cluster of the snapshot.
    Cluster(ClusterKey),
    /// An invalid reference: its share of requests gets a 500.
    Invalid(InvalidBackend),
}

/// One weighted backend of a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BackendRef {
    /// Relative weight; 0 never receives traffic.
    pub weight: u32,
    /// Destination.
    pub target: BackendTarget,
    /// Filters applied only when this backend is chosen (after the rule's filters).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
}
