//! The dominant speaker: the one person the room is listening to.
//!
//! This follows Volfin & Cohen, "Dominant speaker identification for
//! multipoint videoconferencing" (2013), the algorithm Jitsi Videobridge uses.
//! Loudness alone is a poor guide: a fan, a keyboard or a cough can be louder
//! than speech. Speech has a rhythm instead: energy that stays up for a
//! syllable, syllables that come in bursts, bursts that fill seconds. So each
//! speaker's audio is judged on three time scales:
//!
//! * **immediate**: one 20 ms frame, as the number of the 13 level steps above
//!   that speaker's own noise floor (so a constant hum counts as nothing);
//! * **medium**: of the last [`N2`] frames, how many were clearly active;
//! * **long**: of the last [`N3`] medium blocks, how many were mostly active.
//!
//! Each count becomes a score: the log-likelihood that it came from speech
//! (a binomial with p = ½) rather than from silence (an exponential with rate
//! λ). Every [`DECISION_INTERVAL`] a competitor replaces the dominant speaker
//! only if it beats the dominant on all three scales by the margins C1, C2, C3
//! (in log ratio). The long scale is what makes a click or a short interjection
//! lose: it has no sustained activity, so it never wins the long comparison;
//! the margins are the hysteresis that keeps the choice from flapping between
//! two people in a conversation.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::TrackId;

/// Level steps in one frame (the paper's sub-bands).
const N1: u8 = 13;
/// Frames in one medium block (200 ms).
const N2: u8 = 10;
/// Medium blocks in the long window (2 s).
const N3: u8 = 10;
/// A frame is active with at least this many of the N1 steps.
const MEDIUM_THRESHOLD: u8 = 5;
/// A medium block is active with at least this many active frames.
const LONG_THRESHOLD: u8 = 5;
const LAMBDA1: f64 = 0.78;
const LAMBDA2: f64 = 24.0;
const LAMBDA3: f64 = 47.0;
const C1: f64 = 3.0;
const C2: f64 = 2.0;
const C3: f64 = 0.0;
const MIN_SCORE: f64 = 1e-10;
pub const DECISION_INTERVAL: Duration = Duration::from_millis(300);
const FRAME: Duration = Duration::from_millis(20);
/// Audio levels 0..=127, RFC 6464 dBov turned around (127 = 0 dBov).
const MAX_LEVEL: u8 = 127;
/// The noise floor is the quietest level in the last this many seconds.
const FLOOR_SECONDS: usize = 10;

#[derive(Debug)]
struct Speaker {
    /// Immediates of the frames of the current medium block.
    block: Vec<u8>,
    /// Active-frame counts of the last N3 complete medium blocks.
    mediums: VecDeque<u8>,
    /// Immediate of the most recent frame.
    immediate: u8,
    /// Quietest level per second over the last FLOOR_SECONDS seconds.
    floor: VecDeque<(Instant, u8)>,
    last_frame: Instant,
}

impl Speaker {
    fn new(now: Instant) -> Self {
        Self {
            block: Vec::with_capacity(usize::from(N2)),
            mediums: VecDeque::with_capacity(usize::from(N3)),
            immediate: 0,
            floor: VecDeque::new(),
            last_frame: now,
        }
    }

    fn noise_floor(&self) -> u8 {
        self.floor.iter().map(|(_, l)| *l).min().unwrap_or(0)
    }

    fn track_floor(&mut self, level: u8, now: Instant) {
        match self.floor.back_mut() {
            Some((start, min))
                if now.saturating_duration_since(*start) < Duration::from_secs(1) =>
            {
                *min = (*min).min(level)
            }
            _ => {
                self.floor.push_back((now, level));
                if self.floor.len() > FLOOR_SECONDS {
                    self.floor.pop_front();
                }
            }
        }
    }

