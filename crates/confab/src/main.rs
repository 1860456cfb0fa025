//! The `confab` binary: one process runs the whole meeting stack.
//!
//! `serve` resolves the configuration ([`config`]), starts the media plane
//! (`confab-sfu`: UDP demux and media workers), the conference control
//! (`confab-room`) and the HTTP/WebSocket app (`confab-signal`), which also
//! serves the embedded web app, behind the server's listeners ([`front`]:
//! the guarded accept loop of [`listener`], HTTPS with certificates from
//! files or ACME through [`tls`] and [`acme`]). `token` mints access tokens
//! for the configured key; `check-config` validates a configuration file.

mod acme;
mod check_cmd;
mod config;
mod dial_in;
mod front;
mod listener;
mod logging;
mod plan_cmd;
mod tls;
mod user_cmd;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use confab_room::{Limits, Rooms};
use confab_sfu::{Sfu, SfuConfig};
use confab_signal::{AppState, Asset, Keys, VideoGrant};
use confab_store::Store;
use rand::Rng;

use config::{Config, Overrides};

static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

#[derive(Parser)]
#[command(name = "confab", version, about = "Self-hosted video meetings")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: signalling, media, web app.
    Serve {
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Size servers for a number of meetings (traffic and machines needed).
    Plan(plan_cmd::PlanArgs),
    /// Manage the built-in users who sign in with a password (and a code).
    User {
        #[command(flatten)]
        overrides: Overrides,
        #[command(subcommand)]
        action: user_cmd::UserAction,
    },
    /// Check a configuration file as `serve` would load it, without starting.
    CheckConfig {
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Print an access token for the configured API key.
    Token {
        #[command(flatten)]
        overrides: Overrides,
        /// Room the token may join.
        #[arg(long)]
        room: String,
        /// Participant identity.
        #[arg(long)]
        identity: String,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
        /// Lifetime, e.g. 90s, 30m, 1h, 7d.
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: Duration,
        /// Join without being seen by others (recorders, bots).
        #[arg(long)]
        hidden: bool,
        /// Receive only: no publishing of media or data.
        #[arg(long)]
        subscribe_only: bool,
    },
}

fn parse_ttl(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with s, m, h or d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{s:?}: unit must be s, m, h or d")),
    };
    if secs == 0 || secs > 366 * 86_400 {
        return Err("ttl must be between 1s and 366d".into());
    }
    Ok(Duration::from_secs(secs))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { overrides } => serve(overrides),
        Command::CheckConfig { overrides } => match check_cmd::run(&overrides) {
            Ok(out) => print_out(&out),
            Err(e) => fail(&e),
        },
        Command::Plan(args) => match plan_cmd::run(args) {
            Ok(out) => print_out(&out),
            Err(e) => fail(&e),
        },
        Command::User { overrides, action } => {
            let config = match Config::load(&overrides) {
                Ok(c) => c,
                Err(e) => return fail(&e.to_string()),
            };
            match user_cmd::run(&config.database_url.0, action) {
                Ok(out) => print_out(&out),
                Err(e) => fail(&e),
            }
        }
        Command::Token {
            overrides,
            room,
            identity,
            name,
            ttl,
            hidden,
            subscribe_only,
        } => {
            let config = match Config::load(&overrides) {
                Ok(c) => c,
                Err(e) => return fail(&e.to_string()),
            };
            if config.keys.is_empty() {
                return fail(
                    "no API key configured: set CONFAB_API_KEY and CONFAB_API_SECRET, or [keys] in the config file",
                );
            }
            let grant = VideoGrant {
                room_join: true,
                room,
                hidden,
                can_publish: subscribe_only.then_some(false),
                can_publish_data: subscribe_only.then_some(false),
                ..Default::default()
            };
            match Keys::new(config.keys).mint(&identity, &name, grant, ttl) {
                Some(t) => print_out(&t),
                None => fail("could not sign the token"),
            }
        }
    }
}

/// Print a command's result; a closed pipe (`| head`) is not an error.
fn print_out(text: &str) -> ExitCode {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{text}");
    ExitCode::SUCCESS
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("confab: {msg}");
    ExitCode::FAILURE
}

