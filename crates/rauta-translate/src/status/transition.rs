//! `lastTransitionTime`: kept from the previous status while a condition's `status` stays the
//! same, the current time when it changes or is new (Kubernetes semantics).
//!
//! The translator has no clock and writes the Unix epoch; whoever keeps statuses calls these
//! with the current time.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use super::{ResourceStatus, Status};

/// Where a condition to change lives.
#[derive(Clone, Copy, Debug)]
pub enum ConditionTarget<'a> {
    /// The resource's own `conditions`.
    Resource,
    /// The `conditions` of a Gateway's (or ListenerSet's) listener, by name.
    Listener(&'a str),
}

impl ResourceStatus {
    /// Sets every condition's `lastTransitionTime`: the one of the same condition in `previous`
    /// (the same list element: listener by name, route parent by `parentRef`, policy ancestor by
    /// `ancestorRef`) when its `status` did not change, else `now`.
    pub fn carry_transition_times(&mut self, previous: Option<&ResourceStatus>, now: Timestamp) {
        let previous = previous.map(|p| &p.status);
        match &mut self.status {
            Status::GatewayClass(s) => {
                let before = match previous {
                    Some(Status::GatewayClass(p)) => p.conditions.as_deref(),
                    _ => None,
                };
                carry(s.conditions.as_deref_mut(), before, now);
            }
            Status::Gateway(s) => {
                let before = match previous {
                    Some(Status::Gateway(p)) => Some(p),
                    _ => None,
                };
                carry(
                    s.conditions.as_deref_mut(),
                    before.and_then(|p| p.conditions.as_deref()),
                    now,
                );
                for listener in s.listeners.iter_mut().flatten() {
                    let old = before
                        .and_then(|p| p.listeners.as_ref())
                        .and_then(|ls| ls.iter().find(|l| l.name == listener.name));
                    carry(Some(&mut listener.conditions), old.map(|l| &l.conditions[..]), now);
                }
            }
            Status::ListenerSet(s) => {
                let before = match previous {
                    Some(Status::ListenerSet(p)) => Some(p),
                    _ => None,
                };
                carry(
                    s.conditions.as_deref_mut(),
                    before.and_then(|p| p.conditions.as_deref()),
                    now,
                );
                for listener in s.listeners.iter_mut().flatten() {
                    let old = before
                        .and_then(|p| p.listeners.as_ref())
                        .and_then(|ls| ls.iter().find(|l| l.name == listener.name));
                    carry(Some(&mut listener.conditions), old.map(|l| &l.conditions[..]), now);
                }
            }
            Status::Route(s) => {
                let before = match previous {
                    Some(Status::Route(p)) => Some(p),
                    _ => None,
                };
                for parent in &mut s.parents {
                    let old = before.and_then(|p| p.parents.iter().find(|o| o.parent_ref == parent.parent_ref));
                    carry(Some(&mut parent.conditions), old.map(|o| &o.conditions[..]), now);
                }
            }
            Status::BackendTlsPolicy(s) => {
                let before = match previous {
                    Some(Status::BackendTlsPolicy(p)) => Some(p),
                    _ => None,
                };
                for ancestor in &mut s.ancestors {
                    let old = before.and_then(|p| p.ancestors.iter().find(|o| o.ancestor_ref == ancestor.ancestor_ref));
                    carry(Some(&mut ancestor.conditions), old.map(|o| &o.conditions[..]), now);
                }
            }
            Status::Conditions(conditions) => {
                let before = match previous {
                    Some(Status::Conditions(p)) => Some(&p[..]),
                    _ => None,
                };
                carry(Some(conditions), before, now);
            }
        }
    }