    fn frame(&mut self, level: u8, now: Instant) {
        self.track_floor(level, now);
        let floor = self.noise_floor();
        let step = (MAX_LEVEL - floor.min(MAX_LEVEL - 1)).div_ceil(N1);
        self.immediate = (level.saturating_sub(floor) / step.max(1)).min(N1);
        self.push_immediate(self.immediate);
        self.last_frame = now;
    }

    fn push_immediate(&mut self, immediate: u8) {
        self.block.push(immediate);
        if self.block.len() >= usize::from(N2) {
            let active = self
                .block
                .iter()
                .filter(|&&i| i >= MEDIUM_THRESHOLD)
                .count() as u8;
            self.block.clear();
            self.mediums.push_back(active);
            if self.mediums.len() > usize::from(N3) {
                self.mediums.pop_front();
            }
        }
    }

    /// Frames missed (muted, DTX, lost) count as silence.
    fn catch_up(&mut self, now: Instant) {
        let missed = now.saturating_duration_since(self.last_frame).as_millis() / FRAME.as_millis();
        // Beyond two seconds every window is silent anyway.
        for _ in 0..missed.min(u128::from(N2) * u128::from(N3)) {
            self.immediate = 0;
            self.push_immediate(0);
        }
        if missed > 0 {
            self.last_frame = now;
        }
    }

    fn scores(&self) -> [f64; 3] {
        let medium = self
            .block
            .iter()
            .filter(|&&i| i >= MEDIUM_THRESHOLD)
            .count() as u8;
        let medium = self.mediums.back().copied().unwrap_or(0).max(medium);
        let long = self
            .mediums
            .iter()
            .filter(|&&m| m >= LONG_THRESHOLD)
            .count() as u8;
        [
            activity_score(self.immediate, N1, LAMBDA1),
            activity_score(medium, N2, LAMBDA2),
            activity_score(long, N3, LAMBDA3),
        ]
    }
}

/// Log-likelihood ratio of `active` out of `total` under speech (binomial,
/// p = ½) against silence (exponential with rate `lambda`).
fn activity_score(active: u8, total: u8, lambda: f64) -> f64 {
    let (k, n) = (f64::from(active), f64::from(total));
    let score = ln_binomial(total, active) + n * 0.5f64.ln() - lambda.ln() + lambda * k;
    score.max(MIN_SCORE)
}

fn ln_binomial(n: u8, k: u8) -> f64 {
    let k = k.min(n - k.min(n));
    (0..k).fold(0.0, |acc, i| {
        acc + f64::from(n - i).ln() - f64::from(i + 1).ln()
    })
}

/// Tracks each audio track's speech activity and names the dominant one.
#[derive(Debug, Default)]
pub struct DominantSpeaker {
    speakers: HashMap<TrackId, Speaker>,
    dominant: Option<TrackId>,
}

impl DominantSpeaker {
    /// One audio packet's RFC 6464 level (dBov, -127..=0).
    pub fn observe(&mut self, track: TrackId, dbov: i8, now: Instant) {
        let level = (i16::from(dbov.clamp(-127, 0)) + 127) as u8;
        self.speakers
            .entry(track)
            .or_insert_with(|| Speaker::new(now))
            .frame(level, now);
    }

    pub fn remove(&mut self, track: TrackId) {
        self.speakers.remove(&track);
        if self.dominant == Some(track) {
            self.dominant = None;
        }
    }

    pub fn current(&self) -> Option<TrackId> {
        self.dominant
    }

