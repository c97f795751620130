//! The HTTP/1 server's codec: request heads (framing, limits, smuggling guards), response
//! framing and heads, and request bodies read from a real socket in any split.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};
use http_body_util::{BodyExt, Empty, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::body::{ClientBodyError, RequestBody, drain};
use super::io::{ConnIo, SharedIo, lock};
use super::request::{self, BodyFraming, HeadError, HeadLimits};
use super::response::{Framing, Plan, RequestFacts, encode_head, plan};
use super::{Preface, preface};
use crate::server::transport::{Socket, Transport};

const LIMITS: HeadLimits = HeadLimits {
    max_bytes: 8 * 1024,
    max_headers: 100,
};

fn parse(bytes: &[u8]) -> Result<Option<request::Head>, HeadError> {
    request::parse(&mut BytesMut::from(bytes), LIMITS)
}

fn framing(bytes: &str) -> Result<(BodyFraming, bool), HeadError> {
    let head = parse(bytes.as_bytes())?.expect("a complete head");
    Ok((head.framing, head.keep_alive))
}

#[test]
fn request_framing_and_keep_alive_follow_rfc_9112() {
    let cases: &[(&str, BodyFraming, bool)] = &[
        ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", BodyFraming::None, true),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
            BodyFraming::Length(5),
            true,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
            BodyFraming::None,
            true,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 7, 7\r\ncontent-length: 7\r\n\r\n",
            BodyFraming::Length(7),
            true,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            BodyFraming::Chunked,
            true,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n",
            BodyFraming::Chunked,
            true,
        ),
        (
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            BodyFraming::None,
            false,
        ),
        (
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n",
            BodyFraming::None,
            false,
        ),
        ("GET / HTTP/1.0\r\n\r\n", BodyFraming::None, false),
        (
            "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            BodyFraming::None,
            true,
        ),
        (
            "POST / HTTP/1.0\r\nHost: a\r\nContent-Length: 2\r\n\r\n",
            BodyFraming::Length(2),
            false,
        ),
        (
            "GET http://a.example/x?y HTTP/1.1\r\nHost: other\r\n\r\n",
            BodyFraming::None,
            true,
        ),
        (
            "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
            BodyFraming::None,
            true,
        ),
        ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", BodyFraming::None, true),
        // RFC 9112 §2.2: an empty line before the request line is ignored.
        ("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", BodyFraming::None, true),
        ("GET / HTTP/1.1\r\nHost: \r\n\r\n", BodyFraming::None, true),
        ("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", BodyFraming::None, true),
    ];
    for (text, expected, keep_alive) in cases {
        assert_eq!(framing(text), Ok((*expected, *keep_alive)), "{text:?}");
    }
}

#[test]
fn smuggling_shapes_and_malformed_requests_are_refused() {
    let bad = HeadError::Malformed("");
    let cases: &[(&str, HeadError)] = &[
        // RFC 9112 §6.3: both framings at once.
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            bad,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            bad,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            bad,
        ),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n", bad),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", bad),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\n", bad),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
            bad,
        ),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", bad),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            bad,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            bad,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            HeadError::Coding,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            HeadError::Coding,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
            HeadError::Coding,
        ),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", bad),
        // A space before the colon is how some parsers are told apart from others.
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", bad),
        ("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", bad),
        ("GET / HTTP/1.1\r\n\r\n", bad),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", bad),
        ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", bad),
        ("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", bad),
        ("GET a.example:80 HTTP/1.1\r\nHost: a\r\n\r\n", bad),
        ("GET * HTTP/1.1\r\nHost: a\r\n\r\n", bad),
        ("CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", bad),
        ("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", bad),
        ("GET / FOO/1.1\r\nHost: a\r\n\r\n", bad),
        ("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", bad),
        ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", HeadError::Version),
        ("GET / HTTP/1.2\r\nHost: a\r\n\r\n", HeadError::Version),
        ("GET / HTTP/3.0\r\n\r\n", HeadError::Version),
    ];
    for (text, expected) in cases {
        let got = parse(text.as_bytes());
        let matches = match (expected, &got) {
            (HeadError::Malformed(_), Err(HeadError::Malformed(_))) => true,
            (e, Err(g)) => e == g,
            _ => false,
        };
        assert!(matches, "{text:?}: {got:?}");
    }
    assert_eq!(HeadError::Malformed("").status(), StatusCode::BAD_REQUEST);
    assert_eq!(HeadError::Coding.status(), StatusCode::NOT_IMPLEMENTED);
    assert_eq!(HeadError::Version.status(), StatusCode::HTTP_VERSION_NOT_SUPPORTED);
}

