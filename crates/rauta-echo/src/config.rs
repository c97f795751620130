//! What an echo backend answers with, and the record it reports for every HTTP request.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// Who the backend says it is: echo-basic's `namespace`, `pod`, `service` and `ingress` fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EchoIdentity {
    /// Namespace of the pod (`NAMESPACE`).
    pub namespace: String,
    /// Pod name (`POD_NAME`); the conformance suite tells backends apart by its prefix.
    pub pod: String,
    /// Service name (`SERVICE_NAME`).
    pub service: String,
    /// Ingress name (`INGRESS_NAME`), usually empty.
    pub ingress: String,
}

impl EchoIdentity {
    /// Reads `NAMESPACE`, `POD_NAME`, `SERVICE_NAME` and `INGRESS_NAME` like echo-basic does.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).unwrap_or_default();
        Self {
            namespace: var("NAMESPACE"),
            pod: var("POD_NAME"),
            service: var("SERVICE_NAME"),
            ingress: var("INGRESS_NAME"),
        }
    }
}

/// Called once per HTTP request, as soon as its head is read and routed.
pub type RequestLog = Arc<dyn Fn(&RequestRecord) + Send + Sync>;

/// Settings shared by every listener of one echo backend.
#[derive(Clone, Default)]
pub struct EchoConfig {
    /// The identity reported in every answer.
    pub identity: EchoIdentity,
    /// Port reported as `httpPort` (HTTP) or `tcpport` (TCP); default: the listener's own port.
    pub port: Option<String>,
    /// Port reported as `tlsport` in TCP mode; omitted when `None`.
    pub tls_port: Option<String>,
    /// Behave like echo-basic's `H2C_PORT` listener: no routes, and HTTP/1 requests without
    /// `Upgrade: h2c` get `400 Expected h2c request`.
    pub strict_h2c: bool,
    /// Receives a record of every HTTP request.
    pub request_log: Option<RequestLog>,
}

impl EchoConfig {
    /// A configuration answering with `identity` and otherwise echo-basic's defaults.
    pub fn new(identity: EchoIdentity) -> Self {
        Self {
            identity,
            ..Self::default()
        }
    }

    /// Sets the callback that receives a record of every HTTP request.
    pub fn with_request_log(mut self, log: impl Fn(&RequestRecord) + Send + Sync + 'static) -> Self {
        self.request_log = Some(Arc::new(log));
        self
    }
}

impl fmt::Debug for EchoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EchoConfig")
            .field("identity", &self.identity)
            .field("port", &self.port)
            .field("tls_port", &self.tls_port)
            .field("strict_h2c", &self.strict_h2c)
            .field("request_log", &self.request_log.as_ref().map(|_| "<callback>"))
            .finish()
    }
}

/// Which handler a request was routed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// The echo handler (including a `/retry/…` request that is allowed to succeed).
    Echo,
    /// `GET /health`.
    Health,
    /// `/status/NNN`.
    Status,
    /// A `/retry/…` request that fails on purpose (status code or connection reset).
    RetryFailure,
    /// `/retry/…` without its required parameters.
    RetryBadRequest,
    /// `/ws`.
    WebSocket,
    /// An HTTP/1 request refused by a strict h2c listener.
    H2cRequired,
}

/// One HTTP request as the backend received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// Request method.
    pub method: String,
    /// Request URI as received: path plus `?query` (absolute-form URIs stay absolute).
    pub uri: String,
    /// `Host` header or `:authority`.
    pub host: String,
    /// Protocol as Go prints it: `HTTP/1.1`, `HTTP/2.0`, …
    pub proto: String,
    /// Address of the client (the gateway, for proxied requests).
    pub client: SocketAddr,
    /// Handler the request was routed to.
    pub route: RouteKind,
}

impl RequestRecord {
    /// echo-basic's log line, which the conformance suite greps for to verify mirroring.
    pub fn echo_line(&self) -> String {
        format!("Echoing back request made to {} to client ({})", self.uri, self.client)
    }
}
