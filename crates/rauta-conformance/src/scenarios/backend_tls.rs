//! BackendTLSPolicy: TLS from the gateway to the suite's TLS backends (tls-backend's HTTPS port,
//! grpc-infra-backend-v1's gRPC-over-TLS port), the policies' statuses, conflicts, unusable CA
//! references and the reconciling of a CA ConfigMap.

use std::sync::Arc;

use anyhow::Result;
use serde_json::{Value, json};

use crate::claims::Need;
use crate::ctx::{Ctx, INFRA, cond, grpc_route, gw, policy, route};
use crate::expect::{Backend, get};
use crate::grpc::Call;
use crate::manifest::Key;
use crate::scenario;
use crate::scenario::Scenario;
use crate::status::Cond;

pub const ALL: &[Scenario] = &[
    scenario!("BackendTLSPolicy", backend_tls_policy, needs: [Need::HttpsListeners]),
    scenario!("BackendTLSPolicyConflictResolution", conflict_resolution),
    scenario!("BackendTLSPolicyGRPCRoute", grpc_route_policy),
    scenario!("BackendTLSPolicyInvalidCACertificateRef", invalid_ca_certificate_ref),
    scenario!("BackendTLSPolicyInvalidKind", invalid_kind),
    scenario!("BackendTLSPolicyObservedGenerationBump", observed_generation_bump),
    scenario!("BackendTLSPolicySANValidation", san_validation),
];

const ACCEPTED: Cond = cond("Accepted", "True", "Accepted");
const RESOLVED: Cond = cond("ResolvedRefs", "True", "ResolvedRefs");
const NO_VALID_CA: Cond = cond("Accepted", "False", "NoValidCACertificate");
const INVALID_CA_REF: Cond = cond("ResolvedRefs", "False", "InvalidCACertificateRef");
const CONFLICTED: Cond = cond("Accepted", "False", "Conflicted");

const GRPC_V1: Backend = Backend {
    name: "grpc-infra-backend-v1",
    namespace: INFRA,
};

/// Accepted and ResolvedRefs for `gw`.
async fn valid(t: &Ctx, name: &str, g: &Key) -> Result<()> {
    let p = policy(name);
    t.policy_condition(&p, g, ACCEPTED).await?;
    t.policy_condition(&p, g, RESOLVED).await
}

async fn backend_tls_policy(t: Arc<Ctx>) -> Result<()> {
    // Re-encryption behind the HTTPS listener: the client's SNI is the listener's, the
    // backend's is the policy's.
    let https = gw("same-namespace-with-https-listener");
    let reencrypt = route("backendtlspolicy-reencrypt");
    t.namespace_ready(INFRA).await?;
    let addr = t.accepted(&https, &[], std::slice::from_ref(&reencrypt)).await?;
    t.route_resolved(&reencrypt, &https).await?;
    valid(&t, "normative-test", &https).await?;
    let root = t.cert(INFRA, "tls-validity-checks-certificate")?;
    let case = get("/backendtlspolicy")
        .host("https-listener.org")
        .https("https-listener.org", &root)
        .in_namespace(INFRA)
        .seen_path("/backendtlspolicy")
        .seen_sni("abc.example.com");
    t.expect_tls(addr, case).await?;

    let g = gw("same-namespace");
    let r = route("backendtlspolicy");
    t.namespace_ready(INFRA).await?;
    let addr = t.accepted(&g, &[], std::slice::from_ref(&r)).await?;
    t.route_resolved(&r, &g).await?;

    valid(&t, "normative-test", &g).await?;
    let ok = get("/backendtlspolicy")
        .host("abc.example.com")
        .sni("abc.example.com")
        .in_namespace(INFRA);
    t.expect(addr, ok).await?;

    valid(&t, "host-mismatch", &g).await?;
    let host_mismatch = get("/backendtlspolicy-host-mismatch")
        .host("abc.example.org")
        .sni("abc.example.com")
        .in_namespace(INFRA);
    t.expect_failure(addr, host_mismatch).await?;

    valid(&t, "cert-mismatch", &g).await?;
    let cert_mismatch = get("/backendtlspolicy-cert-mismatch")
        .host("abc.example.com")
        .sni("abc.example.com")
        .in_namespace(INFRA);
    t.expect_failure(addr, cert_mismatch).await?;

    reconcile_config_map(&t, &g).await
}

