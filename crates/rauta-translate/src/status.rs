//! Resource statuses in the shape Kubernetes stores them, and the conditions they carry.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use crate::problem::{Problem, Subject};

/// The status one resource should carry: `{kind, namespace, name, status}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResourceStatus {
    /// Resource kind (`GatewayClass`, `Gateway`, `HTTPRoute`).
    pub kind: String,
    /// Namespace (`None` for cluster-scoped kinds).
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// The `status` object, as the resource's status type serialises it.
    pub status: serde_json::Value,
}

/// One condition before it is stamped with a generation and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cond {
    pub type_: &'static str,
    pub ok: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Cond {
    /// A `True` condition.
    pub fn yes(type_: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            type_,
            ok: true,
            reason,
            message: message.into(),
        }
    }

    /// A `False` condition.
    pub fn no(type_: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            type_,
            ok: false,
            reason,
            message: message.into(),
        }
    }

    /// The Kubernetes condition. The translator has no clock: `lastTransitionTime` is the Unix
    /// epoch and the caller fills the real time.
    pub fn to_condition(&self, generation: Option<i64>) -> Condition {
        Condition {
            type_: self.type_.to_owned(),
            status: if self.ok { "True" } else { "False" }.to_owned(),
            reason: self.reason.to_owned(),
            message: self.message.clone(),
            observed_generation: generation,
            last_transition_time: Time(Timestamp::UNIX_EPOCH),
        }
    }

    /// The problem a `False` condition stands for (`reason: message`).
    pub fn problem(&self, subject: &Subject<'_>, field: impl Into<String>) -> Problem {
        subject.error(field, format!("{}: {}", self.reason, self.message))
    }
}

/// Stamps a list of conditions.
pub(crate) fn conditions(conds: &[Cond], generation: Option<i64>) -> Vec<Condition> {
    conds.iter().map(|c| c.to_condition(generation)).collect()
}

/// Serialises a status type; a failure (which the generated types cannot produce) yields `null`.
pub(crate) fn to_value<T: Serialize>(status: &T) -> serde_json::Value {
    serde_json::to_value(status).unwrap_or(serde_json::Value::Null)
}
