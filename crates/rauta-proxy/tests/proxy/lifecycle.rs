//! Snapshot swaps, bind changes and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use rauta_ir::UpstreamProtocol::Http1;
use rauta_ir::route::HostnameMatch;
use rauta_ir::{Snapshot, Timeouts};
use rauta_proxy::ApplyError;
use tokio::net::TcpStream;

use super::support::*;

fn two_binds(a: SocketAddr, b: Option<SocketAddr>, backend: SocketAddr) -> Arc<Snapshot> {
    let serve = |addr: SocketAddr| {
        bind(
            addr,
            vec![listener(
                "http",
                HostnameMatch::Any,
                addr.port(),
                vec![prefix("/", rule("web", vec![to("c", 1)]))],
            )],
        )
    };
    Arc::new(Snapshot {
        binds: std::iter::once(a).chain(b).map(serve).collect(),
        clusters: [(rauta_ir::ClusterKey("c".into()), cluster("c", Http1, &[backend]))].into(),
    })
}

/// Waits until connecting to `addr` is refused.
async fn until_refused(addr: SocketAddr) {
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "{addr} still accepts connections");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn requests_in_flight_finish_on_the_snapshot_they_started_with() {
    let (mut a, b) = (backend("a").await, backend("b").await);
    let addr = free_port();
    let first = snapshot(
        addr,
        vec![prefix("/", rule("web", vec![to("a", 1)]))],
        vec![cluster("a", Http1, &[a.addr])],
    );
    let (dp, _) = start(first).await;

    let slow = tokio::spawn(get(addr, "swap.example", "/?delay=500"));
    tokio::time::timeout(PATIENCE, a.seen.recv()).await.unwrap().unwrap();

    // The new snapshot routes elsewhere with a timeout the in-flight request would miss.
    let mut strict = rule("web", vec![to("b", 1)]);
    strict.timeouts = Timeouts {
        request: Some(Duration::from_millis(50)),
        backend_request: None,
    };
    let second = snapshot(addr, vec![prefix("/", strict)], vec![cluster("b", Http1, &[b.addr])]);
    dp.apply(second.clone()).await.unwrap();
    assert_eq!(dp.snapshot(), second);

    let (status, headers, _) = slow.await.unwrap();
    assert_eq!(
        (status, &headers["x-backend"]),
        (StatusCode::OK, &http::HeaderValue::from_static("a"))
    );
    let (status, headers, _) = get(addr, "swap.example", "/").await;
    assert_eq!(
        (status, &headers["x-backend"]),
        (StatusCode::OK, &http::HeaderValue::from_static("b"))
    );
}

#[tokio::test]
async fn removed_binds_stop_accepting_while_their_connections_finish() {
    let mut a = backend("a").await;
    let (kept, removed) = (free_port(), free_port());
    let (dp, _) = start(two_binds(kept, Some(removed), a.addr)).await;
    assert_eq!(dp.listening().await.len(), 2);

    let slow = tokio::spawn(get(removed, "r.example", "/?delay=500"));
    tokio::time::timeout(PATIENCE, a.seen.recv()).await.unwrap().unwrap();
    dp.apply(two_binds(kept, None, a.addr)).await.unwrap();
    until_refused(removed).await;
    assert_eq!(slow.await.unwrap().0, StatusCode::OK);
    assert_eq!(get(kept, "r.example", "/").await.0, StatusCode::OK);
    assert_eq!(dp.listening().await, vec![kept]);
}

#[tokio::test]
async fn a_bind_that_cannot_open_is_reported_while_the_others_serve() {
    let a = backend("a").await;
    let good = free_port();
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = squatter.local_addr().unwrap();
    let mut registry = prometheus_client::registry::Registry::default();
    let dp = rauta_proxy::DataPlane::new(rauta_proxy::ProxyConfig::default(), &mut registry);

    let snap = two_binds(good, Some(busy), a.addr);
    match dp.apply(snap.clone()).await {
        Err(ApplyError::Binds(failures)) => {
            assert_eq!(failures.len(), 1);
            assert_eq!(failures[0].address, busy);
            let text = ApplyError::Binds(failures).to_string();
            assert!(
                text.contains(&busy.to_string()) && text.contains("ns/gw/http"),
                "{text}"
            );
        }
        other => panic!("expected a bind failure, got {other:?}"),
    }
    assert_eq!(get(good, "b.example", "/").await.0, StatusCode::OK);
    assert_eq!(dp.snapshot(), snap, "the snapshot is served despite the failed bind");

    drop(squatter);
    dp.apply(snap).await.unwrap();
    assert_eq!(get(busy, "b.example", "/").await.0, StatusCode::OK);
}

#[tokio::test]
async fn shutdown_drains_requests_in_flight_then_stops() {
    let mut a = backend("a").await;
    let addr = free_port();
    let (dp, _) = start(two_binds(addr, None, a.addr)).await;
    let dp = Arc::new(dp);

    let slow = tokio::spawn(get(addr, "s.example", "/?delay=400"));
    tokio::time::timeout(PATIENCE, a.seen.recv()).await.unwrap().unwrap();
    let stopping = {
        let dp = dp.clone();
        tokio::spawn(async move { dp.shutdown(Duration::from_secs(5)).await })
    };
    until_refused(addr).await;
    assert_eq!(slow.await.unwrap().0, StatusCode::OK, "the request in flight finishes");
    tokio::time::timeout(PATIENCE, stopping).await.unwrap().unwrap();
    assert!(matches!(
        dp.apply(two_binds(addr, None, a.addr)).await,
        Err(ApplyError::ShutDown)
    ));
}

#[tokio::test]
async fn shutdown_gives_up_after_the_drain_period() {
    let mut a = backend("a").await;
    let addr = free_port();
    let (dp, _) = start(two_binds(addr, None, a.addr)).await;
    let _stuck = tokio::spawn(async move {
        let client = http1();
        let req = request(http::Method::GET, addr, "/?delay=30000").body(empty()).unwrap();
        let _ = client.request(req).await;
    });
    tokio::time::timeout(PATIENCE, a.seen.recv()).await.unwrap().unwrap();
    let started = Instant::now();
    dp.shutdown(Duration::from_millis(200)).await;
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn shutdown_closes_the_connections_of_removed_binds_too() {
    let mut a = backend("a").await;
    let (kept, removed) = (free_port(), free_port());
    let (dp, _) = start(two_binds(kept, Some(removed), a.addr)).await;
    let stuck = tokio::spawn(async move {
        let req = request(http::Method::GET, removed, "/?delay=30000")
            .body(empty())
            .unwrap();
        http1().request(req).await
    });
    tokio::time::timeout(PATIENCE, a.seen.recv()).await.unwrap().unwrap();
    dp.apply(two_binds(kept, None, a.addr)).await.unwrap();
    until_refused(removed).await;
    dp.shutdown(Duration::from_millis(200)).await;
    // The connection is closed by the data plane, long before the backend would answer.
    let outcome = tokio::time::timeout(PATIENCE, stuck).await.unwrap().unwrap();
    assert!(outcome.is_err(), "{outcome:?}");
}
