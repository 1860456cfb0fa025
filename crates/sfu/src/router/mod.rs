//! The Router: one room's media decisions, with no I/O.
//!
//! A router knows the room's published tracks, who subscribes to each, and
//! every subscriber's downlink. It is fed what happened, with the time, and
//! answers with what to do; it never touches a socket, a WebRTC session or
//! the clock. The worker ([`crate::worker`]) owns the sessions and applies the
//! answers:
//!
//! - [`Router::forward`] takes one incoming packet (already identified by the
//!   publisher's transport as track and layer) and returns, per subscription
//!   that gets it, the rewritten sequence number, timestamp and picture ids
//!   ([`Write`]), plus the layers that need a keyframe from the publisher
//!   (throttled here, so a transport asks at most what the router allows).
//! - [`Router::allocate`] is the bandwidth allocation pass (see
//!   [`allocation`]): it sets each subscription's target layer and returns
//!   the notices for clients (paused videos, dynacast) and the rates each
//!   subscriber's estimator must look for.
//! - [`Router::speakers`] turns audio levels seen by `forward` into speaker
//!   updates, the dominant speaker first.
//!
//! Per packet the work is one lookup of the track and a walk over its
//! subscriptions, which live in the track, in one vector.

mod allocation;
mod subscription;
mod track;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use allocation::Downlink;
pub use allocation::{INTERVAL as ALLOCATION_INTERVAL, Notice};
use subscription::Subscription;
use track::Track;

use crate::dominant::DominantSpeaker;
use crate::forwarder::{Decision, PacketInfo, Rewrite};
use crate::layers::{LayerSize, Wanted};
use crate::speaker::{SpeakerChange, SpeakerDetector};
use crate::{Kind, PeerId, TrackId};

/// An incoming packet, as the publisher's transport identified it.
#[derive(Debug, Clone, Copy)]
pub struct Incoming {
    pub track: TrackId,
    /// Simulcast layer (0 = lowest; audio and single-layer video 0).
    pub layer: u8,
    /// Extended sequence number of the publisher's stream.
    pub seq: u64,
    pub timestamp: u32,
    /// A decoder can start at this packet (ignored for audio).
    pub keyframe_start: bool,
    pub picture_id: Option<u16>,
    pub tl0_pic_idx: Option<u8>,
    /// The sender's audio level (dBov, 0 loudest), when the packet has one.
    pub audio_level: Option<i8>,
    pub payload_len: usize,
}

/// One packet to write towards one subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Write {
    pub subscriber: PeerId,
    pub rewrite: Rewrite,
}

/// What [`Router::forward`] decided for one packet. Reused across packets,
/// so the hot path allocates nothing once its vectors have grown.
#[derive(Debug, Default)]
pub struct Forwarded {
    pub writes: Vec<Write>,
    /// Layers of the packet's track to ask the publisher a keyframe of.
    pub keyframes: Vec<u8>,
}

/// Speaking state changes: (publisher, level 0..1, active), the dominant
/// speaker first.
pub type SpeakerUpdate = Arc<[(PeerId, f32, bool)]>;

#[derive(Debug, Clone, Copy)]
pub struct RouterSettings {
    /// Videos forwarded to each subscriber; `None`: all.
    pub last_n: Option<usize>,
    /// Pause a video whose lowest layer does not fit (else every shown
    /// video keeps at least its lowest layer).
    pub pause_video_on_congestion: bool,
    /// Subscribers' downlinks are estimated; off, every subscriber gets the
    /// layers its view asks for.
    pub congestion_control: bool,
}

#[derive(Debug)]
pub struct Router {
    settings: RouterSettings,
    tracks: HashMap<TrackId, Track>,
    /// Every participant, as a subscriber.
    downlinks: HashMap<PeerId, Downlink>,
    speakers: SpeakerDetector,
    dominant: DominantSpeaker,
    /// Publishers by how recently they were the dominant speaker.
    recent_speakers: Vec<PeerId>,
    next_order: u64,
}

impl Router {
    pub fn new(settings: RouterSettings) -> Self {
        Self {
            settings,
            tracks: HashMap::new(),
            downlinks: HashMap::new(),
            speakers: SpeakerDetector::default(),
            dominant: DominantSpeaker::default(),
            recent_speakers: Vec::new(),
            next_order: 0,
        }
    }

    pub fn set_last_n(&mut self, last_n: Option<usize>) {
        self.settings.last_n = last_n;
    }

    pub fn participants(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.downlinks.keys().copied()
    }

    pub fn join(&mut self, peer: PeerId, now: Instant) {
        self.downlinks
            .entry(peer)
            .or_insert_with(|| Downlink::new(now));
    }

