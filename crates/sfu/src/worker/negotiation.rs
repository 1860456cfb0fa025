//! Negotiation: the publisher session's offers and the tracks they carry,
//! and the subscriber session's offers as subscriptions come and go (one
//! offer outstanding at a time; changes queue behind it).

use std::time::Instant;

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, MediaKind, Mid};

use super::Worker;
use super::participant::{Announced, DownTrack, SubChange};
use crate::{
    Kind, MediaEvent, PeerId, SfuError, Side, StreamLabels, TrackId, TrackSpec, VideoCodec,
    codec_order, opus,
};

/// The largest publisher offer taken. A participant sends a camera, a
/// microphone and a screen share with its audio; the Rust-core SDKs add six
/// receive-only placeholders, and a data section: a dozen sections of a few
/// kilobytes each. An offer beyond these caps could only make us spend memory
/// on sections nobody uses (every section costs session state, and is
/// answered).
pub(crate) const MAX_OFFER_BYTES: usize = 128 * 1024;
pub(crate) const MAX_OFFER_SECTIONS: usize = 32;

pub(crate) fn check_offer_size(sdp: &str) -> Result<(), SfuError> {
    if sdp.len() > MAX_OFFER_BYTES {
        return Err(SfuError::Sdp(format!(
            "the offer has {} bytes; at most {MAX_OFFER_BYTES} are taken",
            sdp.len()
        )));
    }
    let sections = sdp.lines().filter(|l| l.starts_with("m=")).count();
    if sections > MAX_OFFER_SECTIONS {
        return Err(SfuError::Sdp(format!(
            "the offer has {sections} media sections; at most {MAX_OFFER_SECTIONS} are taken"
        )));
    }
    Ok(())
}

