//! Filters that edit requests and responses: header modifiers (rule and backend level), URL
//! rewrites.

use std::sync::Arc;

use anyhow::Result;

use crate::client;
use crate::ctx::{Ctx, INFRA, V1, V2, gw, route};
use crate::expect::{Case, get};
use crate::scenario;
use crate::scenario::Scenario;

pub const ALL: &[Scenario] = &[
    scenario!("HTTPRouteRequestHeaderModifier", request_header_modifier),
    scenario!("HTTPRouteBackendRequestHeaderModifier", request_header_modifier),
    scenario!("HTTPRouteResponseHeaderModifier", response_header_modifier),
    scenario!("HTTPRouteRequestHeaderModifierBackendWeights", backend_weights),
    scenario!("HTTPRouteRewriteHost", rewrite_host),
    scenario!("HTTPRouteRewritePath", rewrite_path),
    scenario!("HTTPRouteBackendURLRewrite", backend_url_rewrite),
];

async fn accepted_and_resolved(t: &Ctx, name: &str) -> Result<std::net::SocketAddr> {
    let (r, g) = (route(name), gw("same-namespace"));
    let addr = t.accepted(&g, &[], std::slice::from_ref(&r)).await?;
    t.route_resolved(&r, &g).await?;
    Ok(addr)
}

/// The request edits of the header modifier tests (rule level and backend level alike).
async fn request_header_modifier(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted_and_resolved(&t, "request-header-modifier").await?;
    let cases: Vec<Case> = vec![
        get("/set")
            .header("Some-Other-Header", "val")
            .seen_path("/set")
            .seen_header("Some-Other-Header", "val")
            .seen_header("X-Header-Set", "set-overwrites-values")
            .to(V1),
        get("/set")
            .header("Some-Other-Header", "val")
            .header("X-Header-Set", "some-other-value")
            .seen_path("/set")
            .seen_header("Some-Other-Header", "val")
            .seen_header("X-Header-Set", "set-overwrites-values")
            .to(V1),
        get("/add")
            .header("Some-Other-Header", "val")
            .seen_path("/add")
            .seen_header("Some-Other-Header", "val")
            .seen_header("X-Header-Add", "add-appends-values")
            .to(V1),
        get("/add")
            .header("Some-Other-Header", "val")
            .header("X-Header-Add", "some-other-value")
            .seen_path("/add")
            .seen_header("Some-Other-Header", "val")
            .seen_header("X-Header-Add", "some-other-value,add-appends-values")
            .to(V1),
        get("/remove")
            .header("X-Header-Remove", "val")
            .seen_path("/remove")
            .unseen_header("X-Header-Remove")
            .to(V1),
        get("/multiple")
            .header("X-Header-Set-2", "set-val-2")
            .header("X-Header-Add-2", "add-val-2")
            .header("X-Header-Remove-2", "remove-val-2")
            .header("Another-Header", "another-header-val")
            .seen_path("/multiple")
            .seen_header("X-Header-Set-1", "header-set-1")
            .seen_header("X-Header-Set-2", "header-set-2")
            .seen_header("X-Header-Add-1", "header-add-1")
            .seen_header("X-Header-Add-2", "add-val-2,header-add-2")
            .seen_header("X-Header-Add-3", "header-add-3")
            .seen_header("Another-Header", "another-header-val")
            .unseen_header("X-Header-Remove-1")
            .unseen_header("X-Header-Remove-2")
            .to(V1),
        get("/case-insensitivity")
            .header("x-header-set", "original-val-set")
            .header("x-header-add", "original-val-add")
            .header("x-header-remove", "original-val-remove")
            .header("Another-Header", "another-header-val")
            .seen_path("/case-insensitivity")
            .seen_header("X-Header-Set", "header-set")
            .seen_header("X-Header-Add", "original-val-add,header-add")
            .seen_header("Another-Header", "another-header-val")
            .unseen_header("x-header-remove")
            .unseen_header("X-Header-Remove")
            .to(V1),
    ];
    t.expect_all(addr, cases).await
}

