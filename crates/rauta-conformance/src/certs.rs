//! The certificates the suite creates at setup, made with the openssl CLI the way the suite's
//! Go helpers make them: RSA 2048 with PKCS#1 keys (`RSA PRIVATE KEY`), valid one year, leaves
//! with CN `default`, O `Acme Co`, SANs sorted into DNS names, IP addresses and URIs (`*` is a
//! URI); CAs with CN `gatewayapi`. Leaves are written as `kubernetes.io/tls` Secrets, CAs as
//! ConfigMaps with `ca.crt`.

mod openssl;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::tls::Trusted;
use openssl::Leaf;

/// A certificate and its key, PEM.
#[derive(Clone, Debug)]
pub struct Pem {
    /// Certificate.
    pub crt: String,
    /// Private key (PKCS#1).
    pub key: String,
}

/// A certificate made at setup: its PEM and how a client trusts it.
#[derive(Clone, Debug)]
struct Made {
    pem: Pem,
    trusted: Arc<Trusted>,
}

/// Certificates by `namespace/name` of their Secret, CAs by `namespace/name` of their ConfigMap.
#[derive(Clone, Debug, Default)]
pub struct Certs {
    leaves: BTreeMap<String, Made>,
    cas: BTreeMap<String, String>,
}

impl Certs {
    /// The certificate of Secret `namespace/name`, as a client trusts it (as its own root).
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<Trusted>> {
        self.leaves
            .get(&format!("{namespace}/{name}"))
            .map(|m| m.trusted.clone())
    }

    /// Certificate and key of Secret `namespace/name`.
    pub fn pem(&self, namespace: &str, name: &str) -> Option<Pem> {
        self.leaves.get(&format!("{namespace}/{name}")).map(|m| m.pem.clone())
    }

    /// The CA certificate (PEM) of ConfigMap `namespace/name`.
    pub fn ca(&self, namespace: &str, name: &str) -> Option<String> {
        self.cas.get(&format!("{namespace}/{name}")).cloned()
    }
}

const INFRA: &str = "gateway-conformance-infra";
const APP: &str = "gateway-conformance-app-backend";
const WEB: &str = "gateway-conformance-web-backend";

/// One thing the suite's setup makes.
enum Item {
    /// A self-signed server certificate (Secret).
    SelfSigned(&'static str, &'static str, &'static [&'static str]),
    /// A CA (ConfigMap `ca.crt`).
    Ca(&'static str, &'static str),
    /// A leaf signed by the CA made last (Secret).
    Signed(&'static str, &'static str, Option<&'static [&'static str]>),
}

/// The suite's setup, in its order: the self-signed listener certificates, the CAs for client
/// certificate validation with their client certificates, the CA of the TLS backends with their
/// serving certificates (`tls-checks-certificate`, the passthrough and terminate ones) and a
/// client certificate, and `mismatch-ca-certificate`, which signed nothing.
const SETUP: &[Item] = &[
    Item::SelfSigned(WEB, "certificate", &["*"]),
    Item::SelfSigned(
        INFRA,
        "tls-validity-checks-certificate",
        &["*", "*.org", "*.wildcard.org"],
    ),
    Item::Ca(WEB, "web-backend-cm"),
    Item::Ca(INFRA, "tls-validity-checks-ca-certificate"),
    Item::Signed(INFRA, "tls-validity-checks-client-certificate", None),
    Item::Ca(INFRA, "tls-validity-checks-per-port-ca-certificate"),
    Item::Signed(INFRA, "tls-validity-checks-per-port-client-certificate", None),
    Item::Ca(INFRA, "tls-checks-ca-certificate"),
    Item::Signed(
        INFRA,
        "tls-checks-certificate",
        Some(&[
            "abc.example.com",
            "spiffe://abc.example.com/test-identity",
            "other.example.com",
        ]),
    ),
    Item::Signed(INFRA, "tls-checks-client-certificate", None),
    Item::Signed(INFRA, "tls-passthrough-checks-certificate", Some(&["abc.example.com"])),
    Item::Signed(APP, "tls-passthrough-checks-certificate", Some(&["abc.example.com"])),
    Item::Signed(INFRA, "tls-terminate-checks-certificate", Some(&["tls.example.com"])),
    Item::Ca(INFRA, "mismatch-ca-certificate"),
];

