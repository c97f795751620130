//! GatewayClass and Gateway: generations, listener status, invalid listeners, addresses,
//! attached routes, listener isolation.

use std::sync::Arc;

use anyhow::Result;
use serde_json::{Value, json};

use crate::claims::Need;
use crate::ctx::{Ctx, INFRA, V1, cond, gw, route};
use crate::expect::get;
use crate::manifest::Key;
use crate::scenario;
use crate::scenario::Scenario;
use crate::status::{Cond, ListenerExpect};

pub const ALL: &[Scenario] = &[
    scenario!(
        "GatewayClassObservedGenerationBump",
        gateway_class_observed_generation_bump
    ),
    scenario!("GatewayObservedGenerationBump", gateway_observed_generation_bump),
    scenario!("GatewayInvalidRouteKind", invalid_route_kind),
    scenario!("GatewayListenerUnsupportedProtocol", listener_unsupported_protocol),
    scenario!("GatewayInvalidParametersRef", invalid_parameters_ref),
    scenario!("GatewayNameMaximumLength", name_maximum_length),
    scenario!("GatewayWithAttachedRoutes", with_attached_routes, needs: [Need::HttpsListeners]),
    scenario!(
        "GatewayWithAttachedRoutesWithPort8080",
        with_attached_routes_with_port_8080
    ),
    scenario!("GatewayStaticAddresses", static_addresses),
    scenario!("GatewayHTTPListenerIsolation", http_listener_isolation),
];

/// `Accepted=True` and `ResolvedRefs=True`, any reason: what most listener expectations say.
fn ready() -> Vec<Cond> {
    vec![cond("Accepted", "True", ""), cond("ResolvedRefs", "True", "")]
}

async fn gateway_class_observed_generation_bump(t: Arc<Ctx>) -> Result<()> {
    let class = Key::cluster("GatewayClass", "gatewayclass-observed-generation-bump");
    t.condition(&class, cond("Accepted", "", "")).await?;
    t.latest_conditions(&class).await?;
    let before = t.generation(&class)?;
    t.patch(&class, |c| c["spec"]["description"] = json!("new"))?;
    t.condition(&class, cond("Accepted", "", "")).await?;
    t.latest_conditions(&class).await?;
    anyhow::ensure!(
        t.generation(&class)? != before,
        "the generation did not change after a spec change"
    );
    Ok(())
}

async fn gateway_observed_generation_bump(t: Arc<Ctx>) -> Result<()> {
    let g = gw("gateway-observed-generation-bump");
    t.namespace_ready(INFRA).await?;
    t.latest_conditions(&g).await?;
    let before = t.generation(&g)?;
    t.patch(&g, |gateway| {
        if let Some(listeners) = gateway["spec"]["listeners"].as_array_mut() {
            listeners.push(
                json!({"name": "alternate", "hostname": "foo.com", "port": 80, "protocol": "HTTP",
                "allowedRoutes": {"namespaces": {"from": "All"}}}),
            );
        }
    })?;
    t.namespace_ready(INFRA).await?;
    t.latest_conditions(&g).await?;
    anyhow::ensure!(
        t.generation(&g)? != before,
        "the generation did not change after a spec change"
    );
    Ok(())
}

async fn invalid_route_kind(t: Arc<Ctx>) -> Result<()> {
    let invalid_kinds = || vec![cond("ResolvedRefs", "False", "InvalidRouteKinds")];
    let only_invalid = ListenerExpect {
        name: "http",
        kinds: &[],
        attached: 0,
        conditions: invalid_kinds(),
    };
    t.gateway_listeners(&gw("gateway-only-invalid-route-kind"), &[only_invalid])
        .await?;
    let mixed = ListenerExpect {
        name: "http",
        kinds: &["HTTPRoute"],
        attached: 0,
        conditions: invalid_kinds(),
    };
    t.gateway_listeners(&gw("gateway-supported-and-invalid-route-kind"), &[mixed])
        .await
}

async fn listener_unsupported_protocol(t: Arc<Ctx>) -> Result<()> {
    let unsupported = || ListenerExpect {
        name: "invalid",
        kinds: &[],
        attached: 0,
        conditions: vec![cond("Accepted", "False", "UnsupportedProtocol")],
    };
    let only = gw("gateway-only-unsupported-protocols");
    t.latest_conditions(&only).await?;
    t.condition(&only, cond("Accepted", "False", "ListenersNotValid"))
        .await?;
    t.gateway_listeners(&only, &[unsupported()]).await?;

    let mixed = gw("gateway-supported-and-unsupported-protocols");
    t.latest_conditions(&mixed).await?;
    t.condition(&mixed, cond("Accepted", "True", "ListenersNotValid"))
        .await?;
    let http = ListenerExpect {
        name: "http",
        kinds: &["HTTPRoute"],
        attached: 0,
        conditions: vec![cond("Accepted", "True", "Accepted")],
    };
    t.gateway_listeners(&mixed, &[http, unsupported()]).await
}

async fn invalid_parameters_ref(t: Arc<Ctx>) -> Result<()> {
    let g = gw("gateway-invalid-parameters-ref");
    t.latest_conditions(&g).await?;
    t.condition(&g, cond("Accepted", "False", "InvalidParameters")).await
}

