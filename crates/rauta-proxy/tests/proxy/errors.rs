//! Locally generated errors, timeouts and retries.

use std::time::Duration;

use http::StatusCode;
use rauta_ir::UpstreamProtocol::Http1;
use rauta_ir::{BackendRef, BackendTarget, InvalidBackend, Retry, Rule, Timeouts};

use super::support::*;

async fn serve(r: Rule, endpoints: &[std::net::SocketAddr]) -> (rauta_proxy::DataPlane, std::net::SocketAddr) {
    let addr = free_port();
    let (dp, _) = start(snapshot(
        addr,
        vec![prefix("/", r)],
        vec![cluster("c", Http1, endpoints)],
    ))
    .await;
    (dp, addr)
}

fn timeouts(request: Option<u64>, backend: Option<u64>) -> Timeouts {
    Timeouts {
        request: request.map(Duration::from_millis),
        backend_request: backend.map(Duration::from_millis),
    }
}

#[tokio::test]
async fn backend_problems_map_to_the_spec_statuses() {
    let invalid = BackendRef {
        weight: 1,
        target: BackendTarget::Invalid(InvalidBackend::NotFound),
        filters: vec![],
    };
    let (_a, addr) = serve(rule("invalid", vec![invalid]), &[]).await;
    let (status, _, body) = get(addr, "e.example", "/").await;
    assert_eq!(
        (status, body.as_ref()),
        (StatusCode::INTERNAL_SERVER_ERROR, &b"backend_not_found"[..])
    );

    let (_b, addr) = serve(rule("none", vec![]), &[]).await;
    assert_eq!(get(addr, "e.example", "/").await.0, StatusCode::INTERNAL_SERVER_ERROR);

    let (_c, addr) = serve(rule("zero", vec![to("c", 0)]), &[]).await;
    assert_eq!(get(addr, "e.example", "/").await.0, StatusCode::INTERNAL_SERVER_ERROR);

    let (_d, addr) = serve(rule("empty", vec![to("c", 1)]), &[]).await;
    let (status, _, body) = get(addr, "e.example", "/").await;
    assert_eq!(
        (status, body.as_ref()),
        (StatusCode::SERVICE_UNAVAILABLE, &b"no_endpoints"[..])
    );

    let (_e, addr) = serve(rule("refused", vec![to("c", 1)]), &[free_port()]).await;
    let (status, _, body) = get(addr, "e.example", "/").await;
    assert_eq!(
        (status, body.as_ref()),
        (StatusCode::BAD_GATEWAY, &b"upstream_connect_failure"[..])
    );

    let reset = resetting_server().await;
    let (_f, addr) = serve(rule("reset", vec![to("c", 1)]), &[reset]).await;
    let (status, _, body) = get(addr, "e.example", "/").await;
    assert_eq!(
        (status, body.as_ref()),
        (StatusCode::SERVICE_UNAVAILABLE, &b"upstream_reset"[..])
    );
}

#[tokio::test]
async fn request_and_backend_timeouts_answer_504() {
    let b = backend("slow").await;
    let mut r = rule("t", vec![to("c", 1)]);
    r.timeouts = timeouts(Some(200), None);
    let (_a, addr) = serve(r, &[b.addr]).await;
    assert_eq!(get(addr, "t.example", "/").await.0, StatusCode::OK);
    let (status, _, body) = get(addr, "t.example", "/?delay=1000").await;
    assert_eq!(
        (status, body.as_ref()),
        (StatusCode::GATEWAY_TIMEOUT, &b"request_timeout"[..])
    );

    let mut r = rule("t", vec![to("c", 1)]);
    r.timeouts = timeouts(None, Some(200));
    let (_b, addr) = serve(r, &[b.addr]).await;
    let (status, _, body) = get(addr, "t.example", "/?delay=1000").await;
    assert_eq!(
        (status, body.as_ref()),
        (StatusCode::GATEWAY_TIMEOUT, &b"backend_timeout"[..])
    );

    // 0s disables a timeout.
    let mut r = rule("t", vec![to("c", 1)]);
    r.timeouts = timeouts(Some(0), Some(0));
    let (_c, addr) = serve(r, &[b.addr]).await;
    assert_eq!(get(addr, "t.example", "/?delay=300").await.0, StatusCode::OK);
}

fn retrying(attempts: u32, codes: &[u16], t: Timeouts) -> Rule {
    let mut r = rule("retry", vec![to("c", 1)]);
    r.retry = Some(Retry {
        attempts,
        codes: codes.to_vec(),
        backoff: None,
    });
    r.timeouts = t;
    r
}

#[tokio::test]
async fn retries_listed_codes_up_to_the_attempts() {
    let b = backend("flaky").await;
    let (_dp, addr) = serve(retrying(2, &[500, 502], Timeouts::default()), &[b.addr]).await;
    assert_eq!(
        get(addr, "r.example", "/?fail=2&key=a&code=500").await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(addr, "r.example", "/?fail=3&key=b&code=500").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        get(addr, "r.example", "/?fail=1&key=c&code=503").await.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "503 is not listed"
    );
}

#[tokio::test]
async fn retries_resets_and_per_try_timeouts() {
    let b = backend("flaky").await;
    let (_a, addr) = serve(retrying(3, &[], Timeouts::default()), &[b.addr]).await;
    assert_eq!(get(addr, "r.example", "/?fail=2&key=r1").await.0, StatusCode::OK);
    assert_eq!(
        get(addr, "r.example", "/?fail=4&key=r2").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let (_b, addr) = serve(retrying(2, &[], timeouts(None, Some(200))), &[b.addr]).await;
    assert_eq!(
        get(addr, "r.example", "/?fail=2&key=t1&faildelay=400&code=500").await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(addr, "r.example", "/?fail=3&key=t2&faildelay=400&code=500").await.0,
        StatusCode::GATEWAY_TIMEOUT
    );

    // The request timeout bounds all attempts together.
    let (_c, addr) = serve(retrying(5, &[500], timeouts(Some(400), Some(200))), &[b.addr]).await;
    assert_eq!(
        get(addr, "r.example", "/?fail=1&key=u1&code=500").await.0,
        StatusCode::OK
    );
    let (status, _, body) = get(addr, "r.example", "/?fail=4&key=u2&faildelay=150&code=500").await;
    assert_eq!(
        (status, body.as_ref()),
        (StatusCode::GATEWAY_TIMEOUT, &b"request_timeout"[..])
    );
}

#[tokio::test]
async fn requests_with_bodies_are_not_retried() {
    let b = backend("flaky").await;
    let (_dp, addr) = serve(retrying(2, &[500], Timeouts::default()), &[b.addr]).await;
    let req = request(http::Method::POST, addr, "/?fail=1&key=p&code=500")
        .body(body("payload"))
        .unwrap();
    assert_eq!(send(&http1(), req).await.0, StatusCode::INTERNAL_SERVER_ERROR);
}
