//! Synthetic meeting participants ("bots") for Confab's integration tests and
//! benchmarks.
//!
//! A bot is a headless client that speaks the same protocol as a browser
//! (Confab is compatible with LiveKit client SDKs): the v0 `/rtc` WebSocket
//! with two peer connections, str0m as its WebRTC stack. It publishes what a
//! camera and microphone would (simulcast VP8 at real layer bitrates, Opus-sized
//! audio with audio levels), subscribes to everyone else, and asks for each
//! video at the size a speaker or grid layout would show it. No media is
//! encoded or decoded: the SFU only needs realistic packet patterns and VP8
//! descriptors it can rewrite.
//!
//! Data flow: [`run`] starts one tokio task per bot ([`bot`]). Each bot
//! signs its own token ([`token`]), joins, answers the server's subscriber
//! offers, announces its tracks and offers its publisher connection. Once that
//! is up it sends frames cut by [`vp8::Vp8Packetizer`] and audio packets, every
//! payload stamped with a [`probe::Probe`] (send time, counter, layer). What
//! arrives on the subscriber connection is counted per track: sequence gaps
//! for loss ([`stats::SeqTracker`]), receive time minus probe time for latency
//! ([`stats::Histogram`]), the probe's layer for which simulcast layer the
//! server chose. At the end each bot returns a [`report::BotReport`], and
//! [`report::Report`] adds them up and checks that everyone received everyone
//! else in their room and nothing from other rooms.
//!
//! The benchmark reads [`LiveCounters`] while the bots run, to measure a
//! steady window rather than the whole run. With [`Dialect::Janus`] the same
//! bots, media and measurements speak Janus' VideoRoom API instead (see
//! `bot/janus.rs`), for the benchmark's side-by-side run. Scenario files
//! ([`scenario`]) name the load shapes both use.
//!
//! Everything is bounded: at most [`config::MAX_BOTS`] bots and
//! [`config::MAX_DURATION`] per run, and every bot stops on its own.

pub mod bot;
pub mod config;
pub mod probe;
pub mod report;
pub mod scenario;
pub mod server;
pub mod stats;
pub mod token;
pub mod vp8;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use bot::BotSpec;
pub use config::{Config, Dialect, MediaConfig, Preset, View};
pub use report::{BotReport, Report};
pub use scenario::Scenario;
pub use stats::{CounterSnapshot, LiveCounters};

/// Extra time a bot gets beyond its duration before it is abandoned.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The bots of a run, in start order. Bot 0 of each room is its speaker: it
/// sends voice activity, and everyone else watches its video large. The first
/// [`Config::publishers`] bots of a room publish; the rest only listen.
pub fn plan(cfg: &Config) -> Vec<BotSpec> {
    let mut specs = Vec::with_capacity(cfg.bots());
    for room in 0..cfg.rooms {
        for bot in 0..cfg.per_room {
            let speaker = if bot == 0 {
                // The speaker itself watches the next participant large.
                (cfg.per_room > 1).then(|| cfg.identity(room, 1))
            } else {
                Some(cfg.identity(room, 0))
            };
            specs.push(BotSpec {
                room: cfg.room_name(room),
                identity: cfg.identity(room, bot),
                speaker,
                speaking: bot == 0,
                publishes: bot < cfg.publishers(),
            });
        }
    }
    specs
}

/// Run the configured bots to the end and report. Needs a tokio runtime with
/// the time and net drivers.
pub async fn run(cfg: Config) -> Result<Report, String> {
    run_counted(cfg, Arc::default()).await
}

/// [`run`], adding every packet sent and received to `counters` as it happens.
pub async fn run_counted(cfg: Config, counters: Arc<LiveCounters>) -> Result<Report, String> {
    cfg.validate()?;
    let cfg = Arc::new(cfg);
    let specs = plan(&cfg);
    let count = specs.len() as u32;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(specs.len());
    for (i, spec) in specs.into_iter().enumerate() {
        let cfg = cfg.clone();
        let counters = counters.clone();
        let delay = cfg.ramp * i as u32 / count.max(1);
        let begin = start + delay;
        let stop_at = begin + cfg.duration;
        let fallback = BotReport::new(&spec);
        let task = tokio::spawn(async move {
            tokio::time::sleep_until(begin.into()).await;
            let limit = cfg.duration + STOP_GRACE;
            tokio::time::timeout(limit, bot::run(spec, cfg, counters, stop_at)).await
        });
        tasks.push((task, fallback));
    }
    let mut reports = Vec::with_capacity(tasks.len());
    for (task, mut fallback) in tasks {
        let report = match task.await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => {
                fallback.error = Some("did not stop in time".into());
                fallback
            }
            Err(e) => {
                fallback.error = Some(format!("bot task failed: {e}"));
                fallback
            }
        };
        reports.push(report);
    }
    Ok(Report::build(&cfg, reports))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_names_rooms_speakers_and_identities() {
        let mut cfg = Config::new("ws://127.0.0.1:1", "k", "s");
        cfg.rooms = 2;
        cfg.per_room = 3;
        let specs = plan(&cfg);
        assert_eq!(specs.len(), 6);
        assert_eq!(specs[0].identity, "load-0-bot0");
        assert_eq!(specs[0].speaker.as_deref(), Some("load-0-bot1"));
        assert!(specs[0].speaking);
        assert_eq!(specs[4].room, "load-1");
        assert_eq!(specs[4].speaker.as_deref(), Some("load-1-bot0"));
        assert!(!specs[4].speaking);
        assert!(specs.iter().all(|s| s.publishes));
        cfg.publishers_per_room = Some(1);
        let specs = plan(&cfg);
        assert!(specs[0].publishes && !specs[1].publishes && !specs[2].publishes);
        assert_eq!(specs[1].speaker.as_deref(), Some("load-0-bot0"));
    }
}
