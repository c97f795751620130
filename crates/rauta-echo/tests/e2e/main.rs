//! End-to-end tests: real echo servers on 127.0.0.1:0, real clients over loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
// The openssl-made CAs and certificates of the binary's end-to-end tests.
#[path = "../../../rauta/tests/support/certs.rs"]
mod certs;

mod http;
mod retry;
mod tcp_udp;
mod tls;
mod websocket;
