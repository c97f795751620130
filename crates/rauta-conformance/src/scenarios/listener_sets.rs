//! ListenerSets: which Gateways admit them (`allowedListeners`), their listeners' route
//! namespaces, kinds, certificates and conflicts, and routes attaching through them.

use std::sync::Arc;

use anyhow::Result;

use crate::claims::Need;
use crate::ctx::{Ctx, INFRA, V1, V2, V3, cond, gw, listener_set, parent, route, route_in, set_parent};
use crate::expect::{Backend, Case, get};
use crate::manifest::Key;
use crate::scenario;
use crate::scenario::Scenario;
use crate::status::{Cond, ListenerExpect};

pub const ALL: &[Scenario] = &[
    scenario!("ListenerSetDefaultNotAllowed", default_not_allowed),
    scenario!("ListenerSetAllowedNamespaceNone", allowed_namespace_none),
    scenario!("ListenerSetAllowedNamespaceSame", allowed_namespace_same),
    scenario!("ListenerSetAllowedNamespaceSelector", allowed_namespace_selector),
    scenario!("ListenerSetAllowedRoutesNamespaces", allowed_routes_namespaces),
    scenario!("ListenerSetAllowedRoutesSupportedKinds", allowed_routes_supported_kinds),
    scenario!("ListenerSetDualParentRefIndependence", dual_parent_ref_independence),
    scenario!(
        "ListenerSetGatewayParentSectionNameNotFound",
        gateway_parent_section_name_not_found
    ),
    scenario!("ListenerSetHTTPRouting", http_routing),
    scenario!("ListenerSetHostnameConflict", hostname_conflict),
    scenario!("ListenerSetProtocolConflict", protocol_conflict),
    scenario!("ListenerSetReferenceGrant", reference_grant, needs: [Need::HttpsListeners]),
    scenario!(
        "ListenerSetRouteStatusScopedToParentRef",
        route_status_scoped_to_parent_ref
    ),
];

/// ResolvedRefs, Accepted and Programmed all True, any reason.
fn ready() -> Vec<Cond> {
    vec![
        cond("ResolvedRefs", "True", ""),
        cond("Accepted", "True", ""),
        cond("Programmed", "True", ""),
    ]
}

/// A listener with HTTPRoute among its kinds, `attached` routes, and ready.
fn http_listener(name: &'static str, attached: i64) -> ListenerExpect {
    ListenerExpect {
        name,
        kinds: &["HTTPRoute"],
        attached,
        conditions: ready(),
    }
}

/// What every ListenerSet test starts with: the infra Gateways ready and `g` accepted.
async fn gateway_accepted(t: &Ctx, g: &Key) -> Result<()> {
    t.namespace_ready(INFRA).await?;
    t.condition(g, cond("Accepted", "True", "")).await
}

/// The Gateway does not admit the ListenerSet.
async fn not_allowed(t: &Ctx, ls: &Key) -> Result<()> {
    t.condition(ls, cond("Accepted", "False", "NotAllowed")).await?;
    t.condition(ls, cond("Programmed", "False", "NotAllowed")).await
}

/// The ListenerSet is accepted and programmed, and so is `listener`.
async fn admitted(t: &Ctx, ls: &Key, listener: &str) -> Result<()> {
    t.condition(ls, cond("Accepted", "True", "Accepted")).await?;
    t.condition(ls, cond("Programmed", "True", "Programmed")).await?;
    t.set_listeners_have(ls, &ready(), &[listener]).await
}

/// A Gateway that admits no ListenerSet refuses the one naming it.
async fn refuses_all(t: Arc<Ctx>, gateway: &str, set: &str) -> Result<()> {
    let g = gw(gateway);
    gateway_accepted(&t, &g).await?;
    t.attached_listener_sets(&g, 0).await?;
    not_allowed(&t, &listener_set(INFRA, set)).await
}

