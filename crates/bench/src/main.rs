//! `confab-bench`: Confab's capacity benchmark.
//!
//! It starts the bridge under test on loopback (`confab serve`, and with
//! `--janus` also Janus' VideoRoom), then walks a scenario's ramp: at each
//! step it runs that many rooms of bots (`confab-loadgen`), waits until
//! everyone has joined and settled, and measures a steady window: packets in
//! and out (the bots' live counters), the bridge's CPU and memory (its own
//! /proc accounting), and loss and latency (the bots' sequence numbers and
//! send timestamps). Steps run one after another against the same bridge
//! process, each with fresh bots and rooms.
//!
//! Output: `report.json` and `report.md` in `--out` (the plots are drawn from
//! the JSON by `bench/plot.py`), and with `--capacity` the figure the planner
//! reads. A progress line on stderr shows what is happening.

mod janus;
mod procfs;
mod report;
mod soak;

use std::io::{IsTerminal, Write as _};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use confab_loadgen::config::parse_duration;
use confab_loadgen::server::{ServerProcess, default_binary};
use confab_loadgen::{Config, CounterSnapshot, Dialect, LiveCounters, Scenario};

use crate::report::{BenchReport, Comparison, Host, StepResult, TargetRun, Thresholds};

const KEY: &str = "bench";
/// Only for this process's own bridge on loopback.
const SECRET: &str = "confab-bench-secret-0123456789abcdef";
/// After the last bot has started: time for ICE, DTLS, the first keyframes
/// and layer choices before the window opens. Streams' loss and latency also
/// skip their first this-much.
const SETTLE: Duration = Duration::from_secs(4);
/// Bot starts are spread this far apart, at most over `MAX_JOIN_SPREAD`.
const JOIN_GAP: Duration = Duration::from_millis(30);
const MAX_JOIN_SPREAD: Duration = Duration::from_secs(8);
/// Quiet time between steps, so one step's teardown is not in the next one's window.
const BETWEEN_STEPS: Duration = Duration::from_secs(3);

