//! The packet path: an incoming RTP packet identified for the room's router,
//! and the router's answer applied (writes into subscriber sessions,
//! keyframe requests to the publisher).

use std::sync::Arc;
use std::time::Instant;

use str0m::format::{Codec, detect_h264_keyframe, detect_h264_nalu};
use str0m::media::{KeyframeRequestKind, Mid};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, SeqNo, Vp8Descriptor};

use super::Worker;
use super::codec::{self, CodecKey};
use super::participant::Participant;
use crate::router::Incoming;
use crate::{Kind, PeerId, Side, TrackId};

impl Worker {
    /// An RTP packet from a publisher: identify it for the router, and write
    /// it into the subscriber sessions the router names.
    pub(super) fn forward(&mut self, from: PeerId, packet: RtpPacket) {
        let now = packet.timestamp;
        let Some(publisher) = self.peers.get_mut(&from) else {
            return;
        };
        let Some((codec, track, layer)) = identify(publisher, &packet) else {
            return;
        };
        let Some(router) = self.rooms.get_mut(&publisher.room) else {
            return;
        };
        let payload = &packet.payload;
        let vp8 = (codec.codec == Codec::Vp8)
            .then(|| Vp8Descriptor::parse(payload).ok())
            .flatten();
        let incoming = Incoming {
            track,
            layer,
            seq: *packet.seq_no,
            timestamp: packet.header.timestamp,
            keyframe_start: match &vp8 {
                Some(d) => d.starts_keyframe(payload),
                // Chrome sends the parameter sets (SPS, PPS) just before the
                // IDR picture: a decoder must start with them.
                None if codec.codec == Codec::H264 => {
                    detect_h264_nalu(payload, 7) || detect_h264_keyframe(payload)
                }
                None => false,
            },
            picture_id: vp8.as_ref().and_then(|d| d.picture_id()),
            tl0_pic_idx: vp8.as_ref().and_then(|d| d.tl0_pic_idx()),
            audio_level: packet.header.ext_vals.audio_level,
            payload_len: payload.len(),
        };
        let mut out = std::mem::take(&mut self.forwarded);
        router.forward(&incoming, now, &mut out);

        let ext = &packet.header.ext_vals;
        let ext_out = ExtensionValues {
            audio_level: ext.audio_level,
            voice_activity: ext.voice_activity,
            video_orientation: ext.video_orientation,
            ..Default::default()
        };
        // The primary Opus frame of a RED packet, cut out once for all the
        // subscribers without RED: `None` not needed yet, `Some(None)` unreadable.
        let mut red_primary: Option<Option<Arc<[u8]>>> = None;
        for w in &out.writes {
            let Some(sub) = self.peers.get_mut(&w.subscriber) else {
                continue;
            };
            let Some(down) = sub.egress.downtracks.get_mut(&track) else {
                continue;
            };
            let (Some(out_ssrc), Some((pt, sub_red))) =
                (down.ready, down.out_pt(&sub.subscriber, codec))
            else {
                continue;
            };
            // A subscriber without RED gets the primary Opus frame alone.
            let body = if codec.red && !sub_red {
                let primary =
                    red_primary.get_or_insert_with(|| codec::red_primary(payload).map(Arc::from));
                match primary {
                    Some(primary) => primary.clone(),
                    None => continue,
                }
            } else {
                payload.clone()
            };
            let r = w.rewrite;
            let mut write = RtpWrite::new(pt, SeqNo::from(r.seq), r.timestamp, now, body)
                .marker(packet.header.marker)
                .ext_vals(ext_out.clone())
                .nackable(down.kind == Kind::Video);
            if let Some(desc) = &vp8 {
                let patch = |pid: Option<u16>| {
                    let mut patch = desc.patch();
                    if let Some(pid) = pid {
                        patch = patch.picture_id(pid);
                    }
                    if let Some(t) = r.tl0_pic_idx {
                        patch = patch.tl0_pic_idx(t);
                    }
                    patch.build()
                };
                // A sender with 7-bit picture ids: the rewritten id, taken
                // modulo 128, is just as continuous.
                let built = patch(r.picture_id).or_else(|_| patch(r.picture_id.map(|p| p & 0x7f)));
                match built {
                    Ok(p) => write = write.vp8_patch(p),
                    Err(_) => continue,
                }
            }
            match sub.subscriber.direct_api().stream_tx(&out_ssrc) {
                Some(stream) => stream.write_rtp(write),
                None => continue,
            }
            if !sub.unflushed {
                sub.unflushed = true;
                self.unflushed.push(w.subscriber);
            }
        }
        let mut keyframes = [false; 3];
        for &layer in &out.keyframes {
            keyframes[usize::from(layer.min(2))] = true;
        }
        self.forwarded = out;
        for layer in (0..3u8).filter(|l| keyframes[usize::from(*l)]) {
            self.request_keyframe(from, track, layer);
        }
    }

