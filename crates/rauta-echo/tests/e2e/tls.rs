//! The HTTPS port with client CAs (`TLS_CLIENT_CACERTS`): a client certificate is verified when
//! one is presented and reported in `tls.peerCertificates` exactly as the client's PEM (Go's
//! `pem.Encode`); without one the request is answered, unless the server requires one.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rauta_echo::{EchoConfig, EchoServer, EchoTls, TlsFiles, TlsMode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

use crate::certs::{Ca, KeyKind, Pem};
use crate::support::identity;

/// An HTTPS echo server with `server`'s certificate that verifies clients against `client_ca`.
async fn start(server: &Pem, client_ca: &Ca, require: bool) -> SocketAddr {
    let files = TlsFiles {
        certificate: server.crt.clone(),
        private_key: server.key.clone(),
        client_cas: Some(client_ca.crt()),
        require_client_cert: require,
    };
    let tls = EchoTls::new(&files, TlsMode::Https).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let echo = EchoServer::new(EchoConfig::new(identity("tls-backend-1")));
    tokio::spawn(async move { echo.serve_tls(listener, tls, std::future::pending()).await });
    addr
}

/// `GET /` over TLS (SNI `abc.example.com`, HTTP/1.1), trusting `ca`, presenting `client`; the
/// JSON answer, or why there is none.
async fn get(addr: SocketAddr, ca: &Ca, client: Option<&Pem>) -> Result<serde_json::Value, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(CertificateDer::pem_file_iter(&ca.crt_path).unwrap().map(Result::unwrap));
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let chain = CertificateDer::pem_slice_iter(pem.crt.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(pem.key.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("abc.example.com").unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let request = http::Request::get("/")
        .header("host", "abc.example.com")
        .body(Empty::<Bytes>::new())
        .unwrap();
    // In TLS 1.3 the server refuses a client certificate after the client's handshake is done:
    // the refusal arrives as the answer to the first request.
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

#[tokio::test]
async fn client_certificates_are_verified_when_given_and_reported_as_pem() {
    let (server_ca, client_ca, rogue_ca) = (Ca::new(), Ca::new(), Ca::new());
    let server = server_ca.leaf("abc.example.com", &["abc.example.com"], KeyKind::RsaPkcs1);
    let addr = start(&server, &client_ca, false).await;

    let client = client_ca.client("gateway");
    let answer = get(addr, &server_ca, Some(&client)).await.unwrap();
    assert_eq!(answer["pod"], "tls-backend-1");
    assert_eq!(answer["tls"]["serverName"], "abc.example.com");
    assert_eq!(
        answer["tls"]["peerCertificates"],
        serde_json::json!([client.crt]),
        "the PEM the client holds, byte for byte"
    );

    // Like echo-basic (VerifyClientCertIfGiven): no certificate is fine, and none is reported.
    let answer = get(addr, &server_ca, None).await.unwrap();
    assert_eq!(answer["pod"], "tls-backend-1");
    assert!(answer["tls"].get("peerCertificates").is_none(), "{answer}");

    // A certificate from a CA the server does not trust is refused.
    let rogue = rogue_ca.client("rogue");
    assert!(get(addr, &server_ca, Some(&rogue)).await.is_err());
}

#[tokio::test]
async fn a_required_client_certificate_refuses_clients_without_one() {
    let (server_ca, client_ca) = (Ca::new(), Ca::new());
    let server = server_ca.leaf("abc.example.com", &["abc.example.com"], KeyKind::EcSec1);
    let addr = start(&server, &client_ca, true).await;
    assert!(get(addr, &server_ca, None).await.is_err());
    let client = client_ca.client("gateway");
    let answer = get(addr, &server_ca, Some(&client)).await.unwrap();
    assert_eq!(answer["tls"]["peerCertificates"][0], client.crt.as_str());
}
