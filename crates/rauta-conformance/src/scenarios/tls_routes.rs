//! TLSRoute (the GATEWAY-TLS profile): passthrough by SNI to the TLS backends, termination at
//! the gateway (plain or re-encrypted by a BackendTLSPolicy), both on one port, hostname
//! intersection, rejected connections, and the statuses of routes and listeners that cannot
//! work.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;

use crate::claims;
use crate::ctx::{Ctx, INFRA, cond, gw, parent, policy, tls_route};
use crate::expect::{Backend, get};
use crate::manifest::Key;
use crate::scenario;
use crate::scenario::Scenario;
use crate::status::{self, ListenerExpect};
use crate::tcp::{LineExpect, LineTls};

pub const ALL: &[Scenario] = &[
    scenario!("TLSRouteSimpleSameNamespace", simple_same_namespace),
    scenario!("TLSRouteHostnameIntersection", hostname_intersection),
    scenario!("TLSRouteInvalidBackendRefNonexistent", invalid_backend_ref_nonexistent),
    scenario!("TLSRouteInvalidBackendRefUnknownKind", invalid_backend_ref_unknown_kind),
    scenario!("TLSRouteInvalidNoMatchingListener", invalid_no_matching_listener),
    scenario!(
        "TLSRouteInvalidNoMatchingListenerHostname",
        invalid_no_matching_listener_hostname
    ),
    scenario!("TLSRouteInvalidReferenceGrant", invalid_reference_grant),
    scenario!(
        "TLSRouteListenerMixedTerminationNotSupported",
        mixed_termination_not_supported
    ),
    scenario!("TLSRouteListenerPassthroughSupportedKinds", passthrough_supported_kinds),
    scenario!("TLSRouteListenerTerminateNotSupported", terminate_not_supported),
    scenario!("TLSRouteListenerTerminateSupportedKinds", terminate_supported_kinds),
    scenario!(
        "TLSRouteMixedTerminationSameNamespace",
        mixed_termination_same_namespace
    ),
    scenario!("TLSRouteTerminateSimpleSameNamespace", terminate_simple_same_namespace),
    scenario!("BackendTLSPolicyTLSRouteTerminate", backend_tls_policy_terminate),
];

/// The CA that signed the TLS backends' and the terminate listeners' certificates.
const CA: &str = "tls-checks-ca-certificate";
/// tls-backend and tls-backend-2 serve HTTPS with this certificate.
const BACKEND_CERT: &str = "tls-checks-certificate";

const TLS_BACKEND: Backend = Backend {
    name: "tls-backend",
    namespace: INFRA,
};
const TLS_BACKEND_2: Backend = Backend {
    name: "tls-backend-2",
    namespace: INFRA,
};

