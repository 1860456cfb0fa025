//! What a subscriber's downlink may carry, as the allocator should see it.
//!
//! str0m's estimator is right about a link it is filling and easily wrong
//! about one it is not:
//! - A receiver whose CPU is busy (a phone, a laptop running a heavy page, a
//!   test machine running five browsers) stamps arrival times late in
//!   bursts; the estimate dips for a moment and climbs back.
//! - A probe is a burst of a few packets. A token-bucket shaper (most
//!   access links) lets a burst through at line rate, so a 600 kbit/s link
//!   can be estimated at several Mbit/s until something actually sends more.
//!
//! Acting on either costs a keyframe per switch, and the second one freezes
//! the picture: a higher layer's keyframe queued behind a link that cannot
//! carry it. So the allocator gets two figures:
//! - **keep**: what the videos may go on receiving: the highest estimate in
//!   force during the last [`KEEP_WINDOW`], so only a drop that lasts takes
//!   layers away, unless the subscriber also reports loss of at least
//!   [`LOSS_BELIEVED`]: then the drop is real congestion and the latest
//!   estimate counts at once.
//! - **raise**: what a step up must fit in (with the allocator's headroom on
//!   top): the lowest estimate in force during the last [`RAISE_WINDOW`],
//!   and never more than the link has been seen to carry (*proven*).
//!
//! A rate is proven by sending it: what the allocation sends is proven as it
//! goes; to prove more, a **trial** pads the subscriber's stream (str0m's
//! padding, which fills only what media leaves, and never beyond the
//! estimate) towards the rate a better allocation would use, for
//! [`TRIAL_TIME`]. If the estimate holds all along, the lowest it was (what
//! the padding could have filled, up to the trial's rate) is proven, and the next pass raises layers into it; the
//! estimator, seeing the link carry more, grows, and the next trial asks
//! for more. If the estimate falls well below where it began, the trial
//! stops at once, having cost some queueing delay on padding rather than a
//! frozen keyframe.
//!
//! A failed trial, or congestion that takes layers away, doubles the wait
//! before the next trial (up to [`MAX_BACKOFF`]); a successful trial resets
//! it. After a failed trial or a lossy congestion, until the proven rate
//! passes the rate that failed (or for at most [`CAUTIOUS_FOR`]), a trial
//! asks for at most [`CAUTIOUS_STEP`] times the proven rate, so a link just
//! found short is approached gently, not flooded every few seconds; past
//! that rate, the link has changed, and trials ask for all that is wanted
//! again. In the first [`SETTLING`] after the first measurement the
//! estimator is still converging from its starting guess, and a trial that
//! fails then only waits.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A drop in the estimate must last this long to take layers away.
pub const KEEP_WINDOW: Duration = Duration::from_secs(3);
/// A rise in the estimate must last this long to start a trial or raise.
pub const RAISE_WINDOW: Duration = Duration::from_secs(2);
/// Downlink loss at which a lower estimate is believed at once.
pub const LOSS_BELIEVED: f32 = 0.08;
/// Downlink loss that marks a drop as the link's, not the receiver's CPU.
pub const LOSS_CONGESTION: f32 = 0.02;
/// How long a trial must hold to prove its rate.
pub const TRIAL_TIME: Duration = Duration::from_secs(2);
/// The wait before the first trial after a failure; doubled per failure...
const BASE_BACKOFF: Duration = Duration::from_secs(2);
/// ...up to this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(16);
/// How long after a failure trials stay gentle at most.
pub const CAUTIOUS_FOR: Duration = Duration::from_secs(60);
/// A gentle trial asks for at most this multiple of the proven rate.
pub const CAUTIOUS_STEP: f64 = 1.25;
/// A trial must ask for this much more than is proven to be worth it.
const WORTH_TRYING: f64 = 1.05;
/// How long after its first measurement the estimator is still converging.
pub const SETTLING: Duration = Duration::from_secs(5);
/// A trial asks for this much more than is wanted, so what it proves still
/// covers the want when layer rates and the estimate move a little.
const TRIAL_MARGIN: f64 = 1.1;
/// A trial asks for at most this multiple of the lasting estimate (str0m
/// pads no further than its estimate, which grows while the link carries
/// what is padded: asking above it is what lets it grow).
const TRIAL_REACH: f64 = 1.5;
/// A trial fails when the estimate falls below this fraction of what it
/// was when the trial began (or of the trial's rate, if lower).
const TRIAL_DROP: f64 = 0.85;
/// Samples kept at most (str0m reports an estimate at most every few tens of
/// milliseconds; this bounds memory whatever the rate).
const MAX_SAMPLES: usize = 128;

