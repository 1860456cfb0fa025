//! The allocation pass: gathers each subscriber's inputs for the pure
//! [`allocator`](crate::allocator), applies its answer to the subscriptions,
//! and says what clients must be told (paused videos to subscribers, needed
//! layers to publishers) and what each subscriber's estimator should look for.
//!
//! Dynacast: a publisher is told the highest layer any subscriber was
//! allocated (see [`Dynacast::step`](super::track::Dynacast::step) for when).
//!
//! Probing: str0m probes when the desired rate rises above its estimate. A
//! link that was short once would stay at its old estimate (the estimator
//! only believes what it saw delivered), so while the estimate is short of
//! the desire, a probe is asked for again every [`PROBE_INTERVAL`] by
//! lowering the desire to the estimate and raising it back. The minimum is
//! what str0m pads up to when media leaves room: what the allocation sends,
//! so the estimate does not sag while a picture is still, or a trial's rate
//! (see [`budget`](crate::budget)).

use std::time::{Duration, Instant};

use super::subscription::Subscription;
use super::track::{DEFAULT_AUDIO_BPS, Track};
use super::{Router, RouterSettings};
use crate::allocator::{self, Allocation, Candidate};
use crate::budget::Budget;
use crate::layers;
use crate::quality;
use crate::{Kind, PeerId, TrackId};

/// Periodic allocation and rate measurement.
pub const INTERVAL: Duration = Duration::from_millis(500);
/// A video lowered this recently is not raised again.
const UPGRADE_HOLD: Duration = Duration::from_secs(2);
/// How often a subscriber whose estimate falls short is probed for more.
const PROBE_INTERVAL: Duration = Duration::from_secs(3);
/// Periodic passes that repeat an update a client may have missed: a
/// changed paused/resumed state, a dynacast change.
const UPDATE_REPEATS: u8 = 3;
/// The estimator probes towards at least this much before any video is known.
const INITIAL_DESIRED: u64 = 1_000_000;

/// What an allocation pass asks the worker to pass on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// To a subscriber: these videos were paused (true) or resumed (false).
    StreamStates {
        subscriber: PeerId,
        states: Vec<(TrackId, bool)>,
    },
    /// To a publisher: the highest layer of its track anybody needs.
    SubscribedLayers {
        publisher: PeerId,
        track: TrackId,
        max_layer: u8,
    },
    /// To a subscriber's estimator: pad up to `minimum`, probe towards
    /// `desired` (bits/s); first set the desire to `reprobe_from` (its
    /// estimate) so that raising it again starts a new probe.
    Estimator {
        subscriber: PeerId,
        minimum: u64,
        desired: u64,
        reprobe_from: Option<u64>,
    },
}

/// One subscriber's downlink as the allocation sees it.
#[derive(Debug)]
pub(super) struct Downlink {
    budget: Budget,
    /// Loss on the downlink, as the subscriber last reported it.
    pub loss: Option<f32>,
    /// Fraction of the video bitrate its views want that the allocation
    /// sends, while its downlink is known to be short.
    pub delivered: Option<f32>,
    /// Congestion lowered this subscriber's videos, and the allocation has
    /// not since given it most of what its views want.
    starved: bool,
    /// What the estimator was last asked for.
    desired_bps: u64,
    minimum_bps: u64,
    last_probe: Instant,
}

impl Downlink {
    pub fn new(now: Instant) -> Self {
        Self {
            budget: Budget::default(),
            loss: None,
            delivered: None,
            starved: false,
            desired_bps: 0,
            minimum_bps: 0,
            last_probe: now,
        }
    }

    pub fn record_estimate(&mut self, subscriber: PeerId, bps: u64, now: Instant) {
        if self.budget.latest().is_none_or(|e| e.abs_diff(bps) * 5 > e) {
            tracing::debug!(
                subscriber = subscriber.0,
                estimate = bps,
                "downlink estimate"
            );
        }
        self.budget.record(now, bps);
    }
}

