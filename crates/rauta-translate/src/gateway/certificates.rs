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

/// Who makes a reference: a Gateway, or a ListenerSet for its own listeners. ReferenceGrants name
/// the kind, and a reference without a namespace means the referrer's.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Referrer<'a> {
    pub kind: &'static str,
    pub namespace: &'a str,
}

impl<'a> Referrer<'a> {
    /// A Gateway in `namespace`.
    pub(crate) fn gateway(namespace: &'a str) -> Self {
        Self {
            kind: "Gateway",
            namespace,
        }
    }
}

/// Resolves each reference of a listener; `field` is `spec.listeners[i].tls`.
pub(crate) fn resolve(
    index: &Index<'_>,
    by: Referrer<'_>,
    refs: &[GatewayListenersTlsCertificateRefs],
    field: &str,
) -> Resolved {
    let mut out = Resolved::default();
    for (i, r) in refs.iter().enumerate() {
        let at = format!("{field}.certificateRefs[{i}]");
        match resolve_one(index, by, r) {
            Ok(certificate) => out.certificates.push(certificate),
            Err((reason, message)) => out.invalid.push((reason, at, message)),
        }
    }
    out
}

fn resolve_one(
    index: &Index<'_>,
    by: Referrer<'_>,
    r: &GatewayListenersTlsCertificateRefs,
) -> Result<Certificate, (&'static str, String)> {
    let reference = SecretRef {
        group: r.group.as_deref().unwrap_or(""),
        kind: r.kind.as_deref().unwrap_or("Secret"),
        namespace: r.namespace.as_deref(),
        name: &r.name,
    };
    resolve_secret_pair(index, by, &reference, "certificateRef", "InvalidCertificateRef")
}

/// A reference to a Secret holding a certificate and its key.
pub(super) struct SecretRef<'r> {
    pub(super) group: &'r str,
    pub(super) kind: &'r str,
    /// `None`: the referrer's namespace.
    pub(super) namespace: Option<&'r str>,
    pub(super) name: &'r str,
}

/// Resolves a Gateway's (or ListenerSet's) Secret reference to a certificate chain and key. Checks, in order: the
/// kind (core Secret), the ReferenceGrant for another namespace (before existence, so a missing
/// grant does not reveal what exists), the Secret, and its `tls.crt`/`tls.key`. Errors carry
/// `invalid_reason` (or `RefNotPermitted`) and a message naming the reference as `what`.
pub(super) fn resolve_secret_pair(
    index: &Index<'_>,
    by: Referrer<'_>,
    r: &SecretRef<'_>,
    what: &str,
    invalid_reason: &'static str,
) -> Result<Certificate, (&'static str, String)> {
    if !r.group.is_empty() || r.kind != "Secret" {
        let shown = if r.group.is_empty() {
            r.kind.to_owned()
        } else {
            format!("{}.{}", r.kind, r.group)
        };
        let message = format!("{what} kind {shown} is not supported (only core Secrets are)");
        return Err((invalid_reason, message));
    }
    let namespace = r.namespace.unwrap_or(by.namespace);
    let from = From {
        group: GATEWAY_GROUP,
        kind: by.kind,
        namespace: by.namespace,
    };
    let to = To {
        group: "",
        kind: "Secret",
        namespace,
        name: r.name,
    };
    if !reference_grant::permits(index, from, to) {
        let message = format!(
            "no ReferenceGrant in namespace {namespace} allows {}s in {} to reference Secret {}",
            by.kind, by.namespace, r.name
        );
        return Err(("RefNotPermitted", message));
    }
    let source = format!("{namespace}/{}", r.name);
    let Some(secret) = index.secrets.get(&(namespace, r.name)) else {
        return Err((invalid_reason, format!("Secret {source} does not exist")));
    };
    let (chain, key) = pem_pair(secret.resource).map_err(|m| (invalid_reason, format!("Secret {source}: {m}")))?;
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
