//! HTTPS listeners: certificate references and grants, listener changes, TLS traffic.

use std::sync::Arc;

use anyhow::Result;
use serde_json::{Value, json};

use crate::claims::Need;
use crate::ctx::{Ctx, INFRA, V1, V2, V3, cond, gw, route};
use crate::expect::{Case, get, redirect};
use crate::scenario;
use crate::scenario::Scenario;
use crate::status::{Cond, ListenerExpect};

pub const ALL: &[Scenario] = &[
    scenario!("HTTPRouteHTTPSListener", https_listener, needs: [Need::HttpsListeners]),
    scenario!("GatewayInvalidTLSConfiguration", invalid_tls_configuration, needs: [Need::HttpsListeners]),
    scenario!("GatewaySecretInvalidReferenceGrant", secret_invalid_reference_grant, needs: [Need::HttpsListeners]),
    scenario!("GatewaySecretMissingReferenceGrant", secret_missing_reference_grant, needs: [Need::HttpsListeners]),
    scenario!("GatewaySecretReferenceGrantAllInNamespace", secret_reference_grant_all, needs: [Need::HttpsListeners]),
    scenario!("GatewaySecretReferenceGrantSpecific", secret_reference_grant_specific, needs: [Need::HttpsListeners]),
    scenario!("GatewayModifyListeners", modify_listeners, needs: [Need::HttpsListeners]),
    scenario!("HTTPRouteRedirectPortAndScheme", redirect_port_and_scheme, needs: [Need::HttpsListeners]),
    scenario!("HTTPRouteHTTPSListenerDetectMisdirectedRequests", detect_misdirected_requests, needs: [Need::HttpsListeners]),
];

/// The base HTTPS Gateway.
const HTTPS_GATEWAY: &str = "same-namespace-with-https-listener";
/// Its certificate, which the clients trust as their root.
const LISTENER_CERT: &str = "tls-validity-checks-certificate";

/// One `https` listener with the given conditions and no route.
fn unrouted_https(conditions: Vec<Cond>) -> ListenerExpect {
    ListenerExpect {
        name: "https",
        kinds: &["HTTPRoute"],
        attached: 0,
        conditions,
    }
}

async fn https_listener(t: Arc<Ctx>) -> Result<()> {
    let g = gw(HTTPS_GATEWAY);
    let routes = [route("httproute-https-test"), route("httproute-https-test-no-hostname")];
    let addr = t.accepted(&g, &[], &routes).await?;
    for r in &routes {
        t.route_resolved(r, &g).await?;
    }
    let root = t.cert(INFRA, LISTENER_CERT)?;
    let tls = |host: &str| get("/").host(host).https(host, &root);
    let cases = vec![
        tls("example.org").to(V1),
        tls("unknown-example.org").status(404).in_namespace(INFRA),
        tls("second-example.org").to(V2),
    ];
    t.expect_all(addr, cases).await
}

async fn invalid_tls_configuration(t: Arc<Ctx>) -> Result<()> {
    let gateways = [
        "gateway-certificate-nonexistent-secret",
        "gateway-certificate-unsupported-group",
        "gateway-certificate-unsupported-kind",
        "gateway-certificate-malformed-secret",
    ];
    let checks = gateways.map(|name| {
        let t = t.clone();
        async move {
            let listener = unrouted_https(vec![cond("ResolvedRefs", "False", "InvalidCertificateRef")]);
            t.gateway_listeners(&gw(name), &[listener]).await
        }
    });
    futures_util::future::join_all(checks).await.into_iter().collect()
}

async fn secret_invalid_reference_grant(t: Arc<Ctx>) -> Result<()> {
    let listener = unrouted_https(vec![cond("ResolvedRefs", "False", "RefNotPermitted")]);
    t.gateway_listeners(&gw("gateway-secret-invalid-reference-grant"), &[listener])
        .await
}

async fn secret_missing_reference_grant(t: Arc<Ctx>) -> Result<()> {
    let listener = unrouted_https(vec![cond("ResolvedRefs", "False", "RefNotPermitted")]);
    t.gateway_listeners(&gw("gateway-secret-missing-reference-grant"), &[listener])
        .await
}

/// A grant makes the cross-namespace certificate usable: the listener is programmed.
async fn granted(t: &Ctx, gateway: &str) -> Result<()> {
    let listener = unrouted_https(vec![
        cond("Programmed", "True", "Programmed"),
        cond("ResolvedRefs", "True", ""),
    ]);
    t.gateway_listeners(&gw(gateway), &[listener]).await
}

async fn secret_reference_grant_all(t: Arc<Ctx>) -> Result<()> {
    granted(&t, "gateway-secret-reference-grant-all-in-namespace").await
}

async fn secret_reference_grant_specific(t: Arc<Ctx>) -> Result<()> {
    granted(&t, "gateway-secret-reference-grant-specific").await
}