#[test]
fn head_limits_answer_431() {
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nx: {}\r\n\r\n",
        "v".repeat(LIMITS.max_bytes)
    );
    assert_eq!(parse(big.as_bytes()).unwrap_err(), HeadError::TooLarge);
    // Incomplete but already beyond the limit: no need to wait for the rest.
    assert_eq!(
        parse(&big.as_bytes()[..LIMITS.max_bytes + 10]).unwrap_err(),
        HeadError::TooLarge
    );
    let many: String = (0..=LIMITS.max_headers).map(|i| format!("x-{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
    assert_eq!(parse(many.as_bytes()).unwrap_err(), HeadError::TooLarge);
    assert_eq!(
        HeadError::TooLarge.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    // A limit above the stack slots parses on the heap.
    let wide = HeadLimits {
        max_bytes: 64 * 1024,
        max_headers: 300,
    };
    let head = request::parse(&mut BytesMut::from(many.as_bytes()), wide)
        .unwrap()
        .unwrap();
    assert_eq!(head.headers.len(), LIMITS.max_headers + 2);
}

#[test]
fn heads_parse_in_any_split_and_pipelined_requests_stay_buffered() {
    let two = b"POST /one?q=1 HTTP/1.1\r\nHost: a.example\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabcGET /two HTTP/1.1\r\nHost: a.example\r\n\r\n";
    for split in 1..two.len() {
        let mut buf = BytesMut::from(&two[..split]);
        let parsed = request::parse(&mut buf, LIMITS).unwrap();
        let Some(head) = parsed else {
            continue;
        };
        buf.extend_from_slice(&two[split..]);
        assert_eq!(head.method, Method::POST);
        assert_eq!(head.uri, "/one?q=1");
        assert_eq!(head.version, Version::HTTP_11);
        assert_eq!(head.framing, BodyFraming::Length(3));
        assert!(head.expect_continue);
        let xa: Vec<_> = head.headers.get_all("x-a").iter().collect();
        assert_eq!(xa, ["1", "2"]);
        assert!(buf.starts_with(b"abcGET /two"), "split {split}");
        let _ = buf.split_to(3);
        let second = request::parse(&mut buf, LIMITS).unwrap().unwrap();
        assert_eq!(second.uri, "/two");
        assert!(!second.expect_continue);
        assert!(buf.is_empty());
    }
    assert!(parse(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
}

#[test]
fn the_http2_preface_is_recognised_from_its_first_bytes() {
    assert!(matches!(preface(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Preface::Full));
    assert!(matches!(
        preface(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0"),
        Preface::Full
    ));
    assert!(matches!(preface(b"PRI * HT"), Preface::Partial));
    assert!(matches!(preface(b"P"), Preface::Partial));
    assert!(matches!(preface(b"POST / HTTP/1.1"), Preface::No));
}

fn facts(head: bool, http10: bool) -> RequestFacts {
    RequestFacts {
        head,
        http10,
        ..RequestFacts::default()
    }
}

#[test]
fn response_framing_follows_the_status_the_method_and_the_body() {
    let none = HeaderMap::new();
    let mut close = HeaderMap::new();
    close.insert("connection", HeaderValue::from_static("close"));
    let mut stated = HeaderMap::new();
    stated.insert("content-length", HeaderValue::from_static("12"));
    let sized = Full::new(Bytes::from_static(b"hello"));
    let empty = Empty::<Bytes>::new();
    let unknown = http_body_util::StreamBody::new(futures_util::stream::iter(Vec::<
        Result<http_body::Frame<Bytes>, std::convert::Infallible>,
    >::new()));
    let get11 = facts(false, false);
    let get10 = facts(false, true);
    let head = facts(true, false);
    let connect = RequestFacts {
        connect: true,
        ..RequestFacts::default()
    };
    let upgrade = RequestFacts {
        upgrade: true,
        ..RequestFacts::default()
    };
    let ok = StatusCode::OK;
    let p = |framing, keep_alive| Plan { framing, keep_alive };
    assert_eq!(plan(ok, &none, &sized, &get11, true), p(Framing::Length(5), true));
    assert_eq!(plan(ok, &none, &empty, &get11, true), p(Framing::Length(0), true));
    assert_eq!(plan(ok, &none, &unknown, &get11, true), p(Framing::Chunked, true));
    assert_eq!(plan(ok, &stated, &unknown, &get11, true), p(Framing::Length(12), true));
    assert_eq!(plan(ok, &none, &unknown, &get10, true), p(Framing::UntilClose, false));
    assert_eq!(plan(ok, &none, &sized, &get10, true), p(Framing::Length(5), true));
    assert_eq!(plan(ok, &close, &sized, &get11, true), p(Framing::Length(5), false));
    assert_eq!(plan(ok, &none, &sized, &get11, false), p(Framing::Length(5), false));
    assert_eq!(plan(ok, &none, &sized, &head, true), p(Framing::NoBody, true));
    for status in [StatusCode::NO_CONTENT, StatusCode::NOT_MODIFIED] {
        assert_eq!(plan(status, &none, &sized, &get11, true), p(Framing::NoBody, true));
    }
    assert_eq!(plan(ok, &none, &empty, &connect, true), p(Framing::NoBody, false));
    let switching = StatusCode::SWITCHING_PROTOCOLS;
    assert_eq!(plan(switching, &none, &empty, &upgrade, true), p(Framing::NoBody, true));
    assert_eq!(plan(switching, &none, &empty, &get11, true), p(Framing::NoBody, false));
}

/// A response head as text, with the date's value blanked.
fn head_text(status: StatusCode, headers: &HeaderMap, hint: Option<u64>, plan: Plan, facts: &RequestFacts) -> String {
    let mut out = Vec::new();
    encode_head(&mut out, status, headers, hint, plan, facts);
    let text = String::from_utf8(out).unwrap();
    let (before, after) = text.split_once("date: ").unwrap();
    let (_, rest) = after.split_once("\r\n").unwrap();
    format!("{before}date: D\r\n{rest}")
}

#[test]
fn response_heads_carry_the_framing_chosen() {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("text/plain"));
    headers.insert("content-length", HeaderValue::from_static("999"));
    headers.insert("transfer-encoding", HeaderValue::from_static("gzip"));
    headers.append("x-a", HeaderValue::from_static("1"));
    headers.append("x-a", HeaderValue::from_static("2"));
    let get = facts(false, false);
    let length = Plan {
        framing: Framing::Length(5),
        keep_alive: true,
    };
    assert_eq!(
        head_text(StatusCode::OK, &headers, Some(5), length, &get),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-a: 1\r\nx-a: 2\r\ncontent-length: 5\r\ndate: D\r\n\r\n"
    );
    let chunked_close = Plan {
        framing: Framing::Chunked,
        keep_alive: false,
    };
    assert_eq!(
        head_text(StatusCode::NOT_FOUND, &HeaderMap::new(), None, chunked_close, &get),
        "HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\nconnection: close\r\ndate: D\r\n\r\n"
    );
    let keep10 = Plan {
        framing: Framing::Length(0),
        keep_alive: true,
    };
    assert_eq!(
        head_text(StatusCode::OK, &HeaderMap::new(), Some(0), keep10, &facts(false, true)),
        "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\ndate: D\r\n\r\n"
    );
    // HEAD keeps the length the body would have had; 204 states none.
    let no_body = Plan {
        framing: Framing::NoBody,
        keep_alive: true,
    };
    assert_eq!(
        head_text(StatusCode::OK, &headers, Some(0), no_body, &facts(true, false)),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 999\r\nx-a: 1\r\nx-a: 2\r\ndate: D\r\n\r\n"
    );
    assert_eq!(
        head_text(StatusCode::OK, &HeaderMap::new(), Some(7), no_body, &facts(true, false)),
        "HTTP/1.1 200 OK\r\ncontent-length: 7\r\ndate: D\r\n\r\n"
    );
    assert_eq!(
        head_text(StatusCode::NO_CONTENT, &headers, Some(0), no_body, &get),
        "HTTP/1.1 204 No Content\r\ncontent-type: text/plain\r\nx-a: 1\r\nx-a: 2\r\ndate: D\r\n\r\n"
    );
    // A date already there is kept; an unknown status has an empty reason.
    let mut dated = HeaderMap::new();
    dated.insert("date", HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"));
    let mut out = Vec::new();
    encode_head(&mut out, StatusCode::from_u16(599).unwrap(), &dated, None, length, &get);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 599 \r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\ncontent-length: 5\r\n\r\n"
    );
}

/// The server side of a loopback connection wrapped as the HTTP/1 server's state, and the
/// client's socket.
async fn connection() -> (SharedIo, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let io = Arc::new(Mutex::new(ConnIo::new(Transport::Plain(Socket(server)))));
    (io, client)
}

fn body_of(io: &SharedIo, framing: BodyFraming, expect_continue: bool) -> RequestBody {
    let generation = lock(io).start_body(framing, expect_continue);
    RequestBody::new(io.clone(), generation)
}

/// Sends `bytes` from the client in pieces of `piece` bytes while the body is read.
async fn feed(client: &mut TcpStream, bytes: &'static [u8], piece: usize) {
    for part in bytes.chunks(piece) {
        client.write_all(part).await.unwrap();
        client.flush().await.unwrap();
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn request_bodies_are_read_in_any_split() {
    let chunked: &'static [u8] = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-sum: 9\r\n\r\nGET /next";
    for piece in [1, 2, 7, chunked.len()] {
        let (io, mut client) = connection().await;
        let body = body_of(&io, BodyFraming::Chunked, false);
        let (collected, ()) = tokio::join!(body.collect(), feed(&mut client, chunked, piece));
        let collected = collected.unwrap();
        assert_eq!(collected.trailers().unwrap()["x-sum"], "9", "piece {piece}");
        assert_eq!(collected.to_bytes(), "hello world", "piece {piece}");
        assert!(lock(&io).body_done());
        // What follows the body is the next request's.
        assert!(lock(&io).buf.starts_with(b"GET /next") || piece < chunked.len());
    }
    let (io, mut client) = connection().await;
    let body = body_of(&io, BodyFraming::Length(11), false);
    let (collected, ()) = tokio::join!(body.collect(), feed(&mut client, b"hello worldGET", 3));
    assert_eq!(collected.unwrap().to_bytes(), "hello world");
}

#[tokio::test]
async fn truncated_and_malformed_bodies_are_errors() {
    let (io, mut client) = connection().await;
    let body = body_of(&io, BodyFraming::Length(10), false);
    client.write_all(b"short").await.unwrap();
    drop(client);
    assert!(matches!(body.collect().await, Err(ClientBodyError::Incomplete)));
    let (io, mut client) = connection().await;
    let body = body_of(&io, BodyFraming::Chunked, false);
    client.write_all(b"5\r\nhelloXX0\r\n\r\n").await.unwrap();
    assert!(matches!(body.collect().await, Err(ClientBodyError::Chunked(_))));
    assert!(!lock(&io).body_done());
}

#[tokio::test]
async fn continue_is_sent_when_the_body_is_first_needed() {
    let (io, mut client) = connection().await;
    let body = body_of(&io, BodyFraming::Length(4), true);
    let reader = tokio::spawn(body.collect());
    let mut interim = [0u8; super::io::CONTINUE.len()];
    client.read_exact(&mut interim).await.unwrap();
    assert_eq!(&interim[..], b"HTTP/1.1 100 Continue\r\n\r\n");
    client.write_all(b"data").await.unwrap();
    assert_eq!(reader.await.unwrap().unwrap().to_bytes(), "data");
    // Already buffered: no interim response needed.
    let (io2, mut client2) = connection().await;
    client2.write_all(b"data").await.unwrap();
    let body = body_of(&io2, BodyFraming::Length(4), true);
    while lock(&io2).buf.is_empty() {
        let _ = std::future::poll_fn(|cx| std::task::Poll::Ready(lock(&io2).poll_fill(cx))).await;
        tokio::task::yield_now().await;
    }
    assert_eq!(body.collect().await.unwrap().to_bytes(), "data");
    drop(io2);
    let mut rest = Vec::new();
    client2.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "no interim response: {rest:?}");
}

#[tokio::test]
async fn unread_bodies_are_drained_within_a_limit_and_old_handles_cut_off() {
    let (io, mut client) = connection().await;
    let body = body_of(&io, BodyFraming::Length(6), false);
    client.write_all(b"abcdefNEXT").await.unwrap();
    assert!(drain(&io, 64).await);
    assert!(lock(&io).body_done());
    assert_eq!(&lock(&io).buf[..], b"NEXT");
    assert!(matches!(body.collect().await, Err(ClientBodyError::Abandoned)));
    let (io, mut client) = connection().await;
    let _body = body_of(&io, BodyFraming::Chunked, false);
    client.write_all(b"10\r\n0123456789abcdef\r\n").await.unwrap();
    assert!(!drain(&io, 8).await, "more than the limit");
}

#[test]
fn host_values_are_checked_without_building_an_authority() {
    for host in [
        "a",
        "a.example:8080",
        "127.0.0.1",
        "127.0.0.1:80",
        "[::1]",
        "[::1]:8080",
        "[::ffff:10.0.0.1]:443",
        "[v1.fe80::a+en1]",
        "xn--bcher-kva.example",
        "a%2Eb",
        "a:",
    ] {
        assert!(request::valid_host(host.as_bytes()), "{host}");
    }
    for host in [
        "a b", "user@a", "a:80:81", "a:x", "a:123456", "[::1", "[::1]x", "[]", "[zz::1]", "a/b", "a?b", "[v1]",
    ] {
        assert!(!request::valid_host(host.as_bytes()), "{host}");
    }
    // Every byte a reg-name may hold (RFC 3986 unreserved, pct-encoded, sub-delims), and no other.
    for b in (0..=u8::MAX).filter(|&b| b != b':') {
        let allowed = b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b);
        assert_eq!(request::valid_host(&[b]), allowed, "byte {b:#04x}");
    }
}
