//! A [`Translator`] that reuses routes gives, byte for byte, what a full translation gives, over
//! sequences of edits: routes added, changed and removed, and edits of the resources routes
//! depend on (Gateways, Namespaces, Services, ReferenceGrants, EndpointSlices).
//!
//! Unchanged documents keep their parsed resources (the same `Arc`s) from one step to the next,
//! as the file provider's cache does, so the translator does reuse what it can.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use rauta_translate::{Inputs, Translation, Translator, parse_documents, translate};

/// Documents by id, each parsed once per version of its text.
#[derive(Default)]
struct Docs {
    parsed: BTreeMap<String, (String, Inputs)>,
}

impl Docs {
    /// Sets document `id` to `text`, parsing it only if the text changed.
    fn set(&mut self, id: &str, text: &str) {
        if self.parsed.get(id).is_some_and(|(t, _)| t == text) {
            return;
        }
        let mut inputs = Inputs::default();
        parse_documents(text, id, &mut inputs).unwrap_or_else(|e| panic!("{id}: {e}"));
        self.parsed.insert(id.to_owned(), (text.to_owned(), inputs));
    }

    fn remove(&mut self, id: &str) {
        self.parsed.remove(id);
    }

    /// Every document's resources, sharing the parsed ones.
    fn inputs(&self) -> Inputs {
        let mut all = Inputs::default();
        for (_, inputs) in self.parsed.values() {
            all.extend_from(inputs);
        }
        all
    }
}

/// Everything a translation gives, as text: snapshot, statuses and problems.
fn render(t: &Translation) -> String {
    let problems: Vec<String> = t.problems.iter().map(ToString::to_string).collect();
    format!(
        "{}\n{}\n{}",
        serde_json::to_string_pretty(&t.snapshot).unwrap(),
        serde_json::to_string_pretty(&t.statuses).unwrap(),
        problems.join("\n")
    )
}

/// Translates `docs` incrementally and from scratch, and checks both give the same.
fn check(translator: &mut Translator, docs: &Docs, step: &str) -> (usize, usize) {
    let inputs = docs.inputs();
    let incremental = translator.translate(&inputs);
    let full = translate(&inputs);
    let (a, b) = (render(&incremental), render(&full));
    if a != b {
        let line = a.lines().zip(b.lines()).position(|(x, y)| x != y).unwrap_or(0);
        panic!(
            "{step}: incremental and full translations differ at line {line}:\n{:?}\n{:?}",
            a.lines().nth(line),
            b.lines().nth(line)
        );
    }
    assert!(incremental.snapshot == full.snapshot, "{step}: snapshot");
    assert!(incremental.statuses == full.statuses, "{step}: statuses");
    translator.routes_reused_and_translated()
}

/// Every golden input, one document at a time: removed, then put back (parsed anew), with the
/// same translator throughout.
#[test]
fn every_golden_document_removed_and_restored() {
    let dir = manifest_dir().join("tests/golden");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".in.yaml"))
        .collect();
    files.sort();
    let mut translator = Translator::new();
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        if parse_documents(&text, "x", &mut Inputs::default()).is_err() {
            continue;
        }
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let documents: Vec<&str> = text.split("\n---\n").filter(|d| d.contains("kind:")).collect();
        let mut docs = Docs::default();
        for (i, d) in documents.iter().enumerate() {
            docs.set(&format!("{name}#{i:02}"), d);
        }
        check(&mut translator, &docs, &format!("{name}: all"));
        for (i, d) in documents.iter().enumerate() {
            let id = format!("{name}#{i:02}");
            docs.remove(&id);
            check(&mut translator, &docs, &format!("{name}: without document {i}"));
            docs.set(&id, d);
            check(&mut translator, &docs, &format!("{name}: with document {i} again"));
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} documents");
}

const BASE: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: rauta}
spec: {controllerName: rauta.io/gateway-controller}
"#;

fn gateway(hostname: &str, team: &str) -> String {
    format!(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: infra}}
spec:
  gatewayClassName: rauta
  listeners:
  - name: http
    protocol: HTTP
    port: 8080
    hostname: "{hostname}"
    allowedRoutes:
      namespaces:
        from: Selector
        selector: {{matchLabels: {{team: {team}}}}}
  - name: other
    protocol: HTTP
    port: 8081
    allowedRoutes: {{namespaces: {{from: All}}}}
"#
    )
}

fn namespace(name: &str, team: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, labels: {{team: {team}}}}}\n")
}

fn service(namespace: &str, name: &str, port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
         spec: {{ports: [{{port: {port}, targetPort: 9000}}]}}\n"
    )
}

