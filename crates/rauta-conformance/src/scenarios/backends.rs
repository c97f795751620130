//! Backends and what happens on the way to them: weights, Service types, upstream protocols
//! (h2c, WebSocket), mirrors, timeouts, retries.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::client;
use crate::converge::{self, Timeouts};
use crate::ctx::{Ctx, INFRA, V1, V3, gw, route};
use crate::expect::{self, Case, get};
use crate::manifest::Key;
use crate::scenario;
use crate::scenario::Scenario;
use crate::weights;

pub const ALL: &[Scenario] = &[
    scenario!("HTTPRouteWeight", weight),
    scenario!("HTTPRouteServiceTypes", service_types),
    scenario!("HTTPRouteBackendProtocolH2C", backend_protocol_h2c),
    scenario!("HTTPRouteBackendProtocolWebSocket", backend_protocol_websocket),
    scenario!("HTTPRouteRequestMirror", request_mirror),
    scenario!("HTTPRouteRequestMultipleMirrors", request_multiple_mirrors),
    scenario!("HTTPRouteRequestPercentageMirror", request_percentage_mirror),
    scenario!("HTTPRouteTimeoutRequest", timeout_request),
    scenario!("HTTPRouteTimeoutBackendRequest", timeout_backend_request),
    scenario!("HTTPRouteRetry", retry),
    scenario!("HTTPRouteRetryConnectionError", retry_connection_error),
    scenario!("HTTPRouteRetryWithTimeouts", retry_with_timeouts),
];

async fn accepted(t: &Ctx, name: &str, resolved: bool) -> Result<SocketAddr> {
    let (r, g) = (route(name), gw("same-namespace"));
    let addr = t.accepted(&g, &[], std::slice::from_ref(&r)).await?;
    if resolved {
        t.route_resolved(&r, &g).await?;
    }
    Ok(addr)
}

/// A random identifier shaped like a UUID.
fn uuid() -> String {
    let hex = |n: usize| {
        (0..n)
            .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
            .collect::<String>()
    };
    format!("{}-{}-4{}-a{}-{}", hex(8), hex(4), hex(3), hex(3), hex(12))
}

async fn weight(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted(&t, "weighted-backends", true).await?;
    let case = get("/").in_namespace(INFRA);
    t.expect(addr, case.clone()).await?;
    let send = || {
        let mut jittered = case.clone();
        if fastrand::bool() {
            jittered = jittered.header("X-Jitter", &fastrand::u32(0..10_000).to_string());
        }
        let expected = case.clone();
        async move {
            let got = client::send(addr, &jittered.wire_request()).await?;
            expect::compare(&expected, addr, &got)?;
            Ok(got.echo.map(|e| e.pod).unwrap_or_default())
        }
    };
    let weights = [
        ("infra-backend-v1", 0.7),
        ("infra-backend-v2", 0.3),
        ("infra-backend-v3", 0.0),
    ];
    weights::check(send, &weights).await.map_err(|e| anyhow!(e))
}

async fn service_types(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted(&t, "service-types", true).await?;
    let ips: Vec<String> = t
        .pod_ips(INFRA, "infra-backend-v1")
        .iter()
        .filter(|ip| ip.is_ipv4())
        .map(ToString::to_string)
        .collect();
    anyhow::ensure!(!ips.is_empty(), "infra-backend-v1 has no pods");
    for prefix in ["manual-endpointslices", "headless-manual-endpointslices"] {
        // Only IPv4 pods exist here; like the suite, an IPv6 slice without addresses stays as is.
        let key = Key::new("EndpointSlice", INFRA, &format!("{prefix}-ip4"));
        let endpoints: Vec<Value> = ips
            .iter()
            .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true, "serving": true, "terminating": false}}))
            .collect();
        t.patch(&key, |slice| slice["endpoints"] = Value::Array(endpoints))?;
    }
    let cases = ["manual-endpointslices", "headless-manual-endpointslices", "headless"]
        .iter()
        .map(|path| get(&format!("/{path}")).to(V1))
        .collect();
    t.expect_all(addr, cases).await
}

