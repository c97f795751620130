//! Which cipher suite a handshake uses: AES-128-GCM first, unless the client puts ChaCha20 first.
//!
//! rustls follows the client's order by default, and OpenSSL-based clients (curl, wrk, most
//! service-to-service clients) list AES-256-GCM first. Its TLS 1.3 suite hashes with SHA-384,
//! which the x86 SHA extensions do not cover (ring runs it on portable code on AMD CPUs), while
//! SHA-256 runs on them: on the benchmark machine a full TLS 1.3 handshake costs ~15% less server
//! CPU with AES-128-GCM-SHA256, and a new connection per request ~10% less proxy CPU
//! (docs/benchmarks.md, "HTTPS handshakes"). AES-128 matches the 128-bit security level of
//! X25519 and P-256 that the handshake already rests on. A client that lists ChaCha20-Poly1305
//! before AES (typically one without AES instructions) gets ChaCha20, as Go's crypto/tls and
//! BoringSSL decide.

use rustls::crypto::CryptoProvider;
use rustls::server::ClientHello;
use rustls::{CipherSuite, SupportedCipherSuite};

/// Which of the two orders a bind's configurations use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Preference {
    /// AES-128-GCM, AES-256-GCM, then ChaCha20-Poly1305.
    Aes,
    /// ChaCha20-Poly1305, then AES-128-GCM, AES-256-GCM.
    ChaCha,
}

/// `provider` with its cipher suites in the order `preference` names (the sort is stable, so
/// TLS 1.3 and TLS 1.2 suites keep their relative order).
pub(crate) fn ordered(provider: &CryptoProvider, preference: Preference) -> CryptoProvider {
    let mut provider = provider.clone();
    provider.cipher_suites.sort_by_key(|s| rank(*s, preference));
    provider
}

/// The order a handshake with this client should follow: ChaCha20 when the first suite of the
/// client's list that the server supports is a ChaCha20 suite.
pub(crate) fn preference(hello: &ClientHello<'_>, supported: &[SupportedCipherSuite]) -> Preference {
    let first = hello
        .cipher_suites()
        .iter()
        .find(|s| supported.iter().any(|ours| ours.suite() == **s));
    match first.copied().map(Family::of) {
        Some(Family::ChaCha) => Preference::ChaCha,
        _ => Preference::Aes,
    }
}

#[derive(PartialEq, Eq)]
enum Family {
    Aes128,
    Aes256,
    ChaCha,
    Other,
}

impl Family {
    fn of(suite: CipherSuite) -> Self {
        match suite {
            CipherSuite::TLS13_AES_128_GCM_SHA256
            | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => Self::Aes128,
            CipherSuite::TLS13_AES_256_GCM_SHA384
            | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
            | CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => Self::Aes256,
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
            | CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            | CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => Self::ChaCha,
            _ => Self::Other,
        }
    }
}

fn rank(suite: SupportedCipherSuite, preference: Preference) -> u8 {
    match (Family::of(suite.suite()), preference) {
        (Family::ChaCha, Preference::ChaCha) => 0,
        (Family::Aes128, _) => 1,
        (Family::Aes256, _) => 2,
        (Family::ChaCha, Preference::Aes) => 3,
        (Family::Other, _) => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &CryptoProvider) -> Vec<CipherSuite> {
        p.cipher_suites.iter().map(|s| s.suite()).collect()
    }

    #[test]
    fn aes_order_puts_aes_128_first_in_each_version() {
        let p = ordered(&rustls::crypto::ring::default_provider(), Preference::Aes);
        assert_eq!(
            names(&p),
            [
                CipherSuite::TLS13_AES_128_GCM_SHA256,
                CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                CipherSuite::TLS13_AES_256_GCM_SHA384,
                CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
                CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            ]
        );
    }

    #[test]
    fn chacha_order_puts_chacha_first() {
        let p = ordered(&rustls::crypto::ring::default_provider(), Preference::ChaCha);
        assert_eq!(names(&p)[0], CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);
        assert_eq!(names(&p)[3], CipherSuite::TLS13_AES_128_GCM_SHA256);
        assert_eq!(p.cipher_suites.len(), 9);
    }
}
