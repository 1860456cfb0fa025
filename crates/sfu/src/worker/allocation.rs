//! The allocation pass: gathers each subscriber's inputs for the pure
//! [`allocator`](crate::allocator), applies its answer to the forwarders, and
//! tells clients what changed (paused videos to subscribers, needed layers to
//! publishers).
//!
//! Dynacast: a publisher is told the highest layer any subscriber was
//! allocated. Raising is passed on at once (someone is waiting for a sharper
//! picture); lowering only after it held for [`DYNACAST_LOWER_HOLD`], so a
//! tile resized back and forth does not restart the publisher's encoder.

use std::time::{Duration, Instant};

use str0m::bwe::Bitrate;

use super::{Room, Track, Worker};
use crate::allocator::{self, Allocation, Candidate};
use crate::layers::{self, LayerSize};
use crate::quality;
use crate::{Kind, MediaEvent, TrackId};

/// Periodic allocation and rate measurement.
pub(super) const INTERVAL: Duration = Duration::from_millis(500);
/// A video lowered this recently is not raised again.
const UPGRADE_HOLD: Duration = Duration::from_secs(2);
const DYNACAST_LOWER_HOLD: Duration = Duration::from_secs(3);
/// Weight of the newest measurement in a layer's bitrate.
const RATE_SMOOTHING: f64 = 0.3;
/// Costs assumed for a layer the sender gave no bitrate for (q, h, f).
const DEFAULT_LAYER_BPS: [u64; 3] = [150_000, 500_000, 1_700_000];
const DEFAULT_AUDIO_BPS: u64 = 40_000;
/// How often a subscriber whose estimate falls short is probed for more.
const PROBE_INTERVAL: Duration = Duration::from_secs(3);
/// Periodic passes that repeat an update a client may have missed: a
/// changed paused/resumed state, a dynacast change.
const UPDATE_REPEATS: u8 = 3;

/// What each layer costs before it is measured: the sender's announced
/// maximum, else a default by position.
pub(super) fn announced_bitrates(
    kind: Kind,
    sizes: &[LayerSize],
    announced: &[u32],
) -> [Option<u64>; 3] {
    let mut out = [None; 3];
    if kind == Kind::Audio {
        out[0] = Some(DEFAULT_AUDIO_BPS);
        return out;
    }
    let layers = sizes.len().clamp(1, 3);
    for (l, slot) in out.iter_mut().enumerate().take(layers) {
        let said = announced.get(l).copied().filter(|b| *b > 0).map(u64::from);
        // A single-layer track is priced like the top layer.
        let default = DEFAULT_LAYER_BPS[if layers == 1 { 2 } else { l }];
        *slot = Some(said.unwrap_or(default));
    }
    out
}

impl Worker {
    /// Log the CPU time allocation took per subscriber pass and per
    /// subscriber-second, for operators sizing nodes (debug level).
    pub(super) fn report_allocation_cost(&mut self) {
        let (spent, passes) = std::mem::take(&mut self.allocation_cost);
        if passes == 0 {
            return;
        }
        let per_pass = spent.as_secs_f64() * 1e6 / passes as f64;
        tracing::debug!(
            worker = self.index,
            passes,
            micros_per_pass = format!("{per_pass:.2}"),
            micros_per_subscriber_second = format!(
                "{:.1}",
                per_pass * passes as f64
                    / (super::COST_REPORT_INTERVAL.as_secs_f64() * self.peers.len().max(1) as f64)
            ),
            "bandwidth allocation cost"
        );
    }

    /// Update each track's per-layer bitrate from the bytes forwarded since
    /// the last call. Layers not being sent keep their last figure.
    pub(super) fn measure_rates(&mut self, now: Instant) {
        let seconds = INTERVAL.as_secs_f64();
        for room in self.rooms.values_mut() {
            for track in room.tracks.values_mut() {
                for l in 0..3 {
                    let bytes = std::mem::take(&mut track.layer_bytes[l]);
                    if bytes == 0 || !track.layer_active(l as u8, now) {
                        continue;
                    }
                    // Payload only: add ~5% for RTP/SRTP/UDP headers.
                    let measured = bytes as f64 * 8.0 / seconds * 1.05;
                    let previous = track.layer_bps[l].unwrap_or(measured as u64) as f64;
                    track.layer_bps[l] =
                        Some((previous + RATE_SMOOTHING * (measured - previous)) as u64);
                }
            }
        }
    }

