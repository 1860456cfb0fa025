//! Confab's media plane: the selective forwarding unit.
//!
//! Data flow: one UDP socket receives every participant's datagrams. The demux
//! thread ([`net`]) routes each datagram in O(1) to the worker thread that
//! owns the participant's room: by source address once known, otherwise by the
//! ICE username of the STUN binding request that opens every connection.
//!
//! A worker owns whole rooms, and is three parts (mediasoup's Worker, Router
//! and Transport):
//! - per room, a [`router::Router`]: every media decision, with no I/O.
//!   It holds the published tracks and, per subscription, a
//!   [`forwarder::Forwarder`] that picks the simulcast layer and rewrites
//!   packets so switches are seamless; it is fed packets and time and answers
//!   with the writes to make, the keyframes to ask for and what to tell
//!   clients;
//! - per participant, its WebRTC transport: two str0m `Rtc` sessions (the
//!   *publisher*, where the client sends, and the *subscriber*, where we
//!   send) and their negotiation;
//! - the worker loop: sockets, timers, the address maps, and applying what the
//!   routers return to the transports. Workers share nothing per packet; they
//!   send straight on the shared socket.
//!
//! The control plane (signalling, room logic; tokio) drives a room through a
//! [`RoomMedia`] handle: it passes SDP, declares tracks and subscriptions, and
//! receives [`MediaEvent`]s per participant (subscriber offers, data channel
//! messages, a dead transport). This crate knows nothing of any signalling
//! protocol: identifiers and labels are given to it.
//!
//! Quality: every subscriber session runs str0m's bandwidth estimator, which
//! [`budget`] steadies into what may be kept and what may be raised into
//! (raising only into rates the link has been seen to carry, proven by short
//! padding trials); a periodic pass per room ([`allocator`], run by the
//! router) spends that on the videos the subscriber watches, ordered by the
//! stage and by the [`dominant`] speaker, cut at last-N. Its results set each
//! forwarder's target layer, tell the subscriber which videos are paused, and
//! tell each publisher which of its layers anybody still needs (dynacast).
//! Forwarded media is not paced: the allocation keeps each subscriber within
//! its link, and a pacer behind a momentary low estimate would only delay
//! frames.

pub mod allocator;
pub mod budget;
pub mod codec_order;
pub mod dominant;
pub mod forwarder;
#[doc(hidden)]
pub mod fuzz;
pub mod keyframe;
pub mod layers;
mod net;
pub mod opus;
pub mod quality;
pub mod router;
pub mod speaker;
mod worker;

use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::Sender;
use tokio::sync::{mpsc, oneshot};

pub use layers::{LayerSize, Wanted};

/// A participant, as the media plane knows it. Chosen by the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

/// A published track. Chosen by the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Audio,
    Video,
}

/// Which of a participant's two WebRTC sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The participant sends to us.
    Publisher,
    /// We send to the participant.
    Subscriber,
}

/// A track the participant announced before offering its media.
#[derive(Debug, Clone)]
pub struct TrackSpec {
    pub id: TrackId,
    /// The sender's own id for the track: the msid track id in its SDP.
    pub cid: String,
    pub kind: Kind,
    /// Simulcast layer sizes, lowest first (empty for audio).
    pub layers: Vec<LayerSize>,
    /// The sender's maximum bitrate per layer (bits/s, 0 = not said), lowest
    /// first: the cost of a layer until it has been measured.
    pub layer_bitrates: Vec<u32>,
    /// The video codec the sender announced; our answer makes it send that.
    pub codec: Option<VideoCodec>,
}

/// Labels a subscriber's browser sees on a forwarded track (the SDP msid).
#[derive(Debug, Clone)]
pub struct StreamLabels {
    pub stream_id: String,
    pub track_id: String,
}

