//! `allowedRoutes.namespaces`: which namespaces may attach routes to a listener; and
//! `allowedListeners.namespaces`: which namespaces may attach ListenerSets to a Gateway.

use std::collections::BTreeMap;

use gateway_api::experimental::gateways::{
    GatewayAllowedListeners, GatewayAllowedListenersNamespacesFrom, GatewayListenersAllowedRoutesNamespaces,
    GatewayListenersAllowedRoutesNamespacesFrom, GatewayListenersAllowedRoutesNamespacesSelector,
};

/// Which route namespaces a listener admits.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum NamespacePolicy {
    /// Every namespace.
    All,
    /// The Gateway's namespace only (the default).
    Same,
    /// Namespaces whose labels match.
    Selector(LabelSelector),
    /// No namespace: the policy was invalid.
    Nothing,
}

/// A Kubernetes label selector: every `matchLabels` pair and every expression must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct LabelSelector {
    labels: BTreeMap<String, String>,
    expressions: Vec<Expression>,
}

#[derive(Clone, Debug, PartialEq)]
enum Expression {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl NamespacePolicy {
    /// Reads the listener's policy; `Err` says why a selector matches nothing.
    pub fn from_spec(spec: Option<&GatewayListenersAllowedRoutesNamespaces>) -> Result<Self, String> {
        let from = spec.and_then(|n| n.from.as_ref());
        match from {
            None | Some(GatewayListenersAllowedRoutesNamespacesFrom::Same) => Ok(Self::Same),
            Some(GatewayListenersAllowedRoutesNamespacesFrom::All) => Ok(Self::All),
            Some(GatewayListenersAllowedRoutesNamespacesFrom::Selector) => {
                match spec.and_then(|n| n.selector.as_ref()) {
                    Some(selector) => LabelSelector::from_spec(selector).map(Self::Selector),
                    None => Err("from: Selector needs a selector".to_owned()),
                }
            }
        }
    }

    /// Reads a Gateway's `allowedListeners`: none when absent or `from: None` (the default).
    pub fn for_listener_sets(spec: Option<&GatewayAllowedListeners>) -> Result<Self, String> {
        let namespaces = spec.and_then(|a| a.namespaces.as_ref());
        match namespaces.and_then(|n| n.from.as_ref()) {
            None | Some(GatewayAllowedListenersNamespacesFrom::None) => Ok(Self::Nothing),
            Some(GatewayAllowedListenersNamespacesFrom::Same) => Ok(Self::Same),
            Some(GatewayAllowedListenersNamespacesFrom::All) => Ok(Self::All),
            Some(GatewayAllowedListenersNamespacesFrom::Selector) => match namespaces.and_then(|n| n.selector.as_ref())
            {
                Some(selector) => {
                    let expressions = selector.match_expressions.iter().flatten();
                    let expressions = expressions.map(|e| (e.key.as_str(), e.operator.as_str(), e.values.as_deref()));
                    LabelSelector::from_parts(selector.match_labels.as_ref(), expressions).map(Self::Selector)
                }
                None => Err("from: Selector needs a selector".to_owned()),
            },
        }
    }

    /// Whether a route in `route_ns` may attach to a listener of a Gateway in `gateway_ns`.
    pub fn admits(&self, route_ns: &str, gateway_ns: &str, labels: impl FnOnce() -> BTreeMap<String, String>) -> bool {
        match self {
            Self::All => true,
            Self::Same => route_ns == gateway_ns,
            Self::Selector(selector) => selector.matches(&labels()),
            Self::Nothing => false,
        }
    }
}

impl LabelSelector {
    fn from_spec(spec: &GatewayListenersAllowedRoutesNamespacesSelector) -> Result<Self, String> {
        let expressions = spec.match_expressions.iter().flatten();
        let expressions = expressions.map(|e| (e.key.as_str(), e.operator.as_str(), e.values.as_deref()));
        Self::from_parts(spec.match_labels.as_ref(), expressions)
    }

    /// Builds a selector from `matchLabels` and `matchExpressions` as `(key, operator, values)`
    /// (the Gateway API repeats the selector type per field; they all have this shape).
    fn from_parts<'s>(
        match_labels: Option<&BTreeMap<String, String>>,
        match_expressions: impl Iterator<Item = (&'s str, &'s str, Option<&'s [String]>)>,
    ) -> Result<Self, String> {
        let labels = match_labels.cloned().unwrap_or_default();
        let mut expressions = Vec::new();
        for (key, operator, values) in match_expressions {
            let values = values.map(<[String]>::to_vec).unwrap_or_default();
            let key = key.to_owned();
            let expression = match operator {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(format!("operator {operator} on key {key:?} needs values"));
                }
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(format!("operator {operator} on key {key:?} takes no values"));
                }
                "In" => Expression::In(key, values),
                "NotIn" => Expression::NotIn(key, values),
                "Exists" => Expression::Exists(key),
                "DoesNotExist" => Expression::DoesNotExist(key),
                other => return Err(format!("unknown selector operator {other:?}")),
            };
            expressions.push(expression);
        }
        Ok(Self { labels, expressions })
    }

    /// Whether `labels` satisfy the selector (an empty selector matches everything).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.expressions.iter().all(|e| match e {
                Expression::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
                Expression::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
                Expression::Exists(k) => labels.contains_key(k),
                Expression::DoesNotExist(k) => !labels.contains_key(k),
            })
    }
}

#[cfg(test)]
mod tests {
    use gateway_api::experimental::gateways::GatewayListenersAllowedRoutesNamespacesSelectorMatchExpressions as Expr;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn expr(key: &str, operator: &str, values: &[&str]) -> Expr {
        Expr {
            key: key.into(),
            operator: operator.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| (*v).to_owned()).collect()),
        }
    }

    #[test]
    fn selector_table() {
        let ns = labels(&[("env", "prod"), ("team", "a")]);
        type Case = (Option<BTreeMap<String, String>>, Vec<Expr>, bool);
        let cases: Vec<Case> = vec![
            (None, vec![], true),
            (Some(labels(&[("env", "prod")])), vec![], true),
            (Some(labels(&[("env", "dev")])), vec![], false),
            (None, vec![expr("env", "In", &["dev", "prod"])], true),
            (None, vec![expr("env", "NotIn", &["prod"])], false),
            (None, vec![expr("missing", "NotIn", &["x"])], true),
            (None, vec![expr("team", "Exists", &[])], true),
            (None, vec![expr("team", "DoesNotExist", &[])], false),
            (
                Some(labels(&[("env", "prod")])),
                vec![expr("team", "In", &["b"])],
                false,
            ),
        ];
        for (match_labels, match_expressions, want) in cases {
            let spec = GatewayListenersAllowedRoutesNamespacesSelector {
                match_labels: match_labels.clone(),
                match_expressions: Some(match_expressions.clone()),
            };
            let selector = LabelSelector::from_spec(&spec).unwrap();
            assert_eq!(selector.matches(&ns), want, "{match_labels:?} {match_expressions:?}");
        }
    }

    #[test]
    fn invalid_selectors_are_errors() {
        for e in [
            expr("a", "In", &[]),
            expr("a", "Exists", &["x"]),
            expr("a", "Like", &["x"]),
        ] {
            let spec = GatewayListenersAllowedRoutesNamespacesSelector {
                match_labels: None,
                match_expressions: Some(vec![e]),
            };
            assert!(LabelSelector::from_spec(&spec).is_err());
        }
    }
}
