//! Gateway `spec.tls.backend.clientCertificateRef`: the certificate a Gateway presents when it
//! speaks TLS to a backend, seen by a backend that verifies client certificates, and the
//! Gateway's conditions when the reference cannot be used.

use std::sync::Arc;

use anyhow::Result;

use crate::ctx::{Ctx, INFRA, cond, gw, policy, route};
use crate::expect::get;
use crate::scenario;
use crate::scenario::Scenario;

pub const ALL: &[Scenario] = &[
    scenario!("GatewayInvalidTLSBackendConfiguration", invalid_configuration),
    scenario!("GatewayTLSBackendClientCertificate", presents_client_certificate),
];

async fn invalid_configuration(t: Arc<Ctx>) -> Result<()> {
    let cases = [
        (
            "gateway-client-certificate-nonexistent-secret",
            "InvalidClientCertificateRef",
        ),
        (
            "gateway-client-certificate-unsupported-group",
            "InvalidClientCertificateRef",
        ),
        (
            "gateway-client-certificate-unsupported-kind",
            "InvalidClientCertificateRef",
        ),
        (
            "gateway-client-certificate-malformed-secret",
            "InvalidClientCertificateRef",
        ),
        ("gateway-client-certificate-missing-reference-grant", "RefNotPermitted"),
    ];
    let checks = cases.map(|(name, reason)| {
        let t = t.clone();
        async move {
            let g = gw(name);
            t.latest_conditions(&g).await?;
            t.condition(&g, cond("ResolvedRefs", "False", reason)).await?;
            t.condition(&g, cond("Accepted", "True", "Accepted")).await
        }
    });
    // The suite runs the cases as parallel subtests.
    for result in futures_util::future::join_all(checks).await {
        result?;
    }
    // None of them is skipped for readiness: each still serves its listener.
    t.namespace_ready(INFRA).await
}

async fn presents_client_certificate(t: Arc<Ctx>) -> Result<()> {
    let name = "gateway-tls-backend-client-certificate";
    let (g, r) = (gw(name), route(name));
    t.namespace_ready(INFRA).await?;
    let addr = t.accepted(&g, &[], std::slice::from_ref(&r)).await?;
    t.route_resolved(&r, &g).await?;
    t.policy_condition(
        &policy("gateway-tls-backend-client-certificate-test"),
        &g,
        cond("Accepted", "True", "Accepted"),
    )
    .await?;
    t.condition(&g, cond("ResolvedRefs", "True", "ResolvedRefs")).await?;

    let client = t.tls_secret_crt(INFRA, "tls-checks-client-certificate")?;
    let case = get("/")
        .host("abc.example.com")
        .sni("abc.example.com")
        .backend_client_cert(&client)
        .in_namespace(INFRA);
    t.expect(addr, case).await
}
