//! Runs the selected official tests: decides for each whether it runs (features claimed, needs
//! met, scenario written), runs the runnable ones in parallel, each with its own Rauta process
//! and address block, and collects the outcomes for the report.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::Semaphore;

use crate::catalog::{self, OfficialTest, Profile};
use crate::claims::{self, Need};
use crate::ctx::{Ctx, Shared};
use crate::scenario::Scenario;
use crate::scenarios;

/// How long one test may take in all.
const TEST_DEADLINE: Duration = Duration::from_secs(180);

/// What became of one test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Ran and passed.
    Passed,
    /// Ran and failed, with why.
    Failed(String),
    /// Not run although its features are claimed (explicitly skipped), with why.
    Skipped(String),
    /// Not run because Rauta does not claim these features.
    NotSupported(Vec<&'static str>),
}

/// One test's outcome and duration.
#[derive(Clone, Debug)]
pub struct TestResult {
    /// The official test.
    pub test: &'static OfficialTest,
    /// What became of it.
    pub outcome: Outcome,
    /// How long it ran.
    pub duration: Duration,
}

/// Which tests to run.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Run only these tests (others are reported as skipped).
    pub run: Vec<String>,
    /// Never run these.
    pub skip: Vec<String>,
    /// Parallel tests at most.
    pub parallel: usize,
    /// Keep the directories of tests that passed.
    pub keep_work: bool,
    /// Needs taken as met besides [`claims::MET`].
    pub assume: Vec<Need>,
}

impl Selection {
    /// Whether `need` is met (by Rauta, or assumed on the command line).
    pub fn met(&self, need: Need) -> bool {
        claims::MET.contains(&need) || self.assume.contains(&need)
    }
}

/// The decision for one test before anything runs.
fn plan(test: &'static OfficialTest, selection: &Selection) -> Result<Scenario, Outcome> {
    let focused = !selection.run.is_empty();
    if !focused {
        let missing: Vec<&'static str> = test.features.iter().copied().filter(|f| !claims::claims(f)).collect();
        if !missing.is_empty() {
            return Err(Outcome::NotSupported(missing));
        }
    }
    if selection.skip.iter().any(|s| s == test.name) || (focused && !selection.run.iter().any(|s| s == test.name)) {
        return Err(Outcome::Skipped("explicitly skipped".to_owned()));
    }
    let Some(scenario) = scenarios::find(test.name) else {
        return Err(Outcome::Skipped(scenarios::why_missing(test.name).to_owned()));
    };
    if let Some(need) = scenario.needs.iter().find(|n| !selection.met(**n)) {
        return Err(Outcome::Skipped(need.why_unmet().to_owned()));
    }
    Ok(scenario)
}

/// What would become of `test`: `Ok` when it would run, else why not.
pub fn plan_description(test: &'static OfficialTest, selection: &Selection) -> Result<(), String> {
    match plan(test, selection) {
        Ok(_) => Ok(()),
        Err(Outcome::NotSupported(features)) => Err(format!("not supported: {}", features.join(", "))),
        Err(Outcome::Skipped(why)) => Err(format!("skipped: {why}")),
        Err(other) => Err(format!("{other:?}")),
    }
}

