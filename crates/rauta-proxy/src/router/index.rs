//! An index over a virtual host's route entries, so the first matching entry is found without
//! testing every entry: with 5,000 routes a linear scan cost ~50 µs per request (docs/benchmarks.md).
//!
//! Each entry is filed under its path condition: Exact paths and (normalised) PathPrefix values in
//! hash tables, regular expressions in a list that is always searched. A request path can only match
//! the Exact entry filed under itself and the prefixes filed under its segment-boundary prefixes,
//! so those few lists hold every candidate. Each list is in precedence order; the answer is the
//! earliest entry among each list's first full match. Small hosts are not indexed: a scan of a
//! few entries is cheaper than hashing.
//!
//! A table maps the (keyed, SipHash) hash of a path to its run of positions in one flat array: no
//! allocation per entry, so an index of thousands of entries is rebuilt on every reload in a
//! fraction of a millisecond. Two paths with the same hash share a run; every candidate is
//! matched in full anyway.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use rauta_route::{PathMatch, RequestParts, RouteMatch};

/// Entries at or below this count are scanned; above it, looked up.
const SCAN_LIMIT: usize = 16;

/// Candidate lists of entry positions, each in precedence (ascending) order.
#[derive(Default)]
pub(crate) struct RouteIndex {
    /// `None` when the host has too few entries to be worth indexing.
    lists: Option<Lists>,
}

struct Lists {
    /// Hashes path strings; its keys are random per index.
    hasher: RandomState,
    exact: Table,
    prefix: Table,
    /// Regular expressions: candidates for every path.
    always: Vec<u32>,
}

/// Positions by path hash: each hash's run of `positions`, in precedence order.
#[derive(Default)]
struct Table {
    runs: HashMap<u64, (u32, u32), BuildHasherDefault<HashIsKey>>,
    positions: Vec<u32>,
}

impl Table {
    /// Files `(hash, position)` pairs given in precedence order.
    fn build(mut pairs: Vec<(u64, u32)>) -> Self {
        // Stable: positions keep their order within a hash.
        pairs.sort_by_key(|&(hash, _)| hash);
        let mut table = Self {
            runs: HashMap::with_capacity_and_hasher(pairs.len(), BuildHasherDefault::default()),
            positions: pairs.iter().map(|&(_, p)| p).collect(),
        };
        let mut start = 0;
        for run in pairs.chunk_by(|a, b| a.0 == b.0) {
            // Fits: the index holds at most u32::MAX entries.
            let len = run.len() as u32;
            table.runs.insert(run[0].0, (start, len));
            start += len;
        }
        table
    }

    fn get(&self, hash: u64) -> Option<&[u32]> {
        let &(start, len) = self.runs.get(&hash)?;
        self.positions.get(start as usize..(start + len) as usize)
    }
}

/// The table's keys are SipHash outputs already: used as they are.
#[derive(Default)]
struct HashIsKey(u64);

impl Hasher for HashIsKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Lists {
    fn hash(&self, path: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(path.as_bytes());
        h.finish()
    }
}