async fn default_not_allowed(t: Arc<Ctx>) -> Result<()> {
    refuses_all(
        t,
        "gateway-default-does-not-allow-listenerset",
        "listenerset-default-not-allowed",
    )
    .await
}

async fn allowed_namespace_none(t: Arc<Ctx>) -> Result<()> {
    refuses_all(t, "gateway-does-not-allow-listenerset", "listenerset-not-allowed").await
}

async fn allowed_namespace_same(t: Arc<Ctx>) -> Result<()> {
    let g = gw("gateway-allows-listenerset-in-same-namespace");
    gateway_accepted(&t, &g).await?;
    t.attached_listener_sets(&g, 1).await?;
    let same = listener_set(INFRA, "listenerset-in-same-namespace");
    admitted(&t, &same, "listenerset-in-same-namespace-listener").await?;
    let other = listener_set(
        "gateway-api-listenerset-not-allowed-ns",
        "listenerset-in-different-namespace",
    );
    not_allowed(&t, &other).await
}

async fn allowed_namespace_selector(t: Arc<Ctx>) -> Result<()> {
    let g = gw("gateway-allows-listenerset-in-selected-namespace");
    gateway_accepted(&t, &g).await?;
    t.attached_listener_sets(&g, 1).await?;
    let selected = listener_set(
        "gateway-api-listenerset-selector-allowed-ns",
        "listenerset-in-selected-namespace",
    );
    admitted(&t, &selected, "listenerset-in-selected-namespace-listener").await?;
    let unselected = listener_set(
        "gateway-api-listenerset-selector-not-allowed-ns",
        "listenerset-not-in-selected-namespace",
    );
    not_allowed(&t, &unselected).await
}

/// `host` + `path` reaches `backend`, or gets a 404 when `None`.
fn case(host: &str, path: &str, backend: Option<Backend>) -> Case {
    let c = get(path).host(host);
    match backend {
        Some(b) => c.to(b),
        None => c.status(404),
    }
}

async fn allowed_routes_namespaces(t: Arc<Ctx>) -> Result<()> {
    const ALLOWED: &str = "gateway-api-routes-allowed-ns";
    const NOT_ALLOWED: &str = "gateway-api-routes-not-allowed-ns";
    const CROSS: &str = "gateway-api-ls-cross-ns";
    t.namespace_ready(INFRA).await?;
    let g = gw("gateway-with-listener-sets-test-allowed-routes");
    let addr = t.gateway_address(&g, Some("gateway-listener")).await?;
    t.condition(&g, cond("Accepted", "True", "")).await?;
    t.attached_listener_sets(&g, 2).await?;

    // The ListenerSet next to the Gateway: All, Same (infra) and Selector (allowed=ns).
    let ls = listener_set(INFRA, "listenerset-test-allowed-routes-namespaces");
    let routes = [
        route("route-in-same-namespace"),
        route_in(ALLOWED, "route-in-selected-namespace"),
        route_in(NOT_ALLOWED, "route-not-in-selected-namespace"),
    ];
    t.accepted_by_listener_set(&ls, &routes).await?;
    let listeners = [
        http_listener("listener-set-listener-allowed-routes-all", 3),
        http_listener("listener-set-listener-allowed-routes-same", 1),
        http_listener("listener-set-listener-allowed-routes-selector", 1),
    ];
    t.gateway_listeners(&ls, &listeners).await?;
    let paths = [
        ("/route-in-same-namespace", V1),
        ("/route-in-selected-namespace", V2),
        ("/route-not-in-selected-namespace", V3),
    ];
    // Which paths each listener's hostname serves.
    let reach: [(&str, &[usize]); 3] = [
        ("listener-set-listener-allowed-routes-all.com", &[0, 1, 2]),
        ("listener-set-listener-allowed-routes-same.com", &[0]),
        ("listener-set-listener-allowed-routes-selector.com", &[1]),
    ];
    let mut cases = Vec::new();
    for (host, served) in reach {
        for (i, (path, backend)) in paths.iter().enumerate() {
            cases.push(case(host, path, served.contains(&i).then_some(*backend)));
        }
    }
    t.expect_all(addr, cases).await?;

    // The ListenerSet of another namespace: Same is its namespace, not the Gateway's.
    let cross = listener_set(CROSS, "listenerset-test-allowed-routes-cross-ns");
    t.accepted_by_listener_set(&cross, &[route_in(CROSS, "route-in-listenerset-namespace")])
        .await?;
    t.route_condition(
        &route("route-in-gateway-namespace"),
        &cross,
        cond("Accepted", "False", "NotAllowedByListeners"),
    )
    .await?;
    let listener = http_listener("listener-set-listener-allowed-routes-cross-ns-same", 1);
    t.gateway_listeners(&cross, &[listener]).await?;
    let host = "listener-set-listener-allowed-routes-cross-ns-same.com";
    let cases = vec![
        case(host, "/route-in-listenerset-namespace", Some(V1)),
        case(host, "/route-in-gateway-namespace", None),
    ];
    t.expect_all(addr, cases).await
}