async fn backend_protocol_h2c(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted(&t, "backend-protocol-h2c", false).await?;
    t.expect(addr, get("/").h2c().to(V1)).await
}

/// One WebSocket exchange: a text and a binary message must come back unchanged.
async fn websocket_echo(addr: SocketAddr) -> Result<(), String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    let origin = http::HeaderValue::from_static("ws://gateway/HTTPRouteBackendProtocolWebSocket");
    request.headers_mut().insert(http::header::ORIGIN, origin);
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let exchange = async {
        let (mut ws, _) = tokio_tungstenite::client_async(request, stream)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let text = "Websocket Support!";
        ws.send(Message::text(text))
            .await
            .map_err(|e| format!("send text: {e}"))?;
        match ws.next().await {
            Some(Ok(Message::Text(reply))) if reply.as_str() == text => {}
            other => return Err(format!("text reply {other:?}")),
        }
        let binary = vec![1u8, 2, 3, 4, 5, 6, 7];
        ws.send(Message::binary(binary.clone()))
            .await
            .map_err(|e| format!("send binary: {e}"))?;
        match ws.next().await {
            Some(Ok(Message::Binary(reply))) if reply.as_ref() == binary.as_slice() => Ok(()),
            other => Err(format!("binary reply {other:?}")),
        }
    };
    tokio::time::timeout(client::REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| "WebSocket exchange timed out".to_owned())?
}

async fn backend_protocol_websocket(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted(&t, "backend-protocol-ws", false).await?;
    converge::await_convergence(t.timeouts(), || websocket_echo(addr))
        .await
        .map_err(|e| anyhow!("WebSocket: {e}"))
}

/// The header edits of the mirror tests' second rule.
fn mirrored_with_header_edits(path: &str) -> Case {
    get(path)
        .header("X-Header-Remove", "remove-val")
        .header("X-Header-Add-Append", "append-val-1")
        .seen_header("X-Header-Add", "header-val-1")
        .seen_header("X-Header-Add-Append", "append-val-1,header-val-2")
        .seen_header("X-Header-Set", "set-overwrites-values")
        .unseen_header("X-Header-Remove")
        .to(V1)
}

/// Appends the suite's unique request id to a case's path (and expected path).
fn with_request_id(mut case: Case, id: &str) -> Case {
    let separator = if case.request.path.contains('?') { '&' } else { '?' };
    let path = format!(
        "{}{separator}gateway-api-conformance-request-id={id}",
        case.request.path
    );
    case.request.path = path.clone();
    case.seen_path(&path)
}

/// How many requests for `uri` pods of `service` (label `app`) in `namespace` received since `since`.
fn mirrored_count(t: &Ctx, service: &str, namespace: &str, uri: &str, since: Instant) -> usize {
    t.received()
        .iter()
        .filter(|r| {
            r.at >= since && r.namespace == namespace && r.labels.get("app").map(String::as_str) == Some(service)
        })
        .filter(|r| r.record.uri == uri)
        .count()
}

