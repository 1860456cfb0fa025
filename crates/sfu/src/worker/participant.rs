//! A WebRTC participant: the transport that carries one browser's or SDK's
//! media. It owns the participant's two str0m sessions (the *publisher*,
//! where the client sends, and the *subscriber*, where we send), what was
//! negotiated on them, and how healthy they are. The router decides what
//! flows; this is how it enters and leaves.

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use str0m::change::SdpPendingOffer;
use str0m::channel::ChannelId;
use str0m::media::{Mid, Pt};
use str0m::net::{Protocol, Transmit};
use str0m::rtp::Ssrc;
use str0m::{Event, Input, Output, Rtc};
use tokio::sync::mpsc;

use super::codec::CodecKey;
use crate::quality::{self, Quality};
use crate::{Kind, MediaEvent, PeerId, Side, StreamLabels, TrackId, VideoCodec};

/// Data messages queued for a subscriber whose channel is not open yet.
const MAX_DATA_BACKLOG: usize = 256;
/// Immediate timeouts one drain feeds a session before leaving the rest to
/// the worker loop, so one busy session cannot hold up the others.
const MAX_IMMEDIATE_TIMEOUTS: usize = 256;

/// A track the participant announced (AddTrack), and the m-line that
/// carries it once its offer was applied.
pub(super) struct Announced {
    pub track: TrackId,
    /// The sender's own id for the track: the msid track id in its SDP.
    pub cid: String,
    pub kind: Kind,
    pub codec: Option<VideoCodec>,
    pub mid: Option<Mid>,
}

/// What arrives on the publisher session, and what it means.
#[derive(Default)]
pub(super) struct Ingress {
    pub announced: Vec<Announced>,
    pub published: HashMap<Mid, TrackId>,
    /// Track and simulcast layer of each incoming stream.
    pub ssrc_layers: HashMap<Ssrc, (TrackId, u8)>,
    /// What each incoming payload type carries.
    pub pt_codecs: HashMap<Pt, CodecKey>,
}

impl Ingress {
    /// The incoming stream of `track`'s `layer`, to ask a keyframe of.
    pub fn layer_ssrc(&self, track: TrackId, layer: u8) -> Option<Ssrc> {
        self.ssrc_layers
            .iter()
            .find(|(_, v)| **v == (track, layer))
            .map(|(ssrc, _)| *ssrc)
    }

    pub fn forget(&mut self, track: TrackId) {
        self.announced.retain(|a| a.track != track);
        self.published.retain(|_, t| *t != track);
        self.ssrc_layers.retain(|_, (t, _)| *t != track);
    }
}

/// One forwarded track inside the subscriber session.
pub(super) struct DownTrack {
    pub mid: Mid,
    pub kind: Kind,
    /// The outgoing stream, once the negotiation that added the m-line completed.
    pub ready: Option<Ssrc>,
    /// The subscriber's payload type per incoming codec, learnt on first use.
    pub out_pts: Vec<(CodecKey, Option<(Pt, bool)>)>,
}

/// A change to the subscriber session waiting for the next offer.
pub(super) enum SubChange {
    Add {
        track: TrackId,
        kind: Kind,
        labels: StreamLabels,
    },
    Deactivate(Mid),
}

/// What flows out on the subscriber session.
#[derive(Default)]
pub(super) struct Egress {
    pub pending_offer: Option<(SdpPendingOffer, Vec<(Mid, TrackId)>)>,
    pub queued: Vec<SubChange>,
    pub downtracks: HashMap<TrackId, DownTrack>,
    pub down_by_mid: HashMap<Mid, TrackId>,
}

/// Data channels: the client's on the publisher session (reliable or not),
/// ours on the subscriber session, and what waits for ours to open.
#[derive(Default)]
pub(super) struct DataChannels {
    pub incoming: HashMap<ChannelId, bool>,
    pub reliable: Option<ChannelId>,
    pub lossy: Option<ChannelId>,
    pub open: Vec<ChannelId>,
    pub backlog: VecDeque<(bool, Arc<[u8]>)>,
}

