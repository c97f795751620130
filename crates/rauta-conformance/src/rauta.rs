//! The gateway under test: one `rauta run` process per test, serving the test's directory, its
//! output kept in a log file next to it.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client;
use anyhow::Context;

/// How long Rauta may take to serve its first configuration.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `rauta run`; dropping it kills the process.
#[derive(Debug)]
pub struct Rauta {
    child: Child,
    admin: SocketAddr,
    log: PathBuf,
}

impl Rauta {
    /// Starts `binary run -f config_dir` with its admin server on `admin`, logging to `log`.
    pub fn spawn(binary: &Path, config_dir: &Path, admin: SocketAddr, log: &Path) -> anyhow::Result<Self> {
        let out = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(binary)
            .arg("run")
            .arg("-f")
            .arg(config_dir)
            .args([
                "--admin-address",
                &admin.to_string(),
                "--access-log",
                "on",
                "--log-format",
                "text",
            ])
            .args(["--drain-timeout", "1s", "--workers", "2"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        Ok(Self {
            child,
            admin,
            log: log.to_path_buf(),
        })
    }

    /// Waits until `/ready` answers 200.
    pub async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        while start.elapsed() < READY_TIMEOUT {
            if let Ok(Some(exit)) = self.child.try_wait() {
                anyhow::bail!("rauta exited with {exit} before serving; see {}", self.log.display());
            }
            if client::get(self.admin, "/ready").await.is_ok_and(|r| r.status == 200) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        anyhow::bail!("rauta not ready after {READY_TIMEOUT:?}; see {}", self.log.display())
    }

    /// Why the process is gone, if it is.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(exit)) => Some(format!("rauta exited with {exit}; see {}", self.log.display())),
            Ok(None) => None,
            Err(e) => Some(format!("cannot query rauta: {e}")),
        }
    }
}

impl Drop for Rauta {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every status Rauta reports at `admin`: `{kind, namespace, name, status}` objects.
pub async fn statuses(admin: SocketAddr) -> Result<Vec<serde_json::Value>, String> {
    let reply = client::get(admin, "/status").await?;
    if reply.status != 200 {
        return Err(format!("/status answered {}", reply.status));
    }
    serde_json::from_slice(&reply.body).map_err(|e| format!("/status is not JSON: {e}"))
}
