//! Routing: attachment, hostnames, listeners, and path/header/method/query matching.

use std::sync::Arc;

use anyhow::Result;
use http::Method;

use crate::ctx::{Ctx, INFRA, V1, V2, V3, WEB, WEB_BACKEND, cond, gw, parent, route, route_in};
use crate::expect::{Case, get, request};
use crate::scenario;
use crate::scenario::Scenario;
use crate::status::ListenerExpect;

pub const ALL: &[Scenario] = &[
    scenario!("HTTPRouteSimpleSameNamespace", simple_same_namespace),
    scenario!("HTTPRouteCrossNamespace", cross_namespace),
    scenario!("HTTPRouteExactPathMatching", exact_path_matching),
    scenario!("HTTPRouteHeaderMatching", header_matching),
    scenario!("HTTPRouteHostnameIntersection", hostname_intersection),
    scenario!("HTTPRouteListenerHostnameMatching", listener_hostname_matching),
    scenario!("HTTPRouteMatchingAcrossRoutes", matching_across_routes),
    scenario!("HTTPRouteMatching", matching),
    scenario!("HTTPRoutePathMatchOrder", path_match_order),
    scenario!("HTTPRouteMultipleGateways", multiple_gateways),
    scenario!("HTTPRouteListenerPortMatching", listener_port_matching),
    scenario!("HTTPRouteNamedRule", named_rule),
    scenario!("HTTPRouteMethodMatching", method_matching),
    scenario!("HTTPRouteQueryParamMatching", query_param_matching),
];

/// The standard opening: the route is accepted by the Gateway and its references resolve.
async fn accepted_and_resolved(t: &Ctx, gateway: &str, routes: &[&str]) -> Result<std::net::SocketAddr> {
    let g = gw(gateway);
    let keys: Vec<_> = routes.iter().map(|r| route(r)).collect();
    let addr = t.accepted(&g, &[], &keys).await?;
    for r in &keys {
        t.route_resolved(r, &g).await?;
    }
    Ok(addr)
}

async fn simple_same_namespace(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted_and_resolved(&t, "same-namespace", &["gateway-conformance-infra-test"]).await?;
    t.expect(addr, get("/").to(V1)).await
}

async fn cross_namespace(t: Arc<Ctx>) -> Result<()> {
    let r = route_in(WEB, "cross-namespace");
    let g = gw("backend-namespaces");
    let addr = t.accepted(&g, &[], std::slice::from_ref(&r)).await?;
    t.route_resolved(&r, &g).await?;
    t.expect(addr, get("/").to(WEB_BACKEND)).await
}

async fn exact_path_matching(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted_and_resolved(&t, "same-namespace", &["exact-matching"]).await?;
    let cases = vec![
        get("/one").to(V1),
        get("/two").to(V2),
        get("/").status(404),
        get("/one/example").status(404),
        get("/two/").status(404),
        get("/Two").status(404),
    ];
    t.expect_all(addr, cases).await
}

async fn header_matching(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted_and_resolved(&t, "same-namespace", &["header-matching"]).await?;
    let cases = vec![
        get("/").header("Version", "one").to(V1),
        get("/").header("Version", "two").to(V2),
        get("/").header("Version", "two").header("Color", "orange").to(V1),
        get("/").header("Version", "two").header("Color", "blue").to(V2),
        get("/").header("Color", "orange").status(404),
        get("/").header("Some-Other-Header", "one").status(404),
        get("/").header("Color", "blue").to(V1),
        get("/").header("Color", "green").to(V1),
        get("/").header("Color", "red").to(V2),
        get("/").header("Color", "yellow").to(V2),
        get("/").header("Color", "purple").status(404),
    ];
    t.expect_all(addr, cases).await
}

