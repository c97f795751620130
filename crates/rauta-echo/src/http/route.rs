//! Routing, like echo-basic's mux: `/health`, `/status/NNN`, `/retry/…`, `/ws`, else echo.

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Version, header};
use http_body_util::Full;
use hyper::body::Incoming;

use super::{ConnCtx, answer, retry, websocket};
use crate::Shared;
use crate::config::{RequestRecord, RouteKind};

/// Answers one request.
pub(crate) async fn handle(shared: &Shared, ctx: &ConnCtx, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if shared.config.strict_h2c {
        return strict_h2c(shared, ctx, req).await;
    }
    match route_path(req.uri().path()).as_str() {
        "/health" => {
            log(shared, ctx, &req, RouteKind::Health);
            text(StatusCode::OK, "OK")
        }
        "/ws" => websocket::upgrade(shared, ctx, req),
        path if path.starts_with("/status/") => {
            log(shared, ctx, &req, RouteKind::Status);
            status(&req)
        }
        path if path.starts_with("/retry/") => retry::handle(shared, ctx, req).await,
        _ => {
            log(shared, ctx, &req, RouteKind::Echo);
            answer::echo(shared, ctx, req).await
        }
    }
}

/// echo-basic's `H2C_PORT` listener: every path echoes, but only over HTTP/2 or h2c upgrade.
async fn strict_h2c(shared: &Shared, ctx: &ConnCtx, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let upgrade_h2c = req.headers().get(header::UPGRADE).map(HeaderValue::as_bytes) == Some(b"h2c");
    if req.version() != Version::HTTP_2 && !upgrade_h2c {
        log(shared, ctx, &req, RouteKind::H2cRequired);
        return text(StatusCode::BAD_REQUEST, "Expected h2c request");
    }
    log(shared, ctx, &req, RouteKind::Echo);
    answer::echo(shared, ctx, req).await
}

/// Reports the request to the configured callback.
pub(super) fn log(shared: &Shared, ctx: &ConnCtx, req: &Request<Incoming>, route: RouteKind) {
    let record = RequestRecord {
        method: req.method().as_str().to_owned(),
        uri: request_uri(req),
        host: request_host(req).to_owned(),
        proto: proto(req.version()).to_owned(),
        client: ctx.client,
        route,
    };
    tracing::debug!(uri = %record.uri, client = %record.client, ?route, "echo request");
    if let Some(callback) = &shared.config.request_log {
        callback(&record);
    }
}

/// The request target as Go's `Request.RequestURI` holds it: `/path?query` as sent.
pub(super) fn request_uri<B>(req: &Request<B>) -> String {
    let uri = req.uri();
    match (req.version(), uri.path_and_query()) {
        (Version::HTTP_2, Some(path)) => path.as_str().to_owned(),
        _ => uri.to_string(),
    }
}

/// The host as Go's `Request.Host` holds it: the URI authority, else the `Host` header.
pub(super) fn request_host<B>(req: &Request<B>) -> &str {
    match req.uri().authority() {
        Some(authority) => authority.as_str(),
        None => req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    }
}

/// The protocol as Go's `Request.Proto` prints it.
pub(super) fn proto(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// A plain-text response, with the content type Go sniffs for such bodies.
pub(super) fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// An empty response with the given status code, as Go's `WriteHeader(code)` sends it.
pub(super) fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// The path the mux routes on: percent-decoded, with `//` folded to `/` (echo-basic does this to
/// the routing path only; the echoed `path` stays as received).
fn route_path(raw: &str) -> String {
    let decoded: Vec<u8> = percent_decode(raw.as_bytes());
    String::from_utf8_lossy(&decoded).replace("//", "/")
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (input[i], input.get(i + 1).copied(), input.get(i + 2).copied()) {
            (b'%', Some(hi), Some(lo)) if hex(hi).is_some() && hex(lo).is_some() => {
                let value = hex(hi).unwrap_or(0) * 16 + hex(lo).unwrap_or(0);
                out.push(value as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// `/status/NNN`: echo-basic matches `^/status/(\d\d\d)$` on the raw URI, else answers 400.
fn status(req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let uri = request_uri(req);
    let code = uri
        .strip_prefix("/status/")
        .filter(|digits| digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<u16>().ok());
    empty(code.map_or(StatusCode::BAD_REQUEST, final_status))
}

/// Maps a numeric code to the final status Go would send; Go refuses codes outside 100..=999
/// and follows an informational 1xx with an implicit 200.
pub(super) fn final_status(code: u16) -> StatusCode {
    match StatusCode::from_u16(code) {
        Ok(status) if status.is_informational() => StatusCode::OK,
        Ok(status) => status,
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_path_is_decoded_and_slashes_folded() {
        assert_eq!(route_path("//health"), "/health");
        assert_eq!(route_path("/%68ealth"), "/health");
        assert_eq!(route_path("/a%2"), "/a%2");
        assert_eq!(route_path("///x"), "//x");
    }

    #[test]
    fn final_status_follows_go() {
        assert_eq!(final_status(503), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(final_status(103), StatusCode::OK);
        assert_eq!(final_status(42), StatusCode::BAD_REQUEST);
    }
}
