//! A request and the response the suite expects for it, and the suite's comparison of one
//! round trip (`CompareRoundTrip`): status, then what the echo backend saw (path, host, method,
//! namespace, headers, pod), or, for redirects, the `Location`.

use std::net::SocketAddr;
use std::sync::Arc;

use http::Method;

use crate::client::{self, Captured, EchoAnswer, Location, Protocol, Request, Tls};
use crate::tls::{ClientCert, Trusted};

/// A backend as the suite names it: pod-name prefix and namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backend {
    /// Pod-name prefix (the Deployment name).
    pub name: &'static str,
    /// Namespace.
    pub namespace: &'static str,
}

/// What the backend should have received; unset fields default to the request's.
#[derive(Clone, Debug, Default)]
pub struct ExpectedRequest {
    /// Method.
    pub method: Option<String>,
    /// Path with query.
    pub path: Option<String>,
    /// Host; compared only when set (or when the request names one).
    pub host: Option<String>,
    /// Headers that must be present with exactly these (comma-joined) values.
    pub headers: Vec<(String, String)>,
    /// Headers that must be absent.
    pub absent: Vec<String>,
    /// SNI the backend must have received over TLS (compared only when set).
    pub sni: Option<String>,
    /// A client certificate (PEM) the backend must have been presented (compared only when set).
    pub client_cert: Option<String>,
}

/// What a redirect must point to; unset fields default as in the suite.
#[derive(Clone, Debug, Default)]
pub struct ExpectedRedirect {
    /// Scheme (default: the request's, `http`).
    pub scheme: Option<String>,
    /// Host (default: whatever came back).
    pub host: Option<String>,
    /// Port (default: absent or the scheme's well-known port).
    pub port: Option<String>,
    /// Path (default: the request path).
    pub path: Option<String>,
}

/// One expectation: a request and the response it must get.
#[derive(Clone, Debug)]
pub struct Case {
    /// The request.
    pub request: Request,
    /// Accepted status codes.
    pub statuses: Vec<u16>,
    /// Pod-name prefix of the backend that must answer (`""`: any).
    pub backend: String,
    /// Namespace the backend must report (`""` when the test names none).
    pub namespace: String,
    /// What the backend must see; `None` means "the request as sent".
    pub expected_request: Option<ExpectedRequest>,
    /// Headers the echo backend must add to its response (`X-Echo-Set-Header`).
    pub backend_sets: Vec<(String, String)>,
    /// Response headers with exact values.
    pub response_headers: Vec<(String, String)>,
    /// Response headers with one of several allowed values.
    pub response_header_choices: Vec<(String, Vec<String>)>,
    /// Response headers that must be absent.
    pub absent_response_headers: Vec<String>,
    /// Compare response header values ignoring spaces.
    pub ignore_whitespace: bool,
    /// Where a redirect must point; `None` accepts any redirect.
    pub redirect: Option<ExpectedRedirect>,
    /// The request's `SNI` as the suite writes it: never sent (a plain request has no TLS), only
    /// the SNI the backend must see when no expected request is given.
    pub sni: Option<String>,
    /// The request's `ClientCert` as the suite writes it: not presented by the client, but the
    /// certificate (PEM) the backend must have been presented when no expected request is given.
    pub client_cert: Option<String>,
}

/// A GET of `path` expecting 200 from any backend.
pub fn get(path: &str) -> Case {
    request(Method::GET, path)
}

/// A request with `method` to `path`, expecting 200 from any backend.
pub fn request(method: Method, path: &str) -> Case {
    Case {
        request: Request {
            method: Some(method),
            path: path.to_owned(),
            ..Request::default()
        },
        statuses: vec![200],
        backend: String::new(),
        namespace: String::new(),
        expected_request: None,
        backend_sets: Vec::new(),
        response_headers: Vec::new(),
        response_header_choices: Vec::new(),
        absent_response_headers: Vec::new(),
        ignore_whitespace: false,
        redirect: None,
        sni: None,
        client_cert: None,
    }
}

