//! What a reload costs in CPU time, phase by phase, for the files named on the command line:
//! `cargo run --release -p rauta-provider --example reload_cost -- DIR [ROUNDS]`.
//!
//! CPU time (this thread's, from `/proc/thread-self/schedstat`) rather than wall time, so that
//! other work on a shared machine does not count; the median of the rounds is printed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use rauta_provider::FileProvider;

fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: reload_cost DIR [ROUNDS]"));
    let rounds: usize = args.next().map_or(10, |r| r.parse().expect("ROUNDS"));
    let mut provider = FileProvider::new(vec![dir]);
    let t = cpu_ns();
    let loaded = provider.load().expect("the files load");
    println!("first load: {:.2} ms", (cpu_ns() - t) as f64 / 1e6);
    drop(loaded);
    let mut laps: Vec<[u64; 4]> = Vec::new();
    for _ in 0..rounds {
        let t0 = cpu_ns();
        let loaded = provider.load().expect("the files load");
        let t1 = cpu_ns();
        let translation = rauta_translate::translate(&loaded.inputs);
        let t2 = cpu_ns();
        let json: usize = translation
            .statuses
            .iter()
            .take(1)
            .map(|s| s.to_json().to_string().len())
            .sum();
        std::hint::black_box(json);
        drop(translation);
        drop(loaded);
        let t3 = cpu_ns();
        laps.push([t1 - t0, t2 - t1, t3 - t2, t3 - t0]);
    }
    let median = |i: usize| {
        let mut v: Vec<u64> = laps.iter().map(|l| l[i]).collect();
        v.sort_unstable();
        (
            v[v.len() / 2] as f64 / 1e6,
            v[0] as f64 / 1e6,
            v[v.len() - 1] as f64 / 1e6,
        )
    };
    for (i, name) in ["load (cached)", "translate", "drop", "total"].iter().enumerate() {
        let (m, lo, hi) = median(i);
        println!("{name:14} median {m:7.2} ms  (min {lo:.2}, max {hi:.2})");
    }
}
