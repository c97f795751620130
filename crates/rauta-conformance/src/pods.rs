//! The pods of the conformance backends, run in-process: every Deployment of the manifests
//! becomes `replicas` echo servers, each on its own loopback IP with echo-basic's ports, and
//! every Service with a selector gets the EndpointSlice Kubernetes would derive from them.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use rauta_echo::{EchoConfig, EchoIdentity, EchoServer, EchoTls, RequestRecord, TlsFiles, TlsMode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::certs::Certs;
use crate::manifest::{Key, str_at};

/// echo-basic's plain HTTP port (HTTP/1.1 and h2c with prior knowledge), also the TCP mode's.
pub const HTTP_PORT: u16 = 3000;
/// echo-basic's strict h2c port: HTTP/1 requests without an h2c upgrade get 400.
pub const H2C_PORT: u16 = 3001;
/// echo-basic's TLS port (HTTPS, gRPC over TLS, or the TCP mode over TLS).
pub const TLS_PORT: u16 = 8443;

/// Which of echo-basic's modes a pod runs, from its environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Http,
    Grpc,
    Tcp,
}

impl Mode {
    /// The environment variable naming the private key in this mode: echo-basic's HTTP mode reads
    /// `TLS_SERVER_PRIVKEY`, its gRPC and TCP modes `TLS_SERVER_PRIV_KEY`.
    fn key_variable(self) -> &'static str {
        match self {
            Mode::Http => "TLS_SERVER_PRIVKEY",
            Mode::Grpc | Mode::Tcp => "TLS_SERVER_PRIV_KEY",
        }
    }

    fn tls_mode(self) -> TlsMode {
        match self {
            Mode::Http => TlsMode::Https,
            Mode::Grpc => TlsMode::Grpc,
            Mode::Tcp => TlsMode::Tcp,
        }
    }
}

/// One request an echo pod received.
#[derive(Clone, Debug)]
pub struct Received {
    /// Pod namespace.
    pub namespace: String,
    /// Pod labels (the suite finds mirror pods by `app`).
    pub labels: BTreeMap<String, String>,
    /// What the echo server recorded.
    pub record: RequestRecord,
    /// When.
    pub at: Instant,
}

/// Where pods live: IP allocation and the shared log of every request they received (the
/// runner's equivalent of reading pod logs).
#[derive(Debug)]
pub struct PodNetwork {
    next: AtomicU32,
    log: Arc<Mutex<Vec<Received>>>,
}

impl Default for PodNetwork {
    fn default() -> Self {
        Self::new()
    }
}

/// A running pod; dropping it stops its servers.
#[derive(Debug)]
pub struct Pod {
    /// Name, `<deployment>-<hash>-<suffix>` like the ones ReplicaSets create.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Labels of the pod template.
    pub labels: BTreeMap<String, String>,
    /// The pod's IP; its servers listen on echo-basic's ports there.
    pub ip: IpAddr,
    _stop: Vec<oneshot::Sender<()>>,
}

impl PodNetwork {
    /// A network allocating pod IPs from 127.2.0.1 upwards.
    pub fn new() -> Self {
        Self {
            next: AtomicU32::new(u32::from(Ipv4Addr::new(127, 2, 0, 1))),
            log: Arc::default(),
        }
    }

