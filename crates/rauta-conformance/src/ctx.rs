//! What a scenario works with: its resources (the store Rauta reads), the Rauta process, the
//! echo pods, and the suite's assertions as methods (`GatewayAndHTTPRoutesMustBeAccepted`,
//! `HTTPRouteMustHaveCondition`, `MakeRequestAndExpectEventuallyConsistentResponse`, …).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, anyhow};
use serde_json::Value;

use crate::certs::Certs;
use crate::converge::Timeouts;
use crate::expect::Backend;
use crate::manifest::{self, Key, Placeholders};
use crate::pods::{self, Pod, PodNetwork, Received};
use crate::rauta::Rauta;
use crate::status::{Cond, ParentExpect};
use crate::store::Store;

mod checks;
use crate::tls::{ClientCert, Trusted};

/// Namespace of the base Gateways and most backends.
pub const INFRA: &str = "gateway-conformance-infra";
/// Namespace of the app backends.
pub const APP: &str = "gateway-conformance-app-backend";
/// Namespace of the web backend.
pub const WEB: &str = "gateway-conformance-web-backend";

/// `infra-backend-v1`.
pub const V1: Backend = Backend {
    name: "infra-backend-v1",
    namespace: INFRA,
};
/// `infra-backend-v2`.
pub const V2: Backend = Backend {
    name: "infra-backend-v2",
    namespace: INFRA,
};
/// `infra-backend-v3`.
pub const V3: Backend = Backend {
    name: "infra-backend-v3",
    namespace: INFRA,
};
/// `web-backend`.
pub const WEB_BACKEND: Backend = Backend {
    name: "web-backend",
    namespace: WEB,
};
/// `app-backend-v1`.
pub const APP_V1: Backend = Backend {
    name: "app-backend-v1",
    namespace: APP,
};

/// A Gateway in the infra namespace.
pub fn gw(name: &str) -> Key {
    Key::new("Gateway", INFRA, name)
}

/// An HTTPRoute in the infra namespace.
pub fn route(name: &str) -> Key {
    Key::new("HTTPRoute", INFRA, name)
}

/// A GRPCRoute in the infra namespace.
pub fn grpc_route(name: &str) -> Key {
    Key::new("GRPCRoute", INFRA, name)
}

/// A TLSRoute in the infra namespace.
pub fn tls_route(name: &str) -> Key {
    Key::new("TLSRoute", INFRA, name)
}

/// A BackendTLSPolicy in the infra namespace.
pub fn policy(name: &str) -> Key {
    Key::new("BackendTLSPolicy", INFRA, name)
}

/// A ListenerSet in `namespace`.
pub fn listener_set(namespace: &str, name: &str) -> Key {
    Key::new("ListenerSet", namespace, name)
}

/// An HTTPRoute in `namespace`.
pub fn route_in(namespace: &str, name: &str) -> Key {
    Key::new("HTTPRoute", namespace, name)
}

/// What every test of a run shares.
#[derive(Debug)]
pub struct Shared {
    /// The `rauta` binary.
    pub binary: PathBuf,
    /// `conformance/`: base manifests and test manifests.
    pub manifests: PathBuf,
    /// Where each test gets a directory.
    pub work: PathBuf,
    /// Time limits.
    pub timeouts: Timeouts,
    /// Echo pods and what they received.
    pub network: PodNetwork,
    /// The base manifests (placeholders filled, Gateways without addresses yet).
    pub base: Vec<Value>,
    /// Pods of the base Deployments.
    pub base_pods: Vec<Pod>,
    /// The controller name of the class under test.
    pub controller: String,
    /// The certificates made at setup.
    pub certs: Certs,
}

/// The runner's per-test address block: `127.1.<slot>.0/24`.
#[derive(Debug)]
struct Addresses {
    slot: u8,
    gateways: HashMap<Key, IpAddr>,
}

impl Addresses {
    fn ip(&self, host: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 1, self.slot, host))
    }

    /// A Gateway's own IP: stable for the test, `.1` upwards in order of first sight.
    fn gateway(&mut self, key: &Key) -> IpAddr {
        let next = u8::try_from(self.gateways.len() + 1).unwrap_or(u8::MAX);
        let ip = self.ip(next);
        *self.gateways.entry(key.clone()).or_insert(ip)
    }
}

/// One test's world.
#[derive(Debug)]
pub struct Ctx {
    /// Official short name.
    pub name: &'static str,
    shared: Arc<Shared>,
    store: Mutex<Store>,
    addresses: Mutex<Addresses>,
    placeholders: Placeholders,
    test_pods: Mutex<Vec<Pod>>,
    rauta: Mutex<Option<Rauta>>,
    admin: SocketAddr,
    /// Sockets the test keeps busy (to make an address unusable).
    held: Mutex<Vec<std::net::TcpListener>>,
}

