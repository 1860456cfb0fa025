//! A media worker: one thread that owns whole rooms.
//!
//! Its loop waits for a command from the control plane, a datagram from the
//! demux thread, or the earliest str0m timeout, feeds that one input to the
//! `Rtc` it concerns, and drains that `Rtc`'s output (str0m's single-mutation
//! rule). Events drained from any session go to one queue that is worked off
//! before the next input, so an incoming RTP packet on a publisher session can
//! be written to every subscriber session without fighting the borrow of the
//! session it came from.
//!
//! The worker is the I/O around two pure parts: each room's
//! [`Router`](crate::router::Router), which makes every media decision, and
//! each participant's [`participant::Participant`], the WebRTC transport whose
//! sessions carry the media. The worker reads the clock, identifies each
//! incoming packet for the router, and applies what the router returns
//! (writes into subscriber sessions, keyframe requests, notices to clients).

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};
use str0m::bwe::{Bitrate, BweKind};
use str0m::channel::{ChannelConfig, ChannelId, Reliability};
use str0m::media::Mid;
use str0m::net::{Receive, TcpType};
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc, RtcConfig};
use tokio::sync::mpsc;

use crate::net::{Datagram, Forget, Owner, UfragOwners};
use crate::quality::{self, Quality};
use crate::router::{Forwarded, Router, RouterSettings};
use crate::{Kind, MediaEvent, MediaSettings, PeerId, Side, VideoCodec};

mod allocation;
pub(crate) mod codec;
mod command;
mod forward;
pub(crate) mod negotiation;
mod participant;

pub(crate) use command::Command;
use negotiation::receives;
use participant::{
    DataChannels, Egress, Health, Ingress, Net, Participant, drain_into, side_index,
};

pub(crate) const INBOX_CAPACITY: usize = 8192;
/// Datagrams taken from the inbox in one loop turn before timers and
/// allocation get their turn. Subscriber sessions written to are drained
/// once after the batch (one pass over their streams for a video frame's
/// burst of packets instead of one per packet).
const INBOX_BATCH: usize = 64;
/// How long ICE may stay disconnected before the participant is given up.
const DISCONNECT_GRACE: Duration = Duration::from_secs(8);
/// A participant whose subscriber connection is not up by then is given up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const SPEAKER_TICK: Duration = Duration::from_millis(250);
/// How often sessions report statistics, and connection quality is graded.
const STATS_INTERVAL: Duration = Duration::from_secs(2);
/// No stats report for this long means the participant is lost.
const STATS_SILENCE: Duration = Duration::from_secs(7);
/// Packets kept per outgoing video stream for retransmission (NACK) and for
/// BWE probing. At the top layer of 1080p (~250 packets/s) this is about 1.5 s,
/// several round trips; str0m's default of 1000 kept 4 s of a thumbnail's
/// stream and was most of a participant's memory.
const VIDEO_SEND_BUFFER: usize = 384;
/// How often a worker logs what bandwidth allocation cost it.
const COST_REPORT_INTERVAL: Duration = Duration::from_secs(60);
/// The bandwidth estimate a subscriber starts with, before feedback.
const INITIAL_ESTIMATE: Bitrate = Bitrate::kbps(1000);

static NEXT_ROOM: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_room_key() -> u64 {
    NEXT_ROOM.fetch_add(1, Ordering::Relaxed)
}

/// What connects a worker to the socket, the demux thread and the control plane.
pub(crate) struct WorkerIo {
    pub socket: Arc<UdpSocket>,
    /// The address advertised in our ICE candidates.
    pub local: SocketAddr,
    pub owners: UfragOwners,
    pub forget: Sender<Forget>,
    pub commands: Receiver<Command>,
    pub inbox: Receiver<Datagram>,
}

/// When the worker's periodic duties are next due.
struct Timers {
    /// The earliest timeout any session asked for.
    sessions: Instant,
    speakers: Instant,
    quality: Instant,
    allocation: Instant,
    cost_report: Instant,
}

pub(crate) struct Worker {
    index: usize,
    settings: MediaSettings,
    net: Net,
    local: SocketAddr,
    owners: UfragOwners,
    forget: Sender<Forget>,
    commands: Receiver<Command>,
    inbox: Receiver<Datagram>,
    rooms: HashMap<u64, Router>,
    peers: HashMap<PeerId, Participant>,
    by_ufrag: HashMap<String, (PeerId, Side)>,
    by_addr: HashMap<SocketAddr, (PeerId, Side)>,
    queue: VecDeque<(PeerId, Side, Event)>,
    /// Subscribers with forwarded packets not yet drained to the network.
    unflushed: Vec<PeerId>,
    timers: Timers,
    /// Rooms where something changed that allocation depends on, to be
    /// allocated again before the next periodic pass.
    reallocate: Vec<u64>,
    /// Time spent allocating and subscriber passes made since the last report.
    allocation_cost: (Duration, u64),
    /// The router's answer for the packet being forwarded (reused).
    forwarded: Forwarded,
}

