//! `rauta quickstart`: the newcomer's first command.
//!
//! Starts the gateway on `examples/quickstart/` (or the copy built into the binary, when that
//! directory is not there) with in-process echo backends on the addresses its EndpointSlices name,
//! and prints `curl` lines to try.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use rauta_echo::{EchoConfig, EchoIdentity, EchoServer};
use rauta_provider::FileProvider;
use tokio::net::TcpListener;

use crate::cli::QuickstartArgs;
use crate::{logging, run};

/// The example, built in so that `rauta quickstart` works from any directory.
const EMBEDDED: [(&str, &str); 3] = [
    (
        "00-gateway.yaml",
        include_str!("../../../examples/quickstart/00-gateway.yaml"),
    ),
    (
        "10-backends.yaml",
        include_str!("../../../examples/quickstart/10-backends.yaml"),
    ),
    (
        "20-routes.yaml",
        include_str!("../../../examples/quickstart/20-routes.yaml"),
    ),
];

/// Demo backends: (Service, pod, address). Must agree with `10-backends.yaml`.
const BACKENDS: [(&str, &str, &str); 3] = [
    ("web-v1", "web-v1-7d4b9c", "127.0.0.1:9101"),
    ("web-v2", "web-v2-5f8c2a", "127.0.0.1:9102"),
    ("api", "api-6c9d1e", "127.0.0.1:9103"),
];

pub fn main(args: QuickstartArgs) -> anyhow::Result<ExitCode> {
    logging::init(args.serve.log_format);
    // Keeps the embedded copy (if used) alive while the gateway runs.
    let (dir, _embedded) = if args.dir.is_dir() {
        (args.dir.clone(), None)
    } else {
        let tmp = tempfile::tempdir().context("cannot create a directory for the embedded example")?;
        for (name, text) in EMBEDDED {
            std::fs::write(tmp.path().join(name), text).with_context(|| format!("cannot write {name}"))?;
        }
        (tmp.path().to_path_buf(), Some(tmp))
    };
    let runtimes = run::Runtimes::start(args.serve.workers)?;
    let workers = runtimes.worker_handles();
    runtimes.control.block_on(async move {
        for (service, pod, address) in BACKENDS {
            start_backend(service, pod, address).await?;
        }
        let admin = args.serve.admin_address;
        run::serve(FileProvider::new(vec![dir.clone()]), args.serve, workers, |_| {
            print_tour(&dir, admin)
        })
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn start_backend(service: &'static str, pod: &'static str, address: &'static str) -> anyhow::Result<()> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot start the demo backend {service} on {address} (is the port in use?)"))?;
    let identity = EchoIdentity {
        namespace: "default".into(),
        pod: pod.into(),
        service: service.into(),
        ..Default::default()
    };
    let server = EchoServer::new(EchoConfig::new(identity));
    tokio::spawn(async move {
        if let Err(e) = server.serve_http(listener, std::future::pending()).await {
            tracing::error!(service, error = %e, "demo backend stopped");
        }
    });
    Ok(())
}

fn print_tour(dir: &std::path::Path, admin: std::net::SocketAddr) {
    let dir = PathBuf::from(dir);
    // CLI output for a person, on stderr so it does not mix with the access log on stdout.
    eprintln!(
        "\nRauta is serving {} on http://localhost:8080 (admin: http://{admin}). Try:\n\n\
         \x20 curl -s localhost:8080/ | grep service                     # 90% web-v1, 10% web-v2\n\
         \x20 curl -s -H 'x-canary: always' localhost:8080/ | grep service  # header routing: web-v2\n\
         \x20 curl -s localhost:8080/api/users                           # rewritten to /users, x-via added\n\
         \x20 curl -si localhost:8080/old-docs/intro | head -3             # 301 redirect to /docs/intro\n\
         \x20 curl -s {admin}/status                               # every resource's conditions\n\n\
         Edit the YAML there and save: changes apply without a restart. Ctrl-C stops.\n",
        dir.display()
    );
}