fn slice(namespace: &str, service: &str, ip: &str) -> String {
    format!(
        r#"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: {service}-1, namespace: {namespace}, labels: {{kubernetes.io/service-name: {service}}}}}
addressType: IPv4
ports: [{{port: 9000}}]
endpoints: [{{addresses: ["{ip}"]}}]
"#
    )
}

fn route(name: &str, path: &str, hostname: &str, backend: &str) -> String {
    let (namespace, service) = backend.split_once('/').unwrap_or(("app", backend));
    format!(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: app}}
spec:
  parentRefs: [{{name: gw, namespace: infra}}]
  hostnames: ["{hostname}"]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: "{path}"}}}}]
    backendRefs: [{{name: {service}, namespace: {namespace}, port: 80}}]
"#
    )
}

const GRANT: &str = r#"
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: app-to-api, namespace: other}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: app}]
  to: [{group: "", kind: Service}]
"#;

/// Routes added, changed and removed among many, then edits of what routes depend on.
#[test]
fn edits_of_routes_and_of_what_they_depend_on() {
    let mut docs = Docs::default();
    docs.set("00-class", BASE);
    docs.set("01-gateway", &gateway("*.example.com", "a"));
    docs.set("02-ns-app", &namespace("app", "a"));
    docs.set("02-ns-other", &namespace("other", "b"));
    docs.set("03-web", &service("app", "web", 80));
    docs.set("03-api", &service("other", "api", 80));
    docs.set("04-web-slice", &slice("app", "web", "10.0.0.1"));
    docs.set("04-api-slice", &slice("other", "api", "10.0.0.2"));
    for i in 0..40 {
        let backend = if i % 4 == 0 { "other/api" } else { "web" };
        let host = if i % 3 == 0 { "a.example.com" } else { "*.example.com" };
        docs.set(
            &format!("10-r{i:02}"),
            &route(&format!("r{i:02}"), &format!("/r/{i}"), host, backend),
        );
    }
    let mut t = Translator::new();
    assert_eq!(check(&mut t, &docs, "first"), (0, 40));

    docs.set("20-new", &route("new", "/new", "b.example.com", "web"));
    assert_eq!(check(&mut t, &docs, "a route added"), (40, 1));
    docs.set("20-new", &route("new", "/new/v2", "b.example.com", "web"));
    assert_eq!(check(&mut t, &docs, "the route changed"), (40, 1));
    // Same path as another route, older by name: precedence between them is decided again.
    docs.set("20-new", &route("new", "/r/5", "*.example.com", "web"));
    check(&mut t, &docs, "the route collides with another");
    docs.remove("10-r07");
    assert_eq!(check(&mut t, &docs, "a route removed"), (40, 0));
    docs.remove("20-new");
    check(&mut t, &docs, "the added route removed");

    docs.set("05-grant", GRANT);
    assert_eq!(
        check(&mut t, &docs, "grant added").0,
        0,
        "a grant changes what routes resolve to"
    );
    docs.remove("05-grant");
    check(&mut t, &docs, "grant removed");
    docs.set("05-grant", GRANT);
    check(&mut t, &docs, "grant added again");

    docs.set("03-web", &service("app", "web", 81));
    check(&mut t, &docs, "web's port changed: its routes lose their backend");
    docs.set("03-web", &service("app", "web", 80));
    check(&mut t, &docs, "web's port back");
    docs.remove("03-api");
    check(&mut t, &docs, "api removed");
    docs.set("03-api", &service("other", "api", 80));
    check(&mut t, &docs, "api back");

    docs.set("04-web-slice", &slice("app", "web", "10.0.0.9"));
    assert_eq!(
        check(&mut t, &docs, "web's endpoints changed"),
        (39, 0),
        "endpoints only fill clusters"
    );

    docs.set("01-gateway", &gateway("a.example.com", "a"));
    check(&mut t, &docs, "the listener's hostname narrowed");
    docs.set("02-ns-app", &namespace("app", "b"));
    check(&mut t, &docs, "app no longer selected by the listener");
    docs.set("02-ns-app", &namespace("app", "a"));
    check(&mut t, &docs, "app selected again");
    docs.remove("01-gateway");
    check(&mut t, &docs, "the Gateway removed");
    docs.set("01-gateway", &gateway("*.example.com", "a"));
    check(&mut t, &docs, "the Gateway back");

    for i in 0..10 {
        docs.set(
            &format!("30-burst{i}"),
            &route(&format!("burst{i}"), "/burst", "*.example.com", "web"),
        );
        check(&mut t, &docs, &format!("burst route {i} added"));
    }
    for i in (0..10).step_by(2) {
        docs.remove(&format!("30-burst{i}"));
        check(&mut t, &docs, &format!("burst route {i} removed"));
    }
}

/// The crate's directory, read when the test runs (cargo sets it) rather than when it was compiled, so
/// a test binary reused from a shared build cache still finds this checkout's files.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}
