//! Kubernetes manifests as JSON values: reading multi-document YAML, naming resources, and the
//! rewrites the runner applies before Rauta sees them (placeholders, Gateway addresses).

use std::fmt;
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::{Value, json};

/// Why a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The text is not YAML.
    #[error("{origin}: document {document}: {message}")]
    Yaml {
        origin: String,
        document: usize,
        message: String,
    },
    /// A document is not a resource.
    #[error("{origin}: document {document}: {message}")]
    NotAResource {
        origin: String,
        document: usize,
        message: String,
    },
}

/// Identity of a resource: kind, namespace (`None` when cluster-scoped) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// Kind, e.g. `HTTPRoute`.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl Key {
    /// A namespaced key.
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        }
    }

    /// A cluster-scoped key.
    pub fn cluster(kind: &str, name: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            namespace: None,
            name: name.to_owned(),
        }
    }

    /// The key of a resource document.
    pub fn of(doc: &Value) -> Option<Self> {
        let kind = doc.get("kind")?.as_str()?;
        let meta = doc.get("metadata")?;
        let name = meta.get("name")?.as_str()?;
        let namespace = if is_cluster_scoped(kind) {
            None
        } else {
            Some(
                meta.get("namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_owned(),
            )
        };
        Some(Self {
            kind: kind.to_owned(),
            namespace,
            name: name.to_owned(),
        })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Kinds without a namespace.
fn is_cluster_scoped(kind: &str) -> bool {
    matches!(kind, "Namespace" | "GatewayClass")
}

/// Values substituted for `{NAME}` placeholders in manifests.
#[derive(Clone, Debug, Default)]
pub struct Placeholders(pub Vec<(String, String)>);

impl Placeholders {
    /// Replaces every `{NAME}` of `text`.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (name, value) in &self.0 {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }
}

/// Reads every non-empty document of `text` (named `origin` in errors).
pub fn parse(text: &str, origin: &str) -> Result<Vec<Value>, ManifestError> {
    let mut docs = Vec::new();
    for (document, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(de).map_err(|e| ManifestError::Yaml {
            origin: origin.to_owned(),
            document,
            message: e.to_string(),
        })?;
        if value.is_null() {
            continue;
        }
        if Key::of(&value).is_none() {
            return Err(ManifestError::NotAResource {
                origin: origin.to_owned(),
                document,
                message: "a resource needs kind and metadata.name".to_owned(),
            });
        }
        docs.push(value);
    }
    Ok(docs)
}

/// Writes documents as multi-document YAML.
pub fn render(docs: &[&Value]) -> String {
    let mut out = String::new();
    for doc in docs {
        out.push_str("---\n");
        // A JSON value always serialises to YAML; an empty string would only hide a document.
        out.push_str(&serde_yaml::to_string(doc).unwrap_or_default());
    }
    out
}

/// What Kubernetes counts as a change of spec: everything but `metadata` and `status`.
pub fn spec_of(doc: &Value) -> Value {
    let mut spec = doc.clone();
    if let Some(map) = spec.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    spec
}

/// The `spec.addresses` the runner gives a Gateway so that Gateways sharing a port do not
/// collide: its own loopback IP, unless the manifest asks for addresses itself.
pub fn assign_gateway_address(doc: &mut Value, ip: IpAddr) {
    let Some(spec) = doc.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec
        .get("addresses")
        .is_some_and(|a| a.as_array().is_some_and(|a| !a.is_empty()))
    {
        return;
    }
    spec.insert(
        "addresses".to_owned(),
        json!([{"type": "IPAddress", "value": ip.to_string()}]),
    );
}

/// The label the API server puts on every Namespace: `kubernetes.io/metadata.name: <name>`.
pub fn label_namespace(doc: &mut Value) {
    let name = str_at(doc, "metadata.name").to_owned();
    if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
        let labels = meta.entry("labels").or_insert_with(|| json!({}));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert("kubernetes.io/metadata.name".to_owned(), Value::String(name));
        }
    }
}

/// A pointer into a document, `a.b.c`, creating nothing.
pub fn at<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |v, part| v.get(part))
}

/// The string at `path`, or `""`.
pub fn str_at<'a>(doc: &'a Value, path: &str) -> &'a str {
    at(doc, path).and_then(Value::as_str).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keys_and_placeholders() {
        let text = Placeholders(vec![("CLASS".into(), "gc".into())]).apply(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n---\n---\nkind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: \"{CLASS}\"}\n",
        );
        let docs = parse(&text, "t.yaml").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(Key::of(&docs[0]), Some(Key::cluster("Namespace", "ns")));
        assert_eq!(Key::of(&docs[1]), Some(Key::new("Gateway", "default", "g")));
        assert_eq!(str_at(&docs[1], "spec.gatewayClassName"), "gc");
        assert!(parse("kind: Service\n", "x").is_err());
        assert!(parse("a: [", "x").is_err());
    }

    #[test]
    fn gateways_get_an_address_unless_they_ask_for_one() {
        let ip: IpAddr = "127.1.2.3".parse().unwrap();
        let mut plain = json!({"kind": "Gateway", "spec": {"listeners": []}});
        assign_gateway_address(&mut plain, ip);
        assert_eq!(
            plain["spec"]["addresses"],
            json!([{"type": "IPAddress", "value": "127.1.2.3"}])
        );
        let mut own = json!({"kind": "Gateway", "spec": {"addresses": [{"type": "IPAddress"}]}});
        assign_gateway_address(&mut own, ip);
        assert_eq!(own["spec"]["addresses"], json!([{"type": "IPAddress"}]));
    }

    #[test]
    fn namespaces_get_their_name_label() {
        let mut ns = json!({"kind": "Namespace", "metadata": {"name": "infra", "labels": {"a": "b"}}});
        label_namespace(&mut ns);
        assert_eq!(
            ns["metadata"]["labels"],
            json!({"a": "b", "kubernetes.io/metadata.name": "infra"})
        );
        let mut bare = json!({"kind": "Namespace", "metadata": {"name": "x"}});
        label_namespace(&mut bare);
        assert_eq!(bare["metadata"]["labels"]["kubernetes.io/metadata.name"], "x");
    }

    #[test]
    fn spec_ignores_metadata_and_status() {
        let a = json!({"kind": "X", "metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"v": 1}});
        let b = json!({"kind": "X", "metadata": {"name": "a"}, "spec": {"v": 1}, "status": {}});
        assert_eq!(spec_of(&a), spec_of(&b));
        let rendered = render(&[&a]);
        assert_eq!(parse(&rendered, "r").unwrap(), vec![a]);
    }
}
