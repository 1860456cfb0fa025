//! Janus Gateway as the peer in the side-by-side run: Debian's `janus`
//! package, started with a configuration of our own (written into the run's
//! output folder) that loads only the VideoRoom plugin and the WebSocket
//! transport, with its API on loopback.
//!
//! Janus never gathers loopback candidates (it skips `IFF_LOOPBACK`
//! interfaces), so its media uses a private address on a veth pair this
//! module creates and removes afterwards. The pair's other end goes nowhere:
//! traffic to the address is local delivery, as on loopback, and nothing
//! outside the machine can reach it. That needs root (CAP_NET_ADMIN).

use std::fs::{self, File};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's package puts Janus' modules; `JANUS_LIB_DIR` overrides.
const DEBIAN_LIB_DIR: &str = "/usr/lib/x86_64-linux-gnu/janus";
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// The interface for Janus' media, its unconnected peer, and its address
/// (RFC 1918, /32).
const MEDIA_INTERFACE: &str = "confab-bench0";
const MEDIA_PEER: &str = "confab-bench1";
pub const MEDIA_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 203, 0, 1));

#[derive(Debug, thiserror::Error)]
pub enum JanusError {
    #[error("cannot prepare {path}: {source}")]
    Files {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start janus (is Debian's `janus` package installed?): {0}")]
    Spawn(std::io::Error),
    #[error("janus did not listen on {addr} within {START_TIMEOUT:?}; see {log}")]
    NotListening { addr: SocketAddr, log: PathBuf },
    #[error("no free loopback port: {0}")]
    Port(std::io::Error),
    #[error("cannot set up the media interface ({0}); Janus needs one, and that needs root")]
    Interface(String),
}

/// A veth pair with one address on one end, removed when dropped.
struct MediaInterface;

impl MediaInterface {
    fn create() -> Result<Self, JanusError> {
        // A crashed earlier run may have left it behind.
        let _ = ip(&["link", "del", MEDIA_INTERFACE]);
        ip(&[
            "link",
            "add",
            MEDIA_INTERFACE,
            "type",
            "veth",
            "peer",
            "name",
            MEDIA_PEER,
        ])?;
        let iface = MediaInterface;
        ip(&[
            "addr",
            "add",
            &format!("{MEDIA_IP}/32"),
            "dev",
            MEDIA_INTERFACE,
        ])?;
        ip(&["link", "set", MEDIA_PEER, "up"])?;
        ip(&["link", "set", MEDIA_INTERFACE, "up"])?;
        Ok(iface)
    }
}

impl Drop for MediaInterface {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", MEDIA_INTERFACE]);
    }
}

fn ip(args: &[&str]) -> Result<(), JanusError> {
    let out = Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .output()
        .map_err(|e| JanusError::Interface(format!("ip {}: {e}", args.join(" "))))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(JanusError::Interface(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

pub struct JanusProcess {
    child: Child,
    addr: SocketAddr,
    version: String,
    // Dropped after the process (fields drop in order, after Drop::drop).
    _media: MediaInterface,
}

impl JanusProcess {
    /// Write the configuration into `dir`, start Janus, and wait until its
    /// WebSocket transport accepts connections.
    pub fn start(dir: &Path) -> Result<Self, JanusError> {
        let files = |source| JanusError::Files {
            path: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(files)?;
        let media = MediaInterface::create()?;
        let lib = std::env::var("JANUS_LIB_DIR").unwrap_or_else(|_| DEBIAN_LIB_DIR.into());
        let port = free_port()?;
        for (name, text) in config_files(dir, Path::new(&lib), port).map_err(files)? {
            fs::write(dir.join(name), text).map_err(files)?;
        }
        let log_path = dir.join("janus.log");
        let log = File::create(&log_path).map_err(files)?;
        let log_err = log.try_clone().map_err(files)?;
        let child = Command::new("janus")
            .arg("--configs-folder")
            .arg(dir)
            .arg("--config")
            .arg(dir.join("janus.jcfg"))
            .arg("--disable-colors")
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(JanusError::Spawn)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut janus = Self {
            child,
            addr,
            version: janus_version(),
            _media: media,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(janus);
            }
            let exited = matches!(janus.child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() >= deadline {
                return Err(JanusError::NotListening {
                    addr,
                    log: log_path,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn version(&self) -> &str {
        &self.version
    }
}

impl Drop for JanusProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, JanusError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(JanusError::Port)?;
    Ok(listener.local_addr().map_err(JanusError::Port)?.port())
}

fn janus_version() -> String {
    Command::new("janus")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
                l.strip_prefix("Janus version:")
                    .map(|v| v.trim().to_string())
            })
        })
        .map(|v| match v.split_once('(') {
            Some((_, rest)) => format!("Janus {}", rest.trim_end_matches(')')),
            None => format!("Janus {v}"),
        })
        .unwrap_or_else(|| "Janus (version unknown)".into())
}

/// Every module in `folder` except `keep`, as Janus' `disable` list.
fn disable_all_but(folder: &Path, keep: &str) -> std::io::Result<String> {
    let mut names = Vec::new();
    if let Ok(entries) = fs::read_dir(folder) {
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().to_string();
            if name.ends_with(".so") && name != keep {
                names.push(name);
            }
        }
    }
    names.sort();
    Ok(names.join(","))
}

fn config_files(dir: &Path, lib: &Path, port: u16) -> std::io::Result<Vec<(&'static str, String)>> {
    let plugins = lib.join("plugins");
    let transports = lib.join("transports");
    let events = lib.join("events");
    let loggers = lib.join("loggers");
    let main = format!(
        r#"general: {{
	configs_folder = "{dir}"
	plugins_folder = "{plugins}"
	transports_folder = "{transports}"
	events_folder = "{events}"
	loggers_folder = "{loggers}"
	debug_level = 3
	session_timeout = 120
	protected_folders = []
}}
media: {{
	rtp_port_range = "20000-40000"
}}
nat: {{
	nice_debug = false
	ice_enforce_list = "{MEDIA_INTERFACE}"
	ignore_mdns = true
}}
plugins: {{
	disable = "{disabled_plugins}"
}}
transports: {{
	disable = "{disabled_transports}"
}}
events: {{
	broadcast = false
	disable = "{disabled_events}"
}}
loggers: {{
	disable = "{disabled_loggers}"
}}
"#,
        dir = dir.display(),
        plugins = plugins.display(),
        transports = transports.display(),
        events = events.display(),
        loggers = loggers.display(),
        disabled_plugins = disable_all_but(&plugins, "libjanus_videoroom.so")?,
        disabled_transports = disable_all_but(&transports, "libjanus_websockets.so")?,
        disabled_events = disable_all_but(&events, "")?,
        disabled_loggers = disable_all_but(&loggers, "")?,
    );
    let websockets = format!(
        r#"general: {{
	json = "compact"
	ws = true
	ws_port = {port}
	ws_ip = "127.0.0.1"
	wss = false
}}
admin: {{
	admin_ws = false
	admin_wss = false
}}
"#
    );
    // Rooms are created by the bots.
    let videoroom = "general: {\n}\n".to_string();
    Ok(vec![
        ("janus.jcfg", main),
        ("janus.transport.websockets.jcfg", websockets),
        ("janus.plugin.videoroom.jcfg", videoroom),
    ])
}
