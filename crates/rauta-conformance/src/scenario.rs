//! A scenario: Rauta's equivalent of one official test. Its resources are
//! `conformance/tests/<Name>.yaml` (when that file exists); its checks are a Rust function.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::claims::Need;
use crate::ctx::Ctx;

/// The checks of a scenario, run after its manifests are applied and Rauta serves them.
pub type Body = fn(Arc<Ctx>) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// One scenario.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// The official test's short name.
    pub name: &'static str,
    /// What the scenario needs beyond its official features.
    pub needs: &'static [Need],
    /// The checks.
    pub body: Body,
}

impl Scenario {
    /// The manifest file of this scenario (under `conformance/tests/`).
    pub fn manifest(&self) -> String {
        format!("{}.yaml", self.name)
    }
}

/// Declares a scenario whose body is an `async fn(Arc<Ctx>) -> anyhow::Result<()>`.
#[macro_export]
macro_rules! scenario {
    ($name:literal, $body:path) => {
        $crate::scenario::Scenario { name: $name, needs: &[], body: |t| Box::pin($body(t)) }
    };
    ($name:literal, $body:path, needs: [$($need:expr),*]) => {
        $crate::scenario::Scenario { name: $name, needs: &[$($need),*], body: |t| Box::pin($body(t)) }
    };
}
