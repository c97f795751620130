//! The statuses `/status` serves, with real `lastTransitionTime`s.
//!
//! The translator has no clock: it writes the Unix epoch into every condition. Here each condition
//! keeps the time of the previous status when its `status` did not change (Kubernetes semantics:
//! the time of the last transition), and gets the current time when it did or is new.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

/// Identity of one resource in `/status`.
type Key = (String, String, String);

/// Latest statuses by resource, plus the load errors of a rejected reload.
#[derive(Debug, Default)]
pub struct StatusStore {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: Vec<Value>,
    by_key: HashMap<Key, usize>,
}

fn key_of(entry: &Value) -> Key {
    let field = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    (field("kind"), field("namespace"), field("name"))
}

impl StatusStore {
    /// An empty store behind an `Arc`.
    pub fn shared() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Replaces every status with `entries` (`{kind, namespace, name, status}` objects), carrying
    /// transition times over from the previous ones; `now` is RFC 3339.
    pub fn replace(&self, mut entries: Vec<Value>, now: &str) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        for entry in &mut entries {
            let previous = inner.by_key.get(&key_of(entry)).and_then(|&i| inner.entries.get(i));
            let previous_status = previous.and_then(|p| p.get("status"));
            if let Some(status) = entry.get_mut("status") {
                fill_times(status, previous_status, now);
            }
        }
        inner.by_key = entries.iter().enumerate().map(|(i, e)| (key_of(e), i)).collect();
        inner.entries = entries;
    }

    /// Marks resources whose latest version failed to load (the rest keep their statuses).
    pub fn mark_rejected(&self, rejected: Vec<Value>, now: &str) {
        let mut entries = self.snapshot();
        for mut entry in rejected {
            let key = key_of(&entry);
            match entries.iter().position(|e| key_of(e) == key) {
                Some(i) => entries[i] = entry,
                None => {
                    if let Some(status) = entry.get_mut("status") {
                        fill_times(status, None, now);
                    }
                    entries.push(entry);
                }
            }
        }
        self.replace(entries, now);
    }

    /// Sets condition `kind` of the Gateway `namespace/name` (and, for each of `sections`, of that
    /// listener's status) to False with `reason`/`message`: what only serving can find out, such as
    /// an address that cannot be bound.
    pub fn set_gateway_false(&self, gateway: GatewayCondition<'_>, now: &str) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let key = (
            "Gateway".to_owned(),
            gateway.namespace.to_owned(),
            gateway.name.to_owned(),
        );
        let Some(&index) = inner.by_key.get(&key) else { return };
        let Some(status) = inner.entries.get_mut(index).and_then(|e| e.get_mut("status")) else {
            return;
        };
        if let Some((kind, reason)) = gateway.gateway_condition {
            set_false(status.get_mut("conditions"), kind, reason, gateway.message, now);
        }
        if let Some(listeners) = status.get_mut("listeners").and_then(Value::as_array_mut) {
            for listener in listeners {
                let named = listener
                    .get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| gateway.sections.contains(&n));
                if named {
                    for (kind, reason) in gateway.listener_conditions {
                        set_false(listener.get_mut("conditions"), kind, reason, gateway.message, now);
                    }
                }
            }
        }
    }

    /// A copy of every entry, in translation order.
    pub fn snapshot(&self) -> Vec<Value> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).entries.clone()
    }
}

/// A condition to set False on a Gateway and some of its listeners.
#[derive(Debug)]
pub struct GatewayCondition<'a> {
    /// Gateway namespace.
    pub namespace: &'a str,
    /// Gateway name.
    pub name: &'a str,
    /// Gateway condition type and reason, if the Gateway itself is affected.
    pub gateway_condition: Option<(&'a str, &'a str)>,
    /// Listener names affected.
    pub sections: &'a [&'a str],
    /// Listener condition types and reasons.
    pub listener_conditions: &'a [(&'a str, &'a str)],
    /// Message for every condition set.
    pub message: &'a str,
}

/// Sets condition `kind` in a `conditions` array to False, keeping its `observedGeneration`.
fn set_false(conditions: Option<&mut Value>, kind: &str, reason: &str, message: &str, now: &str) {
    let Some(conditions) = conditions.and_then(Value::as_array_mut) else {
        return;
    };
    let Some(condition) = conditions
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
    else {
        return;
    };
    if let Some(obj) = condition.as_object_mut() {
        if obj.get("status").and_then(Value::as_str) != Some("False") {
            obj.insert("lastTransitionTime".into(), Value::from(now));
        }
        obj.insert("status".into(), Value::from("False"));
        obj.insert("reason".into(), Value::from(reason));
        obj.insert("message".into(), Value::from(message));
    }
}

