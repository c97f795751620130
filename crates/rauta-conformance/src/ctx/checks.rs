//! The suite's assertions as methods of [`Ctx`]: statuses read from `/status` (route parents,
//! listeners, conditions and generations) and traffic (HTTP and gRPC expectations with the
//! eventual-consistency rule).

use std::net::{IpAddr, SocketAddr};

use anyhow::anyhow;
use serde_json::Value;

use super::{Ctx, cond, parent, set_parent};
use crate::converge;
use crate::expect::{Backend, Case};
use crate::grpc;
use crate::manifest::{self, Key};
use crate::rauta::{self, Rauta};
use crate::status::{self, Cond, ListenerExpect, ParentExpect};
use crate::tcp::{self, LineExpect, LineTls};

impl Ctx {
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

    /// `GatewayClass` / `Gateway` / `ListenerSet` conditions current and including `want`
    /// (`GatewayMustHaveCondition`, `ListenerSetMustHaveCondition`).
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

    /// `RoutesAndParentMustBeAccepted` for a ListenerSet: each route has an accepted parent entry
    /// of kind `ListenerSet` for it, and every listener of the ListenerSet is ResolvedRefs,
    /// Accepted and Programmed (its conditions current).
    pub async fn accepted_by_listener_set(&self, ls: &Key, routes: &[Key]) -> anyhow::Result<()> {
        let ns = ls.namespace.clone().unwrap_or_default();
        let parents = [set_parent(&ns, &ls.name, vec![status::ACCEPTED])];
        for r in routes {
            let required = r.namespace != ls.namespace;
            self.route_parents(r, &parents, required).await?;
        }
        let wants = [
            cond("ResolvedRefs", "True", ""),
            cond("Accepted", "True", ""),
            cond("Programmed", "True", ""),
        ];
        self.set_listeners_have(ls, &wants, &[]).await
    }

    /// The route has exactly `count` parent entries of the class's controller: its status names
    /// no parent its parentRefs do not.
    pub async fn route_parent_count(&self, r: &Key, count: usize) -> anyhow::Result<()> {
        let controller = self.controller().to_owned();
        self.wait_status(r, "parent entries", |s, _| {
            status::parents_of_controller(s, &controller, count)
        })
        .await
    }

    /// `GatewayMustHaveAttachedListeners`: `status.attachedListenerSets` (absent: 0) is `count`.
    pub async fn attached_listener_sets(&self, gw: &Key, count: i64) -> anyhow::Result<()> {
        self.wait_status(gw, "attached ListenerSets", |s, g| {
            status::attached_listener_sets(s, g, count)
        })
        .await
    }

