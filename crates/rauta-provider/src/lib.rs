//! Providers build the translator's [`Inputs`](rauta_translate::Inputs) from the outside world.
//!
//! The file provider reads ordinary Kubernetes YAML from files and directories and watches them;
//! a Kubernetes provider (reflectors) will build the same `Inputs` later. Providers do the I/O so
//! the translator never has to.

mod file_cache;
mod files;
mod generation;
mod watch;

pub use files::{FileProvider, LoadError, Loaded};
pub use generation::GenerationTracker;
pub use watch::{WatchError, watch_paths};