impl Case {
    /// Sends `Host: host`.
    pub fn host(mut self, host: &str) -> Self {
        self.request.host = Some(host.to_owned());
        self
    }

    /// Sends a header (and, unless the test says otherwise, expects the backend to see it).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends over cleartext HTTP/2 with prior knowledge.
    pub fn h2c(mut self) -> Self {
        self.request.protocol = Protocol::H2cPriorKnowledge;
        self
    }

    /// Sends over TLS with SNI `server_name`, trusting only `trusted`.
    pub fn https(mut self, server_name: &str, trusted: &Arc<Trusted>) -> Self {
        self.request.tls = Some(Tls {
            server_name: server_name.to_owned(),
            trusted: trusted.clone(),
            client_cert: None,
        });
        self
    }

    /// Presents `cert` when the server asks for a client certificate; combine with
    /// [`Case::https`].
    pub fn client_cert(mut self, cert: &Arc<ClientCert>) -> Self {
        if let Some(tls) = self.request.tls.as_mut() {
            tls.client_cert = Some(cert.clone());
        }
        self
    }

    /// The request's `SNI` field: the backend must see it when the test gives no expected
    /// request (the suite copies the request into the expectation).
    pub fn sni(mut self, server_name: &str) -> Self {
        self.sni = Some(server_name.to_owned());
        self
    }

    /// The request's `ClientCert` field: the backend must have been presented `pem` (among its
    /// peer certificates) when the test gives no expected request.
    pub fn backend_client_cert(mut self, pem: &str) -> Self {
        self.client_cert = Some(pem.to_owned());
        self
    }

    /// Expects the backend to have received `server_name` as SNI.
    pub fn seen_sni(mut self, server_name: &str) -> Self {
        self.expected_request_mut().sni = Some(server_name.to_owned());
        self
    }

    /// Speaks HTTP/2 over TLS (ALPN `h2`); combine with [`Case::https`].
    pub fn h2(mut self) -> Self {
        self.request.protocol = Protocol::H2;
        self
    }

    /// Expects `backend` to answer with 200.
    pub fn to(mut self, backend: Backend) -> Self {
        self.backend = backend.name.to_owned();
        self.namespace = backend.namespace.to_owned();
        self
    }

