//! `rauta validate`: translate without serving, print every status, fail on any invalid resource.

use std::fmt::Write as _;
use std::process::ExitCode;

use rauta_provider::FileProvider;
use rauta_translate::Severity;
use serde_json::Value;

use crate::cli::ValidateArgs;

pub fn main(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut provider = FileProvider::new(args.paths);
    let loaded = match provider.load() {
        Ok(loaded) => loaded,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!("{} error(s): nothing was translated", errors.len());
            return Ok(ExitCode::FAILURE);
        }
    };
    let translation = rauta_translate::translate(&loaded.inputs);
    let mut out = String::new();
    let mut not_accepted = 0;
    for status in &translation.statuses {
        let entry = serde_json::to_value(status)?;
        not_accepted += usize::from(render_status(&mut out, &entry));
    }
    print!("{out}");
    for warning in loaded
        .warnings
        .iter()
        .chain(&translation.problems)
        .filter(|p| p.severity == Severity::Warning)
    {
        eprintln!("warning: {warning}");
    }
    let errors: Vec<_> = translation
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .collect();
    for error in &errors {
        eprintln!("error: {error}");
    }
    if errors.is_empty() && not_accepted == 0 {
        eprintln!(
            "ok: {} resource(s) in {} file(s)",
            translation.statuses.len(),
            loaded.files.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} error(s), {} condition(s) not accepted", errors.len(), not_accepted);
        Ok(ExitCode::FAILURE)
    }
}

/// Writes one resource and its conditions; returns true when any `Accepted` condition is False.
fn render_status(out: &mut String, entry: &Value) -> bool {
    let field = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("");
    let namespace = field("namespace");
    let _ = if namespace.is_empty() {
        writeln!(out, "{} {}", field("kind"), field("name"))
    } else {
        writeln!(out, "{} {}/{}", field("kind"), namespace, field("name"))
    };
    let mut rejected = false;
    walk_conditions(entry.get("status").unwrap_or(&Value::Null), "", &mut |path, c| {
        let get = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
        if get("type") == "Accepted" && get("status") == "False" {
            rejected = true;
        }
        let _ = writeln!(
            out,
            "  {path}{}={} ({}) {}",
            get("type"),
            get("status"),
            get("reason"),
            get("message")
        );
    });
    rejected
}

/// Calls `f(path, condition)` for every condition below `value`, with a readable path prefix.
fn walk_conditions(value: &Value, path: &str, f: &mut impl FnMut(&str, &Value)) {
    let Value::Object(map) = value else { return };
    for (key, child) in map {
        match (key.as_str(), child) {
            ("conditions", Value::Array(conditions)) => conditions.iter().for_each(|c| f(path, c)),
            (_, Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let label = item
                        .get("name")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .or_else(|| {
                            item.pointer("/parentRef/name")
                                .and_then(Value::as_str)
                                .map(|n| format!("parent {n}"))
                        })
                        .unwrap_or_else(|| format!("{key}[{i}]"));
                    walk_conditions(item, &format!("{path}{label}: "), f);
                }
            }
            (_, Value::Object(_)) => walk_conditions(child, path, f),
            _ => {}
        }
    }
}