async fn modify_listeners(t: Arc<Ctx>) -> Result<()> {
    let ready = || vec![cond("Accepted", "True", ""), cond("ResolvedRefs", "True", "")];
    let listener = |name| ListenerExpect {
        name,
        kinds: &["HTTPRoute"],
        attached: 1,
        conditions: ready(),
    };

    let add = gw("gateway-add-listener");
    t.namespace_ready(INFRA).await?;
    t.latest_conditions(&add).await?;
    let before = t.generation(&add)?;
    t.patch(&add, |g| {
        push_listener(
            g,
            json!({"name": "http", "port": 80, "protocol": "HTTP", "hostname": "data.test.com",
        "allowedRoutes": {"namespaces": {"from": "All"}}}),
        )
    })?;
    t.namespace_ready(INFRA).await?;
    t.gateway_listeners(&add, &[listener("https"), listener("http")])
        .await?;
    t.latest_conditions(&add).await?;
    anyhow::ensure!(
        t.generation(&add)? != before,
        "the generation did not change after a spec change"
    );

    let remove = gw("gateway-remove-listener");
    t.namespace_ready(INFRA).await?;
    t.latest_conditions(&remove).await?;
    let before = t.generation(&remove)?;
    let listeners = t.resource(&remove)?["spec"]["listeners"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(listeners == 2, "{remove} must have 2 listeners, has {listeners}");
    t.patch(&remove, |g| {
        if let Some(list) = g["spec"]["listeners"].as_array_mut() {
            list.retain(|l| l["name"] == "http");
        }
    })?;
    t.namespace_ready(INFRA).await?;
    t.gateway_listeners(&remove, &[listener("http")]).await?;
    t.latest_conditions(&remove).await?;
    anyhow::ensure!(
        t.generation(&remove)? != before,
        "the generation did not change after a spec change"
    );
    Ok(())
}

fn push_listener(gateway: &mut Value, listener: Value) {
    if let Some(list) = gateway["spec"]["listeners"].as_array_mut() {
        list.push(listener);
    }
}

async fn redirect_port_and_scheme(t: Arc<Ctx>) -> Result<()> {
    let accept = |gateway: &'static str, name: &'static str| {
        let t = t.clone();
        async move {
            let (g, r) = (gw(gateway), route(name));
            let addr = t.accepted(&g, &[], std::slice::from_ref(&r)).await?;
            t.route_resolved(&r, &g).await?;
            anyhow::Ok(addr)
        }
    };
    let addr80 = accept("same-namespace", "http-route-for-listener-on-port-80").await?;
    let addr8080 = accept(
        "same-namespace-with-http-listener-on-8080",
        "http-route-for-listener-on-port-8080",
    )
    .await?;
    let addr443 = accept(HTTPS_GATEWAY, "http-route-for-listener-on-port-443").await?;
    let root = t.cert(INFRA, LISTENER_CERT)?;
    let to = |path: &str, scheme: &str, port: Option<&str>| -> Case {
        let mut target = redirect().scheme(scheme).host("example.org");
        if let Some(port) = port {
            target = target.port(port);
        }
        get(path).status(302).redirect(target).in_namespace(INFRA)
    };
    let tls = |case: Case| case.host("example.org").https("example.org", &root);
    let (a, b, c) = tokio::join!(
        t.expect_all(
            addr80,
            vec![
                to("/scheme-nil-and-port-nil", "http", None),
                to("/scheme-nil-and-port-80", "http", None),
                to("/scheme-nil-and-port-8080", "http", Some("8080")),
                to("/scheme-https-and-port-nil", "https", None),
                to("/scheme-https-and-port-443", "https", None),
                to("/scheme-https-and-port-8443", "https", Some("8443")),
            ],
        ),
        t.expect_all(
            addr8080,
            vec![
                to("/scheme-nil-and-port-nil", "http", Some("8080")),
                to("/scheme-nil-and-port-80", "http", None),
                to("/scheme-https-and-port-nil", "https", None),
            ],
        ),
        t.expect_all(
            addr443,
            vec![
                tls(to("/scheme-nil-and-port-nil", "https", None)),
                tls(to("/scheme-nil-and-port-443", "https", None)),
                tls(to("/scheme-nil-and-port-8443", "https", Some("8443"))),
                tls(to("/scheme-http-and-port-nil", "http", None)),
                tls(to("/scheme-http-and-port-80", "http", None)),
                tls(to("/scheme-http-and-port-8080", "http", Some("8080"))),
            ],
        ),
    );
    a.and(b).and(c)
}

async fn detect_misdirected_requests(t: Arc<Ctx>) -> Result<()> {
    let g = gw(HTTPS_GATEWAY);
    let routes: Vec<_> = (1..=4)
        .map(|i| route(&format!("https-listener-detect-misdirected-requests-test-{i}")))
        .collect();
    let addr = t.accepted(&g, &[], &routes).await?;
    for r in &routes {
        t.route_resolved(r, &g).await?;
    }
    let root = t.cert(INFRA, LISTENER_CERT)?;
    // HTTP/2 over TLS: the SNI picks the listener, the Host may name another one.
    let h2 = |sni: &str, host: &str| {
        get("/detect-misdirected-requests")
            .host(host)
            .https(sni, &root)
            .h2()
            .in_namespace(INFRA)
    };
    let cases = vec![
        h2("example.org", "example.org").to(V1),
        h2("example.org", "second-example.org").status(421),
        h2("example.org", "unknown-example.org").status(404),
        h2("second-example.org", "second-example.org").to(V2),
        h2("second-example.org", "example.org").status(421),
        h2("second-example.org", "unknown-example.org").status(421),
        h2("third-example.wildcard.org", "third-example.wildcard.org").to(V3),
        h2("third-example.wildcard.org", "fith-example.wildcard.org").to(V3),
        h2("third-example.wildcard.org", "fourth-example.wildcard.org").status(421),
        h2("third-example.wildcard.org", "second-example.org").status(421),
        h2("third-example.wildcard.org", "unknown-example.org").status(421),
        h2("fourth-example.wildcard.org", "fourth-example.wildcard.org").to(V1),
        h2("fourth-example.wildcard.org", "fith-example.wildcard.org").status(421),
        h2("unknown-example.org", "example.org").to(V1),
        h2("unknown-example.org", "unknown-example.org").status(404),
    ];
    t.expect_all(addr, cases).await
}
