//! The suite's status assertions, over the statuses Rauta serves at `/status`.
//!
//! Each check takes one resource's `status` object and the generation the resource should be
//! at, and says why it does not hold yet. As in the suite, a condition with an empty expected
//! status or reason matches any, and every condition looked at must carry the current
//! `observedGeneration`.

use serde_json::Value;

/// An expected condition; an empty `status` or `reason` matches any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cond {
    /// Condition type.
    pub type_: &'static str,
    /// `True`, `False`, or `""` for any.
    pub status: &'static str,
    /// Reason, or `""` for any.
    pub reason: &'static str,
}

/// An expected condition.
pub const fn cond(type_: &'static str, status: &'static str, reason: &'static str) -> Cond {
    Cond { type_, status, reason }
}

/// `Accepted=True` with reason `Accepted`, as route parents must carry it.
pub const ACCEPTED: Cond = cond("Accepted", "True", "Accepted");
/// `ResolvedRefs=True` with reason `ResolvedRefs`.
pub const RESOLVED_REFS: Cond = cond("ResolvedRefs", "True", "ResolvedRefs");

fn conditions(v: &Value) -> &[Value] {
    v.get("conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Every condition of `holder` is at `generation`.
pub fn current(holder: &Value, generation: i64) -> Result<(), String> {
    let stale: Vec<String> = conditions(holder)
        .iter()
        .filter(|c| c.get("observedGeneration").and_then(Value::as_i64) != Some(generation))
        .map(|c| {
            format!(
                "{} (observedGeneration {})",
                text(c, "type"),
                c.get("observedGeneration").unwrap_or(&Value::Null)
            )
        })
        .collect();
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "conditions not at generation {generation}: {}",
            stale.join(", ")
        ))
    }
}

/// `holder` has a condition matching `want`.
pub fn has(holder: &Value, want: &Cond) -> Result<(), String> {
    let found = conditions(holder).iter().any(|c| {
        text(c, "type") == want.type_
            && (want.status.is_empty() || text(c, "status") == want.status)
            && (want.reason.is_empty() || text(c, "reason") == want.reason)
    });
    if found {
        return Ok(());
    }
    let seen: Vec<String> = conditions(holder)
        .iter()
        .map(|c| format!("{}={} ({})", text(c, "type"), text(c, "status"), text(c, "reason")))
        .collect();
    Err(format!(
        "no condition {}={} ({}) in [{}]",
        want.type_,
        or_any(want.status),
        or_any(want.reason),
        seen.join(", ")
    ))
}

fn or_any(s: &str) -> &str {
    if s.is_empty() { "any" } else { s }
}

/// The conditions of a GatewayClass or Gateway are current and include `want`.
pub fn resource_condition(status: &Value, generation: i64, want: &Cond) -> Result<(), String> {
    current(status, generation)?;
    has(status, want)
}

