//! Choosing a backend: weighted random over a rule's backendRefs (then round-robin over the
//! chosen cluster's endpoints, see [`RuntimeCluster::next_endpoint`](crate::runtime::RuntimeCluster)).

use crate::errors::ProxyError;
use crate::runtime::{RuntimeBackend, RuntimeRule};

/// Picks a backend with probability weight / total; weight 0 is never picked.
pub(crate) fn choose_backend(rule: &RuntimeRule) -> Result<&RuntimeBackend, ProxyError> {
    if rule.total_weight == 0 {
        return Err(ProxyError::NoBackends);
    }
    let ticket = fastrand::u64(..rule.total_weight);
    pick(&rule.backends, |b| b.weight, ticket).ok_or(ProxyError::NoBackends)
}

/// The item whose cumulative weight range contains `ticket` (`ticket < sum of weights`).
fn pick<T>(items: &[T], weight: impl Fn(&T) -> u32, mut ticket: u64) -> Option<&T> {
    for item in items {
        let w = u64::from(weight(item));
        if ticket < w {
            return Some(item);
        }
        ticket -= w;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_weight_is_never_picked() {
        let weights = [0u32, 3, 0, 1, 0];
        let picks: Vec<usize> = (0..4)
            .map(|t| *pick(&[0, 1, 2, 3, 4], |i| weights[*i], t).unwrap())
            .collect();
        assert_eq!(picks, vec![1, 1, 1, 3]);
        assert_eq!(pick(&[0, 1], |i| weights[*i], 4), None);
    }

    #[test]
    fn random_choice_follows_weights() {
        let weights = [70u32, 30, 0];
        let mut counts = [0usize; 3];
        for _ in 0..10_000 {
            let i = *pick(&[0usize, 1, 2], |i| weights[*i], fastrand::u64(..100)).unwrap();
            counts[i] += 1;
        }
        assert_eq!(counts[2], 0);
        assert!((6_500..7_500).contains(&counts[0]), "{counts:?}");
    }
}
