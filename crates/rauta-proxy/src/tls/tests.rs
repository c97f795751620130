use rauta_ir::{ListenerRef, ListenerTls, PemBytes};

use super::*;

const EC_CRT: &[u8] = include_bytes!("../../tests/certs/foo.example.com.crt");
const EC_KEY: &[u8] = include_bytes!("../../tests/certs/foo.example.com.key");
const WILD_CRT: &[u8] = include_bytes!("../../tests/certs/wildcard.example.com.crt");
const WILD_KEY: &[u8] = include_bytes!("../../tests/certs/wildcard.example.com.key");
const RSA_CRT: &[u8] = include_bytes!("../../tests/certs/example.org.crt");
const RSA_KEY: &[u8] = include_bytes!("../../tests/certs/example.org.key");

fn cert(source: &str, chain: &[u8], key: &[u8]) -> Certificate {
    Certificate {
        source: source.into(),
        chain_pem: PemBytes::new(chain.to_vec()),
        key_pem: PemBytes::new(key.to_vec()),
    }
}

fn listener(section: &str, hostname: HostnameMatch, certs: Vec<Certificate>) -> Listener {
    Listener {
        name: ListenerRef {
            namespace: "ns".into(),
            gateway: "gw".into(),
            set: None,
            section: section.into(),
        },
        hostname,
        port: 443,
        virtual_hosts: vec![],
        tls: Some(ListenerTls {
            certificates: certs,
            client_validation: None,
        }),
    }
}

fn leaf(certs: Option<&[Arc<CertifiedKey>]>) -> Option<String> {
    let der = certs?.first()?.end_entity_cert().ok()?.to_vec();
    [("foo", EC_CRT), ("wild", WILD_CRT), ("rsa", RSA_CRT)]
        .into_iter()
        .find(|(_, pem)| CertificateDer::from_pem_slice(pem).is_ok_and(|c| c.to_vec() == der))
        .map(|(name, _)| name.to_owned())
}

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

#[test]
fn every_key_format_loads() {
    for (chain, key) in [(EC_CRT, EC_KEY), (WILD_CRT, WILD_KEY), (RSA_CRT, RSA_KEY)] {
        certified_key(&cert("ns/s", chain, key), &provider()).unwrap();
    }
    let mismatched = certified_key(&cert("ns/bad", EC_CRT, WILD_KEY), &provider()).unwrap_err();
    assert!(
        mismatched.to_string().starts_with("certificate ns/bad: "),
        "{mismatched}"
    );
    assert!(certified_key(&cert("ns/bad", b"Hello world\n", EC_KEY), &provider()).is_err());
}

#[test]
fn sni_picks_the_most_specific_listener_and_unknown_names_get_the_default() {
    let listeners = vec![
        listener(
            "foo",
            HostnameMatch::parse("foo.example.com").unwrap(),
            vec![cert("a", EC_CRT, EC_KEY)],
        ),
        listener(
            "wild",
            HostnameMatch::parse("*.example.com").unwrap(),
            vec![cert("b", WILD_CRT, WILD_KEY)],
        ),
        listener("any", HostnameMatch::Any, vec![cert("c", RSA_CRT, RSA_KEY)]),
    ];
    let r = SniResolver::new(&listeners, &provider());
    assert_eq!(
        leaf(r.certificates_for(Some("foo.example.com"))).as_deref(),
        Some("foo")
    );
    assert_eq!(
        leaf(r.certificates_for(Some("FOO.example.com."))).as_deref(),
        Some("foo")
    );
    assert_eq!(
        leaf(r.certificates_for(Some("bar.example.com"))).as_deref(),
        Some("wild")
    );
    assert_eq!(leaf(r.certificates_for(Some("example.org"))).as_deref(), Some("rsa"));
    assert_eq!(leaf(r.certificates_for(None)).as_deref(), Some("rsa"));
}

#[test]
fn without_a_catch_all_the_least_specific_listener_is_the_default() {
    let listeners = vec![
        listener(
            "foo",
            HostnameMatch::parse("foo.example.com").unwrap(),
            vec![cert("a", EC_CRT, EC_KEY)],
        ),
        listener(
            "wild",
            HostnameMatch::parse("*.example.com").unwrap(),
            vec![cert("b", WILD_CRT, WILD_KEY)],
        ),
        // A listener whose only certificate cannot load presents nothing.
        listener(
            "broken",
            HostnameMatch::parse("*.org").unwrap(),
            vec![cert("x", EC_CRT, WILD_KEY)],
        ),
    ];
    let r = SniResolver::new(&listeners, &provider());
    assert_eq!(leaf(r.certificates_for(Some("other.net"))).as_deref(), Some("wild"));
    assert_eq!(leaf(r.certificates_for(Some("a.org"))).as_deref(), Some("wild"));
}

#[test]
fn plain_binds_have_no_server_config() {
    let tls = TlsContext::new();
    let mut bind = Bind {
        address: "127.0.0.1:443".parse().unwrap(),
        protocol: BindProtocol::Http,
        listeners: vec![],
    };
    assert!(tls.server_tls(&bind).is_none());
    bind.protocol = BindProtocol::Https;
    let server = tls.server_tls(&bind).unwrap();
    for config in [&server.aes_first, &server.chacha_first] {
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert!(config.ticketer.enabled());
        assert!(config.ignore_client_order);
    }
}
