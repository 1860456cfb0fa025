//! A published track as the router sees it: which simulcast layers arrive and
//! what they cost, who is subscribed, and what its publisher was last told
//! (dynacast).

use std::time::{Duration, Instant};

use super::subscription::Subscription;
use crate::keyframe::{self, KeyframeThrottle};
use crate::layers::{self, LayerSize, Wanted};
use crate::{Kind, PeerId};

/// A layer counts as being sent if a packet arrived this recently.
const LAYER_ACTIVE_WINDOW: Duration = Duration::from_millis(1500);
/// Weight of the newest measurement in a layer's bitrate.
const RATE_SMOOTHING: f64 = 0.3;
/// Costs assumed for a layer the sender gave no bitrate for (q, h, f).
const DEFAULT_LAYER_BPS: [u64; 3] = [150_000, 500_000, 1_700_000];
pub(super) const DEFAULT_AUDIO_BPS: u64 = 40_000;

/// The simulcast layers of a track as they arrive.
#[derive(Debug)]
pub(super) struct Layers {
    /// Announced sizes, lowest first (empty: not said).
    sizes: Vec<LayerSize>,
    /// When a packet of each layer last arrived.
    seen: [Option<Instant>; 3],
    /// Bitrate per layer: measured while it is sent, else what the sender
    /// announced (bits/s).
    pub bps: [Option<u64>; 3],
    /// Payload bytes per layer since the last rate measurement.
    bytes: [u64; 3],
}

impl Layers {
    fn new(kind: Kind, mut sizes: Vec<LayerSize>, announced_bps: &[u32]) -> Self {
        sizes.truncate(3);
        let bps = announced_bitrates(kind, &sizes, announced_bps);
        Self {
            sizes,
            seen: [None; 3],
            bps,
            bytes: [0; 3],
        }
    }

    pub fn arrived(&mut self, layer: u8, bytes: usize, now: Instant) {
        let l = usize::from(layer.min(2));
        self.seen[l] = Some(now);
        self.bytes[l] += bytes as u64;
    }

    pub fn active(&self, layer: u8, now: Instant) -> bool {
        self.seen
            .get(usize::from(layer))
            .copied()
            .flatten()
            .is_some_and(|t| now.saturating_duration_since(t) < LAYER_ACTIVE_WINDOW)
    }

    /// Layers that have ever arrived (they can be asked for a keyframe).
    pub fn known(&self) -> impl Iterator<Item = u8> + '_ {
        (0..3u8).filter(|l| self.seen[usize::from(*l)].is_some())
    }

    /// The announced layer sizes; without them (no simulcast info) every
    /// layer counts as "large enough".
    pub fn sizes(&self) -> &[LayerSize] {
        const UNKNOWN: [LayerSize; 3] = [LayerSize {
            width: u32::MAX,
            height: u32::MAX,
        }; 3];
        if self.sizes.is_empty() {
            &UNKNOWN
        } else {
            &self.sizes
        }
    }

    /// The layer to forward for `wanted`: the best that fits among those
    /// arriving (audio has one layer).
    pub fn target_for(&self, kind: Kind, wanted: Wanted, now: Instant) -> Option<u8> {
        if kind == Kind::Audio {
            return (wanted != Wanted::Disabled).then_some(0);
        }
        layers::select(self.sizes(), wanted, |l| self.active(l, now))
    }

    /// Fold the bytes counted over the last `seconds` into each layer's
    /// bitrate. Layers not being sent keep their last figure.
    pub fn measure(&mut self, seconds: f64, now: Instant) {
        for l in 0..3 {
            let bytes = std::mem::take(&mut self.bytes[l]);
            if bytes == 0 || !self.active(l as u8, now) {
                continue;
            }
            // Payload only: add ~5% for RTP/SRTP/UDP headers.
            let measured = bytes as f64 * 8.0 / seconds * 1.05;
            let previous = self.bps[l].unwrap_or(measured as u64) as f64;
            self.bps[l] = Some((previous + RATE_SMOOTHING * (measured - previous)) as u64);
        }
    }
}