    /// The participant is gone: its subscriptions end and its tracks are
    /// unpublished. Returns those tracks with the subscribers each had.
    pub fn leave(&mut self, peer: PeerId) -> Vec<(TrackId, Vec<PeerId>)> {
        self.downlinks.remove(&peer);
        self.recent_speakers.retain(|p| *p != peer);
        for track in self.tracks.values_mut() {
            track.subscriptions.retain(|s| s.subscriber != peer);
        }
        let own: Vec<TrackId> = self
            .tracks
            .iter()
            .filter(|(_, t)| t.publisher == peer)
            .map(|(id, _)| *id)
            .collect();
        own.into_iter()
            .filter_map(|t| Some((t, self.unpublish(t)?)))
            .collect()
    }

    pub fn publish(
        &mut self,
        publisher: PeerId,
        track: TrackId,
        kind: Kind,
        sizes: Vec<LayerSize>,
        layer_bitrates: &[u32],
    ) {
        let order = self.next_order;
        self.next_order += 1;
        self.tracks.insert(
            track,
            Track::new(publisher, kind, sizes, layer_bitrates, order),
        );
    }

    /// Returns the subscribers the track had, or `None` if it was unknown.
    pub fn unpublish(&mut self, track: TrackId) -> Option<Vec<PeerId>> {
        self.speakers.remove(track);
        self.dominant.remove(track);
        let t = self.tracks.remove(&track)?;
        Some(t.subscriptions.into_iter().map(|s| s.subscriber).collect())
    }

    pub fn publisher(&self, track: TrackId) -> Option<PeerId> {
        self.tracks.get(&track).map(|t| t.publisher)
    }

    pub fn kind(&self, track: TrackId) -> Option<Kind> {
        self.tracks.get(&track).map(|t| t.kind)
    }

    /// Start a subscription; false if the track is unknown, the
    /// subscriber's own, or already subscribed to.
    pub fn subscribe(&mut self, subscriber: PeerId, track: TrackId, initial_seq: u16) -> bool {
        let Some(t) = self.tracks.get_mut(&track) else {
            return false;
        };
        if t.publisher == subscriber || t.subscription(subscriber).is_some() {
            return false;
        }
        t.subscriptions
            .push(Subscription::new(subscriber, initial_seq));
        true
    }

    /// The subscriber's transport can now carry the track.
    pub fn set_ready(&mut self, subscriber: PeerId, track: TrackId) {
        if let Some(s) = self
            .tracks
            .get_mut(&track)
            .and_then(|t| t.subscription_mut(subscriber))
        {
            s.ready = true;
        }
    }

    /// False if there was no such subscription.
    pub fn unsubscribe(&mut self, subscriber: PeerId, track: TrackId) -> bool {
        let Some(t) = self.tracks.get_mut(&track) else {
            return false;
        };
        let before = t.subscriptions.len();
        t.subscriptions.retain(|s| s.subscriber != subscriber);
        t.subscriptions.len() != before
    }

    pub fn set_wanted(&mut self, subscriber: PeerId, track: TrackId, wanted: Wanted) -> bool {
        match self
            .tracks
            .get_mut(&track)
            .and_then(|t| t.subscription_mut(subscriber))
        {
            Some(s) => {
                s.wanted = wanted;
                true
            }
            None => false,
        }
    }

    /// A moderator's mute. Unmuting a video returns the layers to ask a
    /// keyframe of: subscribers' decoders missed everything while it was
    /// muted, and resume from a keyframe rather than from deltas of unseen
    /// frames.
    pub fn set_muted(&mut self, track: TrackId, muted: bool) -> Vec<u8> {
        let Some(t) = self.tracks.get_mut(&track) else {
            return Vec::new();
        };
        if t.muted == muted {
            return Vec::new();
        }
        t.muted = muted;
        if muted || t.kind != Kind::Video {
            return Vec::new();
        }
        t.layers.known().collect()
    }

