//! Who is speaking, from the audio level each publisher's browser writes into
//! every Opus packet (RFC 6464: 0 dBov loudest, -127 silence).
//!
//! Per audio track we keep a level smoothed over roughly the last 300 ms, so a
//! single loud packet (a click, a cough) does not count. A track becomes
//! *active* once its smoothed level has stayed above the entry threshold for
//! [`HOLD_TO_START`], and inactive again only after it stayed below a lower exit
//! threshold for [`HOLD_TO_STOP`]. The two thresholds and the hold times are the
//! hysteresis that keeps the speaker highlight from flickering between words.
//!
//! Clients receive the result as deltas: [`SpeakerDetector::changes`] returns
//! the tracks whose state changed and the levels of those still active, loudest
//! first, so the first active entry is the dominant speaker.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::TrackId;

const START_DBOV: f32 = -50.0;
const STOP_DBOV: f32 = -58.0;
pub const HOLD_TO_START: Duration = Duration::from_millis(200);
pub const HOLD_TO_STOP: Duration = Duration::from_millis(800);
/// Weight of a new sample in the smoothed level (50 packets/s → ~300 ms memory).
const ALPHA: f32 = 0.07;
/// A track that sends nothing (muted, DTX) for this long is silent.
const STALE: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct Track {
    level: f32,
    last_sample: Instant,
    above_since: Option<Instant>,
    below_since: Option<Instant>,
    active: bool,
    reported_active: bool,
}

/// A change to tell clients: `level` is 0..1 (1 = loudest), 0 when inactive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeakerChange {
    pub track: TrackId,
    pub level: f32,
    pub active: bool,
}

/// dBov (-127..0) as the 0..1 level clients show.
fn to_unit(dbov: f32) -> f32 {
    ((dbov + 127.0) / 127.0).clamp(0.0, 1.0)
}

#[derive(Debug, Default)]
pub struct SpeakerDetector {
    tracks: HashMap<TrackId, Track>,
}

impl SpeakerDetector {
    pub fn observe(&mut self, track: TrackId, dbov: i8, now: Instant) {
        let t = self.tracks.entry(track).or_insert(Track {
            level: -127.0,
            last_sample: now,
            above_since: None,
            below_since: None,
            active: false,
            reported_active: false,
        });
        t.level += ALPHA * (f32::from(dbov) - t.level);
        t.last_sample = now;
    }

    pub fn remove(&mut self, track: TrackId) {
        self.tracks.remove(&track);
    }

    /// The level (0..1) of a track currently counted as speaking.
    pub fn active_level(&self, track: TrackId) -> Option<f32> {
        let t = self.tracks.get(&track).filter(|t| t.active)?;
        Some(to_unit(t.level))
    }

    /// Advance the state machines and return what changed since the last call,
    /// plus the current levels of active speakers, loudest first.
    pub fn changes(&mut self, now: Instant) -> Vec<SpeakerChange> {
        let mut out = Vec::new();
        for (id, t) in &mut self.tracks {
            let level = if now.saturating_duration_since(t.last_sample) > STALE {
                -127.0
            } else {
                t.level
            };
            if level >= START_DBOV {
                t.above_since.get_or_insert(now);
            } else {
                t.above_since = None;
            }
            if level < STOP_DBOV {
                t.below_since.get_or_insert(now);
            } else {
                t.below_since = None;
            }
            if !t.active && t.above_since.is_some_and(|s| now - s >= HOLD_TO_START) {
                t.active = true;
            }
            if t.active && t.below_since.is_some_and(|s| now - s >= HOLD_TO_STOP) {
                t.active = false;
            }
            if t.active || t.reported_active {
                out.push(SpeakerChange {
                    track: *id,
                    level: if t.active { to_unit(level) } else { 0.0 },
                    active: t.active,
                });
            }
            t.reported_active = t.active;
        }
        out.sort_by(|a, b| b.level.total_cmp(&a.level));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(d: &mut SpeakerDetector, track: u64, dbov: i8, from: Instant, ms: u64) -> Instant {
        let mut t = from;
        for _ in 0..ms / 20 {
            t += Duration::from_millis(20);
            d.observe(TrackId(track), dbov, t);
        }
        t
    }

    #[test]
    fn speech_becomes_active_and_silence_ends_it() {
        let mut d = SpeakerDetector::default();
        let t0 = Instant::now();
        let t = feed(&mut d, 1, -20, t0, 1000);
        feed(&mut d, 2, -100, t0, 1000);
        let c = d.changes(t);
        assert!(c.is_empty(), "not yet held long enough: {c:?}");
        let t = feed(&mut d, 1, -20, t, 300);
        let c = d.changes(t);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].track, c[0].active), (TrackId(1), true));

        let t = feed(&mut d, 1, -110, t, 400);
        assert!(d.changes(t)[0].active, "a short pause keeps the speaker");
        let t = feed(&mut d, 1, -110, t, 1000);
        let c = d.changes(t);
        assert_eq!(
            c,
            vec![SpeakerChange {
                track: TrackId(1),
                level: 0.0,
                active: false
            }]
        );
        assert!(d.changes(t).is_empty(), "the stop is reported once");
    }

    #[test]
    fn a_click_is_not_speech() {
        let mut d = SpeakerDetector::default();
        let t0 = Instant::now();
        let t = feed(&mut d, 1, -110, t0, 500);
        let t = feed(&mut d, 1, 0, t, 40);
        d.changes(t);
        let t = feed(&mut d, 1, -110, t, 500);
        assert!(d.changes(t).is_empty());
    }
}
