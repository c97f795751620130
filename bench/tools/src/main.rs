//! Load tools that the Debian packages do not provide, used by `bench/compare.py`.
//!
//! - `open-loop`: HTTP/1.1 keep-alive requests at a fixed rate (wrk2's model). Each connection
//!   owns every C-th send slot; a response that comes back late delays the next send, and that
//!   delay is charged to the latency (no coordinated omission). Timer lateness while the
//!   connection was free is the generator's own jitter: it is reported, not charged.
//! - `idle`: opens N keep-alive connections, sends one request on each, prints `ready`, then holds
//!   them idle so the caller can read the proxy's memory.
//!
//! Output is one JSON object on stdout, so the caller needs no parser beyond `json.loads`.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::cell::RefCell;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        usage();
    };
    let opts = Opts::parse(rest);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => fail(&format!("cannot start the runtime: {e}")),
    };
    match command.as_str() {
        "open-loop" => runtime.block_on(tokio::task::LocalSet::new().run_until(open_loop(opts))),
        "idle" => runtime.block_on(tokio::task::LocalSet::new().run_until(idle(opts))),
        _ => usage(),
    }
}

fn usage() -> ! {
    fail(
        "usage: rauta-bench open-loop --addr IP:PORT [--host H] --path P [--path P…] --rate R \
         --connections C --duration S [--warmup S]\n       rauta-bench idle --addr IP:PORT [--host H] \
         --path P --connections N [--hold S]",
    )
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2)
}

struct Opts {
    addr: SocketAddr,
    host: String,
    paths: Vec<String>,
    rate: f64,
    connections: usize,
    duration: f64,
    warmup: f64,
    hold: f64,
}

impl Opts {
    fn parse(args: &[String]) -> Self {
        let mut o = Opts {
            addr: SocketAddr::from(([127, 0, 0, 1], 80)),
            host: String::new(),
            paths: Vec::new(),
            rate: 1000.0,
            connections: 50,
            duration: 10.0,
            warmup: 2.0,
            hold: 3600.0,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().unwrap_or_else(|| usage());
            let number = || value.parse::<f64>().unwrap_or_else(|_| usage());
            match flag.as_str() {
                "--addr" => o.addr = value.parse().unwrap_or_else(|_| usage()),
                "--host" => o.host = value.clone(),
                "--path" => o.paths.push(value.clone()),
                "--rate" => o.rate = number(),
                "--connections" => o.connections = number() as usize,
                "--duration" => o.duration = number(),
                "--warmup" => o.warmup = number(),
                "--hold" => o.hold = number(),
                _ => usage(),
            }
        }
        if o.host.is_empty() {
            o.host = o.addr.to_string();
        }
        if o.paths.is_empty() {
            o.paths.push("/".into());
        }
        if o.connections == 0 || o.rate <= 0.0 {
            usage();
        }
        o
    }

    fn requests(&self) -> Vec<Vec<u8>> {
        self.paths
            .iter()
            .map(|p| format!("GET {p} HTTP/1.1\r\nHost: {}\r\nUser-Agent: rauta-bench\r\n\r\n", self.host).into_bytes())
            .collect()
    }
}

/// One HTTP/1.1 keep-alive connection that reads whole responses.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        })
    }

    /// Sends `request` and reads the whole response; returns its status code.
    async fn exchange(&mut self, request: &[u8]) -> io::Result<u16> {
        self.stream.write_all(request).await?;
        self.read_response().await
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    async fn read_response(&mut self) -> io::Result<u16> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_ascii_lowercase();
        let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
        };
        self.buf.drain(..head_end);
        if let Some(len) = header("content-length:").and_then(|v| v.parse::<usize>().ok()) {
            while self.buf.len() < len {
                self.fill().await?;
            }
            self.buf.drain(..len);
        } else if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buf, b"\r\n") {
                        break i;
                    }
                    self.fill().await?;
                };
                let size_text = String::from_utf8_lossy(&self.buf[..line_end]).to_string();
                let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
                // The chunk, its CRLF; the last chunk is followed by (no trailers) one CRLF.
                let need = line_end + 2 + size + 2;
                while self.buf.len() < need {
                    self.fill().await?;
                }
                self.buf.drain(..need);
                if size == 0 {
                    break;
                }
            }
        } else if status != 204 && status != 304 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "response without a length"));
        }
        Ok(status)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    lateness_us: Vec<u32>,
    ok: u64,
    non2xx: u64,
    errors: u64,
    sent: u64,
}