#[derive(Parser)]
#[command(
    name = "confab-bench",
    version,
    about = "Stepped load ramp against Confab (and Janus), with a report"
)]
struct Cli {
    /// Scenario file with a [bench] ramp (bench/scenarios/*.toml).
    #[arg(long)]
    scenario: PathBuf,
    /// Directory for report.json and report.md.
    #[arg(long)]
    out: PathBuf,
    /// The confab binary [default: CONFAB_BIN, else target/debug/confab].
    #[arg(long)]
    confab_bin: Option<PathBuf>,
    /// Also run the same ramp against Janus' VideoRoom (`janus` on PATH).
    #[arg(long)]
    janus: bool,
    /// Write the planner's capacity file here (confab's busiest step before the knee).
    #[arg(long)]
    capacity: Option<PathBuf>,
    /// Override the scenario's steps, e.g. 1,2,4.
    #[arg(long, value_delimiter = ',')]
    steps: Option<Vec<usize>>,
    /// Override how long each step is measured.
    #[arg(long, value_parser = parse_duration)]
    hold: Option<Duration>,
    /// Free text for the report: date, commit, machine.
    #[arg(long, default_value = "")]
    label: String,
    /// `release` or `debug`: which build the bridge is (for the report).
    #[arg(long, default_value = "release")]
    build: String,
    /// Instead of the ramp: hold `--soak-rooms` of the scenario's meetings
    /// this long, with churn, and report memory and descriptors over time.
    #[arg(long, value_parser = parse_duration)]
    soak: Option<Duration>,
    #[arg(long, default_value_t = 4)]
    soak_rooms: usize,
    /// A pair of churn bots joins this often, and stays `--churn-stay`.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    churn_every: Duration,
    #[arg(long, value_parser = parse_duration, default_value = "4s")]
    churn_stay: Duration,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("confab-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    let scenario = Scenario::load(&cli.scenario)?;
    if let Some(duration) = cli.soak {
        let plan = soak::SoakPlan {
            duration,
            rooms: cli.soak_rooms,
            churn_every: cli.churn_every,
            churn_stay: cli.churn_stay,
        };
        return run_soak(&cli, &scenario, &plan);
    }
    let spec = scenario.bench.clone();
    let steps = match (cli.steps.clone(), &spec) {
        (Some(s), _) => s,
        (None, Some(b)) => b.steps.clone(),
        (None, None) => return Err(format!("{} has no [bench] steps", cli.scenario.display())),
    };
    let hold = cli
        .hold
        .or_else(|| scenario.hold())
        .unwrap_or(Duration::from_secs(15));
    // Check every step against the load generator's caps before starting anything.
    for &rooms in &steps {
        let mut cfg = Config::new("ws://127.0.0.1:1", KEY, SECRET);
        scenario.apply(&mut cfg, rooms)?;
        cfg.validate().map_err(|e| format!("step {rooms}: {e}"))?;
    }
    std::fs::create_dir_all(&cli.out).map_err(|e| format!("{}: {e}", cli.out.display()))?;

    let runtime = runtime()?;
    let mut runs = Vec::new();
    let bin = cli.confab_bin.clone().unwrap_or_else(default_binary);
    {
        let server = start_bridge(&bin)?;
        let target = Target {
            name: "confab",
            version: version_of(&bin),
            url: format!("ws://{}", server.http()),
            pid: server.pid(),
            dialect: Dialect::Confab,
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        runs.push(runtime.block_on(ramp(&target, &scenario, &steps, hold))?);
    }
    if cli.janus {
        let dir = cli.out.join("janus");
        let janus = janus::JanusProcess::start(&dir).map_err(|e| e.to_string())?;
        let target = Target {
            name: "janus",
            version: janus.version().to_string(),
            url: janus.url(),
            pid: janus.pid(),
            dialect: Dialect::Janus,
            bind_ip: janus::MEDIA_IP,
        };
        runs.push(runtime.block_on(ramp(&target, &scenario, &steps, hold))?);
    }

    let comparison = match runs.as_slice() {
        [ours, theirs] => Some(Comparison::build(ours, theirs)),
        _ => None,
    };
    let report = BenchReport {
        scenario,
        limits: Thresholds::KNEE,
        host: Host {
            cpus: procfs::cpus(),
            label: cli.label.clone(),
            build: cli.build.clone(),
        },
        hold_seconds: hold.as_secs_f64(),
        runs,
        comparison,
    };
    let json = serde_json::to_vec_pretty(&report).map_err(|e| e.to_string())?;
    write(&cli.out.join("report.json"), &json)?;
    let md = report.markdown();
    write(&cli.out.join("report.md"), md.as_bytes())?;
    println!("{md}");
    if let Some(path) = &cli.capacity {
        match report.capacity() {
            Some(cap) => {
                let json = serde_json::to_vec_pretty(&cap).map_err(|e| e.to_string())?;
                write(path, &json)?;
                eprintln!(
                    "confab-bench: wrote {} ({:.0} packets/s per CPU-second)",
                    path.display(),
                    cap.pps_per_cpu_second
                );
            }
            None => eprintln!("confab-bench: no step passed, so no capacity file"),
        }
    }
    eprintln!("confab-bench: report in {}", cli.out.display());
    // A run whose first step lost bots or streams measured nothing. Loss and
    // latency over the limits are findings for the report, not failures.
    let measured = report.runs.iter().all(|r| {
        r.steps.first().is_some_and(|s| {
            s.bots_failed == 0 && s.streams_received == s.streams_expected && s.forwarded_pps > 0.0
        })
    });
    Ok(if measured {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// The bridge under test, on loopback with the bench's key.
fn start_bridge(bin: &Path) -> Result<ServerProcess, String> {
    ServerProcess::start(
        bin,
        &[
            ("CONFAB_API_KEY", KEY),
            ("CONFAB_API_SECRET", SECRET),
            ("RUST_LOG", "error"),
        ],
    )
    .map_err(|e| e.to_string())
}

fn run_soak(cli: &Cli, scenario: &Scenario, plan: &soak::SoakPlan) -> Result<ExitCode, String> {
    let runtime = runtime()?;
    let bin = cli.confab_bin.clone().unwrap_or_else(default_binary);
    let server = start_bridge(&bin)?;
    let url = format!("ws://{}", server.http());
    let label = format!("{}; {} build", cli.label, cli.build);
    let report = runtime.block_on(soak::run(
        &url,
        KEY,
        SECRET,
        server.pid(),
        scenario,
        plan,
        &label,
    ))?;
    report.write(&cli.out)?;
    println!("{}", report.markdown());
    Ok(if report.bots_failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn version_of(bin: &Path) -> String {
    std::process::Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The system under test.
struct Target {
    name: &'static str,
    version: String,
    /// Where the bots connect.
    url: String,
    pid: u32,
    dialect: Dialect,
    /// Where the bots' media sockets bind.
    bind_ip: IpAddr,
}

async fn ramp(
    target: &Target,
    scenario: &Scenario,
    steps: &[usize],
    hold: Duration,
) -> Result<TargetRun, String> {
    let pid = target.pid.to_string();
    let idle = procfs::sample(&pid).map_err(|e| e.to_string())?;
    let mut run = TargetRun {
        target: target.name.to_string(),
        version: target.version.clone(),
        idle_rss_mib: idle.rss_bytes as f64 / (1 << 20) as f64,
        steps: Vec::new(),
        knee: None,
        best: None,
    };
    for (i, &rooms) in steps.iter().enumerate() {
        let label = format!("{} step {}/{}", target.name, i + 1, steps.len());
        let mut step = measure_step(target, scenario, rooms, i, hold, idle, &label).await?;
        step.judge(procfs::cpus());
        eprintln!(
            "{label}: {rooms} rooms, {:.0} packets/s, bridge {:.0} % CPU, {} µs/packet, loss {:.3} %, p99 {} ms{}",
            step.forwarded_pps,
            step.bridge_cpu * 100.0,
            step.us_per_packet.map_or("-".into(), |v| format!("{v:.2}")),
            step.loss_percent,
            step.latency_p99_ms
                .map_or("-".into(), |v| format!("{v:.1}")),
            if step.limits.is_empty() {
                String::new()
            } else {
                format!(" — past the knee: {}", step.limits.join("; "))
            }
        );
        // Past the knee, more load only takes longer to say the same.
        let stop = !step.limits.is_empty() && step.bots_failed > step.bots / 2;
        run.steps.push(step);
        if stop {
            eprintln!("{label}: most bots failed; the ramp stops here");
            break;
        }
        tokio::time::sleep(BETWEEN_STEPS).await;
    }
    run.finish();
    Ok(run)
}

async fn measure_step(
    target: &Target,
    scenario: &Scenario,
    rooms: usize,
    index: usize,
    hold: Duration,
    idle: procfs::ProcSample,
    label: &str,
) -> Result<StepResult, String> {
    let pid = target.pid.to_string();
    let mut cfg = Config::new(&target.url, KEY, SECRET);
    scenario.apply(&mut cfg, rooms)?;
    cfg.dialect = target.dialect;
    cfg.bind_ip = target.bind_ip;
    cfg.room_prefix = format!("bench{index}-");
    let bots = cfg.bots();
    let spread = (JOIN_GAP * bots as u32).min(MAX_JOIN_SPREAD);
    cfg.ramp = spread;
    cfg.warmup = SETTLE;
    cfg.join_timeout = Duration::from_secs(30);
    // The window closes before the first bot's run ends.
    cfg.duration = spread + SETTLE + hold + Duration::from_secs(1);

    let counters = Arc::new(LiveCounters::default());
    let started = Instant::now();
    let task = tokio::spawn(confab_loadgen::run_counted(cfg, counters.clone()));
    let opens = started + spread + SETTLE;
    let closes = opens + hold;

    let mut progress = Progress::new(label, bots);
    let mut window_start = None;
    let mut last = (
        Instant::now(),
        counters.snapshot(),
        procfs::sample(&pid).ok(),
    );
    loop {
        let now = Instant::now();
        if now >= closes {
            break;
        }
        if window_start.is_none() && now >= opens {
            window_start = Some(WindowEdge::take(&counters, &pid)?);
        }
        let next = (now + Duration::from_secs(1)).min(if window_start.is_some() {
            closes
        } else {
            opens
        });
        tokio::time::sleep_until(next.into()).await;
        let (t, snap, proc_now) = (
            Instant::now(),
            counters.snapshot(),
            procfs::sample(&pid).ok(),
        );
        let secs = t.duration_since(last.0).as_secs_f64().max(1e-3);
        let d = snap.since(&last.1);
        let pps = (d.sent_packets + d.received_packets) as f64 / secs;
        let cpu = match (&last.2, &proc_now) {
            (Some(a), Some(b)) => (b.cpu_seconds - a.cpu_seconds) / secs,
            _ => 0.0,
        };
        let phase = match window_start {
            None => format!(
                "joining {:.0}/{:.0} s",
                t.duration_since(started).as_secs_f64(),
                (spread + SETTLE).as_secs_f64()
            ),
            Some(WindowEdge { at, .. }) => format!(
                "measuring {:.0}/{:.0} s",
                t.duration_since(at).as_secs_f64(),
                hold.as_secs_f64()
            ),
        };
        progress.show(&phase, pps, cpu);
        last = (t, snap, proc_now);
    }
    let end = WindowEdge::take(&counters, &pid)?;
    progress.done();
    let report = task
        .await
        .map_err(|e| format!("the load generator failed: {e}"))??;
    let Some(start) = window_start else {
        return Err("the measuring window never opened".into());
    };

    let secs = end.at.duration_since(start.at).as_secs_f64();
    let d = end.packets.since(&start.packets);
    let bridge_cpu = (end.bridge.cpu_seconds - start.bridge.cpu_seconds) / secs;
    let loadgen_cpu = (end.loadgen.cpu_seconds - start.loadgen.cpu_seconds) / secs;
    let in_pps = d.sent_packets as f64 / secs;
    let out_pps = d.received_packets as f64 / secs;
    let forwarded_pps = in_pps + out_pps;
    let s = &report.summary;
    let rss = end.bridge.rss_bytes as f64;
    Ok(StepResult {
        rooms,
        bots,
        window_seconds: secs,
        in_pps,
        out_pps,
        forwarded_pps,
        in_mbps: d.sent_bytes as f64 * 8.0 / secs / 1e6,
        out_mbps: d.received_bytes as f64 * 8.0 / secs / 1e6,
        bridge_cpu,
        us_per_packet: (forwarded_pps > 0.0).then(|| bridge_cpu * 1e6 / forwarded_pps),
        bridge_rss_mib: rss / (1 << 20) as f64,
        rss_per_participant_kib: (rss - idle.rss_bytes as f64).max(0.0) / 1024.0 / bots as f64,
        loadgen_cpu,
        expected_packets: s.expected_packets,
        lost_packets: s.lost_packets,
        loss_percent: s.loss_percent,
        latency_p50_ms: s.latency_p50_ms,
        latency_p99_ms: s.latency_p99_ms,
        join_p50_ms: s.join_p50_ms,
        bots_failed: s.bots_failed,
        streams_received: s.streams_received,
        streams_expected: s.streams_expected,
        problems: report.problems.iter().take(5).cloned().collect(),
        limits: Vec::new(),
    })
}

/// What is read at each edge of the measuring window.
struct WindowEdge {
    at: Instant,
    packets: CounterSnapshot,
    bridge: procfs::ProcSample,
    loadgen: procfs::ProcSample,
}

impl WindowEdge {
    fn take(counters: &LiveCounters, bridge_pid: &str) -> Result<Self, String> {
        Ok(Self {
            at: Instant::now(),
            packets: counters.snapshot(),
            bridge: procfs::sample(bridge_pid).map_err(|e| e.to_string())?,
            loadgen: procfs::sample("self").map_err(|e| e.to_string())?,
        })
    }
}

/// One status line: rewritten in place on a terminal, every 5 s otherwise.
struct Progress {
    label: String,
    bots: usize,
    tty: bool,
    last_line: Option<Instant>,
}

impl Progress {
    fn new(label: &str, bots: usize) -> Self {
        Self {
            label: label.to_string(),
            bots,
            tty: std::io::stderr().is_terminal(),
            last_line: None,
        }
    }

    fn show(&mut self, phase: &str, pps: f64, cpu: f64) {
        let line = format!(
            "{}: {} bots, {phase}, {:.1}k packets/s, bridge {:.0} % CPU",
            self.label,
            self.bots,
            pps / 1000.0,
            cpu * 100.0
        );
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
        } else if self
            .last_line
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(5))
        {
            self.last_line = Some(Instant::now());
            let _ = writeln!(err, "{line}");
        }
    }

    fn done(&self) {
        if self.tty {
            eprint!("\r\x1b[2K");
        }
    }
}
