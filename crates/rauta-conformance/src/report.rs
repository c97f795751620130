//! The conformance report in the official `ConformanceReport` YAML format, and the summary
//! table of `docs/conformance.md`.
//!
//! Counting follows the suite: a test is counted in every profile that contains all its
//! features, as extended when one of them is not a core feature of the profile; tests whose
//! features are not claimed are not counted and show up as `unsupportedFeatures`; explicitly
//! skipped tests make a level `partial`. The format has no place for reasons, so they are
//! written as YAML comments next to the skipped tests and unsupported features.

use std::fmt::Write as _;

use crate::catalog::Profile;
use crate::claims;
use crate::suite::{Outcome, TestResult};

/// Who produced the report (the `implementation` block and the run's `mode`).
#[derive(Clone, Debug)]
pub struct Meta {
    /// RFC 3339 time of the run.
    pub date: String,
    /// Implementation version.
    pub version: String,
    /// `mode` of the report.
    pub mode: String,
    /// Organization.
    pub organization: String,
    /// Project.
    pub project: String,
    /// URL.
    pub url: String,
    /// Contacts.
    pub contact: Vec<String>,
}

/// The suite version the catalogue was read from.
const GATEWAY_API_VERSION: &str = "v0.0.0-dev";
const SUITE_NOTE: &str = "conformance suite of Gateway API main @ 4564255 (after v1.6.1), run by rauta-conformance";

/// Results of one level (core or extended) of one profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Level {
    /// Tests passed.
    pub passed: u32,
    /// Tests failed, by name.
    pub failed: Vec<String>,
    /// Tests skipped, by name, with why.
    pub skipped: Vec<(String, String)>,
}

impl Level {
    /// `failure`, `partial` or `success`, as the suite decides.
    pub fn result(&self) -> &'static str {
        if !self.failed.is_empty() {
            "failure"
        } else if !self.skipped.is_empty() {
            "partial"
        } else {
            "success"
        }
    }

    fn summary(&self) -> String {
        match self.result() {
            "failure" => format!("failed with {} test failures", self.failed.len()),
            "partial" => format!("partially succeeded with {} test skips", self.skipped.len()),
            _ => "succeeded".to_owned(),
        }
    }

    fn counted(&self) -> bool {
        self.passed > 0 || !self.failed.is_empty() || !self.skipped.is_empty()
    }
}

/// One profile's results.
#[derive(Clone, Debug)]
pub struct ProfileReport {
    /// The profile.
    pub profile: &'static Profile,
    /// Core level.
    pub core: Level,
    /// Extended level.
    pub extended: Level,
}

impl ProfileReport {
    /// Counts `results` for `profile`.
    pub fn new(profile: &'static Profile, results: &[TestResult]) -> Self {
        let mut core = Level::default();
        let mut extended = Level::default();
        for r in results.iter().filter(|r| profile.counts(r.test)) {
            let level = if profile.is_extended(r.test) {
                &mut extended
            } else {
                &mut core
            };
            match &r.outcome {
                Outcome::Passed => level.passed += 1,
                Outcome::Failed(_) => level.failed.push(r.test.name.to_owned()),
                Outcome::Skipped(why) => level.skipped.push((r.test.name.to_owned(), why.clone())),
                Outcome::NotSupported(_) => {}
            }
        }
        Self {
            profile,
            core,
            extended,
        }
    }

    /// The human sentence of the report.
    pub fn summary(&self) -> String {
        let mut s = format!("Core tests {}", self.core.summary());
        if self.extended.counted() {
            let _ = write!(s, ". Extended tests {}", self.extended.summary());
        }
        s.push('.');
        s
    }

    fn supported(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.profile.extended_features().filter(|f| claims::claims(f)).collect();
        v.sort_unstable();
        v
    }

    fn unsupported(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self
            .profile
            .extended_features()
            .filter(|f| !claims::claims(f))
            .collect();
        v.sort_unstable();
        v
    }
}

/// A YAML scalar, quoted when it needs to be.
fn scalar(s: &str) -> String {
    serde_yaml::to_string(s)
        .map(|y| y.trim_end().to_owned())
        .unwrap_or_else(|_| format!("{s:?}"))
}

