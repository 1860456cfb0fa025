//! Capacity planning: how much traffic a set of meetings makes, and how many
//! machines carry it.
//!
//! Input is a [`Scenario`] (meetings, people per meeting, the video ladder,
//! simulcast, what receivers look at, the fluctuation allowance, audio). The
//! traffic model is the seed's sizing model, so operators get the figures they
//! already know:
//!
//! - **ingress** per meeting: every participant publishes every layer of the
//!   ladder (only the top one without simulcast), plus one audio stream;
//! - **egress** per meeting, by view mode:
//!   - *speaker*: each receiver gets one high stream and N−1 low ones;
//!   - *grid*: each receiver gets N−1 streams at the middle layer;
//!   - *audio-only*: no video;
//!
//!   and N−1 audio streams. Without simulcast every video stream is the top
//!   layer. (The speaker model counts N video streams per receiver where only
//!   N−1 others exist: that is the seed's model, kept so its worked examples
//!   come out the same; it errs on the safe side.)
//! - video bitrates are multiplied by the fluctuation factor; packets per
//!   second assume ~1150-byte video packets and 50 audio packets a second.
//!
//! [`recommend`] then sizes a fleet: machines needed for the network (the
//! busier direction against the instance's network limit) and for CPU (packets
//! per second against the capacity the benchmark measured per vCPU), each with
//! headroom; whichever needs more machines decides.

use serde::{Deserialize, Serialize};

/// Average video RTP packet on the wire, bytes (the seed's figure).
pub const VIDEO_PACKET_BYTES: f64 = 1150.0;
pub const AUDIO_PACKETS_PER_SEC: f64 = 50.0;
/// Keep 20 % in reserve on every machine, as Jitsi's bridges do (stress 0.8).
pub const HEADROOM: f64 = 0.8;
/// CPU capacity assumed when no benchmark result is given: forwarded packets
/// (in + out) per second per vCPU. Deliberately conservative (Jitsi's
/// production operating point is ~25k per core).
pub const DEFAULT_PPS_PER_VCPU: f64 = 25_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ViewMode {
    Speaker,
    Grid,
    AudioOnly,
}

/// Bitrates of the simulcast layers, Mbit/s, lowest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ladder {
    pub name: String,
    pub layers_mbps: Vec<f64>,
}

impl Ladder {
    /// The seed's presets: 180p 0.2, 360p 0.6, 720p 2.5, 1080p 5 Mbit/s; a
    /// preset's ladder is its own layer with the 360p and 180p layers under it.
    pub fn preset(name: &str) -> Result<Self, PlanError> {
        let layers_mbps = match name {
            "180p" => vec![0.2],
            "360p" => vec![0.2, 0.6],
            "720p" => vec![0.2, 0.6, 2.5],
            "1080p" => vec![0.2, 0.6, 5.0],
            other => return Err(PlanError::UnknownPreset(other.to_string())),
        };
        Ok(Self {
            name: name.to_string(),
            layers_mbps,
        })
    }

    fn low(&self) -> f64 {
        self.layers_mbps[0]
    }
    fn middle(&self) -> f64 {
        self.layers_mbps[self.layers_mbps.len() / 2]
    }
    fn high(&self) -> f64 {
        self.layers_mbps[self.layers_mbps.len() - 1]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    pub meetings: u64,
    pub participants: u64,
    pub ladder: Ladder,
    pub simulcast: bool,
    pub view: ViewMode,
    pub fluctuation: f64,
    pub audio_kbps: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("meetings must be 1 to 10,000,000 (got {0})")]
    Meetings(u64),
    #[error("participants per meeting must be 2 to 100,000 (got {0})")]
    Participants(u64),
    #[error("unknown preset {0:?}: use 180p, 360p, 720p or 1080p")]
    UnknownPreset(String),
    #[error("layer bitrates must be 1 to 3 values between 0.01 and 100 Mbit/s, lowest first")]
    Layers,
    #[error("fluctuation factor must be between 1 and 5 (got {0})")]
    Fluctuation(f64),
    #[error("audio bitrate must be between 0 and 512 kbit/s (got {0})")]
    Audio(f64),
    #[error("unknown instance type {0:?}; the catalog has: {1}")]
    UnknownInstance(String, String),
}

/// Traffic in one direction or both.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Traffic {
    pub mbps: f64,
    pub pps: f64,
}

impl std::ops::Add for Traffic {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            mbps: self.mbps + o.mbps,
            pps: self.pps + o.pps,
        }
    }
}

