//! The suite's gRPC client for the echo backend's `GrpcEcho` service: unary calls over
//! cleartext HTTP/2 with prior knowledge, an optional `:authority`, metadata, and the answer's
//! assertions decoded by hand (the messages are tiny). A gateway's plain HTTP error becomes the
//! gRPC code grpc-go derives from it (404 → UNIMPLEMENTED, 503 → UNAVAILABLE, …).

use std::net::SocketAddr;

use bytes::{Buf, Bytes};
use http::{HeaderMap, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::client::REQUEST_TIMEOUT;

/// The service the echo backend implements.
pub const SERVICE: &str = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho";

/// gRPC status codes the checks name.
pub mod code {
    /// OK.
    pub const OK: u32 = 0;
    /// UNIMPLEMENTED.
    pub const UNIMPLEMENTED: u32 = 12;
}

/// One call: the method of `GrpcEcho`, the authority and the metadata to send.
#[derive(Clone, Debug, Default)]
pub struct Call {
    /// `Echo`, `EchoTwo` or `EchoThree`.
    pub method: String,
    /// `:authority`; `None` sends the address, as grpc-go does for its dial target.
    pub authority: Option<String>,
    /// Request metadata.
    pub metadata: Vec<(String, String)>,
}

/// What came back: the status code and, for OK, what the backend reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// gRPC status code.
    pub code: u32,
    /// The fully qualified method the backend saw.
    pub method: String,
    /// The backend's namespace.
    pub namespace: String,
    /// The backend's pod.
    pub pod: String,
}

/// Makes one call on a new connection.
pub async fn call(addr: SocketAddr, call: &Call) -> Result<Answer, String> {
    tokio::time::timeout(REQUEST_TIMEOUT, call_once(addr, call))
        .await
        .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
}

async fn call_once(addr: SocketAddr, call: &Call) -> Result<Answer, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
    tokio::spawn(conn);
    let authority = call.authority.clone().unwrap_or_else(|| addr.to_string());
    let mut builder = http::Request::post(format!("http://{authority}/{SERVICE}/{}", call.method))
        .version(Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (k, v) in &call.metadata {
        builder = builder.header(k.to_ascii_lowercase(), v);
    }
    // An empty EchoRequest: the 5-byte message prefix with length 0.
    let request = builder
        .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
        .map_err(|e| format!("bad call: {e}"))?;
    let response = sender.send_request(request).await.map_err(|e| format!("call: {e}"))?;
    let status = response.status();
    let headers = response.headers().clone();
    let collected = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("answer: {e}"))?;
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let body = collected.to_bytes();
    if status != http::StatusCode::OK {
        return Ok(Answer {
            code: code_of_http(status.as_u16()),
            ..Answer::default()
        });
    }
    let code = grpc_status(&trailers)
        .or_else(|| grpc_status(&headers))
        .ok_or("answer without grpc-status")?;
    if code != code::OK {
        return Ok(Answer {
            code,
            ..Answer::default()
        });
    }
    let message = body.get(5..).ok_or("OK answer without a message")?;
    let mut answer = decode_echo_response(message)?;
    answer.code = code;
    Ok(answer)
}

fn grpc_status(headers: &HeaderMap) -> Option<u32> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// grpc-go's mapping of an HTTP status without gRPC status to a gRPC code.
fn code_of_http(status: u16) -> u32 {
    match status {
        400 => 13,             // INTERNAL
        401 => 16,             // UNAUTHENTICATED
        403 => 7,              // PERMISSION_DENIED
        404 => 12,             // UNIMPLEMENTED
        429 | 502..=504 => 14, // UNAVAILABLE
        _ => 2,                // UNKNOWN
    }
}

