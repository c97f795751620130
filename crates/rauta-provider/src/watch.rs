//! Watching `-f` paths: any change to a YAML file below them triggers a reload.

use std::path::PathBuf;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// The paths could not be watched.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {path}: {source}")]
pub struct WatchError {
    /// The path.
    pub path: String,
    /// Why.
    pub source: notify::Error,
}

/// Watches `paths` and sends `()` once per burst of changes, after `debounce` of quiet.
///
/// The returned watcher must be kept alive for as long as changes should be reported. Directories
/// are watched recursively; a watched file is watched through its parent directory so that editors
/// that replace files (write to a temporary file, then rename) are seen too.
pub fn watch_paths(
    paths: &[PathBuf],
    debounce: Duration,
) -> Result<(notify::RecommendedWatcher, mpsc::Receiver<()>), WatchError> {
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<()>();
    let files: Vec<PathBuf> = paths
        .iter()
        .filter(|p| !p.is_dir())
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        let relevant = event
            .paths
            .iter()
            .any(|p| crate::files::is_yaml(p) || p.is_dir() || files.iter().any(|f| f == p));
        if relevant {
            let _ = raw_tx.send(());
        }
    })
    .map_err(|source| WatchError {
        path: String::new(),
        source,
    })?;
    for path in paths {
        let (target, mode) = if path.is_dir() {
            (path.clone(), RecursiveMode::Recursive)
        } else {
            let parent = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            (parent, RecursiveMode::NonRecursive)
        };
        watcher.watch(&target, mode).map_err(|source| WatchError {
            path: target.display().to_string(),
            source,
        })?;
    }
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        while raw_rx.recv().await.is_some() {
            // Debounce: wait until the burst is over, then report once.
            loop {
                match tokio::time::timeout(debounce, raw_rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            // A reload already pending covers this burst too.
            if let Err(mpsc::error::TrySendError::Closed(())) = tx.try_send(()) {
                return;
            }
        }
    });
    Ok((watcher, rx))
}
