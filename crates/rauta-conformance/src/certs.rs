//! The certificates the suite creates at setup, made with the openssl CLI the way the suite's
//! Go helpers make them: RSA 2048 with PKCS#1 keys (`RSA PRIVATE KEY`), valid one year, CN
//! `default`, O `Acme Co`, SANs sorted into DNS names, IP addresses and URIs (`*` is a URI), and
//! written as `kubernetes.io/tls` Secrets.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::tls::Trusted;

/// A certificate and its key, PEM.
#[derive(Clone, Debug)]
pub struct Pem {
    /// Certificate.
    pub crt: String,
    /// Private key (PKCS#1).
    pub key: String,
}

/// Certificates by `namespace/name` of their Secret.
#[derive(Clone, Debug, Default)]
pub struct Certs(BTreeMap<String, Arc<Trusted>>);

impl Certs {
    /// The certificate of Secret `namespace/name`, as a client trusts it.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<Trusted>> {
        self.0.get(&format!("{namespace}/{name}")).cloned()
    }
}

/// The self-signed Secrets of the suite's setup: `certificate` in the web namespace (used only
/// for cross-namespace references) and `tls-validity-checks-certificate` in infra (the HTTPS
/// listeners' certificate, trusted by the clients as its own root).
pub fn suite_secrets(dir: &Path) -> anyhow::Result<(Vec<Value>, Certs)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let wanted: [(&str, &str, &[&str]); 2] = [
        ("gateway-conformance-web-backend", "certificate", &["*"]),
        (
            "gateway-conformance-infra",
            "tls-validity-checks-certificate",
            &["*", "*.org", "*.wildcard.org"],
        ),
    ];
    let mut secrets = Vec::new();
    let mut certs = BTreeMap::new();
    for (namespace, name, hosts) in wanted {
        let pem = self_signed(&dir.join(format!("{namespace}-{name}")), hosts)?;
        secrets.push(secret(namespace, name, &pem));
        let dns_names = hosts
            .iter()
            .filter(|h| is_dns_name(h))
            .map(|h| (*h).to_owned())
            .collect();
        certs.insert(
            format!("{namespace}/{name}"),
            Arc::new(Trusted {
                pem: pem.crt.clone(),
                dns_names,
            }),
        );
    }
    Ok((secrets, Certs(certs)))
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

fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .context("cannot run openssl")?;
    if !out.status.success() {
        bail!(
            "openssl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A self-signed server certificate for `hosts`, made in `dir`.
fn self_signed(dir: &Path, hosts: &[&str]) -> anyhow::Result<Pem> {
    std::fs::create_dir_all(dir)?;
    let config = format!(
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = default\nO = Acme Co\n[ext]\n\
         basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage = serverAuth\nsubjectAltName = {}\n",
        subject_alt_names(hosts)
    );
    std::fs::write(dir.join("openssl.cnf"), config)?;
    openssl(dir, &["genrsa", "-traditional", "-out", "tls.key", "2048"])?;
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "tls.key",
            "-config",
            "openssl.cnf",
            "-extensions",
            "ext",
            "-days",
            "365",
            "-out",
            "tls.crt",
        ],
    )?;
    Ok(Pem {
        crt: std::fs::read_to_string(dir.join("tls.crt"))?,
        key: std::fs::read_to_string(dir.join("tls.key"))?,
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
    fn secrets_carry_pkcs1_keys() {
        let dir = std::env::temp_dir().join(format!("rauta-conformance-certs-{}", fastrand::u64(..)));
        let (secrets, certs) = suite_secrets(&dir).unwrap();
        assert_eq!(secrets.len(), 2);
        let key = STANDARD
            .decode(secrets[1]["data"]["tls.key"].as_str().unwrap())
            .unwrap();
        let key = String::from_utf8(key).unwrap();
        assert!(key.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{key}");
        let crt = certs
            .get("gateway-conformance-infra", "tls-validity-checks-certificate")
            .unwrap();
        assert!(crt.pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(crt.dns_names, ["*.org", "*.wildcard.org"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
