//! A media worker: one thread that owns whole rooms.
//!
//! Its loop waits for a command from the control plane, a datagram from the
//! demux thread, or the earliest str0m timeout, feeds that one input to the
//! `Rtc` it concerns, and drains that `Rtc`'s output (str0m's single-mutation
//! rule). Events drained from any session go to one queue that is worked off
//! before the next input, so an incoming RTP packet on a publisher session can
//! be written to every subscriber session without fighting the borrow of the
//! session it came from.

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::{ChannelConfig, ChannelId, Reliability};
use str0m::format::{Codec, detect_h264_keyframe, detect_h264_nalu};
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive, TcpType, Transmit};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, SeqNo, Ssrc, Vp8Descriptor};
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc, RtcConfig};
use tokio::sync::{mpsc, oneshot};

use crate::allocator::Allocation;
use crate::budget::Budget;
use crate::dominant::DominantSpeaker;
use crate::forwarder::{Decision, Forwarder, PacketInfo};
use crate::keyframe::{self, KeyframeThrottle};
use crate::layers::{self, LayerSize, Wanted};
use crate::net::{Datagram, Forget, Registry};
use crate::quality::{self, Quality};
use crate::speaker::SpeakerDetector;
use crate::{
    Kind, MediaEvent, MediaSettings, PeerId, SfuError, Side, StreamLabels, TrackId, TrackSpec,
    VideoCodec, codec_order, opus,
};

mod allocation;
mod codec;

use codec::CodecKey;

pub(crate) const INBOX_CAPACITY: usize = 8192;
/// Datagrams taken from the inbox before the subscribers written to are
/// flushed. A video frame arrives as a burst of packets; writing the whole
/// burst into each subscriber's session and draining it once costs one pass
/// over its streams instead of one per packet, for a few microseconds of delay.
const INBOX_BATCH: usize = 64;
/// A layer counts as being sent if a packet arrived this recently.
const LAYER_ACTIVE_WINDOW: Duration = Duration::from_millis(1500);
/// How long ICE may stay disconnected before the participant is given up.
const DISCONNECT_GRACE: Duration = Duration::from_secs(8);
/// A participant whose subscriber connection is not up by then is given up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const SPEAKER_TICK: Duration = Duration::from_millis(250);
/// How often sessions report statistics, and connection quality is graded.
const STATS_INTERVAL: Duration = Duration::from_secs(2);
/// No stats report for this long means the participant is lost.
const STATS_SILENCE: Duration = Duration::from_secs(7);
/// Data messages queued for a subscriber whose channel is not open yet.
const MAX_DATA_BACKLOG: usize = 256;
/// Packets kept per outgoing video stream for retransmission (NACK) and for
/// BWE probing. At the top layer of 1080p (~250 packets/s) this is about 1.5 s,
/// several round trips; str0m's default of 1000 kept 4 s of a thumbnail's
/// stream and was most of a participant's memory.
const VIDEO_SEND_BUFFER: usize = 384;
/// Immediate timeouts one drain feeds a session before leaving the rest to
/// the worker loop, so one busy session cannot hold up the others.
const MAX_IMMEDIATE_TIMEOUTS: usize = 256;
/// How often a worker logs what bandwidth allocation cost it.
const COST_REPORT_INTERVAL: Duration = Duration::from_secs(60);
/// The bandwidth estimate a subscriber starts with, before feedback.
const INITIAL_ESTIMATE: Bitrate = Bitrate::kbps(1000);

static NEXT_ROOM: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_room_key() -> u64 {
    NEXT_ROOM.fetch_add(1, Ordering::Relaxed)
}

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

struct Room {
    peers: Vec<PeerId>,
    tracks: HashMap<TrackId, Track>,
    speakers: SpeakerDetector,
    dominant: DominantSpeaker,
    /// Publishers by how recently they were the dominant speaker.
    recent_speakers: Vec<PeerId>,
    last_n: Option<usize>,
    /// Publication order of the next track.
    next_order: u64,
}

impl Room {
    fn new(last_n: Option<usize>) -> Self {
        Self {
            peers: Vec::new(),
            tracks: HashMap::new(),
            speakers: SpeakerDetector::default(),
            dominant: DominantSpeaker::default(),
            recent_speakers: Vec::new(),
            last_n,
            next_order: 0,
        }
    }
}

struct Track {
    publisher: PeerId,
    kind: Kind,
    cid: String,
    codec: Option<VideoCodec>,
    /// Publisher-side m-line, once the offer carrying it was applied.
    mid: Option<Mid>,
    sizes: Vec<LayerSize>,
    layer_ssrc: [Option<Ssrc>; 3],
    layer_seen: [Option<Instant>; 3],
    subscribers: Vec<PeerId>,
    keyframes: KeyframeThrottle,
    order: u64,
    /// Bitrate per layer: measured while it is sent, else what the sender
    /// announced (bits/s).
    layer_bps: [Option<u64>; 3],
    /// Payload bytes per layer since the last rate measurement.
    layer_bytes: [u64; 3],
    /// Dynacast: the highest layer last told to the publisher, and since when
    /// a lower one would do.
    dynacast_sent: Option<u8>,
    dynacast_lower_since: Option<Instant>,
    /// Periodic passes that repeat the last dynacast update.
    dynacast_repeats: u8,
    /// Muted by a moderator: its packets go nowhere (a client that ignores
    /// the mute request is still not heard).
    muted: bool,
}

impl Track {
    fn layer_active(&self, layer: u8, now: Instant) -> bool {
        self.layer_seen
            .get(usize::from(layer))
            .copied()
            .flatten()
            .is_some_and(|t| now.saturating_duration_since(t) < LAYER_ACTIVE_WINDOW)
    }

    fn target_for(&self, wanted: Wanted, now: Instant) -> Option<u8> {
        if self.kind == Kind::Audio {
            return (wanted != Wanted::Disabled).then_some(0);
        }
        layers::select(self.layer_sizes(), wanted, |l| self.layer_active(l, now))
    }

