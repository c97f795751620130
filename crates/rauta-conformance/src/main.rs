//! `rauta-conformance`: the Gateway API conformance tests, standalone.
//!
//! For every official test the runner starts the real `rauta run` on a directory holding the
//! base manifests and the test's manifests, plays the cluster around it (echo pods behind
//! EndpointSlices, file edits for API writes, generations), checks the same requests, responses
//! and statuses as the official test, and writes the official report format.

mod catalog;
mod certs;
mod claims;
mod client;
mod converge;
mod ctx;
mod expect;
mod grpc;
mod manifest;
mod pods;
mod rauta;
mod report;
mod scenario;
mod scenarios;
mod status;
mod store;
mod suite;
mod tcp;
mod tls;
mod weights;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::Parser;

/// The Gateway API group.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// Runs the Gateway API conformance tests against the rauta binary, with no cluster.
#[derive(Debug, Parser)]
#[command(name = "rauta-conformance", version, about)]
struct Args {
    /// The rauta binary (default: $CARGO_TARGET_DIR/release/rauta, else target/release/rauta).
    #[arg(long)]
    rauta: Option<PathBuf>,
    /// Directory with base/ and tests/ manifests.
    #[arg(long, default_value = "conformance")]
    manifests: PathBuf,
    /// Directory for the tests' files and Rauta logs.
    #[arg(long, default_value = "conformance/work")]
    work_dir: PathBuf,
    /// Where to write the conformance report.
    #[arg(long, default_value = "conformance/report.yaml")]
    report: PathBuf,
    /// Markdown file whose results table to rewrite (between its markers).
    #[arg(long)]
    docs: Option<PathBuf>,
    /// Run only this test (repeat, or separate with commas); the others are reported as skipped.
    #[arg(long, value_delimiter = ',')]
    run_test: Vec<String>,
    /// Skip these tests.
    #[arg(long, value_delimiter = ',')]
    skip_tests: Vec<String>,
    /// Tests run at the same time (each has its own Rauta process and addresses).
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// Profiles to report on.
    #[arg(long, value_delimiter = ',', default_value = "GATEWAY-HTTP,GATEWAY-GRPC,GATEWAY-TLS")]
    profiles: Vec<String>,
    /// Take these needs as met, to try features being built (e.g. https-listeners).
    #[arg(long, value_delimiter = ',', value_enum)]
    assume: Vec<claims::Need>,
    /// Keep the directories of tests that passed (those of failed tests are always kept).
    #[arg(long)]
    keep_work: bool,
    /// List the tests and what would become of them, without running anything.
    #[arg(long)]
    list: bool,
    /// `mode` written in the report.
    #[arg(long, default_value = "standalone")]
    mode: String,
    /// Implementation version written in the report.
    #[arg(long, default_value = concat!("v", env!("CARGO_PKG_VERSION")))]
    implementation_version: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn default_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    target.join("release").join("rauta")
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let profiles = args
        .profiles
        .iter()
        .map(|name| catalog::Profile::named(name).ok_or_else(|| anyhow::anyhow!("unknown profile {name}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for name in args.run_test.iter().chain(&args.skip_tests) {
        anyhow::ensure!(catalog::test_named(name).is_some(), "no official test is named {name}");
    }
    let selection = suite::Selection {
        run: args.run_test.clone(),
        skip: args.skip_tests.clone(),
        parallel: args.parallel,
        keep_work: args.keep_work,
        assume: args.assume.clone(),
    };
    if args.list {
        scenarios::list(&profiles, &selection);
        return Ok(ExitCode::SUCCESS);
    }
    let binary = args.rauta.clone().unwrap_or_else(default_binary);
    anyhow::ensure!(
        binary.is_file(),
        "no rauta binary at {} (build it with cargo build --release -p rauta)",
        binary.display()
    );

    let started = Instant::now();
    let shared = Arc::new(scenarios::setup(binary, &args.manifests, &args.work_dir, &selection).await?);
    let results = suite::run(shared, &profiles, &selection).await;
    let took = started.elapsed();

    let reports: Vec<report::ProfileReport> = profiles
        .iter()
        .map(|p| report::ProfileReport::new(p, &results))
        .collect();
    let meta = report::Meta {
        date: jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        version: args.implementation_version.clone(),
        mode: args.mode.clone(),
        organization: "rauta".into(),
        project: "rauta".into(),
        url: "https://rauta.io".into(),
        contact: vec!["https://rauta.io".into()],
    };
    let yaml = report::render(&meta, &reports, &results);
    write(&args.report, &yaml)?;
    if let Some(docs) = &args.docs {
        let text = std::fs::read_to_string(docs).with_context(|| format!("cannot read {}", docs.display()))?;
        let table = report::markdown(&reports, &results, took);
        let spliced = report::splice_docs(&text, &table)
            .ok_or_else(|| anyhow::anyhow!("{} has no results markers", docs.display()))?;
        write(docs, &spliced)?;
    }

    let count = |f: fn(&suite::Outcome) -> bool| results.iter().filter(|r| f(&r.outcome)).count();
    println!(
        "\n{} passed, {} failed, {} skipped ({} not supported) in {:.0}s; report: {}",
        count(|o| *o == suite::Outcome::Passed),
        count(|o| matches!(o, suite::Outcome::Failed(_))),
        count(|o| matches!(o, suite::Outcome::Skipped(_))),
        count(|o| matches!(o, suite::Outcome::NotSupported(_))),
        took.as_secs_f64(),
        args.report.display()
    );
    for r in &reports {
        println!("{}: {}", r.profile.name, r.summary());
    }
    let core_failed = reports.iter().any(|r| r.core.result() == "failure");
    Ok(if core_failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn write(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
