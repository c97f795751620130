//! BackendTLSPolicy: TLS from the gateway to a Service's endpoints, and the policy's status.
//!
//! A policy targets Services (optionally one port, by `sectionName`). For a Service port, a
//! policy naming that port wins over one naming none; among equals the oldest (then
//! `namespace/name`) wins and the others are `Conflicted`. The winner's CA references (ConfigMaps,
//! key `ca.crt`) are the only trust, or, with `wellKnownCACertificates: System`, the system's root
//! CAs (which the data plane loads); a policy without usable CA is not accepted and its Service's
//! traffic fails the handshake (5xx), never falling back to plaintext.

use std::collections::{BTreeMap, BTreeSet};

use gateway_api::backendtlspolicies::{
    BackendTlsPolicy, BackendTlsPolicyStatus, BackendTlsPolicyStatusAncestors,
    BackendTlsPolicyStatusAncestorsAncestorRef, BackendTlsPolicyValidationSubjectAltNamesType,
};
use rauta_ir::{BackendTarget, PemBytes, SubjectAltName, UpstreamTls};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::clusters::ClusterCatalog;
use crate::gateway::GatewayState;
use crate::index::{Entry, Index};
use crate::problem::Problem;
use crate::route::attach::Attachment;
use crate::status::{Cond, ResourceStatus, Status, conditions};
use crate::{CONTROLLER_NAME, GATEWAY_GROUP};

/// A policy judged on its own: what it would configure, and its two conditions.
struct Judged {
    tls: UpstreamTls,
    accepted: Cond,
    resolved: Cond,
}

fn judge(policy: &BackendTlsPolicy, namespace: &str, index: &Index<'_>) -> Judged {
    let v = &policy.spec.validation;
    let mut cas = Vec::new();
    let mut bad: Vec<(&'static str, String)> = Vec::new();
    for r in v.ca_certificate_refs.iter().flatten() {
        if !r.group.is_empty() || r.kind != "ConfigMap" {
            bad.push((
                "InvalidKind",
                format!(
                    "CA reference kind {}/{} is not supported (ConfigMap is)",
                    r.group, r.kind
                ),
            ));
            continue;
        }
        let pem = index
            .config_maps
            .get(&(namespace, r.name.as_str()))
            .and_then(|c| c.resource.data.as_ref()?.get("ca.crt").cloned());
        let usable = pem.as_deref().is_some_and(|p| {
            let certs: Result<Vec<CertificateDer<'static>>, _> = CertificateDer::pem_slice_iter(p.as_bytes()).collect();
            certs.is_ok_and(|c| !c.is_empty())
        });
        match pem {
            Some(p) if usable => cas.push(PemBytes::new(p.into_bytes())),
            _ => bad.push((
                "InvalidCACertificateRef",
                format!("ConfigMap {namespace}/{} does not exist or has no PEM ca.crt", r.name),
            )),
        }
    }
    let resolved = match bad.first() {
        Some((reason, _)) => {
            let messages: Vec<&str> = bad.iter().map(|(_, m)| m.as_str()).collect();
            Cond::no("ResolvedRefs", reason, messages.join("; "))
        }
        None => Cond::yes("ResolvedRefs", "ResolvedRefs", "all references resolved"),
    };
    let well_known = v.well_known_ca_certificates.as_deref().filter(|k| !k.is_empty());
    let has_refs = v.ca_certificate_refs.as_ref().is_some_and(|r| !r.is_empty());
    let mut system_roots = false;
    let accepted = match well_known {
        Some(_) if has_refs => {
            cas.clear();
            Cond::no(
                "Accepted",
                "Invalid",
                "only one of caCertificateRefs and wellKnownCACertificates may be set",
            )
        }
        Some("System") => {
            system_roots = true;
            Cond::yes("Accepted", "Accepted", "policy is accepted")
        }
        Some(other) => Cond::no(
            "Accepted",
            "Invalid",
            format!("wellKnownCACertificates {other:?} is not recognized (System is)"),
        ),
        None if cas.is_empty() => Cond::no("Accepted", "NoValidCACertificate", "no usable CA certificate"),
        None => Cond::yes("Accepted", "Accepted", "policy is accepted"),
    };
    let subject_alt_names = v
        .subject_alt_names
        .iter()
        .flatten()
        .filter_map(|s| match s.r#type {
            BackendTlsPolicyValidationSubjectAltNamesType::Hostname => s.hostname.clone().map(SubjectAltName::Hostname),
            BackendTlsPolicyValidationSubjectAltNamesType::Uri => s.uri.clone().map(SubjectAltName::Uri),
        })
        .collect();
    Judged {
        tls: UpstreamTls {
            server_name: v.hostname.clone(),
            ca_certificates: cas,
            system_roots,
            subject_alt_names,
            client_certificate: None,
        },
        accepted,
        resolved,
    }
}