impl RouteIndex {
    /// Indexes `matches`, given in precedence order.
    pub(crate) fn build<'a>(matches: impl ExactSizeIterator<Item = &'a RouteMatch>) -> Self {
        if matches.len() <= SCAN_LIMIT || u32::try_from(matches.len()).is_err() {
            return Self::default();
        }
        let mut lists = Lists {
            hasher: RandomState::new(),
            exact: Table::default(),
            prefix: Table::default(),
            always: Vec::new(),
        };
        let (mut exact, mut prefix) = (Vec::new(), Vec::with_capacity(matches.len()));
        for (position, m) in (0u32..).zip(matches) {
            match &m.path {
                PathMatch::Exact(path) => exact.push((lists.hash(path), position)),
                PathMatch::Prefix(p) => prefix.push((lists.hash(p.as_str()), position)),
                PathMatch::Regex(_) => lists.always.push(position),
            }
        }
        lists.exact = Table::build(exact);
        lists.prefix = Table::build(prefix);
        Self { lists: Some(lists) }
    }

    /// The position of the first entry of `entries` (the ones this index was built from) whose
    /// match holds for `request`; `route_match` gives an entry's match.
    pub(crate) fn first_match<T>(
        &self,
        entries: &[T],
        route_match: impl Fn(&T) -> &RouteMatch,
        request: &RequestParts<'_>,
    ) -> Option<usize> {
        let holds = |position: usize| entries.get(position).is_some_and(|e| route_match(e).matches(request));
        let Some(lists) = &self.lists else {
            return (0..entries.len()).find(|&p| holds(p));
        };
        let path = request.path();
        let mut best: Option<usize> = None;
        let mut consider = |list: Option<&[u32]>| {
            let Some(list) = list else { return };
            // Positions past the best found so far cannot win.
            let first = list
                .iter()
                .map(|&p| p as usize)
                .take_while(|&p| best.is_none_or(|b| p < b))
                .find(|&p| holds(p));
            if first.is_some() {
                best = first;
            }
        };
        consider(lists.exact.get(lists.hash(path)));
        consider(lists.prefix.get(lists.hash("")));
        for (i, byte) in path.bytes().enumerate() {
            if byte == b'/' && i > 0 {
                consider(lists.prefix.get(lists.hash(&path[..i])));
            }
        }
        if !path.is_empty() {
            consider(lists.prefix.get(lists.hash(path)));
        }
        consider(Some(&lists.always[..]));
        best
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, Method};
    use rauta_route::{HeaderMatch, ValueMatch};

    use super::*;

    fn prefix(p: &str) -> RouteMatch {
        RouteMatch::new(PathMatch::prefix(p), None, vec![], vec![])
    }

    fn exact(p: &str) -> RouteMatch {
        RouteMatch::new(PathMatch::Exact(p.into()), None, vec![], vec![])
    }

    /// The index must agree with a linear scan on every path, whatever the mix of entries.
    #[test]
    fn agrees_with_a_linear_scan() {
        let mut matches = vec![
            exact("/a/b"),
            RouteMatch::new(
                PathMatch::prefix("/a"),
                None,
                vec![HeaderMatch {
                    name: "x-v".parse().unwrap(),
                    value: ValueMatch::Exact("2".into()),
                }],
                vec![],
            ),
            prefix("/a/b/"),
            RouteMatch::new(
                PathMatch::Regex(rauta_route::Pattern::new("/r/[0-9]+").unwrap()),
                None,
                vec![],
                vec![],
            ),
            prefix("/a"),
        ];
        matches.extend((0..40).map(|i| prefix(&format!("/many/{i:03}"))));
        matches.push(exact("/"));
        matches.push(prefix("/"));
        let index = RouteIndex::build(matches.iter());
        assert!(index.lists.is_some());
        let method = Method::GET;
        let plain = HeaderMap::new();
        let mut versioned = HeaderMap::new();
        versioned.insert("x-v", "2".parse().unwrap());
        for path in [
            "/",
            "",
            "/a",
            "/a/",
            "/a/b",
            "/a/b/",
            "/a/bc",
            "/a/b/c",
            "/ab",
            "/r/12",
            "/r/x",
            "/many/007",
            "/many/007/x",
            "/many/0071",
            "/many//007",
            "/zzz",
        ] {
            for headers in [&plain, &versioned] {
                let request = RequestParts::new(&method, path, None, headers);
                let linear = matches.iter().position(|m| m.matches(&request));
                assert_eq!(index.first_match(&matches, |m| m, &request), linear, "path {path:?}");
            }
        }
    }

    #[test]
    fn small_hosts_are_scanned() {
        let matches = [prefix("/b"), prefix("/")];
        let index = RouteIndex::build(matches.iter());
        assert!(index.lists.is_none());
        let (method, headers) = (Method::GET, HeaderMap::new());
        let request = RequestParts::new(&method, "/b/x", None, &headers);
        assert_eq!(index.first_match(&matches, |m| m, &request), Some(0));
    }
}