/// The two figures the allocator spends, in bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub keep_bps: u64,
    pub raise_bps: u64,
}

impl Allowance {
    /// Both figures less what is spent elsewhere (the audio).
    pub fn less(self, bps: u64) -> Allowance {
        Allowance {
            keep_bps: self.keep_bps.saturating_sub(bps),
            raise_bps: self.raise_bps.saturating_sub(bps),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Trial {
    bps: u64,
    since: Instant,
    /// The estimate when the trial began.
    estimate: u64,
}

/// A subscriber's recent estimates (each in force until the next), what its
/// link has been seen to carry, and its trials.
#[derive(Debug)]
pub struct Budget {
    samples: VecDeque<(Instant, u64)>,
    proven_bps: u64,
    trial: Option<Trial>,
    backoff: Duration,
    next_trial_at: Option<Instant>,
    /// The rate that failed last, and when.
    failure: Option<(u64, Instant)>,
    /// What the allocation sent at the last plan.
    sending_bps: u64,
    /// When an estimate other than the starting one arrived (the first is
    /// the configured start, not a measurement, and no trial is based on it).
    measured_since: Option<Instant>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            samples: VecDeque::new(),
            proven_bps: 0,
            trial: None,
            backoff: BASE_BACKOFF,
            next_trial_at: None,
            failure: None,
            sending_bps: 0,
            measured_since: None,
        }
    }
}

impl Budget {
    pub fn record(&mut self, now: Instant, estimate_bps: u64) {
        if self.latest() == Some(estimate_bps) {
            return;
        }
        if self.measured_since.is_none() && !self.samples.is_empty() {
            self.measured_since = Some(now);
        }
        if self.samples.len() == MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((now, estimate_bps));
    }

    pub fn latest(&self) -> Option<u64> {
        self.samples.back().map(|(_, e)| *e)
    }

    pub fn proven(&self) -> u64 {
        self.proven_bps
    }

    /// The figures to allocate with; `None` before the first estimate.
    /// `loss` is the subscriber's latest reported downlink loss fraction.
    pub fn allowance(&mut self, now: Instant, loss: Option<f32>) -> Option<Allowance> {
        // Forget what was replaced before the longest window began.
        while self.samples.len() > 1
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= KEEP_WINDOW)
        {
            self.samples.pop_front();
        }
        let latest = self.latest()?;
        let keep = if loss.is_some_and(|l| l >= LOSS_BELIEVED) {
            latest
        } else {
            self.in_force(now, KEEP_WINDOW).max().unwrap_or(latest)
        };
        Some(Allowance {
            keep_bps: keep,
            raise_bps: self.lasting(now).min(self.proven_bps),
        })
    }

    /// The budget took layers away (call once per allocation pass): what is
    /// proven is only what the allocation now sends, and the next trial
    /// waits. With loss of at least [`LOSS_CONGESTION`] reported, what was
    /// sent before is known to be too much, and trials approach it gently;
    /// without, the drop may have been the receiver's CPU, and they need not.
    pub fn congested(&mut self, now: Instant, loss: Option<f32>) {
        self.proven_bps = 0;
        self.trial = None;
        let too_much = loss.is_some_and(|l| l >= LOSS_CONGESTION);
        self.failed(now, too_much.then_some(self.sending_bps));
    }