async fn response_header_modifier(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted_and_resolved(&t, "response-header-modifier").await?;
    let cases: Vec<Case> = vec![
        get("/set")
            .backend_sets("Some-Other-Header", "val")
            .response_header("Some-Other-Header", "val")
            .response_header("X-Header-Set", "set-overwrites-values")
            .to(V1),
        get("/set")
            .backend_sets("Some-Other-Header", "val")
            .backend_sets("X-Header-Set", "some-other-value")
            .response_header("Some-Other-Header", "val")
            .response_header("X-Header-Set", "set-overwrites-values")
            .to(V1),
        get("/add")
            .backend_sets("Some-Other-Header", "val")
            .response_header("Some-Other-Header", "val")
            .response_header("X-Header-Add", "add-appends-values")
            .to(V1),
        get("/add")
            .backend_sets("Some-Other-Header", "val")
            .backend_sets("X-Header-Add", "some-other-value")
            .response_header("Some-Other-Header", "val")
            .response_header("X-Header-Add", "some-other-value,add-appends-values")
            .to(V1),
        get("/remove")
            .backend_sets("X-Header-Remove", "val")
            .no_response_header("X-Header-Remove")
            .to(V1),
        get("/multiple")
            .backend_sets("X-Header-Set-2", "set-val-2")
            .backend_sets("X-Header-Add-2", "add-val-2")
            .backend_sets("X-Header-Remove-2", "remove-val-2")
            .backend_sets("Another-Header", "another-header-val")
            .backend_sets("X-Header-Remove-1", "val")
            .response_header("X-Header-Set-1", "header-set-1")
            .response_header("X-Header-Set-2", "header-set-2")
            .response_header("X-Header-Add-1", "header-add-1")
            .response_header("X-Header-Add-2", "add-val-2,header-add-2")
            .response_header("X-Header-Add-3", "header-add-3")
            .response_header("Another-Header", "another-header-val")
            .no_response_header("X-Header-Remove-1")
            .no_response_header("X-Header-Remove-2")
            .to(V1),
        get("/case-insensitivity")
            .backend_sets("x-header-set", "original-val-set")
            .backend_sets("x-header-add", "original-val-add")
            .backend_sets("x-header-remove", "original-val-remove")
            .backend_sets("Another-Header", "another-header-val")
            .response_header("X-Header-Set", "header-set")
            .response_header("X-Header-Add", "original-val-add,header-add")
            .response_header("X-Lowercase-Add", "lowercase-add")
            .response_header("X-Mixedcase-Add-1", "mixedcase-add-1")
            .response_header("X-Mixedcase-Add-2", "mixedcase-add-2")
            .response_header("X-Uppercase-Add", "uppercase-add")
            .response_header("Another-Header", "another-header-val")
            .no_response_header("x-header-remove")
            .to(V1),
        get("/response-and-request-header-modifiers")
            .header("X-Header-Remove", "remove-val")
            .header("X-Header-Add-Append", "append-val-1")
            .header("X-Header-Echo", "echo")
            .backend_sets("X-Header-Set-2", "set-val-2")
            .backend_sets("X-Header-Add-2", "add-val-2")
            .backend_sets("X-Header-Remove-2", "remove-val-2")
            .backend_sets("Another-Header", "another-header-val")
            .backend_sets("X-Header-Remove-1", "remove-val-1")
            .backend_sets("X-Header-Echo", "echo")
            .seen_path("/response-and-request-header-modifiers")
            .seen_header("X-Header-Add", "header-val-1")
            .seen_header("X-Header-Set", "set-overwrites-values")
            .seen_header("X-Header-Add-Append", "append-val-1,header-val-2")
            .seen_header("X-Header-Echo", "echo")
            .unseen_header("X-Header-Remove")
            .response_header("X-Header-Set-1", "header-set-1")
            .response_header("X-Header-Set-2", "header-set-2")
            .response_header("X-Header-Add-1", "header-add-1")
            .response_header("X-Header-Add-2", "add-val-2,header-add-2")
            .response_header("Another-Header", "another-header-val")
            .response_header("X-Header-Echo", "echo")
            .no_response_header("X-Header-Remove-1")
            .no_response_header("X-Header-Remove-2")
            .to(V1),
    ];
    t.expect_all(addr, cases).await
}