/// The first address with a type, as the suite picks the Gateway address.
pub fn gateway_address(status: &Value, generation: i64) -> Result<String, String> {
    current(status, generation)?;
    status
        .get("addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|a| !text(a, "type").is_empty())
        .map(|a| text(a, "value").to_owned())
        .ok_or_else(|| {
            format!(
                "no typed address in status.addresses: {}",
                status.get("addresses").unwrap_or(&Value::Null)
            )
        })
}

fn listeners(status: &Value) -> &[Value] {
    status
        .get("listeners")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Every listener (or every listener named in `only`) has all of `wants`
/// (`GatewayListenersMustHaveConditions`; no generation check, as in the suite).
pub fn listeners_have(status: &Value, wants: &[Cond], only: &[&str]) -> Result<(), String> {
    let mut seen = Vec::new();
    for listener in listeners(status) {
        let name = text(listener, "name");
        if !only.is_empty() && !only.contains(&name) {
            continue;
        }
        for want in wants {
            has(listener, want).map_err(|e| format!("listener {name}: {e}"))?;
        }
        seen.push(name);
    }
    match only.iter().find(|n| !seen.contains(n)) {
        Some(missing) => Err(format!("listener {missing} has no status")),
        None => Ok(()),
    }
}

/// What one listener's status must say (`GatewayStatusMustHaveListeners`).
#[derive(Clone, Debug)]
pub struct ListenerExpect {
    /// Listener name.
    pub name: &'static str,
    /// Kinds that must be listed; empty means the list must be empty.
    pub kinds: &'static [&'static str],
    /// Exact `attachedRoutes`.
    pub attached: i64,
    /// Conditions that must be present.
    pub conditions: Vec<Cond>,
}

/// The listener statuses are exactly `expected` (count, names, kinds, attached routes, conditions).
pub fn gateway_listeners(status: &Value, generation: i64, expected: &[ListenerExpect]) -> Result<(), String> {
    current(status, generation)?;
    let actual = listeners(status);
    if actual.len() != expected.len() {
        let names: Vec<&str> = actual.iter().map(|l| text(l, "name")).collect();
        return Err(format!(
            "expected {} listener statuses, got {} ({names:?})",
            expected.len(),
            actual.len()
        ));
    }
    for want in expected {
        let listener = actual
            .iter()
            .find(|l| text(l, "name") == want.name)
            .ok_or_else(|| format!("no status for listener {}", want.name))?;
        let kinds: Vec<(&str, &str)> = listener
            .get("supportedKinds")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|k| {
                (
                    k.get("group").and_then(Value::as_str).unwrap_or(crate::GATEWAY_GROUP),
                    text(k, "kind"),
                )
            })
            .collect();
        if want.kinds.is_empty() && !kinds.is_empty() {
            return Err(format!(
                "listener {}: supportedKinds must be empty, got {kinds:?}",
                want.name
            ));
        }
        for kind in want.kinds {
            if !kinds.contains(&(crate::GATEWAY_GROUP, kind)) {
                return Err(format!("listener {}: supportedKinds {kinds:?} lacks {kind}", want.name));
            }
        }
        let attached = listener.get("attachedRoutes").and_then(Value::as_i64).unwrap_or(-1);
        if attached != want.attached {
            return Err(format!(
                "listener {}: attachedRoutes {attached}, expected {}",
                want.name, want.attached
            ));
        }
        for c in &want.conditions {
            has(listener, c).map_err(|e| format!("listener {}: {e}", want.name))?;
        }
    }
    Ok(())
}

/// No listener or exactly one with no attached route (`GatewayMustHaveZeroRoutes`).
pub fn gateway_zero_routes(status: &Value, generation: i64) -> Result<(), String> {
    current(status, generation)?;
    let ls = listeners(status);
    match ls {
        [] => Ok(()),
        [one] if one.get("attachedRoutes").and_then(Value::as_i64) == Some(0) => Ok(()),
        _ => Err(format!(
            "expected no listener or one with 0 attached routes, got {:?}",
            ls.iter()
                .map(|l| (text(l, "name"), l.get("attachedRoutes").cloned()))
                .collect::<Vec<_>>()
        )),
    }
}

/// A route parent the suite expects: the Gateway (or ListenerSet) it names and the conditions it
/// must have.
#[derive(Clone, Debug)]
pub struct ParentExpect {
    /// `Gateway` or `ListenerSet`: the `parentRef.kind` the entry must state.
    pub kind: &'static str,
    /// Parent namespace.
    pub namespace: String,
    /// Parent name.
    pub name: String,
    /// Conditions that must be present.
    pub conditions: Vec<Cond>,
}