    /// After an allocation pass that sends `sending_bps` (video and audio)
    /// and would, unconstrained, use `desired_bps` (with the step-up
    /// headroom): what str0m should pad up to.
    pub fn plan(&mut self, now: Instant, sending_bps: u64, desired_bps: u64) -> u64 {
        self.sending_bps = sending_bps;
        self.proven_bps = self.proven_bps.max(sending_bps);
        if let Some(trial) = self.trial {
            let latest = self.latest().unwrap_or(0);
            if (latest as f64) < trial.estimate.min(trial.bps) as f64 * TRIAL_DROP {
                self.trial = None;
                // While the estimator still converges from its starting
                // guess, a fall says nothing about this rate.
                let settled = self
                    .measured_since
                    .is_some_and(|t| now.saturating_duration_since(t) >= SETTLING);
                self.failed(now, settled.then_some(trial.bps));
                return sending_bps;
            }
            if now.saturating_duration_since(trial.since) < TRIAL_TIME {
                return trial.bps;
            }
            // Padding never exceeds the estimate, so the link carried at
            // most the lowest estimate in force during the trial.
            let carried = self
                .in_force(now, now.saturating_duration_since(trial.since))
                .min()
                .unwrap_or(latest);
            self.trial = None;
            self.proven_bps = self.proven_bps.max(trial.bps.min(carried));
            self.backoff = BASE_BACKOFF;
        }
        if self.measured_since.is_none()
            || desired_bps <= self.proven_bps
            || self.next_trial_at.is_some_and(|t| now < t)
        {
            return sending_bps;
        }
        if self.failure.is_some_and(|(bps, at)| {
            self.proven_bps >= bps || now.saturating_duration_since(at) >= CAUTIOUS_FOR
        }) {
            self.failure = None;
        }
        let cap = if self.failure.is_some() {
            (self.proven_bps as f64 * CAUTIOUS_STEP) as u64
        } else {
            u64::MAX
        };
        let lasting = self.lasting(now);
        let reach = (lasting.max(self.proven_bps) as f64 * TRIAL_REACH) as u64;
        let target = ((desired_bps as f64 * TRIAL_MARGIN) as u64)
            .min(reach)
            .min(cap);
        if (target as f64) < self.proven_bps as f64 * WORTH_TRYING
            || target <= sending_bps
            || lasting == 0
        {
            return sending_bps;
        }
        self.trial = Some(Trial {
            bps: target,
            since: now,
            estimate: self.latest().unwrap_or(0),
        });
        target
    }