    /// Every condition's `lastTransitionTime`, in the order [`Self::set_transition_times`] reads
    /// them: the resource's conditions, then those of each listener, parent or ancestor in turn.
    pub fn transition_times(&self) -> Vec<Time> {
        let mut times = Vec::new();
        let mut all = |list: Option<&Vec<Condition>>| {
            times.extend(list.into_iter().flatten().map(|c| c.last_transition_time.clone()));
        };
        match &self.status {
            Status::GatewayClass(s) => all(s.conditions.as_ref()),
            Status::Gateway(s) => {
                all(s.conditions.as_ref());
                for listener in s.listeners.iter().flatten() {
                    all(Some(&listener.conditions));
                }
            }
            Status::ListenerSet(s) => {
                all(s.conditions.as_ref());
                for listener in s.listeners.iter().flatten() {
                    all(Some(&listener.conditions));
                }
            }
            Status::Route(s) => {
                for parent in &s.parents {
                    all(Some(&parent.conditions));
                }
            }
            Status::BackendTlsPolicy(s) => {
                for ancestor in &s.ancestors {
                    all(Some(&ancestor.conditions));
                }
            }
            Status::Conditions(conditions) => all(Some(conditions)),
        }
        times
    }

    /// Sets every condition's `lastTransitionTime` from `times`, as
    /// [`Self::transition_times`] listed them (conditions past the end of `times` keep theirs).
    pub fn set_transition_times(&mut self, times: &[Time]) {
        let mut times = times.iter();
        self.each_condition(&mut |c| {
            if let Some(t) = times.next() {
                c.last_transition_time = t.clone();
            }
        });
    }

    /// Calls `f` with every condition, in [`Self::transition_times`] order.
    fn each_condition(&mut self, f: &mut dyn FnMut(&mut Condition)) {
        let mut all = |list: Option<&mut Vec<Condition>>| list.into_iter().flatten().for_each(&mut *f);
        match &mut self.status {
            Status::GatewayClass(s) => all(s.conditions.as_mut()),
            Status::Gateway(s) => {
                all(s.conditions.as_mut());
                for listener in s.listeners.iter_mut().flatten() {
                    all(Some(&mut listener.conditions));
                }
            }
            Status::ListenerSet(s) => {
                all(s.conditions.as_mut());
                for listener in s.listeners.iter_mut().flatten() {
                    all(Some(&mut listener.conditions));
                }
            }
            Status::Route(s) => {
                for parent in &mut s.parents {
                    all(Some(&mut parent.conditions));
                }
            }
            Status::BackendTlsPolicy(s) => {
                for ancestor in &mut s.ancestors {
                    all(Some(&mut ancestor.conditions));
                }
            }
            Status::Conditions(conditions) => all(Some(conditions)),
        }
    }

    /// Sets the condition `type_` at `target` to False with `reason` and `message`, keeping its
    /// `observedGeneration`; its `lastTransitionTime` becomes `now` unless it already was False.
    /// Returns false when there is no such condition.
    pub fn set_false(
        &mut self,
        target: ConditionTarget<'_>,
        type_: &str,
        reason: &str,
        message: &str,
        now: Timestamp,
    ) -> bool {
        let conditions = match (&mut self.status, target) {
            (Status::GatewayClass(s), ConditionTarget::Resource) => s.conditions.as_mut(),
            (Status::Gateway(s), ConditionTarget::Resource) => s.conditions.as_mut(),
            (Status::Gateway(s), ConditionTarget::Listener(name)) => s
                .listeners
                .iter_mut()
                .flatten()
                .find(|l| l.name == name)
                .map(|l| &mut l.conditions),
            (Status::ListenerSet(s), ConditionTarget::Resource) => s.conditions.as_mut(),
            (Status::ListenerSet(s), ConditionTarget::Listener(name)) => s
                .listeners
                .iter_mut()
                .flatten()
                .find(|l| l.name == name)
                .map(|l| &mut l.conditions),
            (Status::Conditions(c), ConditionTarget::Resource) => Some(c),
            _ => None,
        };
        let Some(condition) = conditions.and_then(|c| c.iter_mut().find(|c| c.type_ == type_)) else {
            return false;
        };
        if condition.status != "False" {
            condition.last_transition_time = Time(now);
            "False".clone_into(&mut condition.status);
        }
        reason.clone_into(&mut condition.reason);
        message.clone_into(&mut condition.message);
        true
    }
}

fn carry(conditions: Option<&mut [Condition]>, previous: Option<&[Condition]>, now: Timestamp) {
    for condition in conditions.into_iter().flatten() {
        let old = previous.and_then(|p| p.iter().find(|c| c.type_ == condition.type_));
        condition.last_transition_time = match old {
            Some(old) if old.status == condition.status => old.last_transition_time.clone(),
            _ => Time(now),
        };
    }
}
