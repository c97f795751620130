//! The access log: one JSON line per request, and per finished L4 session (TCP or TLS stream,
//! UDP client session), on stdout, written off the request path.
//!
//! Requests and sessions hand a record of cheap clones to a bounded channel; a writer thread
//! serialises the records through a buffered stdout and flushes whenever the channel runs dry.
//! When the writer falls behind, records are dropped rather than slowing requests down.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderValue, Method, Uri, Version};
use serde::Serialize;

use crate::metrics::L4Protocol;

/// Records queued before new ones are dropped.
const QUEUE: usize = 8192;

/// What one request leaves in the access log.
#[derive(Debug)]
pub(crate) struct AccessRecord {
    pub(crate) time: SystemTime,
    pub(crate) request_id: Option<HeaderValue>,
    pub(crate) client: SocketAddr,
    pub(crate) method: Method,
    pub(crate) host: Option<HeaderValue>,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    pub(crate) status: u16,
    pub(crate) duration: Duration,
    pub(crate) bytes_out: Option<u64>,
    pub(crate) route: Option<Arc<str>>,
    pub(crate) rule: Option<usize>,
    pub(crate) listener: Option<Arc<str>>,
    pub(crate) upstream: Option<SocketAddr>,
    pub(crate) reason: Option<&'static str>,
}

/// What one finished L4 session leaves in the access log.
#[derive(Debug)]
pub(crate) struct SessionRecord {
    /// When the session started.
    pub(crate) time: SystemTime,
    pub(crate) client: SocketAddr,
    pub(crate) protocol: L4Protocol,
    /// TLS only: whether the listener passed the stream through or terminated it.
    pub(crate) tls_mode: Option<TlsMode>,
    /// TLS only: the ClientHello's server name.
    pub(crate) sni: Option<Arc<str>>,
    pub(crate) duration: Duration,
    /// Bytes from the client (on terminated TLS: decrypted).
    pub(crate) bytes_in: u64,
    /// Bytes to the client (on terminated TLS: before encryption).
    pub(crate) bytes_out: u64,
    pub(crate) route: Option<Arc<str>>,
    pub(crate) rule: Option<usize>,
    pub(crate) listener: Option<Arc<str>>,
    pub(crate) upstream: Option<SocketAddr>,
    /// Why the session ended in an error; `None` when either side closed it.
    pub(crate) reason: Option<&'static str>,
}

/// What a TLS listener does with a stream, as the Gateway API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsMode {
    Passthrough,
    Terminate,
}

/// One line of the access log.
#[derive(Debug)]
enum Record {
    Request(AccessRecord),
    Session(SessionRecord),
}

/// The sending side of the access log; cloning it is cheap.
#[derive(Clone, Debug)]
pub(crate) struct AccessLog {
    tx: SyncSender<Record>,
}

impl AccessLog {
    /// Starts the writer thread on stdout.
    pub(crate) fn stdout() -> io::Result<Self> {
        Self::spawn(io::stdout())
    }

    fn spawn<W: Write + Send + 'static>(out: W) -> io::Result<Self> {
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("rauta-access-log".into())
            .spawn(move || write_all(&rx, out))?;
        Ok(Self { tx })
    }

    /// Queues a request's record; drops it when the writer is behind.
    pub(crate) fn log(&self, record: AccessRecord) {
        self.send(Record::Request(record));
    }

    /// Queues a finished session's record; drops it when the writer is behind.
    pub(crate) fn log_session(&self, record: SessionRecord) {
        self.send(Record::Session(record));
    }

    fn send(&self, record: Record) {
        match self.tx.try_send(record) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => tracing::debug!("access log queue full, record dropped"),
        }
    }
}

fn write_all<W: Write>(rx: &Receiver<Record>, out: W) {
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    while let Ok(first) = rx.recv() {
        write_record(&mut out, &first);
        while let Ok(next) = rx.try_recv() {
            write_record(&mut out, &next);
        }
        if let Err(e) = out.flush() {
            tracing::warn!(error = %e, "cannot write the access log");
        }
    }
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    request_id: Option<&'a str>,
    client: SocketAddr,
    method: &'a str,
    host: Option<&'a str>,
    path: &'a str,
    protocol: &'static str,
    status: u16,
    duration_ms: f64,
    bytes_out: Option<u64>,
    route: Option<&'a str>,
    rule: Option<usize>,
    listener: Option<&'a str>,
    upstream: Option<SocketAddr>,
    reason: Option<&'static str>,
}

/// A session's line: the request line's fields that apply, the protocol marked (`TCP`, `TLS`,
/// `UDP`), and the bytes each way.
#[derive(Serialize)]
struct SessionLine<'a> {
    time: String,
    client: SocketAddr,
    protocol: &'static str,
    tls_mode: Option<&'static str>,
    sni: Option<&'a str>,
    duration_ms: f64,
    bytes_in: u64,
    bytes_out: u64,
    route: Option<&'a str>,
    rule: Option<usize>,
    listener: Option<&'a str>,
    upstream: Option<SocketAddr>,
    reason: Option<&'static str>,
}

fn write_record<W: Write>(out: &mut W, record: &Record) {
    match record {
        Record::Request(r) => write_request(out, r),
        Record::Session(s) => write_session(out, s),
    }
}

