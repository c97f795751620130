//! The translation does not depend on the order resources arrive in (file order, watch order).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use rauta_translate::{Inputs, parse_documents, translate};

#[test]
fn reversed_inputs_translate_the_same() {
    let dir = manifest_dir().join("tests/golden");
    for name in [
        "precedence",
        "shared-sockets",
        "allowed-routes",
        "endpoints",
        "reference-grants",
        "filters",
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.in.yaml"))).unwrap();
        let mut inputs = Inputs::default();
        parse_documents(&text, name, &mut inputs).unwrap();
        let forward = translate(&inputs);
        inputs.gateway_classes.reverse();
        inputs.gateways.reverse();
        inputs.http_routes.reverse();
        inputs.reference_grants.reverse();
        inputs.namespaces.reverse();
        inputs.services.reverse();
        inputs.endpoint_slices.reverse();
        let backward = translate(&inputs);
        assert_eq!(forward.snapshot, backward.snapshot, "{name}: snapshot");
        assert_eq!(forward.statuses, backward.statuses, "{name}: statuses");
        let mut a: Vec<String> = forward.problems.iter().map(ToString::to_string).collect();
        let mut b: Vec<String> = backward.problems.iter().map(ToString::to_string).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{name}: problems");
    }
}

/// The crate's directory, read when the test runs (cargo sets it) rather than when it was compiled, so
/// a test binary reused from a shared build cache still finds this checkout's files.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}
