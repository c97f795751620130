//! Reading `-f PATH` arguments: files, or directories read recursively for `*.yaml` / `*.yml`.

use std::path::{Path, PathBuf};

use rauta_translate::{Inputs, ParseError, Problem};

use crate::file_cache::FileCache;
use crate::generation::GenerationTracker;

/// One problem that stops a configuration from loading.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A path could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A document could not be parsed.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// A successful load: the resources and the warnings met on the way (ignored kinds, …).
#[derive(Debug, Default)]
pub struct Loaded {
    /// The resources.
    pub inputs: Inputs,
    /// Warnings (documents ignored, …).
    pub warnings: Vec<Problem>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
}

/// Reads Gateway API resources from files and directories.
///
/// It keeps each file's parsed resources between loads and parses again only the files that
/// changed (see `file_cache`), and it gives resources their `metadata.generation` (see
/// [`GenerationTracker`]).
#[derive(Debug)]
pub struct FileProvider {
    paths: Vec<PathBuf>,
    cache: FileCache,
    generations: GenerationTracker,
}

impl FileProvider {
    /// A provider over `paths` (files or directories).
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Self {
            paths,
            cache: FileCache::default(),
            generations: GenerationTracker::default(),
        }
    }

    /// The paths given on the command line.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Reads every file that changed since the last load and returns all resources, or all
    /// errors when any file or document fails (then nothing is returned: a load is all or
    /// nothing).
    pub fn load(&mut self) -> Result<Loaded, Vec<LoadError>> {
        let mut loaded = Loaded::default();
        let mut errors = Vec::new();
        for path in &self.paths {
            match collect_files(path) {
                Ok(files) => loaded.files.extend(files),
                Err(source) => errors.push(LoadError::Io {
                    path: path.display().to_string(),
                    source,
                }),
            }
        }
        self.cache.retain(&loaded.files);
        for file in &loaded.files {
            match self.cache.refresh(file, &mut self.generations) {
                Ok(parsed) if errors.is_empty() => {
                    loaded.inputs.extend_from(&parsed.inputs);
                    loaded.warnings.extend_from_slice(&parsed.warnings);
                }
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() { Ok(loaded) } else { Err(errors) }
    }

    /// How many times a file was parsed since this provider was made.
    pub fn parse_count(&self) -> usize {
        self.cache.parse_count()
    }
}

/// The YAML files a path names: itself, or every `*.yaml`/`*.yml` below it, sorted.
fn collect_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let p = entry.path();
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if hidden {
                continue;
            }
            if entry.file_type()?.is_dir() || (entry.file_type()?.is_symlink() && p.is_dir()) {
                stack.push(p);
            } else if is_yaml(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

pub(crate) fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_read_recursively_and_sorted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("b.yaml"), "").unwrap();
        std::fs::write(dir.path().join("sub/a.yml"), "").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "").unwrap();
        std::fs::write(dir.path().join(".hidden.yaml"), "").unwrap();
        let files = collect_files(dir.path()).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.strip_prefix(dir.path()).unwrap().to_path_buf())
            .collect();
        assert_eq!(names, vec![PathBuf::from("b.yaml"), PathBuf::from("sub/a.yml")]);
    }

    #[test]
    fn a_missing_path_is_an_error_naming_it() {
        let errors = FileProvider::new(vec![PathBuf::from("/nonexistent/rauta.yaml")])
            .load()
            .unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].to_string().starts_with("/nonexistent/rauta.yaml: "),
            "{}",
            errors[0]
        );
    }

    fn service(name: &str, port: u16) -> String {
        format!("apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec: {{ports: [{{port: {port}}}]}}\n")
    }

    /// `namespace/name:port` of every Service loaded, sorted.
    fn services(loaded: &Loaded) -> Vec<String> {
        let mut out: Vec<String> = loaded
            .inputs
            .services
            .iter()
            .map(|s| {
                let port = s
                    .resource
                    .spec
                    .as_ref()
                    .and_then(|s| s.ports.as_ref())
                    .map_or(0, |p| p[0].port);
                format!("{}:{port}", s.resource.metadata.name.as_deref().unwrap_or_default())
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn only_changed_files_are_parsed_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), service("a", 80)).unwrap();
        std::fs::write(dir.path().join("b.yaml"), service("b", 80)).unwrap();
        let mut provider = FileProvider::new(vec![dir.path().to_path_buf()]);
        assert_eq!(services(&provider.load().unwrap()), ["a:80", "b:80"]);
        assert_eq!(provider.parse_count(), 2);

        // Nothing changed: nothing is parsed.
        assert_eq!(services(&provider.load().unwrap()), ["a:80", "b:80"]);
        assert_eq!(provider.parse_count(), 2);

        // One file changes, with the same length: only it is parsed.
        std::fs::write(dir.path().join("a.yaml"), service("a", 81)).unwrap();
        assert_eq!(services(&provider.load().unwrap()), ["a:81", "b:80"]);
        assert_eq!(provider.parse_count(), 3);

        // Rewritten with the same bytes: read, not parsed.
        std::fs::write(dir.path().join("b.yaml"), service("b", 80)).unwrap();
        assert_eq!(services(&provider.load().unwrap()), ["a:81", "b:80"]);
        assert_eq!(provider.parse_count(), 3);
    }

    #[test]
    fn deleted_and_renamed_files_leave_and_move() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), service("a", 80)).unwrap();
        std::fs::write(dir.path().join("b.yaml"), service("b", 80)).unwrap();
        let mut provider = FileProvider::new(vec![dir.path().to_path_buf()]);
        provider.load().unwrap();

        std::fs::remove_file(dir.path().join("a.yaml")).unwrap();
        assert_eq!(services(&provider.load().unwrap()), ["b:80"]);

        std::fs::rename(dir.path().join("b.yaml"), dir.path().join("c.yaml")).unwrap();
        let loaded = provider.load().unwrap();
        assert_eq!(services(&loaded), ["b:80"]);
        // Errors and statuses must name the file as it is called now.
        let source = loaded.inputs.services[0].source.as_ref().unwrap();
        assert!(source.file.ends_with("c.yaml"), "{}", source.file);

        // A file renamed away from .yaml is no longer read.
        std::fs::rename(dir.path().join("c.yaml"), dir.path().join("c.txt")).unwrap();
        assert!(services(&provider.load().unwrap()).is_empty());
    }

    #[test]
    fn a_file_that_breaks_rejects_the_load_until_it_is_fixed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), service("a", 80)).unwrap();
        std::fs::write(dir.path().join("b.yaml"), service("b", 80)).unwrap();
        let mut provider = FileProvider::new(vec![dir.path().to_path_buf()]);
        provider.load().unwrap();

        std::fs::write(
            dir.path().join("b.yaml"),
            "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {ports: [{port: x}]}\n",
        )
        .unwrap();
        for _ in 0..2 {
            // Still broken on the next load too: a cache must not hide it.
            let errors = provider.load().unwrap_err();
            assert_eq!(errors.len(), 1);
            let message = errors[0].to_string();
            assert!(message.contains("b.yaml"), "{message}");
            assert!(message.contains("Service default/b: spec.ports[0].port"), "{message}");
        }

        std::fs::write(dir.path().join("b.yaml"), service("b", 80)).unwrap();
        assert_eq!(services(&provider.load().unwrap()), ["a:80", "b:80"]);
    }

    #[test]
    fn generations_survive_the_cache_and_move_with_the_spec() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), service("a", 80)).unwrap();
        std::fs::write(dir.path().join("b.yaml"), service("b", 80)).unwrap();
        let mut provider = FileProvider::new(vec![dir.path().to_path_buf()]);
        let generation = |loaded: &Loaded, name: &str| {
            loaded
                .inputs
                .services
                .iter()
                .find(|s| s.resource.metadata.name.as_deref() == Some(name))
                .and_then(|s| s.resource.metadata.generation)
        };
        let first = provider.load().unwrap();
        assert_eq!((generation(&first, "a"), generation(&first, "b")), (Some(1), Some(1)));
        std::fs::write(dir.path().join("a.yaml"), service("a", 81)).unwrap();
        let second = provider.load().unwrap();
        assert_eq!((generation(&second, "a"), generation(&second, "b")), (Some(2), Some(1)));
        // The same spec in a different file (metadata reordered) keeps its generation.
        std::fs::write(
            dir.path().join("a.yaml"),
            "kind: Service\napiVersion: v1\nspec: {ports: [{port: 81}]}\nmetadata: {name: a}\n",
        )
        .unwrap();
        assert_eq!(generation(&provider.load().unwrap(), "a"), Some(2));
    }
}
