//! A `confab serve` process for tests and benchmarks: started on free loopback
//! ports, its HTTP address read from the banner it prints, stopped when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot start {bin}: {source}")]
    Spawn {
        bin: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} exited before printing its address")]
    NoBanner(PathBuf),
}

pub struct ServerProcess {
    child: Child,
    http: String,
}

/// The binary tests use: `CONFAB_BIN`, else the workspace's debug build.
pub fn default_binary() -> PathBuf {
    std::env::var_os("CONFAB_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/confab")
        })
}

impl ServerProcess {
    /// Start `bin serve` on 127.0.0.1 with OS-chosen ports and the given
    /// environment (API keys, log filter).
    pub fn start(bin: &Path, env: &[(&str, &str)]) -> Result<Self, ServerError> {
        Self::spawn(bin, env, Stdio::null())
    }

    /// [`start`](Self::start), with the server's log written to `log`.
    pub fn start_logging(
        bin: &Path,
        env: &[(&str, &str)],
        log: &Path,
    ) -> Result<Self, ServerError> {
        let file = std::fs::File::create(log).map_err(|source| ServerError::Spawn {
            bin: bin.to_path_buf(),
            source,
        })?;
        Self::spawn(bin, env, Stdio::from(file))
    }

    fn spawn(bin: &Path, env: &[(&str, &str)], stderr: Stdio) -> Result<Self, ServerError> {
        let mut child = Command::new(bin)
            .args(["serve", "--bind", "127.0.0.1:0", "--udp-port", "0"])
            // Nothing of a test run is kept, unless the caller names a database.
            .env("CONFAB_DATABASE_URL", "sqlite::memory:")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|source| ServerError::Spawn {
                bin: bin.to_path_buf(),
                source,
            })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| ServerError::NoBanner(bin.to_path_buf()))?;
        let mut lines = BufReader::new(stdout).lines();
        let http = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                return Err(ServerError::NoBanner(bin.to_path_buf()));
            };
            if let Some(url) = line.split("Open a meeting:").nth(1) {
                let url = url.trim().trim_end_matches('/');
                break url.strip_prefix("http://").unwrap_or(url).to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Self { child, http })
    }

    /// `host:port` of the HTTP and WebSocket listener.
    pub fn http(&self) -> &str {
        &self.http
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
