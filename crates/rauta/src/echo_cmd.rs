//! `rauta echo`: an echo backend for testing gateways (answers like the conformance suite's).

use std::process::ExitCode;

use anyhow::Context;
use rauta_echo::{EchoConfig, EchoIdentity, EchoServer, RouteKind};
use tokio::net::{TcpListener, UdpSocket};

use crate::cli::{EchoArgs, EchoMode, LogFormat};
use crate::{logging, run};

pub fn main(args: EchoArgs) -> anyhow::Result<ExitCode> {
    logging::init(LogFormat::Text);
    let identity = EchoIdentity {
        namespace: args.namespace,
        pod: args.pod,
        service: args.service,
        ingress: std::env::var("INGRESS_NAME").unwrap_or_default(),
    };
    // One line per echoed request on stdout, as echo-basic prints it: tools grep it to verify mirroring.
    let config = EchoConfig::new(identity).with_request_log(|r| {
        if r.route == RouteKind::Echo {
            println!("{}", r.echo_line());
        }
    });
    let server = EchoServer::new(config);
    let runtime = run::single_threaded()?;
    runtime.block_on(async move {
        let address = args.address;
        let stopped = run::stop_signal()?;
        match args.mode {
            EchoMode::Http => {
                let listener = TcpListener::bind(address)
                    .await
                    .with_context(|| format!("cannot bind {address}"))?;
                tracing::info!(%address, "echo (HTTP/1.1 and h2c) listening");
                server.serve_http(listener, stopped).await?;
            }
            EchoMode::Tcp => {
                let listener = TcpListener::bind(address)
                    .await
                    .with_context(|| format!("cannot bind {address}"))?;
                tracing::info!(%address, "echo (TCP) listening");
                server.serve_tcp(listener, stopped).await?;
            }
            EchoMode::Udp => {
                let socket = UdpSocket::bind(address)
                    .await
                    .with_context(|| format!("cannot bind {address}"))?;
                tracing::info!(%address, "echo (UDP) listening");
                server.serve_udp(socket, stopped).await?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
