//! Errors: why a request was answered locally, and why an apply failed.
//!
//! [`ProxyError::status_and_reason`] is the one place that turns a request error into the
//! status sent to the client and the reason written to the access log and the metrics.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use http::StatusCode;
use rauta_ir::{InvalidBackend, ListenerRef};

/// Why the proxy answered a request itself instead of relaying an upstream response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// No listener, virtual host or route matched the request.
    #[error("no route matched the request")]
    NoRoute,
    /// The request's host belongs to another listener than the one its TLS connection was made for.
    #[error("the request's host is not served on this TLS connection")]
    Misdirected,
    /// The chosen backendRef is invalid.
    #[error("the chosen backend is invalid: {}", .0.as_str())]
    InvalidBackend(InvalidBackend),
    /// The chosen backendRef names a cluster the snapshot does not have.
    #[error("the chosen backend names an unknown cluster")]
    UnknownCluster,
    /// The rule has no backend with a weight above zero.
    #[error("the rule has no usable backend")]
    NoBackends,
    /// The chosen cluster has no ready endpoint.
    #[error("the chosen cluster has no ready endpoint")]
    NoEndpoints,
    /// The upstream TCP connection could not be established.
    #[error("could not connect to the upstream endpoint")]
    UpstreamConnect,
    /// The upstream closed or reset the connection before sending response headers.
    #[error("the upstream reset the connection before responding")]
    UpstreamReset,
    /// The upstream answered something that is not valid HTTP.
    #[error("the upstream broke the HTTP protocol")]
    UpstreamProtocol,
    /// `timeouts.request` expired before response headers arrived.
    #[error("the request timeout expired")]
    RequestTimeout,
    /// `timeouts.backendRequest` expired on the last upstream attempt.
    #[error("the backend request timeout expired")]
    BackendTimeout,
}

impl ProxyError {
    /// The status sent to the client and the short reason logged and counted for this error.
    pub fn status_and_reason(self) -> (StatusCode, &'static str) {
        match self {
            Self::NoRoute => (StatusCode::NOT_FOUND, "no_route"),
            Self::Misdirected => (StatusCode::MISDIRECTED_REQUEST, "misdirected_request"),
            Self::InvalidBackend(why) => (StatusCode::INTERNAL_SERVER_ERROR, why.as_str()),
            Self::UnknownCluster => (StatusCode::INTERNAL_SERVER_ERROR, "unknown_cluster"),
            Self::NoBackends => (StatusCode::INTERNAL_SERVER_ERROR, "no_backends"),
            Self::NoEndpoints => (StatusCode::SERVICE_UNAVAILABLE, "no_endpoints"),
            Self::UpstreamConnect => (StatusCode::BAD_GATEWAY, "upstream_connect_failure"),
            // Gateway API expects 500 or 503 once retries on resets are exhausted (Envoy answers 503).
            Self::UpstreamReset => (StatusCode::SERVICE_UNAVAILABLE, "upstream_reset"),
            Self::UpstreamProtocol => (StatusCode::BAD_GATEWAY, "upstream_protocol_error"),
            Self::RequestTimeout => (StatusCode::GATEWAY_TIMEOUT, "request_timeout"),
            Self::BackendTimeout => (StatusCode::GATEWAY_TIMEOUT, "backend_timeout"),
        }
    }

    /// Whether another upstream attempt may succeed where this one failed.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::UpstreamConnect | Self::UpstreamReset | Self::BackendTimeout)
    }

    /// Every upstream error, for pre-registering metric series.
    pub(crate) const UPSTREAM: [ProxyError; 4] = [
        Self::UpstreamConnect,
        Self::UpstreamReset,
        Self::UpstreamProtocol,
        Self::BackendTimeout,
    ];
}

/// One bind whose socket could not be opened.
#[derive(Debug)]
pub struct BindFailure {
    /// The address that could not be bound.
    pub address: SocketAddr,
    /// The Gateway listeners served on that address.
    pub listeners: Vec<ListenerRef>,
    /// The operating system's error.
    pub source: io::Error,
}

impl fmt::Display for BindFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot listen on {} (listeners ", self.address)?;
        for (i, l) in self.listeners.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{l}")?;
        }
        write!(f, "): {}", self.source)
    }
}

/// Why [`DataPlane::apply`](crate::DataPlane::apply) did not fully succeed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The snapshot is served, but some binds could not be opened; every other bind serves.
    #[error("{}", display_failures(.0))]
    Binds(Vec<BindFailure>),
    /// The data plane is shut down and serves nothing.
    #[error("the data plane is shut down")]
    ShutDown,
}

fn display_failures(failures: &[BindFailure]) -> String {
    failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_gateway_api() {
        let cases = [
            (ProxyError::NoRoute, 404),
            (ProxyError::Misdirected, 421),
            (ProxyError::InvalidBackend(InvalidBackend::NotFound), 500),
            (ProxyError::UnknownCluster, 500),
            (ProxyError::NoBackends, 500),
            (ProxyError::NoEndpoints, 503),
            (ProxyError::UpstreamConnect, 502),
            (ProxyError::UpstreamReset, 503),
            (ProxyError::UpstreamProtocol, 502),
            (ProxyError::RequestTimeout, 504),
            (ProxyError::BackendTimeout, 504),
        ];
        for (err, status) in cases {
            assert_eq!(err.status_and_reason().0.as_u16(), status, "{err:?}");
        }
        assert_eq!(
            ProxyError::InvalidBackend(InvalidBackend::RefNotPermitted)
                .status_and_reason()
                .1,
            "ref_not_permitted"
        );
    }

    #[test]
    fn bind_failure_names_address_and_listeners() {
        let failure = BindFailure {
            address: "127.0.0.1:80".parse().unwrap(),
            listeners: vec![ListenerRef {
                namespace: "ns".into(),
                gateway: "gw".into(),
                set: None,
                section: "http".into(),
            }],
            source: io::Error::from(io::ErrorKind::AddrInUse),
        };
        let text = ApplyError::Binds(vec![failure]).to_string();
        assert!(text.contains("127.0.0.1:80") && text.contains("ns/gw/http"), "{text}");
    }
}
