//! `confab-loadgen`: start bots against a Confab server, print what they
//! measured, and exit 0 only if every bot received every other bot of its room.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use confab_loadgen::config::parse_duration;
use confab_loadgen::{Config, Preset, Scenario, View};

#[derive(Parser)]
#[command(
    name = "confab-loadgen",
    version,
    about = "Synthetic meeting participants for Confab (compatible with LiveKit client SDKs' protocol)"
)]
struct Cli {
    /// Signalling URL of the server.
    #[arg(long, default_value = "ws://127.0.0.1:7880")]
    url: String,
    #[arg(long, env = "CONFAB_API_KEY")]
    api_key: String,
    /// Prefer the environment variable to the flag.
    #[arg(long, env = "CONFAB_API_SECRET", hide_env_values = true)]
    api_secret: String,
    /// A scenario file (bench/scenarios/*.toml); the flags below override it.
    #[arg(long)]
    scenario: Option<std::path::PathBuf>,
    /// Rooms [default: 1].
    #[arg(long)]
    rooms: Option<usize>,
    /// Bots per room [default: 2].
    #[arg(long)]
    per_room: Option<usize>,
    /// Bots per room that publish; the others only subscribe [default: all].
    #[arg(long)]
    publishers_per_room: Option<usize>,
    /// How long each bot stays, e.g. 10s, 2m (at most 1h) [default: 10s].
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Spread the bots' starts over this time.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    ramp: Duration,
    /// Loss and latency ignore each stream's first part.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Media preset [default: 720p].
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// How bots size the videos they receive [default: speaker].
    #[arg(long, value_enum)]
    view: Option<View>,
    /// Time between scheduled keyframes.
    #[arg(long, value_parser = parse_duration)]
    keyframe_interval: Option<Duration>,
    /// Video frame rate.
    #[arg(long)]
    fps: Option<u32>,
    /// Prefix of the room names.
    #[arg(long, default_value = "load-")]
    room_prefix: String,
    /// Write the full report (every bot and stream) as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Print one line per bot and received stream.
    #[arg(long)]
    details: bool,
    /// Runtime threads (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,str0m=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();

    let mut cfg = Config::new(&cli.url, &cli.api_key, &cli.api_secret);
    if let Some(path) = &cli.scenario {
        let applied = Scenario::load(path).and_then(|s| s.apply(&mut cfg, s.rooms));
        if let Err(e) = applied {
            eprintln!("confab-loadgen: {e}");
            return ExitCode::from(2);
        }
    }
    if let Some(n) = cli.rooms {
        cfg.rooms = n;
    }
    if let Some(n) = cli.per_room {
        cfg.per_room = n;
    }
    if let Some(n) = cli.publishers_per_room {
        cfg.publishers_per_room = Some(n);
    }
    if let Some(d) = cli.duration {
        cfg.duration = d;
    }
    if let Some(v) = cli.view {
        cfg.view = v;
    }
    if let Some(p) = cli.preset {
        cfg.media = p.media();
    }
    cfg.ramp = cli.ramp;
    cfg.warmup = cli.warmup;
    cfg.room_prefix = cli.room_prefix;
    if let Some(video) = cfg.media.video.as_mut() {
        if let Some(k) = cli.keyframe_interval {
            video.keyframe_interval = k;
        }
        if let Some(fps) = cli.fps {
            video.fps = fps;
        }
    }
    if let Err(e) = cfg.validate() {
        eprintln!("confab-loadgen: {e}");
        return ExitCode::from(2);
    }

    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(t) = cli.threads {
        runtime.worker_threads(t.clamp(1, 64));
    }
    let runtime = match runtime.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("confab-loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "confab-loadgen: {} bots in {} rooms for {:?} against {}",
        cfg.bots(),
        cfg.rooms,
        cfg.duration,
        cfg.url
    );
    let report = match runtime.block_on(confab_loadgen::run(cfg)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("confab-loadgen: {e}");
            return ExitCode::FAILURE;
        }
    };

    if cli.details {
        print!("{}", report.details());
    }
    print!("{}", report.text());
    if let Some(path) = &cli.json {
        let written = serde_json::to_vec_pretty(&report)
            .map_err(|e| e.to_string())
            .and_then(|json| std::fs::write(path, json).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("confab-loadgen: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if report.passed() {
        println!("PASS");
        ExitCode::SUCCESS
    } else {
        println!("FAIL");
        for p in report.problems.iter().take(50) {
            println!("  {p}");
        }
        if report.problems.len() > 50 {
            println!("  ... and {} more", report.problems.len() - 50);
        }
        ExitCode::FAILURE
    }
}
