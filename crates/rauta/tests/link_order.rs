//! The functions that run lead the executable's code, in the order of `symbol-order.txt`
//! (build.rs hands it to the linker; docs/benchmarks.md, "Session 7"): `nm` on the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::process::Command;

/// The address of every function symbol of `binary`, lowest first.
fn functions(binary: &str) -> Vec<(u64, String)> {
    let out = Command::new("nm")
        .args(["--defined-only", binary])
        .output()
        .expect("nm (binutils) runs");
    assert!(
        out.status.success(),
        "nm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut functions: Vec<(u64, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let (addr, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
            if !matches!(kind, "t" | "T" | "w" | "W") {
                return None;
            }
            Some((u64::from_str_radix(addr, 16).ok()?, name.to_owned()))
        })
        .collect();
    functions.sort();
    functions
}

#[test]
fn ordered_functions_lead_the_code() {
    // Set by build.rs when it linked with the file (lld, no linker configured).
    let Some(order) = option_env!("RAUTA_SYMBOL_ORDER") else {
        eprintln!("linked without a symbol order (a linker is configured): nothing to check");
        return;
    };
    let listed: Vec<String> = std::fs::read_to_string(order)
        .expect("the symbol order file")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(str::to_owned)
        .collect();
    let functions = functions(env!("CARGO_BIN_EXE_rauta"));
    let address: HashMap<&str, u64> = functions.iter().rev().map(|(a, n)| (n.as_str(), *a)).collect();
    let placed: Vec<u64> = listed.iter().filter_map(|n| address.get(n.as_str()).copied()).collect();

    // A build of another profile inlines differently, so only part of the names exist in it
    // (all of them in the `dist` build the file was made from, ~15% in `--release`).
    assert!(
        placed.len() >= listed.len() / 10,
        "only {} of the {} functions of {order} are in the binary: regenerate it (bench/symbol_order.py)",
        placed.len(),
        listed.len()
    );
    let (_, lowest) = &functions[0];
    assert!(
        listed.iter().any(|n| n == lowest),
        "the code starts with {lowest}, which {order} does not name: the linker did not apply it"
    );
    // In the file's order, but for functions that share a section (assembly files).
    let ascending = placed.windows(2).filter(|w| w[1] > w[0]).count();
    assert!(
        ascending * 10 >= (placed.len() - 1) * 9,
        "{ascending} of {} consecutive listed functions are in ascending order",
        placed.len() - 1
    );
}
