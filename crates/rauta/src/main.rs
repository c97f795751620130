//! `rauta`: the Kubernetes Gateway API gateway. See `rauta --help`.

mod admin;
mod allocator;
mod cli;
mod echo_cmd;
mod gateway;
mod logging;
mod quickstart;
mod reload_metrics;
mod run;
mod status_store;
mod validate;

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: allocator::Allocator = allocator::Allocator;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let outcome = match cli.command {
        cli::Command::Run(args) => run::main(args),
        cli::Command::Validate(args) => validate::main(args),
        cli::Command::Quickstart(args) => quickstart::main(args),
        cli::Command::Echo(args) => echo_cmd::main(args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rauta: {e:#}");
            ExitCode::FAILURE
        }
    }
}