/// The fields of a protobuf message, as (field number, bytes of a length-delimited value).
fn fields(mut buf: &[u8]) -> Result<Vec<(u64, &[u8])>, String> {
    fn varint(buf: &mut &[u8]) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            if !buf.has_remaining() {
                return Err("truncated varint".to_owned());
            }
            let b = buf.get_u8();
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint too long".to_owned())
    }
    let mut out = Vec::new();
    while buf.has_remaining() {
        let key = varint(&mut buf)?;
        match key & 7 {
            0 => {
                varint(&mut buf)?;
            }
            2 => {
                let len = usize::try_from(varint(&mut buf)?).map_err(|e| e.to_string())?;
                let value = buf.get(..len).ok_or("truncated field")?;
                out.push((key >> 3, value));
                buf.advance(len);
            }
            wire => return Err(format!("unexpected wire type {wire}")),
        }
    }
    Ok(out)
}

fn string_field(message: &[u8], number: u64) -> Result<String, String> {
    Ok(fields(message)?
        .iter()
        .find(|(n, _)| *n == number)
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default())
}

fn message_field(message: &[u8], number: u64) -> Result<Vec<u8>, String> {
    Ok(fields(message)?
        .iter()
        .find(|(n, _)| *n == number)
        .map(|(_, v)| v.to_vec())
        .unwrap_or_default())
}

/// `EchoResponse { assertions = 1 { fully_qualified_method = 1; context = 4 { namespace = 1; pod = 4 } } }`.
fn decode_echo_response(message: &[u8]) -> Result<Answer, String> {
    let assertions = message_field(message, 1)?;
    let context = message_field(&assertions, 4)?;
    Ok(Answer {
        code: code::OK,
        method: string_field(&assertions, 1)?,
        namespace: string_field(&context, 1)?,
        pod: string_field(&context, 4)?,
    })
}

/// Checks an answer like the suite's `compareResponse`.
pub fn compare(call: &Call, want_code: u32, backend: &str, namespace: &str, got: &Answer) -> Result<(), String> {
    if got.code != want_code {
        return Err(format!("expected gRPC code {want_code}, got {}", got.code));
    }
    if got.code == code::OK {
        let method = format!("/{SERVICE}/{}", call.method);
        if got.method != method {
            return Err(format!("backend saw method {:?}, expected {method:?}", got.method));
        }
        if !namespace.is_empty() && got.namespace != namespace {
            return Err(format!(
                "answer from namespace {:?}, expected {namespace:?}",
                got.namespace
            ));
        }
        if !got.pod.starts_with(backend) {
            return Err(format!("answered by pod {:?}, expected {backend}-*", got.pod));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, u8::try_from(value.len()).unwrap()];
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn echo_responses_are_decoded() {
        let context = [
            field(1, b"infra"),
            field(2, b""),
            field(4, b"grpc-infra-backend-v1-a-b"),
        ]
        .concat();
        let assertions = [
            field(1, format!("/{SERVICE}/Echo").as_bytes()),
            field(3, b"host"),
            field(4, &context),
        ]
        .concat();
        let response = field(1, &assertions);
        let answer = decode_echo_response(&response).unwrap();
        assert_eq!(answer.method, format!("/{SERVICE}/Echo"));
        assert_eq!(
            (answer.namespace.as_str(), answer.pod.as_str()),
            ("infra", "grpc-infra-backend-v1-a-b")
        );
        let call = Call {
            method: "Echo".into(),
            ..Call::default()
        };
        assert_eq!(
            compare(&call, code::OK, "grpc-infra-backend-v1", "infra", &answer),
            Ok(())
        );
        assert!(compare(&call, code::OK, "grpc-infra-backend-v2", "infra", &answer).is_err());
        assert!(decode_echo_response(&[0x0a, 0x05, 1]).is_err(), "truncated");
    }

    #[test]
    fn http_errors_map_like_grpc_go() {
        assert_eq!(code_of_http(404), code::UNIMPLEMENTED);
        assert_eq!(code_of_http(503), 14);
        assert_eq!(code_of_http(500), 2);
    }
}
