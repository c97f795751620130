//! What Rauta claims to support (the suite's `--supported-features`), what it does not and why,
//! and what the standalone runner itself can provide to a scenario.
//!
//! Change this file when a feature lands: claiming a feature makes its tests run (and fail
//! loudly if the claim is wrong); lifting a [`Need`] makes the scenarios waiting for it run.

/// Features Rauta claims. A test runs only when every one of its features is here.
pub const CLAIMED: &[&str] = &[
    // Core of GATEWAY-HTTP and GATEWAY-GRPC.
    "Gateway",
    "HTTPRoute",
    "GRPCRoute",
    "ReferenceGrant",
    // Gateway extended.
    "GatewayPort8080",
    "GatewayStaticAddresses",
    "GatewayHTTPListenerIsolation",
    "GatewayHTTPSListenerDetectMisdirectedRequests",
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
    // Gateway TLS: client certificate validation.
    "GatewayFrontendClientCertificateValidation",
    "GatewayFrontendClientCertificateValidationInsecureFallback",
    // TLS to backends.
    "BackendTLSPolicy",
    "BackendTLSPolicySANValidation",
    "GatewayBackendClientCertificate",
    // GATEWAY-TLS: passthrough (core), termination, both on one port.
    "TLSRoute",
    "TLSRouteModeTerminate",
    "TLSRouteModeMixed",
    // Extended in every GATEWAY-* profile: listeners added by ListenerSets.
    "ListenerSet",
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
    ("GRPCRouteNamedRouteRule", "counted in no profile"),
    ("GRPCRouteRequestHeaderModifier", "counted in no profile"),
    ("TCPRoute", "no standalone TCPRoute scenarios yet"),
    ("UDPRoute", "no standalone UDPRoute scenarios yet"),
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Need {
    /// HTTPS listeners (TLS termination with Secrets); also loads the base HTTPS Gateway.
    HttpsListeners,
}

/// The needs Rauta meets today. `--assume` adds more, to try work in progress.
pub const MET: &[Need] = &[Need::HttpsListeners];

impl Need {
    /// Why a scenario with this unmet need is skipped.
    pub fn why_unmet(self) -> &'static str {
        match self {
            Need::HttpsListeners => "needs HTTPS listeners",
        }
    }
}
