//! `spec.tls.backend.clientCertificateRef`: the certificate a Gateway presents when it speaks TLS
//! to a backend (one a BackendTLSPolicy targets) that asks for a client certificate.

use gateway_api::experimental::gateways::GatewayTls;
use rauta_ir::{Certificate, PemBytes};

use super::certificates::pem_pair;
use crate::GATEWAY_GROUP;
use crate::index::Index;
use crate::reference_grant::{self, From, To};

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
    let invalid = |message: String| ("InvalidClientCertificateRef", message);
    let group = r.group.as_deref().unwrap_or("");
    let kind = r.kind.as_deref().unwrap_or("Secret");
    if !group.is_empty() || kind != "Secret" {
        let shown = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        return Some(Err(invalid(format!(
            "client certificate kind {shown} is not supported (only core Secrets are)"
        ))));
    }
    let namespace = r.namespace.as_deref().unwrap_or(gw_ns);
    let from = From {
        group: GATEWAY_GROUP,
        kind: "Gateway",
        namespace: gw_ns,
    };
    let to = To {
        group: "",
        kind: "Secret",
        namespace,
        name: &r.name,
    };
    if !reference_grant::permits(index, from, to) {
        let message = format!(
            "no ReferenceGrant in namespace {namespace} allows Gateways in {gw_ns} to reference Secret {}",
            r.name
        );
        return Some(Err(("RefNotPermitted", message)));
    }
    let source = format!("{namespace}/{}", r.name);
    let Some(secret) = index.secrets.get(&(namespace, r.name.as_str())) else {
        return Some(Err(invalid(format!("Secret {source} does not exist"))));
    };
    Some(match pem_pair(secret.resource) {
        Ok((chain, key)) => Ok(Certificate {
            source,
            chain_pem: PemBytes::new(chain),
            key_pem: PemBytes::new(key),
        }),
        Err(message) => Err(invalid(format!("Secret {source}: {message}"))),
    })
}