/// What the media plane tells the control plane about one participant.
#[derive(Debug)]
pub enum MediaEvent {
    /// An offer for the subscriber session; answer with [`RoomMedia::subscriber_answer`].
    SubscriberOffer { sdp: String },
    /// A message the participant sent on one of its data channels.
    Data { reliable: bool, payload: Vec<u8> },
    /// The participant stopped sending a track (its offer set the m-line to
    /// inactive): the track is gone from the media plane.
    TrackEnded { track: TrackId },
    /// The participant's transport is dead (ICE consent lost, DTLS closed), or
    /// never came up.
    TransportClosed { reason: &'static str },
    /// Speaking state changed in the room: (speaker, level 0..1, active),
    /// loudest first. Sent to every participant of the room.
    Speakers(Arc<[(PeerId, f32, bool)]>),
    /// Connection quality of participants whose grade changed: (participant,
    /// quality, score 0..5). Sent to every participant of the room.
    Quality(Arc<[(PeerId, quality::Quality, f32)]>),
    /// To a subscriber: these videos were paused (true) for last-N or
    /// bandwidth, or resumed (false).
    StreamStates(Vec<(TrackId, bool)>),
    /// To a publisher: the highest layer of its track that any subscriber
    /// needs; it may stop encoding the layers above.
    SubscribedLayers { track: TrackId, max_layer: u8 },
}

#[derive(Debug, thiserror::Error)]
pub enum SfuError {
    #[error("cannot bind the media port {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the media thread {name}: {source}")]
    Spawn {
        name: String,
        source: std::io::Error,
    },
    #[error("invalid SDP: {0}")]
    Sdp(String),
    #[error("negotiation failed: {0}")]
    Negotiation(String),
    #[error("unknown participant")]
    UnknownPeer,
    #[error("the media worker is gone")]
    WorkerGone,
}

#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// Address the media socket binds (UDP).
    pub bind: SocketAddr,
    /// Address advertised to clients in ICE candidates.
    pub public_addr: SocketAddr,
    /// Media worker threads.
    pub workers: usize,
    pub media: MediaSettings,
}

/// Operator settings the media plane applies to every room.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Videos forwarded to each subscriber (`channel_last_n`); `None`: all.
    /// A room may override it ([`RoomMedia::set_last_n`]).
    pub last_n: Option<usize>,
    /// Video codecs negotiated on every session (publishers pick among them).
    pub video_codecs: Vec<VideoCodec>,
    pub opus: opus::OpusSettings,
    /// Pause a video whose lowest layer does not fit the subscriber's
    /// estimate (else every shown video keeps at least its lowest layer).
    pub pause_video_on_congestion: bool,
    /// Estimate each subscriber's downlink and fit its layers to it; off,
    /// every subscriber gets the layers its view asks for.
    pub congestion_control: bool,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            last_n: None,
            video_codecs: vec![VideoCodec::Vp8, VideoCodec::H264],
            opus: opus::OpusSettings::default(),
            pause_video_on_congestion: false,
            congestion_control: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    Vp8,
    H264,
}

impl VideoCodec {
    /// The name in SDP (`a=rtpmap`).
    pub fn sdp_name(self) -> &'static str {
        match self {
            VideoCodec::Vp8 => "VP8",
            VideoCodec::H264 => "H264",
        }
    }
}

/// The running media plane.
pub struct Sfu {
    workers: Vec<WorkerHandle>,
    local_addr: SocketAddr,
}

/// Kernel buffer asked for on the media socket, each way.
const SOCKET_BUFFER: usize = 4 << 20;

#[derive(Clone)]
struct WorkerHandle {
    commands: Sender<worker::Command>,
    rooms: Arc<AtomicUsize>,
}

