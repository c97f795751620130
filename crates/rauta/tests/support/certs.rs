//! Test certificates made at test time with the openssl CLI, and the clients that check them:
//! curl, openssl s_client, and a rustls client for connections a test keeps open.

#![allow(dead_code)] // each test file uses a different part of the harness

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The private key formats Kubernetes TLS Secrets carry.
#[derive(Clone, Copy, Debug)]
pub enum KeyKind {
    /// RSA 2048, PKCS#1 (`RSA PRIVATE KEY`), as the conformance suite writes them.
    RsaPkcs1,
    /// EC P-256, SEC1 (`EC PRIVATE KEY`), as openssl and cert-manager's ECDSA keys come.
    EcSec1,
    /// EC P-256, PKCS#8 (`PRIVATE KEY`).
    EcPkcs8,
}

/// A certificate and its key, PEM.
#[derive(Clone, Debug)]
pub struct Pem {
    pub crt: String,
    pub key: String,
}

/// A test CA in its own directory; it signs leaf certificates.
pub struct Ca {
    pub dir: tempfile::TempDir,
    pub crt_path: PathBuf,
    serial: std::cell::Cell<u32>,
}

fn openssl(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn write_key(dir: &Path, file: &str, kind: KeyKind) {
    match kind {
        KeyKind::RsaPkcs1 => openssl(dir, &["genrsa", "-traditional", "-out", file, "2048"]),
        KeyKind::EcSec1 => openssl(
            dir,
            &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", file],
        ),
        KeyKind::EcPkcs8 => openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                file,
            ],
        ),
    };
}

impl Ca {
    /// A new self-signed CA (EC P-256).
    pub fn new() -> Ca {
        let dir = tempfile::tempdir().expect("tempdir");
        write_key(dir.path(), "ca.key", KeyKind::EcSec1);
        openssl(
            dir.path(),
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=Rauta Test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        let crt_path = dir.path().join("ca.crt");
        Ca {
            dir,
            crt_path,
            serial: std::cell::Cell::new(1),
        }
    }

    /// The CA certificate, PEM.
    pub fn crt(&self) -> String {
        std::fs::read_to_string(&self.crt_path).expect("ca.crt")
    }

    /// A server certificate for `cn` with DNS SANs `sans`, signed by this CA.
    pub fn leaf(&self, cn: &str, sans: &[&str], kind: KeyKind) -> Pem {
        let san: Vec<String> = sans.iter().map(|s| format!("DNS:{s}")).collect();
        self.sign(
            cn,
            &format!("subjectAltName={}\nextendedKeyUsage=serverAuth\n", san.join(",")),
            kind,
        )
    }

    /// A server certificate for `cn` with a raw `subjectAltName` value (`DNS:a,URI:spiffe://b`).
    pub fn server(&self, cn: &str, san: &str, kind: KeyKind) -> Pem {
        self.sign(
            cn,
            &format!("subjectAltName={san}\nextendedKeyUsage=serverAuth\n"),
            kind,
        )
    }

    /// A client certificate for `cn` (clientAuth, no SAN), signed by this CA.
    pub fn client(&self, cn: &str) -> Pem {
        self.sign(cn, "extendedKeyUsage=clientAuth\n", KeyKind::EcSec1)
    }

    /// Writes the PEM of `pem` to files in this CA's directory: `(certificate, key)` paths.
    pub fn files(&self, name: &str, pem: &Pem) -> (PathBuf, PathBuf) {
        let (crt, key) = (
            self.dir.path().join(format!("{name}.crt")),
            self.dir.path().join(format!("{name}.key")),
        );
        std::fs::write(&crt, &pem.crt).expect("write crt");
        std::fs::write(&key, &pem.key).expect("write key");
        (crt, key)
    }

    fn sign(&self, cn: &str, extensions: &str, kind: KeyKind) -> Pem {
        let n = self.serial.get();
        self.serial.set(n + 1);
        let dir = self.dir.path();
        let (key, csr, crt, ext) = (
            format!("leaf{n}.key"),
            format!("leaf{n}.csr"),
            format!("leaf{n}.crt"),
            format!("leaf{n}.ext"),
        );
        write_key(dir, &key, kind);
        openssl(
            dir,
            &["req", "-new", "-key", &key, "-out", &csr, "-subj", &format!("/CN={cn}")],
        );
        std::fs::write(dir.join(&ext), extensions).expect("ext file");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-set_serial",
                &n.to_string(),
                "-days",
                "2",
                "-out",
                &crt,
                "-extfile",
                &ext,
            ],
        );
        Pem {
            crt: std::fs::read_to_string(dir.join(&crt)).expect("crt"),
            key: std::fs::read_to_string(dir.join(&key)).expect("key"),
        }
    }

    /// A rustls client configuration trusting only this CA, offering `alpn`.
    pub fn client_config(&self, alpn: &[&str]) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&self.crt_path).expect("ca pem") {
            roots.add(cert.expect("ca cert")).expect("add root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        Arc::new(config)
    }

    /// A TLS connection to `127.0.0.1:port` with SNI `sni`, verified against this CA.
    pub async fn connect(&self, port: u16, sni: &str, alpn: &[&str]) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        let name = ServerName::try_from(sni.to_owned()).map_err(std::io::Error::other)?;
        TlsConnector::from(self.client_config(alpn)).connect(name, tcp).await
    }
}