    /// Run the allocator for every room (`periodic`), or only for the rooms
    /// marked for reallocation since. Called once per worker loop, so the
    /// common case (nothing marked) must cost nothing.
    pub(super) fn allocate(&mut self, now: Instant, periodic: bool) {
        if !periodic && self.reallocate.is_empty() {
            return;
        }
        let mut due = std::mem::take(&mut self.reallocate);
        if periodic {
            due.clear();
            due.extend(self.rooms.keys());
        } else {
            due.sort_unstable();
            due.dedup();
        }
        for &room in &due {
            self.allocate_room(room, now, periodic);
        }
        // Keep the buffer's capacity for the next round.
        due.clear();
        if self.reallocate.is_empty() {
            self.reallocate = due;
        }
    }

    fn allocate_room(&mut self, room_id: u64, now: Instant, periodic: bool) {
        let started = Instant::now();
        let Worker {
            rooms,
            peers,
            unflushed,
            settings,
            ..
        } = self;
        let pause_on_congestion = settings.pause_video_on_congestion;
        let estimating = settings.congestion_control;
        let Some(room) = rooms.get_mut(&room_id) else {
            return;
        };
        let mut needed: Vec<(TrackId, Option<u8>)> = Vec::new();
        let mut subscribers = 0u64;
        for sub_id in &room.peers {
            let Some(peer) = peers.get_mut(sub_id) else {
                continue;
            };
            let mut candidates = Vec::new();
            let mut audio_bps = 0;
            for (track_id, down) in &peer.downtracks {
                let Some(track) = room.tracks.get(track_id) else {
                    continue;
                };
                if down.ready.is_none() {
                    continue;
                }
                if track.kind == Kind::Audio {
                    let bps = track.layer_bps[0].unwrap_or(DEFAULT_AUDIO_BPS);
                    audio_bps += bps;
                    continue;
                }
                candidates.push(candidate(room, track, *track_id, down, now));
            }
            allocator::prioritize(&mut candidates);
            let limits = peer
                .budget
                .limits(now, peer.reports[1].loss)
                .map(|l| l.less(audio_bps));
            let allocations =
                allocator::allocate(&candidates, limits, room.last_n, pause_on_congestion);
            subscribers += 1;

            let used = allocator::usage(&candidates, &allocations);
            let mut states = Vec::new();
            let mut congested = false;
            for (c, &a) in candidates.iter().zip(&allocations) {
                let Some(down) = peer.downtracks.get_mut(&c.track) else {
                    continue;
                };
                let before = down.allocation.and_then(Allocation::layer);
                if down.allocation != Some(a) {
                    tracing::debug!(
                        subscriber = sub_id.0,
                        track = c.track.0,
                        from = ?down.allocation,
                        to = ?a,
                        ?limits,
                        "allocation"
                    );
                }
                let lowered = before.is_some_and(|b| a.layer().is_none_or(|l| l < b));
                let short_of_view = match a {
                    Allocation::PausedBandwidth => true,
                    Allocation::Layer(l) => c.ideal.is_some_and(|ideal| l < ideal),
                    _ => false,
                };
                if lowered {
                    down.lowered_at = Some(now);
                    congested |= short_of_view;
                }
                down.allocation = Some(a);
                // A video the subscriber stopped showing keeps the state it
                // was told last: announcing it active because it is hidden would
                // have a client that hides paused tiles show it, ask for it, and
                // be told it is paused again, over and over.
                let paused = match a {
                    Allocation::NotShown => down.paused,
                    _ => a.paused(),
                };
                if paused != down.paused {
                    down.paused = paused;
                    down.state_repeats = UPDATE_REPEATS;
                    states.push((c.track, down.paused));
                } else if periodic && down.state_repeats > 0 {
                    down.state_repeats -= 1;
                    states.push((c.track, down.paused));
                }
                match needed.iter_mut().find(|(t, _)| *t == c.track) {
                    Some((_, max)) => *max = (*max).max(a.layer()),
                    None => needed.push((c.track, a.layer())),
                }
            }
            if congested {
                peer.budget.congested(now, peer.reports[1].loss);
                peer.starved = true;
            }
            if !states.is_empty() {
                let _ = peer.events.send(MediaEvent::StreamStates(states));
            }
            // Connection quality counts a shortfall from the moment congestion
            // takes layers away until the subscriber gets most of what its
            // views want again: one that just joined, or whose layers wait for
            // a trial, is not short of anything yet.
            let wanted_video = allocator::wanted(&candidates, &allocations);
            let fraction =
                (wanted_video > 0).then(|| (used as f64 / wanted_video as f64).min(1.0) as f32);
            if fraction.is_none_or(|f| f >= quality::EXCELLENT_DELIVERED) {
                peer.starved = false;
            }
            peer.delivered = fraction.filter(|_| estimating && peer.starved);

            // Ask the estimator to find what the full allocation would need.
            // str0m probes when the desired rate rises above its estimate; a
            // link that was short once would stay at its old estimate (the
            // estimator only believes what it saw delivered), so while the
            // estimate is short of the desire, a probe is asked for again every
            // PROBE_INTERVAL by lowering the desire to the estimate and raising
            // it back.
            //
            // The minimum is what str0m pads up to when media leaves room:
            // what the allocation sends, so the estimate does not sag while
            // a picture is still, or a trial's rate (see `budget`).
            let wanted = audio_bps + wanted_video;
            let desired = wanted.max(INITIAL_DESIRED);
            let minimum = if estimating {
                let with_headroom =
                    audio_bps + (wanted_video as f64 * (1.0 + allocator::UPGRADE_HEADROOM)) as u64;
                peer.budget.plan(now, audio_bps + used, with_headroom)
            } else {
                0
            };
            let short = peer.budget.latest().is_some_and(|e| e < desired);
            let reprobe = short && now.saturating_duration_since(peer.last_probe) >= PROBE_INTERVAL;
            if estimating
                && (reprobe
                    || desired.abs_diff(peer.desired_bps) * 10 > peer.desired_bps
                    || minimum.abs_diff(peer.minimum_bps) * 10 > peer.minimum_bps)
            {
                let mut bwe = peer.subscriber.bwe();
                if reprobe && let Some(estimate) = peer.budget.latest() {
                    bwe.set_bitrate(Bitrate::bps(minimum), Bitrate::bps(estimate));
                    peer.last_probe = now;
                }
                bwe.set_bitrate(Bitrate::bps(minimum), Bitrate::bps(desired));
                tracing::debug!(
                    subscriber = sub_id.0,
                    minimum,
                    desired,
                    proven = peer.budget.proven(),
                    "bandwidth estimator asked"
                );
                peer.desired_bps = desired;
                peer.minimum_bps = minimum;
                if !peer.unflushed {
                    peer.unflushed = true;
                    unflushed.push(*sub_id);
                }
            }
        }

        for (track_id, track) in room.tracks.iter_mut() {
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
            let update = match dynacast_step(track, max, now) {
                Some(update) => {
                    track.dynacast_repeats = UPDATE_REPEATS;
                    Some(update)
                }
                None if periodic && track.dynacast_repeats > 0 => {
                    track.dynacast_repeats -= 1;
                    track.dynacast_sent
                }
                None => None,
            };
            if let Some(update) = update
                && let Some(publisher) = peers.get(&track.publisher)
            {
                let _ = publisher.events.send(MediaEvent::SubscribedLayers {
                    track: *track_id,
                    max_layer: update,
                });
            }
        }
        let cost = &mut self.allocation_cost;
        cost.0 += started.elapsed();
        cost.1 += subscribers;
    }
}

