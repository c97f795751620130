//! TLS serving, as echo-basic does it when it is given a certificate: the HTTP mode's HTTPS port
//! (HTTP/1.1 and HTTP/2 by ALPN, client certificates verified when given and a client CA is
//! set), the gRPC mode's TLS port (ALPN `h2` required, as grpc-go requires it) and the TCP mode's
//! TLS port (the line protocol on the decrypted stream, `IS_TLS` answering `true`).
//!
//! Each answer reports what the handshake settled: version, SNI, ALPN, cipher suite (Go's names)
//! and the client's certificates.

use std::future::Future;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ServerConnection, WebPkiClientVerifier};
use rustls::{ProtocolVersion, RootCertStore, ServerConfig};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::http::{ConnectionInfo, ResetHandle, TlsInfo};
use crate::{EchoServer, tcp};

/// Why a TLS configuration cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The certificate PEM holds no certificate or cannot be read.
    #[error("server certificate: {0}")]
    Certificate(String),
    /// The private key PEM holds no key or cannot be read.
    #[error("server private key: {0}")]
    PrivateKey(String),
    /// The client CA PEM holds no usable certificate.
    #[error("client CA certificates: {0}")]
    ClientCa(String),
    /// rustls refused the combination.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Which of echo-basic's TLS listeners a configuration is for; decides the ALPN protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// The HTTP mode's HTTPS port: ALPN `h2` and `http/1.1`, like Go's `ListenAndServeTLS`.
    Https,
    /// The gRPC mode's TLS port: ALPN `h2`, and connections that negotiate none are refused.
    Grpc,
    /// The TCP mode's TLS port: no ALPN.
    Tcp,
}

/// A server certificate (PEM chain and key) and, optionally, the CAs whose client certificates
/// are verified (`TLS_CLIENT_CACERTS`): like echo-basic, when a client presents one, unless
/// [`TlsFiles::require_client_cert`] refuses clients without one too.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Certificate chain, PEM, leaf first.
    pub certificate: String,
    /// Private key, PEM (PKCS#1, PKCS#8 or SEC1).
    pub private_key: String,
    /// Client CAs, PEM; `None` asks for no client certificate.
    pub client_cas: Option<String>,
    /// With `client_cas`, refuse the handshake of a client that presents no certificate
    /// (echo-basic's `VerifyClientCertIfGiven` accepts it; `false` behaves like echo-basic).
    pub require_client_cert: bool,
}

/// A TLS listener configuration for one of echo-basic's modes.
#[derive(Clone, Debug)]
pub struct EchoTls {
    config: Arc<ServerConfig>,
    mode: TlsMode,
}