/// Makes everything the suite's setup makes in `dir` and returns it as Secrets and ConfigMaps.
pub fn suite_material(dir: &Path) -> anyhow::Result<(Vec<Value>, Certs)> {
    let item_dir = |ns: &str, name: &str| dir.join(format!("{ns}-{name}"));
    // The keys take most of the time: make them all at once.
    let keys = SETUP
        .iter()
        .map(|item| {
            let (Item::SelfSigned(ns, name, _) | Item::Ca(ns, name) | Item::Signed(ns, name, _)) = item;
            openssl::start_key(&item_dir(ns, name))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for key in keys {
        openssl::finish_key(key)?;
    }
    let mut docs = Vec::new();
    let mut certs = Certs::default();
    let mut last_ca = None;
    for item in SETUP {
        match item {
            Item::SelfSigned(ns, name, hosts) => {
                let pem = openssl::self_signed(&item_dir(ns, name), hosts)?;
                docs.push(secret(ns, name, &pem));
                certs.insert(ns, name, pem, openssl::dns_names(hosts));
            }
            Item::Ca(ns, name) => {
                let path = item_dir(ns, name);
                let pem = openssl::ca(&path)?;
                docs.push(config_map(ns, name, &pem.crt));
                certs.cas.insert(format!("{ns}/{name}"), pem.crt);
                last_ca = Some(path);
            }
            Item::Signed(ns, name, hosts) => {
                let ca = last_ca
                    .as_deref()
                    .ok_or_else(|| anyhow::anyhow!("{ns}/{name}: no CA made before it"))?;
                let leaf = hosts.map_or(Leaf::Client, Leaf::Server);
                let pem = openssl::signed(&item_dir(ns, name), ca, leaf)?;
                docs.push(secret(ns, name, &pem));
                certs.insert(ns, name, pem, openssl::dns_names(hosts.unwrap_or_default()));
            }
        }
    }
    Ok((docs, certs))
}

impl Certs {
    fn insert(&mut self, ns: &str, name: &str, pem: Pem, dns_names: Vec<String>) {
        let trusted = Arc::new(Trusted {
            pem: pem.crt.clone(),
            dns_names,
        });
        self.leaves.insert(format!("{ns}/{name}"), Made { pem, trusted });
    }
}

/// A `kubernetes.io/tls` Secret holding `pem`.
pub fn secret(namespace: &str, name: &str, pem: &Pem) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": STANDARD.encode(&pem.crt), "tls.key": STANDARD.encode(&pem.key)},
    })
}

/// A ConfigMap holding a CA certificate as `ca.crt`.
pub fn config_map(namespace: &str, name: &str, ca: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"ca.crt": ca},
    })
}

/// The `subjectAltName` value for `hosts`, sorted as the suite sorts them.
fn subject_alt_names(hosts: &[&str]) -> String {
    hosts
        .iter()
        .map(|h| {
            if h.parse::<IpAddr>().is_ok() {
                format!("IP:{h}")
            } else if is_dns_name(h) {
                format!("DNS:{h}")
            } else {
                format!("URI:{h}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A DNS name or a wildcard one (`*.` then a DNS name), as Kubernetes validates hostnames.
fn is_dns_name(h: &str) -> bool {
    let name = h.strip_prefix("*.").unwrap_or(h);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_become_dns_ip_or_uri_names() {
        assert_eq!(
            subject_alt_names(&["*", "*.org", "a.example.com", "10.0.0.1"]),
            "URI:*,DNS:*.org,DNS:a.example.com,IP:10.0.0.1"
        );
        assert_eq!(
            subject_alt_names(&["spiffe://abc.example.com/id"]),
            "URI:spiffe://abc.example.com/id"
        );
    }

    #[test]
    fn setup_makes_secrets_and_ca_config_maps() {
        let dir = std::env::temp_dir().join(format!("rauta-conformance-certs-{}", fastrand::u64(..)));
        let (docs, certs) = suite_material(&dir).unwrap();
        let secrets = docs.iter().filter(|d| d["kind"] == "Secret").count();
        let maps = docs.iter().filter(|d| d["kind"] == "ConfigMap").count();
        assert_eq!((secrets, maps), (9, 5));
        let key = certs.pem(INFRA, "tls-validity-checks-certificate").unwrap().key;
        assert!(key.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{key}");
        let crt = certs.get(INFRA, "tls-validity-checks-certificate").unwrap();
        assert!(crt.pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(crt.dns_names, ["*.org", "*.wildcard.org"]);
        assert_eq!(
            certs.get(INFRA, "tls-checks-certificate").unwrap().dns_names,
            ["abc.example.com", "other.example.com"]
        );
        assert!(certs.ca(INFRA, "tls-checks-ca-certificate").is_some());
        // The backend certificate chains to its CA.
        let out = std::process::Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(dir.join("gateway-conformance-infra-tls-checks-ca-certificate/tls.crt"))
            .arg(dir.join("gateway-conformance-infra-tls-checks-certificate/tls.crt"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