/// The estimator probes towards at least this much before any video is known.
const INITIAL_DESIRED: u64 = 1_000_000;

fn candidate(
    room: &Room,
    track: &Track,
    id: TrackId,
    down: &super::DownTrack,
    now: Instant,
) -> Candidate {
    let sizes = track.layer_sizes();
    let offered = |l: u8| usize::from(l) < sizes.len() && track.layer_bps[usize::from(l)].is_some();
    let ideal = layers::select(sizes, down.wanted, offered);
    let top = (0..3u8).rev().find(|&l| offered(l));
    let mut layer_bps = [None; 3];
    for l in 0..3u8 {
        if offered(l) {
            layer_bps[usize::from(l)] = track.layer_bps[usize::from(l)];
        }
    }
    Candidate {
        track: id,
        on_stage: sizes.len() > 1 && ideal.is_some() && ideal == top,
        speaker_rank: room
            .recent_speakers
            .iter()
            .position(|p| *p == track.publisher),
        order: track.order,
        layer_bps,
        ideal,
        current: down.allocation.and_then(Allocation::layer),
        may_upgrade: down
            .lowered_at
            .is_none_or(|t| now.saturating_duration_since(t) >= UPGRADE_HOLD),
    }
}

/// The dynacast decision for one track: `Some(max)` when the publisher must
/// be told.
fn dynacast_step(track: &mut Track, max: u8, now: Instant) -> Option<u8> {
    let Some(sent) = track.dynacast_sent else {
        track.dynacast_sent = Some(max);
        return Some(max);
    };
    if max == sent {
        track.dynacast_lower_since = None;
        return None;
    }
    if max > sent {
        track.dynacast_sent = Some(max);
        track.dynacast_lower_since = None;
        return Some(max);
    }
    let since = *track.dynacast_lower_since.get_or_insert(now);
    if now.saturating_duration_since(since) >= DYNACAST_LOWER_HOLD {
        track.dynacast_sent = Some(max);
        track.dynacast_lower_since = None;
        return Some(max);
    }
    None
}
