//! GRPCRoute (the GATEWAY-GRPC profile): method and metadata matching, listener hostnames,
//! named rules, header filters and weights, with a gRPC client over h2c.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Result, anyhow};

use crate::ctx::{Ctx, INFRA, grpc_route, gw};
use crate::expect::Backend;
use crate::grpc::{self, Call, code};
use crate::scenario;
use crate::scenario::Scenario;
use crate::weights;

pub const ALL: &[Scenario] = &[
    scenario!("GRPCExactMethodMatching", exact_method_matching),
    scenario!("GRPCRouteHeaderMatching", header_matching),
    scenario!("GRPCRouteListenerHostnameMatching", listener_hostname_matching),
    scenario!("GRPCRouteNamedRule", named_rule),
    scenario!("GRPCRouteRequestHeaderModifier", request_header_modifier),
    scenario!("GRPCRouteWeight", weight),
];

const G1: Backend = Backend {
    name: "grpc-infra-backend-v1",
    namespace: INFRA,
};
const G2: Backend = Backend {
    name: "grpc-infra-backend-v2",
    namespace: INFRA,
};
const G3: Backend = Backend {
    name: "grpc-infra-backend-v3",
    namespace: INFRA,
};
/// Any backend: only the status code is checked.
const NONE: Backend = Backend {
    name: "",
    namespace: "",
};

fn call(method: &str) -> Call {
    Call {
        method: method.to_owned(),
        ..Call::default()
    }
}

fn with_metadata(method: &str, metadata: &[(&str, &str)]) -> Call {
    Call {
        metadata: metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..call(method)
    }
}

fn with_authority(authority: &str) -> Call {
    Call {
        authority: Some(authority.to_owned()),
        ..call("Echo")
    }
}

/// `GatewayAndRoutesMustBeAccepted` for the GRPCRoute on `same-namespace`.
async fn accepted(t: &Ctx, name: &str) -> Result<SocketAddr> {
    t.accepted(&gw("same-namespace"), &[], &[grpc_route(name)]).await
}

/// Every call at once; fails with every failure.
async fn expect_all(t: &Ctx, addr: SocketAddr, calls: Vec<(Call, u32, Backend)>) -> Result<()> {
    let total = calls.len();
    let results =
        futures_util::future::join_all(calls.into_iter().map(|(c, code, b)| t.expect_grpc(addr, c, code, b))).await;
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.err().map(|e| e.to_string()))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(
            "{} of {total} calls failed:\n  {}",
            failures.len(),
            failures.join("\n  ")
        ))
    }
}

async fn exact_method_matching(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted(&t, "exact-matching").await?;
    let calls = vec![
        (call("Echo"), code::OK, G1),
        (call("EchoTwo"), code::OK, G2),
        (call("EchoThree"), code::UNIMPLEMENTED, NONE),
    ];
    expect_all(&t, addr, calls).await
}

async fn header_matching(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted(&t, "grpc-header-matching").await?;
    let m = |metadata: &[(&str, &str)]| with_metadata("Echo", metadata);
    let calls = vec![
        (m(&[("Version", "one")]), code::OK, G1),
        (m(&[("Version", "two")]), code::OK, G2),
        (m(&[("Version", "two"), ("Color", "orange")]), code::OK, G1),
        (m(&[("Version", "two"), ("Color", "blue")]), code::OK, G2),
        (m(&[("Color", "orange")]), code::UNIMPLEMENTED, NONE),
        (m(&[("Some-Other-Header", "one")]), code::UNIMPLEMENTED, NONE),
        (m(&[("Color", "blue")]), code::OK, G1),
        (m(&[("Color", "green")]), code::OK, G1),
        (m(&[("Color", "red")]), code::OK, G2),
        (m(&[("Color", "yellow")]), code::OK, G2),
        (m(&[("Color", "purple")]), code::UNIMPLEMENTED, NONE),
    ];
    expect_all(&t, addr, calls).await
}

