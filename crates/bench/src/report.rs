//! What a bench run measured, the knee of each ramp, the side-by-side ratio,
//! and the Markdown and capacity files made from them. The PNG plots are drawn
//! from `report.json` by `bench/plot.py`.

use std::fmt::Write as _;

use confab_loadgen::Scenario;
use serde::Serialize;

/// Above these, a step is past the knee (the targets).
pub const MAX_LOSS_PERCENT: f64 = 0.1;
pub const MAX_P99_MS: f64 = 5.0;
/// The bridge is saturated when it uses this share of the machine's CPUs.
pub const MAX_CPU_SHARE: f64 = 0.9;

/// One step of the ramp, measured over its steady window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepResult {
    pub rooms: usize,
    pub bots: usize,
    pub window_seconds: f64,
    /// Packets the bots sent (into the bridge) and received (out of it), per second.
    pub in_pps: f64,
    pub out_pps: f64,
    pub forwarded_pps: f64,
    /// RTP payload bits per second, in and out.
    pub in_mbps: f64,
    pub out_mbps: f64,
    /// The bridge's CPU seconds per second (1.0 = one core busy).
    pub bridge_cpu: f64,
    pub us_per_packet: Option<f64>,
    pub bridge_rss_mib: f64,
    /// Bridge memory above its idle size, per participant.
    pub rss_per_participant_kib: f64,
    /// The load generator's own CPU: when it nears the machine's, the
    /// figures say more about the bots than about the bridge.
    pub loadgen_cpu: f64,
    /// From the bots' sequence numbers, after each stream's warm-up.
    pub expected_packets: u64,
    pub lost_packets: u64,
    pub loss_percent: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub join_p50_ms: Option<f64>,
    pub bots_failed: usize,
    pub streams_received: usize,
    pub streams_expected: usize,
    /// The first few problems the load generator reported.
    pub problems: Vec<String>,
    /// Why this step is past the knee; empty when it is not.
    pub limits: Vec<String>,
}

impl StepResult {
    /// Mark the limits this step crossed.
    pub fn judge(&mut self, cpus: usize) {
        let mut limits = Vec::new();
        if self.bots_failed > 0 || self.streams_received < self.streams_expected {
            limits.push(format!(
                "{} bots failed, {} of {} streams received",
                self.bots_failed, self.streams_received, self.streams_expected
            ));
        }
        if self.loss_percent > MAX_LOSS_PERCENT {
            limits.push(format!(
                "loss {:.2} % > {MAX_LOSS_PERCENT} %",
                self.loss_percent
            ));
        }
        if let Some(p99) = self.latency_p99_ms.filter(|p| *p > MAX_P99_MS) {
            limits.push(format!("p99 {p99:.1} ms > {MAX_P99_MS} ms"));
        }
        if self.bridge_cpu > MAX_CPU_SHARE * cpus as f64 {
            limits.push(format!("bridge CPU {:.2} of {cpus} cores", self.bridge_cpu));
        }
        self.limits = limits;
    }

    /// The bridge and the bots together nearly fill the machine, so queues
    /// grow in the kernel and in the bots, not only in the bridge.
    pub fn machine_busy(&self, cpus: usize) -> bool {
        self.bridge_cpu + self.loadgen_cpu > MAX_CPU_SHARE * cpus as f64
    }
}

/// One system under test across the ramp.
#[derive(Debug, Clone, Serialize)]
pub struct TargetRun {
    /// `confab` or `janus`.
    pub target: String,
    pub version: String,
    pub idle_rss_mib: f64,
    pub steps: Vec<StepResult>,
    /// Index into `steps` of the first step past the knee.
    pub knee: Option<usize>,
    /// Index of the busiest step before the knee.
    pub best: Option<usize>,
}

impl TargetRun {
    pub fn finish(&mut self) {
        self.knee = self.steps.iter().position(|s| !s.limits.is_empty());
        let usable = self.knee.unwrap_or(self.steps.len());
        self.best = self.steps[..usable]
            .iter()
            .enumerate()
            .filter(|(_, s)| s.us_per_packet.is_some())
            .max_by(|a, b| a.1.forwarded_pps.total_cmp(&b.1.forwarded_pps))
            .map(|(i, _)| i);
    }

    pub fn best(&self) -> Option<&StepResult> {
        self.best.and_then(|i| self.steps.get(i))
    }
}

/// Janus ÷ Confab, step by step, for the steps both passed.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub cpu_per_packet_ratios: Vec<(usize, f64)>,
    pub median_ratio: Option<f64>,
}