    /// Expects the backend to report `namespace` (any pod).
    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_owned();
        self
    }

    /// Expects one of `statuses`.
    pub fn status(mut self, status: u16) -> Self {
        self.statuses = vec![status];
        self
    }

    /// Expects one of `statuses`.
    pub fn statuses(mut self, statuses: &[u16]) -> Self {
        self.statuses = statuses.to_vec();
        self
    }

    fn expected_request_mut(&mut self) -> &mut ExpectedRequest {
        self.expected_request.get_or_insert_with(ExpectedRequest::default)
    }

    /// Expects the backend to see `path` (with query).
    pub fn seen_path(mut self, path: &str) -> Self {
        self.expected_request_mut().path = Some(path.to_owned());
        self
    }

    /// Expects the backend to see `Host: host`.
    pub fn seen_host(mut self, host: &str) -> Self {
        self.expected_request_mut().host = Some(host.to_owned());
        self
    }

    /// Expects the backend to see a header with this (comma-joined) value.
    pub fn seen_header(mut self, name: &str, value: &str) -> Self {
        self.expected_request_mut()
            .headers
            .push((name.to_owned(), value.to_owned()));
        self
    }

    /// Expects the backend not to see a header.
    pub fn unseen_header(mut self, name: &str) -> Self {
        self.expected_request_mut().absent.push(name.to_owned());
        self
    }

    /// Asks the echo backend to answer with a header.
    pub fn backend_sets(mut self, name: &str, value: &str) -> Self {
        self.backend_sets.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Expects a response header.
    pub fn response_header(mut self, name: &str, value: &str) -> Self {
        self.response_headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Expects a response header with one of `values`.
    pub fn response_header_in(mut self, name: &str, values: &[&str]) -> Self {
        self.response_header_choices
            .push((name.to_owned(), values.iter().map(|v| (*v).to_owned()).collect()));
        self
    }

    /// Expects a response header to be absent.
    pub fn no_response_header(mut self, name: &str) -> Self {
        self.absent_response_headers.push(name.to_owned());
        self
    }

    /// Compares response header values ignoring spaces.
    pub fn ignoring_whitespace(mut self) -> Self {
        self.ignore_whitespace = true;
        self
    }

    /// Expects a redirect (status set separately) pointing as described.
    pub fn redirect(mut self, redirect: ExpectedRedirect) -> Self {
        self.redirect = Some(redirect);
        self
    }

    /// The request as sent: the case's headers plus `X-Echo-Set-Header` (always present, as in
    /// the suite, possibly empty).
    pub fn wire_request(&self) -> Request {
        let mut req = self.request.clone();
        let sets: Vec<String> = self.backend_sets.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        req.headers.push(("X-Echo-Set-Header".to_owned(), sets.join(",")));
        req
    }

    /// A one-line description for logs and failures.
    pub fn describe(&self) -> String {
        let host = self
            .request
            .host
            .as_deref()
            .map(|h| format!(" Host {h}"))
            .unwrap_or_default();
        let headers: Vec<String> = self.request.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let headers = if headers.is_empty() {
            String::new()
        } else {
            format!(" [{}]", headers.join(", "))
        };
        let want = if self.backend.is_empty() {
            format!("{:?}", self.statuses)
        } else {
            format!("→ {}", self.backend)
        };
        format!("{} {}{host}{headers} {want}", self.request.method(), self.request.path)
    }
}

/// A redirect expectation builder.
pub fn redirect() -> ExpectedRedirect {
    ExpectedRedirect::default()
}

impl ExpectedRedirect {
    /// Expected scheme.
    pub fn scheme(mut self, scheme: &str) -> Self {
        self.scheme = Some(scheme.to_owned());
        self
    }
    /// Expected host.
    pub fn host(mut self, host: &str) -> Self {
        self.host = Some(host.to_owned());
        self
    }
    /// Expected port.
    pub fn port(mut self, port: &str) -> Self {
        self.port = Some(port.to_owned());
        self
    }
    /// Expected path.
    pub fn path(mut self, path: &str) -> Self {
        self.path = Some(path.to_owned());
        self
    }
}

/// 408 and 504 are interchangeable for the suite.
pub fn is_timeout(status: u16) -> bool {
    matches!(status, 408 | 504)
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 300..=305 | 307 | 308)
}

/// Checks one round trip against `case`; `addr` is where the request went.
pub fn compare(case: &Case, addr: SocketAddr, got: &Captured) -> Result<(), String> {
    if is_timeout(got.status) && case.statuses.iter().any(|s| is_timeout(*s)) {
        return Ok(());
    }
    if !case.statuses.contains(&got.status) {
        return Err(format!(
            "expected status {:?}, got {} (body: {:?})",
            case.statuses,
            got.status,
            got.body_text()
        ));
    }
    if got.status == 200 || got.status == 204 {
        compare_answer(case, got)
    } else if is_redirect(got.status) {
        compare_redirect(case, addr, got)
    } else {
        Ok(())
    }
}