/// Changing the content of a ConfigMap a policy trusts is reconciled: the policy moves to a
/// ConfigMap that does not exist yet, which is then created, emptied and refilled.
async fn reconcile_config_map(t: &Ctx, g: &Key) -> Result<()> {
    let p = policy("reconcile-test");
    t.policy_condition(&p, g, ACCEPTED).await?;
    t.policy_condition(&p, g, RESOLVED).await?;
    let ca = t.ca(INFRA, "tls-checks-ca-certificate")?;
    let test_cm = "tls-checks-ca-certificate-reconcile-test";
    let original = t.resource(&p)?["spec"]["validation"]["caCertificateRefs"].clone();
    t.patch(&p, |doc| {
        doc["spec"]["validation"]["caCertificateRefs"] = json!([{"group": "", "kind": "ConfigMap", "name": test_cm}]);
    })?;
    let both = |first: Cond, second: Cond| {
        let (p, g) = (&p, g);
        async move {
            t.policy_condition(p, g, first).await?;
            t.policy_condition(p, g, second).await
        }
    };
    let invalid = || both(NO_VALID_CA, INVALID_CA_REF);
    let accepted = || both(ACCEPTED, RESOLVED);
    invalid().await?;
    let config_map = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {test_cm}, namespace: {INFRA}}}\ndata:\n  ca.crt: {}\n",
        Value::String(ca.clone())
    );
    t.apply_yaml(&config_map, "the test's ConfigMap").await?;
    accepted().await?;
    let cm = Key::new("ConfigMap", INFRA, test_cm);
    t.patch(&cm, |doc| doc["data"]["ca.crt"] = json!(""))?;
    invalid().await?;
    t.patch(&cm, |doc| doc["data"]["ca.crt"] = json!(ca))?;
    accepted().await?;
    t.patch(&p, |doc| doc["spec"]["validation"]["caCertificateRefs"] = original)?;
    Ok(())
}

async fn conflict_resolution(t: Arc<Ctx>) -> Result<()> {
    let g = gw("same-namespace");
    let r = route("backendtlspolicy-conflict-resolution");
    t.namespace_ready(INFRA).await?;
    let addr = t.accepted(&g, &[], std::slice::from_ref(&r)).await?;
    t.route_resolved(&r, &g).await?;
    let through = |path: &str, sni: &str| get(path).host("abc.example.com").sni(sni).in_namespace(INFRA);

    t.policy_condition(&policy("conflicted-without-section-name-1"), &g, ACCEPTED)
        .await?;
    t.policy_condition(&policy("conflicted-without-section-name-2"), &g, CONFLICTED)
        .await?;
    t.expect(
        addr,
        through("/backendtlspolicy-conflicted-without-section-name", "other.example.com"),
    )
    .await?;

    t.policy_condition(&policy("conflicted-with-section-name-1"), &g, ACCEPTED)
        .await?;
    t.policy_condition(&policy("conflicted-with-section-name-2"), &g, CONFLICTED)
        .await?;
    t.expect(
        addr,
        through("/backendtlspolicy-conflicted-with-section-name", "other.example.com"),
    )
    .await?;

    t.policy_condition(&policy("not-conflicted-with-section-name"), &g, ACCEPTED)
        .await?;
    t.policy_condition(&policy("not-conflicted-without-section-name"), &g, ACCEPTED)
        .await?;
    t.expect(
        addr,
        through(
            "/backendtlspolicy-not-conflicted-with-section-name",
            "other.example.com",
        ),
    )
    .await?;
    t.expect(
        addr,
        through(
            "/backendtlspolicy-not-conflicted-without-section-name",
            "abc.example.com",
        ),
    )
    .await
}

fn grpc_call(method: &str, authority: &str) -> Call {
    Call {
        method: method.to_owned(),
        authority: Some(authority.to_owned()),
        ..Call::default()
    }
}