    /// Re-decide; returns the new dominant speaker if it changed.
    pub fn decide(&mut self, now: Instant) -> Option<TrackId> {
        for s in self.speakers.values_mut() {
            s.catch_up(now);
        }
        let floor = [MIN_SCORE; 3];
        let dominant_scores = self
            .dominant
            .and_then(|d| self.speakers.get(&d))
            .map_or(floor, Speaker::scores);
        let mut best: Option<(TrackId, f64)> = None;
        for (id, s) in &self.speakers {
            if Some(*id) == self.dominant {
                continue;
            }
            let scores = s.scores();
            let ratio = |i: usize| (scores[i] / dominant_scores[i]).ln();
            let (c1, c2, c3) = (ratio(0), ratio(1), ratio(2));
            if c1 > C1 && c2 > C2 && c3 > C3 && best.is_none_or(|(_, b)| c2 > b) {
                best = Some((*id, c2));
            }
        }
        let (winner, _) = best?;
        self.dominant = Some(winner);
        Some(winner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `ms` of 20 ms frames: `level(frame index)` in dBov.
    fn feed(
        d: &mut DominantSpeaker,
        track: u64,
        from: Instant,
        ms: u64,
        level: impl Fn(u64) -> i8,
    ) -> Instant {
        let mut t = from;
        for i in 0..ms / 20 {
            t += FRAME;
            d.observe(TrackId(track), level(i), t);
        }
        t
    }

    /// Speech-like: syllables of ~200 ms at -25 dBov with short gaps.
    fn speech(i: u64) -> i8 {
        if i % 13 < 10 { -25 } else { -90 }
    }

    fn run(
        d: &mut DominantSpeaker,
        feeds: &[(u64, &dyn Fn(u64) -> i8)],
        from: Instant,
        ms: u64,
    ) -> Instant {
        let mut t = from;
        let mut elapsed = 0;
        while elapsed < ms {
            let mut end = t;
            for (track, level) in feeds {
                end = feed(d, *track, t, 300, |i| level(i + elapsed / 20));
            }
            t = end;
            elapsed += 300;
            d.decide(t);
        }
        t
    }

    #[test]
    fn a_speaker_among_quiet_ones_becomes_dominant_within_two_seconds() {
        let mut d = DominantSpeaker::default();
        let t0 = Instant::now();
        let quiet = |_| -100;
        let t = run(&mut d, &[(1, &quiet), (2, &quiet), (3, &quiet)], t0, 3000);
        assert_eq!(d.current(), None, "silence names nobody");
        run(&mut d, &[(1, &quiet), (2, &speech), (3, &quiet)], t, 2000);
        assert_eq!(d.current(), Some(TrackId(2)));
    }

    #[test]
    fn constant_noise_and_clicks_do_not_take_over() {
        let mut d = DominantSpeaker::default();
        let t0 = Instant::now();
        let hum = |_| -30; // a loud fan: above speech level, but steady
        let click = |i: u64| if i.is_multiple_of(100) { 0 } else { -110 };
        let t = run(&mut d, &[(1, &speech), (2, &hum), (3, &click)], t0, 12_000);
        assert_eq!(d.current(), Some(TrackId(1)));
        // The speaker pauses briefly; the hum and the clicks still do not win.
        let pause = |_| -110;
        run(&mut d, &[(1, &pause), (2, &hum), (3, &click)], t, 600);
        assert_eq!(d.current(), Some(TrackId(1)));
    }

    #[test]
    fn the_floor_passes_to_the_next_speaker() {
        let mut d = DominantSpeaker::default();
        let t0 = Instant::now();
        let quiet = |_| -110;
        let t = run(&mut d, &[(1, &speech), (2, &quiet)], t0, 3000);
        assert_eq!(d.current(), Some(TrackId(1)));
        let t = run(&mut d, &[(1, &quiet), (2, &speech)], t, 3000);
        assert_eq!(d.current(), Some(TrackId(2)));
        // Muted: no packets at all counts as silence.
        let t = t + Duration::from_secs(3);
        feed(&mut d, 1, t, 3000, speech);
        d.decide(t + Duration::from_secs(3));
        assert_eq!(d.current(), Some(TrackId(1)));
    }

    #[test]
    fn scores_grow_with_activity() {
        assert_eq!(activity_score(0, N2, LAMBDA2), MIN_SCORE);
        assert!(activity_score(3, N2, LAMBDA2) > activity_score(1, N2, LAMBDA2));
        assert!((ln_binomial(5, 2) - 10f64.ln()).abs() < 1e-9);
    }
}