impl Worker {
    pub fn new(index: usize, settings: MediaSettings, io: WorkerIo) -> Self {
        let WorkerIo {
            socket,
            local,
            owners,
            forget,
            commands,
            inbox,
        } = io;
        let now = Instant::now();
        Self {
            index,
            settings,
            net: Net {
                udp: socket,
                tcp: HashMap::new(),
            },
            local,
            owners,
            forget,
            commands,
            inbox,
            rooms: HashMap::new(),
            peers: HashMap::new(),
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
            queue: VecDeque::new(),
            unflushed: Vec::new(),
            timers: Timers {
                sessions: now + Duration::from_millis(100),
                speakers: now + SPEAKER_TICK,
                quality: now + STATS_INTERVAL,
                allocation: now + crate::router::ALLOCATION_INTERVAL,
                cost_report: now + COST_REPORT_INTERVAL,
            },
            reallocate: Vec::new(),
            allocation_cost: (Duration::ZERO, 0),
            forwarded: Forwarded::default(),
        }
    }

    pub fn run(mut self) {
        loop {
            let t = &self.timers;
            let wait = t
                .sessions
                .min(t.speakers)
                .min(t.quality)
                .min(t.allocation)
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
            if now >= self.timers.sessions {
                self.timeouts();
            }
            if now >= self.timers.speakers {
                self.speakers(now);
                self.timers.speakers = now + SPEAKER_TICK;
            }
            if now >= self.timers.quality {
                self.quality(now);
                self.timers.quality = now + STATS_INTERVAL;
            }
            if now >= self.timers.allocation {
                for router in self.rooms.values_mut() {
                    router.measure_rates(now);
                }
                self.allocate(now, true);
                self.timers.allocation = now + crate::router::ALLOCATION_INTERVAL;
                if now >= self.timers.cost_report {
                    self.report_allocation_cost();
                    self.timers.cost_report = now + COST_REPORT_INTERVAL;
                }
            } else {
                self.allocate(now, false);
            }
            self.flush_subscribers();
        }
    }

    fn router_settings(&self) -> RouterSettings {
        RouterSettings {
            last_n: self.settings.last_n,
            pause_video_on_congestion: self.settings.pause_video_on_congestion,
            congestion_control: self.settings.congestion_control,
        }
    }

    /// Send `event` to every participant of a room.
    fn broadcast(&self, router: &Router, event: impl Fn() -> MediaEvent) {
        for id in router.participants() {
            if let Some(p) = self.peers.get(&id) {
                let _ = p.events.send(event());
            }
        }
    }

    /// Tell every room's participants whose connection quality changed.
    fn quality(&mut self, now: Instant) {
        for router in self.rooms.values() {
            let mut changed = Vec::new();
            for id in router.participants() {
                let Some(p) = self.peers.get_mut(&id) else {
                    continue;
                };
                let h = &mut p.health;
                if !h.subscriber_connected {
                    continue;
                }
                let silent = now.saturating_duration_since(h.last_report) > STATS_SILENCE;
                let (q, score) =
                    quality::assess(&h.reports[0], &h.reports[1], router.delivered(id), silent);
                if h.quality != Some(q) {
                    h.quality = Some(q);
                    changed.push((id, q, score));
                }
            }
            if changed.is_empty() {
                continue;
            }
            let update: Arc<[(PeerId, Quality, f32)]> = changed.into();
            self.broadcast(router, || MediaEvent::Quality(update.clone()));
        }
    }