fn compare_answer(case: &Case, got: &Captured) -> Result<(), String> {
    let method = case.request.method().to_string();
    // Not an echo answer: the suite assumes the right method and compares the rest with blanks.
    let echo = got.echo.clone().unwrap_or_else(|| EchoAnswer {
        method: method.clone(),
        ..EchoAnswer::default()
    });
    let expected = case.expected_request.clone().unwrap_or_else(|| ExpectedRequest {
        method: Some(method.clone()),
        host: case.request.host.clone(),
        headers: case.request.headers.clone(),
        sni: case.sni.clone(),
        client_cert: case.client_cert.clone(),
        ..ExpectedRequest::default()
    });
    let want_path = expected.path.clone().unwrap_or_else(|| case.request.path.clone());
    let want_method = expected.method.clone().unwrap_or_else(|| method.clone());
    if let Some(host) = expected.host.as_deref().filter(|h| !h.is_empty())
        && host != echo.host
    {
        return Err(format!("backend saw host {:?}, expected {host:?}", echo.host));
    }
    if want_path != echo.path {
        return Err(format!(
            "backend saw path {:?}, expected {want_path:?} (status {}, body {:?})",
            echo.path,
            got.status,
            got.body_text()
        ));
    }
    if want_method != echo.method {
        return Err(format!(
            "backend saw method {:?}, expected {want_method:?}",
            echo.method
        ));
    }
    if case.namespace != echo.namespace {
        return Err(format!(
            "answer from namespace {:?}, expected {:?} (pod {:?})",
            echo.namespace, case.namespace, echo.pod
        ));
    }
    for (name, value) in &expected.headers {
        match echo.header(name) {
            None => return Err(format!("backend did not see header {name}; it saw {:?}", echo.headers)),
            Some(v) if &v != value => return Err(format!("backend saw {name}: {v:?}, expected {value:?}")),
            Some(_) => {}
        }
    }
    let strip = |s: &str| {
        if case.ignore_whitespace {
            s.replace(' ', "")
        } else {
            s.to_owned()
        }
    };
    for (name, values) in &case.response_header_choices {
        let got_value = got
            .header(name)
            .ok_or_else(|| format!("response has no {name} header; headers: {:?}", got.headers))?;
        if !values.iter().any(|v| strip(v) == strip(&got_value)) {
            return Err(format!(
                "response header {name}: {got_value:?}, expected one of {values:?}"
            ));
        }
    }
    for (name, value) in &case.response_headers {
        let got_value = got
            .header(name)
            .ok_or_else(|| format!("response has no {name} header; headers: {:?}", got.headers))?;
        if strip(&got_value) != strip(value) {
            return Err(format!("response header {name}: {got_value:?}, expected {value:?}"));
        }
    }
    for name in &case.absent_response_headers {
        if let Some(v) = got.header(name) {
            return Err(format!("response header {name} should be absent, got {v:?}"));
        }
    }
    for name in &expected.absent {
        if let Some(v) = echo.header(name) {
            return Err(format!("backend saw header {name}: {v:?}, expected none"));
        }
    }
    if !echo.pod.starts_with(&case.backend) {
        return Err(format!("answered by pod {:?}, expected {}-*", echo.pod, case.backend));
    }
    if let Some(sni) = expected.sni.as_deref().filter(|s| !s.is_empty()) {
        let seen = echo.tls.as_ref().map(|t| t.server_name.as_str()).unwrap_or_default();
        if seen != sni {
            return Err(format!("backend saw SNI {seen:?}, expected {sni:?}"));
        }
    }
    if let Some(pem) = expected.client_cert.as_deref().filter(|c| !c.is_empty()) {
        let seen = echo
            .tls
            .as_ref()
            .map(|t| t.peer_certificates.as_slice())
            .unwrap_or_default();
        if !seen.iter().any(|c| c == pem) {
            return Err(format!(
                "the backend was not presented the expected client certificate ({} presented)",
                seen.len()
            ));
        }
    }
    Ok(())
}

