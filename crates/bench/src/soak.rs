//! `--soak`: hold a load for a long time with churn, and watch whether the
//! bridge's memory and descriptors stay flat.
//!
//! Steady rooms of bots (the scenario's meetings) run for the whole
//! duration. Beside them, a pair of bots joins a churn room every
//! [`SoakPlan::churn_every`] and leaves after [`SoakPlan::churn_stay`], so
//! someone joins and someone leaves about every second: the join and leave
//! paths, session teardown and the address maps are exercised all along.
//! Every [`SAMPLE_EVERY`] the bridge's RSS, open descriptors, threads and CPU
//! are read from /proc, and the steady bots' packet rate from their counters.
//!
//! Memory *ends flat* when the median RSS of the last minute is within 10 %
//! (or 8 MiB, whichever is more) of the median of the first minute after
//! warm-up; descriptors end flat when the last sample is within 32 of the
//! first after warm-up. Loss and p99 are the steady bots' over their whole
//! run.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use confab_loadgen::{Config, LiveCounters, Scenario};
use serde::Serialize;

use crate::procfs;

pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Skipped before the "first minute" of the memory comparison: joins, first
/// keyframes, buffers filling to their steady size.
const WARMUP: Duration = Duration::from_secs(30);
const MINUTE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct SoakPlan {
    pub duration: Duration,
    pub rooms: usize,
    pub churn_every: Duration,
    pub churn_stay: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub t_seconds: f64,
    pub rss_mib: f64,
    pub fds: usize,
    pub threads: usize,
    pub bridge_cpu: f64,
    pub forwarded_pps: f64,
}

#[derive(Debug, Serialize)]
pub struct SoakReport {
    pub label: String,
    pub rooms: usize,
    pub bots: usize,
    pub duration_seconds: f64,
    pub churn_every_seconds: f64,
    pub churn_stay_seconds: f64,
    pub churn_joins: usize,
    pub churn_failed: usize,
    pub loss_percent: f64,
    pub latency_p99_ms: Option<f64>,
    pub bots_failed: usize,
    pub samples: Vec<Sample>,
    pub rss_first_minute_mib: f64,
    pub rss_last_minute_mib: f64,
    pub memory_flat: bool,
    pub fds_first: usize,
    pub fds_last: usize,
    pub fds_flat: bool,
}