async fn backend_weights(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted_and_resolved(&t, "request-header-modifier-backend-weights").await?;
    let case = get("/").in_namespace(INFRA);
    t.expect(addr, case.clone()).await?;
    let request = case.wire_request();
    for i in 0..100 {
        let got = client::send(addr, &request)
            .await
            .map_err(|e| anyhow::anyhow!("request {i}: {e}"))?;
        let echo = got
            .echo
            .ok_or_else(|| anyhow::anyhow!("request {i}: not an echo answer (status {})", got.status))?;
        let backends = echo.header_values("Backend");
        anyhow::ensure!(
            backends.len() == 1,
            "request {i}: expected one Backend header, got {backends:?}"
        );
        anyhow::ensure!(
            echo.pod.starts_with(&backends[0]),
            "request {i}: answered by {} but the Backend header says {}",
            echo.pod,
            backends[0]
        );
    }
    Ok(())
}

async fn rewrite_host(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted_and_resolved(&t, "rewrite-host").await?;
    let cases = vec![
        get("/one")
            .host("rewrite.example")
            .seen_path("/one")
            .seen_host("one.example.org")
            .to(V1),
        get("/two")
            .host("rewrite.example")
            .seen_path("/two")
            .seen_host("example.org")
            .to(V2),
        get("/rewrite-host-and-modify-headers")
            .host("rewrite.example")
            .header("X-Header-Remove", "remove-val")
            .header("X-Header-Add-Append", "append-val-1")
            .seen_path("/rewrite-host-and-modify-headers")
            .seen_host("test.example.org")
            .seen_header("X-Header-Add", "header-val-1")
            .seen_header("X-Header-Add-Append", "append-val-1,header-val-2")
            .seen_header("X-Header-Set", "set-overwrites-values")
            .unseen_header("X-Header-Remove")
            .to(V2),
    ];
    t.expect_all(addr, cases).await
}

async fn rewrite_path(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted_and_resolved(&t, "rewrite-path").await?;
    let edited = |case: Case| {
        case.header("X-Header-Remove", "remove-val")
            .header("X-Header-Add-Append", "append-val-1")
            .header("X-Header-Set", "set-val")
            .seen_header("X-Header-Add", "header-val-1")
            .seen_header("X-Header-Add-Append", "append-val-1,header-val-2")
            .seen_header("X-Header-Set", "set-overwrites-values")
            .unseen_header("X-Header-Remove")
    };
    let cases = vec![
        get("/prefix/one/two").seen_path("/one/two").to(V1),
        get("/strip-prefix/three").seen_path("/three").to(V1),
        get("/strip-prefix").seen_path("/").to(V1),
        get("/full/one/two").seen_path("/one").to(V1),
        edited(get("/full/rewrite-path-and-modify-headers/test").seen_path("/test")).to(V1),
        edited(get("/prefix/rewrite-path-and-modify-headers/one").seen_path("/prefix/one")).to(V1),
    ];
    t.expect_all(addr, cases).await
}

async fn backend_url_rewrite(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted_and_resolved(&t, "backend-url-rewrite").await?;
    let cases = vec![
        get("/full/original").seen_path("/rewritten-full").to(V1),
        get("/prefix/original").seen_path("/rewritten-prefix/original").to(V1),
    ];
    t.expect_all(addr, cases).await
}