impl DataChannels {
    /// The open channel to write to, or `None` after queueing the message
    /// for when it opens.
    pub fn route(&mut self, reliable: bool, payload: &Arc<[u8]>) -> Option<ChannelId> {
        let channel = if reliable { self.reliable } else { self.lossy };
        let open = channel.filter(|c| self.open.contains(c));
        if open.is_none() && self.backlog.len() < MAX_DATA_BACKLOG {
            self.backlog.push_back((reliable, payload.clone()));
        }
        open
    }
}

/// How the participant's connection fares.
pub(super) struct Health {
    pub disconnected_since: [Option<Instant>; 2],
    pub joined_at: Instant,
    pub subscriber_connected: bool,
    /// Latest stats of the publisher and subscriber sessions, and when.
    pub reports: [quality::Report; 2],
    pub last_report: Instant,
    /// Highest stream jitter per session since its last stats report.
    pub jitter: [Duration; 2],
    pub quality: Option<Quality>,
}

impl Health {
    pub fn new(now: Instant) -> Self {
        Self {
            disconnected_since: [None; 2],
            joined_at: now,
            subscriber_connected: false,
            reports: [quality::Report::default(); 2],
            last_report: now,
            jitter: [Duration::ZERO; 2],
            quality: None,
        }
    }
}

pub(super) struct Participant {
    pub room: u64,
    pub events: mpsc::UnboundedSender<MediaEvent>,
    pub publisher: Rtc,
    pub subscriber: Rtc,
    pub ufrags: [String; 2],
    pub addrs: Vec<SocketAddr>,
    pub ingress: Ingress,
    pub egress: Egress,
    pub data: DataChannels,
    pub health: Health,
    /// When each session wants its next timeout.
    pub timeouts: [Instant; 2],
    pub closed: bool,
    /// Written to since the last flush (and listed in `Worker::unflushed`).
    pub unflushed: bool,
}

impl Participant {
    pub fn rtc(&mut self, side: Side) -> &mut Rtc {
        match side {
            Side::Publisher => &mut self.publisher,
            Side::Subscriber => &mut self.subscriber,
        }
    }
}

pub(super) fn side_index(side: Side) -> usize {
    match side {
        Side::Publisher => 0,
        Side::Subscriber => 1,
    }
}

/// Where a worker's packets leave: the shared UDP socket, or the writer of the
/// ICE-TCP connection a client reached us on.
pub(super) struct Net {
    pub udp: Arc<UdpSocket>,
    pub tcp: HashMap<SocketAddr, Sender<Vec<u8>>>,
}

impl Net {
    pub fn send(&self, t: &Transmit) {
        // A failed or refused send is a lost packet; RTCP and NACK recover.
        match t.proto {
            Protocol::Udp => {
                let _ = self.udp.send_to(&t.contents, t.destination);
            }
            _ => {
                if let Some(w) = self.tcp.get(&t.destination) {
                    let _ = w.try_send(t.contents.to_vec());
                }
            }
        }
    }
}

/// Drain one session until it only has a timeout left (str0m's
/// single-mutation rule). Events are queued for the worker.
pub(super) fn drain_into(
    peer: &mut Participant,
    id: PeerId,
    side: Side,
    net: &Net,
    queue: &mut VecDeque<(PeerId, Side, Event)>,
    next_timeout: &mut Instant,
) {
    // str0m's pacer asks for a timeout before each packet it releases (an
    // immediate one when more are ready). Giving it here, rather than on the
    // worker loop's next turn, sends a keyframe's packets in one go instead
    // of one per loop turn (which, with many sessions, added milliseconds).
    let mut immediate = 0;
    loop {
        match peer.rtc(side).poll_output() {
            Ok(Output::Timeout(t)) => {
                let now = Instant::now();
                if t <= now
                    && immediate < MAX_IMMEDIATE_TIMEOUTS
                    && peer.rtc(side).handle_input(Input::Timeout(now)).is_ok()
                {
                    immediate += 1;
                    continue;
                }
                peer.timeouts[side_index(side)] = t;
                *next_timeout = (*next_timeout).min(t);
                return;
            }
            Ok(Output::Transmit(t)) => net.send(&t),
            Ok(Output::Event(e)) => queue.push_back((id, side, e)),
            Err(e) => {
                tracing::info!(peer = id.0, ?side, "session failed: {e}");
                peer.closed = true;
                *next_timeout = Instant::now();
                return;
            }
        }
    }
}
