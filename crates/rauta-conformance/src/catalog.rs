//! The official conformance suite's tests and profiles (Gateway API `main` @ 4564255): names,
//! features and provisional flags, as the report counts them. Mesh tests are left out: Rauta is
//! a gateway.

/// One official test: its short name, the features it needs, and whether it is provisional.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfficialTest {
    /// Short name, e.g. `HTTPRouteSimpleSameNamespace`.
    pub name: &'static str,
    /// Every feature the test needs; it runs only when all are claimed.
    pub features: &'static [&'static str],
    /// Provisional tests are counted like the others and listed in `succeededProvisionalTests`.
    pub provisional: bool,
}

const fn t(name: &'static str, features: &'static [&'static str], provisional: bool) -> OfficialTest {
    OfficialTest {
        name,
        features,
        provisional,
    }
}

/// A conformance profile: the core features it implies and the extended features it counts.
#[derive(Debug)]
pub struct Profile {
    /// Name, e.g. `GATEWAY-HTTP`.
    pub name: &'static str,
    /// Features every implementation of the profile has.
    pub core: &'static [&'static str],
    /// Optional features the profile reports on, in groups.
    pub extended: &'static [&'static [&'static str]],
}

impl Profile {
    /// Whether `test` is counted in this profile (all its features belong to it).
    pub fn counts(&self, test: &OfficialTest) -> bool {
        test.features
            .iter()
            .all(|f| self.core.contains(f) || self.is_extended_feature(f))
    }

    /// Whether `feature` is one of the extended features of this profile.
    pub fn is_extended_feature(&self, feature: &str) -> bool {
        self.extended_features().any(|f| f == feature)
    }

    /// Every extended feature of this profile.
    pub fn extended_features(&self) -> impl Iterator<Item = &'static str> {
        self.extended.iter().flat_map(|group| group.iter().copied())
    }

    /// Whether `test` is counted as extended here (it needs a feature beyond the core ones).
    pub fn is_extended(&self, test: &OfficialTest) -> bool {
        test.features.iter().any(|f| !self.core.contains(f))
    }

    /// The profile named `name`.
    pub fn named(name: &str) -> Option<&'static Profile> {
        PROFILES.iter().find(|p| p.name == name)
    }
}

/// Extended features of Gateways, counted in every GATEWAY-* profile.
const GATEWAY_EXTENDED: &[&str] = &[
    "GatewayPort8080",
    "GatewayStaticAddresses",
    "GatewayHTTPListenerIsolation",
    "GatewayHTTPSListenerDetectMisdirectedRequests",
    "GatewayInfrastructurePropagation",
    "GatewayAddressEmpty",
    "GatewayBackendClientCertificate",
    "GatewayFrontendClientCertificateValidation",
    "GatewayFrontendClientCertificateValidationInsecureFallback",
    "ListenerSet",
];

/// Extended features of HTTPRoutes.
const HTTPROUTE_EXTENDED: &[&str] = &[
    "HTTPRouteDestinationPortMatching",
    "HTTPRouteBackendRequestHeaderModification",
    "HTTPRouteQueryParamMatching",
    "HTTPRouteMethodMatching",
    "HTTPRouteResponseHeaderModification",
    "HTTPRoutePortRedirect",
    "HTTPRouteSchemeRedirect",
    "HTTPRoutePathRedirect",
    "HTTPRouteHostRewrite",
    "HTTPRoutePathRewrite",
    "HTTPRouteRequestMirror",
    "HTTPRouteRequestMultipleMirrors",
    "HTTPRouteRequestPercentageMirror",
    "HTTPRouteRequestTimeout",
    "HTTPRouteBackendTimeout",
    "HTTPRouteParentRefPort",
    "HTTPRouteBackendProtocolH2C",
    "HTTPRouteBackendProtocolWebSocket",
    "HTTPRouteNamedRouteRule",
    "HTTPRouteCORS",
    "HTTPRoute303RedirectStatusCode",
    "HTTPRoute307RedirectStatusCode",
    "HTTPRoute308RedirectStatusCode",
    "HTTPRouteRetry",
    "HTTPRouteRetryBackendTimeout",
    "HTTPRouteRetryConnectionError",
    "HTTPRouteBackendURLRewrite",
    "HTTPRouteBackendRequestRedirect",
];

