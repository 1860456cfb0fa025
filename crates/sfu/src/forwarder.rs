//! The Forwarder: one per subscription. It decides which incoming packets of a
//! published track reach one subscriber, and rewrites their sequence number,
//! RTP timestamp and VP8 picture id / TL0PICIDX so the subscriber sees a single
//! continuous stream whatever simulcast layer is being forwarded.
//!
//! # Layer switching
//!
//! The subscriber's wishes (a size, or "disabled") are turned into a *target*
//! layer by the caller. The forwarder keeps forwarding the *current* layer until
//! the first packet of a keyframe arrives on the target layer; only then does it
//! switch, because a decoder cannot start mid-GOP on a different encoding. While
//! waiting it reports [`Decision::NeedKeyframe`] so the caller can ask the
//! publisher for one (the caller throttles those requests per publisher layer).
//! Starting from nothing (a new subscription, or after being disabled) works the
//! same way with no current layer.
//!
//! # Rewriting
//!
//! Every switch re-bases the offsets so that the first forwarded packet of the
//! new layer continues exactly where the previous output stopped: sequence
//! number `last + 1`, picture id `last + 1`, TL0PICIDX `last + 1`, and an RTP
//! timestamp advanced by the wall-clock time since the last forwarded packet
//! (at least one tick, so timestamps never go backwards). Within a layer the
//! offsets are constant, so gaps caused by loss upstream stay visible to the
//! subscriber, which NACKs them; the retransmission then arrives with the same
//! rewrite. Packets of the new layer older than the switch point are dropped:
//! they would map to sequence numbers already used.

use std::time::Instant;

/// What the caller knows about one incoming packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    /// Simulcast layer (0 = lowest). Audio and non-simulcast video use 0.
    pub layer: u8,
    /// Extended (rollover-free) sequence number of the publisher's stream.
    pub seq: u64,
    /// RTP timestamp as sent by the publisher.
    pub timestamp: u32,
    /// This packet starts a keyframe: a decoder can begin here.
    pub keyframe_start: bool,
    /// VP8 picture id (15-bit), when the payload has one.
    pub picture_id: Option<u16>,
    /// VP8 TL0PICIDX, when the payload has one.
    pub tl0_pic_idx: Option<u8>,
    /// When the packet arrived.
    pub arrival: Instant,
    /// RTP clock rate of the track (90 kHz video, 48 kHz audio).
    pub clock_rate: u32,
}

/// The rewritten fields of a forwarded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewrite {
    pub seq: u64,
    pub timestamp: u32,
    pub picture_id: Option<u16>,
    pub tl0_pic_idx: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Forward(Rewrite),
    /// Not forwarded.
    Drop,
    /// Not forwarded; the target layer needs a keyframe before it can start.
    NeedKeyframe(u8),
}

/// Offsets of the layer currently being forwarded: `out = in - offset`.
#[derive(Debug, Clone, Copy)]
struct Active {
    layer: u8,
    /// First input sequence number of this layer that may be forwarded.
    start_seq: u64,
    seq_offset: u64,
    ts_offset: u32,
    pid_offset: u16,
    tl0_offset: u8,
}

/// What was sent last, so the next switch can continue from it.
#[derive(Debug, Clone, Copy)]
struct Last {
    seq: u64,
    timestamp: u32,
    picture_id: u16,
    tl0_pic_idx: u8,
    at: Instant,
}

const PICTURE_ID_MODULO: u16 = 1 << 15;

#[derive(Debug)]
pub struct Forwarder {
    target: Option<u8>,
    active: Option<Active>,
    last: Option<Last>,
    /// Output starts here; kept below 2^15 so the SRTP rollover counter starts at 0.
    initial_seq: u64,
}

impl Forwarder {
    /// `initial_seq` is the first outgoing sequence number (random in practice).
    pub fn new(initial_seq: u16) -> Self {
        Self {
            target: None,
            active: None,
            last: None,
            initial_seq: u64::from(initial_seq & 0x7fff),
        }
    }