async fn grpc_route_policy(t: Arc<Ctx>) -> Result<()> {
    let g = gw("same-namespace");
    let r = grpc_route("backendtlspolicy-grpcroute");
    t.namespace_ready(INFRA).await?;
    let addr = t.accepted(&g, &[], std::slice::from_ref(&r)).await?;

    valid(&t, "grpc-normative-test", &g).await?;
    t.expect_grpc(
        addr,
        grpc_call("Echo", "abc.example.com"),
        crate::grpc::code::OK,
        GRPC_V1,
    )
    .await?;

    valid(&t, "grpc-host-mismatch", &g).await?;
    t.expect_grpc_failure(addr, grpc_call("EchoTwo", "abc.example.com"))
        .await?;

    let mismatch = grpc_route("backendtlspolicy-grpcroute-cert-mismatch");
    t.accepted(&g, &[], std::slice::from_ref(&mismatch)).await?;
    valid(&t, "grpc-cert-mismatch", &g).await?;
    t.expect_grpc_failure(addr, grpc_call("Echo", "cert-mismatch.example.com"))
        .await
}

/// The policy's conditions when its only CA reference is unusable, and the 5xx its traffic gets.
async fn invalid_reference(t: &Ctx, g: &Key, addr: std::net::SocketAddr, name: &str, resolved: Cond) -> Result<()> {
    let p = policy(name);
    t.policy_condition(&p, g, NO_VALID_CA).await?;
    t.policy_condition(&p, g, resolved).await?;
    let case = get(&format!("/backendtlspolicy-{name}"))
        .host("abc.example.com")
        .statuses(&[500, 502, 503])
        .in_namespace(INFRA);
    t.expect(addr, case).await
}

async fn invalid_ca_certificate_ref(t: Arc<Ctx>) -> Result<()> {
    let g = gw("same-namespace");
    let r = route("backendtlspolicy-invalid-ca-certificate-ref");
    t.namespace_ready(INFRA).await?;
    let addr = t.accepted(&g, &[], std::slice::from_ref(&r)).await?;
    for name in ["nonexistent-ca-certificate-ref", "malformed-ca-certificate-ref"] {
        invalid_reference(&t, &g, addr, name, INVALID_CA_REF).await?;
    }
    Ok(())
}

async fn invalid_kind(t: Arc<Ctx>) -> Result<()> {
    let g = gw("same-namespace");
    let r = route("backendtlspolicy-invalid-kind-test");
    t.namespace_ready(INFRA).await?;
    let addr = t.accepted(&g, &[], std::slice::from_ref(&r)).await?;
    invalid_reference(
        &t,
        &g,
        addr,
        "invalid-kind",
        cond("ResolvedRefs", "False", "InvalidKind"),
    )
    .await
}

async fn observed_generation_bump(t: Arc<Ctx>) -> Result<()> {
    let p = policy("observed-generation-bump");
    let g = gw("same-namespace");
    t.namespace_ready(INFRA).await?;
    let before = t.generation(&p)?;
    t.policy_latest_conditions(&p).await?;
    t.patch(&p, |doc| {
        doc["spec"]["validation"]["hostname"] = json!("foo.example.com")
    })?;
    t.policy_condition(&p, &g, cond("Accepted", "True", "")).await?;
    t.policy_latest_conditions(&p).await?;
    anyhow::ensure!(
        t.generation(&p)? != before,
        "the generation did not change after a spec change"
    );
    Ok(())
}

async fn san_validation(t: Arc<Ctx>) -> Result<()> {
    let g = gw("same-namespace");
    let r = route("backendtlspolicy-san-test");
    t.namespace_ready(INFRA).await?;
    let addr = t.accepted(&g, &[], std::slice::from_ref(&r)).await?;
    t.route_resolved(&r, &g).await?;
    let case = |name: &str| {
        get(&format!("/backendtlspolicy-{name}"))
            .host("abc.example.com")
            .sni("abc.example.com")
            .in_namespace(INFRA)
    };
    for (name, valid) in [
        ("san-dns", true),
        ("san-dns-mismatch", false),
        ("san-uri", true),
        ("san-uri-mismatch", false),
        ("multiple-sans", true),
        ("multiple-mismatch-sans", false),
    ] {
        t.policy_condition(&policy(name), &g, ACCEPTED).await?;
        if valid {
            t.expect(addr, case(name)).await?;
        } else {
            t.expect_failure(addr, case(name)).await?;
        }
    }
    Ok(())
}