impl Comparison {
    pub fn build(confab: &TargetRun, other: &TargetRun) -> Self {
        let mut ratios = Vec::new();
        for (a, b) in confab.steps.iter().zip(&other.steps) {
            if a.rooms != b.rooms || !a.limits.is_empty() || !b.limits.is_empty() {
                continue;
            }
            if let (Some(ours), Some(theirs)) = (a.us_per_packet, b.us_per_packet)
                && ours > 0.0
            {
                ratios.push((a.rooms, theirs / ours));
            }
        }
        let mut sorted: Vec<f64> = ratios.iter().map(|r| r.1).collect();
        sorted.sort_by(f64::total_cmp);
        Self {
            median_ratio: confab_loadgen::stats::percentile_sorted(&sorted, 0.5),
            cpu_per_packet_ratios: ratios,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub cpus: usize,
    pub label: String,
    /// `release` for figures; `debug` builds only show the bench works.
    pub build: String,
}

/// The knee's thresholds, written into the report so the plots draw the same lines.
#[derive(Debug, Clone, Serialize)]
pub struct Thresholds {
    pub max_loss_percent: f64,
    pub max_p99_ms: f64,
    pub max_cpu_share: f64,
}

impl Thresholds {
    pub const KNEE: Thresholds = Thresholds {
        max_loss_percent: MAX_LOSS_PERCENT,
        max_p99_ms: MAX_P99_MS,
        max_cpu_share: MAX_CPU_SHARE,
    };
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub scenario: Scenario,
    pub limits: Thresholds,
    pub host: Host,
    pub hold_seconds: f64,
    pub runs: Vec<TargetRun>,
    pub comparison: Option<Comparison>,
}

/// What the planner reads (`confab plan --capacity`).
#[derive(Debug, Clone, Serialize)]
pub struct CapacityFile {
    pub pps_per_cpu_second: f64,
    pub source: String,
}

impl BenchReport {
    pub fn capacity(&self) -> Option<CapacityFile> {
        let run = self.runs.iter().find(|r| r.target == "confab")?;
        let best = run.best()?;
        let us = best.us_per_packet?;
        Some(CapacityFile {
            pps_per_cpu_second: (1e6 / us).round(),
            source: format!(
                "confab-bench {}, step of {} rooms ({} bots, {:.0} packets/s), {} build, {}",
                self.scenario.name,
                best.rooms,
                best.bots,
                best.forwarded_pps,
                self.host.build,
                self.host.label
            ),
        })
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let s = &self.scenario;
        let _ = writeln!(md, "# Bench: {}\n", s.name);
        if !s.description.is_empty() {
            let _ = writeln!(md, "{}\n", s.description);
        }
        let _ = writeln!(
            md,
            "- Host: {} CPUs; {}; {} build. The bots run on the same machine.",
            self.host.cpus, self.host.label, self.host.build
        );
        let _ = writeln!(
            md,
            "- Each step: {} per room ({} publishing) at {}, {} view; measured over {:.0} s once everyone has joined.",
            s.per_room,
            s.publishers_per_room.unwrap_or(s.per_room),
            serde_name(&s.preset),
            serde_name(&s.view),
            self.hold_seconds
        );
        let _ = writeln!(
            md,
            "- Forwarded packets = packets into the bridge + packets out of it. CPU is the bridge process's user + system time from /proc. Loss and latency come from the bots' sequence numbers and send timestamps; on one machine they include the bots' own scheduling delays."
        );
        let _ = writeln!(
            md,
            "- The knee is the first step with loss > {MAX_LOSS_PERCENT} %, p99 added latency > {MAX_P99_MS} ms, failed bots, or the bridge above {:.0} % of the CPUs.\n",
            MAX_CPU_SHARE * 100.0
        );
        for run in &self.runs {
            let _ = writeln!(md, "## {} ({})\n", run.target, run.version);
            let _ = writeln!(
                md,
                "| rooms | bots | fwd pkt/s | in Mbit/s | out Mbit/s | bridge CPU | µs/pkt | loss % | p50 ms | p99 ms | RSS MiB | KiB/participant | bots' CPU | limits |"
            );
            let _ = writeln!(
                md,
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
            );
            let opt =
                |v: Option<f64>, digits: usize| v.map_or("-".into(), |v| format!("{v:.digits$}"));
            for st in &run.steps {
                let mut limits = st.limits.join("; ");
                if st.machine_busy(self.host.cpus) {
                    if !limits.is_empty() {
                        limits.push_str("; ");
                    }
                    limits.push_str("machine full (bridge + bots)");
                }
                let _ = writeln!(
                    md,
                    "| {} | {} | {:.0} | {:.1} | {:.1} | {:.3} | {} | {:.3} | {} | {} | {:.1} | {:.0} | {:.2} | {} |",
                    st.rooms,
                    st.bots,
                    st.forwarded_pps,
                    st.in_mbps,
                    st.out_mbps,
                    st.bridge_cpu,
                    opt(st.us_per_packet, 2),
                    st.loss_percent,
                    opt(st.latency_p50_ms, 2),
                    opt(st.latency_p99_ms, 2),
                    st.bridge_rss_mib,
                    st.rss_per_participant_kib,
                    st.loadgen_cpu,
                    limits
                );
            }
            let _ = writeln!(md);
            match run.knee {
                Some(k) => {
                    let st = &run.steps[k];
                    let _ = writeln!(
                        md,
                        "Knee: at {} rooms ({:.0} packets/s): {}.",
                        st.rooms,
                        st.forwarded_pps,
                        st.limits.join("; ")
                    );
                }
                None => {
                    let _ = writeln!(md, "Knee: not reached within this ramp.");
                }
            }
            if let Some(best) = run.best() {
                let _ = writeln!(
                    md,
                    "Busiest step before the knee: {} rooms, {:.0} packets/s at {:.3} cores = {} µs per packet, {:.0} packets/s per core.",
                    best.rooms,
                    best.forwarded_pps,
                    best.bridge_cpu,
                    opt(best.us_per_packet, 2),
                    best.us_per_packet.map_or(0.0, |us| 1e6 / us)
                );
            }
            for st in run.steps.iter().filter(|s| !s.problems.is_empty()) {
                let _ = writeln!(
                    md,
                    "\nProblems at {} rooms: {}",
                    st.rooms,
                    st.problems.join("; ")
                );
            }
            let _ = writeln!(md);
        }
        if let Some(c) = &self.comparison {
            let _ = writeln!(md, "## Side by side\n");
            let _ = writeln!(
                md,
                "CPU per forwarded packet, Janus ÷ Confab, at the steps both passed: {}.",
                if c.cpu_per_packet_ratios.is_empty() {
                    "none".to_string()
                } else {
                    c.cpu_per_packet_ratios
                        .iter()
                        .map(|(rooms, r)| format!("{rooms} rooms {r:.2}×"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
            if let Some(m) = c.median_ratio {
                let _ = writeln!(md, "\nMedian ratio: **{m:.2}×**.");
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(
            md,
            "![bridge CPU against forwarded packets](cpu.png)\n\n![loss and p99 latency against load](loss_latency.png)"
        );
        md
    }
}

/// A unit enum's name as scenario files spell it.
fn serde_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(rooms: usize, pps: f64, cpu: f64, loss: f64, p99: f64) -> StepResult {
        let mut s = StepResult {
            rooms,
            bots: rooms * 10,
            forwarded_pps: pps,
            bridge_cpu: cpu,
            us_per_packet: Some(cpu * 1e6 / pps),
            loss_percent: loss,
            latency_p99_ms: Some(p99),
            ..Default::default()
        };
        s.judge(2);
        s
    }

    fn run(target: &str, steps: Vec<StepResult>) -> TargetRun {
        let mut r = TargetRun {
            target: target.into(),
            version: "test".into(),
            idle_rss_mib: 10.0,
            steps,
            knee: None,
            best: None,
        };
        r.finish();
        r
    }

    #[test]
    fn knee_is_the_first_step_over_a_limit() {
        let r = run(
            "confab",
            vec![
                step(1, 10_000.0, 0.1, 0.0, 1.0),
                step(2, 20_000.0, 0.2, 0.0, 2.0),
                step(3, 30_000.0, 0.3, 0.5, 3.0),
                step(4, 40_000.0, 0.4, 0.0, 9.0),
            ],
        );
        assert_eq!(r.knee, Some(2));
        assert_eq!(r.best, Some(1));
        assert!(r.steps[2].limits[0].contains("loss"));
        assert!(r.steps[3].limits[0].contains("p99"));
        let cpu_bound = step(5, 50_000.0, 1.95, 0.0, 1.0);
        assert!(cpu_bound.limits[0].contains("CPU"));
    }

    #[test]
    fn ratio_compares_matching_steps() {
        let ours = run("confab", vec![step(1, 10_000.0, 0.1, 0.0, 1.0)]);
        let theirs = run("janus", vec![step(1, 10_000.0, 0.4, 0.0, 1.0)]);
        let c = Comparison::build(&ours, &theirs);
        assert_eq!(c.cpu_per_packet_ratios.len(), 1);
        assert!((c.median_ratio.unwrap() - 4.0).abs() < 1e-9);
    }

    #[test]
    fn capacity_from_the_best_step() {
        let scenario = Scenario::parse(
            "name = \"t\"\npreset = \"720p\"\nview = \"speaker\"\nrooms = 2\nper_room = 10\n",
        )
        .unwrap();
        let report = BenchReport {
            scenario,
            host: Host {
                cpus: 2,
                label: "test".into(),
                build: "release".into(),
            },
            limits: Thresholds::KNEE,
            hold_seconds: 10.0,
            runs: vec![run(
                "confab",
                vec![
                    step(1, 10_000.0, 0.1, 0.0, 1.0),
                    step(2, 20_000.0, 0.1, 0.0, 1.0),
                ],
            )],
            comparison: None,
        };
        let cap = report.capacity().unwrap();
        assert_eq!(cap.pps_per_cpu_second, 200_000.0);
        assert!(report.markdown().contains("Knee: not reached"));
    }
}
