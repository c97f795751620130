//! The suite's weighted distribution check (`TestWeightedDistribution`), for any protocol: 500
//! requests, 10 at a time; every answer from an expected backend; exactly the backends with a
//! weight receive traffic, each within 5 points of its share; up to 10 rounds.

use std::collections::BTreeMap;
use std::future::Future;

use futures_util::StreamExt;

/// Requests per round.
const TOTAL: usize = 500;
/// Rounds before giving up (`MaxTestRetries`).
const ROUNDS: usize = 10;

/// The backend a pod belongs to: its name without the two trailing segments
/// (`<deployment>-<hash>-<suffix>`).
pub fn backend_of(pod: &str) -> &str {
    let mut cut = pod;
    for _ in 0..2 {
        match cut.rfind('-') {
            Some(i) => cut = &cut[..i],
            None => return pod,
        }
    }
    cut
}

/// Runs rounds until one matches `weights`; `send` makes one request and names the pod that
/// answered it.
pub async fn check<F, Fut>(send: F, weights: &[(&str, f64)]) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<String, String>>,
{
    let mut failures = Vec::new();
    for round in 1..=ROUNDS {
        let pods: Vec<Result<String, String>> = futures_util::stream::iter((0..TOTAL).map(|_| send()))
            .buffer_unordered(10)
            .collect()
            .await;
        match judge(pods, weights) {
            Ok(()) => return Ok(()),
            Err(e) => failures.push(format!("round {round}: {e}")),
        }
    }
    Err(format!(
        "weighted distribution failed {ROUNDS} times:\n  {}",
        failures.join("\n  ")
    ))
}

/// Judges one round.
fn judge(pods: Vec<Result<String, String>>, weights: &[(&str, f64)]) -> Result<(), String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for pod in pods {
        let pod = pod?;
        let backend = backend_of(&pod);
        if !weights.iter().any(|(b, _)| *b == backend) {
            return Err(format!("request answered by unexpected pod {pod}"));
        }
        *seen.entry(backend.to_owned()).or_default() += 1;
    }
    tracing::debug!(?seen, "weighted distribution round");
    let active = weights.iter().filter(|(_, w)| *w > 0.0).count();
    let mut errors = Vec::new();
    if seen.len() != active {
        errors.push(format!("{} backends received traffic, expected {active}", seen.len()));
    }
    for (backend, want) in weights {
        let got = seen.get(*backend).copied().unwrap_or(0) as f64 / TOTAL as f64;
        if (got - want).abs() > 0.05 {
            errors.push(format!("{backend} got {got:.3} of the traffic, expected {want} ± 0.05"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(v1: usize, v2: usize, v3: usize) -> Vec<Result<String, String>> {
        let pods = [
            ("infra-backend-v1-abc-de", v1),
            ("infra-backend-v2-abc-de", v2),
            ("infra-backend-v3-abc-de", v3),
        ];
        pods.iter()
            .flat_map(|(p, n)| std::iter::repeat_n(Ok((*p).to_owned()), *n))
            .collect()
    }

    const WEIGHTS: [(&str, f64); 3] = [
        ("infra-backend-v1", 0.7),
        ("infra-backend-v2", 0.3),
        ("infra-backend-v3", 0.0),
    ];

    #[test]
    fn shares_within_five_points_pass() {
        assert_eq!(judge(round(350, 150, 0), &WEIGHTS), Ok(()));
        assert_eq!(judge(round(330, 170, 0), &WEIGHTS), Ok(()));
        assert!(
            judge(round(310, 190, 0), &WEIGHTS).is_err(),
            "62% is more than 5 points off"
        );
        assert!(
            judge(round(349, 150, 1), &WEIGHTS).is_err(),
            "a weight-0 backend got traffic"
        );
        assert!(judge(vec![Ok("other-abc-de".to_owned())], &WEIGHTS).is_err());
    }

    #[test]
    fn backends_are_pod_names_without_two_segments() {
        assert_eq!(backend_of("infra-backend-v1-bcdfghjklm-x2kqp"), "infra-backend-v1");
        assert_eq!(backend_of("pod"), "pod");
    }
}
