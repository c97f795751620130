//! gRPC at the edge: telling gRPC calls apart and answering them in gRPC's own terms.

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use crate::body::ResponseBody;

static GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
static GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// gRPC status `UNIMPLEMENTED`: the method is not served here.
const UNIMPLEMENTED: &str = "12";

/// Whether the request is a gRPC call (`content-type: application/grpc`, `+proto`, `+json`, …).
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let ct = ct.trim_start();
            ct.len() >= 16
                && ct.as_bytes()[..16].eq_ignore_ascii_case(b"application/grpc")
                && matches!(ct.as_bytes().get(16), None | Some(b'+' | b';'))
        })
}

/// The trailers-only answer a gRPC server gives for a method it does not have: HTTP 200 with
/// `grpc-status: 12` in the only header block, which ends the stream.
pub(crate) fn unimplemented() -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::local(bytes::Bytes::new()));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(GRPC_STATUS.clone(), HeaderValue::from_static(UNIMPLEMENTED));
    headers.insert(
        GRPC_MESSAGE.clone(),
        HeaderValue::from_static("no%20route%20matches%20this%20method"),
    );
    response
}

#[cfg(test)]
mod tests {
    use http_body::Body;

    use super::*;

    #[test]
    fn grpc_content_types() {
        let h = |ct: &str| {
            let mut m = HeaderMap::new();
            m.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            is_grpc(&m)
        };
        assert!(h("application/grpc"));
        assert!(h("application/grpc+proto"));
        assert!(h("Application/GRPC; charset=utf-8"));
        assert!(!h("application/grpc-web"));
        assert!(!h("application/json"));
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn unimplemented_is_trailers_only() {
        let r = unimplemented();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["grpc-status"], "12");
        assert!(r.body().is_end_stream());
    }
}
