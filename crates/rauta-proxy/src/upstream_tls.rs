//! TLS to backends (BackendTLSPolicy): SNI from the policy, trust in the policy's CAs only (or in
//! the system's roots, `wellKnownCACertificates: System`), the policy's subject alternative names
//! (DNS and URI, e.g. SPIFFE IDs) instead of the hostname when it lists some, the Gateway's client
//! certificate when it has one (`spec.tls.backend`), and ALPN `h2` for HTTP/2 clusters (gRPC) or
//! `http/1.1`.
//!
//! Each endpoint of a TLS cluster gets a pooled client whose connector dials the endpoint and
//! runs the handshake; a failed handshake is a connect error (502), never a plaintext retry.
//! Terminated TLSRoute streams to such a cluster run the same handshake without ALPN
//! ([`handshake`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rauta_ir::{Certificate, SubjectAltName, UpstreamTls};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::body::RequestBody;
use crate::config::Limits;
use crate::system_roots;

/// Pooled TLS connections to one endpoint.
pub(crate) type TlsClient = Client<TlsConnector, RequestBody>;

/// The pooled client routes by the URI's authority: origin-form requests get the endpoint's.
pub(crate) fn absolute(mut request: Request<RequestBody>, authority: &Authority) -> Request<RequestBody> {
    let uri = request.uri();
    if uri.scheme().is_none() || uri.authority().is_none() {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(uri.authority().cloned().unwrap_or_else(|| authority.clone()));
        parts.path_and_query = uri
            .path_and_query()
            .cloned()
            .or_else(|| Some(PathAndQuery::from_static("/")));
        if let Ok(absolute) = Uri::from_parts(parts) {
            *request.uri_mut() = absolute;
        }
    }
    request
}

/// The client side of the policy's TLS: its verifier, SNI and ALPN (`None`: offer none).
fn client_config(tls: &UpstreamTls, alpn: Option<&[u8]>) -> (Arc<ClientConfig>, ServerName<'static>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let name = ServerName::try_from(tls.server_name.clone()).unwrap_or_else(|_| {
        tracing::warn!(name = %tls.server_name, "backend TLS hostname is not a DNS name; handshakes will fail");
        ServerName::from(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    });
    let verifier = Arc::new(PolicyVerifier::new(tls, name.clone(), &provider));
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())
        .and_then(|b| {
            let b = b.dangerous().with_custom_certificate_verifier(verifier);
            match &tls.client_certificate {
                None => Ok(b.with_no_client_auth()),
                Some(cert) => client_auth(cert).and_then(|(chain, key)| {
                    b.with_client_auth_cert(chain, key)
                        .map_err(|e| format!("client certificate {}: {e}", cert.source))
                }),
            }
        })
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "backend TLS configuration rejected; its handshakes will fail");
            ClientConfig::builder()
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        });
    config.alpn_protocols = alpn.map(|p| vec![p.to_vec()]).unwrap_or_default();
    (Arc::new(config), name)
}

/// A pooled client for `address` speaking TLS as `tls` says; HTTP/2 only when `http2`.
pub(crate) fn tls_client(address: SocketAddr, tls: &UpstreamTls, http2: bool, limits: &Limits) -> TlsClient {
    let alpn: &[u8] = if http2 { b"h2" } else { b"http/1.1" };
    let (config, name) = client_config(tls, Some(alpn));
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(limits.upstream_idle_timeout)
        .pool_max_idle_per_host(limits.upstream_max_idle_per_endpoint)
        .http2_only(http2);
    builder.build(TlsConnector {
        address,
        timeout: limits.upstream_connect_timeout,
        config,
        name,
    })
}

/// The chain and key of the Gateway's client certificate, as rustls takes them.
fn client_auth(cert: &Certificate) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("client certificate {}: chain is not PEM: {e}", cert.source))?;
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes())
        .map_err(|e| format!("client certificate {}: key: {e}", cert.source))?;
    Ok((chain, key))
}

/// Runs the policy's TLS handshake (no ALPN) on a connection to a stream backend: a terminated
/// TLSRoute re-encrypted towards its backend.
pub(crate) async fn handshake(
    tcp: TcpStream,
    tls: &UpstreamTls,
) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let (config, name) = client_config(tls, None);
    tokio_rustls::TlsConnector::from(config).connect(name, tcp).await
}