async fn listener_hostname_matching(t: Arc<Ctx>) -> Result<()> {
    t.namespace_ready(INFRA).await?;
    let g = gw("grpcroute-listener-hostname-matching");
    t.accepted(&g, &["listener-1"], &[grpc_route("backend-v1")]).await?;
    t.accepted(&g, &["listener-2"], &[grpc_route("backend-v2")]).await?;
    let addr = t
        .accepted(&g, &["listener-3", "listener-4"], &[grpc_route("backend-v3")])
        .await?;
    let calls = vec![
        (with_authority("bar.com"), code::OK, G1),
        (with_authority("foo.bar.com"), code::OK, G2),
        (with_authority("baz.bar.com"), code::OK, G3),
        (with_authority("boo.bar.com"), code::OK, G3),
        (with_authority("multiple.prefixes.bar.com"), code::OK, G3),
        (with_authority("multiple.prefixes.foo.com"), code::OK, G3),
        (with_authority("foo.com"), code::UNIMPLEMENTED, NONE),
        (with_authority("no.matching.host"), code::UNIMPLEMENTED, NONE),
    ];
    expect_all(&t, addr, calls).await
}

async fn named_rule(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted(&t, "grpc-named-rules").await?;
    expect_all(
        &t,
        addr,
        vec![(call("Echo"), code::OK, G1), (call("EchoTwo"), code::OK, G2)],
    )
    .await
}

async fn request_header_modifier(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted(&t, "grpc-request-header-modifier").await?;
    // The suite's own helper verifies only where these calls go, not the edited metadata.
    let authority = |mut c: Call| {
        c.authority = Some(grpc::SERVICE.to_owned());
        c
    };
    let calls = vec![
        (
            authority(with_metadata(
                "Echo",
                &[("Some-Other-Header", "this-header-should-be-set")],
            )),
            code::OK,
            G1,
        ),
        (
            authority(with_metadata(
                "Echo",
                &[
                    ("Some-Other-Header", "this-header-should-be-set"),
                    ("X-Header-Set", "this-value-should-be-overwritten"),
                ],
            )),
            code::OK,
            G1,
        ),
        (
            authority(with_metadata(
                "Echo",
                &[
                    ("Some-Other-Header", "this-header-should-be-set"),
                    ("X-Header-Add", "this-value-should-be-appended"),
                ],
            )),
            code::OK,
            G1,
        ),
        (
            authority(with_metadata("Echo", &[("X-Header-Remove", "this-should-be-removed")])),
            code::OK,
            G1,
        ),
        (
            authority(with_metadata(
                "EchoTwo",
                &[
                    ("X-Header-Set-2", "set-header-2"),
                    ("X-Header-Add-2", "add-header-2"),
                    ("X-Header-Remove-2", "should-be-removed-2"),
                    ("Some-Other-Header", "another-header-val"),
                ],
            )),
            code::OK,
            G2,
        ),
        (
            authority(with_metadata(
                "EchoTwo",
                &[
                    ("x-header-set-1", "original-set-1"),
                    ("x-header-add-1", "existing-add-1"),
                    ("x-header-remove-1", "should-be-removed-1"),
                ],
            )),
            code::OK,
            G2,
        ),
    ];
    expect_all(&t, addr, calls).await
}

async fn weight(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted(&t, "weighted-backends").await?;
    t.expect_grpc(
        addr,
        call("Echo"),
        code::OK,
        Backend {
            name: "",
            namespace: INFRA,
        },
    )
    .await?;
    let send = || async move {
        let mut c = call("Echo");
        if fastrand::bool() {
            c.metadata
                .push(("X-Jitter".to_owned(), fastrand::u32(0..10_000).to_string()));
        }
        let got = grpc::call(addr, &c).await?;
        if got.code != code::OK {
            return Err(format!("expected OK, got gRPC code {}", got.code));
        }
        Ok(got.pod)
    };
    let weights = [
        ("grpc-infra-backend-v1", 0.7),
        ("grpc-infra-backend-v2", 0.3),
        ("grpc-infra-backend-v3", 0.0),
    ];
    weights::check(send, &weights).await.map_err(|e| anyhow!(e))
}