impl std::ops::Mul<f64> for Traffic {
    type Output = Self;
    fn mul(self, k: f64) -> Self {
        Self {
            mbps: self.mbps * k,
            pps: self.pps * k,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Load {
    pub ingress: Traffic,
    pub egress: Traffic,
    pub total: Traffic,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub scenario: Scenario,
    pub per_meeting: Load,
    pub total: Load,
}

fn video(mbps: f64) -> Traffic {
    Traffic {
        mbps,
        pps: mbps * 1e6 / (VIDEO_PACKET_BYTES * 8.0),
    }
}

fn audio(streams: f64, kbps: f64) -> Traffic {
    if kbps <= 0.0 {
        return Traffic::default();
    }
    Traffic {
        mbps: streams * kbps / 1000.0,
        pps: streams * AUDIO_PACKETS_PER_SEC,
    }
}

pub fn validate(s: &Scenario) -> Result<(), PlanError> {
    if !(1..=10_000_000).contains(&s.meetings) {
        return Err(PlanError::Meetings(s.meetings));
    }
    if !(2..=100_000).contains(&s.participants) {
        return Err(PlanError::Participants(s.participants));
    }
    let l = &s.ladder.layers_mbps;
    let ascending = l.windows(2).all(|w| w[0] <= w[1]);
    if l.is_empty() || l.len() > 3 || !ascending || l.iter().any(|b| !(0.01..=100.0).contains(b)) {
        return Err(PlanError::Layers);
    }
    if !(1.0..=5.0).contains(&s.fluctuation) {
        return Err(PlanError::Fluctuation(s.fluctuation));
    }
    if !(0.0..=512.0).contains(&s.audio_kbps) {
        return Err(PlanError::Audio(s.audio_kbps));
    }
    Ok(())
}

pub fn plan(s: &Scenario) -> Result<Plan, PlanError> {
    validate(s)?;
    let n = s.participants as f64;
    let f = s.fluctuation;
    let ladder = &s.ladder;

    let published = if s.simulcast {
        ladder.layers_mbps.iter().sum()
    } else {
        ladder.high()
    };
    let (published, received) = match s.view {
        ViewMode::AudioOnly => (0.0, 0.0),
        ViewMode::Speaker if s.simulcast => (published, ladder.high() + (n - 1.0) * ladder.low()),
        ViewMode::Grid if s.simulcast => (published, (n - 1.0) * ladder.middle()),
        ViewMode::Speaker | ViewMode::Grid => (published, (n - 1.0) * ladder.high()),
    };
    let ingress = video(n * published * f) + audio(n, s.audio_kbps);
    let egress = video(n * received * f) + audio(n * (n - 1.0), s.audio_kbps);
    let per_meeting = Load {
        ingress,
        egress,
        total: ingress + egress,
    };
    let m = s.meetings as f64;
    Ok(Plan {
        scenario: s.clone(),
        per_meeting,
        total: Load {
            ingress: ingress * m,
            egress: egress * m,
            total: (ingress + egress) * m,
        },
    })
}

/// A machine type to run Confab on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub name: String,
    pub vcpus: u32,
    pub memory_gib: f64,
    pub network_gbps: f64,
    pub monthly_usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub instance: Vec<Instance>,
}

/// The built-in catalog; `confab plan --catalog FILE` replaces it.
pub const DEFAULT_CATALOG: &str = include_str!("catalog.toml");

impl Catalog {
    pub fn builtin() -> Self {
        toml::from_str(DEFAULT_CATALOG).expect("the built-in catalog parses")
    }

    pub fn find(&self, name: &str) -> Result<&Instance, PlanError> {
        self.instance
            .iter()
            .find(|i| i.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.instance.iter().map(|i| i.name.as_str()).collect();
                PlanError::UnknownInstance(name.to_string(), names.join(", "))
            })
    }
}

/// What the benchmark measured on this software (written by `bench/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    /// Forwarded packets (in + out) per CPU-second of the SFU process.
    pub pps_per_cpu_second: f64,
    /// Where the figure came from (machine, date, commit).
    #[serde(default)]
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub instance: Instance,
    pub instances: u64,
    pub for_network: u64,
    pub for_cpu: u64,
    pub bound_by: String,
    pub pps_per_vcpu: f64,
    pub capacity_source: String,
    pub monthly_usd: f64,
}

pub fn recommend(plan: &Plan, instance: &Instance, capacity: Option<&Capacity>) -> Recommendation {
    let busier_mbps = plan.total.ingress.mbps.max(plan.total.egress.mbps);
    let network_mbps = instance.network_gbps * 1000.0 * HEADROOM;
    let for_network = (busier_mbps / network_mbps).ceil().max(1.0) as u64;

    let (pps_per_vcpu, capacity_source) = match capacity {
        Some(c) => (c.pps_per_cpu_second, c.source.clone()),
        None => (
            DEFAULT_PPS_PER_VCPU,
            "default (no benchmark result given)".to_string(),
        ),
    };
    let cpu_pps = pps_per_vcpu * f64::from(instance.vcpus) * HEADROOM;
    let for_cpu = (plan.total.total.pps / cpu_pps).ceil().max(1.0) as u64;

    let instances = for_network.max(for_cpu);
    Recommendation {
        instance: instance.clone(),
        instances,
        for_network,
        for_cpu,
        bound_by: if for_network >= for_cpu {
            "network"
        } else {
            "cpu"
        }
        .to_string(),
        pps_per_vcpu,
        capacity_source,
        monthly_usd: instances as f64 * instance.monthly_usd,
    }
}

