//! GatewayClass: accept the classes that name Rauta's controller and publish our features.

use std::collections::BTreeMap;

use gateway_api::experimental::gatewayclasses::{GatewayClassStatus, GatewayClassStatusSupportedFeatures};

use crate::CONTROLLER_NAME;
use crate::index::Index;
use crate::problem::Problem;
use crate::status::{Cond, ResourceStatus, Status, conditions};

/// The Gateway API features Rauta implements, by their official names, sorted.
///
/// Left out on purpose: `HTTPRouteDestinationPortMatching` (experimental), the experimental retry
/// features and `GatewayAddressEmpty` (the translator cannot publish an address it did not bind).
pub const SUPPORTED_FEATURES: &[&str] = &[
    "BackendTLSPolicy",
    "BackendTLSPolicySANValidation",
    "GRPCRoute",
    "GRPCRouteNamedRouteRule",
    "Gateway",
    "GatewayBackendClientCertificate",
    "GatewayFrontendClientCertificateValidation",
    "GatewayFrontendClientCertificateValidationInsecureFallback",
    "GatewayHTTPListenerIsolation",
    "GatewayHTTPSListenerDetectMisdirectedRequests",
    "GatewayPort8080",
    "GatewayStaticAddresses",
    "HTTPRoute",
    "HTTPRoute303RedirectStatusCode",
    "HTTPRoute307RedirectStatusCode",
    "HTTPRoute308RedirectStatusCode",
    "HTTPRouteBackendProtocolH2C",
    "HTTPRouteBackendProtocolWebSocket",
    "HTTPRouteBackendRequestHeaderModification",
    "HTTPRouteBackendTimeout",
    "HTTPRouteCORS",
    "HTTPRouteHostRewrite",
    "HTTPRouteMethodMatching",
    "HTTPRouteNamedRouteRule",
    "HTTPRouteParentRefPort",
    "HTTPRoutePathRedirect",
    "HTTPRoutePathRewrite",
    "HTTPRoutePortRedirect",
    "HTTPRouteQueryParamMatching",
    "HTTPRouteRequestMirror",
    "HTTPRouteRequestMultipleMirrors",
    "HTTPRouteRequestPercentageMirror",
    "HTTPRouteRequestTimeout",
    "HTTPRouteResponseHeaderModification",
    "HTTPRouteSchemeRedirect",
    "ListenerSet",
    "ReferenceGrant",
    "TCPRoute",
    "TLSRoute",
    "TLSRouteModeMixed",
    "TLSRouteModeTerminate",
    "UDPRoute",
];

/// Rauta's GatewayClasses: name → accepted.
pub(crate) type Classes<'a> = BTreeMap<&'a str, bool>;

/// Reconciles every class whose `controllerName` is ours; other classes are not touched.
pub(crate) fn reconcile<'a>(
    index: &Index<'a>,
    statuses: &mut Vec<ResourceStatus>,
    problems: &mut Vec<Problem>,
) -> Classes<'a> {
    let mut classes = Classes::new();
    for (name, class) in &index.classes {
        if class.resource.spec.controller_name != CONTROLLER_NAME {
            continue;
        }
        let accepted = match &class.resource.spec.parameters_ref {
            None => Cond::yes("Accepted", "Accepted", "Rauta handles this class"),
            Some(p) => Cond::no(
                "Accepted",
                "InvalidParameters",
                format!(
                    "parametersRef {}/{} {:?} is not supported: Rauta takes no class parameters",
                    p.group, p.kind, p.name
                ),
            ),
        };
        if !accepted.ok {
            problems.push(accepted.problem(&class.subject(), "spec.parametersRef"));
        }
        let status = GatewayClassStatus {
            conditions: Some(conditions(std::slice::from_ref(&accepted), class.generation())),
            supported_features: Some(
                SUPPORTED_FEATURES
                    .iter()
                    .map(|f| GatewayClassStatusSupportedFeatures { name: (*f).to_owned() })
                    .collect(),
            ),
        };
        statuses.push(ResourceStatus {
            kind: "GatewayClass".into(),
            namespace: None,
            name: (*name).to_owned(),
            status: Status::GatewayClass(status),
        });
        classes.insert(name, accepted.ok);
    }
    classes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_sorted_and_unique() {
        assert!(SUPPORTED_FEATURES.windows(2).all(|w| w[0] < w[1]));
    }
}
