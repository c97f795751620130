//! Link options of the `rauta` executable.

use std::path::Path;

/// The functions that run while the gateway serves, the most executed first
/// (written by bench/symbol_order.py).
const SYMBOL_ORDER: &str = "symbol-order.txt";

fn main() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    println!("cargo:rerun-if-changed={SYMBOL_ORDER}");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    println!("cargo:rerun-if-env-changed=RAUTA_NO_SYMBOL_ORDER");

    // Relative relocations in the packed form (DT_RELR; glibc ≥ 2.36, binutils ≥ 2.38): the
    // dynamic loader reads ~10 KB instead of the 413 KB `.rela.dyn` of `Rela` entries at every
    // start, and those pages are no longer resident (docs/benchmarks.md, "Idle RSS").
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }

    // The functions that run, side by side at the start of `.text`: the kernel maps code 64 KiB
    // around each page fault, so unordered, the ~2,300 functions that run make most of the 10 MB
    // of code resident (docs/benchmarks.md, "Session 7"). Only lld reads the file, and on this
    // target rustc links with its own lld unless told otherwise: a configured linker (or linker
    // flavour) keeps the default layout. A function the file does not name goes after the ones it
    // does, as without the file, so a stale file costs memory, never correctness.
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    let own_linker = var("RUSTC_LINKER").is_empty()
        && !flags.contains("linker")
        && !flags.contains("link-self-contained")
        && !flags.contains("fuse-ld");
    let source = Path::new(&var("CARGO_MANIFEST_DIR")).join(SYMBOL_ORDER);
    if var("TARGET") == "x86_64-unknown-linux-gnu"
        && own_linker
        && var("RAUTA_NO_SYMBOL_ORDER").is_empty()
        && source.is_file()
    {
        // The linker reads a copy in OUT_DIR, not the source file: cargo reuses this script's
        // output for another checkout that shares the target directory, and a path into the
        // checkout that ran it dangles once that checkout is gone (the link then fails).
        let order = Path::new(&var("OUT_DIR")).join(SYMBOL_ORDER);
        if let Err(err) = std::fs::copy(&source, &order) {
            println!(
                "cargo:warning=linking without a symbol order: cannot copy {}: {err}",
                source.display()
            );
            return;
        }
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
        // For tests/link_order.rs: the file the executable was linked with.
        println!("cargo:rustc-env=RAUTA_SYMBOL_ORDER={}", order.display());
    }
}
