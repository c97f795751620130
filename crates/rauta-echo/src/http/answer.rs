//! The echo handler: echo-basic's JSON description of the request, plus `bodyLength`.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde::Serialize;

use super::route::{proto, request_host, request_uri};
use super::{ConnCtx, TlsInfo};
use crate::duration::{ParseDurationError, parse_go_duration};
use crate::{Shared, json};

/// The echo answer; field names and order are echo-basic's, `bodyLength` is ours.
#[derive(Serialize)]
struct EchoAnswer<'a> {
    path: String,
    host: &'a str,
    method: &'a str,
    proto: &'static str,
    headers: BTreeMap<String, Vec<String>>,
    #[serde(rename = "httpPort")]
    http_port: &'a str,
    namespace: &'a str,
    ingress: &'a str,
    service: &'a str,
    pod: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<&'a TlsInfo>,
    #[serde(rename = "bodyLength")]
    body_length: u64,
}

/// Reads (and discards) the body, honours `?delay=`, then answers with the echo JSON.
pub(crate) async fn echo(shared: &Shared, ctx: &ConnCtx, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (head, body) = req.into_parts();
    let body_length = drain_body(body).await;
    if let Err(error) = delay(head.uri.query(), "delay").await {
        return process_error(&error.to_string());
    }
    let req = Request::from_parts(head, ());
    let identity = &shared.config.identity;
    let answer = EchoAnswer {
        path: request_uri(&req),
        host: request_host(&req),
        method: req.method().as_str(),
        proto: proto(req.version()),
        headers: go_headers(req.headers(), req.version()),
        http_port: &ctx.http_port,
        namespace: &identity.namespace,
        ingress: &identity.ingress,
        service: &identity.service,
        pod: &identity.pod,
        tls: ctx.tls.as_ref(),
        body_length,
    };
    let body = match json::to_go_indented(&answer) {
        Ok(body) => body,
        Err(error) => return process_error(&error.to_string()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    let headers = response.headers_mut();
    set_echo_headers(headers, req.headers());
    insert_json_headers(headers);
    response
}

/// Counts the request body's bytes without keeping them; a broken body counts what arrived.
async fn drain_body(mut body: Incoming) -> u64 {
    let mut length = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    length += data.len() as u64;
                }
            }
            Err(error) => {
                tracing::debug!(%error, "echo request body ended early");
                break;
            }
        }
    }
    length
}

/// Sleeps for the Go duration in query parameter `key`, if it is there.
pub(super) async fn delay(query: Option<&str>, key: &str) -> Result<(), ParseDurationError> {
    let Some(value) = query_value(query, key).filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    tokio::time::sleep(parse_go_duration(&value)?).await;
    Ok(())
}

/// The first value of query parameter `key`, decoded like Go's `url.Values.Get`.
pub(super) fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    let query = query?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.into_owned())
}

/// echo-basic's error answer: 500 with `{"message": "..."}`.
pub(super) fn process_error(message: &str) -> Response<Full<Bytes>> {
    #[derive(Serialize)]
    struct ErrorAnswer<'a> {
        message: &'a str,
    }
    let body = json::to_go_compact(&ErrorAnswer { message }).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    insert_json_headers(response.headers_mut());
    response
}

fn insert_json_headers(headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

/// Request headers as Go's `Request.Header` holds them: canonical names, `Host` and the
/// transfer framing headers removed, and (HTTP/2) all cookies folded into one value.
fn go_headers(headers: &HeaderMap, version: Version) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in headers.keys() {
        if [header::HOST, header::TRANSFER_ENCODING, header::TRAILER].contains(name) {
            continue;
        }
        let values = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let values: Vec<String> = if version == Version::HTTP_2 && name == header::COOKIE {
            vec![values.collect::<Vec<_>>().join("; ")]
        } else {
            values.collect()
        };
        out.entry(canonical_name(name.as_str())).or_default().extend(values);
    }
    out
}

/// Go's `CanonicalMIMEHeaderKey`: upper-case the first letter and each letter after `-`.
pub(crate) fn canonical_name(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// `X-Echo-Set-Header: Name:value,Name2:value2` sets response headers; a name given twice gets
/// its values joined with `,`. Items Go would drop (no valid name) are skipped.
fn set_echo_headers(response: &mut HeaderMap, request: &HeaderMap) {
    // Keyed by the name exactly as written, as Go does; hyper lower-cases on output anyway.
    let mut wanted: Vec<(String, String)> = Vec::new();
    for list in request.get_all("x-echo-set-header") {
        let list = String::from_utf8_lossy(list.as_bytes());
        for item in list.split(',') {
            let (name, value) = item.trim().split_once(':').unwrap_or((item.trim(), ""));
            match wanted.iter_mut().find(|(n, _)| n == name) {
                Some((_, joined)) => {
                    joined.push(',');
                    joined.push_str(value.trim());
                }
                None => wanted.push((name.to_owned(), value.to_owned())),
            }
        }
    }
    for (name, value) in wanted {
        let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value.trim())) else {
            continue;
        };
        response.append(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names_match_go() {
        assert_eq!(canonical_name("x-forwarded-for"), "X-Forwarded-For");
        assert_eq!(canonical_name("www-authenticate"), "Www-Authenticate");
        assert_eq!(canonical_name("x--a"), "X--A");
        assert_eq!(canonical_name("te"), "Te");
    }

    #[test]
    fn echo_set_header_joins_and_skips_invalid_items() {
        let mut request = HeaderMap::new();
        request.append("x-echo-set-header", HeaderValue::from_static(""));
        request.append(
            "x-echo-set-header",
            HeaderValue::from_static("X-Foo: a, Bad Name:1,x-bar:b,X-Foo:c,Novalue"),
        );
        let mut response = HeaderMap::new();
        set_echo_headers(&mut response, &request);
        assert_eq!(response.get("x-foo").unwrap(), "a,c");
        assert_eq!(response.get("x-bar").unwrap(), "b");
        assert_eq!(response.get("novalue").unwrap(), "");
        assert_eq!(response.len(), 3);
    }

    #[test]
    fn go_headers_drop_host_and_fold_h2_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("example"));
        headers.append(header::COOKIE, HeaderValue::from_static("a=1"));
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        headers.append("x-multi", HeaderValue::from_static("1"));
        headers.append("x-multi", HeaderValue::from_static("2"));
        let h2 = go_headers(&headers, Version::HTTP_2);
        assert_eq!(h2["Cookie"], ["a=1; b=2"]);
        assert_eq!(h2["X-Multi"], ["1", "2"]);
        assert!(!h2.contains_key("Host"));
        let h1 = go_headers(&headers, Version::HTTP_11);
        assert_eq!(h1["Cookie"], ["a=1", "b=2"]);
    }
}