    /// Requests received so far (a copy).
    pub fn received(&self) -> Vec<Received> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Starts the pods of a Deployment; TLS pods read their certificates from `certs`, as the
    /// Secret volumes of their template name them.
    pub async fn start(&self, deployment: &Value, certs: &Certs) -> anyhow::Result<Vec<Pod>> {
        let key = Key::of(deployment).context("Deployment without a name")?;
        let namespace = key.namespace.clone().unwrap_or_default();
        let replicas = deployment
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        let labels: BTreeMap<String, String> = deployment
            .pointer("/spec/template/metadata/labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let env = container_env(deployment);
        if env.contains_key("UDP_ECHO_SERVER") {
            anyhow::bail!("{key}: echo setting UDP_ECHO_SERVER is not available in the standalone runner yet");
        }
        // gRPC mode is served on the HTTP port by the same echo server.
        let mode = if env.contains_key("GRPC_ECHO_SERVER") {
            Mode::Grpc
        } else if env.contains_key("TCP_ECHO_SERVER") {
            Mode::Tcp
        } else {
            Mode::Http
        };
        let tls = match (env.get("TLS_SERVER_CERT"), env.get(mode.key_variable())) {
            (Some(crt), Some(key_path)) if !crt.is_empty() && !key_path.is_empty() => {
                let certificate = volume_file(deployment, crt, certs, &namespace)?;
                let private_key = volume_file(deployment, key_path, certs, &namespace)?;
                // Client certificates are verified when given (echo-basic's HTTP mode only).
                let client_cas = match env.get("TLS_CLIENT_CACERTS").filter(|p| !p.is_empty()) {
                    Some(path) if mode == Mode::Http => Some(volume_file(deployment, path, certs, &namespace)?),
                    _ => None,
                };
                let files = TlsFiles {
                    certificate,
                    private_key,
                    client_cas,
                    require_client_cert: false,
                };
                Some(EchoTls::new(&files, mode.tls_mode()).with_context(|| format!("{key}: TLS"))?)
            }
            _ => None,
        };
        let mut pods = Vec::new();
        for replica in 0..replicas {
            let name = pod_name(&key.name, replica);
            let identity = EchoIdentity {
                namespace: namespace.clone(),
                pod: name.clone(),
                service: env.get("SERVICE_NAME").cloned().unwrap_or_default(),
                ingress: String::new(),
            };
            pods.push(
                self.start_pod(identity, labels.clone(), mode, tls.clone())
                    .await
                    .with_context(|| format!("{key}: pod {name}"))?,
            );
        }
        Ok(pods)
    }

    async fn start_pod(
        &self,
        identity: EchoIdentity,
        labels: BTreeMap<String, String>,
        mode: Mode,
        tls: Option<EchoTls>,
    ) -> anyhow::Result<Pod> {
        let mut ports = match mode {
            Mode::Http | Mode::Grpc => vec![HTTP_PORT, H2C_PORT],
            Mode::Tcp => vec![HTTP_PORT],
        };
        if tls.is_some() {
            ports.push(TLS_PORT);
        }
        let (ip, listeners) = self.bind_pod(&ports).await?;
        let log = self.log.clone();
        let (namespace, pod_labels) = (identity.namespace.clone(), labels.clone());
        let base = EchoConfig::new(identity.clone()).with_request_log(move |record| {
            let received = Received {
                namespace: namespace.clone(),
                labels: pod_labels.clone(),
                record: record.clone(),
                at: Instant::now(),
            };
            if let Ok(mut log) = log.lock() {
                log.push(received);
            }
        });
        let mut stops = Vec::new();
        for (listener, port) in listeners.into_iter().zip(ports) {
            let mut config = base.clone();
            let (stop, stopped) = oneshot::channel::<()>();
            let shutdown = async {
                let _ = stopped.await;
            };
            let served = match (mode, port) {
                (_, TLS_PORT) => {
                    // echo-basic reports its HTTP (or TCP) port and, in TCP mode, its TLS port.
                    config.port = Some(HTTP_PORT.to_string());
                    config.tls_port = (mode == Mode::Tcp).then(|| TLS_PORT.to_string());
                    let Some(tls) = tls.clone() else { continue };
                    tokio::spawn(async move { EchoServer::new(config).serve_tls(listener, tls, shutdown).await })
                }
                (Mode::Tcp, _) => {
                    config.tls_port = Some(TLS_PORT.to_string());
                    tokio::spawn(async move { EchoServer::new(config).serve_tcp(listener, shutdown).await })
                }
                (_, port) => {
                    config.strict_h2c = port == H2C_PORT;
                    tokio::spawn(async move { EchoServer::new(config).serve_http(listener, shutdown).await })
                }
            };
            tokio::spawn(async move {
                if let Ok(Err(e)) = served.await {
                    tracing::warn!(error = %e, "echo server stopped");
                }
            });
            stops.push(stop);
        }
        Ok(Pod {
            name: identity.pod,
            namespace: identity.namespace,
            labels,
            ip,
            _stop: stops,
        })
    }

    /// Binds `ports` on a fresh IP, skipping IPs something else holds.
    async fn bind_pod(&self, ports: &[u16]) -> anyhow::Result<(IpAddr, Vec<TcpListener>)> {
        let mut last_error = None;
        'ips: for _ in 0..64 {
            let ip = IpAddr::V4(Ipv4Addr::from(self.next.fetch_add(1, Ordering::Relaxed)));
            let mut bound = Vec::new();
            for port in ports {
                match TcpListener::bind(SocketAddr::new(ip, *port)).await {
                    Ok(l) => bound.push(l),
                    Err(e) => {
                        last_error = Some(e);
                        continue 'ips;
                    }
                }
            }
            return Ok((ip, bound));
        }
        Err(anyhow::anyhow!("no free pod IP: {last_error:?}"))
    }
}
/// `<deployment>-<10 characters>-<5 characters>`: the suite strips the last two segments to tell
/// backends apart in weight checks, so the shape matters.
fn pod_name(deployment: &str, replica: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut hasher = DefaultHasher::new();
    deployment.hash(&mut hasher);
    let template = hasher.finish();
    let pick = |seed: u64, len: usize| -> String {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(ALPHABET[usize::try_from(x % 27).unwrap_or(0)])
            })
            .collect()
    };
    format!(
        "{deployment}-{}-{}",
        pick(template, 10),
        pick(template.wrapping_add(replica + 1), 5)
    )
}