fn count_dir(path: &str) -> usize {
    std::fs::read_dir(path).map_or(0, Iterator::count)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The flat-memory verdict over a run's samples.
fn judge(samples: &[Sample], duration: Duration) -> (f64, f64, bool) {
    let (from, to) = (WARMUP.as_secs_f64(), (WARMUP + MINUTE).as_secs_f64());
    let last_from = duration.saturating_sub(MINUTE).as_secs_f64();
    let first = median(
        samples
            .iter()
            .filter(|s| s.t_seconds >= from && s.t_seconds <= to)
            .map(|s| s.rss_mib)
            .collect(),
    );
    let last = median(
        samples
            .iter()
            .filter(|s| s.t_seconds >= last_from)
            .map(|s| s.rss_mib)
            .collect(),
    );
    let allowed = (first * 0.10).max(8.0);
    (first, last, last - first <= allowed)
}

pub async fn run(
    url: &str,
    key: &str,
    secret: &str,
    pid: u32,
    scenario: &Scenario,
    plan: &SoakPlan,
    label: &str,
) -> Result<SoakReport, String> {
    let pid_s = pid.to_string();
    let mut steady = Config::new(url, key, secret);
    scenario.apply(&mut steady, plan.rooms)?;
    steady.room_prefix = "soak-".into();
    steady.ramp = Duration::from_secs(8);
    steady.warmup = Duration::from_secs(4);
    steady.join_timeout = Duration::from_secs(30);
    steady.duration = plan.duration;
    steady.validate()?;
    let bots = steady.bots();

    let counters = Arc::new(LiveCounters::default());
    let started = Instant::now();
    let steady_task = tokio::spawn(confab_loadgen::run_counted(steady, counters.clone()));

    // The churn: a fresh pair of bots every churn_every, each pair in a room
    // of its own for churn_stay.
    let mut churn_tasks = Vec::new();
    let mut next_churn = started + Duration::from_secs(10);
    let mut next_sample = started;
    let mut samples = Vec::new();
    let mut last = (
        Instant::now(),
        counters.snapshot(),
        procfs::sample(&pid_s).ok(),
    );
    let end = started + plan.duration;
    let mut churn_index = 0usize;
    while Instant::now() < end {
        let now = Instant::now();
        if now >= next_churn && now + plan.churn_stay + Duration::from_secs(5) < end {
            let mut churn = Config::new(url, key, secret);
            scenario.apply(&mut churn, 1)?;
            churn.per_room = 2;
            churn.publishers_per_room = None;
            churn.room_prefix = format!("churn{churn_index}-");
            churn.ramp = Duration::ZERO;
            churn.warmup = Duration::from_secs(1);
            churn.join_timeout = Duration::from_secs(10);
            churn.duration = plan.churn_stay;
            churn_tasks.push(tokio::spawn(confab_loadgen::run(churn)));
            churn_index += 1;
            next_churn += plan.churn_every;
        }
        if now >= next_sample {
            let proc_now = procfs::sample(&pid_s).ok();
            let snap = counters.snapshot();
            let secs = now.duration_since(last.0).as_secs_f64().max(1e-3);
            let d = snap.since(&last.1);
            let cpu = match (&last.2, &proc_now) {
                (Some(a), Some(b)) => (b.cpu_seconds - a.cpu_seconds) / secs,
                _ => 0.0,
            };
            let sample = Sample {
                t_seconds: now.duration_since(started).as_secs_f64(),
                rss_mib: proc_now
                    .as_ref()
                    .map_or(0.0, |p| p.rss_bytes as f64 / (1 << 20) as f64),
                fds: count_dir(&format!("/proc/{pid}/fd")),
                threads: count_dir(&format!("/proc/{pid}/task")),
                bridge_cpu: cpu,
                forwarded_pps: (d.sent_packets + d.received_packets) as f64 / secs,
            };
            eprintln!(
                "soak {:>4.0}/{:.0} s: RSS {:.1} MiB, {} fds, {} threads, bridge {:.0} % CPU, {:.0} packets/s, {} churn pairs",
                sample.t_seconds,
                plan.duration.as_secs_f64(),
                sample.rss_mib,
                sample.fds,
                sample.threads,
                sample.bridge_cpu * 100.0,
                sample.forwarded_pps,
                churn_index,
            );
            samples.push(sample);
            last = (now, snap, proc_now);
            next_sample += SAMPLE_EVERY;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let report = steady_task
        .await
        .map_err(|e| format!("the load generator failed: {e}"))??;
    let mut churn_failed = 0;
    for t in churn_tasks {
        match t.await {
            Ok(Ok(r)) if r.summary.bots_failed == 0 => {}
            _ => churn_failed += 1,
        }
    }
    let (rss_first, rss_last, memory_flat) = judge(&samples, plan.duration);
    // Descriptors are compared from when everyone has joined.
    let fds_first = samples
        .iter()
        .find(|s| s.t_seconds >= WARMUP.as_secs_f64())
        .map_or(0, |s| s.fds);
    let fds_last = samples.last().map_or(0, |s| s.fds);
    let s = &report.summary;
    Ok(SoakReport {
        label: label.to_string(),
        rooms: plan.rooms,
        bots,
        duration_seconds: plan.duration.as_secs_f64(),
        churn_every_seconds: plan.churn_every.as_secs_f64(),
        churn_stay_seconds: plan.churn_stay.as_secs_f64(),
        churn_joins: churn_index * 2,
        churn_failed,
        loss_percent: s.loss_percent,
        latency_p99_ms: s.latency_p99_ms,
        bots_failed: s.bots_failed,
        samples,
        rss_first_minute_mib: rss_first,
        rss_last_minute_mib: rss_last,
        memory_flat,
        fds_first,
        fds_last,
        fds_flat: fds_last <= fds_first + 32,
    })
}

impl SoakReport {
    pub fn markdown(&self) -> String {
        let verdict = |ok: bool| if ok { "flat" } else { "GROWING" };
        let mut md = format!(
            "# Soak\n\n- {}\n- {} rooms of bots ({} bots) held for {:.0} s, with a pair of bots joining a room of \
             their own every {:.0} s and leaving {:.0} s later ({} joins, {} churn pairs failed). The bots run on the same machine.\n\
             - Steady bots over the whole run: loss {:.3} %, p99 {} ms, {} bots failed.\n\
             - Memory: median RSS {:.1} MiB in the first minute after warm-up, {:.1} MiB in the last: **{}**.\n\
             - Descriptors: {} after warm-up, {} at the end: **{}**.\n\n\
             | t (s) | RSS MiB | fds | threads | bridge CPU | fwd pkt/s |\n|---:|---:|---:|---:|---:|---:|\n",
            self.label,
            self.rooms,
            self.bots,
            self.duration_seconds,
            self.churn_every_seconds,
            self.churn_stay_seconds,
            self.churn_joins,
            self.churn_failed,
            self.loss_percent,
            self.latency_p99_ms
                .map_or("-".into(), |v| format!("{v:.1}")),
            self.bots_failed,
            self.rss_first_minute_mib,
            self.rss_last_minute_mib,
            verdict(self.memory_flat),
            self.fds_first,
            self.fds_last,
            verdict(self.fds_flat),
        );
        for s in &self.samples {
            md.push_str(&format!(
                "| {:.0} | {:.1} | {} | {} | {:.2} | {:.0} |\n",
                s.t_seconds, s.rss_mib, s.fds, s.threads, s.bridge_cpu, s.forwarded_pps
            ));
        }
        md
    }

    pub fn write(&self, out: &Path) -> Result<(), String> {
        std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(out.join("soak.json"), json).map_err(|e| e.to_string())?;
        std::fs::write(out.join("soak.md"), self.markdown()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(rss: impl Fn(f64) -> f64) -> Vec<Sample> {
        (0..=60)
            .map(|i| {
                let t = f64::from(i) * 10.0;
                Sample {
                    t_seconds: t,
                    rss_mib: rss(t),
                    fds: 100,
                    threads: 20,
                    bridge_cpu: 0.5,
                    forwarded_pps: 50_000.0,
                }
            })
            .collect()
    }

    #[test]
    fn flat_memory_is_told_from_a_leak() {
        let ten_minutes = Duration::from_secs(600);
        // Warm-up growth, then steady with noise.
        let steady = samples(|t| {
            if t < 30.0 {
                40.0 + t
            } else {
                90.0 + (t / 10.0) % 3.0
            }
        });
        assert!(judge(&steady, ten_minutes).2);
        // 0.1 MiB a second, 60 MiB over the run.
        let leak = samples(|t| 90.0 + t * 0.1);
        let (first, last, flat) = judge(&leak, ten_minutes);
        assert!(!flat, "{first} -> {last}");
    }
}