/// Writes one level; `head` is its key line (`- core:` opens the profile's list item).
fn write_level(out: &mut String, head: &str, level: &Level, extended: Option<&ProfileReport>) {
    let _ = writeln!(out, "{head}");
    if !level.failed.is_empty() {
        let _ = writeln!(out, "    failedTests:");
        for t in &level.failed {
            let _ = writeln!(out, "    - {t}");
        }
    }
    let _ = writeln!(out, "    result: {}", level.result());
    if !level.skipped.is_empty() {
        let _ = writeln!(out, "    skippedTests:");
        for (t, why) in &level.skipped {
            let _ = writeln!(out, "    - {t}  # {}", why.replace('\n', " "));
        }
    }
    let _ = writeln!(out, "    statistics:");
    let _ = writeln!(out, "      Failed: {}", level.failed.len());
    let _ = writeln!(out, "      Passed: {}", level.passed);
    let _ = writeln!(out, "      Skipped: {}", level.skipped.len());
    if let Some(p) = extended {
        let supported = p.supported();
        if !supported.is_empty() {
            let _ = writeln!(out, "    supportedFeatures:");
            for f in supported {
                let _ = writeln!(out, "    - {f}");
            }
        }
        let unsupported = p.unsupported();
        if !unsupported.is_empty() {
            let _ = writeln!(out, "    unsupportedFeatures:");
            for f in unsupported {
                let _ = writeln!(out, "    - {f}  # {}", claims::why_not(f));
            }
        }
    }
}