impl EchoTls {
    /// Builds the rustls configuration for `mode` from `files`.
    pub fn new(files: &TlsFiles, mode: TlsMode) -> Result<Self, TlsSetupError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(files.certificate.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| TlsSetupError::Certificate(e.to_string()))?;
        if chain.is_empty() {
            return Err(TlsSetupError::Certificate("no certificate in PEM".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(files.private_key.as_bytes())
            .map_err(|e| TlsSetupError::PrivateKey(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
        let builder = match &files.client_cas {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                for ca in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    let ca = ca.map_err(|e| TlsSetupError::ClientCa(e.to_string()))?;
                    roots.add(ca).map_err(|e| TlsSetupError::ClientCa(e.to_string()))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                // Go's VerifyClientCertIfGiven: verify a certificate when one comes, accept none.
                let verifier = if files.require_client_cert {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                let verifier = verifier.build().map_err(|e| TlsSetupError::ClientCa(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key)?;
        config.alpn_protocols = match mode {
            TlsMode::Https => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            TlsMode::Grpc => vec![b"h2".to_vec()],
            TlsMode::Tcp => Vec::new(),
        };
        Ok(Self {
            config: Arc::new(config),
            mode,
        })
    }

    /// The mode this configuration serves.
    pub fn mode(&self) -> TlsMode {
        self.mode
    }
}

impl EchoServer {
    /// Serves `tls`'s mode on `listener` until `shutdown` completes: HTTP (and gRPC) answers for
    /// [`TlsMode::Https`] and [`TlsMode::Grpc`], the TCP line protocol for [`TlsMode::Tcp`].
    /// Open connections are closed at shutdown.
    pub async fn serve_tls(
        &self,
        listener: TcpListener,
        tls: EchoTls,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let local = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(tls.config.clone());
        let tcp_port = self.config().port.clone().unwrap_or_else(|| local.port().to_string());
        tracing::debug!(%local, mode = ?tls.mode, "echo server listening (tls)");
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok((stream, client)) => {
                        let (server, acceptor, mode, tcp_port) = (self.clone(), acceptor.clone(), tls.mode, tcp_port.clone());
                        connections.spawn(async move {
                            let _ = stream.set_nodelay(true);
                            let reset = ResetHandle::new(&stream).ok();
                            let stream = match acceptor.accept(stream).await {
                                Ok(s) => s,
                                Err(error) => {
                                    tracing::debug!(%client, %error, "echo TLS handshake failed");
                                    return;
                                }
                            };
                            let conn = stream.get_ref().1;
                            if mode == TlsMode::Grpc && conn.alpn_protocol() != Some(b"h2") {
                                tracing::debug!(%client, "gRPC over TLS without ALPN h2: refused");
                                return;
                            }
                            match mode {
                                TlsMode::Tcp => {
                                    let facts = tcp::TlsFacts {
                                        version: go_version_name(conn),
                                        server_name: conn.server_name().unwrap_or_default().to_owned(),
                                        negotiated_protocol: alpn(conn),
                                        curves: curve_name(conn),
                                        cipher_suite: cipher_suite(conn),
                                    };
                                    let line = tcp::test_line(&server.shared, &tcp_port, Some(&facts));
                                    if let Err(error) = tcp::serve_connection(stream, &line, true).await {
                                        tracing::debug!(%client, %error, "tls echo connection failed");
                                    }
                                }
                                TlsMode::Https | TlsMode::Grpc => {
                                    let info = ConnectionInfo { client, tls: Some(tls_info(conn)), reset };
                                    server.serve_connection(stream, info).await;
                                }
                            }
                        });
                    }
                    Err(error) => {
                        tracing::warn!(%error, "echo TLS accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
            }
        }
        drop(connections);
        Ok(())
    }
}

/// What echo-basic's HTTP answers report in their `tls` block.
fn tls_info(conn: &ServerConnection) -> TlsInfo {
    TlsInfo {
        version: match conn.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => "TLSv1.3".into(),
            Some(ProtocolVersion::TLSv1_2) => "TLSv1.2".into(),
            _ => String::new(),
        },
        peer_certificates: conn
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(to_pem)
            .collect(),
        server_name: conn.server_name().unwrap_or_default().to_owned(),
        negotiated_protocol: alpn(conn),
        cipher_suite: cipher_suite(conn),
    }
}

fn alpn(conn: &ServerConnection) -> String {
    conn.alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_default()
}

/// Go's `tls.VersionName`, which the TCP mode reports: `TLS 1.3`.
fn go_version_name(conn: &ServerConnection) -> String {
    match conn.protocol_version() {
        Some(ProtocolVersion::TLSv1_3) => "TLS 1.3".into(),
        Some(ProtocolVersion::TLSv1_2) => "TLS 1.2".into(),
        _ => String::new(),
    }
}

/// Go's `tls.CipherSuiteName`: rustls names TLS 1.3 suites `TLS13_…`, Go `TLS_…`.
fn cipher_suite(conn: &ServerConnection) -> String {
    let name = conn
        .negotiated_cipher_suite()
        .and_then(|s| s.suite().as_str())
        .unwrap_or_default();
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name.to_owned(),
    }
}

/// Go's `CurveID.String()` for the groups rustls offers.
fn curve_name(conn: &ServerConnection) -> String {
    use rustls::NamedGroup;
    match conn.negotiated_key_exchange_group().map(|g| g.name()) {
        Some(NamedGroup::X25519) => "X25519".into(),
        Some(NamedGroup::secp256r1) => "CurveP256".into(),
        Some(NamedGroup::secp384r1) => "CurveP384".into(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// A certificate as Go's `pem.Encode` writes it: 64-character lines.
fn to_pem(cert: &CertificateDer<'_>) -> String {
    let body = STANDARD.encode(cert.as_ref());
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_lines_are_64_characters() {
        let pem = to_pem(&CertificateDer::from(vec![7u8; 100]));
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last().copied(), Some("-----END CERTIFICATE-----"));
        assert!(pem.ends_with('\n'));
    }

    #[test]
    fn bad_pem_is_refused() {
        let files = TlsFiles {
            certificate: "nothing".into(),
            private_key: "nothing".into(),
            client_cas: None,
            require_client_cert: false,
        };
        assert!(matches!(
            EchoTls::new(&files, TlsMode::Https),
            Err(TlsSetupError::Certificate(_))
        ));
    }
}
