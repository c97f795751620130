//! End-to-end harness: the real `rauta` binary on loopback, real echo backends, a real client.

#![allow(dead_code)] // each test file uses a different part of the harness

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rauta_echo::{EchoConfig, EchoIdentity, EchoServer, RequestRecord};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

mod ports;
pub use ports::free_port;

/// An in-process echo backend that records every request it answers.
pub struct Backend {
    pub addr: SocketAddr,
    pub records: Arc<Mutex<Vec<RequestRecord>>>,
    _stop: oneshot::Sender<()>,
}

impl Backend {
    /// Starts an echo backend reporting `service` and `pod`.
    pub async fn start(service: &str, pod: &str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
        let addr = listener.local_addr().expect("echo address");
        let records = Arc::new(Mutex::new(Vec::new()));
        let sink = records.clone();
        let identity = EchoIdentity {
            namespace: "default".into(),
            pod: pod.into(),
            service: service.into(),
            ..Default::default()
        };
        let config = EchoConfig::new(identity).with_request_log(move |r| sink.lock().unwrap().push(r.clone()));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = EchoServer::new(config)
                .serve_http(listener, async {
                    let _ = stopped.await;
                })
                .await;
        });
        Backend {
            addr,
            records,
            _stop: stop,
        }
    }

    /// Paths (with query) this backend answered so far.
    pub fn paths(&self) -> Vec<String> {
        self.records.lock().unwrap().iter().map(|r| r.uri.clone()).collect()
    }
}

/// GatewayClass + Gateway `gw` (namespace default) with one HTTP listener on `port` accepting
/// routes from all namespaces.
pub fn gateway_yaml(port: u16) -> String {
    format!(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: rauta}}
spec: {{controllerName: rauta.io/gateway-controller}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  gatewayClassName: rauta
  listeners:
  - name: http
    protocol: HTTP
    port: {port}
    allowedRoutes: {{namespaces: {{from: All}}}}
"#
    )
}

/// Service `name` (port 80, optional appProtocol) in `default` with one endpoint: `addr`.
pub fn service_yaml(name: &str, addr: SocketAddr, app_protocol: Option<&str>) -> String {
    let app = app_protocol
        .map(|p| format!("\n    appProtocol: {p}"))
        .unwrap_or_default();
    format!(
        r#"
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec:
  ports:
  - name: http
    port: 80{app}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}
  namespace: default
  labels: {{kubernetes.io/service-name: {name}}}
addressType: IPv4
ports:
- name: http
  port: {port}
endpoints:
- addresses: ["{ip}"]
"#,
        port = addr.port(),
        ip = addr.ip()
    )
}

/// HTTPRoute `name` in `default` on Gateway `gw`: one rule, PathPrefix `path`, to Service
/// `service` port 80; `rule_extra` is more YAML of that rule (e.g. its `filters:`), indented
/// to match.
pub fn http_route(name: &str, path: &str, service: &str, rule_extra: &str) -> String {
    http_route_rule(
        name,
        path,
        &format!("    backendRefs: [{{name: {service}, port: 80}}]\n{rule_extra}"),
    )
}

/// HTTPRoute `name` in `default` on Gateway `gw`: one rule, PathPrefix `path`, the rest of
/// the rule (`backendRefs`, `filters`, …) in `rule_rest`.
pub fn http_route_rule(name: &str, path: &str, rule_rest: &str) -> String {
    format!(
        r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: default}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: {path}}}}}]
{rule_rest}
"#
    )
}

/// A running `rauta run -f DIR`.
pub struct Rauta {
    child: Child,
    pub dir: tempfile::TempDir,
    pub admin: SocketAddr,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as the echo backend's JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// A request header as the echo backend saw it (first value).
    pub fn echoed_header(&self, name: &str) -> Option<String> {
        let json = self.json();
        let headers = json.get("headers")?.as_object()?;
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_array()?.first()?.as_str().map(str::to_owned))
    }
}

fn collect(stream: impl std::io::Read + Send + 'static, sink: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
}

impl Rauta {
    /// Writes `yaml` to `config.yaml` in a new directory and serves it.
    pub async fn start(yaml: &str) -> Rauta {
        Self::start_with(yaml, &[]).await
    }

    /// Same, with extra command-line arguments.
    pub async fn start_with(yaml: &str, extra: &[&str]) -> Rauta {
        Self::start_with_env(yaml, extra, &[]).await
    }

    /// Same, with extra environment variables for the process.
    pub async fn start_with_env(yaml: &str, extra: &[&str], env: &[(&str, &str)]) -> Rauta {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("config.yaml"), yaml).expect("write config");
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_rauta"))
            .args(["run", "-f"])
            .arg(dir.path())
            .args(["--admin-address", &admin.to_string(), "--drain-timeout", "5s"])
            .args(extra)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rauta");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().unwrap(), stdout.clone());
        collect(child.stderr.take().unwrap(), stderr.clone());
        let client = Client::builder(TokioExecutor::new()).build_http();
        let rauta = Rauta {
            child,
            dir,
            admin,
            stdout,
            stderr,
            client,
        };
        rauta.wait_ready().await;
        rauta
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self
                .admin_get("/ready")
                .await
                .is_ok_and(|reply| reply.status == StatusCode::OK)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("rauta never became ready; stderr:\n{}", self.stderr_text());
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything rauta logged so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// A GET on the admin server.
    pub async fn admin_get(&self, path: &str) -> Result<Reply, String> {
        let uri = format!("http://{}{path}", self.admin);
        let req = Request::get(uri).body(Full::new(Bytes::new())).unwrap();
        send(&self.client, req).await
    }

    /// `/status` as JSON.
    pub async fn status(&self) -> Value {
        let reply = self.admin_get("/status").await.expect("status");
        serde_json::from_slice(&reply.body).expect("status JSON")
    }

    /// The status of one resource.
    pub async fn status_of(&self, kind: &str, name: &str) -> Value {
        let all = self.status().await;
        all.as_array()
            .and_then(|a| a.iter().find(|s| s["kind"] == kind && s["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no status for {kind} {name} in {all:#}"))
    }

    /// Sends `method path` with `Host: host` and extra headers to the gateway on `port`.
    pub async fn request(&self, port: u16, method: Method, host: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1:{port}{path}"))
            .header("host", host);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let req = builder.body(Full::new(Bytes::new())).unwrap();
        send(&self.client, req)
            .await
            .unwrap_or_else(|e| panic!("request {path} failed: {e}; stderr:\n{}", self.stderr_text()))
    }

    /// A GET with `Host: host`.
    pub async fn get(&self, port: u16, host: &str, path: &str) -> Reply {
        self.request(port, Method::GET, host, path, &[]).await
    }

    /// Replaces `config.yaml`, the way an editor saves (write a temporary file, then rename).
    pub fn rewrite(&self, yaml: &str) {
        write_atomically(&self.dir.path().join("config.yaml"), yaml);
    }

    /// Polls `check` until it holds (reloads are asynchronous), or panics after 10 s.
    pub async fn eventually<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("never happened: {what}; stderr:\n{}", self.stderr_text());
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit (up to `timeout`) and returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Rauta {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `text` to `path` through a temporary file and a rename.
pub fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// Sends a request and reads the whole response.
pub async fn send(client: &Client<HttpConnector, Full<Bytes>>, req: Request<Full<Bytes>>) -> Result<Reply, String> {
    let response = tokio::time::timeout(Duration::from_secs(15), client.request(req))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| format!("{e:?}"))?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}
