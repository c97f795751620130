//! Link options of the `rauta` executable.

fn main() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    // Relative relocations in the packed form (DT_RELR; glibc ≥ 2.36, binutils ≥ 2.38): the
    // dynamic loader reads ~10 KB instead of the 413 KB `.rela.dyn` of `Rela` entries at every
    // start, and those pages are no longer resident (docs/benchmarks.md, "Idle RSS").
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
