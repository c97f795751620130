//! `rauta echo`: an echo backend for testing gateways (answers like the conformance suite's).

use std::process::ExitCode;

use crate::cli::EchoArgs;

pub fn main(_args: EchoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("echo: wired once crates/rauta-echo lands")
}