    /// A trial failed, or congestion took layers away; `bps`: the rate known
    /// to be too much, if any.
    fn failed(&mut self, now: Instant, bps: Option<u64>) {
        self.next_trial_at = Some(now + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        if let Some(bps) = bps {
            self.failure = Some((bps, now));
        }
    }

    /// The lowest estimate in force during the last [`RAISE_WINDOW`].
    fn lasting(&self, now: Instant) -> u64 {
        self.in_force(now, RAISE_WINDOW).min().unwrap_or(0)
    }

    /// The estimates in force at some time during the last `window`.
    fn in_force(&self, now: Instant, window: Duration) -> impl Iterator<Item = u64> + '_ {
        let began = self
            .samples
            .iter()
            .filter(|(t, _)| now.saturating_duration_since(*t) >= window)
            .count();
        self.samples
            .iter()
            .skip(began.saturating_sub(1))
            .map(|(_, e)| *e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const KBPS: u64 = 1000;

    /// A budget whose estimator has been measuring since `t0`.
    fn measured(t0: Instant) -> Budget {
        Budget {
            measured_since: Some(t0),
            ..Budget::default()
        }
    }

    #[test]
    fn a_short_dip_keeps_the_layers_and_a_lasting_one_does_not() {
        let t0 = Instant::now();
        let mut b = Budget::default();
        assert_eq!(b.allowance(t0, None), None);
        b.record(t0, 2_000 * KBPS);
        b.record(t0 + 100 * MS, 400 * KBPS);
        assert_eq!(
            b.allowance(t0 + 200 * MS, None).unwrap().keep_bps,
            2_000 * KBPS
        );
        // Still low after the window: the drop is believed.
        b.record(t0 + 1500 * MS, 450 * KBPS);
        assert_eq!(
            b.allowance(t0 + 3600 * MS, None).unwrap().keep_bps,
            450 * KBPS
        );
        // A steady estimate stands long after it was reported.
        assert_eq!(
            b.allowance(t0 + 60_000 * MS, None).unwrap().keep_bps,
            450 * KBPS
        );
    }

    #[test]
    fn loss_makes_a_drop_count_at_once() {
        let t0 = Instant::now();
        let mut b = Budget::default();
        b.record(t0, 2_000 * KBPS);
        b.record(t0 + 100 * MS, 500 * KBPS);
        assert_eq!(
            b.allowance(t0 + 200 * MS, Some(0.02)).unwrap().keep_bps,
            2_000 * KBPS
        );
        assert_eq!(
            b.allowance(t0 + 200 * MS, Some(0.12)).unwrap().keep_bps,
            500 * KBPS
        );
    }

    #[test]
    fn nothing_is_raised_beyond_what_was_sent_or_tried() {
        let t0 = Instant::now();
        let mut b = measured(t0);
        b.record(t0, 5_000 * KBPS);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // Sending 400k: that much is proven, however high the estimate.
        assert_eq!(b.plan(at(2500), 400 * KBPS, 400 * KBPS), 400 * KBPS);
        assert_eq!(b.allowance(at(2500), None).unwrap().raise_bps, 400 * KBPS);
        // Wanting 2M: a trial pads to it, and a margin, for TRIAL_TIME...
        assert_eq!(b.plan(at(3000), 400 * KBPS, 2_000 * KBPS), 2_200 * KBPS);
        assert_eq!(b.plan(at(4000), 400 * KBPS, 2_000 * KBPS), 2_200 * KBPS);
        assert_eq!(b.allowance(at(4000), None).unwrap().raise_bps, 400 * KBPS);
        // ...after which that is proven and can be raised into.
        assert_eq!(b.plan(at(5100), 400 * KBPS, 2_000 * KBPS), 400 * KBPS);
        assert_eq!(b.allowance(at(5100), None).unwrap().raise_bps, 2_200 * KBPS);
    }

    #[test]
    fn a_trial_reaches_a_little_above_the_lasting_estimate_and_stops_when_it_falls() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut b = measured(t0);
        b.record(t0, 300 * KBPS);
        // A probe burst through a token bucket: a high estimate, briefly. The
        // trial asks only for TRIAL_REACH times what lasted.
        b.record(at(3000), 3_000 * KBPS);
        assert_eq!(b.plan(at(3500), 300 * KBPS, 1_500 * KBPS), 450 * KBPS);
        // The estimate held: that is proven, and, the high estimate having
        // lasted now, the next trial asks for all that is wanted.
        assert_eq!(b.plan(at(5600), 300 * KBPS, 1_500 * KBPS), 1_650 * KBPS);
        assert_eq!(b.proven(), 450 * KBPS);
        // The padding fills the link and the estimate falls: the trial ends,
        // nothing more is proven, and the next waits.
        b.record(at(6000), 600 * KBPS);
        assert_eq!(b.plan(at(6100), 300 * KBPS, 1_500 * KBPS), 300 * KBPS);
        assert_eq!(b.proven(), 450 * KBPS);
        assert_eq!(b.plan(at(7000), 300 * KBPS, 1_500 * KBPS), 300 * KBPS);
        // After the backoff, gently: at most CAUTIOUS_STEP times the proven.
        assert_eq!(b.plan(at(8500), 300 * KBPS, 1_500 * KBPS), 562_500);
    }

    #[test]
    fn past_the_rate_that_failed_trials_ask_for_everything_again() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut b = measured(t0);
        b.record(t0, 5_000 * KBPS);
        b.plan(at(2500), 600 * KBPS, 600 * KBPS);
        b.congested(at(3000), Some(0.1));
        // Gentle steps from 400k: 500k, then 625k, which passes the 600k that failed.
        assert_eq!(b.plan(at(5000), 400 * KBPS, 2_000 * KBPS), 500 * KBPS);
        assert_eq!(b.plan(at(7000), 400 * KBPS, 2_000 * KBPS), 625 * KBPS);
        assert_eq!(b.plan(at(9000), 400 * KBPS, 2_000 * KBPS), 2_200 * KBPS);
    }