async fn allowed_routes_supported_kinds(t: Arc<Ctx>) -> Result<()> {
    gateway_accepted(&t, &gw("gateway-with-listener-sets-test-supported-route-kinds")).await?;
    let ls = listener_set(INFRA, "listenerset-test-allowed-routes-supported-kinds");
    t.set_listeners_have(
        &ls,
        &[cond("ResolvedRefs", "False", "InvalidRouteKinds")],
        &["listener-set-listener-allowed-routes-tls-only"],
    )
    .await
}

async fn dual_parent_ref_independence(t: Arc<Ctx>) -> Result<()> {
    t.namespace_ready(INFRA).await?;
    let g = gw("gateway-dual-parentref");
    let addr = t.gateway_address(&g, Some("gw-dual-parentref-listener")).await?;
    t.condition(&g, cond("Accepted", "True", "")).await?;
    t.attached_listener_sets(&g, 1).await?;
    let ls = listener_set(INFRA, "ls-dual-parentref");
    t.gateway_listeners(&ls, &[http_listener("ls-dual-parentref-listener", 2)])
        .await?;

    // Both parents accept the route, each on its own listener.
    let both = route("route-dual-parentref-both");
    t.route_condition(&both, &g, cond("Accepted", "True", "")).await?;
    t.route_condition(&both, &ls, cond("Accepted", "True", "")).await?;
    let cases = vec![
        case("gw-dual.com", "/dualboth", Some(V1)),
        case("ls-dual.com", "/dualboth", Some(V1)),
    ];
    t.expect_all(addr, cases).await?;

    // The Gateway has no listener of the ListenerSet's name; the ListenerSet has.
    let one = route("route-dual-parentref-one");
    t.route_condition(&one, &g, cond("Accepted", "False", "NoMatchingParent"))
        .await?;
    t.route_condition(&one, &ls, cond("Accepted", "True", "")).await?;
    t.accepted_by_listener_set(&ls, std::slice::from_ref(&one)).await?;
    let cases = vec![
        case("ls-dual.com", "/dualone", Some(V2)),
        case("gw-dual.com", "/dualone", None),
    ];
    t.expect_all(addr, cases).await
}

async fn gateway_parent_section_name_not_found(t: Arc<Ctx>) -> Result<()> {
    t.namespace_ready(INFRA).await?;
    let g = gw("gateway-section-name");
    let addr = t.gateway_address(&g, Some("gw-listener")).await?;
    t.condition(&g, cond("Accepted", "True", "")).await?;
    t.attached_listener_sets(&g, 1).await?;
    let ls = listener_set(INFRA, "listenerset-section-name");
    t.accepted_by_listener_set(&ls, &[route("route-via-listenerset")])
        .await?;
    t.route_condition(
        &route("route-via-gateway"),
        &g,
        cond("Accepted", "False", "NoMatchingParent"),
    )
    .await?;
    t.expect(addr, case("ls-section-name.com", "/goodsection", Some(V1)))
        .await?;
    t.expect(addr, case("gw-section.com", "/badsection", None)).await
}

