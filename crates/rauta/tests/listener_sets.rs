//! ListenerSets through the real binary: a team's ListenerSet adds listeners (a new port and a
//! hostname on the Gateway's port) to a Gateway that allows it; routes reach them only through a
//! ListenerSet parentRef; taking the permission away closes the ListenerSet's port. HTTPS
//! listeners of ListenerSets present the certificate a ReferenceGrant from kind ListenerSet lets
//! them use, next to the Gateway's own on one port.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/certs.rs"]
mod certs;
mod support;

use certs::{Ca, KeyKind, curl, peer_cn, s_client, secret_yaml};
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

/// One HTTPS port: the Gateway's listener for `gw.example.com` and a ListenerSet's for
/// `team.example.com` with a certificate in namespace `certs`, which `grant` (a ReferenceGrant,
/// or nothing) opens to ListenerSets of `team`. A second ListenerSet, in `other`, names the same
/// certificate without a grant.
fn tls_config(
    port: u16,
    grant: &str,
    gw: &Backend,
    team: &Backend,
    gw_pem: &certs::Pem,
    team_pem: &certs::Pem,
) -> String {
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
  allowedListeners: {{namespaces: {{from: All}}}}
  listeners:
  - {{name: https, protocol: HTTPS, port: {port}, hostname: gw.example.com, tls: {{certificateRefs: [{{name: gw-cert}}]}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {{name: team-tls, namespace: team}}
spec:
  parentRef: {{name: gw, namespace: default}}
  listeners:
  - name: https
    protocol: HTTPS
    port: {port}
    hostname: team.example.com
    tls: {{certificateRefs: [{{name: team-cert, namespace: certs}}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {{name: other-tls, namespace: other}}
spec:
  parentRef: {{name: gw, namespace: default}}
  listeners:
  - name: https
    protocol: HTTPS
    port: {port}
    hostname: other.example.com
    tls: {{certificateRefs: [{{name: team-cert, namespace: certs}}]}}
{grant}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: team-route, namespace: team}}
spec:
  parentRefs: [{{kind: ListenerSet, name: team-tls}}]
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
{gw_secret}{team_secret}{gw_service}{team_service}"#,
        gw_secret = secret_yaml("default", "gw-cert", gw_pem),
        team_secret = secret_yaml("certs", "team-cert", team_pem),
        gw_service = service_yaml("gw", gw.addr, None),
        team_service = service_yaml("team", team.addr, None).replace("namespace: default", "namespace: team"),
    )
}

const TEAM_GRANT: &str = r#"---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: team-listener-sets, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: ListenerSet, namespace: team}]
  to: [{group: "", kind: Secret}]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_set_https_listeners_use_certificates_granted_to_listener_sets() {
    let ca = Ca::new();
    let port = free_port();
    let gw_pem = ca.leaf("gw.example.com", &["gw.example.com"], KeyKind::EcSec1);
    let team_pem = ca.leaf("team.example.com", &["team.example.com"], KeyKind::EcSec1);
    let gw = Backend::start("gw", "gw").await;
    let team = Backend::start("team", "team").await;
    let rauta = Rauta::start(&tls_config(port, TEAM_GRANT, &gw, &team, &gw_pem, &team_pem)).await;

    // SNI picks the ListenerSet's certificate for its hostname, the Gateway's for its own, and
    // each hostname reaches the route of the listener's owner.
    let ca_file = ca.crt_path.to_str().unwrap();
    for (sni, cn) in [
        ("team.example.com", "team.example.com"),
        ("gw.example.com", "gw.example.com"),
    ] {
        let (ok, out) = s_client(port, Some(sni), &["-CAfile", ca_file]);
        assert!(ok, "{sni}: {out}");
        assert_eq!(peer_cn(&out).as_deref(), Some(cn), "{sni}: {out}");
        assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    }
    let reply = curl(&ca.crt_path, port, "team.example.com", None, "/", "--http1.1");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&reply.body).unwrap()["pod"],
        "team",
        "{reply:?}"
    );
    let reply = curl(&ca.crt_path, port, "gw.example.com", None, "/", "--http2");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&reply.body).unwrap()["pod"],
        "gw",
        "{reply:?}"
    );

    let set = rauta.status_of("ListenerSet", "team-tls").await;
    assert_eq!(
        condition(&set["status"]["conditions"], "Accepted")["status"],
        "True",
        "{set:#}"
    );
    let listener = &set["status"]["listeners"][0];
    assert_eq!(
        condition(&listener["conditions"], "ResolvedRefs")["status"],
        "True",
        "{set:#}"
    );
    assert_eq!(
        condition(&listener["conditions"], "Programmed")["status"],
        "True",
        "{set:#}"
    );
    // The grant names ListenerSets of team only: the other namespace's ListenerSet cannot use the
    // certificate, so it has no valid listener.
    let other = rauta.status_of("ListenerSet", "other-tls").await;
    let accepted = condition(&other["status"]["conditions"], "Accepted");
    assert_eq!(
        (accepted["status"].as_str(), accepted["reason"].as_str()),
        (Some("False"), Some("ListenersNotValid")),
        "{other:#}"
    );
    let resolved = condition(&other["status"]["listeners"][0]["conditions"], "ResolvedRefs");
    assert_eq!(resolved["reason"], "RefNotPermitted", "{other:#}");
    let gateway = rauta.status_of("Gateway", "gw").await;
    assert_eq!(gateway["status"]["attachedListenerSets"], 1, "{gateway:#}");

    // Without the grant the team's listener loses its certificate too.
    rauta.rewrite(&tls_config(port, "", &gw, &team, &gw_pem, &team_pem));
    rauta
        .eventually("the team's ListenerSet has no valid listener", || async {
            let set = rauta.status_of("ListenerSet", "team-tls").await;
            condition(&set["status"]["conditions"], "Accepted")["reason"] == "ListenersNotValid"
        })
        .await;
    let gateway = rauta.status_of("Gateway", "gw").await;
    assert_eq!(gateway["status"]["attachedListenerSets"], 0, "{gateway:#}");
    let (_, out) = s_client(port, Some("team.example.com"), &["-CAfile", ca_file]);
    assert_ne!(peer_cn(&out).as_deref(), Some("team.example.com"), "{out}");
}