/// Verifies the backend's chain against the policy's CAs (or the system's roots), then its name:
/// the policy hostname, or, when the policy lists subject alternative names, one of those (and not
/// the hostname).
#[derive(Debug)]
struct PolicyVerifier {
    /// `None` when no CA is usable: nothing can be trusted.
    webpki: Option<Arc<WebPkiServerVerifier>>,
    name: ServerName<'static>,
    sans: Vec<SubjectAltName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PolicyVerifier {
    fn new(tls: &UpstreamTls, name: ServerName<'static>, provider: &Arc<CryptoProvider>) -> Self {
        let mut roots = if tls.system_roots {
            RootCertStore::clone(&system_roots::roots())
        } else {
            RootCertStore::empty()
        };
        for pem in &tls.ca_certificates {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()).flatten() {
                let _ = roots.add(cert);
            }
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .ok();
        Self {
            webpki,
            name,
            sans: tls.subject_alt_names.clone(),
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

fn is_name_mismatch(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    )
}

impl ServerCertVerifier for PolicyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer));
        };
        let by_hostname = webpki.verify_server_cert(end_entity, intermediates, &self.name, ocsp, now);
        if self.sans.is_empty() {
            return by_hostname;
        }
        // The chain is checked before the name: a name mismatch means the chain is trusted.
        match by_hostname {
            Ok(_) => {}
            Err(e) if is_name_mismatch(&e) => {}
            Err(e) => return Err(e),
        }
        let uris = uri_sans(end_entity);
        let matched = self.sans.iter().any(|san| match san {
            SubjectAltName::Hostname(h) => ServerName::try_from(h.as_str()).is_ok_and(|n| {
                webpki
                    .verify_server_cert(end_entity, intermediates, &n, ocsp, now)
                    .is_ok()
            }),
            SubjectAltName::Uri(u) => uris.iter().any(|x| x == u),
        });
        if matched {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The URI entries of a certificate's subjectAltName extension (OID 2.5.29.17). webpki checks
/// DNS names and IPs only; SPIFFE IDs are URIs.
fn uri_sans(cert: &[u8]) -> Vec<String> {
    const SAN_OID: [u8; 5] = [0x06, 0x03, 0x55, 0x1d, 0x11];
    let mut out = Vec::new();
    let Some(pos) = cert.windows(SAN_OID.len()).position(|w| w == SAN_OID) else {
        return out;
    };
    let mut rest = &cert[pos + SAN_OID.len()..];
    // `critical BOOLEAN` is optional.
    if rest.first() == Some(&0x01)
        && let Some((_, _, after)) = tlv(rest)
    {
        rest = after;
    }
    let Some((0x04, octets, _)) = tlv(rest) else { return out };
    let Some((0x30, mut names, _)) = tlv(octets) else {
        return out;
    };
    while let Some((tag, value, after)) = tlv(names) {
        // GeneralName [6] IMPLICIT IA5String: uniformResourceIdentifier.
        if tag == 0x86
            && let Ok(uri) = std::str::from_utf8(value)
        {
            out.push(uri.to_owned());
        }
        names = after;
    }
    out
}

/// One DER tag-length-value: `(tag, value, rest)`.
fn tlv(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// Dials one endpoint and runs the TLS handshake.
#[derive(Clone)]
pub(crate) struct TlsConnector {
    address: SocketAddr,
    timeout: Duration,
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl tower_service::Service<Uri> for TlsConnector {
    type Response = TokioIo<TlsConn>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<TlsConn>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let (address, limit, config, name) = (self.address, self.timeout, self.config.clone(), self.name.clone());
        Box::pin(async move {
            let connect = async {
                let tcp = TcpStream::connect(address).await?;
                tcp.set_nodelay(true)?;
                tokio_rustls::TlsConnector::from(config).connect(name, tcp).await
            };
            let tls = tokio::time::timeout(limit, connect)
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "upstream TLS connect timed out"))??;
            Ok(TokioIo::new(TlsConn(tls)))
        })
    }
}

/// A TLS connection to a backend, telling the pool whether ALPN chose HTTP/2.
pub(crate) struct TlsConn(tokio_rustls::client::TlsStream<TcpStream>);

impl Connection for TlsConn {
    fn connected(&self) -> Connected {
        let connected = Connected::new();
        if self.0.get_ref().1.alpn_protocol() == Some(b"h2") {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths() {
        assert_eq!(tlv(&[0x04, 2, 1, 2, 9]), Some((0x04, &[1u8, 2][..], &[9u8][..])));
        assert_eq!(tlv(&[0x30, 0x81, 1, 7]), Some((0x30, &[7u8][..], &[][..])));
        assert_eq!(tlv(&[0x30, 5, 1]), None);
        assert_eq!(tlv(&[0x30, 0x80]), None);
    }

    #[test]
    fn uri_sans_are_read_from_the_extension() {
        let uri = b"spiffe://abc.example.com/test-identity";
        let mut names = vec![0x82, 3, b'a', b'.', b'b', 0x86, uri.len() as u8];
        names.extend_from_slice(uri);
        let mut seq = vec![0x30, names.len() as u8];
        seq.extend(names);
        let mut ext = vec![0x06, 0x03, 0x55, 0x1d, 0x11, 0x04, seq.len() as u8];
        ext.extend(seq);
        let mut cert = vec![0x30, 0x00, 0x01];
        cert.extend(ext);
        assert_eq!(
            uri_sans(&cert),
            vec!["spiffe://abc.example.com/test-identity".to_owned()]
        );
        assert!(uri_sans(&[0x30, 0]).is_empty());
    }
}