async fn http_routing(t: Arc<Ctx>) -> Result<()> {
    const LS1: &str = "listener-set-http-routing-1";
    const LS2: &str = "listener-set-http-routing-2";
    t.namespace_ready(INFRA).await?;
    let g = gw("gateway-with-listener-sets-http-routing");
    let gateway_routes = [
        route("attaches-to-all-listeners"),
        route("gateway-route"),
        route("gateway-section-route"),
    ];
    let addr = t.accepted(&g, &[], &gateway_routes).await?;
    t.attached_listener_sets(&g, 2).await?;

    let ls1 = listener_set(INFRA, LS1);
    let routes = [
        route("attaches-to-all-listeners"),
        route("listener-set-http-routing-1-route"),
        route("listener-set-http-routing-1-section-route"),
    ];
    t.accepted_by_listener_set(&ls1, &routes).await?;
    let listeners = [
        http_listener("listener-set-http-routing-1-listener-1", 3),
        http_listener("listener-set-http-routing-1-listener-2", 2),
    ];
    t.gateway_listeners(&ls1, &listeners).await?;

    let ls2 = listener_set(INFRA, LS2);
    let routes = [
        route("attaches-to-all-listeners"),
        route("listener-set-http-routing-2-route"),
    ];
    t.accepted_by_listener_set(&ls2, &routes).await?;
    let listeners = [
        http_listener("listener-set-http-routing-2-listener-1", 2),
        http_listener("listener-set-http-routing-2-listener-2", 2),
    ];
    t.gateway_listeners(&ls2, &listeners).await?;

    // Every path on every listener's hostname: a route answers only on the listeners it attached
    // to (a Gateway parentRef never covers the ListenerSets' listeners, nor the reverse).
    let hosts = [
        "gateway-listener-1.com",
        "gateway-listener-2.com",
        "listener-set-http-routing-1-listener-1.com",
        "listener-set-http-routing-1-listener-2.com",
        "listener-set-http-routing-2-listener-1.com",
        "listener-set-http-routing-2-listener-2.com",
    ];
    let routes: [(&str, Backend, &[usize]); 6] = [
        ("/route", V1, &[0, 1, 2, 3, 4, 5]),
        ("/gateway-route", V2, &[0, 1]),
        ("/gateway-section-route", V3, &[0]),
        ("/listener-set-http-routing-1-route", V2, &[2, 3]),
        ("/listener-set-http-routing-1-section-route", V3, &[2]),
        ("/listener-set-http-routing-2-route", V2, &[4, 5]),
    ];
    let mut cases = Vec::new();
    for (path, backend, served) in routes {
        for (i, host) in hosts.iter().enumerate() {
            cases.push(case(host, path, served.contains(&i).then_some(backend)));
        }
    }
    t.expect_all(addr, cases).await
}

async fn hostname_conflict(t: Arc<Ctx>) -> Result<()> {
    conflicts(t, "hostname", "HostnameConflict").await
}

async fn protocol_conflict(t: Arc<Ctx>) -> Result<()> {
    conflicts(t, "protocol", "ProtocolConflict").await
}

