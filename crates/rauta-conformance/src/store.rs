//! The runner's stand-in for the Kubernetes API server: the resources of one test, written as
//! YAML files in the directory `rauta run -f` watches.
//!
//! Creating, patching and deleting are file edits, each written atomically (a temporary file
//! whose name Rauta ignores, then a rename) so that Rauta never reads half a file. The store
//! also plays the API server's part in numbering generations: 1 for a new resource, +1 when
//! anything but `metadata` and `status` changes, so status checks can compare every condition's
//! `observedGeneration` with the generation Rauta should have assigned.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::manifest::{self, Key};

/// Kinds the runner plays itself and never hands to Rauta (Deployments become echo pods).
const RUNNER_KINDS: &[&str] = &["Deployment"];

/// One test's resources, by file.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    files: BTreeMap<String, Vec<Key>>,
    objects: HashMap<Key, Value>,
    generations: HashMap<Key, (Value, i64)>,
}

impl Store {
    /// An empty store writing into `dir` (created if missing).
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            files: BTreeMap::new(),
            objects: HashMap::new(),
            generations: HashMap::new(),
        })
    }

    /// The directory Rauta reads.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates or replaces `docs` in `file` and rewrites it.
    pub fn apply(&mut self, file: &str, docs: Vec<Value>) -> std::io::Result<()> {
        for doc in docs {
            let Some(key) = Key::of(&doc) else { continue };
            self.track_generation(&key, &doc);
            for keys in self.files.values_mut() {
                keys.retain(|k| k != &key);
            }
            self.files.entry(file.to_owned()).or_default().push(key.clone());
            self.objects.insert(key, doc);
        }
        self.write(file)
    }

    /// Replaces the whole content of `file` with `docs` (resources no longer listed are deleted).
    pub fn replace_file(&mut self, file: &str, docs: Vec<Value>) -> std::io::Result<()> {
        for key in self.files.remove(file).unwrap_or_default() {
            self.objects.remove(&key);
            self.generations.remove(&key);
        }
        self.apply(file, docs)
    }

    /// Changes one resource in place; errors if it does not exist.
    pub fn patch(&mut self, key: &Key, edit: impl FnOnce(&mut Value)) -> anyhow::Result<()> {
        let doc = self
            .objects
            .get_mut(key)
            .ok_or_else(|| anyhow::anyhow!("cannot patch {key}: no such resource"))?;
        edit(doc);
        let doc = doc.clone();
        self.track_generation(key, &doc);
        let file = self
            .file_of(key)
            .ok_or_else(|| anyhow::anyhow!("{key} is in no file"))?;
        self.write(&file)?;
        Ok(())
    }

    /// Deletes one resource; errors if it does not exist.
    pub fn delete(&mut self, key: &Key) -> anyhow::Result<()> {
        let file = self
            .file_of(key)
            .ok_or_else(|| anyhow::anyhow!("cannot delete {key}: no such resource"))?;
        if let Some(keys) = self.files.get_mut(&file) {
            keys.retain(|k| k != key);
        }
        self.objects.remove(key);
        self.generations.remove(key);
        self.write(&file)?;
        Ok(())
    }

    /// A resource.
    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Every resource of `kind`, in no particular order.
    pub fn all(&self, kind: &str) -> impl Iterator<Item = &Value> {
        self.objects.iter().filter(move |(k, _)| k.kind == kind).map(|(_, v)| v)
    }

    /// The generation Rauta should report for a resource.
    pub fn generation(&self, key: &Key) -> Option<i64> {
        self.generations.get(key).map(|(_, g)| *g)
    }

    fn file_of(&self, key: &Key) -> Option<String> {
        self.files
            .iter()
            .find(|(_, keys)| keys.contains(key))
            .map(|(f, _)| f.clone())
    }

    fn track_generation(&mut self, key: &Key, doc: &Value) {
        let spec = manifest::spec_of(doc);
        let generation = match self.generations.get(key) {
            Some((old, g)) if *old == spec => *g,
            Some((_, g)) => g + 1,
            None => 1,
        };
        self.generations.insert(key.clone(), (spec, generation));
    }

    /// Writes `file` atomically: Rauta reads only `*.yaml` and skips hidden files, so the
    /// temporary file is invisible to it until the rename.
    fn write(&self, file: &str) -> std::io::Result<()> {
        let keys = self.files.get(file).map(Vec::as_slice).unwrap_or_default();
        let docs: Vec<&Value> = keys
            .iter()
            .filter(|k| !RUNNER_KINDS.contains(&k.kind.as_str()))
            .filter_map(|k| self.objects.get(k))
            .collect();
        let path = self.dir.join(file);
        let tmp = self.dir.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, manifest::render(&docs))?;
        std::fs::rename(&tmp, &path)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn route(backend: &str) -> Value {
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
               "metadata": {"name": "r", "namespace": "ns"}, "spec": {"backend": backend}})
    }

    #[test]
    fn generations_follow_spec_changes_and_files_follow_edits() {
        let dir = std::env::temp_dir().join(format!("rauta-conformance-store-{}", fastrand::u64(..)));
        let mut store = Store::new(&dir).unwrap();
        let key = Key::new("HTTPRoute", "ns", "r");
        let deployment = json!({"kind": "Deployment", "metadata": {"name": "d", "namespace": "ns"}});
        store.apply("test.yaml", vec![route("a"), deployment]).unwrap();
        assert_eq!(store.generation(&key), Some(1));
        let text = std::fs::read_to_string(dir.join("test.yaml")).unwrap();
        assert!(text.contains("HTTPRoute") && !text.contains("Deployment"), "{text}");

        store
            .patch(&key, |r| r["metadata"]["labels"] = json!({"x": "y"}))
            .unwrap();
        assert_eq!(store.generation(&key), Some(1), "metadata is not spec");
        store.patch(&key, |r| r["spec"]["backend"] = json!("b")).unwrap();
        assert_eq!(store.generation(&key), Some(2));
        store.apply("test.yaml", vec![route("b")]).unwrap();
        assert_eq!(
            store.generation(&key),
            Some(2),
            "re-applying the same spec keeps the generation"
        );

        store.delete(&key).unwrap();
        assert!(store.get(&key).is_none());
        assert!(
            !std::fs::read_to_string(dir.join("test.yaml"))
                .unwrap()
                .contains("HTTPRoute")
        );
        assert!(store.delete(&key).is_err());
        let hidden: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "temporary files are renamed away");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