    /// The layer the subscriber should receive, or `None` to pause.
    pub fn set_target(&mut self, target: Option<u8>) {
        self.target = target;
        if target.is_none() {
            self.active = None;
        }
    }

    pub fn target(&self) -> Option<u8> {
        self.target
    }

    /// The layer being forwarded right now.
    pub fn current(&self) -> Option<u8> {
        self.active.map(|a| a.layer)
    }

    pub fn on_packet(&mut self, p: &PacketInfo) -> Decision {
        let Some(target) = self.target else {
            return Decision::Drop;
        };

        if p.layer == target && self.current() != Some(target) {
            if !p.keyframe_start {
                return Decision::NeedKeyframe(target);
            }
            self.switch_to(p);
        }

        let Some(active) = self.active else {
            return Decision::Drop;
        };
        if p.layer != active.layer || p.seq < active.start_seq {
            return Decision::Drop;
        }

        let rewrite = Rewrite {
            seq: p.seq.wrapping_sub(active.seq_offset),
            timestamp: p.timestamp.wrapping_sub(active.ts_offset),
            picture_id: p
                .picture_id
                .map(|pid| pid.wrapping_sub(active.pid_offset) % PICTURE_ID_MODULO),
            tl0_pic_idx: p.tl0_pic_idx.map(|t| t.wrapping_sub(active.tl0_offset)),
        };
        self.remember(&rewrite, p.arrival);
        Decision::Forward(rewrite)
    }

    fn switch_to(&mut self, p: &PacketInfo) {
        let (seq, timestamp, picture_id, tl0) = match self.last {
            None => (
                self.initial_seq,
                p.timestamp,
                p.picture_id.unwrap_or(0),
                0u8,
            ),
            Some(last) => {
                let elapsed = p.arrival.saturating_duration_since(last.at);
                let ticks = (elapsed.as_micros() * u128::from(p.clock_rate) / 1_000_000)
                    .clamp(1, u128::from(u32::MAX / 2)) as u32;
                (
                    last.seq + 1,
                    last.timestamp.wrapping_add(ticks),
                    (last.picture_id + 1) % PICTURE_ID_MODULO,
                    last.tl0_pic_idx.wrapping_add(1),
                )
            }
        };
        self.active = Some(Active {
            layer: p.layer,
            start_seq: p.seq,
            seq_offset: p.seq.wrapping_sub(seq),
            ts_offset: p.timestamp.wrapping_sub(timestamp),
            pid_offset: p
                .picture_id
                .map_or(0, |pid| pid.wrapping_sub(picture_id) % PICTURE_ID_MODULO),
            tl0_offset: p.tl0_pic_idx.map_or(0, |t| t.wrapping_sub(tl0)),
        });
    }