    /// Forward one packet: fills `out` with the writes to make and the
    /// keyframes to ask for.
    pub fn forward(&mut self, packet: &Incoming, now: Instant, out: &mut Forwarded) {
        out.writes.clear();
        out.keyframes.clear();
        let Some(track) = self.tracks.get_mut(&packet.track) else {
            return;
        };
        // A moderator-muted track is neither forwarded nor heard speaking.
        if track.muted {
            return;
        }
        if let Some(level) = packet.audio_level {
            self.speakers.observe(packet.track, level, now);
            self.dominant.observe(packet.track, level, now);
        }
        track.layers.arrived(packet.layer, packet.payload_len, now);
        let info = PacketInfo {
            layer: packet.layer,
            seq: packet.seq,
            timestamp: packet.timestamp,
            keyframe_start: track.kind == Kind::Audio || packet.keyframe_start,
            picture_id: packet.picture_id,
            tl0_pic_idx: packet.tl0_pic_idx,
            arrival: now,
            clock_rate: track.clock_rate(),
        };
        let mut need_keyframe = [false; 3];
        let Track {
            kind,
            layers,
            subscriptions,
            ..
        } = track;
        for s in subscriptions.iter_mut().filter(|s| s.ready) {
            let target = layers.target_for(*kind, s.effective_wanted(), now);
            if s.forwarder.target() != target {
                s.forwarder.set_target(target);
            }
            match s.forwarder.on_packet(&info) {
                Decision::Forward(rewrite) => out.writes.push(Write {
                    subscriber: s.subscriber,
                    rewrite,
                }),
                Decision::NeedKeyframe(l) => need_keyframe[usize::from(l.min(2))] = true,
                Decision::Drop => {}
            }
        }
        for l in 0..3u8 {
            if need_keyframe[usize::from(l)] && track.keyframes.allow(l, now) {
                out.keyframes.push(l);
            }
        }
    }

    /// The subscriber's decoder asked for a keyframe: the layer to ask the
    /// publisher for, if the throttle allows.
    pub fn keyframe_wanted(
        &mut self,
        subscriber: PeerId,
        track: TrackId,
        now: Instant,
    ) -> Option<u8> {
        let t = self.tracks.get_mut(&track)?;
        let layer = t.subscription(subscriber)?.forwarder.current()?;
        t.keyframes.allow(layer, now).then_some(layer)
    }

    /// Speaking changes since the last call, and whether the dominant
    /// speaker changed (allocation ranks videos by it).
    ///
    /// The dominant speaker is listed first, and given a level just above the
    /// loudest other speaker if needed, because clients rank speakers by level.
    pub fn speakers(&mut self, now: Instant) -> (Option<SpeakerUpdate>, bool) {
        let mut changes = self.speakers.changes(now);
        let new_dominant = self
            .dominant
            .decide(now)
            .and_then(|t| self.tracks.get(&t))
            .map(|t| t.publisher);
        if let Some(p) = new_dominant {
            tracing::debug!(peer = ?p, "dominant speaker");
            self.recent_speakers.retain(|x| *x != p);
            self.recent_speakers.insert(0, p);
        }
        let dominant = self.dominant.current();
        if new_dominant.is_some()
            && let Some(track) = dominant
            && !changes.iter().any(|c| c.track == track)
            && let Some(level) = self.speakers.active_level(track)
        {
            changes.push(SpeakerChange {
                track,
                level,
                active: true,
            });
        }
        if let Some(pos) = changes
            .iter()
            .position(|c| Some(c.track) == dominant && c.active)
        {
            let mut c = changes.remove(pos);
            let loudest = changes.iter().map(|c| c.level).fold(0.0f32, f32::max);
            c.level = c.level.max((loudest + 0.001).min(1.0));
            changes.insert(0, c);
        }
        let update = (!changes.is_empty()).then(|| {
            changes
                .iter()
                .filter_map(|c| {
                    let publisher = self.tracks.get(&c.track)?.publisher;
                    Some((publisher, c.level, c.active))
                })
                .collect()
        });
        (update, new_dominant.is_some())
    }

    /// A subscriber's downlink estimate from its transport (bits/s).
    pub fn record_estimate(&mut self, subscriber: PeerId, bps: u64, now: Instant) {
        if let Some(d) = self.downlinks.get_mut(&subscriber) {
            d.record_estimate(subscriber, bps, now);
        }
    }

    /// The loss the subscriber last reported on its downlink.
    pub fn set_downlink_loss(&mut self, subscriber: PeerId, loss: Option<f32>) {
        if let Some(d) = self.downlinks.get_mut(&subscriber) {
            d.loss = loss;
        }
    }

    /// The share of the video bitrate its views want that a congested
    /// subscriber gets (`None` while it is not short), for connection quality.
    pub fn delivered(&self, subscriber: PeerId) -> Option<f32> {
        self.downlinks.get(&subscriber).and_then(|d| d.delivered)
    }

    /// Fold the bytes forwarded since the last call into each layer's rate.
    pub fn measure_rates(&mut self, now: Instant) {
        let seconds = ALLOCATION_INTERVAL.as_secs_f64();
        for track in self.tracks.values_mut() {
            track.layers.measure(seconds, now);
        }
    }
}

#[cfg(test)]
mod tests;