impl Worker {
    pub(super) fn match_published_media(&mut self, id: PeerId, mid: Mid) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(media) = peer.publisher.media(mid) else {
            return;
        };
        let msid_track = media.track_id().to_string();
        let kind = match media.kind() {
            MediaKind::Audio => Kind::Audio,
            MediaKind::Video => Kind::Video,
        };
        // Match by the sender's track id; fall back to the first announced
        // track of the same kind, for clients whose msid differs from the cid.
        let unmatched = || peer.ingress.announced.iter().filter(|a| a.mid.is_none());
        let found = unmatched()
            .position(|a| a.cid == msid_track)
            .or_else(|| unmatched().position(|a| a.kind == kind));
        let Some(n) = found else {
            tracing::debug!(peer = id.0, %mid, "media without an announced track");
            return;
        };
        let Some(announced) = peer
            .ingress
            .announced
            .iter_mut()
            .filter(|a| a.mid.is_none())
            .nth(n)
        else {
            return;
        };
        announced.mid = Some(mid);
        let track = announced.track;
        peer.ingress.published.insert(mid, track);
    }

    /// Clients unpublish by renegotiating: the track's m-line stops sending.
    /// A transceiver may later be reused for a newly announced track.
    pub(super) fn published_media_changed(&mut self, id: PeerId, mid: Mid, direction: Direction) {
        if receives(direction) {
            self.match_published_media(id, mid);
            return;
        }
        let Some(peer) = self.peers.get(&id) else {
            return;
        };
        let Some(track) = peer.ingress.published.get(&mid).copied() else {
            return;
        };
        let room = peer.room;
        let _ = peer.events.send(MediaEvent::TrackEnded { track });
        self.remove_track(room, track);
    }

    pub(super) fn publisher_offer(&mut self, id: PeerId, sdp: &str) -> Result<String, SfuError> {
        let peer = self.peers.get_mut(&id).ok_or(SfuError::UnknownPeer)?;
        check_offer_size(sdp)?;
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| SfuError::Sdp(e.to_string()))?;
        let answer = peer
            .publisher
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| SfuError::Negotiation(e.to_string()))?;
        self.drain(id, Side::Publisher);
        self.work_queue();
        let announced = self.peers.get(&id).map(|p| &p.ingress.announced);
        let codec_of = |cid: &str| {
            announced?
                .iter()
                .find(|a| a.cid == cid)
                .and_then(|a| a.codec)
                .map(VideoCodec::sdp_name)
        };
        let answer = codec_order::prefer(sdp, &answer.to_sdp_string(), codec_of);
        Ok(opus::apply(&answer, &self.settings.opus))
    }

    pub(super) fn subscriber_answer(&mut self, id: PeerId, sdp: &str) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some((pending, added)) = peer.egress.pending_offer.take() else {
            tracing::debug!(peer = id.0, "subscriber answer without an offer");
            return;
        };
        // A client whose answer we cannot use would be left with tracks that
        // never start; ending its session makes it reconnect cleanly instead.
        let accepted = SdpAnswer::from_sdp_string(sdp)
            .map_err(|e| e.to_string())
            .and_then(|answer| {
                peer.subscriber
                    .sdp_api()
                    .accept_answer(pending, answer)
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = accepted {
            tracing::info!(peer = id.0, "subscriber answer rejected: {e}");
            peer.closed = true;
            self.timers.sessions = Instant::now();
            return;
        }
        let router = self.rooms.get_mut(&peer.room);
        let mut ready = Vec::new();
        for (mid, track) in added {
            let ssrc = peer
                .subscriber
                .direct_api()
                .stream_tx_by_mid(mid, None)
                .map(|s| s.ssrc());
            if let (Some(d), Some(ssrc)) = (peer.egress.downtracks.get_mut(&track), ssrc) {
                // The allocator is what keeps a subscriber within its
                // downlink; pacing forwarded media behind a momentary low
                // estimate would only delay frames (a keyframe by up to
                // seconds). str0m's pacer still spaces out probes and padding.
                if let Some(stream) = peer.subscriber.direct_api().stream_tx(&ssrc) {
                    stream.set_unpaced(true);
                }
                d.ready = Some(ssrc);
                d.out_pts.clear();
                ready.push(track);
            }
        }
        if let Some(router) = router {
            for track in ready {
                router.set_ready(id, track);
            }
        }
        self.reallocate.push(peer.room);
        self.drain(id, Side::Subscriber);
        self.negotiate_subscriber(id);
    }

    /// Send the next subscriber offer if changes are queued and none is outstanding.
    fn negotiate_subscriber(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let egress = &mut peer.egress;
        if egress.pending_offer.is_some() || egress.queued.is_empty() {
            return;
        }
        let mut api = peer.subscriber.sdp_api();
        let mut added = Vec::new();
        for change in egress.queued.drain(..) {
            match change {
                SubChange::Add {
                    track,
                    kind,
                    labels,
                } => {
                    let mid = api.add_media(
                        match kind {
                            Kind::Audio => MediaKind::Audio,
                            Kind::Video => MediaKind::Video,
                        },
                        Direction::SendOnly,
                        Some(labels.stream_id),
                        Some(labels.track_id),
                        None,
                    );
                    added.push((mid, track));
                }
                SubChange::Deactivate(mid) => api.set_direction(mid, Direction::Inactive),
            }
        }
        for (mid, track) in &added {
            if let Some(d) = egress.downtracks.get_mut(track) {
                d.mid = *mid;
            }
            egress.down_by_mid.insert(*mid, *track);
        }
        if let Some((offer, pending)) = api.apply() {
            egress.pending_offer = Some((pending, added));
            let _ = peer.events.send(MediaEvent::SubscriberOffer {
                sdp: opus::apply(&offer.to_sdp_string(), &self.settings.opus),
            });
        }
        self.drain(id, Side::Subscriber);
    }

    pub(super) fn add_track(&mut self, id: PeerId, spec: TrackSpec) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(router) = self.rooms.get_mut(&peer.room) else {
            return;
        };
        router.publish(id, spec.id, spec.kind, spec.layers, &spec.layer_bitrates);
        peer.ingress.announced.push(Announced {
            track: spec.id,
            cid: spec.cid,
            kind: spec.kind,
            codec: spec.codec,
            mid: None,
        });
    }

    pub(super) fn remove_track(&mut self, room_id: u64, track: TrackId) {
        let Some(router) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let publisher = router.publisher(track);
        let Some(subscribers) = router.unpublish(track) else {
            return;
        };
        self.reallocate.push(room_id);
        if let Some(p) = publisher.and_then(|p| self.peers.get_mut(&p)) {
            p.ingress.forget(track);
        }
        for sub in subscribers {
            self.drop_downtrack(sub, track);
        }
    }

    pub(super) fn subscribe(&mut self, sub: PeerId, track: TrackId, labels: StreamLabels) {
        let Some(peer) = self.peers.get_mut(&sub) else {
            return;
        };
        let Some(router) = self.rooms.get_mut(&peer.room) else {
            return;
        };
        let Some(kind) = router.kind(track) else {
            return;
        };
        if peer.egress.downtracks.contains_key(&track)
            || !router.subscribe(sub, track, rand::random())
        {
            return;
        }
        peer.egress.downtracks.insert(
            track,
            DownTrack {
                mid: Mid::from("pending"),
                kind,
                ready: None,
                out_pts: Vec::new(),
            },
        );
        peer.egress.queued.push(SubChange::Add {
            track,
            kind,
            labels,
        });
        self.negotiate_subscriber(sub);
    }

    /// End a subscription's transport side: retire its m-line.
    pub(super) fn drop_downtrack(&mut self, sub: PeerId, track: TrackId) {
        let Some(peer) = self.peers.get_mut(&sub) else {
            return;
        };
        let egress = &mut peer.egress;
        let Some(down) = egress.downtracks.remove(&track) else {
            return;
        };
        egress.down_by_mid.remove(&down.mid);
        // Still queued (never offered): forget it; otherwise retire its m-line.
        let before = egress.queued.len();
        egress
            .queued
            .retain(|c| !matches!(c, SubChange::Add { track: t, .. } if *t == track));
        if egress.queued.len() == before {
            egress.queued.push(SubChange::Deactivate(down.mid));
            self.negotiate_subscriber(sub);
        }
    }
}

/// Whether an m-line in our direction `direction` brings media from the client.
pub(super) fn receives(direction: Direction) -> bool {
    matches!(direction, Direction::RecvOnly | Direction::SendRecv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_beyond_what_a_participant_uses_are_refused() {
        let section = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n";
        let offer = |n: usize| format!("v=0\r\n{}", section.repeat(n));
        assert!(check_offer_size(&offer(MAX_OFFER_SECTIONS)).is_ok());
        let err = check_offer_size(&offer(700)).unwrap_err().to_string();
        assert!(err.contains("700 media sections"), "{err}");
        let padded = format!("{}a={}\r\n", offer(1), "x".repeat(MAX_OFFER_BYTES));
        let err = check_offer_size(&padded).unwrap_err().to_string();
        assert!(err.contains("bytes"), "{err}");
    }
}