/// Files of the test directory, in the order Rauta reads them.
const BASE_FILE: &str = "00-base.yaml";
const ENDPOINTS_FILE: &str = "01-endpoints.yaml";
const TEST_FILE: &str = "10-test.yaml";

impl Ctx {
    /// Prepares the directory of test `name` in address block `slot` and writes the base
    /// manifests; Rauta is not started yet.
    pub fn new(name: &'static str, slot: u8, shared: Arc<Shared>) -> anyhow::Result<Self> {
        let dir = shared.work.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clean {}", dir.display()))?;
        }
        let store = Store::new(&dir.join("config")).with_context(|| format!("cannot create {}", dir.display()))?;
        let addresses = Addresses {
            slot,
            gateways: HashMap::new(),
        };
        let placeholders = Placeholders(vec![
            ("CONTROLLER_NAME".into(), shared.controller.clone()),
            ("USABLE_ADDRESS".into(), addresses.ip(201).to_string()),
            ("UNUSABLE_ADDRESS".into(), addresses.ip(200).to_string()),
        ]);
        let ctx = Self {
            name,
            admin: SocketAddr::new(addresses.ip(254), 19000),
            store: Mutex::new(store),
            addresses: Mutex::new(addresses),
            placeholders,
            test_pods: Mutex::new(Vec::new()),
            rauta: Mutex::new(None),
            held: Mutex::new(Vec::new()),
            shared,
        };
        // The block's unusable address: something else holds the port Gateways listen on there.
        ctx.hold(SocketAddr::new(ctx.ip(200), 8080))?;
        let base = ctx.shared.base.clone();
        let base = base.into_iter().map(|d| ctx.admit(d)).collect();
        ctx.lock_store()?.apply(BASE_FILE, base)?;
        ctx.sync_endpoints()?;
        Ok(ctx)
    }

    /// The test's directory.
    pub fn dir(&self) -> PathBuf {
        self.shared.work.join(self.name)
    }

    /// Time limits.
    pub fn timeouts(&self) -> &Timeouts {
        &self.shared.timeouts
    }

    /// The certificate (PEM) of the Secret `namespace/name` made at setup.
    pub fn cert(&self, namespace: &str, name: &str) -> anyhow::Result<Arc<Trusted>> {
        self.shared
            .certs
            .get(namespace, name)
            .ok_or_else(|| anyhow!("no certificate {namespace}/{name} was made"))
    }

    /// The certificate and key of the Secret `namespace/name` made at setup, as a client
    /// certificate the suite presents when asked.
    pub fn client_cert(&self, namespace: &str, name: &str) -> anyhow::Result<Arc<ClientCert>> {
        let pem = self
            .shared
            .certs
            .pem(namespace, name)
            .ok_or_else(|| anyhow!("no certificate {namespace}/{name} was made"))?;
        Ok(ClientCert::new(&pem.crt, &pem.key))
    }

    /// The certificate (PEM, `tls.crt`) of the Secret `namespace/name` made at setup
    /// (`GetTLSSecret`).
    pub fn tls_secret_crt(&self, namespace: &str, name: &str) -> anyhow::Result<String> {
        self.shared
            .certs
            .pem(namespace, name)
            .map(|p| p.crt)
            .ok_or_else(|| anyhow!("no certificate {namespace}/{name} was made"))
    }

    /// The CA certificate (PEM, `ca.crt`) of the ConfigMap `namespace/name` made at setup
    /// (`GetConfigMapData`).
    pub fn ca(&self, namespace: &str, name: &str) -> anyhow::Result<String> {
        self.shared
            .certs
            .ca(namespace, name)
            .ok_or_else(|| anyhow!("no CA ConfigMap {namespace}/{name} was made"))
    }

    /// The controller name route parents must carry.
    pub fn controller(&self) -> &str {
        &self.shared.controller
    }

    /// An address of the test's block (`127.1.<slot>.<host>`).
    pub fn ip(&self, host: u8) -> IpAddr {
        self.addresses
            .lock()
            .map(|a| a.ip(host))
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    fn lock_store(&self) -> anyhow::Result<std::sync::MutexGuard<'_, Store>> {
        self.store.lock().map_err(|_| anyhow!("store lock poisoned"))
    }

    /// What the API server and the runner do to a resource before Rauta sees it: Namespaces get
    /// their `kubernetes.io/metadata.name` label, Gateways their own address.
    fn admit(&self, mut doc: Value) -> Value {
        match manifest::str_at(&doc, "kind") {
            "Namespace" => manifest::label_namespace(&mut doc),
            "Gateway" => {
                if let Some(key) = Key::of(&doc)
                    && let Ok(mut addresses) = self.addresses.lock()
                {
                    let ip = addresses.gateway(&key);
                    manifest::assign_gateway_address(&mut doc, ip);
                }
            }
            _ => {}
        }
        doc
    }

    /// Whether `conformance/tests/<file>` exists.
    pub fn manifest_exists(&self, file: &str) -> bool {
        self.shared.manifests.join("tests").join(file).exists()
    }

    /// Applies `conformance/tests/<file>` (placeholders filled, Gateways given addresses,
    /// Deployments started as pods).
    pub async fn apply_file(&self, file: &str) -> anyhow::Result<()> {
        let path = self.shared.manifests.join("tests").join(file);
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        self.apply_yaml(&text, &path.display().to_string()).await
    }

    /// Applies manifests given as text.
    pub async fn apply_yaml(&self, text: &str, origin: &str) -> anyhow::Result<()> {
        let docs = manifest::parse(&self.placeholders.apply(text), origin)?;
        let docs: Vec<Value> = docs.into_iter().map(|d| self.admit(d)).collect();
        let mut started = Vec::new();
        for d in docs.iter().filter(|d| manifest::str_at(d, "kind") == "Deployment") {
            started.extend(self.shared.network.start(d, &self.shared.certs).await?);
        }
        self.test_pods
            .lock()
            .map_err(|_| anyhow!("pods lock poisoned"))?
            .extend(started);
        self.lock_store()?.apply(TEST_FILE, docs)?;
        self.sync_endpoints()
    }

    /// Changes a resource (a spec change bumps its generation), like a merge patch.
    pub fn patch(&self, key: &Key, edit: impl FnOnce(&mut Value)) -> anyhow::Result<()> {
        self.lock_store()?.patch(key, edit)?;
        if key.kind == "Service" {
            self.sync_endpoints()
        } else {
            Ok(())
        }
    }

    /// Deletes a resource.
    pub fn delete(&self, key: &Key) -> anyhow::Result<()> {
        self.lock_store()?.delete(key)
    }

    /// A resource as the runner last wrote it.
    pub fn resource(&self, key: &Key) -> anyhow::Result<Value> {
        self.lock_store()?.get(key).cloned().ok_or_else(|| anyhow!("no {key}"))
    }

    /// Rewrites the EndpointSlices of every Service with a selector.
    fn sync_endpoints(&self) -> anyhow::Result<()> {
        let test_pods = self.test_pods.lock().map_err(|_| anyhow!("pods lock poisoned"))?;
        let pods: Vec<&Pod> = self.shared.base_pods.iter().chain(test_pods.iter()).collect();
        let mut store = self.lock_store()?;
        let slices = pods::endpoint_slices(store.all("Service"), &pods);
        store.replace_file(ENDPOINTS_FILE, slices)?;
        Ok(())
    }

    /// The IPs of the pods of a Deployment (base or test).
    pub fn pod_ips(&self, namespace: &str, deployment: &str) -> Vec<IpAddr> {
        let prefix = format!("{deployment}-");
        let test_pods = self.test_pods.lock().map(|p| {
            p.iter()
                .map(|p| (p.namespace.clone(), p.name.clone(), p.ip))
                .collect::<Vec<_>>()
        });
        self.shared
            .base_pods
            .iter()
            .map(|p| (p.namespace.clone(), p.name.clone(), p.ip))
            .chain(test_pods.unwrap_or_default())
            .filter(|(ns, name, _)| ns == namespace && name.starts_with(&prefix))
            .map(|(_, _, ip)| ip)
            .collect()
    }

    /// Requests the echo pods received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.network.received()
    }

    /// Keeps `addr` bound so that nothing else can listen there.
    pub fn hold(&self, addr: SocketAddr) -> anyhow::Result<()> {
        let socket = std::net::TcpListener::bind(addr).with_context(|| format!("cannot hold {addr}"))?;
        self.held.lock().map_err(|_| anyhow!("lock poisoned"))?.push(socket);
        Ok(())
    }

    /// Starts Rauta on the test directory and waits until it serves.
    pub async fn start_rauta(&self) -> anyhow::Result<()> {
        let config = self.lock_store()?.dir().to_path_buf();
        let mut rauta = Rauta::spawn(&self.shared.binary, &config, self.admin, &self.dir().join("rauta.log"))?;
        rauta.wait_ready().await?;
        *self.rauta.lock().map_err(|_| anyhow!("lock poisoned"))? = Some(rauta);
        Ok(())
    }

    /// Stops Rauta.
    pub fn stop_rauta(&self) {
        if let Ok(mut r) = self.rauta.lock() {
            r.take();
        }
    }

    /// Where Rauta logs.
    pub fn rauta_log(&self) -> PathBuf {
        self.dir().join("rauta.log")
    }
}

/// An expected route parent: a Gateway.
pub fn parent(namespace: &str, name: &str, conditions: Vec<Cond>) -> ParentExpect {
    ParentExpect {
        kind: "Gateway",
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        conditions,
    }
}

/// An expected route parent: a ListenerSet.
pub fn set_parent(namespace: &str, name: &str, conditions: Vec<Cond>) -> ParentExpect {
    ParentExpect {
        kind: "ListenerSet",
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        conditions,
    }
}

pub use crate::status::cond;