    /// The announced layer sizes; without them (no simulcast info) every
    /// layer counts as "large enough".
    fn layer_sizes(&self) -> &[LayerSize] {
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
}

/// One forwarded track inside a subscriber session.
struct DownTrack {
    mid: Mid,
    kind: Kind,
    /// Set once the negotiation that added the m-line completed.
    ready: Option<Ssrc>,
    /// The subscriber's payload type per incoming codec, learnt on first use.
    out_pts: Vec<(CodecKey, Option<(Pt, bool)>)>,
    forwarder: Forwarder,
    wanted: Wanted,
    /// The allocator's last decision (video only; `None` before the first).
    allocation: Option<Allocation>,
    /// When the allocation last went to a lower layer (upgrade hold-off).
    lowered_at: Option<Instant>,
    /// The subscriber was told this video is paused.
    paused: bool,
    /// Passes left that repeat the paused state: a client that had not yet
    /// attached the track when the first notice came would miss it.
    state_repeats: u8,
}

impl DownTrack {
    /// What to forward: the allocator's layer once it has decided, else the
    /// subscriber's own wish.
    fn effective_wanted(&self) -> Wanted {
        match self.allocation {
            Some(a) => a.layer().map_or(Wanted::Disabled, Wanted::Quality),
            None => self.wanted,
        }
    }
}

enum SubChange {
    Add {
        track: TrackId,
        kind: Kind,
        labels: StreamLabels,
    },
    Deactivate(Mid),
}

struct Peer {
    room: u64,
    events: mpsc::UnboundedSender<MediaEvent>,
    publisher: Rtc,
    subscriber: Rtc,
    ufrags: [String; 2],
    addrs: Vec<SocketAddr>,
    /// Tracks announced by AddTrack whose m-line has not been seen yet.
    unmatched: Vec<TrackId>,
    published: HashMap<Mid, TrackId>,
    ssrc_layers: HashMap<Ssrc, (TrackId, u8)>,
    /// What each incoming payload type carries.
    pt_codecs: HashMap<Pt, CodecKey>,
    pub_channels: HashMap<ChannelId, bool>,
    // Subscriber session state.
    pending_offer: Option<(SdpPendingOffer, Vec<(Mid, TrackId)>)>,
    queued: Vec<SubChange>,
    downtracks: HashMap<TrackId, DownTrack>,
    down_by_mid: HashMap<Mid, TrackId>,
    reliable: Option<ChannelId>,
    lossy: Option<ChannelId>,
    open_channels: Vec<ChannelId>,
    data_backlog: VecDeque<(bool, Arc<[u8]>)>,
    disconnected_since: [Option<Instant>; 2],
    joined_at: Instant,
    subscriber_connected: bool,
    /// Latest stats of the publisher and subscriber sessions, and when.
    reports: [quality::Report; 2],
    /// Highest stream jitter per session since its last stats report.
    jitter: [Duration; 2],
    /// Fraction of the video bitrate its views want that the allocation
    /// sends, while its downlink is known to be short (see `allocation`).
    delivered: Option<f32>,
    /// Congestion lowered this subscriber's videos, and the allocation has
    /// not since given it most of what its views want.
    starved: bool,
    last_report: Instant,
    quality: Option<Quality>,
    /// Subscriber downlink estimates, and what BWE was last asked to find.
    budget: Budget,
    desired_bps: u64,
    minimum_bps: u64,
    last_probe: Instant,
    timeouts: [Instant; 2],
    closed: bool,
    /// Written to since the last flush (and listed in `Worker::unflushed`).
    unflushed: bool,
}

impl Peer {
    fn rtc(&mut self, side: Side) -> &mut Rtc {
        match side {
            Side::Publisher => &mut self.publisher,
            Side::Subscriber => &mut self.subscriber,
        }
    }
}

fn side_index(side: Side) -> usize {
    match side {
        Side::Publisher => 0,
        Side::Subscriber => 1,
    }
}

/// Where a worker's packets leave: the shared UDP socket, or the writer of the
/// ICE-TCP connection a client reached us on.
struct Net {
    udp: Arc<UdpSocket>,
    tcp: HashMap<SocketAddr, Sender<Vec<u8>>>,
}

impl Net {
    fn send(&self, t: &Transmit) {
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

/// What connects a worker to the socket, the demux thread and the control plane.
pub(crate) struct WorkerIo {
    pub socket: Arc<UdpSocket>,
    /// The address advertised in our ICE candidates.
    pub local: SocketAddr,
    pub registry: Registry,
    pub forget: Sender<Forget>,
    pub commands: Receiver<Command>,
    pub inbox: Receiver<Datagram>,
}

pub(crate) struct Worker {
    index: usize,
    settings: MediaSettings,
    net: Net,
    local: SocketAddr,
    registry: Registry,
    forget: Sender<Forget>,
    commands: Receiver<Command>,
    inbox: Receiver<Datagram>,
    rooms: HashMap<u64, Room>,
    peers: HashMap<PeerId, Peer>,
    by_ufrag: HashMap<String, (PeerId, Side)>,
    by_addr: HashMap<SocketAddr, (PeerId, Side)>,
    queue: VecDeque<(PeerId, Side, Event)>,
    /// Subscribers with forwarded packets not yet drained to the network.
    unflushed: Vec<PeerId>,
    next_timeout: Instant,
    next_speaker_tick: Instant,
    next_quality_tick: Instant,
    next_allocation_tick: Instant,
    /// Rooms where something changed that allocation depends on, to be
    /// allocated again before the next periodic pass.
    reallocate: Vec<u64>,
    /// Time spent allocating and subscriber passes made since the last report.
    allocation_cost: (Duration, u64),
    next_cost_report: Instant,
}

impl Worker {
    pub fn new(index: usize, settings: MediaSettings, io: WorkerIo) -> Self {
        let WorkerIo {
            socket,
            local,
            registry,
            forget,
            commands,
            inbox,
        } = io;
        Self {
            index,
            settings,
            net: Net {
                udp: socket,
                tcp: HashMap::new(),
            },
            local,
            registry,
            forget,
            commands,
            inbox,
            rooms: HashMap::new(),
            peers: HashMap::new(),
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
            queue: VecDeque::new(),
            unflushed: Vec::new(),
            next_timeout: Instant::now() + Duration::from_millis(100),
            next_speaker_tick: Instant::now() + SPEAKER_TICK,
            next_quality_tick: Instant::now() + STATS_INTERVAL,
            next_allocation_tick: Instant::now() + allocation::INTERVAL,
            reallocate: Vec::new(),
            allocation_cost: (Duration::ZERO, 0),
            next_cost_report: Instant::now() + COST_REPORT_INTERVAL,
        }
    }

    pub fn run(mut self) {
        loop {
            let wait = self
                .next_timeout
                .min(self.next_speaker_tick)
                .min(self.next_quality_tick)
                .min(self.next_allocation_tick)
                .saturating_duration_since(Instant::now());
            select! {
                recv(self.commands) -> cmd => match cmd {
                    Ok(cmd) => self.command(cmd),
                    Err(_) => return,
                },
                recv(self.inbox) -> d => match d {
                    Ok(d) => {
                        self.datagram(d);
                        self.work_queue();
                        for _ in 1..INBOX_BATCH {
                            let Ok(d) = self.inbox.try_recv() else { break };
                            self.datagram(d);
                            self.work_queue();
                        }
                    }
                    Err(_) => return,
                },
                default(wait) => {}
            }
            self.work_queue();
            let now = Instant::now();
            if now >= self.next_timeout {
                self.timeouts();
            }
            if now >= self.next_speaker_tick {
                self.speakers(now);
                self.next_speaker_tick = now + SPEAKER_TICK;
            }
            if now >= self.next_quality_tick {
                self.quality(now);
                self.next_quality_tick = now + STATS_INTERVAL;
            }
            if now >= self.next_allocation_tick {
                self.measure_rates(now);
                self.allocate(now, true);
                self.next_allocation_tick = now + allocation::INTERVAL;
                if now >= self.next_cost_report {
                    self.report_allocation_cost();
                    self.next_cost_report = now + COST_REPORT_INTERVAL;
                }
            } else {
                self.allocate(now, false);
            }
            self.flush_subscribers();
        }
    }

    /// Tell every room's participants whose connection quality changed.
    fn quality(&mut self, now: Instant) {
        for room in self.rooms.values() {
            let mut changed = Vec::new();
            for id in &room.peers {
                let Some(p) = self.peers.get_mut(id) else {
                    continue;
                };
                if !p.subscriber_connected {
                    continue;
                }
                let silent = now.saturating_duration_since(p.last_report) > STATS_SILENCE;
                let (q, score) = quality::assess(&p.reports[0], &p.reports[1], p.delivered, silent);
                if p.quality != Some(q) {
                    p.quality = Some(q);
                    changed.push((*id, q, score));
                }
            }
            if changed.is_empty() {
                continue;
            }
            let update: Arc<[(PeerId, Quality, f32)]> = changed.into();
            for id in &room.peers {
                if let Some(p) = self.peers.get(id) {
                    let _ = p.events.send(MediaEvent::Quality(update.clone()));
                }
            }
        }
    }

    /// Tell every room's participants who started or stopped speaking.
    ///
    /// The dominant speaker is listed first, and given a level just above the
    /// loudest other speaker if needed, because clients rank speakers by level.
    fn speakers(&mut self, now: Instant) {
        for (room_id, room) in self.rooms.iter_mut() {
            let mut changes = room.speakers.changes(now);
            let new_dominant = room
                .dominant
                .decide(now)
                .and_then(|t| room.tracks.get(&t))
                .map(|t| t.publisher);
            if let Some(p) = new_dominant {
                tracing::debug!(room = room_id, peer = ?p, "dominant speaker");
                room.recent_speakers.retain(|x| *x != p);
                room.recent_speakers.insert(0, p);
                self.reallocate.push(*room_id);
            }
            let dominant = room.dominant.current();
            if new_dominant.is_some()
                && let Some(track) = dominant
                && !changes.iter().any(|c| c.track == track)
                && let Some(level) = room.speakers.active_level(track)
            {
                changes.push(crate::speaker::SpeakerChange {
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
            if changes.is_empty() {
                continue;
            }
            let update: Arc<[(PeerId, f32, bool)]> = changes
                .iter()
                .filter_map(|c| {
                    let publisher = room.tracks.get(&c.track)?.publisher;
                    Some((publisher, c.level, c.active))
                })
                .collect();
            for p in &room.peers {
                if let Some(peer) = self.peers.get(p) {
                    let _ = peer.events.send(MediaEvent::Speakers(update.clone()));
                }
            }
        }
    }

    // ---- inputs -------------------------------------------------------------

    fn datagram(&mut self, d: Datagram) {
        let key = match self.by_addr.get(&d.source) {
            Some(k) => *k,
            None => {
                let Some(k) = self.key_from_stun(&d.data) else {
                    return;
                };
                let Some(peer) = self.peers.get_mut(&k.0) else {
                    return;
                };
                self.by_addr.insert(d.source, k);
                peer.addrs.push(d.source);
                k
            }
        };
        if let Some(writer) = d.tcp_writer {
            self.net.tcp.insert(d.source, writer);
        }
        let Ok(receive) = Receive::new(d.proto, d.source, d.destination, &d.data) else {
            return;
        };
        self.input(key, Input::Receive(d.at, receive));
    }

    /// Keep the highest jitter (RTP timestamp units of the stream's codec)
    /// a session's streams reported since its last stats report.
    fn note_jitter(&mut self, id: PeerId, side: Side, mid: Mid, units: u32) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let track = match side {
            Side::Publisher => peer.published.get(&mid),
            Side::Subscriber => peer.down_by_mid.get(&mid),
        };
        let kind = track
            .and_then(|t| self.rooms.get(&peer.room)?.tracks.get(t))
            .map(|t| t.kind);
        let clock_rate = if kind == Some(Kind::Audio) {
            48_000.0
        } else {
            90_000.0
        };
        let jitter = Duration::from_secs_f64(f64::from(units) / clock_rate);
        let slot = &mut peer.jitter[side_index(side)];
        *slot = (*slot).max(jitter);
    }

    fn key_from_stun(&self, data: &[u8]) -> Option<(PeerId, Side)> {
        let msg = str0m::ice::StunMessage::parse(data).ok()?;
        let (ours, _) = msg.split_username()?;
        self.by_ufrag.get(ours).copied()
    }

    fn input(&mut self, (id, side): (PeerId, Side), input: Input) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if let Err(e) = peer.rtc(side).handle_input(input) {
            tracing::debug!(peer = id.0, ?side, "input rejected: {e}");
        }
        self.drain(id, side);
    }

    fn timeouts(&mut self) {
        let now = Instant::now();
        let mut next = now + Duration::from_millis(500);
        let due: Vec<(PeerId, Side)> = self
            .peers
            .iter()
            .flat_map(|(id, p)| {
                [Side::Publisher, Side::Subscriber]
                    .into_iter()
                    .filter(|s| p.timeouts[side_index(*s)] <= now)
                    .map(|s| (*id, s))
            })
            .collect();
        for key in due {
            self.input(key, Input::Timeout(now));
        }
        self.work_queue();

        let mut dead = Vec::new();
        for (id, p) in &self.peers {
            for t in p.timeouts {
                next = next.min(t);
            }
            let lost = p
                .disconnected_since
                .iter()
                .flatten()
                .any(|t| now.saturating_duration_since(*t) > DISCONNECT_GRACE)
                || (!p.subscriber_connected
                    && now.saturating_duration_since(p.joined_at) > CONNECT_TIMEOUT);
            if p.closed || lost || !p.publisher.is_alive() || !p.subscriber.is_alive() {
                dead.push(*id);
            }
        }
        for id in dead {
            if let Some(p) = self.peers.get(&id) {
                let _ = p.events.send(MediaEvent::TransportClosed {
                    reason: "media connection lost",
                });
            }
            self.remove_peer(id);
        }
        self.next_timeout = next.max(now + Duration::from_millis(1));
    }

    /// Drain one session until it only has a timeout left.
    fn drain(&mut self, id: PeerId, side: Side) {
        if let Some(peer) = self.peers.get_mut(&id) {
            drain_into(
                peer,
                id,
                side,
                &self.net,
                &mut self.queue,
                &mut self.next_timeout,
            );
        }
    }

    /// Drain every subscriber session that forwarded packets were written to.
    fn flush_subscribers(&mut self) {
        // Draining can queue events whose handling forwards more packets.
        while !self.unflushed.is_empty() {
            for id in std::mem::take(&mut self.unflushed) {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.unflushed = false;
                    drain_into(
                        peer,
                        id,
                        Side::Subscriber,
                        &self.net,
                        &mut self.queue,
                        &mut self.next_timeout,
                    );
                }
            }
            self.work_queue();
        }
    }

    fn work_queue(&mut self) {
        while let Some((id, side, event)) = self.queue.pop_front() {
            self.event(id, side, event);
        }
    }

    // ---- events from sessions --------------------------------------------------

    fn event(&mut self, id: PeerId, side: Side, event: Event) {
        match event {
            Event::RtpPacket(packet) => self.forward(id, packet),
            // Only m-lines the client sends on carry a published track: the
            // Rust-core SDKs also offer receive-only placeholders on their
            // publisher connection, which must not take a track's place.
            Event::MediaAdded(added) if side == Side::Publisher && receives(added.direction) => {
                self.match_published_media(id, added.mid)
            }
            Event::MediaChanged(changed) if side == Side::Publisher => {
                self.published_media_changed(id, changed.mid, changed.direction)
            }
            Event::KeyframeRequest(req) if side == Side::Subscriber => {
                self.subscriber_keyframe_request(id, req.mid)
            }
            Event::ChannelOpen(cid, label) => self.channel_open(id, side, cid, &label),
            Event::ChannelData(data) if side == Side::Publisher => {
                let Some(peer) = self.peers.get(&id) else {
                    return;
                };
                let reliable = peer.pub_channels.get(&data.id).copied().unwrap_or(true);
                let _ = peer.events.send(MediaEvent::Data {
                    reliable,
                    payload: data.data,
                });
            }
            Event::IceConnectionStateChange(state) => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.disconnected_since[side_index(side)] =
                        (state == IceConnectionState::Disconnected).then(Instant::now);
                }
            }
            Event::PeerStats(stats) => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    let i = side_index(side);
                    peer.reports[i] = quality::Report {
                        loss: match side {
                            Side::Publisher => stats.ingress_loss_fraction,
                            Side::Subscriber => stats.egress_loss_fraction,
                        },
                        rtt: stats.rtt,
                        jitter: Some(std::mem::take(&mut peer.jitter[i])),
                    };
                    peer.last_report = Instant::now();
                }
            }
            Event::MediaIngressStats(stats) => self.note_jitter(id, side, stats.mid, stats.jitter),
            Event::MediaEgressStats(stats) => {
                if let Some(remote) = stats.remote {
                    self.note_jitter(id, side, stats.mid, remote.jitter);
                }
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. })
                if side == Side::Subscriber =>
            {
                if let Some(peer) = self.peers.get_mut(&id) {
                    let estimate = estimate.as_u64();
                    if peer
                        .budget
                        .latest()
                        .is_none_or(|e| e.abs_diff(estimate) * 5 > e)
                    {
                        tracing::debug!(peer = id.0, estimate, "downlink estimate");
                    }
                    peer.budget.record(Instant::now(), estimate);
                }
            }
            Event::Connected if side == Side::Subscriber => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.subscriber_connected = true;
                }
            }
            Event::Closed => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.closed = true;
                    self.next_timeout = Instant::now();
                }
            }
            _ => {}
        }
    }

    fn channel_open(&mut self, id: PeerId, side: Side, cid: ChannelId, label: &str) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        match side {
            Side::Publisher => {
                peer.pub_channels.insert(cid, label != "_lossy");
            }
            Side::Subscriber => {
                peer.open_channels.push(cid);
                let backlog: Vec<_> = peer.data_backlog.drain(..).collect();
                for (reliable, payload) in backlog {
                    self.write_data(id, reliable, &payload);
                }
            }
        }
    }

    fn match_published_media(&mut self, id: PeerId, mid: Mid) {
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
        let Some(room) = self.rooms.get_mut(&peer.room) else {
            return;
        };
        // Match by the sender's track id; fall back to the first announced
        // track of the same kind, for clients whose msid differs from the cid.
        let pos = peer
            .unmatched
            .iter()
            .position(|t| room.tracks.get(t).is_some_and(|t| t.cid == msid_track))
            .or_else(|| {
                peer.unmatched
                    .iter()
                    .position(|t| room.tracks.get(t).is_some_and(|t| t.kind == kind))
            });
        let Some(pos) = pos else {
            tracing::debug!(peer = id.0, %mid, "media without an announced track");
            return;
        };
        let track_id = peer.unmatched.remove(pos);
        if let Some(track) = room.tracks.get_mut(&track_id) {
            track.mid = Some(mid);
        }
        peer.published.insert(mid, track_id);
    }

    /// Clients unpublish by renegotiating: the track's m-line stops sending.
    /// A transceiver may later be reused for a newly announced track.
    fn published_media_changed(&mut self, id: PeerId, mid: Mid, direction: Direction) {
        if receives(direction) {
            self.match_published_media(id, mid);
            return;
        }
        let Some(peer) = self.peers.get(&id) else {
            return;
        };
        let Some(track) = peer.published.get(&mid).copied() else {
            return;
        };
        let room = peer.room;
        let _ = peer.events.send(MediaEvent::TrackEnded { track });
        self.remove_track(room, track);
    }

    /// An RTP packet from a publisher: hand it to every subscription of its track.
    fn forward(&mut self, from: PeerId, packet: RtpPacket) {
        let now = packet.timestamp;
        let ssrc = packet.header.ssrc;
        let Some(publisher) = self.peers.get_mut(&from) else {
            return;
        };
        let pt = packet.header.payload_type;
        let codec = match publisher.pt_codecs.get(&pt) {
            Some(c) => *c,
            None => {
                let Some(c) = CodecKey::of_incoming(&publisher.publisher, pt) else {
                    return;
                };
                publisher.pt_codecs.insert(pt, c);
                c
            }
        };
        let (track_id, layer) = match publisher.ssrc_layers.get(&ssrc) {
            Some(v) => *v,
            None => {
                let Some((mid, rid)) = publisher
                    .publisher
                    .direct_api()
                    .stream_rx(&ssrc)
                    .map(|rx| (rx.mid(), rx.rid()))
                else {
                    return;
                };
                let Some(track_id) = publisher.published.get(&mid).copied() else {
                    return;
                };
                let layer = match rid.as_deref() {
                    Some("q") | None => 0,
                    Some("h") => 1,
                    Some("f") => 2,
                    Some(_) => return,
                };
                publisher.ssrc_layers.insert(ssrc, (track_id, layer));
                (track_id, layer)
            }
        };
        let room_id = publisher.room;
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let Some(track) = room.tracks.get_mut(&track_id) else {
            return;
        };
        // A moderator-muted track is neither forwarded nor heard speaking.
        if track.muted {
            return;
        }
        if let Some(level) = packet.header.ext_vals.audio_level {
            room.speakers.observe(track_id, level, now);
            room.dominant.observe(track_id, level, now);
        }
        track.layer_seen[usize::from(layer)] = Some(now);
        track.layer_ssrc[usize::from(layer)] = Some(ssrc);
        track.layer_bytes[usize::from(layer)] += packet.payload.len() as u64;

        let payload = &packet.payload;
        let vp8 = if codec.codec == Codec::Vp8 {
            Vp8Descriptor::parse(payload).ok()
        } else {
            None
        };
        let info = PacketInfo {
            layer,
            seq: *packet.seq_no,
            timestamp: packet.header.timestamp,
            keyframe_start: match (&vp8, track.kind) {
                (_, Kind::Audio) => true,
                (Some(d), Kind::Video) => d.starts_keyframe(payload),
                // Chrome sends the parameter sets (SPS, PPS) just before the
                // IDR picture: a decoder must start with them.
                (None, Kind::Video) if codec.codec == Codec::H264 => {
                    detect_h264_nalu(payload, 7) || detect_h264_keyframe(payload)
                }
                (None, Kind::Video) => false,
            },
            picture_id: vp8.as_ref().and_then(|d| d.picture_id()),
            tl0_pic_idx: vp8.as_ref().and_then(|d| d.tl0_pic_idx()),
            arrival: now,
            clock_rate: if track.kind == Kind::Audio {
                48_000
            } else {
                90_000
            },
        };
        let ext = &packet.header.ext_vals;
        let mut need_keyframe = [false; 3];
        // The primary Opus frame of a RED packet, cut out once for all the
        // subscribers without RED: `None` not needed yet, `Some(None)` unreadable.
        let mut red_primary: Option<Option<Arc<[u8]>>> = None;

        for sub_id in &track.subscribers {
            let Some(sub) = self.peers.get_mut(sub_id) else {
                continue;
            };
            let Some(down) = sub.downtracks.get_mut(&track_id) else {
                continue;
            };
            let Some(out_ssrc) = down.ready else {
                continue;
            };
            let Some(pt) = down.out_pt(&sub.subscriber, codec) else {
                continue;
            };
            let target = track.target_for(down.effective_wanted(), now);
            if down.forwarder.target() != target {
                down.forwarder.set_target(target);
            }
            let rewrite = match down.forwarder.on_packet(&info) {
                Decision::Forward(r) => r,
                Decision::NeedKeyframe(l) => {
                    need_keyframe[usize::from(l)] = true;
                    continue;
                }
                Decision::Drop => continue,
            };
            let ext_out = ExtensionValues {
                audio_level: ext.audio_level,
                voice_activity: ext.voice_activity,
                video_orientation: ext.video_orientation,
                ..Default::default()
            };
            // A subscriber without RED gets the primary Opus frame alone.
            let body = match (codec.red, pt.1) {
                (true, false) => {
                    let primary = red_primary
                        .get_or_insert_with(|| codec::red_primary(payload).map(Arc::from));
                    match primary {
                        Some(primary) => primary.clone(),
                        None => continue,
                    }
                }
                _ => payload.clone(),
            };
            let mut write =
                RtpWrite::new(pt.0, SeqNo::from(rewrite.seq), rewrite.timestamp, now, body)
                    .marker(packet.header.marker)
                    .ext_vals(ext_out)
                    .nackable(down.kind == Kind::Video);
            if let Some(desc) = &vp8 {
                let patch = |pid: Option<u16>| {
                    let mut patch = desc.patch();
                    if let Some(pid) = pid {
                        patch = patch.picture_id(pid);
                    }
                    if let Some(t) = rewrite.tl0_pic_idx {
                        patch = patch.tl0_pic_idx(t);
                    }
                    patch.build()
                };
                // A sender with 7-bit picture ids: the rewritten id, taken
                // modulo 128, is just as continuous.
                let built = patch(rewrite.picture_id)
                    .or_else(|_| patch(rewrite.picture_id.map(|p| p & 0x7f)));
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
                self.unflushed.push(*sub_id);
            }
        }

        let mut keyframe_from = [None; 3];
        for l in 0..3u8 {
            let i = usize::from(l);
            if need_keyframe[i] && track.keyframes.allow(l, now) {
                keyframe_from[i] = track.layer_ssrc[i];
            }
        }
        for ssrc in keyframe_from.into_iter().flatten() {
            self.request_keyframe(from, ssrc);
        }
    }

    fn set_track_muted(&mut self, room: u64, track: TrackId, muted: bool) {
        let Some(t) = self
            .rooms
            .get_mut(&room)
            .and_then(|r| r.tracks.get_mut(&track))
        else {
            return;
        };
        if t.muted == muted {
            return;
        }
        tracing::debug!(track = track.0, muted, "track muted at the bridge");
        t.muted = muted;
        // Subscribers' decoders missed everything while it was muted; a video
        // resumes from a keyframe rather than from deltas of unseen frames.
        if !muted && t.kind == Kind::Video {
            let publisher = t.publisher;
            let ssrcs = t.layer_ssrc;
            for ssrc in ssrcs.into_iter().flatten() {
                self.request_keyframe(publisher, ssrc);
            }
        }
    }

    fn request_keyframe(&mut self, publisher: PeerId, ssrc: Ssrc) {
        let Some(peer) = self.peers.get_mut(&publisher) else {
            return;
        };
        if let Some(rx) = peer.publisher.direct_api().stream_rx(&ssrc) {
            rx.request_keyframe(KeyframeRequestKind::Pli);
        }
        self.drain(publisher, Side::Publisher);
    }

    fn subscriber_keyframe_request(&mut self, sub: PeerId, mid: Mid) {
        let now = Instant::now();
        let Some(peer) = self.peers.get(&sub) else {
            return;
        };
        let Some(track_id) = peer.down_by_mid.get(&mid).copied() else {
            return;
        };
        let Some(layer) = peer
            .downtracks
            .get(&track_id)
            .and_then(|d| d.forwarder.current())
        else {
            return;
        };
        let Some(track) = self
            .rooms
            .get_mut(&peer.room)
            .and_then(|r| r.tracks.get_mut(&track_id))
        else {
            return;
        };
        let (publisher, ssrc) = (track.publisher, track.layer_ssrc[usize::from(layer)]);
        if let Some(ssrc) = ssrc
            && track.keyframes.allow(layer, now)
        {
            self.request_keyframe(publisher, ssrc);
        }
    }

    // ---- commands -------------------------------------------------------------

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::AddPeer { room, peer, events } => self.add_peer(room, peer, events),
            Command::RemovePeer { peer } => self.remove_peer(peer),
            Command::CloseRoom { room } => {
                if let Some(r) = self.rooms.remove(&room) {
                    for p in r.peers {
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
            Command::Unsubscribe { subscriber, track } => self.unsubscribe(subscriber, track),
            Command::SetWanted {
                subscriber,
                track,
                wanted,
            } => {
                if let Some(d) = self
                    .peers
                    .get_mut(&subscriber)
                    .and_then(|p| p.downtracks.get_mut(&track))
                {
                    d.wanted = wanted;
                    if let Some(p) = self.peers.get(&subscriber) {
                        self.reallocate.push(p.room);
                    }
                }
            }
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
                self.rooms
                    .entry(room)
                    .or_insert_with(|| Room::new(last_n))
                    .last_n = last_n;
                self.reallocate.push(room);
            }
        }
    }

    fn new_rtc(&self, side: Side) -> (Rtc, String) {
        let creds = IceCreds::new();
        let ufrag = creds.ufrag.clone();
        let codecs = &self.settings.video_codecs;
        let mut config = RtcConfig::new()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .set_local_ice_credentials(creds)
            .clear_codecs()
            .enable_opus(true, self.settings.opus.red)
            .enable_vp8(codecs.contains(&VideoCodec::Vp8))
            .enable_h264(codecs.contains(&VideoCodec::H264))
            .set_send_buffer_video(VIDEO_SEND_BUFFER)
            .set_stats_interval(Some(STATS_INTERVAL));
        if side == Side::Subscriber && self.settings.congestion_control {
            config = config.enable_bwe(Some(INITIAL_ESTIMATE));
        }
        let mut rtc = config.build(Instant::now());
        if let Ok(c) = Candidate::host(self.local, "udp") {
            rtc.add_local_candidate(c);
        }
        // The fallback for networks that block UDP: browsers connect to us.
        if let Ok(c) = Candidate::builder()
            .tcp()
            .host(self.local)
            .tcptype(TcpType::Passive)
            .build()
        {
            rtc.add_local_candidate(c);
        }
        (rtc, ufrag)
    }

    fn add_peer(&mut self, room: u64, id: PeerId, events: mpsc::UnboundedSender<MediaEvent>) {
        let (publisher, pub_ufrag) = self.new_rtc(Side::Publisher);
        let (mut subscriber, sub_ufrag) = self.new_rtc(Side::Subscriber);

        // The subscriber session starts with our two data channels, so the
        // client's primary connection comes up before anything is published.
        let mut api = subscriber.sdp_api();
        let reliable = api.add_channel("_reliable".into());
        let lossy = api.add_channel_with_config(ChannelConfig {
            label: "_lossy".into(),
            ordered: false,
            reliability: Reliability::MaxRetransmits { retransmits: 0 },
            ..Default::default()
        });
        let Some((offer, pending)) = api.apply() else {
            tracing::error!("subscriber offer was not created");
            return;
        };
        let _ = events.send(MediaEvent::SubscriberOffer {
            sdp: offer.to_sdp_string(),
        });

        {
            let mut registry = self.registry.write().unwrap_or_else(|p| p.into_inner());
            for (ufrag, side) in [
                (&pub_ufrag, Side::Publisher),
                (&sub_ufrag, Side::Subscriber),
            ] {
                self.by_ufrag.insert(ufrag.clone(), (id, side));
                registry.insert(ufrag.clone(), self.index);
            }
        }
        let now = Instant::now();
        self.peers.insert(
            id,
            Peer {
                room,
                events,
                publisher,
                subscriber,
                ufrags: [pub_ufrag, sub_ufrag],
                addrs: Vec::new(),
                unmatched: Vec::new(),
                published: HashMap::new(),
                ssrc_layers: HashMap::new(),
                pt_codecs: HashMap::new(),
                pub_channels: HashMap::new(),
                pending_offer: Some((pending, Vec::new())),
                queued: Vec::new(),
                downtracks: HashMap::new(),
                down_by_mid: HashMap::new(),
                reliable: Some(reliable),
                lossy: Some(lossy),
                open_channels: Vec::new(),
                data_backlog: VecDeque::new(),
                disconnected_since: [None; 2],
                joined_at: now,
                subscriber_connected: false,
                reports: [quality::Report::default(); 2],
                jitter: [Duration::ZERO; 2],
                delivered: None,
                starved: false,
                last_report: now,
                quality: None,
                budget: Budget::default(),
                desired_bps: 0,
                minimum_bps: 0,
                last_probe: now,
                timeouts: [now; 2],
                closed: false,
                unflushed: false,
            },
        );
        let last_n = self.settings.last_n;
        self.rooms
            .entry(room)
            .or_insert_with(|| Room::new(last_n))
            .peers
            .push(id);
        self.drain(id, Side::Publisher);
        self.drain(id, Side::Subscriber);
    }

    fn remove_peer(&mut self, id: PeerId) {
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        for ufrag in &peer.ufrags {
            self.by_ufrag.remove(ufrag);
        }
        {
            let mut registry = self.registry.write().unwrap_or_else(|p| p.into_inner());
            for ufrag in &peer.ufrags {
                registry.remove(ufrag);
            }
        }
        for addr in &peer.addrs {
            self.by_addr.remove(addr);
            // Dropping the writer closes that ICE-TCP connection.
            self.net.tcp.remove(addr);
        }
        let _ = self.forget.send(Forget(std::mem::take(&mut peer.addrs)));
        // Say goodbye on the wire (DTLS close, RTCP BYE) where still possible.
        for side in [Side::Publisher, Side::Subscriber] {
            let rtc = peer.rtc(side);
            let _ = rtc.close();
            while let Ok(out) = rtc.poll_output() {
                match out {
                    Output::Transmit(t) => self.net.send(&t),
                    Output::Timeout(_) => break,
                    Output::Event(_) => {}
                }
            }
        }
        let Some(room) = self.rooms.get_mut(&peer.room) else {
            return;
        };
        room.peers.retain(|p| *p != id);
        for track in room.tracks.values_mut() {
            track.subscribers.retain(|p| *p != id);
        }
        let own: Vec<TrackId> = room
            .tracks
            .iter()
            .filter(|(_, t)| t.publisher == id)
            .map(|(k, _)| *k)
            .collect();
        let room_id = peer.room;
        for t in own {
            self.remove_track(room_id, t);
        }
    }

    fn publisher_offer(&mut self, id: PeerId, sdp: &str) -> Result<String, SfuError> {
        let peer = self.peers.get_mut(&id).ok_or(SfuError::UnknownPeer)?;
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| SfuError::Sdp(e.to_string()))?;
        tracing::trace!(peer = id.0, %sdp, "publisher offer");
        let answer = peer
            .publisher
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| SfuError::Negotiation(e.to_string()))?;
        self.drain(id, Side::Publisher);
        self.work_queue();
        let room = self.peers.get(&id).map(|p| p.room);
        let tracks = room.and_then(|r| self.rooms.get(&r)).map(|r| &r.tracks);
        let announced = |cid: &str| {
            tracks?
                .values()
                .find(|t| t.publisher == id && t.cid == cid)
                .and_then(|t| t.codec)
                .map(VideoCodec::sdp_name)
        };
        let answer = codec_order::prefer(sdp, &answer.to_sdp_string(), announced);
        Ok(opus::apply(&answer, &self.settings.opus))
    }

    fn subscriber_answer(&mut self, id: PeerId, sdp: &str) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some((pending, added)) = peer.pending_offer.take() else {
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
            self.next_timeout = Instant::now();
            return;
        }
        for (mid, track) in added {
            let ssrc = peer
                .subscriber
                .direct_api()
                .stream_tx_by_mid(mid, None)
                .map(|s| s.ssrc());
            if let (Some(d), Some(ssrc)) = (peer.downtracks.get_mut(&track), ssrc) {
                // The allocator is what keeps a subscriber within its
                // downlink; pacing forwarded media behind a momentary low
                // estimate would only delay frames (a keyframe by up to
                // seconds). str0m's pacer still spaces out probes and padding.
                if let Some(stream) = peer.subscriber.direct_api().stream_tx(&ssrc) {
                    stream.set_unpaced(true);
                }
                d.ready = Some(ssrc);
                d.out_pts.clear();
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
        if peer.pending_offer.is_some() || peer.queued.is_empty() {
            return;
        }
        let mut api = peer.subscriber.sdp_api();
        let mut added = Vec::new();
        for change in peer.queued.drain(..) {
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
            if let Some(d) = peer.downtracks.get_mut(track) {
                d.mid = *mid;
            }
            peer.down_by_mid.insert(*mid, *track);
        }
        if let Some((offer, pending)) = api.apply() {
            peer.pending_offer = Some((pending, added));
            let _ = peer.events.send(MediaEvent::SubscriberOffer {
                sdp: opus::apply(&offer.to_sdp_string(), &self.settings.opus),
            });
        }
        self.drain(id, Side::Subscriber);
    }

    fn add_track(&mut self, id: PeerId, spec: TrackSpec) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(room) = self.rooms.get_mut(&peer.room) else {
            return;
        };
        let mut sizes = spec.layers;
        sizes.truncate(3);
        let order = room.next_order;
        room.next_order += 1;
        let layer_bps = allocation::announced_bitrates(spec.kind, &sizes, &spec.layer_bitrates);
        room.tracks.insert(
            spec.id,
            Track {
                publisher: id,
                kind: spec.kind,
                cid: spec.cid,
                codec: spec.codec,
                mid: None,
                sizes,
                layer_ssrc: [None; 3],
                layer_seen: [None; 3],
                subscribers: Vec::new(),
                keyframes: KeyframeThrottle::new(keyframe::DEFAULT_INTERVAL),
                order,
                layer_bps,
                layer_bytes: [0; 3],
                dynacast_sent: None,
                dynacast_lower_since: None,
                dynacast_repeats: 0,
                muted: false,
            },
        );
        peer.unmatched.push(spec.id);
    }

    fn remove_track(&mut self, room_id: u64, track_id: TrackId) {
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        room.speakers.remove(track_id);
        room.dominant.remove(track_id);
        self.reallocate.push(room_id);
        let Some(track) = room.tracks.remove(&track_id) else {
            return;
        };
        if let Some(p) = self.peers.get_mut(&track.publisher) {
            p.unmatched.retain(|t| *t != track_id);
            if let Some(mid) = track.mid {
                p.published.remove(&mid);
            }
            p.ssrc_layers.retain(|_, (t, _)| *t != track_id);
        }
        for sub in track.subscribers {
            self.drop_downtrack(sub, track_id);
        }
    }

    fn subscribe(&mut self, sub: PeerId, track_id: TrackId, labels: StreamLabels) {
        let Some(peer) = self.peers.get_mut(&sub) else {
            return;
        };
        if peer.downtracks.contains_key(&track_id) {
            return;
        }
        let Some(track) = self
            .rooms
            .get_mut(&peer.room)
            .and_then(|r| r.tracks.get_mut(&track_id))
        else {
            return;
        };
        if track.publisher == sub {
            return;
        }
        track.subscribers.push(sub);
        peer.downtracks.insert(
            track_id,
            DownTrack {
                mid: Mid::from("pending"),
                kind: track.kind,
                ready: None,
                out_pts: Vec::new(),
                forwarder: Forwarder::new(rand::random()),
                wanted: Wanted::Best,
                allocation: None,
                lowered_at: None,
                paused: false,
                state_repeats: 0,
            },
        );
        peer.queued.push(SubChange::Add {
            track: track_id,
            kind: track.kind,
            labels,
        });
        self.negotiate_subscriber(sub);
    }

    fn unsubscribe(&mut self, sub: PeerId, track_id: TrackId) {
        if let Some(room) = self.peers.get(&sub).map(|p| p.room)
            && let Some(t) = self
                .rooms
                .get_mut(&room)
                .and_then(|r| r.tracks.get_mut(&track_id))
        {
            t.subscribers.retain(|p| *p != sub);
        }
        self.drop_downtrack(sub, track_id);
    }

    fn drop_downtrack(&mut self, sub: PeerId, track_id: TrackId) {
        let Some(peer) = self.peers.get_mut(&sub) else {
            return;
        };
        let Some(down) = peer.downtracks.remove(&track_id) else {
            return;
        };
        peer.down_by_mid.remove(&down.mid);
        // Still queued (never offered): forget it; otherwise retire its m-line.
        let before = peer.queued.len();
        peer.queued
            .retain(|c| !matches!(c, SubChange::Add { track, .. } if *track == track_id));
        if peer.queued.len() == before {
            peer.queued.push(SubChange::Deactivate(down.mid));
            self.negotiate_subscriber(sub);
        }
    }

    fn write_data(&mut self, id: PeerId, reliable: bool, payload: &Arc<[u8]>) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let channel = if reliable { peer.reliable } else { peer.lossy };
        let open = channel.filter(|c| peer.open_channels.contains(c));
        let Some(channel) = open else {
            if peer.data_backlog.len() < MAX_DATA_BACKLOG {
                peer.data_backlog.push_back((reliable, payload.clone()));
            }
            return;
        };
        if let Some(mut ch) = peer.subscriber.channel(channel) {
            let _ = ch.write(true, payload);
        }
        self.drain(id, Side::Subscriber);
    }
}

/// Whether an m-line in our direction `direction` brings media from the client.
fn receives(direction: Direction) -> bool {
    matches!(direction, Direction::RecvOnly | Direction::SendRecv)
}

/// Drain one session until it only has a timeout left (str0m's
/// single-mutation rule). Events are queued for [`Worker::work_queue`].
fn drain_into(
    peer: &mut Peer,
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
