//! Writing a response to an HTTP/1 client: the head encoded straight from the `http` types with
//! the framing chosen here (RFC 9112 §6), then the body by length, chunked (with trailers) or
//! until the connection closes. A small body goes out in the same write as the head.

use std::pin::Pin;
use std::task::Poll;

use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderMap, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;

use super::io::{SharedIo, lock};
use crate::body::ResponseBody;
use crate::body_framing::{self, BodyFramer, content_length_line, header_line};
use crate::forwarding::connection_has;
use crate::server::date;

/// Body bytes copied next to the head (or a chunk header) to save a write; larger frames are
/// written from their own buffer.
const COALESCE: usize = 8 * 1024;

/// What the response depends on in the request.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RequestFacts {
    pub(crate) head: bool,
    pub(crate) connect: bool,
    pub(crate) http10: bool,
    /// The request asked to switch protocols.
    pub(crate) upgrade: bool,
}

/// How the response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body may follow the head (HEAD, 1xx, 204, 304, 2xx to CONNECT).
    NoBody,
    Length(u64),
    Chunked,
    /// Until the connection closes (HTTP/1.0 clients, length unknown).
    UntilClose,
}

/// The framing of a response and whether the connection stays open after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) framing: Framing,
    pub(crate) keep_alive: bool,
}

/// What became of the connection once the response was written.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Written {
    KeepAlive,
    Close,
    /// A 101 to an upgrade request: the connection now belongs to the tunnel.
    Upgraded,
}

/// Chooses the framing: none where the status or method forbids a body, the exact length when
/// the body knows it (or the header states it), chunked for HTTP/1.1 clients otherwise, and
/// the connection's close for HTTP/1.0 clients.
pub(crate) fn plan(
    status: StatusCode,
    headers: &HeaderMap,
    body: &impl Body,
    facts: &RequestFacts,
    keep_alive: bool,
) -> Plan {
    let mut keep_alive = keep_alive && !connection_has(headers, "close");
    let framing = if status == StatusCode::SWITCHING_PROTOCOLS {
        // A switch the client did not ask for cannot be followed on this connection.
        keep_alive &= facts.upgrade;
        Framing::NoBody
    } else if facts.connect && status.is_success() {
        // Rauta does not tunnel CONNECT: the connection ends with this answer.
        keep_alive = false;
        Framing::NoBody
    } else if facts.head || !body_allowed(status) {
        Framing::NoBody
    } else if body.is_end_stream() {
        Framing::Length(0)
    } else if let Some(n) = body.size_hint().exact().or_else(|| declared_length(headers)) {
        Framing::Length(n)
    } else if !facts.http10 {
        Framing::Chunked
    } else {
        keep_alive = false;
        Framing::UntilClose
    };
    Plan { framing, keep_alive }
}

fn body_allowed(status: StatusCode) -> bool {
    !(status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED)
}

/// The one Content-Length a response head states, if it is valid.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    let mut values = headers.get_all(CONTENT_LENGTH).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()?.trim().parse().ok()
}

