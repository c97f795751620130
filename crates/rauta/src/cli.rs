//! The command line: a contract that users and tests depend on.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Rauta: a Kubernetes Gateway API gateway.
#[derive(Debug, Parser)]
#[command(name = "rauta", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the Gateway API resources in files or directories, reloading them on change.
    Run(RunArgs),
    /// Translate resources without serving; print every status; fail if any is invalid.
    Validate(ValidateArgs),
    /// Start the gateway on examples/quickstart with demo backends, and print what to try.
    Quickstart(QuickstartArgs),
    /// Run an echo backend that answers with what it received (as the conformance suite's).
    Echo(EchoArgs),
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// On or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Admin server address (/ready, /healthz, /metrics, /config, /status).
    #[arg(long, default_value = "127.0.0.1:9901")]
    pub admin_address: SocketAddr,
    /// Format of log lines (on stderr).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// One JSON access-log line per request on stdout.
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub access_log: Switch,
    /// Worker threads (default: the CPUs this process may run on).
    #[arg(long)]
    pub workers: Option<usize>,
    /// How long in-flight requests may take to finish after SIGTERM/SIGINT.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
}

#[derive(Clone, Debug, Args)]
pub struct RunArgs {
    /// A YAML file or a directory (read recursively); repeat for several.
    #[arg(short = 'f', long = "file", required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Clone, Debug, Args)]
pub struct ValidateArgs {
    /// A YAML file or a directory (read recursively); repeat for several.
    #[arg(short = 'f', long = "file", required = true)]
    pub paths: Vec<PathBuf>,
}

#[derive(Clone, Debug, Args)]
pub struct QuickstartArgs {
    /// Directory of the quickstart resources (the embedded copy is used if it does not exist).
    #[arg(long, default_value = "examples/quickstart")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// What the echo server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EchoMode {
    Http,
    Tcp,
    Udp,
}

#[derive(Clone, Debug, Args)]
pub struct EchoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub address: SocketAddr,
    /// Protocol.
    #[arg(long, value_enum, default_value_t = EchoMode::Http)]
    pub mode: EchoMode,
    /// Namespace reported in answers (default: $NAMESPACE).
    #[arg(long, env = "NAMESPACE", default_value = "")]
    pub namespace: String,
    /// Pod name reported in answers (default: $POD_NAME).
    #[arg(long, env = "POD_NAME", default_value = "")]
    pub pod: String,
    /// Service name reported in answers (default: $SERVICE_NAME).
    #[arg(long, env = "SERVICE_NAME", default_value = "")]
    pub service: String,
}

/// Parses `10s`, `500ms`, `1m`, `2h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 10s or 500ms"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("invalid duration {s:?}: unit must be ms, s, m or h")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3 days").is_err());
        assert!(parse_duration("abc").is_err());
    }
}