    /// Ask a publisher for a keyframe of one layer of its track.
    fn request_keyframe(&mut self, publisher: PeerId, track: TrackId, layer: u8) {
        let Some(peer) = self.peers.get_mut(&publisher) else {
            return;
        };
        let Some(ssrc) = peer.ingress.layer_ssrc(track, layer) else {
            return;
        };
        if let Some(rx) = peer.publisher.direct_api().stream_rx(&ssrc) {
            rx.request_keyframe(KeyframeRequestKind::Pli);
        }
        self.drain(publisher, Side::Publisher);
    }

    pub(super) fn set_track_muted(&mut self, room: u64, track: TrackId, muted: bool) {
        let Some(router) = self.rooms.get_mut(&room) else {
            return;
        };
        tracing::debug!(track = track.0, muted, "track muted at the bridge");
        let keyframes = router.set_muted(track, muted);
        if let Some(publisher) = router.publisher(track) {
            for layer in keyframes {
                self.request_keyframe(publisher, track, layer);
            }
        }
    }

    pub(super) fn subscriber_keyframe_request(&mut self, sub: PeerId, mid: Mid) {
        let Some(peer) = self.peers.get(&sub) else {
            return;
        };
        let Some(track) = peer.egress.down_by_mid.get(&mid).copied() else {
            return;
        };
        let Some(router) = self.rooms.get_mut(&peer.room) else {
            return;
        };
        if let (Some(layer), Some(publisher)) = (
            router.keyframe_wanted(sub, track, Instant::now()),
            router.publisher(track),
        ) {
            self.request_keyframe(publisher, track, layer);
        }
    }
}

/// What an incoming packet is: its codec, and the track and simulcast layer
/// of its stream (learnt on the stream's first packet, then one lookup).
fn identify(peer: &mut Participant, packet: &RtpPacket) -> Option<(CodecKey, TrackId, u8)> {
    let ingress = &mut peer.ingress;
    let pt = packet.header.payload_type;
    let codec = match ingress.pt_codecs.get(&pt) {
        Some(c) => *c,
        None => {
            let c = CodecKey::of_incoming(&peer.publisher, pt)?;
            ingress.pt_codecs.insert(pt, c);
            c
        }
    };
    let ssrc = packet.header.ssrc;
    if let Some((track, layer)) = ingress.ssrc_layers.get(&ssrc) {
        return Some((codec, *track, *layer));
    }
    let (mid, rid) = peer
        .publisher
        .direct_api()
        .stream_rx(&ssrc)
        .map(|rx| (rx.mid(), rx.rid()))?;
    let track = ingress.published.get(&mid).copied()?;
    let layer = match rid.as_deref() {
        Some("q") | None => 0,
        Some("h") => 1,
        Some("f") => 2,
        Some(_) => return None,
    };
    ingress.ssrc_layers.insert(ssrc, (track, layer));
    Some((codec, track, layer))
}