/// Walks `status` next to `previous` and sets each condition's `lastTransitionTime`.
fn fill_times(status: &mut Value, previous: Option<&Value>, now: &str) {
    match status {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let prev = previous.and_then(|p| p.get(k));
                if k == "conditions" {
                    fill_conditions(v, prev, now);
                } else {
                    fill_times(v, prev, now);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let prev = previous
                    .and_then(|p| p.as_array())
                    .and_then(|a| matching_element(a, item, i));
                fill_times(item, prev, now);
            }
        }
        _ => {}
    }
}

/// The previous element that plays the same part: same `name` (listeners), same `parentRef`
/// (route parents), else the same position.
fn matching_element<'a>(previous: &'a [Value], item: &Value, index: usize) -> Option<&'a Value> {
    for id in ["name", "parentRef", "ancestorRef"] {
        if let Some(wanted) = item.get(id) {
            return previous.iter().find(|p| p.get(id) == Some(wanted));
        }
    }
    previous.get(index)
}

fn fill_conditions(conditions: &mut Value, previous: Option<&Value>, now: &str) {
    let Some(conditions) = conditions.as_array_mut() else {
        return;
    };
    for condition in conditions {
        let kind = condition.get("type").cloned();
        let old = previous
            .and_then(Value::as_array)
            .and_then(|p| p.iter().find(|c| c.get("type").cloned() == kind));
        let time = match old {
            Some(old) if old.get("status") == condition.get("status") => old
                .get("lastTransitionTime")
                .cloned()
                .unwrap_or_else(|| Value::from(now)),
            _ => Value::from(now),
        };
        if let Some(obj) = condition.as_object_mut() {
            obj.insert("lastTransitionTime".into(), time);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn route(status: &str, reason: &str) -> Value {
        json!({"kind": "HTTPRoute", "namespace": "default", "name": "r", "status": {"parents": [
            {"parentRef": {"name": "gw"}, "conditions": [
                {"type": "Accepted", "status": status, "reason": reason, "lastTransitionTime": "1970-01-01T00:00:00Z"}
            ]}
        ]}})
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
        store.replace(vec![route("True", "Accepted")], "2026-01-01T00:00:00Z");
        assert_eq!(time_of(&store), "2026-01-01T00:00:00Z");
        store.replace(vec![route("True", "Accepted")], "2026-01-02T00:00:00Z");
        assert_eq!(time_of(&store), "2026-01-01T00:00:00Z");
        store.replace(vec![route("False", "NoMatchingParent")], "2026-01-03T00:00:00Z");
        assert_eq!(time_of(&store), "2026-01-03T00:00:00Z");
    }

    #[test]
    fn unbindable_addresses_reach_the_gateway_and_listener_conditions() {
        let store = StatusStore::default();
        let gw = json!({"kind": "Gateway", "namespace": "ns", "name": "gw", "status": {
            "conditions": [{"type": "Programmed", "status": "True", "reason": "Programmed", "observedGeneration": 3}],
            "listeners": [
                {"name": "a", "conditions": [{"type": "Programmed", "status": "True", "reason": "Programmed"}]},
                {"name": "b", "conditions": [{"type": "Programmed", "status": "True", "reason": "Programmed"}]}
            ]
        }});
        store.replace(vec![gw], "2026-01-01T00:00:00Z");
        store.set_gateway_false(
            GatewayCondition {
                namespace: "ns",
                name: "gw",
                gateway_condition: Some(("Programmed", "AddressNotUsable")),
                sections: &["a"],
                listener_conditions: &[("Programmed", "Invalid")],
                message: "in use",
            },
            "2026-01-02T00:00:00Z",
        );
        let status = &store.snapshot()[0]["status"];
        assert_eq!(status["conditions"][0]["reason"], "AddressNotUsable");
        assert_eq!(status["conditions"][0]["status"], "False");
        assert_eq!(status["conditions"][0]["observedGeneration"], 3);
        assert_eq!(status["conditions"][0]["lastTransitionTime"], "2026-01-02T00:00:00Z");
        assert_eq!(status["listeners"][0]["conditions"][0]["status"], "False");
        assert_eq!(status["listeners"][1]["conditions"][0]["status"], "True");
    }

    #[test]
    fn rejected_entries_replace_their_resource_only() {
        let store = StatusStore::default();
        let other = json!({"kind": "Gateway", "namespace": "default", "name": "gw", "status": {}});
        store.replace(vec![route("True", "Accepted"), other.clone()], "2026-01-01T00:00:00Z");
        store.mark_rejected(vec![route("False", "Invalid")], "2026-01-02T00:00:00Z");
        let all = store.snapshot();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0]["status"]["parents"][0]["conditions"][0]["reason"], "Invalid");
        assert_eq!(all[1], other);
    }
}