fn compare_redirect(case: &Case, addr: SocketAddr, got: &Captured) -> Result<(), String> {
    let Some(expected) = &case.redirect else { return Ok(()) };
    let location = got.header("location").ok_or("redirect without Location")?;
    let scheme = case.request.scheme();
    let loc = Location::parse(&location, scheme, &client::address_host(addr, scheme))?;
    let want_host = expected.host.clone().unwrap_or_else(|| loc.host.clone());
    let want_scheme = expected.scheme.clone().unwrap_or_else(|| scheme.to_owned());
    let request_path = case.request.path.split('?').next().unwrap_or_default();
    let want_path = expected.path.clone().unwrap_or_else(|| request_path.to_owned());
    if want_host != loc.host {
        return Err(format!(
            "redirect to host {:?}, expected {want_host:?} (Location {location:?})",
            loc.host
        ));
    }
    match &expected.port {
        None => {
            let scheme = loc.scheme.as_str();
            if scheme == "http" && !matches!(loc.port.as_str(), "" | "80") {
                return Err(format!(
                    "http redirect with port {:?}, expected none or 80 (Location {location:?})",
                    loc.port
                ));
            }
            if scheme == "https" && !matches!(loc.port.as_str(), "" | "443") {
                return Err(format!(
                    "https redirect with port {:?}, expected none or 443 (Location {location:?})",
                    loc.port
                ));
            }
        }
        Some(port) if *port != loc.port => {
            return Err(format!(
                "redirect to port {:?}, expected {port:?} (Location {location:?})",
                loc.port
            ));
        }
        Some(_) => {}
    }
    if want_scheme != loc.scheme {
        return Err(format!(
            "redirect with scheme {:?}, expected {want_scheme:?} (Location {location:?})",
            loc.scheme
        ));
    }
    if want_path != loc.path {
        return Err(format!(
            "redirect to path {:?}, expected {want_path:?} (Location {location:?})",
            loc.path
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue};

    use super::*;

    const V1: Backend = Backend {
        name: "infra-backend-v1",
        namespace: "infra",
    };

    fn answer(status: u16, echo: Option<&str>, headers: &[(&'static str, &str)]) -> Captured {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        Captured {
            status,
            headers: map,
            body: Bytes::new(),
            echo: echo.map(|e| serde_json::from_str(e).unwrap()),
        }
    }

    fn addr() -> SocketAddr {
        "127.1.0.1:80".parse().unwrap()
    }

    #[test]
    fn backend_answers_are_matched_like_the_suite() {
        let ok = r#"{"path": "/one", "method": "GET", "namespace": "infra", "pod": "infra-backend-v1-abc-de", "headers": {"Version": ["one"]}}"#;
        assert_eq!(
            compare(&get("/one").to(V1), addr(), &answer(200, Some(ok), &[])),
            Ok(())
        );
        assert_eq!(
            compare(
                &get("/one").header("version", "one").to(V1),
                addr(),
                &answer(200, Some(ok), &[])
            ),
            Ok(())
        );
        assert!(
            compare(
                &get("/one").header("version", "two").to(V1),
                addr(),
                &answer(200, Some(ok), &[])
            )
            .is_err()
        );
        assert!(
            compare(&get("/two").to(V1), addr(), &answer(200, Some(ok), &[])).is_err(),
            "path differs"
        );
        let v2 = Backend {
            name: "infra-backend-v2",
            namespace: "infra",
        };
        assert!(
            compare(&get("/one").to(v2), addr(), &answer(200, Some(ok), &[])).is_err(),
            "pod differs"
        );
        assert!(
            compare(&get("/one"), addr(), &answer(200, Some(ok), &[])).is_err(),
            "namespace must be empty when none is named"
        );
        assert!(compare(&get("/one").to(V1), addr(), &answer(500, None, &[])).is_err());
    }

    #[test]
    fn a_200_that_is_not_an_echo_answer_fails_a_path_check() {
        assert!(compare(&get("/").status(200), addr(), &answer(200, None, &[])).is_err());
        assert_eq!(
            compare(
                &request(Method::OPTIONS, "/").statuses(&[200, 204]).seen_path(""),
                addr(),
                &answer(204, None, &[])
            ),
            Ok(())
        );
    }

    #[test]
    fn timeouts_are_interchangeable_and_other_statuses_are_only_counted() {
        assert_eq!(compare(&get("/").status(504), addr(), &answer(408, None, &[])), Ok(()));
        assert_eq!(compare(&get("/").status(404), addr(), &answer(404, None, &[])), Ok(()));
    }

    #[test]
    fn headers_and_absences() {
        let echo = r#"{"path": "/", "method": "GET", "namespace": "infra", "pod": "infra-backend-v1-a-b", "headers": {"X-Header-Add": ["a", "b"]}}"#;
        let got = answer(200, Some(echo), &[("x-resp", "1, 2"), ("x-resp", "3")]);
        let base = || get("/").to(V1);
        assert_eq!(
            compare(&base().seen_header("x-header-add", "a,b"), addr(), &got),
            Ok(())
        );
        assert!(compare(&base().unseen_header("X-Header-Add"), addr(), &got).is_err());
        assert_eq!(
            compare(
                &base().response_header("X-Resp", "1,2,3").ignoring_whitespace(),
                addr(),
                &got
            ),
            Ok(())
        );
        assert!(compare(&base().response_header("X-Resp", "1,2,3"), addr(), &got).is_err());
        assert!(compare(&base().no_response_header("x-resp"), addr(), &got).is_err());
        assert_eq!(
            compare(&base().response_header_in("x-resp", &["x", "1, 2,3"]), addr(), &got),
            Ok(())
        );
    }

    #[test]
    fn the_backend_must_have_seen_the_sni() {
        let tls = r#"{"path": "/", "method": "GET", "namespace": "infra", "pod": "tls-backend-a-b", "tls": {"serverName": "abc.example.com"}}"#;
        let plain = r#"{"path": "/", "method": "GET", "namespace": "infra", "pod": "tls-backend-a-b"}"#;
        let case = get("/").in_namespace("infra").sni("abc.example.com");
        assert_eq!(compare(&case, addr(), &answer(200, Some(tls), &[])), Ok(()));
        assert!(compare(&case, addr(), &answer(200, Some(plain), &[])).is_err());
        let other = get("/")
            .in_namespace("infra")
            .sni("x.example.com")
            .seen_sni("abc.example.com");
        assert_eq!(
            compare(&other, addr(), &answer(200, Some(tls), &[])),
            Ok(()),
            "an expected request replaces the request's SNI"
        );
    }

    #[test]
    fn the_backend_must_have_been_presented_the_client_certificate() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let with = format!(
            r#"{{"path": "/", "method": "GET", "namespace": "infra", "pod": "p", "tls": {{"serverName": "a", "peerCertificates": [{}]}}}}"#,
            serde_json::Value::String(pem.to_owned())
        );
        let without = r#"{"path": "/", "method": "GET", "namespace": "infra", "pod": "p", "tls": {"serverName": "a"}}"#;
        let case = get("/").in_namespace("infra").backend_client_cert(pem);
        assert_eq!(compare(&case, addr(), &answer(200, Some(&with), &[])), Ok(()));
        assert!(compare(&case, addr(), &answer(200, Some(without), &[])).is_err());
        let other = get("/").in_namespace("infra").backend_client_cert("another");
        assert!(compare(&other, addr(), &answer(200, Some(&with), &[])).is_err());
    }

    #[test]
    fn redirects() {
        let got = |l: &str| answer(302, None, &[("location", l)]);
        let case = get("/hostname-redirect")
            .status(302)
            .redirect(redirect().host("example.org"));
        assert_eq!(
            compare(&case, addr(), &got("http://example.org/hostname-redirect")),
            Ok(())
        );
        assert_eq!(
            compare(&case, addr(), &got("http://example.org:80/hostname-redirect")),
            Ok(())
        );
        assert!(compare(&case, addr(), &got("http://example.org:8080/hostname-redirect")).is_err());
        assert!(compare(&case, addr(), &got("https://example.org/hostname-redirect")).is_err());
        assert!(compare(&case, addr(), &got("http://example.com/hostname-redirect")).is_err());
        let port = get("/p").status(302).redirect(redirect().port("8083"));
        assert_eq!(compare(&port, addr(), &got("http://127.1.0.1:8083/p")), Ok(()));
        assert!(compare(&port, addr(), &got("http://127.1.0.1/p")).is_err());
        assert_eq!(
            compare(&get("/p").status(302), addr(), &got("nonsense")),
            Ok(()),
            "no redirect expectation"
        );
    }
}
