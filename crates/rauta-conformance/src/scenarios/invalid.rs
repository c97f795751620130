//! Invalid references and parents, ReferenceGrants, rules without backends, and generations.

use std::sync::Arc;

use anyhow::Result;
use serde_json::json;

use crate::ctx::{APP_V1, Ctx, INFRA, V1, WEB, WEB_BACKEND, cond, gw, route, route_in};
use crate::expect::get;
use crate::manifest::Key;
use crate::scenario;
use crate::scenario::Scenario;
use crate::status::RESOLVED_REFS;

pub const ALL: &[Scenario] = &[
    scenario!(
        "HTTPRouteInvalidBackendRefUnknownKind",
        invalid_backend_ref_unknown_kind
    ),
    scenario!(
        "HTTPRouteInvalidCrossNamespaceBackendRef",
        invalid_cross_namespace_backend_ref
    ),
    scenario!(
        "HTTPRouteInvalidCrossNamespaceParentRef",
        invalid_cross_namespace_parent_ref
    ),
    scenario!("HTTPRouteInvalidNonExistentBackendRef", invalid_nonexistent_backend_ref),
    scenario!(
        "HTTPRouteInvalidParentRefNotMatchingSectionName",
        not_matching_section_name
    ),
    scenario!(
        "HTTPRouteInvalidParentRefNotMatchingListenerPort",
        not_matching_listener_port
    ),
    scenario!(
        "HTTPRouteInvalidParentRefSectionNameNotMatchingPort",
        section_name_not_matching_port
    ),
    scenario!("HTTPRouteInvalidReferenceGrant", invalid_reference_grant),
    scenario!(
        "HTTPRoutePartiallyInvalidViaInvalidReferenceGrant",
        partially_invalid_via_reference_grant
    ),
    scenario!("HTTPRouteReferenceGrant", reference_grant),
    scenario!("HTTPRouteNoBackendRefs", no_backend_refs),
    scenario!("HTTPRouteObservedGenerationBump", observed_generation_bump),
];

/// A route on `same-namespace` that is accepted but whose references do not resolve for
/// `reason`; a request to `path` gets 500.
async fn accepted_unresolved(t: &Ctx, name: &str, reason: &'static str, path: &str) -> Result<()> {
    let (r, g) = (route(name), gw("same-namespace"));
    let addr = t.accepted(&g, &[], std::slice::from_ref(&r)).await?;
    t.route_condition(&r, &g, cond("ResolvedRefs", "False", reason)).await?;
    t.expect(addr, get(path).status(500)).await
}

async fn invalid_backend_ref_unknown_kind(t: Arc<Ctx>) -> Result<()> {
    accepted_unresolved(&t, "invalid-backend-ref-unknown-kind", "InvalidKind", "/v2").await
}

async fn invalid_cross_namespace_backend_ref(t: Arc<Ctx>) -> Result<()> {
    accepted_unresolved(&t, "invalid-cross-namespace-backend-ref", "RefNotPermitted", "/").await
}

async fn invalid_nonexistent_backend_ref(t: Arc<Ctx>) -> Result<()> {
    accepted_unresolved(&t, "invalid-nonexistent-backend-ref", "BackendNotFound", "/").await
}

async fn invalid_reference_grant(t: Arc<Ctx>) -> Result<()> {
    accepted_unresolved(&t, "reference-grant", "RefNotPermitted", "/").await
}

/// A route that no listener of `gateway` accepts for `reason`: no accepted parent, no route
/// attached to the Gateway.
async fn not_accepted(t: &Ctx, r: Key, gateway: &str, reason: &'static str, resolved: bool) -> Result<()> {
    let g = gw(gateway);
    if resolved {
        t.route_resolved(&r, &g).await?;
    }
    t.route_condition(&r, &g, cond("Accepted", "False", reason)).await?;
    t.route_not_accepted(&r).await?;
    t.gateway_zero_routes(&g).await
}

async fn invalid_cross_namespace_parent_ref(t: Arc<Ctx>) -> Result<()> {
    let r = route_in(WEB, "invalid-cross-namespace-parent-ref");
    not_accepted(&t, r, "same-namespace", "NotAllowedByListeners", true).await
}

async fn not_matching_section_name(t: Arc<Ctx>) -> Result<()> {
    let r = route("httproute-listener-not-matching-section-name");
    not_accepted(&t, r, "same-namespace", "NoMatchingParent", false).await
}

async fn not_matching_listener_port(t: Arc<Ctx>) -> Result<()> {
    let r = route("httproute-listener-not-matching-route-port");
    not_accepted(&t, r, "same-namespace", "NoMatchingParent", true).await
}

async fn section_name_not_matching_port(t: Arc<Ctx>) -> Result<()> {
    let r = route("httproute-listener-section-name-not-matching-port");
    not_accepted(
        &t,
        r,
        "gateway-with-one-not-matching-port-and-section-name-route",
        "NoMatchingParent",
        false,
    )
    .await
}

async fn partially_invalid_via_reference_grant(t: Arc<Ctx>) -> Result<()> {
    let (r, g) = (route("invalid-reference-grant"), gw("same-namespace"));
    let addr = t.accepted(&g, &[], std::slice::from_ref(&r)).await?;
    t.route_condition(&r, &g, cond("ResolvedRefs", "False", "RefNotPermitted"))
        .await?;
    t.expect(addr, get("/v2").status(500)).await?;
    t.expect(addr, get("/").to(APP_V1)).await
}

async fn reference_grant(t: Arc<Ctx>) -> Result<()> {
    let (r, g) = (route("reference-grant"), gw("same-namespace"));
    let addr = t.accepted(&g, &[], std::slice::from_ref(&r)).await?;
    t.route_resolved(&r, &g).await?;
    t.expect(addr, get("/").to(WEB_BACKEND)).await?;
    t.delete(&Key::new("ReferenceGrant", WEB, "reference-grant"))?;
    t.expect(addr, get("/").status(500)).await
}

async fn no_backend_refs(t: Arc<Ctx>) -> Result<()> {
    let (r, g) = (route("omitted-backendrefs"), gw("same-namespace"));
    let addr = t.accepted(&g, &[], std::slice::from_ref(&r)).await?;
    t.route_resolved(&r, &g).await?;
    let cases = vec![
        get("/forward").to(V1),
        get("/omitted-no-forward").status(500),
        get("/empty-no-forward").status(500),
    ];
    t.expect_all(addr, cases).await
}

async fn observed_generation_bump(t: Arc<Ctx>) -> Result<()> {
    let (r, g) = (route("observed-generation-bump"), gw("same-namespace"));
    t.namespace_ready(INFRA).await?;
    t.latest_conditions_of_parents(&r).await?;
    let before = t.generation(&r)?;
    t.patch(&r, |route| {
        route["spec"]["rules"][0]["backendRefs"][0]["name"] = json!("infra-backend-v2")
    })?;
    t.route_condition(&r, &g, cond("Accepted", "True", "")).await?;
    t.route_condition(&r, &g, RESOLVED_REFS).await?;
    t.latest_conditions_of_parents(&r).await?;
    anyhow::ensure!(
        t.generation(&r)? != before,
        "the generation did not change after a spec change"
    );
    Ok(())
}