/// BackendTLSPolicy features, counted by the GATEWAY-HTTP, -GRPC and -TLS profiles.
const BACKEND_TLS: &[&str] = &["BackendTLSPolicy", "BackendTLSPolicySANValidation"];

/// The profiles Rauta can report on.
pub static PROFILES: &[Profile] = &[
    Profile {
        name: "GATEWAY-HTTP",
        core: &["Gateway", "ReferenceGrant", "HTTPRoute"],
        extended: &[GATEWAY_EXTENDED, HTTPROUTE_EXTENDED, BACKEND_TLS],
    },
    Profile {
        name: "GATEWAY-GRPC",
        core: &["Gateway", "ReferenceGrant", "GRPCRoute"],
        extended: &[GATEWAY_EXTENDED, BACKEND_TLS],
    },
    Profile {
        name: "GATEWAY-TLS",
        core: &["Gateway", "ReferenceGrant", "TLSRoute"],
        extended: &[
            GATEWAY_EXTENDED,
            &["TLSRouteModeTerminate", "TLSRouteModeMixed"],
            BACKEND_TLS,
        ],
    },
];

/// Every Gateway-side test of the suite, by short name.
pub static TESTS: &[OfficialTest] = &[
    t("BackendTLSPolicy", &["Gateway", "HTTPRoute", "BackendTLSPolicy"], false),
    t(
        "BackendTLSPolicyConflictResolution",
        &["Gateway", "HTTPRoute", "BackendTLSPolicy"],
        false,
    ),
    t(
        "BackendTLSPolicyGRPCRoute",
        &["Gateway", "GRPCRoute", "BackendTLSPolicy"],
        false,
    ),
    t(
        "BackendTLSPolicyInvalidCACertificateRef",
        &["Gateway", "HTTPRoute", "BackendTLSPolicy"],
        false,
    ),
    t(
        "BackendTLSPolicyInvalidKind",
        &["Gateway", "HTTPRoute", "BackendTLSPolicy"],
        false,
    ),
    t(
        "BackendTLSPolicyObservedGenerationBump",
        &["Gateway", "HTTPRoute", "BackendTLSPolicy"],
        false,
    ),
    t(
        "BackendTLSPolicySANValidation",
        &[
            "Gateway",
            "HTTPRoute",
            "BackendTLSPolicy",
            "BackendTLSPolicySANValidation",
        ],
        false,
    ),
    t(
        "BackendTLSPolicyTLSRouteTerminate",
        &["Gateway", "TLSRoute", "TLSRouteModeTerminate", "BackendTLSPolicy"],
        true,
    ),
    t("GRPCExactMethodMatching", &["Gateway", "GRPCRoute"], false),
    t("GRPCRouteHeaderMatching", &["Gateway", "GRPCRoute"], false),
    t("GRPCRouteListenerHostnameMatching", &["Gateway", "GRPCRoute"], false),
    t(
        "GRPCRouteNamedRule",
        &["Gateway", "GRPCRoute", "GRPCRouteNamedRouteRule"],
        true,
    ),
    t(
        "GRPCRouteRequestHeaderModifier",
        &["Gateway", "GRPCRoute", "GRPCRouteRequestHeaderModifier"],
        false,
    ),
    t("GRPCRouteWeight", &["Gateway", "GRPCRoute"], false),
    t("GatewayClassObservedGenerationBump", &["Gateway"], false),
    t(
        "GatewayFrontendClientCertificateValidation",
        &["Gateway", "HTTPRoute", "GatewayFrontendClientCertificateValidation"],
        false,
    ),
    t(
        "GatewayFrontendClientCertificateValidationInsecureFallback",
        &[
            "Gateway",
            "HTTPRoute",
            "GatewayFrontendClientCertificateValidation",
            "GatewayFrontendClientCertificateValidationInsecureFallback",
        ],
        false,
    ),
    t(
        "GatewayFrontendInvalidDefaultClientCertificateValidation",
        &["Gateway", "HTTPRoute", "GatewayFrontendClientCertificateValidation"],
        false,
    ),
    t(
        "GatewayHTTPListenerIsolation",
        &["Gateway", "GatewayHTTPListenerIsolation", "HTTPRoute"],
        false,
    ),
    t(
        "GatewayInfrastructure",
        &["Gateway", "GatewayInfrastructurePropagation"],
        true,
    ),
    t(
        "GatewayInvalidFrontendClientCertificateValidation",
        &[
            "Gateway",
            "HTTPRoute",
            "ReferenceGrant",
            "GatewayFrontendClientCertificateValidation",
        ],
        false,
    ),
    t("GatewayInvalidParametersRef", &["Gateway"], false),
    t("GatewayInvalidRouteKind", &["Gateway"], false),
    t(
        "GatewayInvalidTLSBackendConfiguration",
        &[
            "Gateway",
            "GatewayBackendClientCertificate",
            "HTTPRoute",
            "BackendTLSPolicy",
        ],
        false,
    ),
    t("GatewayInvalidTLSConfiguration", &["Gateway"], false),
    t("GatewayListenerUnsupportedProtocol", &["Gateway"], false),
    t("GatewayModifyListeners", &["Gateway"], false),
    t("GatewayNameMaximumLength", &["Gateway"], false),
    t("GatewayObservedGenerationBump", &["Gateway"], false),
    t("GatewayOptionalAddressValue", &["Gateway", "GatewayAddressEmpty"], true),
    t(
        "GatewaySecretInvalidReferenceGrant",
        &["Gateway", "ReferenceGrant"],
        false,
    ),
    t(
        "GatewaySecretMissingReferenceGrant",
        &["Gateway", "ReferenceGrant"],
        false,
    ),
    t(
        "GatewaySecretReferenceGrantAllInNamespace",
        &["Gateway", "ReferenceGrant"],
        false,
    ),
    t(
        "GatewaySecretReferenceGrantSpecific",
        &["Gateway", "ReferenceGrant"],
        false,
    ),
    t("GatewayStaticAddresses", &["Gateway", "GatewayStaticAddresses"], false),
    t(
        "GatewayTLSBackendClientCertificate",
        &[
            "Gateway",
            "GatewayBackendClientCertificate",
            "HTTPRoute",
            "BackendTLSPolicy",
        ],
        false,
    ),
    t("GatewayWithAttachedRoutes", &["Gateway", "HTTPRoute"], false),
    t(
        "GatewayWithAttachedRoutesWithPort8080",
        &["Gateway", "GatewayPort8080", "HTTPRoute"],
        false,
    ),
    t(
        "HTTPRoute303Redirect",
        &["Gateway", "HTTPRoute", "HTTPRoute303RedirectStatusCode"],
        true,
    ),
    t(
        "HTTPRoute307Redirect",
        &["Gateway", "HTTPRoute", "HTTPRoute307RedirectStatusCode"],
        true,
    ),
    t(
        "HTTPRoute308Redirect",
        &["Gateway", "HTTPRoute", "HTTPRoute308RedirectStatusCode"],
        true,
    ),
    t(
        "HTTPRouteBackendProtocolH2C",
        &["Gateway", "HTTPRoute", "HTTPRouteBackendProtocolH2C"],
        false,
    ),
    t(
        "HTTPRouteBackendProtocolWebSocket",
        &["Gateway", "HTTPRoute", "HTTPRouteBackendProtocolWebSocket"],
        false,
    ),
    t(
        "HTTPRouteBackendRequestHeaderModifier",
        &["Gateway", "HTTPRoute", "HTTPRouteBackendRequestHeaderModification"],
        false,
    ),
    t(
        "HTTPRouteBackendRequestRedirect",
        &["Gateway", "HTTPRoute", "HTTPRouteBackendRequestRedirect"],
        false,
    ),
    t(
        "HTTPRouteBackendURLRewrite",
        &["Gateway", "HTTPRoute", "HTTPRouteBackendURLRewrite"],
        false,
    ),
    t("HTTPRouteCORS", &["Gateway", "HTTPRoute", "HTTPRouteCORS"], false),
    t("HTTPRouteCrossNamespace", &["Gateway", "HTTPRoute"], false),
    t("HTTPRouteDisallowedKind", &["Gateway", "HTTPRoute", "TLSRoute"], false),
    t("HTTPRouteExactPathMatching", &["Gateway", "HTTPRoute"], false),
    t("HTTPRouteHTTPSListener", &["Gateway", "HTTPRoute"], false),
    t(
        "HTTPRouteHTTPSListenerDetectMisdirectedRequests",
        &["Gateway", "GatewayHTTPSListenerDetectMisdirectedRequests", "HTTPRoute"],
        false,
    ),
    t("HTTPRouteHeaderMatching", &["Gateway", "HTTPRoute"], false),
    t("HTTPRouteHostnameIntersection", &["Gateway", "HTTPRoute"], false),
    t(
        "HTTPRouteInvalidBackendRefUnknownKind",
        &["Gateway", "HTTPRoute"],
        false,
    ),
    t(
        "HTTPRouteInvalidCrossNamespaceBackendRef",
        &["Gateway", "HTTPRoute", "ReferenceGrant"],
        false,
    ),
    t(
        "HTTPRouteInvalidCrossNamespaceParentRef",
        &["Gateway", "HTTPRoute"],
        false,
    ),
    t(
        "HTTPRouteInvalidNonExistentBackendRef",
        &["Gateway", "HTTPRoute"],
        false,
    ),
    t(
        "HTTPRouteInvalidParentRefNotMatchingListenerPort",
        &["Gateway", "HTTPRoute", "HTTPRouteDestinationPortMatching"],
        false,
    ),
    t(
        "HTTPRouteInvalidParentRefNotMatchingSectionName",
        &["Gateway", "HTTPRoute"],
        false,
    ),
    t(
        "HTTPRouteInvalidParentRefSectionNameNotMatchingPort",
        &["Gateway", "HTTPRoute", "HTTPRouteParentRefPort"],
        false,
    ),
    t(
        "HTTPRouteInvalidReferenceGrant",
        &["Gateway", "HTTPRoute", "ReferenceGrant"],
        false,
    ),
    t("HTTPRouteListenerHostnameMatching", &["Gateway", "HTTPRoute"], false),
    t(
        "HTTPRouteListenerPortMatching",
        &["Gateway", "HTTPRoute", "HTTPRouteParentRefPort"],
        false,
    ),
    t("HTTPRouteMatching", &["Gateway", "HTTPRoute"], false),
    t("HTTPRouteMatchingAcrossRoutes", &["Gateway", "HTTPRoute"], false),
    t(
        "HTTPRouteMethodMatching",
        &["Gateway", "HTTPRoute", "HTTPRouteMethodMatching"],
        false,
    ),
    t("HTTPRouteMultipleGateways", &["Gateway", "HTTPRoute"], false),
    t(
        "HTTPRouteNamedRule",
        &["Gateway", "HTTPRoute", "HTTPRouteNamedRouteRule"],
        true,
    ),
    t("HTTPRouteNoBackendRefs", &["Gateway", "HTTPRoute"], false),
    t("HTTPRouteObservedGenerationBump", &["Gateway", "HTTPRoute"], false),
    t(
        "HTTPRoutePartiallyInvalidViaInvalidReferenceGrant",
        &["Gateway", "HTTPRoute", "ReferenceGrant"],
        false,
    ),
    t("HTTPRoutePathMatchOrder", &["Gateway", "HTTPRoute"], false),
    t(
        "HTTPRouteQueryParamMatching",
        &["Gateway", "HTTPRoute", "HTTPRouteQueryParamMatching"],
        false,
    ),
    t("HTTPRouteRedirectHostAndStatus", &["Gateway", "HTTPRoute"], false),
    t(
        "HTTPRouteRedirectPath",
        &["Gateway", "HTTPRoute", "HTTPRoutePathRedirect"],
        false,
    ),
    t(
        "HTTPRouteRedirectPort",
        &["Gateway", "HTTPRoute", "HTTPRoutePortRedirect"],
        false,
    ),
    t(
        "HTTPRouteRedirectPortAndScheme",
        &["Gateway", "HTTPRoute", "HTTPRoutePortRedirect", "GatewayPort8080"],
        false,
    ),
    t(
        "HTTPRouteRedirectScheme",
        &["Gateway", "HTTPRoute", "HTTPRouteSchemeRedirect"],
        false,
    ),
    t(
        "HTTPRouteReferenceGrant",
        &["Gateway", "HTTPRoute", "ReferenceGrant"],
        false,
    ),
    t("HTTPRouteRequestHeaderModifier", &["Gateway", "HTTPRoute"], false),
    t(
        "HTTPRouteRequestHeaderModifierBackendWeights",
        &["Gateway", "HTTPRouteBackendRequestHeaderModification", "HTTPRoute"],
        false,
    ),
    t(
        "HTTPRouteRequestMirror",
        &["Gateway", "HTTPRoute", "HTTPRouteRequestMirror"],
        false,
    ),
    t(
        "HTTPRouteRequestMultipleMirrors",
        &[
            "Gateway",
            "HTTPRoute",
            "HTTPRouteRequestMirror",
            "HTTPRouteRequestMultipleMirrors",
        ],
        false,
    ),
    t(
        "HTTPRouteRequestPercentageMirror",
        &["Gateway", "HTTPRoute", "HTTPRouteRequestPercentageMirror"],
        true,
    ),
    t(
        "HTTPRouteResponseHeaderModifier",
        &["Gateway", "HTTPRoute", "HTTPRouteResponseHeaderModification"],
        false,
    ),
    t("HTTPRouteRetry", &["Gateway", "HTTPRoute", "HTTPRouteRetry"], false),
    t(
        "HTTPRouteRetryConnectionError",
        &[
            "Gateway",
            "HTTPRoute",
            "HTTPRouteRetry",
            "HTTPRouteRetryConnectionError",
        ],
        false,
    ),
    t(
        "HTTPRouteRetryWithTimeouts",
        &[
            "Gateway",
            "HTTPRoute",
            "HTTPRouteRetry",
            "HTTPRouteRetryBackendTimeout",
            "HTTPRouteRequestTimeout",
            "HTTPRouteBackendTimeout",
        ],
        false,
    ),
    t(
        "HTTPRouteRewriteHost",
        &["Gateway", "HTTPRoute", "HTTPRouteHostRewrite"],
        false,
    ),
    t(
        "HTTPRouteRewritePath",
        &["Gateway", "HTTPRoute", "HTTPRoutePathRewrite"],
        false,
    ),
    t("HTTPRouteServiceTypes", &["Gateway", "HTTPRoute"], false),
    t("HTTPRouteSimpleSameNamespace", &["Gateway", "HTTPRoute"], false),
    t(
        "HTTPRouteTimeoutBackendRequest",
        &["Gateway", "HTTPRoute", "HTTPRouteBackendTimeout"],
        false,
    ),
    t(
        "HTTPRouteTimeoutRequest",
        &["Gateway", "HTTPRoute", "HTTPRouteRequestTimeout"],
        false,
    ),
    t("HTTPRouteWeight", &["Gateway", "HTTPRoute"], false),
    t("ListenerSetAllowedNamespaceNone", &["Gateway", "ListenerSet"], false),
    t("ListenerSetAllowedNamespaceSame", &["Gateway", "ListenerSet"], false),
    t(
        "ListenerSetAllowedNamespaceSelector",
        &["Gateway", "ListenerSet"],
        false,
    ),
    t(
        "ListenerSetAllowedRoutesNamespaces",
        &["Gateway", "ListenerSet", "HTTPRoute", "ReferenceGrant"],
        false,
    ),
    t(
        "ListenerSetAllowedRoutesSupportedKinds",
        &["Gateway", "ListenerSet", "TLSRoute"],
        false,
    ),
    t("ListenerSetDefaultNotAllowed", &["Gateway", "ListenerSet"], false),
    t(
        "ListenerSetDualParentRefIndependence",
        &["Gateway", "ListenerSet", "HTTPRoute"],
        false,
    ),
    t(
        "ListenerSetGatewayParentSectionNameNotFound",
        &["Gateway", "ListenerSet", "HTTPRoute"],
        false,
    ),
    t(
        "ListenerSetHTTPRouting",
        &["Gateway", "ListenerSet", "HTTPRoute"],
        false,
    ),
    t("ListenerSetHostnameConflict", &["Gateway", "ListenerSet"], false),
    t("ListenerSetProtocolConflict", &["Gateway", "ListenerSet"], false),
    t(
        "ListenerSetReferenceGrant",
        &["Gateway", "ListenerSet", "ReferenceGrant"],
        false,
    ),
    t(
        "ListenerSetRouteStatusScopedToParentRef",
        &["Gateway", "ListenerSet", "HTTPRoute"],
        false,
    ),
    t("TCPRouteInvalidBackendRefNonexistent", &["Gateway", "TCPRoute"], true),
    t(
        "TCPRouteInvalidCrossNamespaceBackendRef",
        &["Gateway", "TCPRoute", "ReferenceGrant"],
        true,
    ),
    t("TCPRouteInvalidNonTCPListener", &["Gateway", "TCPRoute"], true),
    t("TCPRouteMultipleRoutesAttachment", &["Gateway", "TCPRoute"], false),
    t("TCPRouteParentRefAttachAll", &["Gateway", "TCPRoute"], true),
    t("TCPRouteParentRefPortAndSectionName", &["Gateway", "TCPRoute"], true),
    t(
        "TCPRouteReferenceGrant",
        &["Gateway", "TCPRoute", "ReferenceGrant"],
        true,
    ),
    t("TCPRouteWeightedRouting", &["Gateway", "TCPRoute"], true),
    t("TLSRouteHostnameIntersection", &["Gateway", "TLSRoute"], false),
    t("TLSRouteInvalidBackendRefNonexistent", &["Gateway", "TLSRoute"], false),
    t("TLSRouteInvalidBackendRefUnknownKind", &["Gateway", "TLSRoute"], false),
    t("TLSRouteInvalidNoMatchingListener", &["Gateway", "TLSRoute"], false),
    t(
        "TLSRouteInvalidNoMatchingListenerHostname",
        &["Gateway", "TLSRoute"],
        false,
    ),
    t(
        "TLSRouteInvalidReferenceGrant",
        &["Gateway", "TLSRoute", "ReferenceGrant"],
        false,
    ),
    t(
        "TLSRouteListenerMixedTerminationNotSupported",
        &["Gateway", "TLSRoute", "TLSRouteModeTerminate"],
        false,
    ),
    t(
        "TLSRouteListenerPassthroughSupportedKinds",
        &["Gateway", "TLSRoute"],
        false,
    ),
    t("TLSRouteListenerTerminateNotSupported", &["Gateway", "TLSRoute"], false),
    t(
        "TLSRouteListenerTerminateSupportedKinds",
        &["Gateway", "TLSRoute", "TLSRouteModeTerminate"],
        false,
    ),
    t(
        "TLSRouteMixedTerminationSameNamespace",
        &["Gateway", "TLSRoute", "TLSRouteModeTerminate", "TLSRouteModeMixed"],
        true,
    ),
    t("TLSRouteSimpleSameNamespace", &["Gateway", "TLSRoute"], false),
    t(
        "TLSRouteTerminateSimpleSameNamespace",
        &["Gateway", "TLSRoute", "TLSRouteModeTerminate"],
        true,
    ),
    t("UDPRoute", &["UDPRoute", "Gateway"], true),
    t("UDPRouteInvalidBackendRefNonexistent", &["Gateway", "UDPRoute"], true),
    t(
        "UDPRouteInvalidCrossNamespaceBackendRef",
        &["Gateway", "UDPRoute", "ReferenceGrant"],
        true,
    ),
    t("UDPRouteMultipleRoutesAttachment", &["Gateway", "UDPRoute"], true),
    t("UDPRouteNotAllowedByListeners", &["Gateway", "UDPRoute"], true),
    t("UDPRouteParentRefAttachAllListeners", &["Gateway", "UDPRoute"], true),
    t("UDPRouteParentRefPortAndSectionName", &["Gateway", "UDPRoute"], true),
    t(
        "UDPRouteReferenceGrant",
        &["Gateway", "UDPRoute", "ReferenceGrant"],
        true,
    ),
    t("UDPRouteWeightedRouting", &["Gateway", "UDPRoute"], true),
];

/// The official test named `name`.
pub fn test_named(name: &str) -> Option<&'static OfficialTest> {
    TESTS.iter().find(|t| t.name == name)
}