async fn open_loop(o: Opts) {
    let requests = Rc::new(o.requests());
    let tally = Rc::new(RefCell::new(Tally::default()));
    let start = Instant::now() + Duration::from_millis(200);
    let measure_from = start + Duration::from_secs_f64(o.warmup);
    let end = measure_from + Duration::from_secs_f64(o.duration);
    let interval = Duration::from_secs_f64(o.connections as f64 / o.rate);
    let mut tasks = Vec::new();
    for c in 0..o.connections {
        let requests = requests.clone();
        let tally = tally.clone();
        let offset = Duration::from_secs_f64(c as f64 / o.rate);
        let addr = o.addr;
        tasks.push(tokio::task::spawn_local(async move {
            let mut conn = Conn::open(addr).await.ok();
            let mut prev_done = Instant::now();
            let mut k: u32 = 0;
            loop {
                let scheduled = start + offset + interval * k;
                if scheduled >= end {
                    break;
                }
                tokio::time::sleep_until(scheduled).await;
                let sent = Instant::now();
                // Charged from the slot when the previous response made us miss it; from the
                // actual send when only the timer was late.
                let base = if prev_done > scheduled { scheduled } else { sent };
                let request = &requests[(k as usize + c) % requests.len()];
                let result = match conn.as_mut() {
                    Some(cn) => cn.exchange(request).await,
                    None => Err(io::ErrorKind::NotConnected.into()),
                };
                let done = Instant::now();
                prev_done = done;
                let measured = scheduled >= measure_from;
                let mut t = tally.borrow_mut();
                match result {
                    Ok(status) => {
                        if measured {
                            t.sent += 1;
                            if (200..300).contains(&status) {
                                t.ok += 1;
                            } else {
                                t.non2xx += 1;
                            }
                            t.latencies_us.push(micros(done - base));
                            t.lateness_us.push(micros(sent.saturating_duration_since(scheduled)));
                        }
                    }
                    Err(_) => {
                        if measured {
                            t.sent += 1;
                            t.errors += 1;
                        }
                        drop(t);
                        conn = Conn::open(addr).await.ok();
                    }
                }
                k += 1;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut t = tally.borrow_mut();
    t.latencies_us.sort_unstable();
    t.lateness_us.sort_unstable();
    let q = |v: &[u32], p: f64| -> u32 {
        if v.is_empty() {
            return 0;
        }
        v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
    };
    let l = &t.latencies_us;
    println!(
        "{{\"rate\":{},\"duration_s\":{},\"sent\":{},\"ok\":{},\"non2xx\":{},\"errors\":{},\"rps\":{:.1},\
         \"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{},\"timer_late_p99_us\":{}}}",
        o.rate,
        o.duration,
        t.sent,
        t.ok,
        t.non2xx,
        t.errors,
        t.sent as f64 / o.duration,
        q(l, 0.50),
        q(l, 0.90),
        q(l, 0.99),
        q(l, 0.999),
        l.last().copied().unwrap_or(0),
        q(&t.lateness_us, 0.99),
    );
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

async fn idle(o: Opts) {
    let request = Rc::new(o.requests().swap_remove(0));
    let concurrency = 64.min(o.connections);
    let per_task = o.connections.div_ceil(concurrency);
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let request = request.clone();
        let n = per_task.min(o.connections.saturating_sub(i * per_task));
        let addr = o.addr;
        tasks.push(tokio::task::spawn_local(async move {
            let mut held = Vec::with_capacity(n);
            let mut failed = 0u64;
            for _ in 0..n {
                match Conn::open(addr).await {
                    Ok(mut conn) => match conn.exchange(&request).await {
                        Ok(status) if (200..300).contains(&status) => held.push(conn),
                        _ => failed += 1,
                    },
                    Err(_) => failed += 1,
                }
            }
            (held, failed)
        }));
    }
    let mut held = Vec::new();
    let mut failed = 0;
    for t in tasks {
        if let Ok((conns, f)) = t.await {
            held.extend(conns);
            failed += f;
        }
    }
    println!("{{\"ready\":true,\"held\":{},\"failed\":{}}}", held.len(), failed);
    // The caller reads memory now, then closes our stdin (or kills us) to end the hold.
    let mut stdin = tokio::io::stdin();
    let mut byte = [0u8; 1];
    let _ = tokio::time::timeout(Duration::from_secs_f64(o.hold), stdin.read(&mut byte)).await;
    drop(held);
}