/// Whether `policy` targets Service `service` with exactly `section` (`None`: no sectionName).
fn targets(policy: &BackendTlsPolicy, service: &str, section: Option<&str>) -> bool {
    policy
        .spec
        .target_refs
        .iter()
        .any(|t| t.group.is_empty() && t.kind == "Service" && t.name == service && t.section_name.as_deref() == section)
}

/// The policy that applies to a Service port: one naming the port, else one naming none; the
/// oldest of those.
fn winner<'i, 'a>(
    index: &'i Index<'a>,
    ns: &str,
    service: &str,
    port_name: Option<&str>,
) -> Option<&'i Entry<'a, BackendTlsPolicy>> {
    let in_ns = || index.backend_tls_policies.iter().filter(move |p| p.namespace == ns);
    port_name
        .filter(|n| !n.is_empty())
        .and_then(|name| in_ns().find(|p| targets(p.resource, service, Some(name))))
        .or_else(|| in_ns().find(|p| targets(p.resource, service, None)))
}

/// The TLS settings for a Service port, when a policy targets it.
pub(crate) fn for_service_port(
    index: &Index<'_>,
    ns: &str,
    service: &str,
    port_name: Option<&str>,
) -> Option<UpstreamTls> {
    let policy = winner(index, ns, service, port_name)?;
    Some(judge(policy.resource, ns, index).tls)
}

/// The status of every policy: one ancestor entry per Gateway with an attached route that sends
/// traffic to a targeted Service.
pub(crate) fn statuses(
    index: &Index<'_>,
    gateways: &[GatewayState<'_>],
    attachments: &[Attachment<'_>],
    catalog: &ClusterCatalog,
) -> (Vec<ResourceStatus>, Vec<Problem>) {
    if index.backend_tls_policies.is_empty() {
        return (Vec::new(), Vec::new());
    }
    // Services each Gateway sends traffic to.
    let mut services: BTreeMap<usize, BTreeSet<(&str, &str)>> = BTreeMap::new();
    for a in attachments {
        for e in a.entries {
            for b in &e.rule.backends {
                if let BackendTarget::Cluster(key) = &b.target
                    && let Some(service) = catalog.service_of(key)
                {
                    services.entry(a.gateway).or_default().insert(service);
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for policy in &index.backend_tls_policies {
        let judged = judge(policy.resource, policy.namespace, index);
        let conflicted = policy.resource.spec.target_refs.iter().find_map(|t| {
            let older = index
                .backend_tls_policies
                .iter()
                .take_while(|p| !std::ptr::eq(*p, policy));
            older
                .filter(|p| p.namespace == policy.namespace)
                .find(|p| targets(p.resource, &t.name, t.section_name.as_deref()))
                .map(|p| p.display_name())
        });
        let accepted = match conflicted {
            Some(by) => Cond::no(
                "Accepted",
                "Conflicted",
                format!("policy {by} targets the same Service and port"),
            ),
            None => judged.accepted.clone(),
        };
        for c in [&accepted, &judged.resolved] {
            if !c.ok {
                problems.push(c.problem(&policy.subject(), "spec"));
            }
        }
        let mut ancestors = Vec::new();
        for (gi, gw) in gateways.iter().enumerate() {
            let used = services.get(&gi).is_some_and(|s| {
                policy.resource.spec.target_refs.iter().any(|t| {
                    t.group.is_empty() && t.kind == "Service" && s.contains(&(policy.namespace, t.name.as_str()))
                })
            });
            if !used {
                continue;
            }
            ancestors.push(BackendTlsPolicyStatusAncestors {
                ancestor_ref: BackendTlsPolicyStatusAncestorsAncestorRef {
                    group: Some(GATEWAY_GROUP.to_owned()),
                    kind: Some("Gateway".to_owned()),
                    name: gw.entry.name.to_owned(),
                    namespace: Some(gw.entry.namespace.to_owned()),
                    port: None,
                    section_name: None,
                },
                conditions: conditions(&[accepted.clone(), judged.resolved.clone()], policy.generation()),
                controller_name: CONTROLLER_NAME.to_owned(),
            });
        }
        if ancestors.is_empty() {
            continue;
        }
        out.push(ResourceStatus {
            kind: "BackendTLSPolicy".into(),
            namespace: Some(policy.namespace.to_owned()),
            name: policy.name.to_owned(),
            status: Status::BackendTlsPolicy(BackendTlsPolicyStatus { ancestors }),
        });
    }
    (out, problems)
}