/// What each layer costs before it is measured: the sender's announced
/// maximum, else a default by position.
fn announced_bitrates(kind: Kind, sizes: &[LayerSize], announced: &[u32]) -> [Option<u64>; 3] {
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

/// Dynacast state of a video track: the highest layer last told to the
/// publisher, and since when a lower one would do.
#[derive(Debug, Default)]
pub(super) struct Dynacast {
    pub sent: Option<u8>,
    lower_since: Option<Instant>,
    /// Periodic passes that repeat the last update.
    pub repeats: u8,
}

/// How long a lower need must last before the publisher is told.
const DYNACAST_LOWER_HOLD: Duration = Duration::from_secs(3);

impl Dynacast {
    /// The decision for one pass: `Some(max)` when the publisher must be told.
    /// Raising is passed on at once (someone is waiting for a sharper
    /// picture); lowering only after it held for [`DYNACAST_LOWER_HOLD`], so
    /// a tile resized back and forth does not restart the publisher's encoder.
    pub fn step(&mut self, max: u8, now: Instant) -> Option<u8> {
        let Some(sent) = self.sent else {
            self.sent = Some(max);
            return Some(max);
        };
        if max == sent {
            self.lower_since = None;
            return None;
        }
        if max < sent {
            let since = *self.lower_since.get_or_insert(now);
            if now.saturating_duration_since(since) < DYNACAST_LOWER_HOLD {
                return None;
            }
        }
        self.sent = Some(max);
        self.lower_since = None;
        Some(max)
    }
}

#[derive(Debug)]
pub(super) struct Track {
    pub publisher: PeerId,
    pub kind: Kind,
    pub layers: Layers,
    pub subscriptions: Vec<Subscription>,
    pub keyframes: KeyframeThrottle,
    /// Publication order in the room (earlier first when nothing else decides).
    pub order: u64,
    pub dynacast: Dynacast,
    /// Muted by a moderator: its packets go nowhere (a client that ignores
    /// the mute request is still not heard).
    pub muted: bool,
}

impl Track {
    pub fn new(
        publisher: PeerId,
        kind: Kind,
        sizes: Vec<LayerSize>,
        bps: &[u32],
        order: u64,
    ) -> Self {
        Self {
            publisher,
            kind,
            layers: Layers::new(kind, sizes, bps),
            subscriptions: Vec::new(),
            keyframes: KeyframeThrottle::new(keyframe::DEFAULT_INTERVAL),
            order,
            dynacast: Dynacast::default(),
            muted: false,
        }
    }

    pub fn clock_rate(&self) -> u32 {
        match self.kind {
            Kind::Audio => 48_000,
            Kind::Video => 90_000,
        }
    }

    pub fn subscription(&self, subscriber: PeerId) -> Option<&Subscription> {
        self.subscriptions
            .iter()
            .find(|s| s.subscriber == subscriber)
    }

    pub fn subscription_mut(&mut self, subscriber: PeerId) -> Option<&mut Subscription> {
        self.subscriptions
            .iter_mut()
            .find(|s| s.subscriber == subscriber)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_bitrates_fill_in_defaults_by_position() {
        let size = |w| LayerSize {
            width: w,
            height: w * 9 / 16,
        };
        let three = [size(320), size(640), size(1280)];
        assert_eq!(
            announced_bitrates(Kind::Video, &three, &[100_000, 0]),
            [Some(100_000), Some(500_000), Some(1_700_000)]
        );
        // One layer (no simulcast) costs like a top layer.
        assert_eq!(
            announced_bitrates(Kind::Video, &[], &[]),
            [Some(1_700_000), None, None]
        );
        assert_eq!(
            announced_bitrates(Kind::Audio, &[], &[]),
            [Some(DEFAULT_AUDIO_BPS), None, None]
        );
    }

    #[test]
    fn dynacast_raises_at_once_and_lowers_after_the_hold() {
        let t0 = Instant::now();
        let mut d = Dynacast::default();
        assert_eq!(d.step(2, t0), Some(2));
        assert_eq!(d.step(2, t0), None);
        assert_eq!(d.step(0, t0), None);
        assert_eq!(d.step(0, t0 + Duration::from_secs(2)), None);
        // Back up within the hold: nothing to say, and the hold restarts.
        assert_eq!(d.step(2, t0 + Duration::from_millis(2500)), None);
        assert_eq!(d.step(1, t0 + Duration::from_secs(4)), None);
        assert_eq!(d.step(1, t0 + Duration::from_secs(7)), Some(1));
        assert_eq!(d.step(2, t0 + Duration::from_secs(7)), Some(2));
    }

    #[test]
    fn rates_follow_what_arrives_and_keep_the_last_figure() {
        let t0 = Instant::now();
        let mut layers = Layers::new(Kind::Video, Vec::new(), &[]);
        assert_eq!(layers.bps[0], Some(1_700_000));
        // 50 kB in half a second: 800 kbit/s (+5% headers), smoothed by 0.3.
        layers.arrived(0, 50_000, t0);
        layers.measure(0.5, t0);
        let expected = 1_700_000.0 + 0.3 * (840_000.0 - 1_700_000.0);
        assert_eq!(layers.bps[0], Some(expected as u64));
        // Nothing arrived since: the figure stays.
        layers.measure(0.5, t0 + Duration::from_secs(3));
        assert_eq!(layers.bps[0], Some(expected as u64));
        assert!(!layers.active(0, t0 + Duration::from_secs(3)));
        assert_eq!(layers.known().collect::<Vec<_>>(), vec![0]);
    }
}
