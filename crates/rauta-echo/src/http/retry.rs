//! The retry simulator: `/retry/…?uuid=<id>&succeedAfter=<n>[&responseCode=<code>][&delayRetry=<d>]`.
//!
//! The first `n` requests carrying one `uuid` fail, later ones are echoed. A failing attempt
//! sleeps `delayRetry`, then answers `responseCode`, or (without one) resets the connection.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Version};
use http_body_util::Full;
use hyper::body::Incoming;

use super::ConnCtx;
use super::answer::{self, delay, process_error, query_value};
use super::route::{empty, final_status, log, text};
use crate::Shared;
use crate::config::RouteKind;

/// Attempts seen per `uuid`, shared by all listeners of one echo backend.
#[derive(Default)]
pub(crate) struct RetryCounters {
    attempts: Mutex<HashMap<String, i64>>,
}

impl RetryCounters {
    /// Counts one attempt; `true` when it must fail (fewer than `succeed_after` failed so far).
    fn attempt_fails(&self, uuid: &str, succeed_after: i64) -> bool {
        let mut attempts = match self.attempts.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let seen = attempts.entry(uuid.to_owned()).or_insert(0);
        if *seen < succeed_after {
            *seen += 1;
            true
        } else {
            false
        }
    }
}

/// How a failing attempt fails.
enum Failure {
    /// Answer with this status and no body.
    Status(u16),
    /// Abort the connection with a TCP reset.
    Reset,
}

/// Handles a `/retry/…` request.
pub(super) async fn handle(shared: &Shared, ctx: &ConnCtx, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let query = req.uri().query();
    let Some(uuid) = query_value(query, "uuid").filter(|u| !u.is_empty()) else {
        log(shared, ctx, &req, RouteKind::RetryBadRequest);
        return text(StatusCode::BAD_REQUEST, "uuid is required");
    };
    let Some(succeed_after) = query_value(query, "succeedAfter").and_then(|n| go_atoi(&n)) else {
        log(shared, ctx, &req, RouteKind::RetryBadRequest);
        return text(StatusCode::BAD_REQUEST, "succeedAfter is required");
    };
    let failure = match query_value(query, "responseCode").and_then(|c| go_atoi(&c)) {
        Some(code) => Failure::Status(u16::try_from(code).unwrap_or(0)),
        None => Failure::Reset,
    };

    if !shared.retries.attempt_fails(&uuid, succeed_after) {
        log(shared, ctx, &req, RouteKind::Echo);
        return answer::echo(shared, ctx, req).await;
    }
    log(shared, ctx, &req, RouteKind::RetryFailure);
    if let Err(error) = delay(query, "delayRetry").await {
        return process_error(&error.to_string());
    }
    match failure {
        // Go panics on codes outside 100..=999 and the connection is dropped; we reset it.
        Failure::Status(code @ 100..=999) => empty(final_status(code)),
        Failure::Status(_) | Failure::Reset => reset(ctx, req.version()).await,
    }
}

/// Aborts the connection; answers only when that is impossible.
async fn reset(ctx: &ConnCtx, version: Version) -> Response<Full<Bytes>> {
    // echo-basic cannot hijack an HTTP/2 stream and answers 500 with this message instead.
    if version == Version::HTTP_2 {
        return process_error("response writer does not support hijacking");
    }
    let Some(reset) = &ctx.reset else {
        return process_error("connection cannot be reset");
    };
    match reset.trigger() {
        // The connection task drops this future together with the connection.
        Ok(()) => std::future::pending().await,
        Err(error) => process_error(&error.to_string()),
    }
}

/// Go's `strconv.Atoi`: optional sign, decimal digits, 64-bit range.
fn go_atoi(s: &str) -> Option<i64> {
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_fail_the_first_n_attempts_per_uuid() {
        let counters = RetryCounters::default();
        assert!(counters.attempt_fails("a", 2));
        assert!(counters.attempt_fails("a", 2));
        assert!(!counters.attempt_fails("a", 2));
        assert!(!counters.attempt_fails("b", 0));
        assert!(counters.attempt_fails("c", 1));
    }

    #[test]
    fn atoi_accepts_signs_like_go() {
        assert_eq!(go_atoi("+3"), Some(3));
        assert_eq!(go_atoi("-1"), Some(-1));
        assert_eq!(go_atoi("3x"), None);
        assert_eq!(go_atoi(""), None);
    }
}
