//! ListenerSets through the real binary: a team's ListenerSet adds listeners (a new port and a
//! hostname on the Gateway's port) to a Gateway that allows it; routes reach them only through a
//! ListenerSet parentRef; taking the permission away closes the ListenerSet's port.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::{Backend, Rauta, free_port, service_yaml};

fn pod(reply: &support::Reply) -> String {
    assert_eq!(reply.status, 200, "body: {:?}", reply.body);
    reply.json()["pod"].as_str().unwrap_or_default().to_owned()
}

fn condition<'a>(conditions: &'a Value, type_: &str) -> &'a Value {
    conditions
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} in {conditions:#}"))
}

fn config(gateway_port: u16, set_port: u16, allowed: &str, gw: &Backend, team: &Backend) -> String {
    format!(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: rauta}}
spec: {{controllerName: rauta.io/gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  gatewayClassName: rauta
{allowed}
  listeners:
  - {{name: http, protocol: HTTP, port: {gateway_port}, hostname: "*.example.com"}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {{name: team-listeners, namespace: team}}
spec:
  parentRef: {{name: gw, namespace: default}}
  listeners:
  - {{name: own-port, protocol: HTTP, port: {set_port}, hostname: app.example.com}}
  - {{name: shared-port, protocol: HTTP, port: {gateway_port}, hostname: team.example.com}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: team-route, namespace: team}}
spec:
  parentRefs: [{{kind: ListenerSet, name: team-listeners}}]
  rules:
  - backendRefs: [{{name: team, port: 80}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: gateway-route, namespace: default}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - backendRefs: [{{name: gw, port: 80}}]
{gw_service}{team_service}"#,
        gw_service = service_yaml("gw", gw.addr, None),
        team_service = service_yaml("team", team.addr, None).replace("namespace: default", "namespace: team"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_sets_add_listeners_to_gateways_that_allow_them() {
    let gateway_port = free_port();
    let set_port = free_port();
    let gw = Backend::start("gw", "gw").await;
    let team = Backend::start("team", "team").await;
    let allowed = "  allowedListeners: {namespaces: {from: All}}";
    let rauta = Rauta::start(&config(gateway_port, set_port, allowed, &gw, &team)).await;

    // The ListenerSet's own port serves its route; the Gateway's route is not on it.
    assert_eq!(pod(&rauta.get(set_port, "app.example.com", "/").await), "team");
    assert_eq!(rauta.get(set_port, "other.example.com", "/").await.status, 404);
    // On the Gateway's port, the ListenerSet's more specific hostname goes to the team's route,
    // every other host of the wildcard listener to the Gateway's.
    assert_eq!(pod(&rauta.get(gateway_port, "team.example.com", "/").await), "team");
    assert_eq!(pod(&rauta.get(gateway_port, "www.example.com", "/").await), "gw");

    let set = rauta.status_of("ListenerSet", "team-listeners").await;
    assert_eq!(
        condition(&set["status"]["conditions"], "Accepted")["status"],
        "True",
        "{set:#}"
    );
    assert_eq!(
        condition(&set["status"]["conditions"], "Programmed")["status"],
        "True",
        "{set:#}"
    );
    for l in set["status"]["listeners"].as_array().unwrap() {
        assert_eq!(l["attachedRoutes"], 1, "{l:#}");
        assert_eq!(condition(&l["conditions"], "Programmed")["status"], "True", "{l:#}");
    }
    let gateway = rauta.status_of("Gateway", "gw").await;
    assert_eq!(gateway["status"]["attachedListenerSets"], 1, "{gateway:#}");
    assert_eq!(
        gateway["status"]["listeners"].as_array().unwrap().len(),
        1,
        "{gateway:#}"
    );
    let route = rauta.status_of("HTTPRoute", "team-route").await;
    assert_eq!(
        route["status"]["parents"][0]["parentRef"]["kind"], "ListenerSet",
        "{route:#}"
    );

    // Without allowedListeners the Gateway admits no ListenerSet: its port closes and its
    // hostname falls back to the Gateway's listener.
    rauta.rewrite(&config(gateway_port, set_port, "", &gw, &team));
    rauta
        .eventually("the ListenerSet is NotAllowed", || async {
            let set = rauta.status_of("ListenerSet", "team-listeners").await;
            condition(&set["status"]["conditions"], "Accepted")["reason"] == "NotAllowed"
        })
        .await;
    rauta
        .eventually("the ListenerSet's port is closed", || async {
            tokio::net::TcpStream::connect(("127.0.0.1", set_port)).await.is_err()
        })
        .await;
    assert_eq!(pod(&rauta.get(gateway_port, "team.example.com", "/").await), "gw");
    let route = rauta.status_of("HTTPRoute", "team-route").await;
    let accepted = condition(&route["status"]["parents"][0]["conditions"], "Accepted");
    assert_eq!(accepted["status"], "False", "{route:#}");
}