impl Sfu {
    pub fn start(config: SfuConfig) -> Result<Self, SfuError> {
        let (socket, tcp) = bind_media(config.bind)?;
        let local_addr = socket.local_addr().map_err(|source| SfuError::Bind {
            addr: config.bind,
            source,
        })?;
        let public_addr = SocketAddr::new(config.public_addr.ip(), local_addr.port());
        // Bursts (a keyframe from several publishers at once) must wait in the
        // kernel, not be dropped, while the demux thread is not scheduled. The
        // kernel caps these at net.core.{r,w}mem_max; a smaller buffer works.
        let sock = socket2::SockRef::from(&socket);
        let _ = sock.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = sock.set_send_buffer_size(SOCKET_BUFFER);
        // Linux reports twice the size it grants (bookkeeping included).
        let granted = [sock.recv_buffer_size(), sock.send_buffer_size()];
        if granted
            .iter()
            .any(|g| g.as_ref().map_or(true, |g| *g < SOCKET_BUFFER))
        {
            tracing::warn!(
                asked = SOCKET_BUFFER,
                granted = ?granted.map(|g| g.ok()),
                "media socket buffers are smaller than asked; raise net.core.rmem_max and \
                 net.core.wmem_max to at least {SOCKET_BUFFER} to absorb bursts",
            );
        }
        let socket = Arc::new(socket);

        let owners = net::UfragOwners::default();
        let (forget_tx, forget_rx) = crossbeam_channel::unbounded();
        let mut inboxes = Vec::new();
        let mut workers = Vec::new();
        for index in 0..config.workers.max(1) {
            let (cmd_tx, cmd_rx) = crossbeam_channel::unbounded();
            let (pkt_tx, pkt_rx) = crossbeam_channel::bounded(worker::INBOX_CAPACITY);
            inboxes.push(pkt_tx);
            let w = worker::Worker::new(
                index,
                config.media.clone(),
                worker::WorkerIo {
                    socket: socket.clone(),
                    local: public_addr,
                    owners: owners.clone(),
                    forget: forget_tx.clone(),
                    commands: cmd_rx,
                    inbox: pkt_rx,
                },
            );
            spawn(format!("media-worker-{index}"), move || w.run())?;
            workers.push(WorkerHandle {
                commands: cmd_tx,
                rooms: Arc::new(AtomicUsize::new(0)),
            });
        }
        let tcp_inboxes = inboxes.clone();
        let tcp_owners = owners.clone();
        let demux = net::Demux::new(socket, public_addr, inboxes, owners, forget_rx);
        spawn("media-demux".into(), move || demux.run())?;
        spawn("ice-tcp-accept".into(), move || {
            net::run_tcp(
                tcp,
                public_addr,
                tcp_inboxes,
                tcp_owners,
                net::TcpLimits::default(),
            )
        })?;
        tracing::info!(%local_addr, %public_addr, workers = workers.len(), "media plane started");
        Ok(Self {
            workers,
            local_addr,
        })
    }

    /// The bound media socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Place a new room on the least busy worker.
    pub fn create_room(&self) -> RoomMedia {
        let worker = self
            .workers
            .iter()
            .min_by_key(|w| w.rooms.load(Ordering::Relaxed))
            .cloned()
            .expect("at least one worker");
        worker.rooms.fetch_add(1, Ordering::Relaxed);
        RoomMedia {
            inner: Arc::new(RoomMediaInner {
                worker,
                room: worker::next_room_key(),
            }),
        }
    }
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> Result<(), SfuError> {
    match std::thread::Builder::new().name(name.clone()).spawn(f) {
        Ok(_) => Ok(()),
        Err(source) => Err(SfuError::Spawn { name, source }),
    }
}

/// The media side of one room, living on one worker. Dropping the last clone
/// closes the room on its worker.
#[derive(Clone)]
pub struct RoomMedia {
    inner: Arc<RoomMediaInner>,
}

struct RoomMediaInner {
    worker: WorkerHandle,
    room: u64,
}

impl Drop for RoomMediaInner {
    fn drop(&mut self) {
        self.worker.rooms.fetch_sub(1, Ordering::Relaxed);
        let _ = self
            .worker
            .commands
            .send(worker::Command::CloseRoom { room: self.room });
    }
}

impl RoomMedia {
    fn send(&self, cmd: worker::Command) -> Result<(), SfuError> {
        self.inner
            .worker
            .commands
            .send(cmd)
            .map_err(|_| SfuError::WorkerGone)
    }

    /// Create the participant's sessions; the first subscriber offer follows as an event.
    pub fn add_peer(
        &self,
        peer: PeerId,
        events: mpsc::UnboundedSender<MediaEvent>,
    ) -> Result<(), SfuError> {
        self.send(worker::Command::AddPeer {
            room: self.inner.room,
            peer,
            events,
        })
    }

    pub fn remove_peer(&self, peer: PeerId) {
        let _ = self.send(worker::Command::RemovePeer { peer });
    }