/// `GatewayAndTLSRoutesMustBeAccepted`: the Gateway has an address (with its first listener's
/// port) and every route an accepted parent entry for it; the routes' hostnames, as the suite
/// returns them (those of the last route).
async fn accepted(t: &Ctx, g: &Key, routes: &[Key]) -> Result<(SocketAddr, Vec<String>)> {
    let addr = t.gateway_address(g, None).await?;
    let gw_ns = g.namespace.clone().unwrap_or_default();
    let parents = [parent(&gw_ns, &g.name, vec![status::ACCEPTED])];
    let mut hostnames = Vec::new();
    for r in routes {
        t.route_parents(r, &parents, r.namespace != g.namespace).await?;
        hostnames = t.resource(r)?["spec"]["hostnames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h.as_str().map(str::to_owned))
            .collect();
    }
    Ok((addr, hostnames))
}

/// The one hostname of a route, as the suite insists.
fn only(hostnames: &[String]) -> Result<String> {
    match hostnames {
        [one] => Ok(one.clone()),
        _ => anyhow::bail!(
            "expected one hostname in the test configuration, found {}",
            hostnames.len()
        ),
    }
}

/// The line-protocol client's TLS: SNI `server_name`, trusting the CA ConfigMap's certificate.
fn line_tls(t: &Ctx, server_name: &str) -> Result<LineTls> {
    Ok(LineTls {
        server_name: server_name.to_owned(),
        roots: t.ca(INFRA, CA)?,
    })
}

fn tcp_backend(backend_is_tls: bool, hostname: &str) -> LineExpect {
    LineExpect {
        backend_is_tls,
        backend: "tcp-backend",
        namespace: INFRA,
        hostname: hostname.to_owned(),
    }
}

async fn simple_same_namespace(t: Arc<Ctx>) -> Result<()> {
    let g = gw("gateway-tlsroute");
    t.namespace_ready(INFRA).await?;
    let (addr, hostnames) = accepted(&t, &g, &[tls_route("gateway-conformance-infra-test")]).await?;
    let server = only(&hostnames)?;
    t.expect_line(addr, Some(&line_tls(&t, &server)?), tcp_backend(true, &server))
        .await
}

async fn hostname_intersection(t: Arc<Ctx>) -> Result<()> {
    t.namespace_ready(INFRA).await?;
    let root = t.cert(INFRA, BACKEND_CERT)?;
    let https = |host: &str, backend: Backend| get("/").host(host).https(host, &root).to(backend);
    let groups: [(&str, &[&str], bool, &str); 4] = [
        (
            "gw-tlsroute-exact-hostname-x-1",
            &["tlsroute-more-specific-wc-hostname-x-1"],
            false,
            "non.matching.com",
        ),
        (
            "gw-tlsroute-more-specific-wc-hostname-x-2",
            &["tlsroute-exact-hostname-x-2", "tlsroute-less-specific-wc-hostname-x-2"],
            true,
            "non.matching.com",
        ),
        (
            "gw-tlsroute-less-specific-wc-hostname-x-3",
            &["tlsroute-exact-hostname-x-3", "tlsroute-more-specific-wc-hostname-x-3"],
            true,
            "non.matching.com",
        ),
        (
            "gw-tlsroute-empty-hostname-x-4",
            &["tlsroute-exact-hostname-x-4", "tlsroute-less-specific-wc-hostname-x-4"],
            true,
            "non.matching.org",
        ),
    ];
    for (gateway, routes, wildcard, unmatched) in groups {
        let g = gw(gateway);
        let routes: Vec<Key> = routes.iter().map(|r| tls_route(r)).collect();
        let (addr, _) = accepted(&t, &g, &routes).await?;
        for r in &routes {
            t.route_resolved(r, &g).await?;
        }
        let exact = t.expect_tls(addr, https("abc.example.com", TLS_BACKEND));
        let other = async {
            if wildcard {
                t.expect_tls(addr, https("other.example.com", TLS_BACKEND_2)).await
            } else {
                Ok(())
            }
        };
        let rejected = t.expect_rejected(addr, unmatched);
        let (a, b, c) = tokio::join!(exact, other, rejected);
        a.and(b).and(c)?;
    }
    Ok(())
}

/// A passthrough route with an unusable backend: accepted, not resolved, and connections for
/// its hostname are closed.
async fn invalid_backend(t: &Ctx, gateway: &str, name: &str, reason: &'static str) -> Result<()> {
    let g = gw(gateway);
    let r = tls_route(name);
    t.namespace_ready(INFRA).await?;
    let (addr, hostnames) = accepted(t, &g, std::slice::from_ref(&r)).await?;
    t.route_condition(&r, &g, cond("ResolvedRefs", "False", reason)).await?;
    let server = hostnames
        .first()
        .ok_or_else(|| anyhow::anyhow!("{r} has no hostname"))?;
    t.expect_rejected(addr, server).await
}

async fn invalid_backend_ref_nonexistent(t: Arc<Ctx>) -> Result<()> {
    invalid_backend(
        &t,
        "gateway-tlsroute-invalid-backend-ref-nonexistent",
        "invalid-backend-ref-nonexistent",
        "BackendNotFound",
    )
    .await
}

async fn invalid_backend_ref_unknown_kind(t: Arc<Ctx>) -> Result<()> {
    invalid_backend(
        &t,
        "gateway-tlsroute-invalid-backend-ref-unknown-kind",
        "invalid-backend-ref-unknown-kind",
        "InvalidKind",
    )
    .await
}

async fn invalid_no_matching_listener(t: Arc<Ctx>) -> Result<()> {
    t.namespace_ready(INFRA).await?;
    let not_allowed = cond("Accepted", "False", "NotAllowedByListeners");
    let http = tls_route("tlsroute-not-allowed-protocol-http");
    let https = tls_route("tlsroute-not-allowed-protocol-https");
    let section = tls_route("tlsroute-no-matching-section-name");
    let (http_gw, https_gw) = (gw("gateway-tlsroute-http-only"), gw("gateway-tlsroute-https-only"));
    t.route_condition(&http, &http_gw, not_allowed).await?;
    t.route_condition(&https, &https_gw, not_allowed).await?;
    t.route_condition(
        &section,
        &gw("gateway-tlsroute-tls-passthrough-only"),
        cond("Accepted", "False", "NoMatchingParent"),
    )
    .await?;
    for r in [&http, &https, &section] {
        t.route_not_accepted(r).await?;
    }
    t.gateway_zero_routes(&http_gw).await?;
    t.gateway_zero_routes(&https_gw).await
}

async fn invalid_no_matching_listener_hostname(t: Arc<Ctx>) -> Result<()> {
    t.namespace_ready(INFRA).await?;
    let no_hostname = cond("Accepted", "False", "NoMatchingListenerHostname");
    let (exact, wildcard) = (gw("gateway-tls-exact-hostname"), gw("gateway-tls-wildcard-hostname"));
    let (r1, r2) = (
        tls_route("tlsroute-hostname-mismatch-1"),
        tls_route("tlsroute-hostname-mismatch-2"),
    );
    t.route_condition(&r1, &exact, no_hostname).await?;
    t.route_condition(&r2, &wildcard, no_hostname).await?;
    t.route_not_accepted(&r1).await?;
    t.route_not_accepted(&r2).await?;
    t.gateway_zero_routes(&exact).await?;
    t.gateway_zero_routes(&wildcard).await
}

async fn invalid_reference_grant(t: Arc<Ctx>) -> Result<()> {
    let g = gw("gateway-tlsroute-referencegrant");
    let r = tls_route("gateway-conformance-infra-test");
    accepted(&t, &g, std::slice::from_ref(&r)).await?;
    t.route_condition(&r, &g, cond("ResolvedRefs", "False", "RefNotPermitted"))
        .await
}

async fn mixed_termination_not_supported(t: Arc<Ctx>) -> Result<()> {
    // The suite returns at once when the implementation claims mixed termination.
    if claims::claims("TLSRouteModeMixed") {
        return Ok(());
    }
    let conflict = |name| ListenerExpect {
        name,
        kinds: &[],
        attached: 0,
        conditions: vec![cond("Accepted", "False", "ProtocolConflict")],
    };
    t.gateway_listeners(
        &gw("gateway-tlsroute-mixed-termination-not-supported"),
        &[conflict("tls-terminate"), conflict("tls-passthrough")],
    )
    .await
}

async fn passthrough_supported_kinds(t: Arc<Ctx>) -> Result<()> {
    let listener = ListenerExpect {
        name: "tls-passthrough",
        kinds: &["TLSRoute"],
        attached: 0,
        conditions: vec![cond("ResolvedRefs", "False", "InvalidRouteKinds")],
    };
    t.gateway_listeners(&gw("gateway-tlsroute-passthrough-supported-kind"), &[listener])
        .await
}

async fn terminate_not_supported(t: Arc<Ctx>) -> Result<()> {
    // The suite returns at once when the implementation claims TLSRoute termination.
    if claims::claims("TLSRouteModeTerminate") {
        return Ok(());
    }
    let listener = ListenerExpect {
        name: "tls-terminate",
        kinds: &[],
        attached: 0,
        conditions: vec![cond("Accepted", "False", "UnsupportedValue")],
    };
    t.gateway_listeners(&gw("gateway-tlsroute-terminate-unsupported"), &[listener])
        .await
}

async fn terminate_supported_kinds(t: Arc<Ctx>) -> Result<()> {
    let listener = ListenerExpect {
        name: "tls-terminate",
        kinds: &["TLSRoute"],
        attached: 0,
        conditions: vec![cond("Accepted", "True", "Accepted")],
    };
    t.gateway_listeners(&gw("gateway-tlsroute-terminate-supported"), &[listener])
        .await
}

async fn mixed_termination_same_namespace(t: Arc<Ctx>) -> Result<()> {
    let g = gw("gateway-tlsroute-mixed-termination");
    t.namespace_ready(INFRA).await?;
    let (addr, passthrough) = accepted(&t, &g, &[tls_route("gateway-conformance-mixed-passthroughroute")]).await?;
    let listener = |name| ListenerExpect {
        name,
        kinds: &["TLSRoute"],
        attached: 1,
        conditions: vec![cond("Accepted", "True", "Accepted")],
    };
    t.gateway_listeners(&g, &[listener("tls-terminate"), listener("tls-passthrough")])
        .await?;
    let passthrough = only(&passthrough)?;
    let (_, terminate) = accepted(&t, &g, &[tls_route("gateway-conformance-mixed-terminateroute")]).await?;
    let terminate = only(&terminate)?;
    let (terminate_tls, passthrough_tls) = (line_tls(&t, &terminate)?, line_tls(&t, &passthrough)?);
    let (a, b) = tokio::join!(
        t.expect_line(addr, Some(&terminate_tls), tcp_backend(false, "")),
        t.expect_line(addr, Some(&passthrough_tls), tcp_backend(true, &passthrough)),
    );
    a.and(b)
}

async fn terminate_simple_same_namespace(t: Arc<Ctx>) -> Result<()> {
    let g = gw("gateway-tlsroute-terminate");
    t.namespace_ready(INFRA).await?;
    let (addr, hostnames) = accepted(&t, &g, &[tls_route("tlsroute-terminated-test")]).await?;
    let server = only(&hostnames)?;
    t.expect_line(addr, Some(&line_tls(&t, &server)?), tcp_backend(false, ""))
        .await
}

async fn backend_tls_policy_terminate(t: Arc<Ctx>) -> Result<()> {
    let g = gw("gateway-btls-tlsroute-terminate");
    t.namespace_ready(INFRA).await?;
    let (addr, hostnames) = accepted(&t, &g, &[tls_route("backendtlspolicy-tlsroute-terminate")]).await?;
    let server = only(&hostnames)?;
    let p = policy("btls-tlsroute-terminate-test");
    t.policy_condition(&p, &g, cond("Accepted", "True", "Accepted")).await?;
    t.policy_condition(&p, &g, cond("ResolvedRefs", "True", "ResolvedRefs"))
        .await?;
    t.expect_line(
        addr,
        Some(&line_tls(&t, &server)?),
        tcp_backend(true, "abc.example.com"),
    )
    .await
}
