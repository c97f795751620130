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
use crate::converge::{self, Timeouts};
use crate::expect::{Backend, Case};
use crate::grpc;
use crate::manifest::{self, Key, Placeholders};
use crate::pods::{self, Pod, PodNetwork, Received};
use crate::rauta::{self, Rauta};
use crate::status::{self, Cond, ListenerExpect, ParentExpect};
use crate::store::Store;
use crate::tls::Trusted;

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
            started.extend(self.shared.network.start(d).await?);
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

    async fn statuses(&self) -> Result<Vec<Value>, String> {
        match rauta::statuses(self.admin).await {
            Ok(s) => Ok(s),
            Err(e) => {
                let exited = self
                    .rauta
                    .lock()
                    .ok()
                    .and_then(|mut r| r.as_mut().and_then(Rauta::exited));
                Err(exited.unwrap_or(e))
            }
        }
    }

    /// The status of `key` and the generation it should be at.
    async fn status_of(&self, key: &Key) -> Result<(Value, i64), String> {
        let generation = self
            .store
            .lock()
            .map_err(|_| "store lock poisoned".to_owned())?
            .generation(key)
            .ok_or_else(|| format!("{key} does not exist"))?;
        let all = self.statuses().await?;
        let entry = all
            .iter()
            .find(|e| {
                e.get("kind").and_then(Value::as_str) == Some(key.kind.as_str())
                    && e.get("name").and_then(Value::as_str) == Some(key.name.as_str())
                    && e.get("namespace").and_then(Value::as_str) == key.namespace.as_deref()
            })
            .ok_or_else(|| format!("no status for {key}"))?;
        Ok((entry.get("status").cloned().unwrap_or(Value::Null), generation))
    }

    /// Polls the status of `key` until `check` holds.
    pub async fn wait_status<F>(&self, key: &Key, what: &str, check: F) -> anyhow::Result<()>
    where
        F: Fn(&Value, i64) -> Result<(), String>,
    {
        converge::eventually(self.timeouts(), || async {
            let (status, generation) = self.status_of(key).await?;
            check(&status, generation)
        })
        .await
        .map_err(|e| anyhow!("{key}: {what}: {e}"))
    }

    /// `GatewayClass` / `Gateway` conditions current and including `want`.
    pub async fn condition(&self, key: &Key, want: Cond) -> anyhow::Result<()> {
        self.wait_status(key, &format!("{} condition", want.type_), |s, g| {
            status::resource_condition(s, g, &want)
        })
        .await
    }

    /// Every condition of `key` at the current generation (`…MustHaveLatestConditions`).
    pub async fn latest_conditions(&self, key: &Key) -> anyhow::Result<()> {
        self.wait_status(key, "latest conditions", status::current).await
    }

    /// `HTTPRouteMustHaveLatestConditions`: every parent entry's conditions are current.
    pub async fn latest_conditions_of_parents(&self, r: &Key) -> anyhow::Result<()> {
        self.wait_status(r, "latest parent conditions", |s, g| {
            let parents = s
                .get("parents")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            parents.iter().try_for_each(|p| status::current(p, g))
        })
        .await
    }

    /// The generation the runner gave a resource.
    pub fn generation(&self, key: &Key) -> anyhow::Result<i64> {
        self.lock_store()?.generation(key).ok_or_else(|| anyhow!("no {key}"))
    }

    /// The Gateway's address joined with the port of its first listener (or of `listener`).
    pub async fn gateway_address(&self, gw: &Key, listener: Option<&str>) -> anyhow::Result<SocketAddr> {
        let spec = self.resource(gw)?;
        let listeners = spec
            .pointer("/spec/listeners")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let chosen = listener
            .and_then(|name| {
                listeners
                    .iter()
                    .find(|l| l.get("name").and_then(Value::as_str) == Some(name))
            })
            .or(listeners.first())
            .ok_or_else(|| anyhow!("{gw} has no listener"))?;
        let port = chosen
            .get("port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(80);
        let address = std::sync::Mutex::new(String::new());
        self.wait_status(gw, "an address in status", |s, g| {
            let a = status::gateway_address(s, g)?;
            if let Ok(mut slot) = address.lock() {
                *slot = a;
            }
            Ok(())
        })
        .await?;
        let address = address.into_inner().unwrap_or_default();
        let ip: IpAddr = address
            .parse()
            .map_err(|_| anyhow!("{gw}: status address {address:?} is not an IP"))?;
        Ok(SocketAddr::new(ip, port))
    }

    /// `GatewayAndHTTPRoutesMustBeAccepted`: the Gateway has an address (the port of the first
    /// listener of `sections`, or of the Gateway), each route has an accepted parent entry for it
    /// (whose `sectionName` the suite does not compare), and every listener of the Gateway is
    /// ResolvedRefs, Accepted and Programmed.
    pub async fn accepted(&self, gw: &Key, sections: &[&str], routes: &[Key]) -> anyhow::Result<SocketAddr> {
        let addr = self.gateway_address(gw, sections.first().copied()).await?;
        let gw_ns = gw.namespace.clone().unwrap_or_default();
        let parents = [parent(&gw_ns, &gw.name, vec![status::ACCEPTED])];
        for r in routes {
            let required = r.namespace != gw.namespace;
            self.route_parents(r, &parents, required).await?;
        }
        let wants = [
            cond("ResolvedRefs", "True", ""),
            cond("Accepted", "True", ""),
            cond("Programmed", "True", ""),
        ];
        self.listeners_have(gw, &wants, &[]).await?;
        Ok(addr)
    }

    /// `RouteMustHaveParents`.
    pub async fn route_parents(
        &self,
        r: &Key,
        parents: &[ParentExpect],
        namespace_required: bool,
    ) -> anyhow::Result<()> {
        let controller = self.controller().to_owned();
        self.wait_status(r, "parents", |s, g| {
            status::route_parents(s, g, &controller, parents, namespace_required)
        })
        .await
    }

    /// `HTTPRouteMustHaveCondition`: some parent entry for `gw` has `want`.
    pub async fn route_condition(&self, r: &Key, gw: &Key, want: Cond) -> anyhow::Result<()> {
        let ns = gw.namespace.clone().unwrap_or_default();
        self.wait_status(r, &format!("{} on parent {}", want.type_, gw.name), |s, g| {
            status::route_condition(s, g, &ns, &gw.name, &want)
        })
        .await
    }

    /// `HTTPRouteMustHaveResolvedRefsConditionsTrue`.
    pub async fn route_resolved(&self, r: &Key, gw: &Key) -> anyhow::Result<()> {
        self.route_condition(r, gw, status::RESOLVED_REFS).await
    }

    /// `HTTPRouteMustHaveNoAcceptedParents`: no parent entry (seen twice) or one not accepted.
    pub async fn route_not_accepted(&self, r: &Key) -> anyhow::Result<()> {
        let empty_seen = std::sync::atomic::AtomicBool::new(false);
        self.wait_status(
            r,
            "no accepted parents",
            |s, g| match status::route_no_accepted_parents(s, g)? {
                true if !empty_seen.swap(true, std::sync::atomic::Ordering::Relaxed) => Err("empty once".to_owned()),
                _ => Ok(()),
            },
        )
        .await
    }

    /// `GatewayStatusMustHaveListeners`.
    pub async fn gateway_listeners(&self, gw: &Key, expected: &[ListenerExpect]) -> anyhow::Result<()> {
        self.wait_status(gw, "listener statuses", |s, g| {
            status::gateway_listeners(s, g, expected)
        })
        .await
    }

    /// `GatewayMustHaveZeroRoutes`.
    pub async fn gateway_zero_routes(&self, gw: &Key) -> anyhow::Result<()> {
        self.wait_status(gw, "zero attached routes", status::gateway_zero_routes)
            .await
    }

    /// `GatewayListenersMustHaveConditions` (all listeners, or those in `only`).
    pub async fn listeners_have(&self, gw: &Key, wants: &[Cond], only: &[&str]) -> anyhow::Result<()> {
        self.wait_status(gw, "listener conditions", |s, _| status::listeners_have(s, wants, only))
            .await
    }

    /// `NamespacesMustBeReady` for the Gateways: every Gateway of `namespace` that is not
    /// annotated `gateway-api/skip-this-for-readiness` is current, Accepted and Programmed.
    pub async fn namespace_ready(&self, namespace: &str) -> anyhow::Result<()> {
        let gateways: Vec<Key> = {
            let store = self.lock_store()?;
            store
                .all("Gateway")
                .filter(|g| manifest::str_at(g, "metadata.namespace") == namespace)
                .filter(|g| {
                    g.pointer("/metadata/annotations/gateway-api~1skip-this-for-readiness")
                        .and_then(Value::as_str)
                        != Some("true")
                })
                .filter_map(Key::of)
                .collect()
        };
        for g in gateways {
            self.condition(&g, cond("Accepted", "True", "")).await?;
            self.condition(&g, cond("Programmed", "True", "")).await?;
        }
        Ok(())
    }

    /// `MakeRequestAndExpectEventuallyConsistentResponse`.
    pub async fn expect(&self, addr: SocketAddr, case: Case) -> anyhow::Result<()> {
        converge::expect_response(self.timeouts(), addr, &case)
            .await
            .map_err(|e| anyhow!(e))
    }

    /// Every case at once (the suite runs them as parallel subtests); fails with every failure.
    pub async fn expect_all(&self, addr: SocketAddr, cases: Vec<Case>) -> anyhow::Result<()> {
        let results = futures_util::future::join_all(
            cases
                .iter()
                .map(|c| converge::expect_response(self.timeouts(), addr, c)),
        )
        .await;
        let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(anyhow!(
                "{} of {} requests failed:\n  {}",
                failures.len(),
                cases.len(),
                failures.join("\n  ")
            ))
        }
    }

    /// The gRPC form of `MakeRequestAndExpectEventuallyConsistentResponse`: the call ends with
    /// `code` and, when OK, was answered by a pod of `backend` (`""`: any) in `namespace`.
    pub async fn expect_grpc(
        &self,
        addr: SocketAddr,
        call: grpc::Call,
        code: u32,
        backend: Backend,
    ) -> anyhow::Result<()> {
        converge::await_convergence(self.timeouts(), || async {
            let got = grpc::call(addr, &call).await?;
            grpc::compare(&call, code, backend.name, backend.namespace, &got)
        })
        .await
        .map_err(|e| {
            anyhow!(
                "gRPC {} (authority {:?}, metadata {:?}): {e}",
                call.method,
                call.authority,
                call.metadata
            )
        })
    }

    /// `MakeRequestAndExpectFailure`.
    #[allow(dead_code)] // for the BackendTLSPolicy scenarios to come
    pub async fn expect_failure(&self, addr: SocketAddr, case: Case) -> anyhow::Result<()> {
        converge::expect_failure(self.timeouts(), addr, &case)
            .await
            .map_err(|e| anyhow!(e))
    }
}

/// An expected route parent.
pub fn parent(namespace: &str, name: &str, conditions: Vec<Cond>) -> ParentExpect {
    ParentExpect {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        conditions,
    }
}

pub use crate::status::cond;
