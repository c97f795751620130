//! Golden tests: `tests/golden/NAME.in.yaml` → `NAME.out.yaml` (problems, statuses, snapshot).
//!
//! Run with `RAUTA_UPDATE_GOLDEN=1` to rewrite the expected files, then review the diff like code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rauta_translate::{Inputs, Problem, ResourceStatus, Severity, parse_documents, translate};
use serde::Serialize;

#[derive(Serialize)]
struct Output<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    parse_error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    parse_warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problems: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    statuses: Option<&'a [Arc<ResourceStatus>]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot: Option<&'a rauta_ir::Snapshot>,
}

/// `error: file: Kind ns/name: field: message`.
fn line(p: &Problem) -> String {
    let severity = match p.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    format!("{severity}: {p}")
}

fn render(input: &Path) -> String {
    let text = std::fs::read_to_string(input).unwrap();
    let file = input.file_name().unwrap().to_string_lossy().into_owned();
    let mut inputs = Inputs::default();
    match parse_documents(&text, &file, &mut inputs) {
        Err(e) => {
            let out = Output {
                parse_error: Some(e.to_string()),
                parse_warnings: vec![],
                problems: None,
                statuses: None,
                snapshot: None,
            };
            serde_yaml::to_string(&out).unwrap()
        }
        Ok(warnings) => {
            let t = translate(&inputs);
            let out = Output {
                parse_error: None,
                parse_warnings: warnings.iter().map(line).collect(),
                problems: Some(t.problems.iter().map(line).collect()),
                statuses: Some(&t.statuses),
                snapshot: Some(&t.snapshot),
            };
            serde_yaml::to_string(&out).unwrap()
        }
    }
}

#[test]
fn golden_files() {
    let dir = manifest_dir().join("tests/golden");
    let update = std::env::var_os("RAUTA_UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".in.yaml"))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no golden inputs in {}", dir.display());
    let mut failures = Vec::new();
    for input in &inputs {
        let expected_path = PathBuf::from(input.to_string_lossy().replace(".in.yaml", ".out.yaml"));
        let actual = render(input);
        if update {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            let line = expected
                .lines()
                .zip(actual.lines())
                .position(|(e, a)| e != a)
                .unwrap_or(expected.lines().count().min(actual.lines().count()));
            failures.push(format!(
                "{}: differs at line {}:\n  expected: {}\n  actual:   {}",
                expected_path.display(),
                line + 1,
                expected.lines().nth(line).unwrap_or("<end of file>"),
                actual.lines().nth(line).unwrap_or("<end of file>"),
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden file(s) differ (RAUTA_UPDATE_GOLDEN=1 rewrites them):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The crate's directory, read when the test runs (cargo sets it) rather than when it was compiled, so
/// a test binary reused from a shared build cache still finds this checkout's files.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}
