//! echo-basic's gRPC mode: the conformance suite's `GrpcEcho` service, on the same port as the
//! HTTP mode (a request is gRPC when its content type says so).
//!
//! `Echo` and `EchoTwo` answer an `EchoResponse` whose `assertions` name the method called, the
//! request metadata, the authority and the backend's identity; `EchoThree` (deliberately) and
//! every other method answer `UNIMPLEMENTED`. The messages are small enough to encode by hand.

use std::convert::Infallible;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};

use super::ConnCtx;
use super::route::{log, request_host};
use crate::Shared;
use crate::config::RouteKind;

/// The service the conformance suite calls.
pub(crate) const SERVICE: &str = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho";

/// A gRPC answer: one message, then the trailers.
pub(crate) type GrpcBody = StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// Whether `req` is a gRPC call.
pub(crate) fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct == "application/grpc" || ct.starts_with("application/grpc+"))
}

/// Answers one gRPC call.
pub(crate) async fn handle(shared: &Shared, ctx: &ConnCtx, req: Request<Incoming>) -> Response<GrpcBody> {
    log(shared, ctx, &req, RouteKind::Echo);
    let path = req.uri().path().to_owned();
    let implemented = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .is_some_and(|(service, method)| service == SERVICE && matches!(method, "Echo" | "EchoTwo"));
    if !implemented {
        return trailers_only("12", &format!("method {path} not implemented"));
    }
    let authority = request_host(&req).to_owned();
    let headers = metadata(req.headers(), &authority);
    // The request message is empty; read it so the stream ends cleanly.
    let _ = req.into_body().collect().await;
    let identity = &shared.config.identity;
    let mut context = Vec::new();
    string(&mut context, 1, &identity.namespace);
    string(&mut context, 2, &identity.ingress);
    string(&mut context, 3, &identity.service);
    string(&mut context, 4, &identity.pod);
    let mut assertions = Vec::new();
    string(&mut assertions, 1, &path);
    for (key, value) in &headers {
        let mut header = Vec::new();
        string(&mut header, 1, key);
        string(&mut header, 2, value);
        message(&mut assertions, 2, &header);
    }
    string(&mut assertions, 3, &authority);
    message(&mut assertions, 4, &context);
    if let Some(tls) = &ctx.tls {
        let mut t = Vec::new();
        string(&mut t, 1, &tls.version);
        string(&mut t, 2, &tls.negotiated_protocol);
        string(&mut t, 3, &tls.server_name);
        string(&mut t, 4, &tls.cipher_suite);
        message(&mut assertions, 5, &t);
    }
    let mut response = Vec::new();
    message(&mut response, 1, &assertions);
    let mut frame = BytesMut::with_capacity(5 + response.len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(response.len()).unwrap_or(u32::MAX));
    frame.put_slice(&response);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let frames = vec![Ok(Frame::data(frame.freeze())), Ok(Frame::trailers(trailers))];
    grpc_response(frames)
}

/// Request metadata as echo-basic lists it: every header (lower-case) plus `:authority`.
fn metadata(headers: &HeaderMap, authority: &str) -> Vec<(String, String)> {
    let mut out = vec![(":authority".to_owned(), authority.to_owned())];
    for (name, value) in headers {
        out.push((
            name.as_str().to_owned(),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        ));
    }
    out
}

fn grpc_response(frames: Vec<Result<Frame<Bytes>, Infallible>>) -> Response<GrpcBody> {
    let mut response = Response::new(StreamBody::new(futures_util::stream::iter(frames)));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    response
}

/// A status in the only header block, as servers answer calls they refuse outright.
fn trailers_only(status: &'static str, message: &str) -> Response<GrpcBody> {
    let mut response = grpc_response(Vec::new());
    response
        .headers_mut()
        .insert("grpc-status", HeaderValue::from_static(status));
    let encoded: String = message
        .bytes()
        .map(|b| match b {
            b' '..=b'~' if b != b'%' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&encoded) {
        response.headers_mut().insert("grpc-message", value);
    }
    response
}

/// Protobuf: a length-delimited field (strings and messages; wire type 2). Empty strings are
/// left out, as proto3 does.
fn string(out: &mut Vec<u8>, field: u32, value: &str) {
    if !value.is_empty() {
        message(out, field, value.as_bytes());
    }
}

fn message(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    varint(out, u64::from(field << 3 | 2));
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_fields_are_tag_length_value() {
        let mut out = Vec::new();
        string(&mut out, 1, "ab");
        string(&mut out, 2, "");
        message(&mut out, 4, &[]);
        assert_eq!(out, vec![0x0a, 2, b'a', b'b', 0x22, 0]);
        let mut long = Vec::new();
        varint(&mut long, 300);
        assert_eq!(long, vec![0xac, 0x02]);
    }

    #[test]
    fn grpc_requests_are_told_by_content_type() {
        let req = |ct: &str| Request::builder().header("content-type", ct).body(()).unwrap();
        assert!(is_grpc(&req("application/grpc")));
        assert!(is_grpc(&req("application/grpc+proto")));
        assert!(!is_grpc(&req("application/grpc-web")));
        assert!(!is_grpc(&req("text/plain")));
    }
}