impl Router {
    /// Allocate every subscriber's downlink; `periodic` passes also repeat
    /// recent notices. Returns the number of subscribers allocated.
    pub fn allocate(&mut self, now: Instant, periodic: bool, out: &mut Vec<Notice>) -> u64 {
        let Router {
            settings,
            tracks,
            downlinks,
            recent_speakers,
            ..
        } = self;
        let mut needed: Vec<(TrackId, Option<u8>)> = Vec::new();
        let mut subscribers = 0u64;
        for (&sub_id, downlink) in downlinks.iter_mut() {
            let mut candidates = Vec::new();
            let mut audio_bps = 0;
            for (&track_id, track) in tracks.iter() {
                let Some(s) = track.subscription(sub_id).filter(|s| s.ready) else {
                    continue;
                };
                match track.kind {
                    Kind::Audio => audio_bps += track.layers.bps[0].unwrap_or(DEFAULT_AUDIO_BPS),
                    Kind::Video => {
                        candidates.push(candidate(recent_speakers, track, track_id, s, now))
                    }
                }
            }
            allocator::prioritize(&mut candidates);
            let allowance = downlink
                .budget
                .allowance(now, downlink.loss)
                .map(|l| l.less(audio_bps));
            let allocations = allocator::allocate(
                &candidates,
                allowance,
                settings.last_n,
                settings.pause_video_on_congestion,
            );
            subscribers += 1;

            let used = allocator::usage(&candidates, &allocations);
            let mut states = Vec::new();
            let mut congested = false;
            for (c, &a) in candidates.iter().zip(&allocations) {
                let Some(s) = tracks
                    .get_mut(&c.track)
                    .and_then(|t| t.subscription_mut(sub_id))
                else {
                    continue;
                };
                if s.allocation != Some(a) {
                    tracing::debug!(
                        subscriber = sub_id.0,
                        track = c.track.0,
                        from = ?s.allocation,
                        to = ?a,
                        ?allowance,
                        "allocation"
                    );
                }
                congested |= apply(s, c, a, now);
                if let Some(paused) = paused_notice(s, a, periodic) {
                    states.push((c.track, paused));
                }
                match needed.iter_mut().find(|(t, _)| *t == c.track) {
                    Some((_, max)) => *max = (*max).max(a.layer()),
                    None => needed.push((c.track, a.layer())),
                }
            }
            if congested {
                downlink.budget.congested(now, downlink.loss);
                downlink.starved = true;
            }
            if !states.is_empty() {
                out.push(Notice::StreamStates {
                    subscriber: sub_id,
                    states,
                });
            }
            // Connection quality counts a shortfall from the moment congestion
            // takes layers away until the subscriber gets most of what its
            // views want again: one that just joined, or whose layers wait for
            // a trial, is not short of anything yet.
            let wanted_video = allocator::wanted(&candidates, &allocations);
            let fraction =
                (wanted_video > 0).then(|| (used as f64 / wanted_video as f64).min(1.0) as f32);
            if fraction.is_none_or(|f| f >= quality::EXCELLENT_DELIVERED) {
                downlink.starved = false;
            }
            downlink.delivered =
                fraction.filter(|_| settings.congestion_control && downlink.starved);
            if let Some(notice) = estimator(
                settings,
                downlink,
                sub_id,
                audio_bps,
                used,
                wanted_video,
                now,
            ) {
                out.push(notice);
            }
        }

        for (track_id, track) in tracks.iter_mut() {
            if track.kind != Kind::Video {
                continue;
            }
            // Nobody watching (or all paused): keep the lowest layer, so a
            // subscriber gets a picture at once when that changes.
            let max = needed
                .iter()
                .find(|(t, _)| t == track_id)
                .and_then(|(_, m)| *m)
                .unwrap_or(0);
            // An update is repeated on the next few periodic passes: a
            // client that gets it before its encoder is set up (the first
            // one comes as the track is published) may drop it.
            let update = match track.dynacast.step(max, now) {
                Some(update) => {
                    track.dynacast.repeats = UPDATE_REPEATS;
                    Some(update)
                }
                None if periodic && track.dynacast.repeats > 0 => {
                    track.dynacast.repeats -= 1;
                    track.dynacast.sent
                }
                None => None,
            };
            if let Some(max_layer) = update {
                out.push(Notice::SubscribedLayers {
                    publisher: track.publisher,
                    track: *track_id,
                    max_layer,
                });
            }
        }
        subscribers
    }
}