fn serve(overrides: Overrides) -> ExitCode {
    // Logs go to stderr, so stdout carries only the banner and command output.
    logging::init();
    let mut config = match Config::load(&overrides) {
        Ok(c) => c,
        Err(e) => {
            fail(&e.to_string());
            // Distinct from other failures so a service manager need not restart it (see the
            // Debian package's unit): the file has to be fixed first.
            return ExitCode::from(CONFIG_ERROR);
        }
    };
    let dev_key = config.keys.is_empty().then(|| {
        let key = format!("dev{}", random_text(8));
        let secret = random_text(40);
        config.keys.insert(key.clone(), secret.clone());
        (key, secret)
    });

    let sfu = match Sfu::start(SfuConfig {
        bind: config.media_bind,
        public_addr: std::net::SocketAddr::new(config.public_ip, config.media_bind.port()),
        workers: config.workers,
        media: config.media.clone(),
    }) {
        Ok(s) => s,
        Err(e) => return fail(&e.to_string()),
    };
    let media_addr = sfu.local_addr();
    let rooms = Arc::new(
        Rooms::new(
            sfu,
            Limits {
                max_participants: config.max_participants,
                ..Limits::default()
            },
            config.policy.clone(),
        )
        .with_first_joiner_moderator(config.first_joiner_moderator),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let store = match runtime.block_on(Store::open(&config.database_url.0)) {
        Ok(s) => s,
        Err(e) => return fail(&format!("store {:?}: {e}", config.database_url)),
    };
    let jitsi = std::mem::take(&mut config.jitsi);
    let login = std::mem::take(&mut config.login);
    let recorder = match confab_record::Recorder::new(config.recording.clone()) {
        Ok(r) => r,
        Err(e) => return fail(&format!("[recording] {e}")),
    };
    let state = Arc::new(AppState {
        rooms,
        keys: Keys::new(config.keys.clone()),
        mode: config.mode,
        jitsi,
        store,
        loaded: Default::default(),
        login,
        http: reqwest::Client::new(),
        assets: ASSETS,
        join_token_ttl: Duration::from_secs(6 * 3600),
        client_settings: config.client_settings.clone(),
        recorder: recorder.clone(),
        security: confab_signal::Security {
            trusted_proxies: config.trusted_proxies.clone(),
            content_security_policy: confab_signal::content_security_policy(
                &config.frame_ancestors,
            ),
            ..Default::default()
        },
        turn: config.turn.clone(),
    });

    runtime.block_on(async move {
        let front = match front::Front::bind(
            config.bind,
            config.tls.clone(),
            config.http_limits.clone(),
        )
        .await
        {
            Ok(f) => f,
            Err(e) => return fail(&e),
        };
        let http = front.public_addr;
        let (web, ws) = if front.is_tls() {
            ("https", "wss")
        } else {
            ("http", "ws")
        };
        tokio::spawn(confab_signal::persist::keep_recordings(state.clone()));
        confab_signal::webhook::start(state.clone(), config.webhooks.clone());
        tokio::spawn(confab_signal::egress::show_recording(state.clone()));
        tokio::spawn(confab_signal::egress::auto_record(state.clone()));
        // The recorder joins meetings as a client of this very server, and so do phone callers.
        recorder.start(front.internal_url());
        let gateway = match &config.sip {
            Some(sip) => {
                let directory = Arc::new(dial_in::DialIn(state.clone()));
                match confab_sip::start(sip.gateway(front.internal_url()), directory).await {
                    Ok(g) => Some((g, sip.listen())),
                    Err(e) => return fail(&e.to_string()),
                }
            }
            None => None,
        };
        println!("Confab {} is running.", env!("CARGO_PKG_VERSION"));
        println!("  Open a meeting:  {web}://{http}/");
        println!("  Client SDKs:     {ws}://{http}  (compatible with LiveKit client SDKs)");
        println!(
            "  Media:           UDP {media_addr} (ICE-TCP fallback on TCP {media_addr}), advertised as {}",
            config.public_ip
        );
        if let Some((_, listen)) = &gateway {
            println!("  Phones (SIP):    UDP and TCP {listen}, dial-in by meeting PIN");
        }
        if let Some((key, secret)) = &dev_key {
            println!("  API key:         {key}");
            println!("  API secret:      {secret}");
            println!("  (a development key made for this run; configure your own for production)");
        }
        let planner = Arc::new(plan_cmd::PlanState {
            catalog: confab_plan::Catalog::builtin(),
            capacity: plan_cmd::load_capacity(None).ok().flatten(),
        });
        let mut app = confab_signal::router(state.clone()).merge(plan_cmd::router(planner));
        if let Some(sip) = &config.sip {
            app = app.merge(dial_in::router(state, sip.numbers().clone()));
        }
        let shutdown = stop_requested();
        front.serve(app, shutdown).await;
        ExitCode::SUCCESS
    })
}

/// Exit status of `serve` when the configuration is wrong.
const CONFIG_ERROR: u8 = 2;

/// Ctrl-C at a terminal, or SIGTERM from a service manager (systemd's stop).
async fn stop_requested() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("stopping");
}

fn random_text(len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
