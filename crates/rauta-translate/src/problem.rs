//! Problems: what is wrong with a resource, named by file, resource and field.

use std::fmt;

use serde::Serialize;

use crate::inputs::Source;

/// How serious a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The resource (or part of it) is rejected; a status condition says so.
    Error,
    /// Something was ignored; traffic is served as configured otherwise.
    Warning,
}

/// One problem with one resource: `file: Kind ns/name: field: message`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// Where the resource was read from, when known.
    pub source: Option<Source>,
    /// Resource kind (`HTTPRoute`, …).
    pub kind: String,
    /// Resource namespace (`None` for cluster-scoped kinds).
    pub namespace: Option<String>,
    /// Resource name.
    pub name: String,
    /// Field path inside the resource, e.g. `spec.rules[0].backendRefs[1]` (empty: the whole resource).
    pub field: String,
    /// What is wrong, starting with the status reason when a condition carries it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(source) = &self.source {
            write!(f, "{source}: ")?;
        }
        f.write_str(&self.kind)?;
        match &self.namespace {
            Some(ns) => write!(f, " {ns}/{}", self.name)?,
            None => write!(f, " {}", self.name)?,
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The resource a problem is about; builds [`Problem`]s for it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Subject<'a> {
    pub source: Option<&'a Source>,
    pub kind: &'static str,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
}

impl Subject<'_> {
    pub fn problem(&self, severity: Severity, field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            severity,
            source: self.source.cloned(),
            kind: self.kind.to_owned(),
            namespace: self.namespace.map(str::to_owned),
            name: self.name.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn error(&self, field: impl Into<String>, message: impl Into<String>) -> Problem {
        self.problem(Severity::Error, field, message)
    }

    pub fn warning(&self, field: impl Into<String>, message: impl Into<String>) -> Problem {
        self.problem(Severity::Warning, field, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_resource_and_field() {
        let source = Source {
            file: "x.yaml".into(),
            document: 2,
        };
        let s = Subject {
            source: Some(&source),
            kind: "HTTPRoute",
            namespace: Some("default"),
            name: "foo",
        };
        assert_eq!(
            s.error("spec.rules[0]", "BackendNotFound: gone").to_string(),
            "x.yaml (document 3): HTTPRoute default/foo: spec.rules[0]: BackendNotFound: gone"
        );
        let s = Subject {
            source: None,
            kind: "GatewayClass",
            namespace: None,
            name: "rauta",
        };
        assert_eq!(s.warning("", "ignored").to_string(), "GatewayClass rauta: ignored");
    }
}