/// Appends the status line and the header section.
pub(crate) fn encode_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    body_hint: Option<u64>,
    plan: Plan,
    facts: &RequestFacts,
) {
    if status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // HEAD and 304 answers may state the length the body would have had.
    let keep_length = plan.framing == Framing::NoBody && (facts.head || status == StatusCode::NOT_MODIFIED);
    let switching = status == StatusCode::SWITCHING_PROTOCOLS;
    let mut dated = false;
    let mut close_said = false;
    for (name, value) in headers {
        if *name == TRANSFER_ENCODING || (*name == CONTENT_LENGTH && !keep_length) {
            continue;
        }
        if *name == DATE {
            dated = true;
        } else if *name == CONNECTION {
            close_said |= crate::forwarding::list_has(value.as_bytes(), b"close");
        }
        header_line(out, name, value.as_bytes());
    }
    match plan.framing {
        Framing::Length(n) => content_length_line(out, n),
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::NoBody if keep_length && facts.head && !headers.contains_key(CONTENT_LENGTH) => {
            if let Some(n) = body_hint.filter(|n| *n > 0) {
                content_length_line(out, n);
            }
        }
        Framing::NoBody | Framing::UntilClose => {}
    }
    if !switching {
        if !plan.keep_alive && !facts.http10 && !close_said {
            out.extend_from_slice(b"connection: close\r\n");
        } else if plan.keep_alive && facts.http10 {
            out.extend_from_slice(b"connection: keep-alive\r\n");
        }
    }
    if !dated {
        out.extend_from_slice(b"date: ");
        date::extend(out);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes `bufs` in order.
pub(crate) async fn write_all(io: &SharedIo, bufs: &[&[u8]]) -> std::io::Result<()> {
    let mut progress = (0, 0);
    std::future::poll_fn(|cx| lock(io).poll_write_all(cx, bufs, &mut progress)).await
}

/// Writes `response` (after `prefix`, the rest of a `100 Continue` being written), framed by
/// `plan`; returns what becomes of the connection.
pub(crate) async fn write(
    io: &SharedIo,
    response: Response<ResponseBody>,
    facts: &RequestFacts,
    keep_alive: bool,
    prefix: &[u8],
) -> Written {
    let (parts, mut body) = response.into_parts();
    let switching = parts.status == StatusCode::SWITCHING_PROTOCOLS && facts.upgrade;
    let plan = plan(parts.status, &parts.headers, &body, facts, keep_alive);
    let mut out = Vec::with_capacity(prefix.len() + 128 + parts.headers.len() * 48);
    out.extend_from_slice(prefix);
    encode_head(
        &mut out,
        parts.status,
        &parts.headers,
        body.size_hint().exact(),
        plan,
        facts,
    );
    drop(parts);
    if plan.framing == Framing::NoBody {
        drop(body);
        if write_all(io, &[&out]).await.is_err() {
            return Written::Close;
        }
        return if switching {
            Written::Upgraded
        } else if plan.keep_alive {
            Written::KeepAlive
        } else {
            Written::Close
        };
    }
    let mut framer = match plan.framing {
        Framing::Length(n) => BodyFramer::length(n),
        Framing::Chunked => BodyFramer::chunked(),
        Framing::UntilClose | Framing::NoBody => BodyFramer::until_close(),
    };
    let mut trailers = None;
    loop {
        // Frames ready now join what is buffered; the buffer is written before waiting.
        let next = match std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx))).await {
            Poll::Ready(next) => next,
            Poll::Pending => {
                if !out.is_empty() {
                    if write_all(io, &[&out]).await.is_err() {
                        return Written::Close;
                    }
                    out.clear();
                }
                body.frame().await
            }
        };
        let data = match next {
            None => break,
            // The upstream body broke off: the client must see a broken message, not an end.
            Some(Err(_)) => {
                let _ = write_all(io, &[&out]).await;
                return Written::Close;
            }
            Some(Ok(frame)) => match body_framing::data_of(frame, &mut trailers) {
                Some(data) => data,
                None => continue,
            },
        };
        if framer.start_data(&mut out, data.len()).is_err() {
            // More than the length announced: the message cannot be delimited any more.
            let _ = write_all(io, &[&out]).await;
            return Written::Close;
        }
        let tail = framer.data_tail();
        if data.len() <= COALESCE {
            out.extend_from_slice(&data);
            out.extend_from_slice(tail);
            if out.len() >= COALESCE {
                if write_all(io, &[&out]).await.is_err() {
                    return Written::Close;
                }
                out.clear();
            }
        } else {
            if write_all(io, &[&out, &data, tail]).await.is_err() {
                return Written::Close;
            }
            out.clear();
        }
    }
    framer.finish(&mut out, trailers.as_ref());
    drop(body);
    if !out.is_empty() && write_all(io, &[&out]).await.is_err() {
        return Written::Close;
    }
    // A body shorter than announced leaves the client waiting for the rest: close.
    if plan.keep_alive && framer.complete() && plan.framing != Framing::UntilClose {
        Written::KeepAlive
    } else {
        Written::Close
    }
}
