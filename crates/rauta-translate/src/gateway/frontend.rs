//! `spec.tls.frontend`: client certificate validation for the HTTPS listeners of a Gateway,
//! by default and per port, with CA bundles from ConfigMaps or Secrets (key `ca.crt`).

use std::collections::BTreeMap;

use gateway_api::experimental::gateways::{
    GatewayTls, GatewayTlsFrontendDefaultValidationMode, GatewayTlsFrontendPerPortTlsValidationMode,
};
use rauta_ir::{ClientValidation, PemBytes};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::GATEWAY_GROUP;
use crate::index::Index;
use crate::reference_grant::{self, From, To};

/// The key of a CA bundle in a ConfigMap or Secret.
const CA_CRT: &str = "ca.crt";

/// One `caCertificateRefs` entry.
#[derive(Debug)]
struct CaRef {
    group: String,
    kind: String,
    name: String,
    namespace: Option<String>,
}

/// A validation block (`default.validation` or `perPort[i].tls.validation`).
#[derive(Debug)]
pub(crate) struct Validation {
    field: String,
    refs: Vec<CaRef>,
    insecure_fallback: bool,
}

/// The Gateway's frontend validation settings.
#[derive(Debug, Default)]
pub(crate) struct Frontend {
    default: Option<Validation>,
    per_port: BTreeMap<i32, Validation>,
}

impl Frontend {
    /// Reads `spec.tls.frontend`.
    pub fn read(tls: Option<&GatewayTls>) -> Self {
        let Some(frontend) = tls.and_then(|t| t.frontend.as_ref()) else {
            return Self::default();
        };
        let default = frontend.default.validation.as_ref().map(|v| Validation {
            field: "spec.tls.frontend.default.validation".to_owned(),
            refs: v
                .ca_certificate_refs
                .iter()
                .map(|r| CaRef {
                    group: r.group.clone(),
                    kind: r.kind.clone(),
                    name: r.name.clone(),
                    namespace: r.namespace.clone(),
                })
                .collect(),
            insecure_fallback: v.mode == Some(GatewayTlsFrontendDefaultValidationMode::AllowInsecureFallback),
        });
        let mut per_port = BTreeMap::new();
        for (i, p) in frontend.per_port.iter().flatten().enumerate() {
            let Some(v) = p.tls.validation.as_ref() else { continue };
            per_port.entry(p.port).or_insert(Validation {
                field: format!("spec.tls.frontend.perPort[{i}].tls.validation"),
                refs: v
                    .ca_certificate_refs
                    .iter()
                    .map(|r| CaRef {
                        group: r.group.clone(),
                        kind: r.kind.clone(),
                        name: r.name.clone(),
                        namespace: r.namespace.clone(),
                    })
                    .collect(),
                insecure_fallback: v.mode == Some(GatewayTlsFrontendPerPortTlsValidationMode::AllowInsecureFallback),
            });
        }
        Self { default, per_port }
    }

    /// The validation for listeners on `port`: the port's own, else the default.
    pub fn for_port(&self, port: u16) -> Option<&Validation> {
        self.per_port.get(&i32::from(port)).or(self.default.as_ref())
    }

    /// Whether any validation accepts clients without a valid certificate.
    pub fn insecure(&self) -> bool {
        self.default
            .iter()
            .chain(self.per_port.values())
            .any(|v| v.insecure_fallback)
    }
}

/// What a validation block resolved to: the usable CAs (`None` when there are none) and one
/// `(ResolvedRefs reason, field, message)` per unusable reference.
pub(crate) fn resolve(
    index: &Index<'_>,
    gw_ns: &str,
    v: &Validation,
) -> (Option<ClientValidation>, Vec<(&'static str, String, String)>) {
    let mut cas = Vec::new();
    let mut invalid = Vec::new();
    for (i, r) in v.refs.iter().enumerate() {
        match resolve_one(index, gw_ns, r) {
            Ok(pem) => cas.push(PemBytes::new(pem)),
            Err((reason, message)) => invalid.push((reason, format!("{}.caCertificateRefs[{i}]", v.field), message)),
        }
    }
    let validation = (!cas.is_empty()).then_some(ClientValidation {
        ca_certificates: cas,
        insecure_fallback: v.insecure_fallback,
    });
    (validation, invalid)
}

fn resolve_one(index: &Index<'_>, gw_ns: &str, r: &CaRef) -> Result<Vec<u8>, (&'static str, String)> {
    if !r.group.is_empty() || !matches!(r.kind.as_str(), "ConfigMap" | "Secret") {
        let message = format!(
            "CA certificate kind {}/{} is not supported (ConfigMap and Secret are)",
            r.group, r.kind
        );
        return Err(("InvalidCACertificateKind", message));
    }
    let namespace = r.namespace.as_deref().unwrap_or(gw_ns);
    let from = From {
        group: GATEWAY_GROUP,
        kind: "Gateway",
        namespace: gw_ns,
    };
    let to = To {
        group: "",
        kind: &r.kind,
        namespace,
        name: &r.name,
    };
    if !reference_grant::permits(index, from, to) {
        let message = format!(
            "no ReferenceGrant in namespace {namespace} allows Gateways in {gw_ns} to reference {} {}",
            r.kind, r.name
        );
        return Err(("RefNotPermitted", message));
    }
    let key = (namespace, r.name.as_str());
    let shown = format!("{} {namespace}/{}", r.kind, r.name);
    let pem = if r.kind == "ConfigMap" {
        let map = index
            .config_maps
            .get(&key)
            .ok_or_else(|| ("InvalidCACertificateRef", format!("{shown} does not exist")))?;
        map.resource
            .data
            .as_ref()
            .and_then(|d| d.get(CA_CRT))
            .map(|s| s.as_bytes().to_vec())
    } else {
        let secret = index
            .secrets
            .get(&key)
            .ok_or_else(|| ("InvalidCACertificateRef", format!("{shown} does not exist")))?;
        let data = secret
            .resource
            .data
            .as_ref()
            .and_then(|d| d.get(CA_CRT))
            .map(|b| b.0.clone());
        data.or_else(|| {
            let strings = secret.resource.string_data.as_ref();
            strings.and_then(|d| d.get(CA_CRT)).map(|s| s.as_bytes().to_vec())
        })
    };
    let pem = pem
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ("InvalidCACertificateRef", format!("{shown} has no {CA_CRT}")))?;
    let certs: Result<Vec<CertificateDer<'static>>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    match certs {
        Ok(certs) if !certs.is_empty() => Ok(pem),
        _ => Err((
            "InvalidCACertificateRef",
            format!("{shown}: {CA_CRT} holds no PEM certificate"),
        )),
    }
}