/// The content of the file at `path` in the first container, read from the Secret or ConfigMap
/// volume mounted there (`items` mapping keys to file names, or the keys themselves): a Secret's
/// `tls.crt`/`tls.key`, a CA ConfigMap's `ca.crt`, as made at setup.
fn volume_file(deployment: &Value, path: &str, certs: &Certs, namespace: &str) -> anyhow::Result<String> {
    let spec = deployment
        .pointer("/spec/template/spec")
        .ok_or_else(|| anyhow::anyhow!("no pod template"))?;
    let mounts = spec
        .pointer("/containers/0/volumeMounts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let (volume, file) = mounts
        .iter()
        .find_map(|m| {
            let dir = str_at(m, "mountPath").trim_end_matches('/');
            let file = path.strip_prefix(dir)?.strip_prefix('/')?;
            Some((str_at(m, "name"), file))
        })
        .ok_or_else(|| anyhow::anyhow!("{path} is on no mounted volume"))?;
    let volume = spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|v| str_at(v, "name") == volume)
        .ok_or_else(|| anyhow::anyhow!("no volume {volume}"))?;
    let key_of = |source: &Value| {
        source
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|i| str_at(i, "path") == file)
            .map_or(file, |i| str_at(i, "key"))
            .to_owned()
    };
    if let Some(secret) = volume.get("secret") {
        let name = str_at(secret, "secretName");
        let pem = certs
            .pem(namespace, name)
            .ok_or_else(|| anyhow::anyhow!("Secret {namespace}/{name} was not made at setup"))?;
        return match key_of(secret).as_str() {
            "tls.crt" => Ok(pem.crt),
            "tls.key" => Ok(pem.key),
            other => Err(anyhow::anyhow!("Secret {namespace}/{name} has no key {other}")),
        };
    }
    if let Some(config_map) = volume.get("configMap") {
        let name = str_at(config_map, "name");
        let ca = certs
            .ca(namespace, name)
            .ok_or_else(|| anyhow::anyhow!("CA ConfigMap {namespace}/{name} was not made at setup"))?;
        return match key_of(config_map).as_str() {
            "ca.crt" => Ok(ca),
            other => Err(anyhow::anyhow!("ConfigMap {namespace}/{name} has no key {other}")),
        };
    }
    Err(anyhow::anyhow!(
        "volume {} is neither a Secret nor a ConfigMap",
        str_at(volume, "name")
    ))
}