    /// Tell every room's participants who started or stopped speaking.
    fn speakers(&mut self, now: Instant) {
        let mut rooms = std::mem::take(&mut self.rooms);
        for (room_id, router) in rooms.iter_mut() {
            let (update, dominant_changed) = router.speakers(now);
            if dominant_changed {
                self.reallocate.push(*room_id);
            }
            if let Some(update) = update {
                self.broadcast(router, || MediaEvent::Speakers(update.clone()));
            }
        }
        self.rooms = rooms;
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
            Side::Publisher => peer.ingress.published.get(&mid),
            Side::Subscriber => peer.egress.down_by_mid.get(&mid),
        };
        let kind = track.and_then(|t| self.rooms.get(&peer.room)?.kind(*t));
        let clock_rate = if kind == Some(Kind::Audio) {
            48_000.0
        } else {
            90_000.0
        };
        let jitter = Duration::from_secs_f64(f64::from(units) / clock_rate);
        let slot = &mut peer.health.jitter[side_index(side)];
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
            let h = &p.health;
            let lost = h
                .disconnected_since
                .iter()
                .flatten()
                .any(|t| now.saturating_duration_since(*t) > DISCONNECT_GRACE)
                || (!h.subscriber_connected
                    && now.saturating_duration_since(h.joined_at) > CONNECT_TIMEOUT);
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
        self.timers.sessions = next.max(now + Duration::from_millis(1));
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
                &mut self.timers.sessions,
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
                        &mut self.timers.sessions,
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
                let reliable = peer.data.incoming.get(&data.id).copied().unwrap_or(true);
                let _ = peer.events.send(MediaEvent::Data {
                    reliable,
                    payload: data.data,
                });
            }
            Event::IceConnectionStateChange(state) => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.health.disconnected_since[side_index(side)] =
                        (state == IceConnectionState::Disconnected).then(Instant::now);
                }
            }
            Event::PeerStats(stats) => {
                let Some(peer) = self.peers.get_mut(&id) else {
                    return;
                };
                let i = side_index(side);
                let h = &mut peer.health;
                let loss = match side {
                    Side::Publisher => stats.ingress_loss_fraction,
                    Side::Subscriber => stats.egress_loss_fraction,
                };
                h.reports[i] = quality::Report {
                    loss,
                    rtt: stats.rtt,
                    jitter: Some(std::mem::take(&mut h.jitter[i])),
                };
                h.last_report = Instant::now();
                if side == Side::Subscriber
                    && let Some(router) = self.rooms.get_mut(&peer.room)
                {
                    router.set_downlink_loss(id, loss);
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
                if let Some(router) = self
                    .peers
                    .get(&id)
                    .and_then(|p| self.rooms.get_mut(&p.room))
                {
                    router.record_estimate(id, estimate.as_u64(), Instant::now());
                }
            }
            Event::Connected if side == Side::Subscriber => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.health.subscriber_connected = true;
                }
            }
            Event::Closed => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.closed = true;
                    self.timers.sessions = Instant::now();
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
                peer.data.incoming.insert(cid, label != "_lossy");
            }
            Side::Subscriber => {
                peer.data.open.push(cid);
                let backlog: Vec<_> = peer.data.backlog.drain(..).collect();
                for (reliable, payload) in backlog {
                    self.write_data(id, reliable, &payload);
                }
            }
        }
    }

    fn new_rtc(&self, side: Side) -> (Rtc, IceCreds) {
        let creds = IceCreds::new();
        let local = creds.clone();
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
        (rtc, local)
    }

    fn add_peer(&mut self, room: u64, id: PeerId, events: mpsc::UnboundedSender<MediaEvent>) {
        let (publisher, pub_creds) = self.new_rtc(Side::Publisher);
        let (mut subscriber, sub_creds) = self.new_rtc(Side::Subscriber);

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
            let mut owners = self.owners.write().unwrap_or_else(|p| p.into_inner());
            for (creds, side) in [
                (&pub_creds, Side::Publisher),
                (&sub_creds, Side::Subscriber),
            ] {
                self.by_ufrag.insert(creds.ufrag.clone(), (id, side));
                owners.insert(
                    creds.ufrag.clone(),
                    Owner {
                        worker: self.index,
                        password: creds.pass.clone(),
                    },
                );
            }
        }
        let now = Instant::now();
        self.peers.insert(
            id,
            Participant {
                room,
                events,
                publisher,
                subscriber,
                ufrags: [pub_creds.ufrag, sub_creds.ufrag],
                addrs: Vec::new(),
                ingress: Ingress::default(),
                egress: Egress {
                    pending_offer: Some((pending, Vec::new())),
                    ..Default::default()
                },
                data: DataChannels {
                    reliable: Some(reliable),
                    lossy: Some(lossy),
                    ..Default::default()
                },
                health: Health::new(now),
                timeouts: [now; 2],
                closed: false,
                unflushed: false,
            },
        );
        let settings = self.router_settings();
        self.rooms
            .entry(room)
            .or_insert_with(|| Router::new(settings))
            .join(id, now);
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
            let mut owners = self.owners.write().unwrap_or_else(|p| p.into_inner());
            for ufrag in &peer.ufrags {
                owners.remove(ufrag);
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
        let Some(router) = self.rooms.get_mut(&peer.room) else {
            return;
        };
        let unpublished = router.leave(id);
        self.reallocate.push(peer.room);
        for (track, subscribers) in unpublished {
            for sub in subscribers {
                self.drop_downtrack(sub, track);
            }
        }
    }

    fn write_data(&mut self, id: PeerId, reliable: bool, payload: &Arc<[u8]>) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Some(channel) = peer.data.route(reliable, payload) else {
            return;
        };
        if let Some(mut ch) = peer.subscriber.channel(channel) {
            let _ = ch.write(true, payload);
        }
        self.drain(id, Side::Subscriber);
    }
}
