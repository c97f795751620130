//! The statuses `/status` serves, with real `lastTransitionTime`s.
//!
//! The translator has no clock: it writes the Unix epoch into every condition. Here each condition
//! keeps the time of the previous status when its `status` did not change (Kubernetes semantics:
//! the time of the last transition), and gets the current time when it did or is new.
//!
//! Statuses are kept typed and shared with the translator ([`ResourceStatus`] behind an `Arc`),
//! with their transition times beside them: a status the translator handed over unchanged (the
//! same `Arc`) keeps its times without being looked at, so a reload that changes one route of
//! thousands does work for that route only, and the statuses are held once. `/status` renders
//! them as JSON when asked.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rauta_translate::{ConditionTarget, ResourceStatus};
use serde::{Serialize, Serializer};

/// Identity of one resource in `/status`: kind, namespace (empty for cluster-scoped), name.
type Key<'a> = (&'a str, &'a str, &'a str);

fn key_of(entry: &ResourceStatus) -> Key<'_> {
    (
        entry.kind.as_str(),
        entry.namespace.as_deref().unwrap_or_default(),
        entry.name.as_str(),
    )
}

/// One resource's status and the transition times of its conditions.
#[derive(Debug)]
pub struct StoredStatus {
    /// As translated (or as set here); its own `lastTransitionTime`s are not read.
    status: Arc<ResourceStatus>,
    /// Every condition's `lastTransitionTime`, in [`ResourceStatus::transition_times`] order.
    times: Arc<[Time]>,
}

impl StoredStatus {
    /// Keeps `status` with the transition times it carries.
    fn new(status: ResourceStatus) -> Self {
        Self {
            times: status.transition_times().into(),
            status: Arc::new(status),
        }
    }

    /// The status with its transition times.
    pub fn status(&self) -> ResourceStatus {
        let mut status = ResourceStatus::clone(&self.status);
        status.set_transition_times(&self.times);
        status
    }
}

/// Latest statuses by resource, plus the load errors of a rejected reload.
#[derive(Debug, Default)]
pub struct StatusStore {
    entries: RwLock<Vec<StoredStatus>>,
}

impl StatusStore {
    /// An empty store behind an `Arc`.
    pub fn shared() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Replaces every status with `entries`, carrying transition times over from the previous
    /// ones.
    pub fn replace(&self, entries: Vec<Arc<ResourceStatus>>, now: Timestamp) {
        let mut current = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let next: Vec<StoredStatus> = {
            let previous: HashMap<Key<'_>, &StoredStatus> = current.iter().map(|e| (key_of(&e.status), e)).collect();
            entries
                .into_iter()
                .map(|status| {
                    let before = previous.get(&key_of(&status)).copied();
                    match before {
                        // Unchanged since the last translation: so are its times.
                        Some(before) if Arc::ptr_eq(&before.status, &status) => StoredStatus {
                            status,
                            times: Arc::clone(&before.times),
                        },
                        before => {
                            let mut carried = ResourceStatus::clone(&status);
                            carried.carry_transition_times(before.map(|b| b.status()).as_ref(), now);
                            StoredStatus {
                                times: carried.transition_times().into(),
                                status,
                            }
                        }
                    }
                })
                .collect()
        };
        let old = std::mem::replace(&mut *current, next);
        drop(current);
        // Freed outside the lock: thousands of statuses take a while to drop.
        drop(old);
    }

    /// Marks resources whose latest version failed to load (the rest keep their statuses).
    pub fn mark_rejected(&self, rejected: Vec<ResourceStatus>, now: Timestamp) {
        let mut current = self.entries.write().unwrap_or_else(|e| e.into_inner());
        for mut entry in rejected {
            let position = current.iter().position(|e| key_of(&e.status) == key_of(&entry));
            let before = position.and_then(|i| current.get(i)).map(StoredStatus::status);
            entry.carry_transition_times(before.as_ref(), now);
            let entry = StoredStatus::new(entry);
            match position.and_then(|i| current.get_mut(i)) {
                Some(slot) => *slot = entry,
                None => current.push(entry),
            }
        }
    }