async fn name_maximum_length(t: Arc<Ctx>) -> Result<()> {
    let name = format!("gateway-name-maximum-length-{}", "a".repeat(253 - 28));
    t.latest_conditions(&gw(&name)).await
}

async fn with_attached_routes(t: Arc<Ctx>) -> Result<()> {
    let one = ListenerExpect {
        name: "http",
        kinds: &["HTTPRoute"],
        attached: 1,
        conditions: ready(),
    };
    t.gateway_listeners(&gw("gateway-with-one-attached-route"), &[one])
        .await?;

    let two_gw = gw("gateway-with-two-attached-routes");
    let two = ListenerExpect {
        name: "http",
        kinds: &["HTTPRoute"],
        attached: 2,
        conditions: ready(),
    };
    t.gateway_listeners(&two_gw, &[two]).await?;
    t.route_condition(
        &route("http-route-not-accepted"),
        &two_gw,
        cond("Accepted", "False", "NoMatchingListenerHostname"),
    )
    .await?;

    let unresolved_gw = gw("unresolved-gateway-with-one-attached-unresolved-route");
    let unresolved = ListenerExpect {
        name: "tls",
        kinds: &["HTTPRoute"],
        attached: 1,
        conditions: vec![cond("Programmed", "False", ""), cond("ResolvedRefs", "False", "")],
    };
    t.gateway_listeners(&unresolved_gw, &[unresolved]).await?;
    t.route_condition(
        &route("http-route-4"),
        &unresolved_gw,
        cond("ResolvedRefs", "False", ""),
    )
    .await
}

async fn with_attached_routes_with_port_8080(t: Arc<Ctx>) -> Result<()> {
    let listeners = [
        ListenerExpect {
            name: "http-unattached",
            kinds: &["HTTPRoute"],
            attached: 0,
            conditions: ready(),
        },
        ListenerExpect {
            name: "http",
            kinds: &["HTTPRoute"],
            attached: 1,
            conditions: ready(),
        },
    ];
    t.gateway_listeners(&gw("gateway-with-two-listeners-and-one-attached-route"), &listeners)
        .await
}

async fn static_addresses(t: Arc<Ctx>) -> Result<()> {
    let g = gw("gateway-static-addresses");
    t.latest_conditions(&g).await?;
    let addresses = t.resource(&g)?["spec"]["addresses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    anyhow::ensure!(
        addresses.len() == 3,
        "expected 3 requested addresses, got {}",
        addresses.len()
    );
    let (invalid, unusable, usable) = (addresses[0].clone(), addresses[1].clone(), addresses[2].clone());
    t.condition(&g, cond("Accepted", "False", "UnsupportedAddress")).await?;

    let without = |drop: &Value| {
        let drop = drop.clone();
        move |gateway: &mut Value| {
            if let Some(list) = gateway["spec"]["addresses"].as_array_mut() {
                list.retain(|a| a["value"] != drop["value"]);
            }
        }
    };
    t.patch(&g, without(&invalid))?;
    t.latest_conditions(&g).await?;
    t.condition(&g, cond("Accepted", "True", "Accepted")).await?;
    t.condition(&g, cond("Programmed", "False", "AddressNotUsable")).await?;

    t.patch(&g, without(&unusable))?;
    t.latest_conditions(&g).await?;
    t.condition(&g, cond("Accepted", "True", "Accepted")).await?;
    t.condition(&g, cond("Programmed", "True", "Programmed")).await?;
    let http = ListenerExpect {
        name: "http",
        kinds: &["HTTPRoute"],
        attached: 0,
        conditions: ready(),
    };
    t.gateway_listeners(&g, std::slice::from_ref(&http)).await?;
    t.wait_status(&g, "exactly the usable address", |s, _| {
        let got = s
            .get("addresses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        match got.as_slice() {
            [one] if one["value"] == usable["value"] && one["type"] == usable["type"] => Ok(()),
            _ => Err(format!("status.addresses {got:?}, expected only {usable}")),
        }
    })
    .await
}

async fn http_listener_isolation(t: Arc<Ctx>) -> Result<()> {
    t.namespace_ready(INFRA).await?;
    let paths = [
        "/empty-hostname",
        "/wildcard-example-com",
        "/wildcard-foo-example-com",
        "/abc-foo-example-com",
    ];
    let hosts = [
        "bar.com",
        "bar.example.com",
        "bar.foo.example.com",
        "abc.foo.example.com",
    ];
    for (gateway, suffix) in [
        ("http-listener-isolation", ""),
        (
            "http-listener-isolation-with-hostname-intersection",
            "-with-hostname-intersection",
        ),
    ] {
        let g = gw(gateway);
        let routes: Vec<Key> = paths
            .iter()
            .map(|p| route(&format!("attaches-to-{}{suffix}", &p[1..])))
            .collect();
        let addr = t.accepted(&g, &[], &routes).await?;
        for r in &routes {
            t.route_resolved(r, &g).await?;
        }
        // Host i reaches only the route of listener i.
        let mut cases = Vec::new();
        for (i, host) in hosts.iter().enumerate() {
            for (j, path) in paths.iter().enumerate() {
                let case = get(path).host(host);
                cases.push(if i == j { case.to(V1) } else { case.status(404) });
            }
        }
        t.expect_all(addr, cases).await?;
    }
    Ok(())
}
