//! ReferenceGrant: whether a cross-namespace reference is allowed.

use crate::index::Index;

/// The referencing object: group, kind and namespace (`from` of a grant).
#[derive(Clone, Copy, Debug)]
pub(crate) struct From<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
}

/// The referenced object: group, kind, namespace and name (`to` of a grant, plus where it lives).
#[derive(Clone, Copy, Debug)]
pub(crate) struct To<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

/// Whether the reference is allowed: same namespace, or a grant in the target's namespace with a
/// `from` entry matching group, kind and namespace exactly and a `to` entry matching group and kind
/// (and name, when the entry names one). The core group is the empty string.
pub(crate) fn permits(index: &Index<'_>, from: From<'_>, to: To<'_>) -> bool {
    if from.namespace == to.namespace {
        return true;
    }
    index.grants.get(to.namespace).into_iter().flatten().any(|grant| {
        let spec = &grant.resource.spec;
        spec.from
            .iter()
            .any(|f| f.group == from.group && f.kind == from.kind && f.namespace == from.namespace)
            && spec
                .to
                .iter()
                .any(|t| t.group == to.group && t.kind == to.kind && t.name.as_deref().is_none_or(|n| n == to.name))
    })
}

#[cfg(test)]
mod tests {
    use gateway_api::experimental::referencegrants::{
        ReferenceGrant, ReferenceGrantFrom, ReferenceGrantSpec, ReferenceGrantTo,
    };

    use super::*;
    use crate::inputs::{Inputs, Sourced};

    const GW: &str = "gateway.networking.k8s.io";

    fn grant(ns: &str, from: (&str, &str, &str), to: (&str, &str, Option<&str>)) -> Sourced<ReferenceGrant> {
        let mut g = ReferenceGrant::new(
            "g",
            ReferenceGrantSpec {
                from: vec![ReferenceGrantFrom {
                    group: from.0.into(),
                    kind: from.1.into(),
                    namespace: from.2.into(),
                }],
                to: vec![ReferenceGrantTo {
                    group: to.0.into(),
                    kind: to.1.into(),
                    name: to.2.map(Into::into),
                }],
            },
        );
        g.metadata.namespace = Some(ns.into());
        Sourced::new(None, g)
    }

    /// The seven near-misses of the conformance suite, plus the two grants that work.
    #[test]
    fn every_field_counts() {
        let from = From {
            group: GW,
            kind: "HTTPRoute",
            namespace: "infra",
        };
        let to = To {
            group: "",
            kind: "Service",
            namespace: "web",
            name: "web-backend",
        };
        let cases = [
            (grant("web", (GW, "HTTPRoute", "infra"), ("", "Service", None)), true),
            (
                grant("web", (GW, "HTTPRoute", "infra"), ("", "Service", Some("web-backend"))),
                true,
            ),
            (grant("infra", (GW, "HTTPRoute", "infra"), ("", "Service", None)), false),
            (
                grant("web", ("wrong.group", "HTTPRoute", "infra"), ("", "Service", None)),
                false,
            ),
            (grant("web", (GW, "Gateway", "infra"), ("", "Service", None)), false),
            (grant("web", (GW, "HTTPRoute", "other"), ("", "Service", None)), false),
            (
                grant("web", (GW, "HTTPRoute", "infra"), ("wrong.group", "Service", None)),
                false,
            ),
            (grant("web", (GW, "HTTPRoute", "infra"), ("", "Secret", None)), false),
            (
                grant("web", (GW, "HTTPRoute", "infra"), ("", "Service", Some("other"))),
                false,
            ),
        ];
        for (i, (g, want)) in cases.into_iter().enumerate() {
            let inputs = Inputs {
                reference_grants: vec![g],
                ..Inputs::default()
            };
            let index = Index::build(&inputs, &mut Vec::new());
            assert_eq!(permits(&index, from, to), want, "case {i}");
        }
    }
}
