//! One Gateway listener: protocol, port, hostname, allowed route kinds and namespaces.

use gateway_api::experimental::gateways::{GatewayListeners, GatewayListenersTlsMode};
use rauta_ir::ClientValidation;
use rauta_ir::route::HostnameMatch;

use super::certificates::{self, Referrer, Resolved};
use super::frontend;
use crate::GATEWAY_GROUP;
use crate::index::Index;
use crate::namespaces::NamespacePolicy;
use crate::problem::{Problem, Subject};

/// The protocols the Gateway API defines; anything else is implementation-specific.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http,
    Https,
    Tls,
    Tcp,
    Udp,
    Other(String),
}

impl Protocol {
    /// What a socket serves: listeners of different classes cannot share a port.
    pub fn socket_class(&self) -> &'static str {
        match self {
            Self::Http => "HTTP",
            Self::Https => "HTTPS",
            Self::Tls => "TLS",
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Other(_) => "unsupported",
        }
    }

    fn parse(value: &str) -> Self {
        match value {
            "HTTP" => Self::Http,
            "HTTPS" => Self::Https,
            "TLS" => Self::Tls,
            "TCP" => Self::Tcp,
            "UDP" => Self::Udp,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// Why a condition of a listener is not `True` (or `Conflicted` is): reason and message.
pub(crate) type Reason = (&'static str, String);

/// A listener as the translator sees it.
#[derive(Debug)]
pub(crate) struct ListenerState {
    pub name: String,
    pub port: Option<u16>,
    pub protocol: Protocol,
    /// The listener's hostname; `Any` when it has none (or an invalid one, then `rejection` is set).
    pub hostname: HostnameMatch,
    /// Valid route kinds for the protocol, as `supportedKinds` lists them.
    pub kinds: Vec<&'static str>,
    /// Requested kinds that are not valid for the protocol, as `group/kind`.
    pub invalid_kinds: Vec<String>,
    pub namespaces: NamespacePolicy,
    /// Why `Accepted` is `False` (conflicts aside).
    pub rejection: Option<Reason>,
    /// Why `Conflicted` is `True`.
    pub conflict: Option<Reason>,
    /// How many routes are attached to this listener.
    pub attached: usize,
    /// What `tls.certificateRefs` resolved to (listeners that terminate TLS only).
    pub certificates: Option<Resolved>,
    /// A TLS listener in Passthrough mode.
    pub passthrough: bool,
    /// Client certificate validation for an HTTPS listener (from the Gateway's `tls.frontend`).
    pub client_validation: Option<ClientValidation>,
    /// The ListenerSet that declares the listener (an index into its Gateway's `sets`); `None`
    /// for the Gateway's own listeners.
    pub set: Option<usize>,
}

impl ListenerState {
    /// Reads one listener; problems name `field` (`spec.listeners[i]`).
    pub fn from_spec(spec: &GatewayListeners, field: &str, subject: &Subject<'_>, problems: &mut Vec<Problem>) -> Self {
        let protocol = Protocol::parse(&spec.protocol);
        let passthrough = protocol == Protocol::Tls
            && spec.tls.as_ref().and_then(|t| t.mode.as_ref()) == Some(&GatewayListenersTlsMode::Passthrough);
        let mut rejection = None;
        let mut reject = |reason: &'static str, at: String, message: String, problems: &mut Vec<Problem>| {
            problems.push(subject.error(at, format!("{reason}: {message}")));
            rejection.get_or_insert((reason, message));
        };
        match &protocol {
            Protocol::Http => {}
            Protocol::Https | Protocol::Tls => {
                if let Some((at, message)) = tls_problem(spec, &protocol, field) {
                    reject("UnsupportedValue", at, message, problems);
                }
            }
            Protocol::Tcp | Protocol::Udp => {}
            Protocol::Other(p) => reject(
                "UnsupportedProtocol",
                format!("{field}.protocol"),
                format!("protocol {p:?} is not supported (HTTP, HTTPS, TLS, TCP and UDP are)"),
                problems,
            ),
        }
        let port = u16::try_from(spec.port).ok().filter(|p| *p != 0);
        if port.is_none() {
            reject(
                "UnsupportedValue",
                format!("{field}.port"),
                format!("port {} is not in 1-65535", spec.port),
                problems,
            );
        }
        let hostname = match spec.hostname.as_deref() {
            None => HostnameMatch::Any,
            Some(h) => HostnameMatch::parse(h).unwrap_or_else(|e| {
                reject("UnsupportedValue", format!("{field}.hostname"), e.to_string(), problems);
                HostnameMatch::Any
            }),
        };
        let (kinds, invalid_kinds) = route_kinds(spec, &protocol);
        if !invalid_kinds.is_empty() {
            problems.push(subject.error(
                format!("{field}.allowedRoutes.kinds"),
                format!(
                    "InvalidRouteKinds: {} not supported on a {} listener",
                    invalid_kinds.join(", "),
                    spec.protocol
                ),
            ));
        }
        let allowed = spec.allowed_routes.as_ref().and_then(|a| a.namespaces.as_ref());
        let namespaces = NamespacePolicy::from_spec(allowed).unwrap_or_else(|message| {
            problems.push(subject.warning(
                format!("{field}.allowedRoutes.namespaces"),
                format!("{message}; no namespace is allowed"),
            ));
            NamespacePolicy::Nothing
        });
        Self {
            name: spec.name.clone(),
            port,
            protocol,
            hostname,
            kinds,
            invalid_kinds,
            namespaces,
            rejection,
            conflict: None,
            attached: 0,
            certificates: None,
            passthrough,
            client_validation: None,
            set: None,
        }
    }

    /// Resolves the certificateRefs of an accepted HTTPS listener declared `by` a Gateway or a
    /// ListenerSet.
    pub fn resolve_certificates(
        &mut self,
        spec: &GatewayListeners,
        index: &Index<'_>,
        by: Referrer<'_>,
        field: &str,
        subject: &Subject<'_>,
        problems: &mut Vec<Problem>,
    ) {
        if !self.terminates_tls() || self.rejection.is_some() {
            return;
        }
        let refs = spec
            .tls
            .as_ref()
            .and_then(|t| t.certificate_refs.as_deref())
            .unwrap_or_default();
        if spec
            .tls
            .as_ref()
            .and_then(|t| t.options.as_ref())
            .is_some_and(|o| !o.is_empty())
        {
            problems.push(subject.warning(format!("{field}.tls.options"), "TLS options are not supported; ignored"));
        }
        let resolved = certificates::resolve(index, by, refs, &format!("{field}.tls"));
        for (reason, at, message) in &resolved.invalid {
            problems.push(subject.error(at, format!("{reason}: {message}")));
        }
        self.certificates = Some(resolved);
    }

    /// Resolves the CA references of the client certificate validation for this listener's port.
    /// Unusable references make `ResolvedRefs` false; with no usable CA at all the listener is
    /// not accepted (`NoValidCACertificate`): serving without the validation asked for would be
    /// worse than not serving.
    pub fn resolve_client_validation(
        &mut self,
        index: &Index<'_>,
        gw_ns: &str,
        validation: &frontend::Validation,
        field: &str,
        subject: &Subject<'_>,
        problems: &mut Vec<Problem>,
    ) {
        let (resolved, invalid) = frontend::resolve(index, gw_ns, validation);
        for (reason, at, message) in &invalid {
            problems.push(subject.error(at, format!("{reason}: {message}")));
        }
        if let Some(certificates) = self.certificates.as_mut() {
            certificates.invalid.extend(invalid);
        }
        match resolved {
            Some(v) => self.client_validation = Some(v),
            None => {
                let message = "no usable CA certificate for client certificate validation".to_owned();
                problems.push(subject.error(field, format!("NoValidCACertificate: {message}")));
                self.rejection = Some(("NoValidCACertificate", message));
            }
        }
    }

    /// Whether the listener has what its protocol needs to serve: a usable certificate when it
    /// terminates TLS.
    fn has_certificates(&self) -> bool {
        !self.terminates_tls() || self.certificates.as_ref().is_some_and(|c| !c.certificates.is_empty())
    }

    /// HTTPS listeners, and TLS listeners in Terminate mode.
    pub fn terminates_tls(&self) -> bool {
        match self.protocol {
            Protocol::Https => true,
            Protocol::Tls => !self.passthrough,
            _ => false,
        }
    }

    /// `Accepted`: neither rejected nor conflicted.
    pub fn accepted(&self) -> bool {
        self.rejection.is_none() && self.conflict.is_none()
    }

    /// Whether the listener can serve traffic, provided its Gateway is accepted.
    pub fn servable(&self) -> bool {
        self.accepted() && !self.kinds.is_empty() && self.has_certificates()
    }

    /// Whether the listener counts as valid for its ListenerSet's `Accepted`: one that could serve
    /// (accepted, some route kind, a usable certificate when it terminates TLS). A ListenerSet
    /// whose only listener cannot use its certificate (say, for want of a ReferenceGrant) has no
    /// valid listener, although that listener's own `Accepted` is True.
    pub fn valid_in_set(&self) -> bool {
        self.servable()
    }

    /// Whether routes of `kind` may attach.
    pub fn allows_kind(&self, kind: &str) -> bool {
        self.kinds.contains(&kind)
    }
}

/// The kinds a listener supports for its protocol (HTTPRoute and GRPCRoute on HTTP and HTTPS,
/// TLSRoute on TLS, TCPRoute on TCP, UDPRoute on UDP) and the
/// requested kinds it cannot support. An unsupported protocol supports no kind.
fn route_kinds(spec: &GatewayListeners, protocol: &Protocol) -> (Vec<&'static str>, Vec<String>) {
    let valid_for_protocol: &[&'static str] = match protocol {
        Protocol::Http | Protocol::Https => &["HTTPRoute", "GRPCRoute"],
        Protocol::Tls => &["TLSRoute"],
        Protocol::Tcp => &["TCPRoute"],
        Protocol::Udp => &["UDPRoute"],
        Protocol::Other(_) => &[],
    };
    let requested = spec
        .allowed_routes
        .as_ref()
        .and_then(|a| a.kinds.as_ref())
        .filter(|k| !k.is_empty());
    let Some(requested) = requested else {
        return (valid_for_protocol.to_vec(), Vec::new());
    };
    let mut kinds = Vec::new();
    let mut invalid = Vec::new();
    for k in requested {
        let group = k.group.as_deref().unwrap_or(GATEWAY_GROUP);
        match valid_for_protocol
            .iter()
            .find(|v| group == GATEWAY_GROUP && **v == k.kind)
        {
            Some(v) if !kinds.contains(v) => kinds.push(*v),
            Some(_) => {}
            None if !matches!(protocol, Protocol::Other(_)) => invalid.push(format!("{group}/{}", k.kind)),
            // An unsupported protocol is already rejected; its kinds are not judged.
            None => {}
        }
    }
    (kinds, invalid)
}

/// What the CRD would reject in the `tls` block of an HTTPS or TLS listener: a missing block,
/// Passthrough on HTTPS, or Terminate without certificateRefs. Returns the field and the message.
fn tls_problem(spec: &GatewayListeners, protocol: &Protocol, field: &str) -> Option<(String, String)> {
    let Some(tls) = spec.tls.as_ref() else {
        return Some((
            format!("{field}.tls"),
            format!("a {} listener needs tls", spec.protocol),
        ));
    };
    let passthrough = tls.mode == Some(GatewayListenersTlsMode::Passthrough);
    if passthrough && *protocol == Protocol::Https {
        let message = "tls.mode Passthrough is not valid on an HTTPS listener (use protocol TLS)".to_owned();
        return Some((format!("{field}.tls.mode"), message));
    }
    if !passthrough && tls.certificate_refs.as_ref().is_none_or(Vec::is_empty) {
        let message = format!(
            "a {} listener that terminates TLS needs at least one certificateRef",
            spec.protocol
        );
        return Some((format!("{field}.tls.certificateRefs"), message));
    }
    None
}