/// Sends `case` (with a fresh request id) until it converges, then waits up to the request
/// timeout for each mirror Service to have received it (`ExpectMirroredRequest`).
async fn expect_mirrored(t: &Ctx, addr: SocketAddr, case: Case, mirrors: &[&str]) -> Result<()> {
    let case = with_request_id(case, &uuid());
    let since = Instant::now();
    t.expect(addr, case.clone()).await?;
    let uri = case.request.path.clone();
    let deadline = Instant::now() + client::REQUEST_TIMEOUT;
    loop {
        let missing: Vec<&str> = mirrors
            .iter()
            .copied()
            .filter(|m| mirrored_count(t, m, INFRA, &uri, since) == 0)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(anyhow!("{uri}: no mirrored request reached {}", missing.join(", ")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn request_mirror(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted(&t, "request-mirror", false).await?;
    let (a, b) = tokio::join!(
        expect_mirrored(&t, addr, get("/mirror").to(V1), &["infra-backend-v2"]),
        expect_mirrored(
            &t,
            addr,
            mirrored_with_header_edits("/mirror-and-modify-headers"),
            &["infra-backend-v2"]
        ),
    );
    a.and(b)
}

async fn request_multiple_mirrors(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted(&t, "request-multiple-mirrors", false).await?;
    let mirrors = ["infra-backend-v2", "infra-backend-v3"];
    let (a, b) = tokio::join!(
        expect_mirrored(&t, addr, get("/multi-mirror").to(V1), &mirrors),
        expect_mirrored(
            &t,
            addr,
            mirrored_with_header_edits("/multi-mirror-and-modify-request-headers"),
            &mirrors
        ),
    );
    a.and(b)
}

/// The suite's percentage check: 500 requests (10 at a time) with one request id; the mirror
/// must receive n·p ± 3·√(n·p·(1−p)) of them; up to 5 rounds.
async fn percentage(t: &Ctx, addr: SocketAddr, case: Case, percent: f64) -> Result<()> {
    const TOTAL: usize = 500;
    t.expect(addr, case.clone()).await?;
    let once = Timeouts {
        required_successes: 1,
        ..*t.timeouts()
    };
    let p = percent / 100.0;
    let expected = TOTAL as f64 * p;
    let margin = 3.0 * (TOTAL as f64 * p * (1.0 - p)).sqrt();
    let mut failures = Vec::new();
    for round in 1..=5 {
        let round_case = with_request_id(case.clone(), &uuid());
        let since = Instant::now();
        let sends = (0..TOTAL).map(|_| converge::expect_response(&once, addr, &round_case));
        let results: Vec<Result<(), String>> = futures_util::stream::iter(sends).buffer_unordered(10).collect().await;
        if let Some(e) = results.into_iter().find_map(Result::err) {
            return Err(anyhow!("{e}"));
        }
        // Mirrors are fire-and-forget: let the last ones land.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = mirrored_count(t, "infra-backend-v2", INFRA, &round_case.request.path, since) as f64;
        if (got - expected).abs() <= margin {
            return Ok(());
        }
        failures.push(format!(
            "round {round}: {got} mirrored, expected {expected} ± {margin:.1}"
        ));
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Err(anyhow!("{}: {}", case.request.path, failures.join("; ")))
}

async fn request_percentage_mirror(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted(&t, "request-percentage-mirror", true).await?;
    percentage(
        &t,
        addr,
        get("/percent-mirror").seen_path("/percent-mirror").to(V1),
        20.0,
    )
    .await?;
    percentage(
        &t,
        addr,
        get("/percent-mirror-fraction")
            .seen_path("/percent-mirror-fraction")
            .to(V1),
        50.0,
    )
    .await?;
    let edits = mirrored_with_header_edits("/percent-mirror-and-modify-headers")
        .seen_path("/percent-mirror-and-modify-headers");
    percentage(&t, addr, edits, 35.0).await
}

async fn timeout_request(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted(&t, "request-timeout", true).await?;
    let cases = vec![
        get("/request-timeout").in_namespace(INFRA),
        get("/request-timeout?delay=1s").status(504).in_namespace(INFRA),
        get("/disable-request-timeout?delay=1s").in_namespace(INFRA),
    ];
    t.expect_all(addr, cases).await
}

async fn timeout_backend_request(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted(&t, "backend-request-timeout", true).await?;
    let cases = vec![
        get("/backend-timeout").in_namespace(INFRA),
        get("/backend-timeout?delay=1s").status(504).in_namespace(INFRA),
        get("/disable-backend-timeout?delay=1s").in_namespace(INFRA),
    ];
    t.expect_all(addr, cases).await
}

/// `assertConsistentRetryBehaviour`: every attempt asks the retry simulator of infra-backend-v3
/// for a fresh failure sequence (new uuid) and must end with `statuses`.
async fn retry_case(
    t: &Ctx,
    addr: SocketAddr,
    path: &str,
    params: &[(&str, &str)],
    statuses: &[u16],
) -> Result<(), String> {
    converge::await_convergence(t.timeouts(), || {
        // url.Values.Encode orders parameters by name.
        let mut query: Vec<(String, String)> = params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        query.push(("uuid".to_owned(), uuid()));
        query.sort();
        let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let case = get(&format!("{path}?{}", query.join("&"))).statuses(statuses).to(V3);
        async move {
            let got = client::send(addr, &case.wire_request()).await?;
            expect::compare(&case, addr, &got)
        }
    })
    .await
    .map_err(|e| format!("{path} {params:?}: {e}"))
}

/// A retry case: path, simulator parameters, accepted final statuses.
type RetryCase<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [u16]);

/// Runs retry cases at once and reports every failure.
async fn retry_cases(t: &Ctx, addr: SocketAddr, cases: &[RetryCase<'_>]) -> Result<()> {
    let results = futures_util::future::join_all(
        cases
            .iter()
            .map(|(path, params, statuses)| retry_case(t, addr, path, params, statuses)),
    )
    .await;
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(
            "{} of {} cases failed:\n  {}",
            failures.len(),
            cases.len(),
            failures.join("\n  ")
        ))
    }
}

async fn retry(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted(&t, "retries", true).await?;
    const A3: &str = "/retry/code-500-attempts-3";
    const ALL2: &str = "/retry/code-all-attempts-2";
    retry_cases(
        &t,
        addr,
        &[
            (A3, &[("responseCode", "500"), ("succeedAfter", "2")], &[200]),
            (A3, &[("responseCode", "500"), ("succeedAfter", "4")], &[500]),
            (A3, &[("responseCode", "503"), ("succeedAfter", "2")], &[503]),
            (ALL2, &[("responseCode", "500"), ("succeedAfter", "1")], &[200]),
            (ALL2, &[("responseCode", "500"), ("succeedAfter", "3")], &[500]),
            (ALL2, &[("responseCode", "502"), ("succeedAfter", "1")], &[200]),
            (ALL2, &[("responseCode", "502"), ("succeedAfter", "3")], &[502]),
            (ALL2, &[("responseCode", "503"), ("succeedAfter", "1")], &[200]),
            (ALL2, &[("responseCode", "503"), ("succeedAfter", "3")], &[503]),
            (ALL2, &[("responseCode", "504"), ("succeedAfter", "1")], &[200]),
            (ALL2, &[("responseCode", "504"), ("succeedAfter", "3")], &[504]),
        ],
    )
    .await
}

async fn retry_connection_error(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted(&t, "retries-connection-error", true).await?;
    const PATH: &str = "/retry/no-status-code-attempts-3";
    retry_case(&t, addr, PATH, &[("succeedAfter", "2")], &[200])
        .await
        .map_err(|e| anyhow!(e))?;
    retry_case(&t, addr, PATH, &[("succeedAfter", "4")], &[500, 503])
        .await
        .map_err(|e| anyhow!(e))
}

async fn retry_with_timeouts(t: Arc<Ctx>) -> Result<()> {
    let addr = accepted(&t, "retries-with-timeouts", true).await?;
    const BACKEND: &str = "/retry/backend-request-timeout-200ms";
    const REQUEST: &str = "/retry/request-timeout-200ms";
    let cases: [RetryCase<'_>; 4] = [
        (
            BACKEND,
            &[("delayRetry", "300ms"), ("responseCode", "500"), ("succeedAfter", "2")],
            &[200],
        ),
        (
            BACKEND,
            &[("delayRetry", "300ms"), ("responseCode", "500"), ("succeedAfter", "3")],
            &[504],
        ),
        (REQUEST, &[("responseCode", "500"), ("succeedAfter", "1")], &[200]),
        (
            REQUEST,
            &[("delayRetry", "100ms"), ("responseCode", "500"), ("succeedAfter", "4")],
            &[504],
        ),
    ];
    for (path, params, statuses) in cases {
        retry_case(&t, addr, path, params, statuses)
            .await
            .map_err(|e| anyhow!(e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_appended_to_the_query() {
        let c = with_request_id(get("/mirror"), "id");
        assert_eq!(c.request.path, "/mirror?gateway-api-conformance-request-id=id");
        let c = with_request_id(get("/p?x=1"), "id");
        assert_eq!(c.request.path, "/p?x=1&gateway-api-conformance-request-id=id");
        assert_eq!(uuid().len(), 36);
    }
}
