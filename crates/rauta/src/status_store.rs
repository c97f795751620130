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

    /// A copy of every entry, in translation order.
    pub fn snapshot(&self) -> Vec<Value> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).entries.clone()
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
