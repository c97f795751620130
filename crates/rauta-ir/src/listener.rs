//! Sockets, listeners, virtual hosts and the sorted route table of each.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rauta_route::{HostnameMatch, RouteMatch};
use serde::Serialize;

use crate::backend::BackendRef;
use crate::filter::Filter;
use crate::serde_helpers::duration_ms;
use crate::tls::ListenerTls;

/// What a socket speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BindProtocol {
    /// Plain HTTP: HTTP/1.1 and HTTP/2 prior knowledge on the same port.
    Http,
    /// HTTP over TLS: the listeners' certificates chosen by SNI, ALPN `h2` and `http/1.1`.
    Https,
    /// TLS streams routed by SNI (TLSRoute): listeners with certificates terminate TLS and relay
    /// the plain stream; listeners without pass the encrypted bytes through untouched.
    Tls,
    /// TCP streams (TCPRoute), relayed as they are.
    Tcp,
    /// UDP datagrams (UDPRoute): each client address is a session with its own upstream socket.
    /// A UDP bind may share its address with a TCP-based one: they are different sockets.
    Udp,
}

impl BindProtocol {
    /// The URL scheme of requests arriving on such a socket.
    pub fn scheme(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Tls => "tls",
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }

    /// Whether the socket relays byte streams (TLSRoute, TCPRoute) rather than HTTP requests.
    pub fn is_stream(self) -> bool {
        matches!(self, Self::Tls | Self::Tcp)
    }

    /// Whether the socket is a UDP one (every other protocol is served on TCP).
    pub fn is_udp(self) -> bool {
        self == Self::Udp
    }
}

/// One socket to serve and the Gateway listeners that share it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bind {
    /// Address and port to bind.
    pub address: SocketAddr,
    /// Protocol spoken on the socket.
    pub protocol: BindProtocol,
    /// Listeners sharing the socket, most specific hostname first; a request is served by the
    /// first whose hostname matches its Host, and never falls through to the next.
    pub listeners: Vec<Listener>,
}

/// Names a Gateway listener: `namespace/gateway/section`, or
/// `namespace/gateway/ListenerSet:set-namespace/set-name/section` for a listener a ListenerSet adds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ListenerRef {
    /// Gateway namespace.
    pub namespace: String,
    /// Gateway name.
    pub gateway: String,
    /// The ListenerSet that declares the listener; `None` for the Gateway's own listeners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set: Option<SetRef>,
    /// Listener name (`sectionName`), unique within the Gateway or ListenerSet that declares it.
    pub section: String,
}

/// Names a ListenerSet.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SetRef {
    /// ListenerSet namespace.
    pub namespace: String,
    /// ListenerSet name.
    pub name: String,
}

impl fmt::Display for ListenerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/", self.namespace, self.gateway)?;
        if let Some(set) = &self.set {
            write!(f, "ListenerSet:{}/{}/", set.namespace, set.name)?;
        }
        f.write_str(&self.section)
    }
}

/// A programmed Gateway listener.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Listener {
    /// Which listener this is.
    pub name: ListenerRef,
    /// Hosts the listener accepts.
    pub hostname: HostnameMatch,
    /// The listener's port (redirects without explicit port use it).
    pub port: u16,
    /// Virtual hosts, most specific hostname first.
    pub virtual_hosts: Vec<VirtualHost>,
    /// Certificates, on listeners that terminate TLS (HTTPS, and TLS listeners in Terminate mode;
    /// a TLS listener without them passes TLS through).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ListenerTls>,
}

/// The routes that serve one (intersected) hostname on a listener.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VirtualHost {
    /// Hostname pattern.
    pub hostname: HostnameMatch,
    /// Route entries in precedence order: the first that matches wins.
    pub routes: Vec<RouteEntry>,
}

/// One `matches[]` entry of one rule, in the listener's precedence order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouteEntry {
    /// The match (shared with the data plane's compiled view).
    #[serde(rename = "match")]
    pub route_match: Arc<RouteMatch>,
    /// The rule it leads to (shared by all entries of the rule).
    pub rule: Arc<Rule>,
}

/// Kind of route a rule came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum RouteKind {
    /// `HTTPRoute`.
    #[serde(rename = "HTTPRoute")]
    Http,
    /// `GRPCRoute`.
    #[serde(rename = "GRPCRoute")]
    Grpc,
    /// `TLSRoute`.
    #[serde(rename = "TLSRoute")]
    Tls,
    /// `TCPRoute`.
    #[serde(rename = "TCPRoute")]
    Tcp,
    /// `UDPRoute`.
    #[serde(rename = "UDPRoute")]
    Udp,
}

impl RouteKind {
    /// The Kubernetes kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "HTTPRoute",
            Self::Grpc => "GRPCRoute",
            Self::Tls => "TLSRoute",
            Self::Tcp => "TCPRoute",
            Self::Udp => "UDPRoute",
        }
    }
}

/// Names a route: `kind namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RouteRef {
    /// Route kind.
    pub kind: RouteKind,
    /// Route namespace.
    pub namespace: String,
    /// Route name.
    pub name: String,
}

impl PartialOrd for RouteKind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RouteKind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Display for RouteRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Request and per-attempt timeouts (`None`: no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Timeouts {
    /// Whole client transaction.
    #[serde(serialize_with = "duration_ms", rename = "request_ms")]
    pub request: Option<Duration>,
    /// One upstream attempt.
    #[serde(serialize_with = "duration_ms", rename = "backend_request_ms")]
    pub backend_request: Option<Duration>,
}

/// Retry policy of a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Retry {
    /// Retries after the first attempt.
    pub attempts: u32,
    /// Upstream status codes that are retried (connection errors and per-try timeouts always are).
    pub codes: Vec<u16>,
    /// Pause before each retry.
    #[serde(serialize_with = "duration_ms", rename = "backoff_ms")]
    pub backoff: Option<Duration>,
}

/// What a matched request does: filters, then a weighted choice of backends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// The route the rule belongs to.
    pub route: RouteRef,
    /// Index of the rule in the route's `rules[]`.
    pub index: usize,
    /// The rule's `name`, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Filters in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
    /// Weighted backends; empty (or all weight 0) means 500 unless a filter answers.
    pub backends: Vec<BackendRef>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
}