/// Record allocation `a` on the subscription. Returns whether it was a cut
/// for lack of bandwidth: lower than before and short of what the view asks.
fn apply(s: &mut Subscription, c: &Candidate, a: Allocation, now: Instant) -> bool {
    let before = s.allocation.and_then(Allocation::layer);
    s.allocation = Some(a);
    let lowered = before.is_some_and(|b| a.layer().is_none_or(|l| l < b));
    if !lowered {
        return false;
    }
    s.lowered_at = Some(now);
    match a {
        Allocation::PausedBandwidth => true,
        Allocation::Layer(l) => c.ideal.is_some_and(|ideal| l < ideal),
        _ => false,
    }
}

/// The paused state to tell the subscriber, if it changed or is due a repeat.
///
/// A video the subscriber stopped showing keeps the state it was told last:
/// announcing it active because it is hidden would have a client that hides
/// paused tiles show it, ask for it, and be told it is paused again, over
/// and over.
fn paused_notice(s: &mut Subscription, a: Allocation, periodic: bool) -> Option<bool> {
    let paused = match a {
        Allocation::NotShown => s.paused,
        _ => a.paused(),
    };
    if paused != s.paused {
        s.paused = paused;
        s.state_repeats = UPDATE_REPEATS;
        Some(paused)
    } else if periodic && s.state_repeats > 0 {
        s.state_repeats -= 1;
        Some(paused)
    } else {
        None
    }
}

/// What the subscriber's estimator should be asked, when that changed by
/// more than a tenth or a new probe is due (see the module's prose).
fn estimator(
    settings: &RouterSettings,
    downlink: &mut Downlink,
    subscriber: PeerId,
    audio_bps: u64,
    used: u64,
    wanted_video: u64,
    now: Instant,
) -> Option<Notice> {
    if !settings.congestion_control {
        return None;
    }
    let desired = (audio_bps + wanted_video).max(INITIAL_DESIRED);
    let with_headroom =
        audio_bps + (wanted_video as f64 * (1.0 + allocator::UPGRADE_HEADROOM)) as u64;
    let minimum = downlink.budget.plan(now, audio_bps + used, with_headroom);
    let short = downlink.budget.latest().is_some_and(|e| e < desired);
    let reprobe = short && now.saturating_duration_since(downlink.last_probe) >= PROBE_INTERVAL;
    let changed = |new: u64, old: u64| new.abs_diff(old) * 10 > old;
    if !reprobe
        && !changed(desired, downlink.desired_bps)
        && !changed(minimum, downlink.minimum_bps)
    {
        return None;
    }
    let reprobe_from = if reprobe {
        downlink.last_probe = now;
        downlink.budget.latest()
    } else {
        None
    };
    tracing::debug!(
        subscriber = subscriber.0,
        minimum,
        desired,
        proven = downlink.budget.proven(),
        "bandwidth estimator asked"
    );
    downlink.desired_bps = desired;
    downlink.minimum_bps = minimum;
    Some(Notice::Estimator {
        subscriber,
        minimum,
        desired,
        reprobe_from,
    })
}

fn candidate(
    recent_speakers: &[PeerId],
    track: &Track,
    id: TrackId,
    s: &Subscription,
    now: Instant,
) -> Candidate {
    let sizes = track.layers.sizes();
    let offered =
        |l: u8| usize::from(l) < sizes.len() && track.layers.bps[usize::from(l)].is_some();
    let ideal = layers::select(sizes, s.wanted, offered);
    let top = (0..3u8).rev().find(|&l| offered(l));
    let mut layer_bps = [None; 3];
    for l in 0..3u8 {
        if offered(l) {
            layer_bps[usize::from(l)] = track.layers.bps[usize::from(l)];
        }
    }
    Candidate {
        track: id,
        on_stage: sizes.len() > 1 && ideal.is_some() && ideal == top,
        speaker_rank: recent_speakers.iter().position(|p| *p == track.publisher),
        order: track.order,
        layer_bps,
        ideal,
        current: s.allocation.and_then(Allocation::layer),
        may_upgrade: s
            .lowered_at
            .is_none_or(|t| now.saturating_duration_since(t) >= UPGRADE_HOLD),
    }
}