    /// This room's last-N (`None`: every video), instead of the default.
    pub fn set_last_n(&self, last_n: Option<usize>) {
        let _ = self.send(worker::Command::SetLastN {
            room: self.inner.room,
            last_n,
        });
    }

    /// Apply the participant's publisher offer; returns our answer.
    pub async fn publisher_offer(&self, peer: PeerId, sdp: String) -> Result<String, SfuError> {
        let (reply, rx) = oneshot::channel();
        self.send(worker::Command::PublisherOffer { peer, sdp, reply })?;
        rx.await.map_err(|_| SfuError::WorkerGone)?
    }

    pub fn subscriber_answer(&self, peer: PeerId, sdp: String) -> Result<(), SfuError> {
        self.send(worker::Command::SubscriberAnswer { peer, sdp })
    }

    pub fn remote_candidate(&self, peer: PeerId, side: Side, candidate: String) {
        let _ = self.send(worker::Command::RemoteCandidate {
            peer,
            side,
            candidate,
        });
    }

    /// Announce a track the participant is about to publish.
    pub fn add_track(&self, peer: PeerId, spec: TrackSpec) {
        let _ = self.send(worker::Command::AddTrack { peer, spec });
    }

    pub fn remove_track(&self, track: TrackId) {
        let _ = self.send(worker::Command::RemoveTrack {
            room: self.inner.room,
            track,
        });
    }

    /// A moderator's mute: the track's packets are dropped until unmuted.
    pub fn set_track_muted(&self, track: TrackId, muted: bool) {
        let _ = self.send(worker::Command::SetTrackMuted {
            room: self.inner.room,
            track,
            muted,
        });
    }

    pub fn subscribe(&self, subscriber: PeerId, track: TrackId, labels: StreamLabels) {
        let _ = self.send(worker::Command::Subscribe {
            subscriber,
            track,
            labels,
        });
    }

    pub fn unsubscribe(&self, subscriber: PeerId, track: TrackId) {
        let _ = self.send(worker::Command::Unsubscribe { subscriber, track });
    }

    /// What the subscriber wants of a video track (size, or disabled).
    pub fn set_wanted(&self, subscriber: PeerId, track: TrackId, wanted: Wanted) {
        let _ = self.send(worker::Command::SetWanted {
            subscriber,
            track,
            wanted,
        });
    }

    /// Send one message to each of `peers` on their subscriber data channel.
    pub fn send_data(&self, peers: Vec<PeerId>, reliable: bool, payload: Arc<[u8]>) {
        let _ = self.send(worker::Command::SendData {
            peers,
            reliable,
            payload,
        });
    }
}

/// HMAC-SHA1 with the media stack's own crypto (TURN credentials use it).
pub fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    str0m::crypto::from_feature_flags()
        .sha1_hmac_provider
        .sha1_hmac(key, &[data])
}

/// Guess the address other machines reach us on: the source address the OS
/// would use towards a public destination. Sends nothing.
/// The media sockets: UDP at `bind`, and the ICE-TCP listener on the same port number. With port 0
/// the system picks the UDP port, and that number may be taken for TCP (the same range serves
/// outgoing TCP connections), so a few picks are tried before giving up.
fn bind_media(bind: SocketAddr) -> Result<(UdpSocket, TcpListener), SfuError> {
    let mut attempt = 1;
    loop {
        let udp = UdpSocket::bind(bind).map_err(|source| SfuError::Bind { addr: bind, source })?;
        let local = udp
            .local_addr()
            .map_err(|source| SfuError::Bind { addr: bind, source })?;
        match TcpListener::bind(local) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(_) if bind.port() == 0 && attempt < 8 => attempt += 1,
            Err(source) => {
                return Err(SfuError::Bind {
                    addr: local,
                    source,
                });
            }
        }
    }
}

pub fn default_public_ip() -> Option<IpAddr> {
    let probe = UdpSocket::bind("0.0.0.0:0").ok()?;
    probe.connect("192.0.2.1:9").ok()?; // TEST-NET-1: never routed, never contacted
    let ip = probe.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}
