//! Parsed files kept between loads, so that a change re-parses only the files that changed.
//!
//! Parsing YAML is most of what a load costs (three quarters of it with 5,000 routes), and a
//! change usually touches one file. Each file's parsed resources are kept with the file's stamp
//! (length, modification and change times, inode) and a digest of its bytes:
//! - a file whose stamp is unchanged is not even read, unless it was read so soon after it was
//!   last changed that a second write within the file system's timestamp granularity could have
//!   left the stamp as it was ("racily clean", as git calls it): such a file is read again;
//! - a file that was read and whose digest is unchanged is not parsed again;
//! - anything else is parsed; only files that parse are kept.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rauta_translate::{Inputs, Problem};

use crate::files::LoadError;
use crate::generation::GenerationTracker;

/// How long after a file's last change its stamp alone is trusted: far above the timestamp
/// granularity of local file systems (a clock tick) and of the coarsest common ones (1–2 s).
const SETTLED_AFTER: Duration = Duration::from_secs(3);

/// The resources and warnings of one parsed file.
#[derive(Debug, Default)]
pub(crate) struct ParsedFile {
    pub(crate) inputs: Inputs,
    pub(crate) warnings: Vec<Problem>,
}

/// What the file system says about a file, without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    changed: Option<SystemTime>,
    inode: u64,
    device: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        let (changed, inode, device) = unix_identity(meta);
        Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            changed,
            inode,
            device,
        }
    }

    /// True when the stamp was taken long enough after the last change to the file that a later
    /// change must show in it.
    fn settled_at(&self, read_at: SystemTime) -> bool {
        let last_change = match (self.modified, self.changed) {
            (Some(m), Some(c)) => m.max(c),
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => return false,
        };
        last_change
            .checked_add(SETTLED_AFTER)
            .is_some_and(|settled| settled <= read_at)
    }
}

#[cfg(unix)]
fn unix_identity(meta: &std::fs::Metadata) -> (Option<SystemTime>, u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let changed = u64::try_from(meta.ctime())
        .ok()
        .zip(u32::try_from(meta.ctime_nsec()).ok())
        .map(|(secs, nanos)| SystemTime::UNIX_EPOCH + Duration::new(secs, nanos));
    (changed, meta.ino(), meta.dev())
}

#[cfg(not(unix))]
fn unix_identity(_meta: &std::fs::Metadata) -> (Option<SystemTime>, u64, u64) {
    (None, 0, 0)
}

#[derive(Debug)]
struct CachedFile {
    stamp: Stamp,
    /// When the file's bytes were last read (and `stamp` taken, just before).
    read_at: SystemTime,
    digest: u64,
    parsed: ParsedFile,
}

/// Parsed files by path.
#[derive(Debug, Default)]
pub(crate) struct FileCache {
    files: HashMap<PathBuf, CachedFile>,
    /// How many files were parsed by the last [`FileCache::refresh`] calls (for tests and logs).
    parsed: usize,
}

impl FileCache {
    /// The parsed contents of `path`, parsing it only when it changed. New resources get their
    /// generation from `generations`. A file that fails leaves the cache.
    pub(crate) fn refresh(
        &mut self,
        path: &Path,
        generations: &mut GenerationTracker,
    ) -> Result<&ParsedFile, LoadError> {
        let name = path.display().to_string();
        let io = |source| LoadError::Io {
            path: name.clone(),
            source,
        };
        let stamp = match std::fs::metadata(path) {
            Ok(meta) => Stamp::of(&meta),
            Err(e) => {
                self.files.remove(path);
                return Err(io(e));
            }
        };
        let trusted = self
            .files
            .get(path)
            .is_some_and(|c| c.stamp == stamp && c.stamp.settled_at(c.read_at));
        if !trusted {
            let read_at = SystemTime::now();
            let bytes = match std::fs::read(path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    self.files.remove(path);
                    return Err(io(e));
                }
            };
            let digest = digest(&bytes);
            match self.files.get_mut(path) {
                Some(cached) if cached.digest == digest => {
                    cached.stamp = stamp;
                    cached.read_at = read_at;
                }
                _ => {
                    self.files.remove(path);
                    let parsed = parse(&bytes, &name, generations)?;
                    self.parsed += 1;
                    self.files.insert(
                        path.to_path_buf(),
                        CachedFile {
                            stamp,
                            read_at,
                            digest,
                            parsed,
                        },
                    );
                }
            }
        }
        match self.files.get(path) {
            Some(cached) => Ok(&cached.parsed),
            None => Err(io(std::io::Error::other("file left the cache"))),
        }
    }

    /// Forgets every file not in `keep` (deleted or renamed since the last load).
    pub(crate) fn retain(&mut self, keep: &[PathBuf]) {
        if self.files.len() != keep.len() || keep.iter().any(|p| !self.files.contains_key(p)) {
            let keep: std::collections::HashSet<&PathBuf> = keep.iter().collect();
            self.files.retain(|path, _| keep.contains(path));
        }
    }

    /// How many times a file was parsed so far.
    pub(crate) fn parse_count(&self) -> usize {
        self.parsed
    }
}

fn parse(bytes: &[u8], name: &str, generations: &mut GenerationTracker) -> Result<ParsedFile, LoadError> {
    let text = std::str::from_utf8(bytes).map_err(|_| LoadError::Io {
        path: name.to_owned(),
        // What `std::fs::read_to_string` says.
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "stream did not contain valid UTF-8"),
    })?;
    let mut parsed = ParsedFile::default();
    parsed.warnings = rauta_translate::parse_documents(text, name, &mut parsed.inputs)?;
    generations.assign(&mut parsed.inputs);
    Ok(parsed)
}

fn digest(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(modified: u64, changed: u64) -> Stamp {
        let at = |s| Some(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        Stamp {
            len: 1,
            modified: at(modified),
            changed: at(changed),
            inode: 1,
            device: 1,
        }
    }

    #[test]
    fn a_stamp_is_trusted_only_once_the_file_has_settled() {
        let read_at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        assert!(stamp(100, 100).settled_at(read_at(200)));
        // Read within the granularity margin of the last change: a second write could hide.
        assert!(!stamp(100, 100).settled_at(read_at(101)));
        // An old modification time (cp -p, touch -d) does not count: the change time does.
        assert!(!stamp(10, 100).settled_at(read_at(101)));
        let unknown = Stamp {
            modified: None,
            changed: None,
            ..stamp(0, 0)
        };
        assert!(!unknown.settled_at(read_at(1_000)));
    }
}
