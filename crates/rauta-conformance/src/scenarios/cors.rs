//! The CORS filter: preflights answered by the gateway, simple requests passed on with headers.

use std::sync::Arc;

use anyhow::Result;
use http::Method;

use crate::ctx::{Ctx, INFRA, gw, route};
use crate::expect::{Case, request};
use crate::scenario;
use crate::scenario::Scenario;

pub const ALL: &[Scenario] = &[scenario!("HTTPRouteCORS", cors)];

/// A preflight: OPTIONS answered by the gateway itself (200 or 204, no echo answer).
fn preflight(path: &str, origin: &str, method: &str, headers: Option<&str>) -> Case {
    let mut case = request(Method::OPTIONS, path)
        .header("Origin", origin)
        .header("access-control-request-method", method)
        .statuses(&[200, 204])
        .seen_path("");
    if let Some(h) = headers {
        case = case.header("access-control-request-headers", h);
    }
    case
}

/// An actual request, answered by the backend.
fn actual(method: Method, path: &str, origin: &str) -> Case {
    request(method, path).header("Origin", origin).in_namespace(INFRA)
}

async fn cors(t: Arc<Ctx>) -> Result<()> {
    let g = gw("same-namespace");
    let routes = [
        route("cors-multiple-origins-methods-headers"),
        route("cors-wildcard-methods"),
        route("cors-wildcard-origin"),
        route("cors-wildcard-methods-headers"),
    ];
    let addr = t.accepted(&g, &[], &routes[..2]).await?;
    for r in &routes {
        t.route_resolved(r, &g).await?;
    }
    let cors_1 = |origin: &str| {
        preflight("/cors-1", origin, "GET", Some("x-header-1, x-header-2"))
            .response_header_in("access-control-allow-origin", &[origin])
            .response_header_in("access-control-allow-methods", &["GET, OPTIONS", "OPTIONS, GET"])
            .response_header_in(
                "access-control-allow-headers",
                &["x-header-1, x-header-2", "x-header-2, x-header-1"],
            )
            .response_header_in(
                "access-control-expose-headers",
                &["x-header-3, x-header-4", "x-header-4, x-header-3"],
            )
            .response_header_in("access-control-max-age", &["3600"])
            .response_header_in("access-control-allow-credentials", &["true"])
            .ignoring_whitespace()
    };
    let simple = |origin: &str| {
        actual(Method::GET, "/cors-1", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "x-header-1, x-header-2")
    };
    let cases = vec![
        cors_1("https://www.foo.com"),
        cors_1("https://www.bar.com"),
        cors_1("https://xpto.www.bar.com"),
        preflight("/cors-1", "https://foobar.com", "GET", None)
            .statuses(&[200, 204, 403])
            .no_response_header("access-control-allow-origin"),
        simple("https://www.foo.com").response_header("access-control-allow-origin", "https://www.foo.com"),
        simple("https://www.bar.com").response_header("access-control-allow-origin", "https://www.bar.com"),
        actual(Method::GET, "/cors-1", "https://foobar.com")
            .header("access-control-request-method", "GET")
            .no_response_header("access-control-allow-origin"),
        preflight("/cors-2", "https://www.foo.com", "POST", None)
            .response_header_in("access-control-allow-methods", &["POST", "*"])
            .response_header("access-control-allow-origin", "https://www.foo.com")
            .no_response_header("access-control-allow-credentials"),
        preflight("/cors-2", "https://www.foo.com", "POST", None)
            .no_response_header("Access-Control-Allow-Credentials"),
        preflight("/cors-wildcard-origin", "https://foobar.com", "PUT", None)
            .response_header_in("access-control-allow-origin", &["https://foobar.com", "*"])
            .response_header_in("access-control-allow-methods", &["PUT"])
            .no_response_header("Access-Control-Allow-Credentials"),
        preflight("/cors-wildcard-origin", "https://foobar.com:12345", "PUT", None)
            .response_header_in("access-control-allow-origin", &["https://foobar.com:12345", "*"])
            .response_header_in("access-control-allow-methods", &["PUT"])
            .no_response_header("Access-Control-Allow-Credentials"),
        actual(Method::PUT, "/cors-wildcard-origin", "https://foobar.com:12345")
            .response_header_in("access-control-allow-origin", &["https://foobar.com:12345", "*"]),
        actual(Method::PUT, "/cors-wildcard-origin", "https://foobar.com")
            .response_header_in("access-control-allow-origin", &["https://foobar.com", "*"])
            .no_response_header("Access-Control-Allow-Credentials"),
        preflight(
            "/cors-wildcard-methods-headers",
            "https://other.foo.com",
            "PUT",
            Some("x-header-1, x-header-2"),
        )
        .response_header_in("access-control-allow-origin", &["https://other.foo.com"])
        .response_header_in("access-control-allow-methods", &["PUT"])
        .response_header_in(
            "access-control-allow-headers",
            &["x-header-1, x-header-2", "x-header-2, x-header-1"],
        )
        .response_header_in("access-control-allow-credentials", &["true"])
        .ignoring_whitespace(),
        preflight(
            "/cors-wildcard-methods-headers-unauth",
            "https://other.foo.com",
            "PUT",
            Some("x-header-1, x-header-2"),
        )
        .response_header_in("access-control-allow-origin", &["https://other.foo.com", "*"])
        .response_header_in("access-control-allow-methods", &["PUT", "*"])
        .response_header_in(
            "access-control-allow-headers",
            &["x-header-1, x-header-2", "x-header-2, x-header-1", "*"],
        )
        .no_response_header("access-control-allow-credentials")
        .ignoring_whitespace(),
        actual(Method::GET, "/cors-wildcard-methods-headers", "https://other.foo.com")
            .response_header_in("access-control-allow-origin", &["https://other.foo.com"])
            .response_header_in("access-control-allow-credentials", &["true"]),
        actual(
            Method::GET,
            "/cors-wildcard-methods-headers-unauth",
            "https://other.foo.com",
        )
        .response_header_in("access-control-allow-origin", &["https://other.foo.com", "*"])
        .no_response_header("access-control-allow-credentials"),
    ];
    t.expect_all(addr, cases).await
}