fn write_session<W: Write>(out: &mut W, s: &SessionRecord) {
    let line = SessionLine {
        time: rfc3339(s.time),
        client: s.client,
        protocol: match s.protocol {
            L4Protocol::Tcp => "TCP",
            L4Protocol::Tls => "TLS",
            L4Protocol::Udp => "UDP",
        },
        tls_mode: s.tls_mode.map(|m| match m {
            TlsMode::Passthrough => "Passthrough",
            TlsMode::Terminate => "Terminate",
        }),
        sni: s.sni.as_deref(),
        duration_ms: milliseconds(s.duration),
        bytes_in: s.bytes_in,
        bytes_out: s.bytes_out,
        route: s.route.as_deref(),
        rule: s.rule,
        listener: s.listener.as_deref(),
        upstream: s.upstream,
        reason: s.reason,
    };
    if serde_json::to_writer(&mut *out, &line).is_ok() {
        let _ = out.write_all(b"\n");
    }
}

/// Milliseconds with microsecond precision.
fn milliseconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn write_request<W: Write>(out: &mut W, r: &AccessRecord) {
    let line = Line {
        time: rfc3339(r.time),
        request_id: r.request_id.as_ref().and_then(|v| v.to_str().ok()),
        client: r.client,
        method: r.method.as_str(),
        host: r.host.as_ref().and_then(|v| v.to_str().ok()),
        path: r.uri.path(),
        protocol: protocol(r.version),
        status: r.status,
        duration_ms: milliseconds(r.duration),
        bytes_out: r.bytes_out,
        route: r.route.as_deref(),
        rule: r.rule,
        listener: r.listener.as_deref(),
        upstream: r.upstream,
        reason: r.reason,
    };
    if serde_json::to_writer(&mut *out, &line).is_ok() {
        let _ = out.write_all(b"\n");
    }
}

fn protocol(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// `2024-05-01T12:34:56.789Z`, computed without a calendar crate.
fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, u32::try_from(m).unwrap_or(1), u32::try_from(d).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.789Z");
    }

    #[test]
    fn writes_one_json_object_per_line() {
        let record = AccessRecord {
            time: UNIX_EPOCH,
            request_id: Some(HeaderValue::from_static("abc")),
            client: "127.0.0.1:4000".parse().unwrap(),
            method: Method::POST,
            host: Some(HeaderValue::from_static("example.com")),
            uri: Uri::from_static("/a/b?secret=1"),
            version: Version::HTTP_11,
            status: 503,
            duration: Duration::from_micros(1500),
            bytes_out: Some(12),
            route: Some("ns/web".into()),
            rule: Some(2),
            listener: Some("ns/gw/http".into()),
            upstream: None,
            reason: Some("no_endpoints"),
        };
        let mut out = Vec::new();
        write_request(&mut out, &record);
        write_request(&mut out, &record);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["path"], "/a/b", "the query string is not logged");
        assert_eq!(v["status"], 503);
        assert_eq!(v["duration_ms"], 1.5);
        assert_eq!(v["route"], "ns/web");
        assert_eq!(v["reason"], "no_endpoints");
        assert_eq!(v["protocol"], "HTTP/1.1");
        assert_eq!(v["upstream"], serde_json::Value::Null);
    }

    #[test]
    fn sessions_mark_their_protocol_and_count_bytes_each_way() {
        let record = SessionRecord {
            time: UNIX_EPOCH,
            client: "127.0.0.1:4000".parse().unwrap(),
            protocol: L4Protocol::Tls,
            tls_mode: Some(TlsMode::Passthrough),
            sni: Some("abc.example.com".into()),
            duration: Duration::from_micros(2500),
            bytes_in: 517,
            bytes_out: 4096,
            route: Some("ns/tls".into()),
            rule: Some(0),
            listener: Some("ns/gw/tls".into()),
            upstream: Some("10.0.0.1:443".parse().unwrap()),
            reason: None,
        };
        let mut out = Vec::new();
        write_record(&mut out, &Record::Session(record));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["protocol"], "TLS");
        assert_eq!(v["tls_mode"], "Passthrough");
        assert_eq!(v["sni"], "abc.example.com");
        assert_eq!(v["duration_ms"], 2.5);
        assert_eq!(
            (v["bytes_in"].as_u64(), v["bytes_out"].as_u64()),
            (Some(517), Some(4096))
        );
        assert_eq!(v["upstream"], "10.0.0.1:443");
        assert_eq!(v["reason"], serde_json::Value::Null);
        assert!(v.get("status").is_none(), "a session has no status");
        assert!(out.ends_with(b"\n"));
    }

    #[test]
    fn writer_thread_drains_the_queue() {
        #[derive(Clone, Default)]
        struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let sink = Shared::default();
        let log = AccessLog::spawn(sink.clone()).unwrap();
        log.log(AccessRecord {
            time: UNIX_EPOCH,
            request_id: None,
            client: "[::1]:1".parse().unwrap(),
            method: Method::GET,
            host: None,
            uri: Uri::from_static("/"),
            version: Version::HTTP_2,
            status: 200,
            duration: Duration::ZERO,
            bytes_out: None,
            route: None,
            rule: None,
            listener: None,
            upstream: Some("10.0.0.1:80".parse().unwrap()),
            reason: None,
        });
        drop(log);
        for _ in 0..100 {
            if !sink.0.lock().unwrap().is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains(r#""upstream":"10.0.0.1:80""#), "{text}");
    }
}
