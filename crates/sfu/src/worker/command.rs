//! What the control plane asks of a worker, and how the worker carries it out.

use std::sync::Arc;

use str0m::Candidate;
use tokio::sync::{mpsc, oneshot};

use super::Worker;
use crate::layers::Wanted;
use crate::router::Router;
use crate::{MediaEvent, PeerId, SfuError, Side, StreamLabels, TrackId, TrackSpec};

pub(crate) enum Command {
    AddPeer {
        room: u64,
        peer: PeerId,
        events: mpsc::UnboundedSender<MediaEvent>,
    },
    RemovePeer {
        peer: PeerId,
    },
    CloseRoom {
        room: u64,
    },
    PublisherOffer {
        peer: PeerId,
        sdp: String,
        reply: oneshot::Sender<Result<String, SfuError>>,
    },
    SubscriberAnswer {
        peer: PeerId,
        sdp: String,
    },
    RemoteCandidate {
        peer: PeerId,
        side: Side,
        candidate: String,
    },
    AddTrack {
        peer: PeerId,
        spec: TrackSpec,
    },
    RemoveTrack {
        room: u64,
        track: TrackId,
    },
    Subscribe {
        subscriber: PeerId,
        track: TrackId,
        labels: StreamLabels,
    },
    SetTrackMuted {
        room: u64,
        track: TrackId,
        muted: bool,
    },
    Unsubscribe {
        subscriber: PeerId,
        track: TrackId,
    },
    SetWanted {
        subscriber: PeerId,
        track: TrackId,
        wanted: Wanted,
    },
    SendData {
        peers: Vec<PeerId>,
        reliable: bool,
        payload: Arc<[u8]>,
    },
    SetLastN {
        room: u64,
        last_n: Option<usize>,
    },
}

impl Worker {
    pub(super) fn command(&mut self, cmd: Command) {
        match cmd {
            Command::AddPeer { room, peer, events } => self.add_peer(room, peer, events),
            Command::RemovePeer { peer } => self.remove_peer(peer),
            Command::CloseRoom { room } => {
                if let Some(router) = self.rooms.remove(&room) {
                    for p in router.participants() {
                        self.remove_peer(p);
                    }
                }
            }
            Command::PublisherOffer { peer, sdp, reply } => {
                let _ = reply.send(self.publisher_offer(peer, &sdp));
            }
            Command::SubscriberAnswer { peer, sdp } => self.subscriber_answer(peer, &sdp),
            Command::RemoteCandidate {
                peer,
                side,
                candidate,
            } => {
                let Some(p) = self.peers.get_mut(&peer) else {
                    return;
                };
                let line = candidate.strip_prefix("a=").unwrap_or(&candidate);
                if let Ok(c) = Candidate::from_sdp_string(line) {
                    p.rtc(side).add_remote_candidate(c);
                    self.drain(peer, side);
                }
            }
            Command::AddTrack { peer, spec } => self.add_track(peer, spec),
            Command::RemoveTrack { room, track } => self.remove_track(room, track),
            Command::Subscribe {
                subscriber,
                track,
                labels,
            } => self.subscribe(subscriber, track, labels),
            Command::Unsubscribe { subscriber, track } => {
                let room = self.peers.get(&subscriber).map(|p| p.room);
                if let Some(router) = room.and_then(|r| self.rooms.get_mut(&r)) {
                    router.unsubscribe(subscriber, track);
                }
                self.drop_downtrack(subscriber, track);
            }
            Command::SetWanted {
                subscriber,
                track,
                wanted,
            } => self.set_wanted(subscriber, track, wanted),
            Command::SendData {
                peers,
                reliable,
                payload,
            } => {
                for p in peers {
                    self.write_data(p, reliable, &payload);
                }
            }
            Command::SetTrackMuted { room, track, muted } => {
                self.set_track_muted(room, track, muted)
            }
            Command::SetLastN { room, last_n } => {
                // The control plane may set it before the first participant.
                let settings = self.router_settings();
                self.rooms
                    .entry(room)
                    .or_insert_with(|| Router::new(settings))
                    .set_last_n(last_n);
                self.reallocate.push(room);
            }
        }
    }

    fn set_wanted(&mut self, subscriber: PeerId, track: TrackId, wanted: Wanted) {
        let Some(room) = self.peers.get(&subscriber).map(|p| p.room) else {
            return;
        };
        if let Some(router) = self.rooms.get_mut(&room)
            && router.set_wanted(subscriber, track, wanted)
        {
            self.reallocate.push(room);
        }
    }
}