/// Runs every test counted in `profiles` and returns their outcomes, in catalogue order.
pub async fn run(shared: Arc<Shared>, profiles: &[&'static Profile], selection: &Selection) -> Vec<TestResult> {
    let tests: Vec<&'static OfficialTest> = catalog::TESTS
        .iter()
        .filter(|t| profiles.iter().any(|p| p.counts(t)))
        .collect();
    let permits = Arc::new(Semaphore::new(selection.parallel.max(1)));
    let mut results: BTreeMap<usize, TestResult> = BTreeMap::new();
    let mut running = tokio::task::JoinSet::new();
    let mut slot: u8 = 0;
    for (i, test) in tests.iter().copied().enumerate() {
        let scenario = match plan(test, selection) {
            Ok(s) => s,
            Err(outcome) => {
                results.insert(
                    i,
                    TestResult {
                        test,
                        outcome,
                        duration: Duration::ZERO,
                    },
                );
                continue;
            }
        };
        slot = slot.checked_add(1).unwrap_or(1);
        let (shared, permits, keep) = (shared.clone(), permits.clone(), selection.keep_work);
        let this_slot = slot;
        running.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let start = Instant::now();
            let outcome = run_one(scenario, this_slot, shared, keep).await;
            report_line(test, &outcome, start.elapsed());
            (
                i,
                TestResult {
                    test,
                    outcome,
                    duration: start.elapsed(),
                },
            )
        });
    }
    while let Some(done) = running.join_next().await {
        match done {
            Ok((i, result)) => {
                results.insert(i, result);
            }
            Err(e) => tracing::error!(error = %e, "a test task panicked"),
        }
    }
    for (i, test) in tests.iter().enumerate() {
        results.entry(i).or_insert_with(|| TestResult {
            test,
            outcome: Outcome::Failed("the test task panicked".to_owned()),
            duration: Duration::ZERO,
        });
    }
    results.into_values().collect()
}

fn report_line(test: &OfficialTest, outcome: &Outcome, took: Duration) {
    match outcome {
        Outcome::Passed => println!("PASS  {} ({:.1}s)", test.name, took.as_secs_f64()),
        Outcome::Failed(why) => println!(
            "FAIL  {} ({:.1}s)\n      {}",
            test.name,
            took.as_secs_f64(),
            why.replace('\n', "\n      ")
        ),
        Outcome::Skipped(why) => println!("SKIP  {}: {why}", test.name),
        Outcome::NotSupported(f) => println!("N/A   {}: {}", test.name, f.join(", ")),
    }
}

async fn run_one(scenario: Scenario, slot: u8, shared: Arc<Shared>, keep: bool) -> Outcome {
    let ctx = match Ctx::new(scenario.name, slot, shared) {
        Ok(ctx) => Arc::new(ctx),
        Err(e) => return Outcome::Failed(format!("setting up: {e:#}")),
    };
    let result = tokio::time::timeout(TEST_DEADLINE, run_body(scenario, ctx.clone())).await;
    ctx.stop_rauta();
    let outcome = match result {
        Ok(Ok(())) => Outcome::Passed,
        Ok(Err(e)) => Outcome::Failed(format!("{e:#}\n(rauta log: {})", ctx.rauta_log().display())),
        Err(_) => Outcome::Failed(format!("did not finish within {TEST_DEADLINE:?}")),
    };
    if outcome == Outcome::Passed && !keep {
        let _ = std::fs::remove_dir_all(ctx.dir());
    }
    outcome
}

async fn run_body(scenario: Scenario, ctx: Arc<Ctx>) -> anyhow::Result<()> {
    let manifest = scenario.manifest();
    if ctx.manifest_exists(&manifest) {
        ctx.apply_file(&manifest)
            .await
            .with_context(|| format!("applying {manifest}"))?;
    }
    ctx.start_rauta().await?;
    (scenario.body)(ctx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_follow_claims_selection_and_needs() {
        let all = Selection {
            parallel: 1,
            ..Selection::default()
        };
        let simple = catalog::test_named("HTTPRouteSimpleSameNamespace").unwrap();
        assert!(plan(simple, &all).is_ok());
        let infra = catalog::test_named("GatewayInfrastructure").unwrap();
        assert_eq!(
            plan(infra, &all).unwrap_err(),
            Outcome::NotSupported(vec!["GatewayInfrastructurePropagation"])
        );
        let focused = Selection {
            run: vec!["HTTPRouteWeight".into()],
            ..all.clone()
        };
        assert!(matches!(plan(simple, &focused), Err(Outcome::Skipped(_))));
        let skipping = Selection {
            skip: vec!["HTTPRouteSimpleSameNamespace".into()],
            ..all.clone()
        };
        assert!(matches!(plan(simple, &skipping), Err(Outcome::Skipped(_))));
        let https = catalog::test_named("HTTPRouteHTTPSListener").unwrap();
        assert_eq!(
            plan(https, &all).is_ok(),
            all.met(Need::HttpsListeners),
            "a test with an unmet need is skipped"
        );
    }
}
