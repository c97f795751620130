//! Every scenario, grouped by area, and the shared setup (base manifests and their pods).

mod backend_client_cert;
mod backend_tls;
mod backends;
mod client_certs;
mod cors;
mod filters;
mod gateway;
mod grpc;
mod https;
mod invalid;
mod listener_sets;
mod matching;
mod redirects;
mod tls_routes;

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::catalog::{self, Profile};
use crate::claims::Need;
use crate::converge::Timeouts;
use crate::ctx::Shared;
use crate::manifest::{self, Key, Placeholders};
use crate::pods::PodNetwork;
use crate::scenario::Scenario;
use crate::suite::Selection;

/// The class under test, as the base manifests name it.
pub const GATEWAY_CLASS: &str = "gateway-conformance";

/// Every scenario written so far.
pub fn all() -> impl Iterator<Item = Scenario> {
    [
        gateway::ALL,
        grpc::ALL,
        https::ALL,
        matching::ALL,
        invalid::ALL,
        filters::ALL,
        redirects::ALL,
        backends::ALL,
        cors::ALL,
        backend_tls::ALL,
        backend_client_cert::ALL,
        client_certs::ALL,
        tls_routes::ALL,
        listener_sets::ALL,
    ]
    .into_iter()
    .flat_map(|group| group.iter().copied())
}

/// The scenario of an official test.
pub fn find(name: &str) -> Option<Scenario> {
    all().find(|s| s.name == name)
}

/// Official tests deliberately without a standalone scenario, and why.
const NOT_STANDALONE: &[(&str, &str)] = &[];

/// Why an official test has no scenario.
pub fn why_missing(name: &str) -> &'static str {
    NOT_STANDALONE
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("no standalone scenario written yet", |(_, why)| why)
}

/// Reads the base manifests (plus the HTTPS ones when HTTPS listeners are met), makes the
/// suite's certificates and CAs, and starts the pods of the base Deployments.
pub async fn setup(binary: PathBuf, manifests: &Path, work: &Path, selection: &Selection) -> anyhow::Result<Shared> {
    let path = manifests.join("base").join("manifests.yaml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let docs = manifest::parse(&text, &path.display().to_string())?;
    let class = docs
        .iter()
        .find(|d| Key::of(d) == Some(Key::cluster("GatewayClass", GATEWAY_CLASS)))
        .ok_or_else(|| anyhow::anyhow!("{} defines no GatewayClass {GATEWAY_CLASS}", path.display()))?;
    let controller = manifest::str_at(class, "spec.controllerName").to_owned();
    anyhow::ensure!(
        !controller.is_empty(),
        "GatewayClass {GATEWAY_CLASS} has no controllerName"
    );
    let placeholders = Placeholders(vec![("CONTROLLER_NAME".into(), controller.clone())]);
    let mut base = manifest::parse(&placeholders.apply(&text), "base")?;
    std::fs::create_dir_all(work).with_context(|| format!("cannot create {}", work.display()))?;
    if selection.met(Need::HttpsListeners) {
        let https = manifests.join("base").join("https.yaml");
        let text = std::fs::read_to_string(&https).with_context(|| format!("cannot read {}", https.display()))?;
        base.extend(manifest::parse(
            &placeholders.apply(&text),
            &https.display().to_string(),
        )?);
    }
    let (material, certs) = crate::certs::suite_material(&work.join(".certs"))?;
    base.extend(material);
    let network = PodNetwork::new();
    let mut base_pods = Vec::new();
    for d in base.iter().filter(|d| manifest::str_at(d, "kind") == "Deployment") {
        base_pods.extend(network.start(d, &certs).await?);
    }
    Ok(Shared {
        binary,
        manifests: manifests.to_path_buf(),
        work: work.to_path_buf(),
        timeouts: Timeouts::default(),
        network,
        base,
        base_pods,
        controller,
        certs,
    })
}

/// Prints what would become of each test.
pub fn list(profiles: &[&'static Profile], selection: &Selection) {
    for test in catalog::TESTS.iter().filter(|t| profiles.iter().any(|p| p.counts(t))) {
        let levels: Vec<String> = profiles
            .iter()
            .filter(|p| p.counts(test))
            .map(|p| format!("{}:{}", p.name, if p.is_extended(test) { "ext" } else { "core" }))
            .collect();
        let fate = match crate::suite::plan_description(test, selection) {
            Ok(()) => "run".to_owned(),
            Err(why) => why,
        };
        println!("{:<58} {:<22} {fate}", test.name, levels.join(","));
    }
}