/// The report as YAML.
pub fn render(meta: &Meta, profiles: &[ProfileReport], results: &[TestResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {SUITE_NOTE}");
    let _ = writeln!(out, "apiVersion: gateway.networking.k8s.io/v1");
    let _ = writeln!(out, "date: {}", scalar(&meta.date));
    let _ = writeln!(out, "gatewayAPIChannel: experimental");
    let _ = writeln!(out, "gatewayAPIVersion: {GATEWAY_API_VERSION}");
    let _ = writeln!(out, "implementation:");
    let _ = writeln!(out, "  contact:");
    for c in &meta.contact {
        let _ = writeln!(out, "  - {}", scalar(c));
    }
    let _ = writeln!(out, "  organization: {}", scalar(&meta.organization));
    let _ = writeln!(out, "  project: {}", scalar(&meta.project));
    let _ = writeln!(out, "  url: {}", scalar(&meta.url));
    let _ = writeln!(out, "  version: {}", scalar(&meta.version));
    let _ = writeln!(out, "kind: ConformanceReport");
    let _ = writeln!(out, "mode: {}", scalar(&meta.mode));
    let _ = writeln!(out, "profiles:");
    for p in profiles {
        write_level(&mut out, "- core:", &p.core, None);
        if p.extended.counted() {
            write_level(&mut out, "  extended:", &p.extended, Some(p));
        }
        let _ = writeln!(out, "  name: {}", p.profile.name);
        let _ = writeln!(out, "  summary: {}", scalar(&p.summary()));
    }
    let mut provisional: Vec<&str> = results
        .iter()
        .filter(|r| r.test.provisional && r.outcome == Outcome::Passed)
        .map(|r| r.test.name)
        .collect();
    provisional.sort_unstable();
    if !provisional.is_empty() {
        let _ = writeln!(out, "succeededProvisionalTests:");
        for t in provisional {
            let _ = writeln!(out, "- {t}");
        }
    }
    out
}

/// Where the generated table sits in `docs/conformance.md`.
pub const DOCS_START: &str = "<!-- conformance-results:start (written by scripts/conformance) -->";
/// End of the generated table.
pub const DOCS_END: &str = "<!-- conformance-results:end -->";

/// The Markdown summary: one line per profile, then one row per counted test.
pub fn markdown(profiles: &[ProfileReport], results: &[TestResult], total: std::time::Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| Profile | Core | Extended |");
    let _ = writeln!(out, "|---|---|---|");
    for p in profiles {
        let level = |l: &Level| {
            format!(
                "{} ({} passed, {} failed, {} skipped)",
                l.result(),
                l.passed,
                l.failed.len(),
                l.skipped.len()
            )
        };
        let ext = if p.extended.counted() {
            level(&p.extended)
        } else {
            "—".to_owned()
        };
        let _ = writeln!(out, "| {} | {} | {ext} |", p.profile.name, level(&p.core));
    }
    let _ = writeln!(out, "\nWhole run: {:.0} s.\n", total.as_secs_f64());
    let _ = writeln!(out, "| Test | Level | Result | Time | Notes |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    let mut rows: Vec<&TestResult> = results
        .iter()
        .filter(|r| profiles.iter().any(|p| p.profile.counts(r.test)))
        .collect();
    rows.sort_by_key(|r| r.test.name);
    for r in rows {
        let level = profiles
            .iter()
            .filter(|p| p.profile.counts(r.test))
            .map(|p| {
                format!(
                    "{} {}",
                    p.profile.name,
                    if p.profile.is_extended(r.test) {
                        "extended"
                    } else {
                        "core"
                    }
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let (result, notes) = match &r.outcome {
            Outcome::Passed => ("pass", String::new()),
            Outcome::Failed(why) => ("**fail**", why.lines().next().unwrap_or_default().to_owned()),
            Outcome::Skipped(why) => ("skip", why.clone()),
            Outcome::NotSupported(f) => (
                "not supported",
                f.iter()
                    .map(|f| format!("{f}: {}", claims::why_not(f)))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        };
        let provisional = if r.test.provisional { " (provisional)" } else { "" };
        let notes = notes.replace('|', "\\|");
        let time = if r.duration.is_zero() {
            String::new()
        } else {
            format!("{:.1} s", r.duration.as_secs_f64())
        };
        let _ = writeln!(
            out,
            "| {}{provisional} | {level} | {result} | {time} | {notes} |",
            r.test.name
        );
    }
    out
}

/// Replaces the generated part of `doc` (between the markers) with `table`.
pub fn splice_docs(doc: &str, table: &str) -> Option<String> {
    let start = doc.find(DOCS_START)? + DOCS_START.len();
    let end = doc[start..].find(DOCS_END)? + start;
    Some(format!("{}\n{table}{}", &doc[..start], &doc[end..]))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::catalog;

    fn result(name: &str, outcome: Outcome) -> TestResult {
        TestResult {
            test: catalog::test_named(name).unwrap(),
            outcome,
            duration: Duration::ZERO,
        }
    }

    fn meta() -> Meta {
        Meta {
            date: "2026-01-01T00:00:00Z".into(),
            version: "v0.1.0".into(),
            mode: "standalone".into(),
            organization: "rauta".into(),
            project: "rauta".into(),
            url: "https://rauta.io".into(),
            contact: vec!["@rauta/maintainers".into()],
        }
    }

    #[test]
    fn levels_count_like_the_suite() {
        let http = catalog::Profile::named("GATEWAY-HTTP").unwrap();
        let results = vec![
            result("HTTPRouteSimpleSameNamespace", Outcome::Passed),
            result("HTTPRouteHTTPSListener", Outcome::Skipped("needs HTTPS".into())),
            result("HTTPRouteMethodMatching", Outcome::Passed),
            result("HTTPRouteRetry", Outcome::Failed("boom".into())),
            result(
                "GatewayInfrastructure",
                Outcome::NotSupported(vec!["GatewayInfrastructurePropagation"]),
            ),
            result("GRPCRouteWeight", Outcome::Passed),
            result("HTTPRoute303Redirect", Outcome::Passed),
        ];
        let p = ProfileReport::new(http, &results);
        assert_eq!(p.core.passed, 1);
        assert_eq!(p.core.result(), "partial");
        assert_eq!(p.extended.passed, 2);
        assert_eq!(p.extended.failed, vec!["HTTPRouteRetry".to_owned()]);
        assert_eq!(p.extended.result(), "failure");
        assert_eq!(
            p.summary(),
            "Core tests partially succeeded with 1 test skips. Extended tests failed with 1 test failures."
        );

        let yaml = render(&meta(), &[p], &results);
        let parsed: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        let profile = &parsed["profiles"][0];
        assert_eq!(parsed["kind"], "ConformanceReport");
        assert_eq!(profile["name"], "GATEWAY-HTTP");
        assert_eq!(profile["core"]["statistics"]["Skipped"], 1);
        assert_eq!(profile["core"]["skippedTests"][0], "HTTPRouteHTTPSListener");
        assert_eq!(profile["extended"]["failedTests"][0], "HTTPRouteRetry");
        assert!(
            profile["extended"]["unsupportedFeatures"]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|f| f == "GatewayInfrastructurePropagation")
        );
        assert!(
            profile["extended"]["supportedFeatures"]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|f| f == "HTTPRouteRetry")
        );
        assert_eq!(parsed["succeededProvisionalTests"][0], "HTTPRoute303Redirect");
        assert!(yaml.contains("- HTTPRouteHTTPSListener  # needs HTTPS"), "{yaml}");
    }

    #[test]
    fn docs_table_is_spliced_between_markers() {
        let doc = format!("# Title\n\n{DOCS_START}\nold\n{DOCS_END}\ntail\n");
        let new = splice_docs(&doc, "new table\n").unwrap();
        assert_eq!(new, format!("# Title\n\n{DOCS_START}\nnew table\n{DOCS_END}\ntail\n"));
        assert!(splice_docs("no markers", "x").is_none());
    }
}