fn parents(status: &Value) -> &[Value] {
    status
        .get("parents")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Every expected parent is matched by one status entry with the controller name, an explicit
/// `group` and the expected `kind`, the parent's name and namespace (which may be left out only when
/// `namespace_required` is false) and the conditions (`RouteMustHaveParents`).
pub fn route_parents(
    status: &Value,
    generation: i64,
    controller: &str,
    expected: &[ParentExpect],
    namespace_required: bool,
) -> Result<(), String> {
    for parent in parents(status) {
        current(parent, generation).map_err(|e| format!("parent {}: {e}", parent_name(parent)))?;
    }
    for want in expected {
        let mut why = Vec::new();
        let matched = parents(status).iter().any(|p| {
            let r = p.get("parentRef").unwrap_or(&Value::Null);
            let check = || -> Result<(), String> {
                if text(p, "controllerName") != controller {
                    return Err(format!("controllerName {:?}", text(p, "controllerName")));
                }
                if r.get("group").and_then(Value::as_str) != Some(crate::GATEWAY_GROUP) {
                    return Err(format!("parentRef.group {:?} (must be explicit)", r.get("group")));
                }
                if r.get("kind").and_then(Value::as_str) != Some(want.kind) {
                    return Err(format!("parentRef.kind {:?} (must be explicit)", r.get("kind")));
                }
                if text(r, "name") != want.name {
                    return Err(format!("parentRef.name {:?}", text(r, "name")));
                }
                match r.get("namespace").and_then(Value::as_str) {
                    Some(ns) if ns != want.namespace => return Err(format!("parentRef.namespace {ns:?}")),
                    None if namespace_required => return Err("parentRef.namespace missing".to_owned()),
                    _ => {}
                }
                for c in &want.conditions {
                    has(p, c)?;
                }
                Ok(())
            };
            check().map_err(|e| why.push(e)).is_ok()
        });
        if !matched {
            return Err(format!(
                "no parent entry for {} {}/{} matches: {}",
                want.kind,
                want.namespace,
                want.name,
                why.join("; ")
            ));
        }
    }
    Ok(())
}

/// The route has exactly `expected` parent entries written by `controller` (a route's
/// `status.parents` mirrors its parentRefs: no entry for a parent it does not name).
pub fn parents_of_controller(status: &Value, controller: &str, expected: usize) -> Result<(), String> {
    let ours: Vec<String> = parents(status)
        .iter()
        .filter(|p| text(p, "controllerName") == controller)
        .map(|p| {
            let r = p.get("parentRef").unwrap_or(&Value::Null);
            format!("{} {}", text(r, "kind"), parent_name(p))
        })
        .collect();
    if ours.len() == expected {
        Ok(())
    } else {
        Err(format!("expected {expected} parent entries, got {ours:?}"))
    }
}

/// `status.attachedListenerSets` (absent counts as 0) is `expected`, the Gateway's conditions
/// being current (`GatewayMustHaveAttachedListeners`).
pub fn attached_listener_sets(status: &Value, generation: i64, expected: i64) -> Result<(), String> {
    current(status, generation)?;
    let got = status.get("attachedListenerSets").and_then(Value::as_i64).unwrap_or(0);
    if got == expected {
        Ok(())
    } else {
        Err(format!("attachedListenerSets {got}, expected {expected}"))
    }
}

fn parent_name(parent: &Value) -> String {
    let r = parent.get("parentRef").unwrap_or(&Value::Null);
    format!("{}/{}", text(r, "namespace"), text(r, "name"))
}

/// Some parent entry for the Gateway has `want`, all parents being current
/// (`HTTPRouteMustHaveCondition`).
pub fn route_condition(
    status: &Value,
    generation: i64,
    gw_namespace: &str,
    gw_name: &str,
    want: &Cond,
) -> Result<(), String> {
    entry_condition(parents(status), "parentRef", generation, gw_namespace, gw_name, want)
}

/// Some ancestor entry for the Gateway has `want`, all ancestors being current
/// (`BackendTLSPolicyMustHaveCondition`).
pub fn ancestor_condition(
    status: &Value,
    generation: i64,
    gw_namespace: &str,
    gw_name: &str,
    want: &Cond,
) -> Result<(), String> {
    let ancestors = status
        .get("ancestors")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    entry_condition(ancestors, "ancestorRef", generation, gw_namespace, gw_name, want)
}

/// Every ancestor entry's conditions are current (`BackendTLSPolicyMustHaveLatestConditions`).
pub fn ancestors_current(status: &Value, generation: i64) -> Result<(), String> {
    status
        .get("ancestors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .try_for_each(|a| current(a, generation))
}

fn entry_condition(
    entries: &[Value],
    ref_key: &str,
    generation: i64,
    gw_namespace: &str,
    gw_name: &str,
    want: &Cond,
) -> Result<(), String> {
    let mut why = Vec::new();
    for entry in entries {
        let r = entry.get(ref_key).unwrap_or(&Value::Null);
        let label = format!("{}/{}", text(r, "namespace"), text(r, "name"));
        current(entry, generation).map_err(|e| format!("{ref_key} {label}: {e}"))?;
        let ns = r.get("namespace").and_then(Value::as_str);
        if text(r, "name") == gw_name && ns.is_none_or(|ns| ns == gw_namespace) {
            match has(entry, want) {
                Ok(()) => return Ok(()),
                Err(e) => why.push(e),
            }
        }
    }
    Err(format!(
        "no {ref_key} entry for {gw_namespace}/{gw_name} has it: {}",
        why.join("; ")
    ))
}

/// Either no parent entry, or exactly one that is current and not accepted
/// (`HTTPRouteMustHaveNoAcceptedParents`). `Ok(true)` means "empty", which the suite only
/// believes when seen twice.
pub fn route_no_accepted_parents(status: &Value, generation: i64) -> Result<bool, String> {
    match parents(status) {
        [] => Ok(true),
        [one] => {
            current(one, generation)?;
            has(one, &cond("Accepted", "False", "")).map(|()| false)
        }
        many => Err(format!("expected at most one parent entry, got {}", many.len())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn c(type_: &str, status: &str, reason: &str, generation: i64) -> Value {
        json!({"type": type_, "status": status, "reason": reason, "observedGeneration": generation})
    }

    #[test]
    fn conditions_match_by_type_status_and_reason_and_must_be_current() {
        let holder =
            json!({"conditions": [c("Accepted", "True", "Accepted", 2), c("Programmed", "False", "Invalid", 2)]});
        assert_eq!(resource_condition(&holder, 2, &cond("Accepted", "True", "")), Ok(()));
        assert_eq!(
            resource_condition(&holder, 2, &cond("Programmed", "", "Invalid")),
            Ok(())
        );
        assert!(resource_condition(&holder, 2, &cond("Programmed", "True", "")).is_err());
        assert!(
            resource_condition(&holder, 3, &cond("Accepted", "True", ""))
                .unwrap_err()
                .contains("generation 3")
        );
    }

    fn route(parent_ref: Value, generation: i64, accepted: bool) -> Value {
        let status = if accepted { "True" } else { "False" };
        json!({"parents": [{"parentRef": parent_ref, "controllerName": "ctl",
            "conditions": [c("Accepted", status, if accepted { "Accepted" } else { "NotAllowedByListeners" }, generation)]}]})
    }

    #[test]
    fn parents_need_explicit_group_and_kind_and_namespace_when_required() {
        let want = [ParentExpect {
            kind: "Gateway",
            namespace: "infra".into(),
            name: "gw".into(),
            conditions: vec![ACCEPTED],
        }];
        let full = json!({"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw", "namespace": "infra"});
        assert_eq!(
            route_parents(&route(full.clone(), 1, true), 1, "ctl", &want, true),
            Ok(())
        );
        assert!(route_parents(&route(full.clone(), 1, true), 1, "other", &want, true).is_err());
        assert!(
            route_parents(&route(full, 0, true), 1, "ctl", &want, true).is_err(),
            "stale"
        );
        let bare = json!({"name": "gw", "namespace": "infra"});
        assert!(
            route_parents(&route(bare, 1, true), 1, "ctl", &want, true)
                .unwrap_err()
                .contains("group")
        );
        let no_ns = json!({"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"});
        assert!(route_parents(&route(no_ns.clone(), 1, true), 1, "ctl", &want, true).is_err());
        assert_eq!(route_parents(&route(no_ns, 1, true), 1, "ctl", &want, false), Ok(()));
        let set =
            json!({"group": "gateway.networking.k8s.io", "kind": "ListenerSet", "name": "gw", "namespace": "infra"});
        assert!(
            route_parents(&route(set.clone(), 1, true), 1, "ctl", &want, true)
                .unwrap_err()
                .contains("kind")
        );
        let want_set = [ParentExpect {
            kind: "ListenerSet",
            ..want[0].clone()
        }];
        assert_eq!(route_parents(&route(set, 1, true), 1, "ctl", &want_set, true), Ok(()));
    }

    #[test]
    fn parents_of_the_controller_are_counted() {
        let entry = |name: &str, controller: &str| json!({"parentRef": {"name": name}, "controllerName": controller, "conditions": []});
        let status = json!({"parents": [entry("gw", "ctl"), entry("other", "someone-else")]});
        assert_eq!(parents_of_controller(&status, "ctl", 1), Ok(()));
        assert!(parents_of_controller(&status, "ctl", 2).is_err());
        let two = json!({"parents": [entry("gw", "ctl"), entry("ls", "ctl")]});
        assert!(parents_of_controller(&two, "ctl", 1).unwrap_err().contains("gw"));
    }

    #[test]
    fn attached_listener_sets_absent_counts_as_zero() {
        let none = json!({"conditions": [c("Accepted", "True", "Accepted", 1)]});
        assert_eq!(attached_listener_sets(&none, 1, 0), Ok(()));
        assert!(attached_listener_sets(&none, 1, 1).is_err());
        let two = json!({"attachedListenerSets": 2, "conditions": [c("Accepted", "True", "Accepted", 1)]});
        assert_eq!(attached_listener_sets(&two, 1, 2), Ok(()));
        assert!(attached_listener_sets(&two, 2, 2).is_err(), "stale");
    }

    #[test]
    fn no_accepted_parents() {
        assert_eq!(route_no_accepted_parents(&json!({}), 1), Ok(true));
        let r = route(json!({"name": "gw"}), 1, false);
        assert_eq!(route_no_accepted_parents(&r, 1), Ok(false));
        assert!(route_no_accepted_parents(&route(json!({"name": "gw"}), 1, true), 1).is_err());
    }

    #[test]
    fn listeners_are_matched_exactly() {
        let status = json!({
        "conditions": [c("Accepted", "True", "Accepted", 1)],
        "listeners": [
            {"name": "a", "attachedRoutes": 2, "supportedKinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
             "conditions": [c("Accepted", "True", "Accepted", 1)]},
            {"name": "b", "attachedRoutes": 0, "supportedKinds": [], "conditions": [c("ResolvedRefs", "False", "InvalidRouteKinds", 1)]},
        ]});
        let a = |attached| ListenerExpect {
            name: "a",
            kinds: &["HTTPRoute"],
            attached,
            conditions: vec![cond("Accepted", "True", "")],
        };
        let b = ListenerExpect {
            name: "b",
            kinds: &[],
            attached: 0,
            conditions: vec![cond("ResolvedRefs", "False", "InvalidRouteKinds")],
        };
        assert_eq!(gateway_listeners(&status, 1, &[a(2), b.clone()]), Ok(()));
        assert!(gateway_listeners(&status, 1, &[a(1), b.clone()]).is_err());
        assert!(gateway_listeners(&status, 1, &[a(2)]).is_err(), "count must match");
        assert_eq!(listeners_have(&status, &[cond("Accepted", "True", "")], &["a"]), Ok(()));
        assert!(listeners_have(&status, &[cond("Accepted", "True", "")], &[]).is_err());
        assert!(gateway_zero_routes(&status, 1).is_err());
    }
}
