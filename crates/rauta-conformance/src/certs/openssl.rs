//! The openssl CLI calls that make the suite's certificates the way its Go helpers make them.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

use super::{Pem, is_dns_name, subject_alt_names};

/// Starts `openssl genrsa` for a PKCS#1 RSA 2048 key at `dir/tls.key` (many run at once).
pub fn start_key(dir: &Path) -> anyhow::Result<Child> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Command::new("openssl")
        .current_dir(dir)
        .args(["genrsa", "-traditional", "-out", "tls.key", "2048"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run openssl")
}

/// Waits for a key started by [`start_key`].
pub fn finish_key(child: Child) -> anyhow::Result<()> {
    let out = child.wait_with_output().context("openssl genrsa")?;
    if !out.status.success() {
        bail!("openssl genrsa failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn run(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
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

fn read(dir: &Path) -> anyhow::Result<Pem> {
    Ok(Pem {
        crt: std::fs::read_to_string(dir.join("tls.crt"))?,
        key: std::fs::read_to_string(dir.join("tls.key"))?,
    })
}

/// What a leaf certificate is for: serving `hosts`, or authenticating a client.
#[derive(Clone, Copy, Debug)]
pub enum Leaf<'a> {
    /// A server certificate for these hosts (DNS names, IPs, URIs).
    Server(&'a [&'a str]),
    /// A client certificate (no subject alternative name).
    Client,
}

/// The `[req]` section and the leaf extensions of Go's `generateRSACert` template: CN `default`,
/// O `Acme Co`, not a CA, digitalSignature + keyEncipherment.
fn leaf_config(leaf: Leaf<'_>) -> String {
    let (usage, sans) = match leaf {
        Leaf::Server(hosts) => ("serverAuth", format!("subjectAltName = {}\n", subject_alt_names(hosts))),
        Leaf::Client => ("clientAuth", String::new()),
    };
    format!(
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = default\nO = Acme Co\n[ext]\n\
         basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage = {usage}\n{sans}"
    )
}

/// A self-signed server certificate for `hosts`, its key already in `dir`.
pub fn self_signed(dir: &Path, hosts: &[&str]) -> anyhow::Result<Pem> {
    self_sign(dir, &leaf_config(Leaf::Server(hosts)), &[])
}

/// A CA as Go's `generateCACert` makes it: CN `gatewayapi`, O `Kubernetes Gateway API`, C `US`,
/// certSign + digitalSignature, both extended usages; its key already in `dir`.
pub fn ca(dir: &Path) -> anyhow::Result<Pem> {
    let config = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nC = US\nO = Kubernetes Gateway API\nCN = gatewayapi\n\
                  [ext]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,digitalSignature,keyCertSign\n\
                  extendedKeyUsage = clientAuth,serverAuth\nsubjectKeyIdentifier = hash\n";
    self_sign(dir, config, &["-set_serial", "2024"])
}

/// A certificate self-signed with the key in `dir` under the `ext` section of `config`, valid
/// for 365 days; `extra` are more `openssl req` arguments.
fn self_sign(dir: &Path, config: &str, extra: &[&str]) -> anyhow::Result<Pem> {
    std::fs::write(dir.join("openssl.cnf"), config)?;
    let mut args = vec![
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
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-out", "tls.crt"]);
    run(dir, &args)?;
    read(dir)
}

/// A leaf signed by the CA in `ca_dir`, its key already in `dir`.
pub fn signed(dir: &Path, ca_dir: &Path, leaf: Leaf<'_>) -> anyhow::Result<Pem> {
    std::fs::write(dir.join("openssl.cnf"), leaf_config(leaf))?;
    run(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "tls.key",
            "-config",
            "openssl.cnf",
            "-out",
            "tls.csr",
        ],
    )?;
    let ca_dir = std::path::absolute(ca_dir)?;
    let ca_crt = ca_dir.join("tls.crt");
    let ca_key = ca_dir.join("tls.key");
    let serial = format!("0x{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    run(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            &ca_crt.display().to_string(),
            "-CAkey",
            &ca_key.display().to_string(),
            "-set_serial",
            &serial,
            "-days",
            "365",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            "ext",
            "-out",
            "tls.crt",
        ],
    )?;
    read(dir)
}

/// The DNS names of `hosts` (what a client checks the server name against).
pub fn dns_names(hosts: &[&str]) -> Vec<String> {
    hosts
        .iter()
        .filter(|h| is_dns_name(h))
        .map(|h| (*h).to_owned())
        .collect()
}
