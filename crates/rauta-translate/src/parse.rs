//! Multi-document YAML → [`Inputs`], with errors that name the file, document, resource and field.

use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};

use crate::index::DEFAULT_NAMESPACE;
use crate::inputs::{Inputs, Source, Sourced};
use crate::problem::{Problem, Severity};

/// Why a YAML file cannot be loaded. Nothing of a file that fails is added to the inputs.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The text is not valid YAML.
    #[error("{origin}: invalid YAML: {message}")]
    Yaml {
        /// File and document.
        origin: Source,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A document is not a Kubernetes resource (not a mapping, or no `apiVersion`/`kind`).
    #[error("{origin}: {message}")]
    NotAResource {
        /// File and document.
        origin: Source,
        /// What is missing.
        message: String,
    },
    /// A resource of a kind Rauta reads does not match its schema.
    #[error(transparent)]
    Resource(Box<ResourceError>),
}

/// A resource that does not match its schema: file, document, resource and field.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {kind} {}: {}{message}", display_name(.namespace, .name), at(.field))]
pub struct ResourceError {
    /// File and document.
    pub origin: Source,
    /// Resource kind.
    pub kind: String,
    /// Namespace (`None` for cluster-scoped kinds).
    pub namespace: Option<String>,
    /// Name, when readable.
    pub name: Option<String>,
    /// Path of the offending field, e.g. `spec.rules[0].matches[0].path.type` (empty: the resource).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    /// Where the failing document is.
    pub fn origin(&self) -> &Source {
        match self {
            Self::Yaml { origin, .. } | Self::NotAResource { origin, .. } => origin,
            Self::Resource(e) => &e.origin,
        }
    }

    /// The failing resource as `(kind, namespace, name)`, when it could be identified.
    pub fn resource(&self) -> Option<(&str, Option<&str>, &str)> {
        match self {
            Self::Resource(e) => Some((&e.kind, e.namespace.as_deref(), e.name.as_deref()?)),
            _ => None,
        }
    }
}

fn display_name(namespace: &Option<String>, name: &Option<String>) -> String {
    let name = name.as_deref().unwrap_or("(unnamed)");
    match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    }
}

fn at(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

/// The kinds Rauta reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    GatewayClass,
    Gateway,
    ListenerSet,
    HttpRoute,
    GrpcRoute,
    TlsRoute,
    TcpRoute,
    UdpRoute,
    ReferenceGrant,
    Namespace,
    Service,
    EndpointSlice,
    Secret,
    ConfigMap,
    BackendTlsPolicy,
    List,
}

impl Kind {
    /// The kind of `apiVersion` + `kind`; `Err(true)` for a kind we read at another version.
    fn of(api_version: &str, kind: &str) -> Result<Self, bool> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gateway = group == crate::GATEWAY_GROUP;
        let found = match kind {
            "GatewayClass" if gateway => matches!(version, "v1" | "v1beta1").then_some(Self::GatewayClass),
            "Gateway" if gateway => matches!(version, "v1" | "v1beta1").then_some(Self::Gateway),
            "ListenerSet" if gateway => (version == "v1").then_some(Self::ListenerSet),
            "HTTPRoute" if gateway => matches!(version, "v1" | "v1beta1").then_some(Self::HttpRoute),
            "GRPCRoute" if gateway => matches!(version, "v1" | "v1alpha2").then_some(Self::GrpcRoute),
            "TLSRoute" if gateway => matches!(version, "v1" | "v1alpha3" | "v1alpha2").then_some(Self::TlsRoute),
            "BackendTLSPolicy" if gateway => matches!(version, "v1" | "v1alpha3").then_some(Self::BackendTlsPolicy),
            "TCPRoute" if gateway => (version == "v1alpha2").then_some(Self::TcpRoute),
            "UDPRoute" if gateway => (version == "v1alpha2").then_some(Self::UdpRoute),
            "ReferenceGrant" if gateway => {
                matches!(version, "v1" | "v1beta1" | "v1alpha2").then_some(Self::ReferenceGrant)
            }
            "Namespace" if group.is_empty() => (version == "v1").then_some(Self::Namespace),
            "Service" if group.is_empty() => (version == "v1").then_some(Self::Service),
            "Secret" if group.is_empty() => (version == "v1").then_some(Self::Secret),
            "ConfigMap" if group.is_empty() => (version == "v1").then_some(Self::ConfigMap),
            "List" if group.is_empty() => (version == "v1").then_some(Self::List),
            "EndpointSlice" if group == "discovery.k8s.io" => (version == "v1").then_some(Self::EndpointSlice),
            _ => return Err(false),
        };
        found.ok_or(true)
    }

    fn namespaced(self) -> bool {
        !matches!(self, Self::GatewayClass | Self::Namespace | Self::List)
    }
}

