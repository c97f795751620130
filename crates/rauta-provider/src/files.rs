//! Reading `-f PATH` arguments: files, or directories read recursively for `*.yaml` / `*.yml`.

use std::path::{Path, PathBuf};

use rauta_translate::{Inputs, ParseError, Problem};

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
#[derive(Clone, Debug)]
pub struct FileProvider {
    paths: Vec<PathBuf>,
}

impl FileProvider {
    /// A provider over `paths` (files or directories).
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Self { paths }
    }

    /// The paths given on the command line.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Reads and parses every file; returns all errors when any document fails.
    pub fn load(&self) -> Result<Loaded, Vec<LoadError>> {
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
        for file in &loaded.files {
            let name = file.display().to_string();
            let text = match std::fs::read_to_string(file) {
                Ok(text) => text,
                Err(source) => {
                    errors.push(LoadError::Io { path: name, source });
                    continue;
                }
            };
            match rauta_translate::parse_documents(&text, &name, &mut loaded.inputs) {
                Ok(warnings) => loaded.warnings.extend(warnings),
                Err(e) => errors.push(LoadError::Parse(e)),
            }
        }
        if errors.is_empty() { Ok(loaded) } else { Err(errors) }
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
}
