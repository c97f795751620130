//! `spec.tls.backend.clientCertificateRef`: the certificate a Gateway presents when it speaks TLS
//! to a backend (one a BackendTLSPolicy targets) that asks for a client certificate.

use gateway_api::experimental::gateways::GatewayTls;
use rauta_ir::Certificate;

use super::certificates::{Referrer, SecretRef, resolve_secret_pair};
use crate::index::Index;

/// The field problems name.
pub(crate) const FIELD: &str = "spec.tls.backend.clientCertificateRef";

/// Why the reference cannot be used: the Gateway's `ResolvedRefs=False` reason and a message.
pub(crate) type Invalid = (&'static str, String);

/// The Gateway's client certificate: `None` when it sets none. Checks, in order: the kind (core
/// Secret), the ReferenceGrant for another namespace (before existence, so a missing grant does not
/// reveal what exists), the Secret, and its `tls.crt`/`tls.key` (as for listener certificates;
/// Secrets of any type are read, `kubernetes.io/tls` being the usual one).
pub(crate) fn resolve(
    index: &Index<'_>,
    gw_ns: &str,
    tls: Option<&GatewayTls>,
) -> Option<Result<Certificate, Invalid>> {
    let r = tls?.backend.as_ref()?.client_certificate_ref.as_ref()?;
    let reference = SecretRef {
        group: r.group.as_deref().unwrap_or(""),
        kind: r.kind.as_deref().unwrap_or("Secret"),
        namespace: r.namespace.as_deref(),
        name: &r.name,
    };
    Some(resolve_secret_pair(
        index,
        Referrer::gateway(gw_ns),
        &reference,
        "client certificate",
        "InvalidClientCertificateRef",
    ))
}