/// A planning request as people and programs phrase it: a preset or explicit
/// layers, names for the view and the instance. Missing fields take the seed's
/// scenario (10 meetings of 10 at 720p, speaker view).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Request {
    pub meetings: u64,
    pub participants: u64,
    pub preset: String,
    /// Overrides the preset's layer bitrates (Mbit/s, lowest first).
    pub layers: Option<Vec<f64>>,
    pub simulcast: bool,
    pub view: ViewMode,
    pub fluctuation: f64,
    pub audio_kbps: f64,
    pub instance: String,
}

impl Default for Request {
    fn default() -> Self {
        Self {
            meetings: 10,
            participants: 10,
            preset: "720p".into(),
            layers: None,
            simulcast: true,
            view: ViewMode::Speaker,
            fluctuation: 1.2,
            audio_kbps: 32.0,
            instance: "c5n.18xlarge".into(),
        }
    }
}

/// Everything one planning request produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub plan: Plan,
    pub recommendation: Recommendation,
}

impl Request {
    pub fn run(&self, catalog: &Catalog, capacity: Option<&Capacity>) -> Result<Report, PlanError> {
        let mut ladder = Ladder::preset(&self.preset)?;
        if let Some(layers) = &self.layers {
            ladder.layers_mbps = layers.clone();
            ladder.name = "custom".into();
        }
        let plan = plan(&Scenario {
            meetings: self.meetings,
            participants: self.participants,
            ladder,
            simulcast: self.simulcast,
            view: self.view,
            fluctuation: self.fluctuation,
            audio_kbps: self.audio_kbps,
        })?;
        let recommendation = recommend(&plan, catalog.find(&self.instance)?, capacity);
        Ok(Report {
            plan,
            recommendation,
        })
    }
}