/// Parses every YAML document of `text` (read from `file`) and adds the resources Rauta reads to
/// `inputs`. Empty documents are skipped; documents of other kinds, and unknown fields, are
/// returned as warnings. A namespaced resource without a namespace is put in `default`. `List`
/// documents are read item by item. On error nothing is added.
pub fn parse_documents(text: &str, file: &str, inputs: &mut Inputs) -> Result<Vec<Problem>, ParseError> {
    let mut staged = Inputs::default();
    let mut warnings = Vec::new();
    let file: Arc<str> = file.into();
    for (document, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let origin = Source {
            file: Arc::clone(&file),
            document,
        };
        let value = Value::deserialize(de).map_err(|e| ParseError::Yaml {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        add(value, &origin, "", &mut staged, &mut warnings)?;
    }
    inputs.append(staged);
    Ok(warnings)
}

/// Adds one document (or `List` item, whose path starts with `prefix`).
fn add(
    mut value: Value,
    origin: &Source,
    prefix: &str,
    staged: &mut Inputs,
    warnings: &mut Vec<Problem>,
) -> Result<(), ParseError> {
    if value.is_null() {
        return Ok(());
    }
    let not_a_resource = |message: String| ParseError::NotAResource {
        origin: origin.clone(),
        message: format!("{}{message}", at(prefix.trim_end_matches('.'))),
    };
    let Some(map) = value.as_mapping_mut() else {
        return Err(not_a_resource(
            "expected a Kubernetes resource (a mapping with apiVersion and kind)".to_owned(),
        ));
    };
    let text = |map: &Mapping, key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
    let (Some(api_version), Some(kind_name)) = (text(map, "apiVersion"), text(map, "kind")) else {
        return Err(not_a_resource("a resource needs apiVersion and kind".to_owned()));
    };
    let metadata = map.get("metadata").and_then(Value::as_mapping);
    let name = metadata.and_then(|m| text(m, "name"));
    let namespace = metadata.and_then(|m| text(m, "namespace"));
    let kind = match Kind::of(&api_version, &kind_name) {
        Ok(kind) => kind,
        Err(version_mismatch) => {
            let message = if version_mismatch {
                format!("apiVersion {api_version} of {kind_name} is not supported; ignored")
            } else {
                format!("{api_version} {kind_name} is not read by Rauta; ignored")
            };
            warnings.push(Problem {
                severity: Severity::Warning,
                source: Some(origin.clone()),
                kind: kind_name,
                namespace,
                name: name.unwrap_or_else(|| "(unnamed)".to_owned()),
                field: prefix.trim_end_matches('.').to_owned(),
                message,
            });
            return Ok(());
        }
    };
    if kind == Kind::List {
        let items = map.remove("items").unwrap_or(Value::Null);
        let items = match items {
            Value::Sequence(items) => items,
            Value::Null => Vec::new(),
            _ => return Err(not_a_resource("items of a List must be a sequence".to_owned())),
        };
        for (i, item) in items.into_iter().enumerate() {
            add(item, origin, &format!("{prefix}items[{i}]."), staged, warnings)?;
        }
        return Ok(());
    }
    let namespace = kind
        .namespaced()
        .then(|| namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()));
    let error = |field: String, message: String| {
        ParseError::Resource(Box::new(ResourceError {
            origin: origin.clone(),
            kind: kind_name.clone(),
            namespace: namespace.clone(),
            name: name.clone(),
            field,
            message,
        }))
    };
    if name.is_none() {
        return Err(error(format!("{prefix}metadata.name"), "a name is required".to_owned()));
    }
    if let Some(ns) = &namespace
        && let Some(Value::Mapping(meta)) = map.get_mut("metadata")
    {
        meta.insert(Value::from("namespace"), Value::from(ns.as_str()));
    }
    let source = Some(origin.clone());
    let mut unknown = Vec::new();
    let result = match kind {
        Kind::GatewayClass => decode(value, &mut unknown).map(|r| staged.gateway_classes.push(Sourced::new(source, r))),
        Kind::Gateway => decode(value, &mut unknown).map(|r| staged.gateways.push(Sourced::new(source, r))),
        Kind::ListenerSet => decode(value, &mut unknown).map(|r| staged.listener_sets.push(Sourced::new(source, r))),
        Kind::HttpRoute => decode(value, &mut unknown).map(|r| staged.http_routes.push(Sourced::new(source, r))),
        Kind::GrpcRoute => decode(value, &mut unknown).map(|r| staged.grpc_routes.push(Sourced::new(source, r))),
        Kind::TlsRoute => decode(value, &mut unknown).map(|r| staged.tls_routes.push(Sourced::new(source, r))),
        Kind::TcpRoute => decode(value, &mut unknown).map(|r| staged.tcp_routes.push(Sourced::new(source, r))),
        Kind::UdpRoute => decode(value, &mut unknown).map(|r| staged.udp_routes.push(Sourced::new(source, r))),
        Kind::ReferenceGrant => {
            decode(value, &mut unknown).map(|r| staged.reference_grants.push(Sourced::new(source, r)))
        }
        Kind::Namespace => decode(value, &mut unknown).map(|r| staged.namespaces.push(Sourced::new(source, r))),
        Kind::Service => decode(value, &mut unknown).map(|r| staged.services.push(Sourced::new(source, r))),
        Kind::EndpointSlice => {
            decode(value, &mut unknown).map(|r| staged.endpoint_slices.push(Sourced::new(source, r)))
        }
        Kind::Secret => decode(value, &mut unknown).map(|r| staged.secrets.push(Sourced::new(source, r))),
        Kind::ConfigMap => decode(value, &mut unknown).map(|r| staged.config_maps.push(Sourced::new(source, r))),
        Kind::BackendTlsPolicy => {
            decode(value, &mut unknown).map(|r| staged.backend_tls_policies.push(Sourced::new(source, r)))
        }
        Kind::List => Ok(()),
    };
    result.map_err(|(field, message)| error(format!("{prefix}{field}"), message))?;
    for field in unknown.into_iter().filter(|f| f != "apiVersion" && f != "kind") {
        warnings.push(Problem {
            severity: Severity::Warning,
            source: Some(origin.clone()),
            kind: kind_name.clone(),
            namespace: namespace.clone(),
            name: name.clone().unwrap_or_default(),
            field: format!("{prefix}{field}"),
            message: "unknown field; ignored".to_owned(),
        });
    }
    Ok(())
}

/// Deserialises a resource, collecting the paths of unknown fields; an error gives the path of
/// the offending field and the message.
fn decode<T: DeserializeOwned>(value: Value, unknown: &mut Vec<String>) -> Result<T, (String, String)> {
    crate::value_decoder::decode(value, unknown).map_err(crate::value_decoder::DecodeError::into_parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Inputs, Result<Vec<Problem>, ParseError>) {
        let mut inputs = Inputs::default();
        let result = parse_documents(text, "f.yaml", &mut inputs);
        (inputs, result)
    }

    #[test]
    fn namespaces_default_and_cluster_scoped_kinds_have_none() {
        let (inputs, result) = parse(
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n\
             apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n",
        );
        assert_eq!(result.unwrap(), vec![]);
        assert_eq!(
            inputs.services[0].resource.metadata.namespace.as_deref(),
            Some("default")
        );
        assert_eq!(
            inputs.services[0].source,
            Some(Source {
                file: "f.yaml".into(),
                document: 0
            })
        );
        assert_eq!(inputs.namespaces[0].resource.metadata.namespace, None);
        assert_eq!(inputs.namespaces[0].source.as_ref().map(|s| s.document), Some(1));
    }

    #[test]
    fn empty_text_and_empty_documents_are_nothing() {
        for text in ["", "# only a comment\n", "---\n---\n", "---\n...\n"] {
            let (inputs, result) = parse(text);
            assert_eq!(result.unwrap(), vec![], "{text:?}");
            assert!(inputs.services.is_empty());
        }
    }

    #[test]
    fn a_failing_file_adds_nothing() {
        let (inputs, result) = parse(
            "apiVersion: v1\nkind: Service\nmetadata: {name: good}\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {ports: [{port: x}]}\n",
        );
        let e = result.unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.yaml (document 2): Service default/bad: spec.ports[0].port: invalid type: string \"x\", expected i32"
        );
        assert_eq!(e.resource(), Some(("Service", Some("default"), "bad")));
        assert_eq!(e.origin().document, 1);
        assert!(inputs.services.is_empty());
    }

    #[test]
    fn documents_that_are_not_resources_are_errors() {
        let cases = [
            (
                "- a\n- b\n",
                "f.yaml: expected a Kubernetes resource (a mapping with apiVersion and kind)",
            ),
            ("kind: Service\n", "f.yaml: a resource needs apiVersion and kind"),
            (
                "apiVersion: v1\nkind: Service\nspec: {}\n",
                "f.yaml: Service default/(unnamed): metadata.name: a name is required",
            ),
            (
                "apiVersion: v1\nkind: List\nitems: [{kind: Service}]\n",
                "f.yaml: items[0]: a resource needs apiVersion and kind",
            ),
            (
                "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\n",
                "f.yaml: Gateway default/g: missing field `spec`",
            ),
        ];
        for (text, want) in cases {
            let (_, result) = parse(text);
            let e = result.unwrap_err();
            assert_eq!(e.to_string(), want);
        }
    }

    #[test]
    fn unknown_fields_are_warnings_for_every_kind() {
        let (_, result) = parse(
            "apiVersion: v1\nkind: Service\nmetadata: {name: s, lables: {}}\nspec: {portz: []}\n---\n\
             apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\naddressType: IPv4\n\
             endpoints: [{addresses: [10.0.0.1], condition: {}}]\n",
        );
        let fields: Vec<String> = result
            .unwrap()
            .into_iter()
            .map(|p| format!("{} {}", p.kind, p.field))
            .collect();
        assert_eq!(
            fields,
            [
                "Service metadata.lables",
                "Service spec.portz",
                "EndpointSlice endpoints[0].condition"
            ]
        );
    }

    #[test]
    fn kinds_by_api_version() {
        let table = [
            ("gateway.networking.k8s.io/v1", "HTTPRoute", Ok(Kind::HttpRoute)),
            ("gateway.networking.k8s.io/v1beta1", "Gateway", Ok(Kind::Gateway)),
            (
                "gateway.networking.k8s.io/v1alpha2",
                "ReferenceGrant",
                Ok(Kind::ReferenceGrant),
            ),
            ("gateway.networking.k8s.io/v1alpha2", "HTTPRoute", Err(true)),
            ("gateway.networking.k8s.io/v1", "GRPCRoute", Ok(Kind::GrpcRoute)),
            ("discovery.k8s.io/v1", "EndpointSlice", Ok(Kind::EndpointSlice)),
            ("discovery.k8s.io/v1beta1", "EndpointSlice", Err(true)),
            ("v1", "Secret", Ok(Kind::Secret)),
            ("example.com/v1", "Service", Err(false)),
            ("apps/v1", "Deployment", Err(false)),
        ];
        for (api_version, kind, want) in table {
            assert_eq!(Kind::of(api_version, kind), want, "{api_version} {kind}");
        }
    }
}
