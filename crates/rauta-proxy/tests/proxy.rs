//! Integration tests: a real DataPlane on 127.0.0.1 in front of in-test hyper backends.

// Test scaffolding panics on purpose when the environment breaks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod proxy {
    pub mod errors;
    pub mod filters;
    pub mod http1;
    pub mod lifecycle;
    pub mod limits;
    pub mod protocols;
    pub mod routing;
    pub mod support;
}
