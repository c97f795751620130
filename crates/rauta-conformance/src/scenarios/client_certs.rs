//! Gateway `spec.tls.frontend`: client certificate validation on HTTPS listeners (default and per
//! port), its AllowInsecureFallback mode, and listeners whose validation cannot be used. The
//! client presents a certificate when the server asks, as the suite's hook does.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;

use crate::claims::Need;
use crate::ctx::{Ctx, INFRA, V1, V2, cond, gw, route};
use crate::expect::get;
use crate::scenario;
use crate::scenario::Scenario;
use crate::status::Cond;
use crate::tls::ClientCert;

pub const ALL: &[Scenario] = &[
    scenario!("GatewayFrontendClientCertificateValidation", validation, needs: [Need::HttpsListeners]),
    scenario!(
        "GatewayFrontendClientCertificateValidationInsecureFallback",
        insecure_fallback,
        needs: [Need::HttpsListeners]
    ),
    scenario!(
        "GatewayFrontendInvalidDefaultClientCertificateValidation",
        invalid_default,
        needs: [Need::HttpsListeners]
    ),
    scenario!(
        "GatewayInvalidFrontendClientCertificateValidation",
        invalid_validation,
        needs: [Need::HttpsListeners]
    ),
];

/// The listeners' certificate, which the client trusts.
const LISTENER_CERT: &str = "tls-validity-checks-certificate";
/// Signed by the default CA (`tls-validity-checks-ca-certificate`).
const DEFAULT_CLIENT: &str = "tls-validity-checks-client-certificate";
/// Signed by the per-port CA (`tls-validity-checks-per-port-ca-certificate`).
const PER_PORT_CLIENT: &str = "tls-validity-checks-per-port-client-certificate";

/// The Gateway's address with another port.
fn on_port(addr: SocketAddr, port: u16) -> SocketAddr {
    SocketAddr::new(addr.ip(), port)
}

/// Both routes accepted and resolved; the Gateway's address.
async fn ready(t: &Ctx, gateway: &str, routes: [&str; 2]) -> Result<SocketAddr> {
    let g = gw(gateway);
    let routes = routes.map(route);
    let addr = t.accepted(&g, &[], &routes).await?;
    for r in &routes {
        t.route_resolved(r, &g).await?;
    }
    Ok(addr)
}

/// A GET of `/` for `host` over TLS (SNI `host`), presenting `client` when asked.
fn tls_get(t: &Ctx, host: &str, client: Option<&Arc<ClientCert>>) -> Result<crate::expect::Case> {
    let root = t.cert(INFRA, LISTENER_CERT)?;
    let case = get("/").host(host).https(host, &root);
    Ok(match client {
        Some(c) => case.client_cert(c),
        None => case,
    })
}

async fn validation(t: Arc<Ctx>) -> Result<()> {
    let addr = ready(
        &t,
        "client-validation-default",
        [
            "client-certificate-validation-https-test",
            "client-certificate-validation-https-test-no-hostname",
        ],
    )
    .await?;
    let default_client = t.client_cert(INFRA, DEFAULT_CLIENT)?;
    let per_port_client = t.client_cert(INFRA, PER_PORT_CLIENT)?;

    let default_addr = on_port(addr, 443);
    let ok = tls_get(&t, "example.org", Some(&default_client))?.to(V1);
    t.expect_tls(default_addr, ok).await?;
    let refused = tls_get(&t, "example.org", Some(&t.client_cert(INFRA, PER_PORT_CLIENT)?))?.in_namespace(INFRA);
    t.expect_tls_failure(default_addr, refused).await?;

    let per_port_addr = on_port(addr, 8443);
    let ok = tls_get(&t, "second-example.org", Some(&per_port_client))?.to(V2);
    t.expect_tls(per_port_addr, ok).await?;
    let refused = tls_get(&t, "second-example.org", Some(&t.client_cert(INFRA, DEFAULT_CLIENT)?))?.in_namespace(INFRA);
    t.expect_tls_failure(per_port_addr, refused).await
}

async fn insecure_fallback(t: Arc<Ctx>) -> Result<()> {
    let g = gw("client-validation-insecure-fallback");
    let addr = ready(
        &t,
        "client-validation-insecure-fallback",
        [
            "client-cert-validation-insecure-fallback-test",
            "client-cert-validation-insecure-fallback-test-no-hostname",
        ],
    )
    .await?;
    t.condition(
        &g,
        cond("InsecureFrontendValidationMode", "True", "ConfigurationChanged"),
    )
    .await?;
    for (port, host, backend, matching, other) in [
        (443, "example.org", V1, DEFAULT_CLIENT, PER_PORT_CLIENT),
        (8443, "second-example.org", V2, PER_PORT_CLIENT, DEFAULT_CLIENT),
    ] {
        let listener = on_port(addr, port);
        for client in [Some(matching), Some(other), None] {
            let cert = client.map(|c| t.client_cert(INFRA, c)).transpose()?;
            let case = tls_get(&t, host, cert.as_ref())?.to(backend);
            t.expect_tls(listener, case).await?;
        }
    }
    Ok(())
}

async fn invalid_default(t: Arc<Ctx>) -> Result<()> {
    let g = gw("invalid-default-client-validation-config");
    // The Gateway has an address; its status is checked per listener below.
    let addr = t.gateway_address(&g, None).await?;
    let ready = [
        cond("ResolvedRefs", "True", ""),
        cond("Accepted", "True", ""),
        cond("Programmed", "True", ""),
    ];
    t.listeners_have(&g, &ready, &["http"]).await?;
    t.expect(on_port(addr, 80), get("/").host("example.org").to(V1)).await?;

    let refused: [Cond; 3] = [
        cond("ResolvedRefs", "False", "InvalidCACertificateRef"),
        cond("Accepted", "False", "NoValidCACertificate"),
        cond("Programmed", "False", ""),
    ];
    t.listeners_have(&g, &refused, &["https"]).await?;
    let case = tls_get(&t, "example.org", None)?.in_namespace(INFRA);
    t.expect_tls_failure(on_port(addr, 443), case).await
}

async fn invalid_validation(t: Arc<Ctx>) -> Result<()> {
    let g = gw("gateway-with-invalid-client-cert-validation");
    let refused = |reason: &'static str| {
        [
            cond("ResolvedRefs", "False", reason),
            cond("Accepted", "False", "NoValidCACertificate"),
            cond("Programmed", "False", ""),
        ]
    };
    let cases: [(&str, [Cond; 3]); 4] = [
        (
            "https",
            [
                cond("ResolvedRefs", "True", ""),
                cond("Accepted", "True", ""),
                cond("Programmed", "True", ""),
            ],
        ),
        ("https-unresolved", refused("InvalidCACertificateRef")),
        ("https-invalid-kind", refused("InvalidCACertificateKind")),
        ("https-grant-missing", refused("RefNotPermitted")),
    ];
    for (listener, wants) in cases {
        t.listeners_have(&g, &wants, &[listener]).await?;
    }
    Ok(())
}