/// The conflict scenarios share their shape: the Gateway keeps both its listeners; the first
/// ListenerSet loses the listener the Gateway has and keeps the one it claims first; the third
/// loses that one to the first; the second and the fourth have nothing left.
async fn conflicts(t: Arc<Ctx>, what: &str, reason: &'static str) -> Result<()> {
    let g = gw(&format!("gateway-with-listenerset-{what}-conflict"));
    gateway_accepted(&t, &g).await?;
    let with_gateway = format!("{what}-conflict-with-gateway-listener");
    let with_set = format!("{what}-conflict-with-listener-set-listener");
    t.listeners_have(&g, &ready(), &["gateway-listener"]).await?;
    t.listeners_have(&g, &ready(), &[&with_gateway]).await?;
    t.attached_listener_sets(&g, 2).await?;

    let conflicted = [
        cond("Accepted", "False", reason),
        cond("Programmed", "False", reason),
        cond("Conflicted", "True", reason),
    ];
    let set = |suffix: &str| listener_set(INFRA, &format!("listenerset-with-{what}-conflict-with-{suffix}"));
    let partly_valid = async |ls: &Key, valid: &[&str], lost: &str| -> Result<()> {
        t.condition(ls, cond("Accepted", "True", "")).await?;
        t.condition(ls, cond("Programmed", "True", "Programmed")).await?;
        for listener in valid {
            t.set_listeners_have(ls, &ready(), &[listener]).await?;
        }
        t.set_listeners_have(ls, &conflicted, &[lost]).await
    };
    let none_valid = async |ls: &Key, lost: &str| -> Result<()> {
        t.condition(ls, cond("Accepted", "False", "ListenersNotValid")).await?;
        t.condition(ls, cond("Programmed", "False", "ListenersNotValid"))
            .await?;
        t.set_listeners_have(ls, &conflicted, &[lost]).await
    };
    partly_valid(
        &set("gateway-1"),
        &["listener-set-1-listener", &with_set],
        &with_gateway,
    )
    .await?;
    none_valid(&set("gateway-2"), &with_gateway).await?;
    partly_valid(&set("listener-set-1"), &["listener-set-2-listener"], &with_set).await?;
    none_valid(&set("listener-set-2"), &with_set).await
}

async fn reference_grant(t: Arc<Ctx>) -> Result<()> {
    gateway_accepted(&t, &gw("gateway-with-listener-sets-test-reference-grant")).await?;
    let granted = listener_set(INFRA, "listenerset-with-reference-grant");
    t.condition(&granted, cond("Accepted", "True", "")).await?;
    t.condition(&granted, cond("Programmed", "True", "")).await?;
    t.set_listeners_have(
        &granted,
        &[cond("ResolvedRefs", "True", "")],
        &["listenerset-with-reference-grant-listener"],
    )
    .await?;

    let ungranted = listener_set(
        "gateway-api-listener-sets-test-reference-grant-ns",
        "listenerset-without-reference-grant",
    );
    t.condition(&ungranted, cond("Accepted", "False", "ListenersNotValid"))
        .await?;
    t.condition(&ungranted, cond("Programmed", "False", "ListenersNotValid"))
        .await?;
    t.set_listeners_have(
        &ungranted,
        &[cond("ResolvedRefs", "False", "RefNotPermitted")],
        &["listenerset-without-reference-grant-listener"],
    )
    .await
}

async fn route_status_scoped_to_parent_ref(t: Arc<Ctx>) -> Result<()> {
    let g = gw("gateway-parentref");
    gateway_accepted(&t, &g).await?;
    t.attached_listener_sets(&g, 1).await?;
    let ls = listener_set(INFRA, "listenerset-parentref");
    t.gateway_listeners(&ls, &[http_listener("listenerset-parentref-listener", 1)])
        .await?;
    let accepted = || vec![cond("Accepted", "True", "")];

    let gateway_only = route("route-parentref-gwonly");
    t.route_condition(&gateway_only, &g, cond("Accepted", "True", ""))
        .await?;
    t.route_parents(&gateway_only, &[parent(INFRA, &g.name, accepted())], true)
        .await?;
    // Beyond the suite's check, which only looks for the expected entry: no other entry.
    t.route_parent_count(&gateway_only, 1).await?;

    let set_only = route("route-parentref-lsonly");
    t.accepted_by_listener_set(&ls, std::slice::from_ref(&set_only)).await?;
    t.route_parents(&set_only, &[set_parent(INFRA, &ls.name, accepted())], true)
        .await?;
    t.route_parent_count(&set_only, 1).await
}
