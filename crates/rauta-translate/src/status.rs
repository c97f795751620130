//! Resource statuses in the shape Kubernetes stores them, and the conditions they carry.

mod transition;

use gateway_api::backendtlspolicies::BackendTlsPolicyStatus;
use gateway_api::experimental::gatewayclasses::GatewayClassStatus;
use gateway_api::experimental::gateways::GatewayStatus;
use gateway_api::experimental::httproutes::HttpRouteStatus;
use gateway_api::listenersets::ListenerSetStatus;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use serde::{Serialize, Serializer};

use crate::problem::{Problem, Subject};
pub use transition::ConditionTarget;

/// The status one resource should carry: `{kind, namespace, name, status}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResourceStatus {
    /// Resource kind (`GatewayClass`, `Gateway`, `HTTPRoute`).
    pub kind: String,
    /// Namespace (`None` for cluster-scoped kinds).
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// The `status` object. Serialised as a JSON object with its keys sorted, as it always was.
    #[serde(serialize_with = "sorted_keys")]
    pub status: Status,
}

/// The `status` object of one resource, typed: a few hundred bytes per route where a JSON tree
/// of the same status took several kilobytes.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// A GatewayClass.
    GatewayClass(GatewayClassStatus),
    /// A Gateway.
    Gateway(GatewayStatus),
    /// A ListenerSet.
    ListenerSet(ListenerSetStatus),
    /// A route of any kind (HTTP, GRPC, TLS, TCP): they share the shape `{parents: [...]}`.
    Route(HttpRouteStatus),
    /// A BackendTLSPolicy.
    BackendTlsPolicy(BackendTlsPolicyStatus),
    /// Only `{conditions: [...]}`: what a provider reports for a resource it could not read.
    Conditions(Vec<Condition>),
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct OnlyConditions<'a> {
            conditions: &'a [Condition],
        }
        match self {
            Self::GatewayClass(s) => s.serialize(serializer),
            Self::Gateway(s) => s.serialize(serializer),
            Self::ListenerSet(s) => s.serialize(serializer),
            Self::Route(s) => s.serialize(serializer),
            Self::BackendTlsPolicy(s) => s.serialize(serializer),
            Self::Conditions(conditions) => OnlyConditions { conditions }.serialize(serializer),
        }
    }
}

/// Serialises through a `serde_json::Value`, whose objects keep their keys sorted.
fn sorted_keys<S: Serializer>(status: &Status, serializer: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(status)
        .map_err(serde::ser::Error::custom)?
        .serialize(serializer)
}

impl ResourceStatus {
    /// The status of a resource that could not be read: `Accepted=False Invalid` with `message`.
    pub fn rejected(kind: &str, namespace: Option<&str>, name: &str, message: String) -> Self {
        Self {
            kind: kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
            status: Status::Conditions(vec![Cond::no("Accepted", "Invalid", message).to_condition(None)]),
        }
    }

    /// This entry as `serde_json` would render it: `{kind, name, namespace, status}` with
    /// every object's keys sorted (the shape `/status` serves).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
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