    /// Sets conditions of a Gateway or ListenerSet (and of some of its listeners) to False: what
    /// only serving can find out, such as an address that cannot be bound.
    pub fn set_false(&self, update: ConditionUpdate<'_>, now: Timestamp) {
        let mut current = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let Some(stored) = current
            .iter_mut()
            .find(|e| key_of(&e.status) == (update.kind, update.namespace, update.name))
        else {
            return;
        };
        let mut entry = stored.status();
        if let Some((kind, reason)) = update.resource_condition {
            entry.set_false(ConditionTarget::Resource, kind, reason, update.message, now);
        }
        for section in update.sections {
            for (kind, reason) in update.listener_conditions {
                entry.set_false(ConditionTarget::Listener(section), kind, reason, update.message, now);
            }
        }
        *stored = StoredStatus::new(entry);
    }

    /// Calls `f` with every entry, in translation order, without copying them.
    pub fn with_entries<R>(&self, f: impl FnOnce(&[StoredStatus]) -> R) -> R {
        f(&self.entries.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// A copy of every entry, in translation order.
    #[cfg(test)]
    pub fn snapshot(&self) -> Vec<serde_json::Value> {
        self.with_entries(|entries| entries.iter().map(|e| e.status().to_json()).collect())
    }
}

/// Entries rendered as `/status` serves them: a JSON list of `{kind, name, namespace, status}`
/// objects with sorted keys. Each entry goes through a JSON tree of its own, one at a time.
pub struct Rendered<'a>(pub &'a [StoredStatus]);

impl Serialize for Rendered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|e| e.status().to_json()))
    }
}

/// Conditions to set False on a Gateway or ListenerSet and some of its listeners.
#[derive(Debug)]
pub struct ConditionUpdate<'a> {
    /// `Gateway` or `ListenerSet`.
    pub kind: &'a str,
    /// Namespace of the resource.
    pub namespace: &'a str,
    /// Name of the resource.
    pub name: &'a str,
    /// The resource's own condition type and reason, if the resource itself is affected.
    pub resource_condition: Option<(&'a str, &'a str)>,
    /// Listener names affected.
    pub sections: &'a [&'a str],
    /// Listener condition types and reasons.
    pub listener_conditions: &'a [(&'a str, &'a str)],
    /// Message for every condition set.
    pub message: &'a str,
}

#[cfg(test)]
mod tests {
    use rauta_translate::Status;
    use serde_json::json;

    use super::*;

    fn at(time: &str) -> Timestamp {
        time.parse().unwrap()
    }

    fn route(status: &str, reason: &str) -> ResourceStatus {
        ResourceStatus {
            kind: "HTTPRoute".into(),
            namespace: Some("default".into()),
            name: "r".into(),
            status: Status::Route(
                serde_json::from_value(json!({"parents": [
                    {"parentRef": {"name": "gw"}, "controllerName": "c", "conditions": [
                        {"type": "Accepted", "status": status, "reason": reason, "message": "",
                         "lastTransitionTime": "1970-01-01T00:00:00Z"}
                    ]}
                ]}))
                .unwrap(),
            ),
        }
    }

