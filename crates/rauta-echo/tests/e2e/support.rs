//! Starting echo servers and talking to them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rauta_echo::{EchoConfig, EchoIdentity, EchoServer, RequestRecord};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running echo server; dropping it does not stop it, [`Running::stop`] does.
pub struct Running {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Signals shutdown and waits for the serve call to return.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// The identity used by most tests.
pub fn identity(pod: &str) -> EchoIdentity {
    EchoIdentity {
        namespace: "gateway-conformance-infra".into(),
        pod: pod.into(),
        service: "infra-backend-v1".into(),
        ingress: String::new(),
    }
}

/// A config with identity `pod` that records every request into the returned list.
pub fn recording_config(pod: &str) -> (EchoConfig, Arc<Mutex<Vec<RequestRecord>>>) {
    let records = Arc::new(Mutex::new(Vec::new()));
    let sink = records.clone();
    let config = EchoConfig::new(identity(pod)).with_request_log(move |record| {
        sink.lock().unwrap().push(record.clone());
    });
    (config, records)
}

/// Starts `server` in HTTP mode on 127.0.0.1:0.
pub async fn start_http(server: EchoServer) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve_http(listener, async {
                let _ = stopped.await;
            })
            .await
    });
    Running { addr, stop, task }
}

/// Starts a fresh echo server with `config` in HTTP mode.
pub async fn start(config: EchoConfig) -> Running {
    start_http(EchoServer::new(config)).await
}

/// Starts `server` in TCP mode on 127.0.0.1:0.
pub async fn start_tcp(server: EchoServer) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve_tcp(listener, async {
                let _ = stopped.await;
            })
            .await
    });
    Running { addr, stop, task }
}

/// Starts `server` in UDP mode on 127.0.0.1:0.
pub async fn start_udp(server: EchoServer) -> Running {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve_udp(socket, async {
                let _ = stopped.await;
            })
            .await
    });
    Running { addr, stop, task }
}

/// A response with its body collected.
pub struct Answer {
    pub response: Response<()>,
    pub body: Bytes,
}

impl Answer {
    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.response.headers().get(name).map(|v| v.to_str().unwrap())
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.response.status().as_u16()
    }
}

/// Sends one request over a new HTTP/1.1 connection.
pub async fn send_h1(addr: SocketAddr, req: Request<Full<Bytes>>) -> hyper::Result<Answer> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    collect(sender.send_request(req).await?).await
}

/// Sends one request over a new cleartext HTTP/2 (prior knowledge) connection.
pub async fn send_h2c(addr: SocketAddr, req: Request<Full<Bytes>>) -> hyper::Result<Answer> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    collect(sender.send_request(req).await?).await
}

async fn collect(response: Response<hyper::body::Incoming>) -> hyper::Result<Answer> {
    let (head, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Answer {
        response: Response::from_parts(head, ()),
        body,
    })
}

/// A GET for `uri` with `Host: host` (HTTP/1) — for HTTP/2 give an absolute `uri`.
pub fn get(uri: &str, host: &str) -> Request<Full<Bytes>> {
    Request::get(uri)
        .header("host", host)
        .body(Full::new(Bytes::new()))
        .unwrap()
}
