//! What a reload costs in CPU time, phase by phase, for the files named on the command line:
//! `cargo run --release -p rauta-provider --example reload_cost -- DIR [ROUNDS]`.
//!
//! CPU time (this thread's, from `/proc/thread-self/schedstat`) rather than wall time, so that
//! other work on a shared machine does not count; the median of the rounds is printed. The kernel
//! brings that figure up to date at scheduler ticks (every 4 ms here) and when the thread yields,
//! so each reading yields first. Each round
//! translates the files from scratch (`translate`), then with a [`Translator`] kept across rounds
//! after one HTTPRoute was added (a copy of the last one under a new name; the previous round's
//! copy is gone), which is what a reload after adding a route file costs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use rauta_provider::FileProvider;
use rauta_translate::{Sourced, Translator};

fn cpu_ns() -> u64 {
    std::thread::yield_now();
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
    let mut translator = Translator::new();
    let t = cpu_ns();
    drop(translator.translate(&loaded.inputs));
    println!("first translation: {:.2} ms", (cpu_ns() - t) as f64 / 1e6);
    drop(loaded);
    let phases = [
        "load (cached)",
        "translate (full)",
        "drop (full)",
        "translate (1 route added, incremental)",
        "drop (incremental)",
    ];
    let mut laps: Vec<Vec<u64>> = Vec::new();
    for round in 0..rounds {
        let mut lap = Vec::new();
        let mut t = cpu_ns();
        let mut mark = |lap: &mut Vec<u64>| {
            let now = cpu_ns();
            lap.push(now - t);
            t = now;
        };
        let loaded = provider.load().expect("the files load");
        mark(&mut lap);
        let full = rauta_translate::translate(&loaded.inputs);
        mark(&mut lap);
        drop(full);
        mark(&mut lap);
        let mut inputs = loaded.inputs.clone();
        let last = inputs.http_routes.last().expect("at least one HTTPRoute");
        let mut added = (*last.resource).clone();
        added.metadata.name = Some(format!("reload-cost-added-{round}"));
        inputs.http_routes.push(Sourced {
            source: last.source.clone(),
            resource: Arc::new(added),
        });
        mark(&mut Vec::new());
        let incremental = translator.translate(&inputs);
        mark(&mut lap);
        drop(incremental);
        mark(&mut lap);
        laps.push(lap);
    }
    let (reused, translated) = translator.routes_reused_and_translated();
    println!("last incremental translation: {reused} routes reused, {translated} translated");
    for (i, name) in phases.iter().enumerate() {
        let mut v: Vec<u64> = laps.iter().map(|l| l[i]).collect();
        v.sort_unstable();
        let ms = |x: u64| x as f64 / 1e6;
        println!(
            "{name:40} median {:7.2} ms  (min {:.2}, max {:.2})",
            ms(v[v.len() / 2]),
            ms(v[0]),
            ms(v[v.len() - 1])
        );
    }
}