/// A `kubernetes.io/tls` Secret, with base64 `data` as Kubernetes stores it.
pub fn secret_yaml(namespace: &str, name: &str, pem: &Pem) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {namespace}}}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {}\n  tls.key: {}\n",
        b64(&pem.crt),
        b64(&pem.key)
    )
}

/// What curl reported: status, HTTP version and body.
#[derive(Debug)]
pub struct Curl {
    pub ok: bool,
    pub status: u16,
    pub version: String,
    pub body: String,
    pub stderr: String,
}

/// `curl` over HTTPS to `127.0.0.1:port` for `https://{sni}:{port}{path}`, trusting `ca`; `host`
/// overrides the Host header (and HTTP/2 `:authority`); `http` is `--http1.1` or `--http2`.
pub fn curl(ca: &Path, port: u16, sni: &str, host: Option<&str>, path: &str, http: &str) -> Curl {
    curl_with(ca, port, sni, host, path, http, &[])
}

/// [`curl`] with extra arguments (`--cert`, `--key`, …).
pub fn curl_with(ca: &Path, port: u16, sni: &str, host: Option<&str>, path: &str, http: &str, extra: &[&str]) -> Curl {
    let mut cmd = Command::new("curl");
    cmd.args(extra);
    cmd.args(["-sS", "--max-time", "10", http, "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("{sni}:{port}:127.0.0.1")])
        .args(["-w", "\n%{http_code} %{http_version}"]);
    if let Some(host) = host {
        cmd.args(["-H", &format!("Host: {host}")]);
    }
    let out = cmd
        .arg(format!("https://{sni}:{port}{path}"))
        .output()
        .expect("run curl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    let mut tail = tail.split(' ');
    let status = tail.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    Curl {
        ok: out.status.success(),
        status,
        version: tail.next().unwrap_or_default().to_owned(),
        body: body.to_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `openssl s_client` to `127.0.0.1:port` with `-servername sni` (when given) and extra
/// arguments; returns whether the handshake succeeded and everything it printed.
pub fn s_client(port: u16, sni: Option<&str>, extra: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")]);
    match sni {
        Some(name) => cmd.args(["-servername", name]),
        None => cmd.arg("-noservername"),
    };
    let out = cmd
        .args(extra)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let handshake = out.status.success() && text.contains("-----BEGIN CERTIFICATE-----");
    (handshake, text)
}

/// The subject CN of the server certificate in s_client's output.
pub fn peer_cn(s_client_output: &str) -> Option<String> {
    let line = s_client_output.lines().find(|l| l.starts_with("subject="))?;
    let cn = line.split("CN").nth(1)?.trim_start_matches([' ', '=']);
    Some(cn.split(',').next().unwrap_or(cn).trim().to_owned())
}
