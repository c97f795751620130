//! `tls.certificateRefs` of a listener → PEM certificates for the IR, or why they cannot be used.

use gateway_api::experimental::gateways::GatewayListenersTlsCertificateRefs;
use k8s_openapi::api::core::v1::Secret;
use rauta_ir::{Certificate, PemBytes};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::GATEWAY_GROUP;
use crate::index::Index;
use crate::reference_grant::{self, From, To};

/// The Secret keys of a `kubernetes.io/tls` Secret.
const TLS_CRT: &str = "tls.crt";
const TLS_KEY: &str = "tls.key";

/// What the certificateRefs of one listener resolved to.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    /// Usable certificates, in reference order.
    pub certificates: Vec<Certificate>,
    /// The `ResolvedRefs=False` reason and one message per unusable reference (with its field).
    pub invalid: Vec<(&'static str, String, String)>,
}

impl Resolved {
    /// The listener's `ResolvedRefs=False` reason: `RefNotPermitted` takes precedence.
    pub fn reason(&self) -> Option<&'static str> {
        let reasons = self.invalid.iter().map(|(r, ..)| *r);
        reasons
            .clone()
            .find(|r| *r == "RefNotPermitted")
            .or_else(|| reasons.clone().next())
    }
}

/// Resolves each reference of a listener of a Gateway in `gw_ns`; `field` is `spec.listeners[i].tls`.
pub(crate) fn resolve(
    index: &Index<'_>,
    gw_ns: &str,
    refs: &[GatewayListenersTlsCertificateRefs],
    field: &str,
) -> Resolved {
    let mut out = Resolved::default();
    for (i, r) in refs.iter().enumerate() {
        let at = format!("{field}.certificateRefs[{i}]");
        match resolve_one(index, gw_ns, r) {
            Ok(certificate) => out.certificates.push(certificate),
            Err((reason, message)) => out.invalid.push((reason, at, message)),
        }
    }
    out
}

fn resolve_one(
    index: &Index<'_>,
    gw_ns: &str,
    r: &GatewayListenersTlsCertificateRefs,
) -> Result<Certificate, (&'static str, String)> {
    let group = r.group.as_deref().unwrap_or("");
    let kind = r.kind.as_deref().unwrap_or("Secret");
    if !group.is_empty() || kind != "Secret" {
        let shown = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        let message = format!("certificateRef kind {shown} is not supported (only core Secrets are)");
        return Err(("InvalidCertificateRef", message));
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
        return Err(("RefNotPermitted", message));
    }
    let source = format!("{namespace}/{}", r.name);
    let Some(secret) = index.secrets.get(&(namespace, r.name.as_str())) else {
        return Err(("InvalidCertificateRef", format!("Secret {source} does not exist")));
    };
    let (chain, key) =
        pem_pair(secret.resource).map_err(|m| ("InvalidCertificateRef", format!("Secret {source}: {m}")))?;
    Ok(Certificate {
        source,
        chain_pem: PemBytes::new(chain),
        key_pem: PemBytes::new(key),
    })
}

/// `tls.crt` and `tls.key` of a Secret (from `data`, or `stringData` as standalone YAML may
/// carry it), checked: at least one certificate, a key rustls can sign with, and the key must
/// belong to the first certificate.
pub(crate) fn pem_pair(secret: &Secret) -> Result<(Vec<u8>, Vec<u8>), String> {
    let value = |key: &str| -> Option<Vec<u8>> {
        let from_data = secret.data.as_ref().and_then(|d| d.get(key)).map(|b| b.0.clone());
        let from_string = || {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|s| s.as_bytes().to_vec())
        };
        from_data.or_else(from_string).filter(|v| !v.is_empty())
    };
    let chain = value(TLS_CRT).ok_or_else(|| format!("no {TLS_CRT}"))?;
    let key = value(TLS_KEY).ok_or_else(|| format!("no {TLS_KEY}"))?;
    check(&chain, &key)?;
    Ok((chain, key))
}

/// Whether `chain` and `key` make a usable certificate: what the data plane will load.
pub(crate) fn check(chain: &[u8], key: &[u8]) -> Result<(), String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{TLS_CRT} is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{TLS_CRT} holds no PEM CERTIFICATE block"));
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("{TLS_KEY} holds no PEM private key: {e}"))?;
    let provider = rustls::crypto::ring::default_provider();
    rustls::sign::CertifiedKey::from_der(certs, key, &provider)
        .map(|_| ())
        .map_err(|e| format!("{TLS_CRT} and {TLS_KEY} do not make a usable certificate: {e}"))
}
