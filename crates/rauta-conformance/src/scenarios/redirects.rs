//! RequestRedirect: hostname, path, port, scheme, status codes, and at backend level.

use std::sync::Arc;

use anyhow::Result;
use http::Method;

use crate::ctx::{Ctx, INFRA, gw, route};
use crate::expect::{Case, ExpectedRedirect, get, redirect, request};
use crate::scenario;
use crate::scenario::Scenario;

pub const ALL: &[Scenario] = &[
    scenario!("HTTPRouteRedirectHostAndStatus", redirect_host_and_status),
    scenario!("HTTPRouteRedirectPath", redirect_path),
    scenario!("HTTPRouteRedirectPort", redirect_port),
    scenario!("HTTPRouteRedirectScheme", redirect_scheme),
    scenario!("HTTPRoute303Redirect", redirect_303),
    scenario!("HTTPRoute307Redirect", redirect_307),
    scenario!("HTTPRoute308Redirect", redirect_308),
    scenario!("HTTPRouteBackendRequestRedirect", backend_request_redirect),
];

/// Accepts the route, then checks every `(path, status, expected redirect)` case.
async fn redirects(t: &Ctx, name: &str, cases: Vec<Case>) -> Result<()> {
    let (r, g) = (route(name), gw("same-namespace"));
    let addr = t.accepted(&g, &[], std::slice::from_ref(&r)).await?;
    t.route_resolved(&r, &g).await?;
    t.expect_all(addr, cases).await
}

fn to(path: &str, status: u16, target: ExpectedRedirect) -> Case {
    get(path).status(status).redirect(target).in_namespace(INFRA)
}

async fn redirect_host_and_status(t: Arc<Ctx>) -> Result<()> {
    let cases = vec![
        to("/hostname-redirect", 302, redirect().host("example.org")),
        to("/host-and-status", 301, redirect().host("example.org")),
    ];
    redirects(&t, "redirect-host-and-status", cases).await
}

async fn redirect_path(t: Arc<Ctx>) -> Result<()> {
    let cases = vec![
        to(
            "/original-prefix/lemon",
            302,
            redirect().path("/replacement-prefix/lemon"),
        ),
        to("/full/path/original", 302, redirect().path("/full-path-replacement")),
        to(
            "/path-and-host",
            302,
            redirect().host("example.org").path("/replacement-prefix"),
        ),
        to("/path-and-status", 301, redirect().path("/replacement-prefix")),
        to(
            "/full-path-and-host",
            302,
            redirect().host("example.org").path("/replacement-full"),
        ),
        to("/full-path-and-status", 301, redirect().path("/replacement-full")),
    ];
    redirects(&t, "redirect-path", cases).await
}

async fn redirect_port(t: Arc<Ctx>) -> Result<()> {
    let cases = vec![
        to("/port", 302, redirect().port("8083")),
        to("/port-and-host", 302, redirect().host("example.org").port("8083")),
        to("/port-and-status", 301, redirect().port("8083")),
        to(
            "/port-and-host-and-status",
            302,
            redirect().port("8083").host("example.org"),
        ),
    ];
    redirects(&t, "redirect-port", cases).await
}

async fn redirect_scheme(t: Arc<Ctx>) -> Result<()> {
    let cases = vec![
        to("/scheme", 302, redirect().scheme("https")),
        to("/scheme-and-host", 302, redirect().host("example.org").scheme("https")),
        to("/scheme-and-status", 301, redirect().scheme("https")),
        to(
            "/scheme-and-host-and-status",
            302,
            redirect().scheme("https").host("example.org"),
        ),
    ];
    redirects(&t, "redirect-scheme", cases).await
}

async fn redirect_303(t: Arc<Ctx>) -> Result<()> {
    let case = request(Method::POST, "/see-other")
        .status(303)
        .redirect(redirect().path("/see-other"))
        .in_namespace(INFRA);
    redirects(&t, "303-redirect", vec![case]).await
}

async fn redirect_307(t: Arc<Ctx>) -> Result<()> {
    redirects(
        &t,
        "307-redirect",
        vec![to("/temporary", 307, redirect().path("/temporary"))],
    )
    .await
}

async fn redirect_308(t: Arc<Ctx>) -> Result<()> {
    redirects(
        &t,
        "308-redirect",
        vec![to("/permanent", 308, redirect().path("/permanent"))],
    )
    .await
}

async fn backend_request_redirect(t: Arc<Ctx>) -> Result<()> {
    let cases = vec![
        to("/full/original", 302, redirect().path("/redirected-full")),
        to("/prefix/original", 302, redirect().path("/redirected-prefix/original")),
    ];
    redirects(&t, "backend-request-redirect", cases).await
}