/// The first container's literal environment variables.
fn container_env(deployment: &Value) -> BTreeMap<String, String> {
    deployment
        .pointer("/spec/template/spec/containers/0/env")
        .and_then(Value::as_array)
        .map(|env| {
            env.iter()
                .filter_map(|e| Some((e.get("name")?.as_str()?.to_owned(), str_at(e, "value").to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The EndpointSlice of every Service with a selector, listing the pods it selects, as the
/// EndpointSlice controller would write it (one slice per Service; ports by Service port name,
/// `targetPort` resolved, `appProtocol` copied).
pub fn endpoint_slices<'a>(services: impl Iterator<Item = &'a Value>, pods: &[&Pod]) -> Vec<Value> {
    let mut slices = Vec::new();
    for service in services {
        let Some(key) = Key::of(service) else { continue };
        let namespace = key.namespace.clone().unwrap_or_default();
        let Some(selector) = service
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        let selected: Vec<&&Pod> = pods
            .iter()
            .filter(|p| p.namespace == namespace)
            .filter(|p| {
                selector
                    .iter()
                    .all(|(k, v)| p.labels.get(k).map(String::as_str) == v.as_str())
            })
            .collect();
        let ports: Vec<Value> = service
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                let target = p
                    .get("targetPort")
                    .and_then(Value::as_u64)
                    .or_else(|| p.get("port").and_then(Value::as_u64));
                let mut port = json!({"port": target, "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP"))});
                if let Some(name) = p.get("name") {
                    port["name"] = name.clone();
                }
                if let Some(app) = p.get("appProtocol") {
                    port["appProtocol"] = app.clone();
                }
                port
            })
            .collect();
        let endpoints: Vec<Value> = selected
            .iter()
            .map(|p| {
                json!({
                    "addresses": [p.ip.to_string()],
                    "conditions": {"ready": true, "serving": true, "terminating": false},
                    "targetRef": {"kind": "Pod", "name": p.name, "namespace": p.namespace},
                })
            })
            .collect();
        slices.push(json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": format!("{}-runner", key.name),
                "namespace": namespace,
                "labels": {"kubernetes.io/service-name": key.name},
            },
            "addressType": "IPv4",
            "ports": ports,
            "endpoints": endpoints,
        }));
    }
    slices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names_look_like_replica_set_pods() {
        let a = pod_name("infra-backend-v1", 0);
        let b = pod_name("infra-backend-v1", 1);
        assert_ne!(a, b);
        assert!(a.starts_with("infra-backend-v1-"));
        let segments: Vec<&str> = a.rsplitn(3, '-').collect();
        assert_eq!(
            (segments[0].len(), segments[1].len(), segments[2]),
            (5, 10, "infra-backend-v1")
        );
        assert_eq!(a.rsplit('-').nth(1), b.rsplit('-').nth(1), "same template hash");
    }

    #[test]
    fn slices_select_pods_and_resolve_ports() {
        let pod = |name: &str, app: &str, ip: &str| Pod {
            name: name.into(),
            namespace: "ns".into(),
            labels: [("app".to_owned(), app.to_owned())].into(),
            ip: ip.parse().unwrap(),
            _stop: Vec::new(),
        };
        let (a, b, c) = (
            pod("a-x-y", "a", "127.2.0.1"),
            pod("a-x-z", "a", "127.2.0.2"),
            pod("b-x-y", "b", "127.2.0.3"),
        );
        let service = json!({"kind": "Service", "metadata": {"name": "a", "namespace": "ns"}, "spec": {
            "selector": {"app": "a"},
            "ports": [{"name": "h2", "port": 8081, "targetPort": 3001, "appProtocol": "kubernetes.io/h2c"}, {"port": 8080, "targetPort": 3000}]}});
        let manual =
            json!({"kind": "Service", "metadata": {"name": "m", "namespace": "ns"}, "spec": {"ports": [{"port": 80}]}});
        let slices = endpoint_slices([&service, &manual].into_iter(), &[&a, &b, &c]);
        assert_eq!(slices.len(), 1, "no slice for a Service without selector");
        let s = &slices[0];
        assert_eq!(s["metadata"]["labels"]["kubernetes.io/service-name"], "a");
        assert_eq!(
            s["ports"],
            json!([{"name": "h2", "port": 3001, "protocol": "TCP", "appProtocol": "kubernetes.io/h2c"}, {"port": 3000, "protocol": "TCP"}])
        );
        let ips: Vec<&str> = s["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["addresses"][0].as_str().unwrap())
            .collect();
        assert_eq!(ips, ["127.2.0.1", "127.2.0.2"]);
    }
}