    #[test]
    fn a_drop_without_loss_does_not_make_trials_gentle() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut b = measured(t0);
        b.record(t0, 5_000 * KBPS);
        b.plan(at(2500), 2_000 * KBPS, 2_000 * KBPS);
        b.congested(at(3000), Some(0.0));
        assert_eq!(b.plan(at(3100), 500 * KBPS, 2_000 * KBPS), 500 * KBPS);
        assert_eq!(b.plan(at(5100), 500 * KBPS, 2_000 * KBPS), 2_200 * KBPS);
    }

    #[test]
    fn no_trial_rests_on_the_starting_estimate() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut b = Budget::default();
        b.record(t0, 1_000 * KBPS);
        assert_eq!(b.plan(at(100), 150 * KBPS, 1_500 * KBPS), 150 * KBPS);
        b.record(at(200), 900 * KBPS);
        assert_eq!(b.plan(at(300), 150 * KBPS, 1_500 * KBPS), 1_350 * KBPS);
    }

    #[test]
    fn a_fall_while_the_estimator_settles_only_delays_the_next_trial() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut b = Budget::default();
        b.record(t0, 1_000 * KBPS);
        b.record(at(100), 800 * KBPS);
        assert_eq!(b.plan(at(2200), 200 * KBPS, 1_000 * KBPS), 1_100 * KBPS);
        b.record(at(2500), 400 * KBPS);
        assert_eq!(b.plan(at(2600), 200 * KBPS, 1_000 * KBPS), 200 * KBPS);
        b.record(at(3000), 900 * KBPS);
        // After the wait, not gently: 1.5 times the lasting 900k, within the want.
        assert_eq!(b.plan(at(5100), 200 * KBPS, 1_000 * KBPS), 1_100 * KBPS);
    }

    #[test]
    fn a_trial_proves_no_more_than_the_padding_could_send() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut b = measured(t0);
        b.record(t0, 1_000 * KBPS);
        assert_eq!(b.plan(at(2500), 300 * KBPS, 2_000 * KBPS), 1_500 * KBPS);
        // The estimate wavers but never falls 15 %: the trial holds, and the
        // lowest estimate during it (padding stops there) is what is proven.
        b.record(at(3000), 900 * KBPS);
        b.record(at(4000), 1_200 * KBPS);
        b.plan(at(4600), 300 * KBPS, 2_000 * KBPS);
        assert_eq!(b.proven(), 900 * KBPS);
    }

    #[test]
    fn congestion_forgets_what_was_proven_and_backs_off() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut b = measured(t0);
        b.record(t0, 5_000 * KBPS);
        b.plan(at(2500), 2_000 * KBPS, 2_000 * KBPS);
        // The wait doubles with every failure, up to MAX_BACKOFF.
        for i in 0..10 {
            b.congested(at(3000 + i), Some(0.1));
        }
        assert_eq!(b.proven(), 0);
        assert_eq!(b.backoff, MAX_BACKOFF);
        assert_eq!(b.plan(at(3100), 500 * KBPS, 2_000 * KBPS), 500 * KBPS);
        assert_eq!(b.proven(), 500 * KBPS);
        assert_eq!(
            b.plan(at(3100 + 15_000), 500 * KBPS, 2_000 * KBPS),
            500 * KBPS
        );
        assert_eq!(
            b.plan(at(3100 + 16_000), 500 * KBPS, 2_000 * KBPS),
            625 * KBPS
        );
    }

    #[test]
    fn memory_is_bounded() {
        let t0 = Instant::now();
        let mut b = Budget::default();
        for i in 0..10_000u64 {
            b.record(t0, i);
        }
        assert!(b.samples.len() <= MAX_SAMPLES);
        assert_eq!(b.allowance(t0, None).unwrap().keep_bps, 9_999);
    }

    #[test]
    fn less_never_goes_below_zero() {
        let l = Allowance {
            keep_bps: 100,
            raise_bps: 50,
        };
        assert_eq!(
            l.less(80),
            Allowance {
                keep_bps: 20,
                raise_bps: 0
            }
        );
    }
}