/// A plain-text report for people.
pub fn render(plan: &Plan, rec: &Recommendation) -> String {
    use std::fmt::Write as _;
    let s = &plan.scenario;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} meetings x {} participants, {} ladder {:?} Mbit/s, simulcast {}, {:?} view, fluctuation x{}, audio {} kbit/s",
        s.meetings,
        s.participants,
        s.ladder.name,
        s.ladder.layers_mbps,
        if s.simulcast { "on" } else { "off" },
        s.view,
        s.fluctuation,
        s.audio_kbps
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<12} {:>14} {:>14} {:>16} {:>16}",
        "", "Mbit/s each", "packets/s each", "Mbit/s total", "packets/s total"
    );
    for (name, one, all) in [
        ("ingress", plan.per_meeting.ingress, plan.total.ingress),
        ("egress", plan.per_meeting.egress, plan.total.egress),
        ("total", plan.per_meeting.total, plan.total.total),
    ] {
        let _ = writeln!(
            out,
            "{:<12} {:>14.1} {:>14.0} {:>16.1} {:>16.0}",
            name, one.mbps, one.pps, all.mbps, all.pps
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{} x {} ({} vCPU, {} GiB, {} Gbit/s): {} for the network, {} for CPU at {:.0} packets/s per vCPU [{}], {}% headroom",
        rec.instances,
        rec.instance.name,
        rec.instance.vcpus,
        rec.instance.memory_gib,
        rec.instance.network_gbps,
        rec.for_network,
        rec.for_cpu,
        rec.pps_per_vcpu,
        rec.capacity_source,
        ((1.0 - HEADROOM) * 100.0).round()
    );
    let _ = writeln!(
        out,
        "bound by {}; about ${:.0} a month",
        rec.bound_by, rec.monthly_usd
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(preset: &str) -> Scenario {
        Scenario {
            meetings: 1,
            participants: 10,
            ladder: Ladder::preset(preset).unwrap(),
            simulcast: true,
            view: ViewMode::Speaker,
            fluctuation: 1.2,
            audio_kbps: 0.0,
        }
    }

    /// (ingress, egress, total) Mbit/s of one meeting.
    fn per_meeting(preset: &str) -> (f64, f64, f64) {
        let p = plan(&seed(preset)).unwrap().per_meeting;
        (p.ingress.mbps, p.egress.mbps, p.total.mbps)
    }

    fn close(a: (f64, f64, f64), b: (f64, f64, f64)) -> bool {
        (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9 && (a.2 - b.2).abs() < 1e-9
    }

    #[test]
    fn reproduces_the_seeds_worked_examples() {
        // The seed's 720p meeting: "40 in / 51 out / 91 total", i.e. 39.6 / 51.6 / 91.2.
        assert!(
            close(per_meeting("720p"), (39.6, 51.6, 91.2)),
            "{:?}",
            per_meeting("720p")
        );
        // The seed's 1080p meeting: "70 / 82 / 152", i.e. 69.6 / 81.6 / 151.2 (the
        // seed's 152 adds its rounded figures).
        assert!(
            close(per_meeting("1080p"), (69.6, 81.6, 151.2)),
            "{:?}",
            per_meeting("1080p")
        );
    }

    #[test]
    fn totals_are_per_meeting_times_meetings() {
        let mut s = seed("720p");
        s.meetings = 10_000;
        let p = plan(&s).unwrap();
        assert!((p.total.total.mbps - 91.2 * 10_000.0).abs() < 1e-3);
        assert!((p.total.ingress.pps - p.per_meeting.ingress.pps * 10_000.0).abs() < 1e-3);
    }

    #[test]
    fn seed_scenario_packet_rate() {
        // 10 meetings x 10 at 720p with 32 kbit/s audio: about 150k packets/s.
        let mut s = seed("720p");
        s.meetings = 10;
        s.audio_kbps = 32.0;
        let p = plan(&s).unwrap();
        assert!(
            (140_000.0..160_000.0).contains(&p.total.total.pps),
            "{}",
            p.total.total.pps
        );
    }

    #[test]
    fn views_and_simulcast() {
        let mut s = seed("720p");
        s.view = ViewMode::Grid;
        let grid = plan(&s).unwrap().per_meeting.egress.mbps;
        assert!((grid - 10.0 * 9.0 * 0.6 * 1.2).abs() < 1e-9);
        s.view = ViewMode::AudioOnly;
        s.audio_kbps = 40.0;
        let a = plan(&s).unwrap().per_meeting;
        assert!((a.egress.mbps - 90.0 * 0.04).abs() < 1e-9);
        assert_eq!(a.egress.pps, 90.0 * 50.0);
        s.view = ViewMode::Speaker;
        s.simulcast = false;
        s.audio_kbps = 0.0;
        let p = plan(&s).unwrap().per_meeting;
        assert!((p.ingress.mbps - 10.0 * 2.5 * 1.2).abs() < 1e-9);
        assert!((p.egress.mbps - 10.0 * 9.0 * 2.5 * 1.2).abs() < 1e-9);
    }

    #[test]
    fn bad_input_is_refused_clearly() {
        let mut s = seed("720p");
        s.meetings = 0;
        assert_eq!(plan(&s), Err(PlanError::Meetings(0)));
        let mut s = seed("720p");
        s.participants = 1;
        assert_eq!(plan(&s), Err(PlanError::Participants(1)));
        assert_eq!(
            Ladder::preset("4k"),
            Err(PlanError::UnknownPreset("4k".into()))
        );
        let mut s = seed("720p");
        s.ladder.layers_mbps = vec![2.5, 0.2];
        assert_eq!(plan(&s), Err(PlanError::Layers));
        s.ladder.layers_mbps = vec![f64::NAN];
        assert_eq!(plan(&s), Err(PlanError::Layers));
        let mut s = seed("720p");
        s.fluctuation = 0.5;
        assert_eq!(plan(&s), Err(PlanError::Fluctuation(0.5)));
        assert!(matches!(
            Catalog::builtin().find("t2.nano"),
            Err(PlanError::UnknownInstance(..))
        ));
    }

    #[test]
    fn recommendation_takes_the_tighter_bound() {
        let catalog = Catalog::builtin();
        let big = catalog.find("c5n.18xlarge").unwrap();
        let mut s = seed("720p");
        s.meetings = 10;
        s.audio_kbps = 32.0;
        let p = plan(&s).unwrap();
        let measured = Capacity {
            pps_per_cpu_second: 200_000.0,
            source: "test".into(),
        };
        let r = recommend(&p, big, Some(&measured));
        assert_eq!((r.instances, r.bound_by.as_str()), (1, "network"));
        let small = catalog.find("c5n.2xlarge").unwrap();
        let slow = Capacity {
            pps_per_cpu_second: 5_000.0,
            source: "test".into(),
        };
        let r = recommend(&p, small, Some(&slow));
        assert_eq!(r.bound_by, "cpu");
        assert_eq!(
            r.for_cpu,
            (p.total.total.pps / (5_000.0 * 8.0 * 0.8)).ceil() as u64
        );
        assert!((r.monthly_usd - r.instances as f64 * small.monthly_usd).abs() < 1e-9);
    }
}