    /// `ListenerSetListenersMustHaveConditions` (all listeners, or those in `only`): the
    /// ListenerSet's conditions are current and its listeners have all of `wants`.
    pub async fn set_listeners_have(&self, ls: &Key, wants: &[Cond], only: &[&str]) -> anyhow::Result<()> {
        self.wait_status(ls, "listener conditions", |s, g| {
            status::current(s, g)?;
            status::listeners_have(s, wants, only)
        })
        .await
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

    /// `HTTPRouteMustHaveCondition`: some parent entry for `gw` has `want` (the suite compares
    /// the name and namespace only, so `gw` may be a ListenerSet).
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

    /// `GatewayStatusMustHaveListeners`, and `ListenerSetStatusMustHaveListeners` when `gw` is a
    /// ListenerSet (its `listeners` have the same shape).
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

    /// The gRPC `MakeRequestAndExpectEventuallyConsistentFailure`: the call consistently ends
    /// with a code other than OK (an OK fails at once); a call that cannot be made is not ready.
    pub async fn expect_grpc_failure(&self, addr: SocketAddr, call: grpc::Call) -> anyhow::Result<()> {
        let fatal = std::sync::Mutex::new(None::<String>);
        let result = converge::await_convergence(self.timeouts(), || async {
            if fatal.lock().is_ok_and(|f| f.is_some()) {
                return Ok(());
            }
            let got = grpc::call(addr, &call).await?;
            if got.code == grpc::code::OK
                && let Ok(mut f) = fatal.lock()
            {
                *f = Some(format!("answered OK by pod {:?}", got.pod));
            }
            Ok(())
        })
        .await;
        match fatal.into_inner().ok().flatten() {
            Some(e) => Err(anyhow!("gRPC {} must fail but was {e}", call.method)),
            None => result.map_err(|e| anyhow!("gRPC {} (authority {:?}): {e}", call.method, call.authority)),
        }
    }

    /// `MakeRequestAndExpectFailure`.
    pub async fn expect_failure(&self, addr: SocketAddr, case: Case) -> anyhow::Result<()> {
        converge::expect_failure(self.timeouts(), addr, &case)
            .await
            .map_err(|e| anyhow!(e))
    }

    /// `MakeTLSRequestAndExpectEventuallyConsistentResponse`: [`Ctx::expect`], and a client
    /// certificate the case carries must have been asked for.
    pub async fn expect_tls(&self, addr: SocketAddr, case: Case) -> anyhow::Result<()> {
        converge::expect_response(self.timeouts(), addr, &case)
            .await
            .map_err(|e| anyhow!(e))?;
        client_cert_asked(&case)
    }

    /// `MakeTLSRequestAndExpectEventuallyConsistentFailureResponse`: the request consistently
    /// gets no HTTP answer, and a client certificate the case carries was asked for.
    pub async fn expect_tls_failure(&self, addr: SocketAddr, case: Case) -> anyhow::Result<()> {
        converge::expect_no_response(self.timeouts(), addr, &case)
            .await
            .map_err(|e| anyhow!(e))?;
        client_cert_asked(&case)
    }

    /// `MakeTCPRequestAndExpectEventuallyValidResponse`.
    pub async fn expect_line(
        &self,
        addr: SocketAddr,
        tls: Option<&LineTls>,
        expected: LineExpect,
    ) -> anyhow::Result<()> {
        tcp::expect_valid(self.timeouts(), addr, tls, &expected)
            .await
            .map_err(|e| anyhow!("TCP exchange with {addr} ({expected:?}): {e}"))
    }

    /// `MakeTLSConnectionAndExpectEventuallyConnectionRejection`.
    pub async fn expect_rejected(&self, addr: SocketAddr, server_name: &str) -> anyhow::Result<()> {
        tcp::expect_rejected(self.timeouts(), addr, server_name)
            .await
            .map_err(|e| anyhow!(e))
    }

    /// `BackendTLSPolicyMustHaveCondition`: every ancestor is current and the one for `gw` has
    /// `want`.
    pub async fn policy_condition(&self, policy: &Key, gw: &Key, want: Cond) -> anyhow::Result<()> {
        let ns = gw.namespace.clone().unwrap_or_default();
        self.wait_status(policy, &format!("{} on ancestor {}", want.type_, gw.name), |s, g| {
            status::ancestor_condition(s, g, &ns, &gw.name, &want)
        })
        .await
    }

    /// `BackendTLSPolicyMustHaveLatestConditions`, on the policy as read now (no waiting; a
    /// policy without status has no ancestor to be stale).
    pub async fn policy_latest_conditions(&self, policy: &Key) -> anyhow::Result<()> {
        match self.status_of(policy).await {
            Ok((s, g)) => status::ancestors_current(&s, g).map_err(|e| anyhow!("{policy}: {e}")),
            Err(e) if e.starts_with("no status for") => Ok(()),
            Err(e) => Err(anyhow!("{policy}: {e}")),
        }
    }
}

/// The suite asserts that a client certificate it set was presented (asked for by the server).
fn client_cert_asked(case: &Case) -> anyhow::Result<()> {
    match case.request.tls.as_ref().and_then(|t| t.client_cert.as_ref()) {
        Some(cert) if !cert.was_asked() => Err(anyhow!(
            "{}: the client certificate was not presented during the handshake",
            case.describe()
        )),
        _ => Ok(()),
    }
}