    fn remember(&mut self, r: &Rewrite, at: Instant) {
        // Only move forward: a late retransmission must not pull the base back.
        let newer = self.last.is_none_or(|l| r.seq > l.seq);
        if newer {
            let prev = self.last;
            self.last = Some(Last {
                seq: r.seq,
                timestamp: r.timestamp,
                picture_id: r.picture_id.or(prev.map(|l| l.picture_id)).unwrap_or(0),
                tl0_pic_idx: r.tl0_pic_idx.or(prev.map(|l| l.tl0_pic_idx)).unwrap_or(0),
                at,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    /// A synthetic publisher: three layers sending 30 fps, `packets_per_frame`
    /// packets a frame, a keyframe every `gop` frames, interleaved in time.
    fn stream(frames: usize, gop: usize, packets_per_frame: u64) -> Vec<PacketInfo> {
        let start = Instant::now();
        let mut out = Vec::new();
        for f in 0..frames {
            for layer in 0..3u8 {
                // Layers have independent sequence spaces and timestamp origins,
                // as real simulcast encodings do.
                let base_seq = 1_000 + u64::from(layer) * 20_000;
                let base_ts = 7_000u32.wrapping_mul(u32::from(layer) + 1);
                let base_pid = 100u16 * (u16::from(layer) + 1);
                for k in 0..packets_per_frame {
                    out.push(PacketInfo {
                        layer,
                        seq: base_seq + f as u64 * packets_per_frame + k,
                        timestamp: base_ts.wrapping_add(3000 * f as u32),
                        keyframe_start: f % gop == 0 && k == 0,
                        picture_id: Some((base_pid + f as u16) % PICTURE_ID_MODULO),
                        tl0_pic_idx: Some((f as u8).wrapping_add(layer * 50)),
                        arrival: start + Duration::from_millis(33 * f as u64),
                        clock_rate: 90_000,
                    });
                }
            }
        }
        out
    }

    #[test]
    fn starts_only_at_a_keyframe_and_switches_up() {
        let packets = stream(40, 10, 2);
        let mut fwd = Forwarder::new(500);
        fwd.set_target(Some(0));
        let mut out = vec![];
        for (i, p) in packets.iter().enumerate() {
            if i == packets.len() / 3 {
                fwd.set_target(Some(2));
            }
            if let Decision::Forward(r) = fwd.on_packet(p) {
                out.push((p.layer, r));
            }
        }
        assert_eq!(out[0].1.seq, 500);
        assert_eq!(out.first().unwrap().0, 0);
        assert_eq!(out.last().unwrap().0, 2);
    }

    #[test]
    fn disabled_forwards_nothing() {
        let mut fwd = Forwarder::new(1);
        for p in stream(20, 5, 1) {
            assert_eq!(fwd.on_packet(&p), Decision::Drop);
        }
    }

    proptest! {
        /// For interleaved packets of three layers and arbitrary switch
        /// requests: continuous sequence numbers, monotonic timestamps,
        /// continuous picture ids, every layer entered at a keyframe.
        #[test]
        fn output_is_one_continuous_stream(
            switches in proptest::collection::vec((0usize..600, proptest::option::weighted(0.9, 0u8..3)), 0..12),
            gop in 3usize..15,
            ppf in 1u64..4,
        ) {
            let packets = stream(200, gop, ppf);
            let mut fwd = Forwarder::new(40_000);
            fwd.set_target(Some(1));
            let mut out: Vec<(PacketInfo, Rewrite)> = vec![];
            for (i, p) in packets.iter().enumerate() {
                for (at, target) in &switches {
                    if *at == i { fwd.set_target(*target); }
                }
                match fwd.on_packet(p) {
                    Decision::Forward(r) => out.push((*p, r)),
                    Decision::NeedKeyframe(l) => prop_assert_eq!(Some(l), fwd.target()),
                    Decision::Drop => {}
                }
            }
            for w in out.windows(2) {
                let (a, ra) = w[0];
                let (b, rb) = w[1];
                prop_assert_eq!(rb.seq, ra.seq + 1, "sequence gap");
                prop_assert!(rb.timestamp.wrapping_sub(ra.timestamp) < u32::MAX / 2, "timestamp went back");
                let (pa, pb) = (ra.picture_id.unwrap(), rb.picture_id.unwrap());
                let step = pb.wrapping_sub(pa) % PICTURE_ID_MODULO;
                if a.layer == b.layer && a.timestamp == b.timestamp {
                    prop_assert_eq!(step, 0, "picture id changed within a frame");
                } else {
                    prop_assert_eq!(step, 1, "picture id not continuous");
                    if a.layer != b.layer {
                        prop_assert!(b.keyframe_start, "layer entered without a keyframe");
                        prop_assert!(rb.timestamp != ra.timestamp);
                    }
                }
            }
            if let Some((first, _)) = out.first() {
                prop_assert!(first.keyframe_start, "stream started without a keyframe");
            }
        }
    }
}