async fn hostname_intersection(t: Arc<Ctx>) -> Result<()> {
    t.namespace_ready(INFRA).await?;
    let addr = accepted_and_resolved(
        &t,
        "httproute-hostname-intersection",
        &[
            "specific-host-matches-listener-specific-host",
            "specific-host-matches-listener-wildcard-host",
            "wildcard-host-matches-listener-specific-host",
            "wildcard-host-matches-listener-wildcard-host",
        ],
    )
    .await?;
    let h = |host: &str, path: &str| get(path).host(host);
    let cases = vec![
        h("very.specific.com", "/s1").to(V1),
        h("very.specific.com:1234", "/s1").to(V1),
        h("non.matching.com", "/s1").status(404),
        h("foo.nonmatchingwildcard.io", "/s1").status(404),
        h("foo.wildcard.io", "/s1").status(404),
        h("very.specific.com", "/non-matching-prefix").status(404),
        h("foo.wildcard.io", "/s2").to(V2),
        h("bar.wildcard.io", "/s2").to(V2),
        h("foo.bar.wildcard.io", "/s2").to(V2),
        h("non.matching.com", "/s2").status(404),
        h("wildcard.io", "/s2").status(404),
        h("very.specific.com", "/s2").status(404),
        h("foo.wildcard.io", "/non-matching-prefix").status(404),
        h("very.specific.com", "/s3").to(V3),
        h("non.matching.com", "/s3").status(404),
        h("foo.specific.com", "/s3").status(404),
        h("foo.wildcard.io", "/s3").status(404),
        h("very.specific.com", "/non-matching-prefix").status(404),
        h("foo.anotherwildcard.io", "/s4").to(V1),
        h("bar.anotherwildcard.io", "/s4").to(V1),
        h("foo.bar.anotherwildcard.io", "/s4").to(V1),
        h("anotherwildcard.io", "/s4").status(404),
        h("foo.wildcard.io", "/s4").status(404),
        h("very.specific.com", "/s4").status(404),
        h("foo.anotherwildcard.io", "/non-matching-prefix").status(404),
    ];
    t.expect_all(addr, cases).await?;

    // A route none of whose hostnames intersects: not accepted, not counted, not served.
    let g = gw("httproute-hostname-intersection");
    let addr = t.accepted(&g, &[], &[]).await?;
    let not_intersecting = parent(
        INFRA,
        &g.name,
        vec![cond("Accepted", "False", "NoMatchingListenerHostname")],
    );
    t.route_parents(&route("no-intersecting-hosts"), &[not_intersecting], true)
        .await?;
    t.expect_all(
        addr,
        vec![
            h("specific.but.wrong.com", "/s5").status(404),
            h("wildcard.io", "/s5").status(404),
        ],
    )
    .await?;
    let listener = |name, attached| ListenerExpect {
        name,
        kinds: &["HTTPRoute"],
        attached,
        conditions: vec![cond("Accepted", "True", ""), cond("ResolvedRefs", "True", "")],
    };
    t.gateway_listeners(
        &g,
        &[
            listener("listener-1", 2),
            listener("listener-2", 1),
            listener("listener-3", 1),
        ],
    )
    .await?;

    // A listener without hostname serves exactly the route's hostnames.
    let addr = accepted_and_resolved(
        &t,
        "httproute-hostname-intersection-all",
        &["httproute-hostname-intersection-all"],
    )
    .await?;
    let cases = vec![
        h("first.com", "/").to(V2),
        h("sub.first.com", "/").to(V2),
        h("second.com", "/").to(V2),
        h("sub.second.com", "/").to(V2),
        h("third.com", "/").status(404),
        h("sub.third.com", "/").status(404),
    ];
    t.expect_all(addr, cases).await
}

async fn listener_hostname_matching(t: Arc<Ctx>) -> Result<()> {
    t.namespace_ready(INFRA).await?;
    let g = gw("httproute-listener-hostname-matching");
    let (r1, r2, r3) = (route("backend-v1"), route("backend-v2"), route("backend-v3"));
    t.accepted(&g, &["listener-1"], std::slice::from_ref(&r1)).await?;
    t.route_resolved(&r1, &g).await?;
    t.accepted(&g, &["listener-2"], std::slice::from_ref(&r2)).await?;
    t.route_resolved(&r2, &g).await?;
    let addr = t
        .accepted(&g, &["listener-3", "listener-4"], std::slice::from_ref(&r3))
        .await?;
    t.route_resolved(&r3, &g).await?;
    let h = |host: &str| get("/").host(host);
    let cases = vec![
        h("bar.com").to(V1),
        h("foo.bar.com").to(V2),
        h("baz.bar.com").to(V3),
        h("boo.bar.com").to(V3),
        h("multiple.prefixes.bar.com").to(V3),
        h("multiple.prefixes.foo.com").to(V3),
        h("foo.com").status(404),
        h("no.matching.host").status(404),
    ];
    t.expect_all(addr, cases).await
}

async fn matching_across_routes(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted_and_resolved(&t, "same-namespace", &["matching-part1", "matching-part2"]).await?;
    let h = |host: &str, path: &str| get(path).host(host);
    let cases = vec![
        h("example.com", "/").to(V1),
        h("example.com", "/example").to(V1),
        h("example.net", "/example").to(V1),
        h("example.com", "/example").header("Version", "one").to(V1),
        h("example.com", "/v2").to(V2),
        h("example.net", "/v2").to(V1),
        h("example.com", "/v2/example").to(V2),
        h("example.com", "/").header("Version", "two").to(V2),
    ];
    t.expect_all(addr, cases).await
}

async fn matching(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted_and_resolved(&t, "same-namespace", &["matching"]).await?;
    let cases = vec![
        get("/").to(V1),
        get("/example").to(V1),
        get("/").header("Version", "one").to(V1),
        get("/v2").to(V2),
        get("/v2/example").to(V2),
        get("/").header("Version", "two").to(V2),
        get("/v2/").to(V2),
        get("/v2example").to(V1),
        get("/foo/v2/example").to(V1),
    ];
    t.expect_all(addr, cases).await
}

