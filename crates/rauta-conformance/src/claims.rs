//! What Rauta claims to support (the suite's `--supported-features`), what it does not and why,
//! and what the standalone runner itself can provide to a scenario.
//!
//! Change this file when a feature lands: claiming a feature makes its tests run (and fail
//! loudly if the claim is wrong); lifting a [`Need`] makes the scenarios waiting for it run.

/// Features Rauta claims. A test runs only when every one of its features is here.
pub const CLAIMED: &[&str] = &[
    // Core of GATEWAY-HTTP.
    "Gateway",
    "HTTPRoute",
    "ReferenceGrant",
    // Gateway extended.
    "GatewayPort8080",
    "GatewayStaticAddresses",
    "GatewayHTTPListenerIsolation",
    // HTTPRoute extended.
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

/// Features Rauta does not claim, with the reason written into the report.
pub const NOT_CLAIMED: &[(&str, &str)] = &[
    (
        "GatewayAddressEmpty",
        "standalone Rauta has no address pool: a type-only address binds 0.0.0.0",
    ),
    (
        "GatewayInfrastructurePropagation",
        "Kubernetes only: standalone Rauta creates no Pods or Services",
    ),
    (
        "GatewayHTTPSListenerDetectMisdirectedRequests",
        "needs HTTPS listeners (not implemented yet)",
    ),
    (
        "GatewayBackendClientCertificate",
        "needs TLS to backends (not implemented yet)",
    ),
    (
        "GatewayFrontendClientCertificateValidation",
        "needs HTTPS listeners (not implemented yet)",
    ),
    (
        "GatewayFrontendClientCertificateValidationInsecureFallback",
        "needs HTTPS listeners (not implemented yet)",
    ),
    ("ListenerSet", "ListenerSet is not implemented"),
    ("BackendTLSPolicy", "needs TLS to backends (not implemented yet)"),
    (
        "BackendTLSPolicySANValidation",
        "needs TLS to backends (not implemented yet)",
    ),
    ("GRPCRoute", "GRPCRoute is not implemented yet"),
    ("GRPCRouteNamedRouteRule", "GRPCRoute is not implemented yet"),
    ("GRPCRouteRequestHeaderModifier", "GRPCRoute is not implemented yet"),
    ("TLSRoute", "TLSRoute is not implemented yet"),
    ("TLSRouteModeTerminate", "TLSRoute is not implemented yet"),
    ("TLSRouteModeMixed", "TLSRoute is not implemented yet"),
    ("TCPRoute", "TCPRoute is not implemented"),
    ("UDPRoute", "UDPRoute is not implemented"),
];

/// Whether Rauta claims `feature`.
pub fn claims(feature: &str) -> bool {
    CLAIMED.contains(&feature)
}

/// Why Rauta does not claim `feature`.
pub fn why_not(feature: &str) -> &'static str {
    NOT_CLAIMED
        .iter()
        .find(|(f, _)| *f == feature)
        .map_or("not claimed", |(_, why)| why)
}

/// Something a scenario needs beyond its official features: a part of Rauta that the features
/// do not name (HTTPS listeners serve core tests too) or something only a cluster has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// HTTPS listeners (TLS termination with Secrets).
    HttpsListeners,
}

impl Need {
    /// `None` when the need is met; otherwise why the scenario is skipped.
    pub fn missing(self) -> Option<&'static str> {
        match self {
            Need::HttpsListeners => Some("needs HTTPS listeners, which Rauta does not serve yet"),
        }
    }
}
