//! The suite's eventual-consistency rule: repeat a check until it succeeds a number of times in
//! a row (3) within a time limit (30 s); a failure resets the streak and waits the poll interval,
//! a success moves on at once. Status checks poll until they hold once, like the suite's waits.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::client;
use crate::expect::{self, Case};

/// The time limits of a run (the suite's `TimeoutConfig`, the parts the runner uses).
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// How long traffic may take to converge (`MaxTimeToConsistency`).
    pub consistency: Duration,
    /// Successes in a row that count as converged (`RequiredConsecutiveSuccesses`).
    pub required_successes: usize,
    /// Pause after a failed attempt (`DefaultPollInterval`).
    pub poll: Duration,
    /// How long a status expectation may take to hold.
    pub status: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            consistency: Duration::from_secs(30),
            required_successes: 3,
            poll: Duration::from_millis(100),
            status: Duration::from_secs(30),
        }
    }
}

/// Runs `attempt` until it succeeds `required_successes` times in a row; the error names the
/// last failure.
pub async fn await_convergence<F, Fut>(timeouts: &Timeouts, mut attempt: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let start = Instant::now();
    let deadline = start + timeouts.consistency;
    let (mut successes, mut attempts, mut last_error) = (0, 0, String::new());
    loop {
        let result = tokio::time::timeout_at(deadline.into(), attempt()).await;
        attempts += 1;
        match result {
            Err(_) => break,
            Ok(Ok(())) => {
                successes += 1;
                if successes >= timeouts.required_successes {
                    return Ok(());
                }
                continue;
            }
            Ok(Err(e)) => {
                successes = 0;
                last_error = e;
            }
        }
        if Instant::now() + timeouts.poll >= deadline {
            break;
        }
        tokio::time::sleep(timeouts.poll).await;
    }
    Err(format!(
        "not consistent after {:.1?} ({attempts} attempts, {successes}/{} successes in a row); last failure: {last_error}",
        start.elapsed(),
        timeouts.required_successes
    ))
}

/// Polls `check` until it holds once within the status time limit.
pub async fn eventually<F, Fut>(timeouts: &Timeouts, mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let start = Instant::now();
    loop {
        let last = match check().await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if start.elapsed() + timeouts.poll >= timeouts.status {
            return Err(format!("not true after {:.1?}: {last}", start.elapsed()));
        }
        tokio::time::sleep(timeouts.poll).await;
    }
}

/// Sends `case` until its response is consistently as expected
/// (`MakeRequestAndExpectEventuallyConsistentResponse`).
pub async fn expect_response(timeouts: &Timeouts, addr: SocketAddr, case: &Case) -> Result<(), String> {
    let request = case.wire_request();
    await_convergence(timeouts, || async {
        let got = client::send(addr, &request).await?;
        expect::compare(case, addr, &got)
    })
    .await
    .map_err(|e| format!("{}: {e}", case.describe()))
}

/// Sends `case` until it consistently gets an HTTP error that is neither 200 nor a timeout
/// (`MakeRequestAndExpectFailure`); any 200 fails at once.
pub async fn expect_failure(timeouts: &Timeouts, addr: SocketAddr, case: &Case) -> Result<(), String> {
    let request = case.wire_request();
    let fatal = std::sync::Mutex::new(None::<String>);
    let result = await_convergence(timeouts, || async {
        if fatal.lock().is_ok_and(|f| f.is_some()) {
            return Ok(());
        }
        let got = client::send(addr, &request).await?;
        match got.status {
            200 => {
                if let Ok(mut f) = fatal.lock() {
                    *f = Some(format!("got 200 from {:?}", got.echo.as_ref().map(|e| e.pod.clone())));
                }
                Ok(())
            }
            s if expect::is_timeout(s) => Err(format!("got timeout status {s}")),
            _ => Ok(()),
        }
    })
    .await;
    match fatal.into_inner().ok().flatten() {
        Some(e) => Err(format!("{}: must fail but {e}", case.describe())),
        None => result.map_err(|e| format!("{}: {e}", case.describe())),
    }
}

/// Sends `case` until the request itself consistently fails, with no HTTP answer (a refused
/// handshake, a closed connection) (`MakeTLSRequestAndExpectEventuallyConsistentFailureResponse`).
pub async fn expect_no_response(timeouts: &Timeouts, addr: SocketAddr, case: &Case) -> Result<(), String> {
    let request = case.wire_request();
    await_convergence(timeouts, || async {
        match client::send(addr, &request).await {
            Err(_) => Ok(()),
            Ok(got) => Err(format!("request unexpectedly got status {}", got.status)),
        }
    })
    .await
    .map_err(|e| format!("{}: {e}", case.describe()))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn fast() -> Timeouts {
        Timeouts {
            consistency: Duration::from_millis(500),
            required_successes: 3,
            poll: Duration::from_millis(5),
            status: Duration::from_millis(200),
        }
    }

    #[tokio::test]
    async fn three_successes_in_a_row_converge() {
        let calls = Cell::new(0);
        // fail, ok, fail, ok, ok, ok
        let script = [false, true, false, true, true, true];
        let result = await_convergence(&fast(), || {
            let n = calls.get();
            calls.set(n + 1);
            async move { if script[n] { Ok(()) } else { Err(format!("attempt {n}")) } }
        })
        .await;
        assert_eq!(result, Ok(()));
        assert_eq!(calls.get(), 6, "a failure resets the streak");
    }

    #[tokio::test]
    async fn alternating_answers_never_converge() {
        let calls = Cell::new(0u32);
        let result = await_convergence(&fast(), || {
            let n = calls.get();
            calls.set(n + 1);
            async move { if n % 3 == 2 { Err("flaky".to_owned()) } else { Ok(()) } }
        })
        .await;
        let error = result.unwrap_err();
        assert!(error.contains("last failure: flaky"), "{error}");
    }

    #[tokio::test]
    async fn a_hanging_attempt_is_cut_by_the_deadline() {
        let start = Instant::now();
        let result = await_convergence(&fast(), || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        })
        .await;
        assert!(result.is_err());
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn eventually_needs_one_success() {
        let calls = Cell::new(0);
        let ok = eventually(&fast(), || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move { if n >= 3 { Ok(()) } else { Err("not yet".to_owned()) } }
        })
        .await;
        assert_eq!(ok, Ok(()));
        let never = eventually(&fast(), || async { Err::<(), _>("never".to_owned()) }).await;
        assert!(never.unwrap_err().contains("never"));
    }
}