async fn path_match_order(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted_and_resolved(&t, "same-namespace", &["path-matching-order"]).await?;
    let cases = vec![
        get("/match/exact/one").to(V3),
        get("/match/exact").to(V2),
        get("/match").to(V1),
        get("/match/prefix/one/any").to(V2),
        get("/match/prefix/any").to(V1),
        get("/match/any").to(V3),
    ];
    t.expect_all(addr, cases).await
}

async fn multiple_gateways(t: Arc<Ctx>) -> Result<()> {
    let through = |gateway: &'static str, dedicated: &'static str, backend| {
        let t = t.clone();
        async move {
            let addr = t
                .accepted(
                    &gw(gateway),
                    &[],
                    &[route("multiple-gateways-shared-route"), route(dedicated)],
                )
                .await?;
            t.expect(addr, get("/shared").to(V1)).await?;
            t.expect(addr, get("/").to(backend)).await
        }
    };
    let (a, b) = tokio::join!(
        through("same-namespace", "same-namespace-dedicated-route", V2),
        through("all-namespaces", "all-namespaces-dedicated-route", V3)
    );
    a?;
    b
}

async fn listener_port_matching(t: Arc<Ctx>) -> Result<()> {
    t.namespace_ready(INFRA).await?;
    let g = gw("httproute-listener-port-matching");
    let (r1, r2, r3) = (route("backend-v1"), route("backend-v2"), route("backend-v3"));
    let addr80 = t.accepted(&g, &["listener-1"], std::slice::from_ref(&r1)).await?;
    t.route_resolved(&r1, &g).await?;
    let addr8080 = t.accepted(&g, &["listener-2"], std::slice::from_ref(&r2)).await?;
    t.route_resolved(&r2, &g).await?;
    let addr8090 = t.accepted(&g, &["listener-4"], std::slice::from_ref(&r3)).await?;
    t.route_resolved(&r3, &g).await?;
    let results = futures_util::future::join_all([
        t.expect(addr80, get("/").host("foo.com").to(V1)),
        t.expect(addr8080, get("/").host("foo.com:8080").to(V2)),
        t.expect(addr8080, get("/").host("bar.com:8080").to(V2)),
        t.expect(addr8090, get("/").host("foo.com:8090").to(V3)),
        t.expect(addr8090, get("/").host("bar.com:8090").status(404)),
    ])
    .await;
    results.into_iter().collect()
}

async fn named_rule(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted_and_resolved(&t, "same-namespace", &["http-named-rules"]).await?;
    t.expect_all(
        addr,
        vec![get("/named").in_namespace(INFRA), get("/unnamed").in_namespace(INFRA)],
    )
    .await
}

async fn method_matching(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted_and_resolved(&t, "same-namespace", &["method-matching"]).await?;
    let m = |method: Method, path: &str| request(method, path);
    let cases: Vec<Case> = vec![
        m(Method::POST, "/").to(V1),
        m(Method::GET, "/").to(V2),
        m(Method::HEAD, "/").status(404),
        m(Method::GET, "/path1").to(V1),
        m(Method::PUT, "/").header("version", "one").to(V2),
        m(Method::POST, "/path2").header("version", "two").to(V3),
        m(Method::PATCH, "/path3").to(V1),
        m(Method::DELETE, "/path4").header("version", "three").to(V1),
        m(Method::PUT, "/").status(404),
        m(Method::DELETE, "/path4").status(404),
        m(Method::PATCH, "/path5").to(V1),
        m(Method::PATCH, "/").header("version", "four").to(V2),
    ];
    t.expect_all(addr, cases).await
}

async fn query_param_matching(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted_and_resolved(&t, "same-namespace", &["query-param-matching"]).await?;
    let cases = vec![
        get("/?animal=whale").to(V1),
        get("/?animal=dolphin").to(V2),
        get("/?animal=dolphin&color=blue").to(V3),
        get("/?ANIMAL=Whale").to(V3),
        get("/?animal=whale&otherparam=irrelevant").to(V1),
        get("/?animal=dolphin&color=yellow").to(V2),
        get("/?color=blue").status(404),
        get("/?animal=dog").status(404),
        get("/?animal=whaledolphin").status(404),
        get("/").status(404),
        get("/path1?animal=whale").to(V1),
        get("/?animal=whale").header("version", "one").to(V2),
        get("/path2?animal=whale").header("version", "two").to(V3),
        get("/path3?animal=shark").to(V1),
        get("/path4?animal=kraken").header("version", "three").to(V1),
        get("/?animal=shark").status(404),
        get("/path4?animal=kraken").status(404),
        get("/path5?animal=hydra").to(V1),
        get("/?animal=hydra").header("version", "four").to(V3),
    ];
    t.expect_all(addr, cases).await
}