    fn time_of(store: &StatusStore) -> String {
        store.snapshot()[0]["status"]["parents"][0]["conditions"][0]["lastTransitionTime"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let store = StatusStore::default();
        store.replace(vec![Arc::new(route("True", "Accepted"))], at("2026-01-01T00:00:00Z"));
        assert_eq!(time_of(&store), "2026-01-01T00:00:00Z");
        store.replace(vec![Arc::new(route("True", "Accepted"))], at("2026-01-02T00:00:00Z"));
        assert_eq!(time_of(&store), "2026-01-01T00:00:00Z");
        store.replace(
            vec![Arc::new(route("False", "NoMatchingParent"))],
            at("2026-01-03T00:00:00Z"),
        );
        assert_eq!(time_of(&store), "2026-01-03T00:00:00Z");
    }

    #[test]
    fn unbindable_addresses_reach_the_gateway_and_listener_conditions() {
        let store = StatusStore::default();
        let condition = |observed: Option<i64>| {
            let mut c = json!({"type": "Programmed", "status": "True", "reason": "Programmed", "message": "",
                               "lastTransitionTime": "1970-01-01T00:00:00Z"});
            if let Some(g) = observed {
                c["observedGeneration"] = json!(g);
            }
            c
        };
        let gw = ResourceStatus {
            kind: "Gateway".into(),
            namespace: Some("ns".into()),
            name: "gw".into(),
            status: Status::Gateway(
                serde_json::from_value(json!({
                    "conditions": [condition(Some(3))],
                    "listeners": [
                        {"name": "a", "attachedRoutes": 0, "supportedKinds": [], "conditions": [condition(None)]},
                        {"name": "b", "attachedRoutes": 0, "supportedKinds": [], "conditions": [condition(None)]}
                    ]
                }))
                .unwrap(),
            ),
        };
        store.replace(vec![Arc::new(gw)], at("2026-01-01T00:00:00Z"));
        store.set_false(
            ConditionUpdate {
                kind: "Gateway",
                namespace: "ns",
                name: "gw",
                resource_condition: Some(("Programmed", "AddressNotUsable")),
                sections: &["a"],
                listener_conditions: &[("Programmed", "Invalid")],
                message: "in use",
            },
            at("2026-01-02T00:00:00Z"),
        );
        let status = &store.snapshot()[0]["status"];
        assert_eq!(status["conditions"][0]["reason"], "AddressNotUsable");
        assert_eq!(status["conditions"][0]["status"], "False");
        assert_eq!(status["conditions"][0]["message"], "in use");
        assert_eq!(status["conditions"][0]["observedGeneration"], 3);
        assert_eq!(status["conditions"][0]["lastTransitionTime"], "2026-01-02T00:00:00Z");
        assert_eq!(status["listeners"][0]["conditions"][0]["status"], "False");
        assert_eq!(status["listeners"][0]["conditions"][0]["reason"], "Invalid");
        assert_eq!(status["listeners"][1]["conditions"][0]["status"], "True");
        assert_eq!(
            status["listeners"][1]["conditions"][0]["lastTransitionTime"],
            "2026-01-01T00:00:00Z"
        );
    }

    #[test]
    fn rejected_entries_replace_their_resource_only() {
        let store = StatusStore::default();
        let other = ResourceStatus {
            kind: "Gateway".into(),
            namespace: Some("default".into()),
            name: "gw".into(),
            status: Status::Gateway(Default::default()),
        };
        store.replace(
            vec![Arc::new(route("True", "Accepted")), Arc::new(other.clone())],
            at("2026-01-01T00:00:00Z"),
        );
        let rejected = ResourceStatus::rejected("HTTPRoute", Some("default"), "r", "f.yaml: bad".into());
        store.mark_rejected(vec![rejected], at("2026-01-02T00:00:00Z"));
        let all = store.snapshot();
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0],
            json!({"kind": "HTTPRoute", "namespace": "default", "name": "r", "status": {"conditions": [
                {"type": "Accepted", "status": "False", "reason": "Invalid", "message": "f.yaml: bad",
                 "lastTransitionTime": "2026-01-02T00:00:00Z"}
            ]}})
        );
        assert_eq!(all[1], other.to_json());
    }

    #[test]
    fn rendered_entries_have_sorted_keys() {
        let store = StatusStore::default();
        store.replace(vec![Arc::new(route("True", "Accepted"))], at("2026-01-01T00:00:00Z"));
        let text = store.with_entries(|e| serde_json::to_string(&Rendered(e)).unwrap());
        assert_eq!(
            text,
            r#"[{"kind":"HTTPRoute","name":"r","namespace":"default","status":{"parents":[{"conditions":[{"lastTransitionTime":"2026-01-01T00:00:00Z","message":"","reason":"Accepted","status":"True","type":"Accepted"}],"controllerName":"c","parentRef":{"name":"gw"}}]}}]"#
        );
    }
}
