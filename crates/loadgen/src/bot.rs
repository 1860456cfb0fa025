//! One bot: a headless participant speaking the v0 `/rtc` protocol with two
//! peer connections, as a browser running the web client SDK does.
//!
//! A bot is one tokio task. It owns the signalling WebSocket and two str0m
//! `Rtc`s, each on its own UDP socket: the *subscriber* (the server offers,
//! the bot answers, media flows to the bot) and the *publisher* (the bot
//! offers simulcast VP8 and Opus, the server answers). The loop waits for a
//! signal message, a datagram on either socket, or the next deadline (a str0m
//! timeout, a video frame, an audio packet, a ping, the end of the run), does
//! that one thing, drains the `Rtc` it touched to `Output::Timeout` (str0m's
//! single-mutation rule), and sends whatever signal messages that produced.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use confab_client::signal::{self, Ws};
use confab_client::{Peer, RemoteTrack};
use futures_util::{SinkExt, StreamExt};
use livekit_protocol as lk;
use lk::signal_request::Message as Req;
use lk::signal_response::Message as Resp;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, SeqNo, Ssrc};
use str0m::{Event, Input, Rtc, RtcConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::config::{Config, Dialect, VideoConfig};
use crate::probe::{self, Probe, ProbeKind};
use crate::report::{BotReport, SentReport, StreamReport, TrackKind};
use crate::stats::{Histogram, LiveCounters, SeqTracker};
use crate::vp8::{self, Vp8Packetizer};

mod janus;

const RIDS: [&str; 3] = ["q", "h", "f"];
/// Datagrams read per wake-up before the loop looks at its other inputs.
const RECV_BATCH: usize = 64;
/// How long ICE may stay disconnected before the bot gives up.
const DISCONNECT_GRACE: Duration = Duration::from_secs(5);
/// A keyframe is this many average frames large (capped by the GOP length).
const KEYFRAME_SIZE_FACTOR: f64 = 3.0;

/// Who a bot is and how it behaves.
#[derive(Debug, Clone)]
pub struct BotSpec {
    pub room: String,
    pub identity: String,
    /// The participant whose video this bot watches large in speaker view.
    pub speaker: Option<String>,
    /// Sends loud audio with voice activity, so the server sees one speaker.
    pub speaking: bool,
    /// Publishes a camera and a microphone; a listener only subscribes.
    pub publishes: bool,
}

/// Run one bot until `stop_at`; never panics on what the network sends.
pub async fn run(
    spec: BotSpec,
    cfg: Arc<Config>,
    counters: Arc<LiveCounters>,
    stop_at: Instant,
) -> BotReport {
    let started = Instant::now();
    let mut report = BotReport::new(&spec);
    match Bot::connect(spec, cfg, counters, started, stop_at).await {
        Ok(mut bot) => {
            let result = bot.serve().await;
            bot.fill(&mut report);
            if let Err(e) = result {
                report.error = Some(e);
            }
        }
        Err(e) => report.error = Some(e),
    }
    report
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Publisher,
    Subscriber,
}

/// A peer connection as the bots configure it: RTP mode, VP8 and Opus.
async fn peer(cfg: &Config) -> Result<Peer, String> {
    let rtc = RtcConfig::new()
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_vp8(true)
        .enable_opus(true, false);
    Peer::bind(cfg.bind_ip, rtc)
        .await
        .map_err(|e| e.to_string())
}

/// One simulcast layer (or the audio stream) being sent.
struct SendStream {
    ssrc: Ssrc,
    pt: Pt,
    layer: u8,
    seq: u64,
    ts_base: u32,
    counter: u32,
    packetizer: Option<Vp8Packetizer>,
    keyframe_wanted: bool,
}

impl SendStream {
    fn new(ssrc: Ssrc, pt: Pt, layer: u8, packetizer: Option<Vp8Packetizer>) -> Self {
        Self {
            ssrc,
            pt,
            layer,
            // Below 2^15 so the SRTP rollover counter starts at 0 on both sides.
            seq: u64::from(rand::random::<u16>() & 0x7fff),
            ts_base: rand::random(),
            counter: 0,
            packetizer,
            keyframe_wanted: true,
        }
    }
}

/// The bot's own tracks, from AddTrack to media flowing.
struct Publishing {
    stream_id: String,
    video_cid: Option<String>,
    audio_cid: String,
    /// Track sids by cid, from TrackPublishedResponse.
    published: HashMap<String, String>,
    pending: Option<SdpPendingOffer>,
    video_mid: Option<Mid>,
    audio_mid: Option<Mid>,
    /// Set once the answer is applied.
    video: Vec<SendStream>,
    audio: Option<SendStream>,
    started: Option<Instant>,
    frame: u64,
    next_frame: Instant,
    audio_packets: u64,
    next_audio: Instant,
}

/// A track the subscriber connection carries.
#[derive(Debug, Clone)]
struct RemoteMedia {
    participant_sid: String,
    track_sid: String,
    kind: TrackKind,
}

struct RecvStream {
    media: RemoteMedia,
    packets: u64,
    bytes: u64,
    first_at: Instant,
    last_at: Instant,
    warm: bool,
    seq: SeqTracker,
    latency: Histogram,
    layers: [u64; 3],
    layer_bytes: [u64; 3],
    last_layer: Option<u8>,
    probe_errors: u64,
    clock_skew: u64,
}

struct Bot {
    spec: BotSpec,
    cfg: Arc<Config>,
    counters: Arc<LiveCounters>,
    ws: Ws,
    sub: Peer,
    publ: Peer,
    started: Instant,
    stop_at: Instant,
    joined_at: Option<Instant>,
    first_packet_at: Option<Instant>,
    my_sid: String,
    ping_interval: Duration,
    next_ping: Instant,
    /// Participant sid to identity, never forgotten (for the report).
    participants: HashMap<String, String>,
    remote: HashMap<Mid, RemoteMedia>,
    settings_sent: HashMap<String, (u32, u32)>,
    streams: HashMap<Mid, RecvStream>,
    unknown_packets: u64,
    /// Participant sids the server currently calls active speakers.
    speakers: std::collections::BTreeSet<String>,
    speaker_updates: u64,
    publishing: Publishing,
    sent: SentReport,
    outbox: Vec<Req>,
    janus: janus::JanusState,
}

impl Bot {
    async fn connect(
        spec: BotSpec,
        cfg: Arc<Config>,
        counters: Arc<LiveCounters>,
        started: Instant,
        stop_at: Instant,
    ) -> Result<Self, String> {
        let ttl = stop_at.saturating_duration_since(started) + Duration::from_secs(600);
        let token = crate::token::mint(
            &cfg.api_key,
            &cfg.api_secret,
            &spec.identity,
            &spec.room,
            ttl,
        )
        .map_err(|e| format!("cannot sign a token: {e}"))?;
        let url = match cfg.dialect {
            Dialect::Confab => signal::rtc_url(&cfg.url, &token, true, "rust"),
            Dialect::Janus => cfg.url.clone(),
        };
        let mut request = signal::request(&url).map_err(|e| e.to_string())?;
        if cfg.dialect == Dialect::Janus {
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static(janus::SUBPROTOCOL),
            );
        }
        let ws = signal::open(request, cfg.join_timeout)
            .await
            .map_err(|e| e.to_string())?;
        let sub = peer(&cfg).await?;
        let publ = peer(&cfg).await?;
        let now = Instant::now();
        // The server matches our m-lines to AddTrack by these ids, and SDP
        // keeps at most 64 token characters of them: short, plain ids.
        let tag = |kind: &str| format!("{kind}-{:016x}", rand::random::<u64>());
        let publishing = Publishing {
            stream_id: tag("stream"),
            video_cid: cfg.media.video.as_ref().map(|_| tag("camera")),
            audio_cid: tag("mic"),
            published: HashMap::new(),
            pending: None,
            video_mid: None,
            audio_mid: None,
            video: Vec::new(),
            audio: None,
            started: None,
            frame: 0,
            next_frame: now,
            audio_packets: 0,
            next_audio: now,
        };
        Ok(Self {
            spec,
            cfg,
            counters,
            ws,
            sub,
            publ,
            started,
            stop_at,
            joined_at: None,
            first_packet_at: None,
            my_sid: String::new(),
            ping_interval: Duration::from_secs(5),
            next_ping: now,
            participants: HashMap::new(),
            remote: HashMap::new(),
            settings_sent: HashMap::new(),
            streams: HashMap::new(),
            unknown_packets: 0,
            speakers: Default::default(),
            speaker_updates: 0,
            publishing,
            sent: SentReport::default(),
            outbox: Vec::new(),
            janus: janus::JanusState::new(),
        })
    }

    fn pc(&mut self, side: Side) -> &mut Peer {
        match side {
            Side::Publisher => &mut self.publ,
            Side::Subscriber => &mut self.sub,
        }
    }

    async fn serve(&mut self) -> Result<(), String> {
        enum Wake {
            Signal(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
            Readable(Side, std::io::Result<()>),
            Timer,
        }
        if self.cfg.dialect == Dialect::Janus {
            self.janus_start();
            self.flush().await?;
        }
        loop {
            let now = Instant::now();
            if now >= self.stop_at {
                self.leave().await;
                return Ok(());
            }
            let wake_at = self.next_wake(now);
            let wake = tokio::select! {
                msg = self.ws.next() => Wake::Signal(msg),
                r = self.sub.readable() => Wake::Readable(Side::Subscriber, r),
                r = self.publ.readable() => Wake::Readable(Side::Publisher, r),
                _ = tokio::time::sleep_until(wake_at.into()) => Wake::Timer,
            };
            match wake {
                Wake::Signal(msg) => match self.cfg.dialect {
                    Dialect::Confab => self.signal(msg)?,
                    Dialect::Janus => self.janus_signal(msg)?,
                },
                Wake::Readable(side, r) => {
                    r.map_err(|e| format!("UDP socket: {e}"))?;
                    self.pc(side).receive(RECV_BATCH);
                    self.dispatch(side);
                }
                Wake::Timer => {}
            }
            self.tick(Instant::now())?;
            self.flush().await?;
        }
    }

    fn next_wake(&self, now: Instant) -> Instant {
        let mut at = self
            .stop_at
            .min(self.sub.timeout())
            .min(self.publ.timeout())
            // Deadlines and ICE checks are looked at at least this often.
            .min(now + Duration::from_millis(250));
        if self.joined_at.is_some() {
            at = at.min(self.next_ping);
        }
        if self.publishing.started.is_some() {
            if !self.publishing.video.is_empty() {
                at = at.min(self.publishing.next_frame);
            }
            if self.publishing.audio.is_some() {
                at = at.min(self.publishing.next_audio);
            }
        }
        at
    }

    // ---- signalling ------------------------------------------------------------

    fn signal(
        &mut self,
        msg: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<(), String> {
        let Some(msg) = signal::decode(msg).map_err(|e| e.to_string())? else {
            return Ok(());
        };
        tracing::trace!(identity = %self.spec.identity, "signal {}", signal::response_name(&msg));
        if self.joined_at.is_none() && !matches!(msg, Resp::Join(_)) {
            return Err(format!(
                "first signal message was not a join: {}",
                signal::response_name(&msg)
            ));
        }
        match msg {
            Resp::Join(join) => self.on_join(join),
            Resp::Offer(sd) => self.on_subscriber_offer(sd)?,
            Resp::Answer(sd) => self.on_publisher_answer(sd)?,
            Resp::TrackPublished(tp) => self.on_track_published(tp)?,
            Resp::Update(update) => {
                for p in update.participants {
                    self.participants.insert(p.sid, p.identity);
                }
                self.update_track_settings();
            }
            Resp::Leave(leave) => {
                return Err(format!(
                    "the server sent leave ({})",
                    signal::describe_leave(&leave)
                ));
            }
            Resp::SpeakersChanged(changed) => {
                self.speaker_updates += 1;
                for sp in changed.speakers {
                    if sp.active {
                        self.speakers.insert(sp.sid);
                    } else {
                        self.speakers.remove(&sp.sid);
                    }
                }
            }
            // Candidates also arrive in the SDP; the server is ICE-lite and
            // learns ours from our connectivity checks.
            Resp::Trickle(_) => {}
            _ => {}
        }
        Ok(())
    }

    fn on_join(&mut self, join: lk::JoinResponse) {
        let now = Instant::now();
        self.joined_at = Some(now);
        if let Some(me) = join.participant {
            self.my_sid = me.sid.clone();
            self.participants.insert(me.sid, me.identity);
        }
        for p in join.other_participants {
            self.participants.insert(p.sid, p.identity);
        }
        if join.ping_interval > 0 {
            self.ping_interval = Duration::from_secs(join.ping_interval as u64);
        }
        self.next_ping = now + self.ping_interval;

        if !self.spec.publishes {
            return;
        }
        // Announce the tracks; the offer follows once both are published.
        if let (Some(video), Some(cid)) = (&self.cfg.media.video, &self.publishing.video_cid) {
            let top = video.layers[2];
            let layers = video
                .layers
                .iter()
                .zip([
                    lk::VideoQuality::Low,
                    lk::VideoQuality::Medium,
                    lk::VideoQuality::High,
                ])
                .map(|(l, q)| lk::VideoLayer {
                    quality: q as i32,
                    width: l.width,
                    height: l.height,
                    bitrate: l.bitrate,
                    ..Default::default()
                })
                .collect();
            self.outbox.push(Req::AddTrack(lk::AddTrackRequest {
                cid: cid.clone(),
                name: "camera".into(),
                r#type: lk::TrackType::Video as i32,
                source: lk::TrackSource::Camera as i32,
                width: top.width,
                height: top.height,
                layers,
                stream: self.publishing.stream_id.clone(),
                ..Default::default()
            }));
        }
        self.outbox.push(Req::AddTrack(lk::AddTrackRequest {
            cid: self.publishing.audio_cid.clone(),
            name: "microphone".into(),
            r#type: lk::TrackType::Audio as i32,
            source: lk::TrackSource::Microphone as i32,
            stream: self.publishing.stream_id.clone(),
            ..Default::default()
        }));
    }

    fn on_subscriber_offer(&mut self, sd: lk::SessionDescription) -> Result<(), String> {
        let sdp = self.answer_subscriber(&sd.sdp)?;
        self.outbox.push(Req::Answer(lk::SessionDescription {
            r#type: "answer".into(),
            sdp,
            // The server matches answers to offers by this id.
            id: sd.id,
            ..Default::default()
        }));
        Ok(())
    }

    /// Accept the server's offer on the subscriber connection; the answer's SDP.
    fn answer_subscriber(&mut self, sdp: &str) -> Result<String, String> {
        tracing::trace!(identity = %self.spec.identity, sdp = %sdp, "subscriber offer");
        let offer = SdpOffer::from_sdp_string(sdp)
            .map_err(|e| format!("unparsable subscriber offer: {e}"))?;
        let answer = self
            .sub
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| format!("subscriber offer refused: {e}"))?;
        self.drain(Side::Subscriber);
        Ok(answer.to_sdp_string())
    }

    fn on_track_published(&mut self, tp: lk::TrackPublishedResponse) -> Result<(), String> {
        let Some(track) = tp.track else {
            return Err(format!("track_published for {} without a track", tp.cid));
        };
        self.publishing.published.insert(tp.cid, track.sid);
        let p = &self.publishing;
        let all = p.published.contains_key(&p.audio_cid)
            && p.video_cid
                .as_ref()
                .is_none_or(|c| p.published.contains_key(c));
        if all && p.pending.is_none() && p.audio_mid.is_none() {
            self.offer_publisher()?;
        }
        Ok(())
    }

    fn offer_publisher(&mut self) -> Result<(), String> {
        let sdp = self.publisher_offer()?;
        self.outbox.push(Req::Offer(lk::SessionDescription {
            r#type: "offer".into(),
            sdp,
            id: 1,
            ..Default::default()
        }));
        Ok(())
    }

    /// Add the camera (simulcast `q`, `h`, `f`, lowest first) and the
    /// microphone to the publisher connection; the offer's SDP.
    fn publisher_offer(&mut self) -> Result<String, String> {
        let p = &mut self.publishing;
        let mut api = self.publ.rtc.sdp_api();
        if let Some(cid) = &p.video_cid {
            let mut simulcast = Simulcast::new();
            for rid in RIDS {
                simulcast.add_send_layer(SimulcastLayer::new(rid));
            }
            p.video_mid = Some(api.add_media(
                MediaKind::Video,
                Direction::SendOnly,
                Some(p.stream_id.clone()),
                Some(cid.clone()),
                Some(simulcast),
            ));
        }
        p.audio_mid = Some(api.add_media(
            MediaKind::Audio,
            Direction::SendOnly,
            Some(p.stream_id.clone()),
            Some(p.audio_cid.clone()),
            None,
        ));
        let (offer, pending) = api.apply().ok_or("the publisher offer was not created")?;
        p.pending = Some(pending);
        self.drain(Side::Publisher);
        Ok(offer.to_sdp_string())
    }

    fn on_publisher_answer(&mut self, sd: lk::SessionDescription) -> Result<(), String> {
        if sd.id != 1 {
            return Err(format!("publisher answer with id {} for offer 1", sd.id));
        }
        self.apply_publisher_answer(&sd.sdp)
    }

    /// Apply the server's answer and set up the send streams it accepted.
    fn apply_publisher_answer(&mut self, sdp: &str) -> Result<(), String> {
        let Some(pending) = self.publishing.pending.take() else {
            return Err("publisher answer without an offer".into());
        };
        tracing::trace!(identity = %self.spec.identity, sdp = %sdp, "publisher answer");
        let answer = SdpAnswer::from_sdp_string(sdp)
            .map_err(|e| format!("unparsable publisher answer: {e}"))?;
        self.publ
            .rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| format!("publisher answer refused: {e}"))?;
        self.drain(Side::Publisher);

        let max_payload = self.cfg.media.max_payload;
        if let (Some(mid), Some(video)) = (self.publishing.video_mid, &self.cfg.media.video) {
            let pt = pt_for(&self.publ.rtc, mid, Codec::Vp8)
                .ok_or("the server accepted no VP8 payload type")?;
            for (layer, rid) in RIDS.iter().enumerate() {
                let ssrc = self
                    .publ
                    .rtc
                    .direct_api()
                    .stream_tx_by_mid(mid, Some(Rid::from(*rid)))
                    .map(|s| s.ssrc())
                    .ok_or_else(|| format!("no send stream for rid {rid}"))?;
                let l = video.layers[layer];
                let packetizer = Vp8Packetizer::new(l.width, l.height, max_payload, rand::random());
                self.publishing.video.push(SendStream::new(
                    ssrc,
                    pt,
                    layer as u8,
                    Some(packetizer),
                ));
            }
        }
        if let Some(mid) = self.publishing.audio_mid {
            let pt = pt_for(&self.publ.rtc, mid, Codec::Opus)
                .ok_or("the server accepted no Opus payload type")?;
            let ssrc = self
                .publ
                .rtc
                .direct_api()
                .stream_tx_by_mid(mid, None)
                .map(|s| s.ssrc())
                .ok_or("no send stream for audio")?;
            self.publishing.audio = Some(SendStream::new(ssrc, pt, 0, None));
        }
        Ok(())
    }

    /// Ask for each video at the size a browser would show it.
    fn update_track_settings(&mut self) {
        if self.cfg.dialect == Dialect::Janus {
            self.janus_choose_layers();
            return;
        }
        let mut wanted: Vec<(String, (u32, u32))> = Vec::new();
        for media in self.remote.values() {
            if media.kind != TrackKind::Video {
                continue;
            }
            let Some(identity) = self.participants.get(&media.participant_sid) else {
                continue; // asked again when the participant update arrives
            };
            let is_speaker = self.spec.speaker.as_deref() == Some(identity.as_str());
            let size = self.cfg.view.size(is_speaker);
            if self.settings_sent.get(&media.track_sid) != Some(&size) {
                wanted.push((media.track_sid.clone(), size));
            }
        }
        for (sid, (width, height)) in wanted {
            self.settings_sent.insert(sid.clone(), (width, height));
            self.outbox.push(Req::TrackSetting(lk::UpdateTrackSettings {
                track_sids: vec![sid],
                disabled: false,
                width,
                height,
                ..Default::default()
            }));
        }
    }

    async fn flush(&mut self) -> Result<(), String> {
        let lk = std::mem::take(&mut self.outbox)
            .into_iter()
            .map(signal::encode);
        let janus = std::mem::take(&mut self.janus.outbox)
            .into_iter()
            .map(|v| Message::Text(v.to_string().into()));
        for msg in lk.chain(janus).collect::<Vec<_>>() {
            self.ws
                .send(msg)
                .await
                .map_err(|e| format!("cannot send a signal message: {e}"))?;
        }
        Ok(())
    }

    async fn leave(&mut self) {
        match self.cfg.dialect {
            Dialect::Confab => self.outbox.push(signal::leave()),
            Dialect::Janus => self.janus_leave(),
        }
        let _ = self.flush().await;
        let _ = self.ws.close(None).await;
        // RTCP BYE and DTLS close_notify, so the server frees us at once.
        for side in [Side::Publisher, Side::Subscriber] {
            self.pc(side).close();
            self.dispatch(side);
        }
    }

    // ---- media in ----------------------------------------------------------------

    /// Drain one `Rtc` to its next timeout and act on its events.
    fn drain(&mut self, side: Side) {
        self.pc(side).drain();
        self.dispatch(side);
    }

    fn dispatch(&mut self, side: Side) {
        while let Some(event) = self.pc(side).poll_event() {
            self.event(side, event);
        }
    }

    fn event(&mut self, side: Side, event: Event) {
        match event {
            Event::RtpPacket(packet) if side == Side::Subscriber => self.on_rtp(packet),
            Event::MediaAdded(_)
                if side == Side::Subscriber && self.cfg.dialect == Dialect::Janus => {}
            Event::MediaAdded(added) if side == Side::Subscriber => {
                let Some(media) = self.sub.rtc.media(added.mid) else {
                    return;
                };
                let track =
                    RemoteTrack::from_msid(media.stream_id(), media.track_id(), media.kind());
                let kind = match track.kind {
                    MediaKind::Audio => TrackKind::Audio,
                    MediaKind::Video => TrackKind::Video,
                };
                self.remote.insert(
                    added.mid,
                    RemoteMedia {
                        participant_sid: track.participant_sid,
                        track_sid: track.track_sid,
                        kind,
                    },
                );
                if kind == TrackKind::Video {
                    self.update_track_settings();
                }
            }
            Event::KeyframeRequest(req) if side == Side::Publisher => {
                self.sent.keyframe_requests += 1;
                let layer = match req.rid.as_deref() {
                    Some("h") => 1,
                    Some("f") => 2,
                    _ => 0,
                };
                if let Some(s) = self.publishing.video.get_mut(layer) {
                    s.keyframe_wanted = true;
                }
            }
            Event::Connected => {
                let now = Instant::now();
                if side == Side::Publisher && self.publishing.started.is_none() {
                    self.publishing.started = Some(now);
                    self.publishing.next_frame = now;
                    self.publishing.next_audio = now;
                }
            }
            _ => {}
        }
    }

    fn on_rtp(&mut self, packet: RtpPacket) {
        let now = Instant::now();
        let now_us = probe::now_us();
        let mid = packet.header.ext_vals.mid.or_else(|| {
            self.sub
                .rtc
                .direct_api()
                .stream_rx(&packet.header.ssrc)
                .map(|s| s.mid())
        });
        let Some(mid) = mid else {
            self.unknown_packets += 1;
            return;
        };
        if !self.streams.contains_key(&mid) {
            let Some(media) = self.remote.get(&mid).cloned() else {
                self.unknown_packets += 1;
                return;
            };
            self.streams.insert(
                mid,
                RecvStream {
                    media,
                    packets: 0,
                    bytes: 0,
                    first_at: now,
                    last_at: now,
                    warm: false,
                    seq: SeqTracker::new(),
                    latency: Histogram::new(),
                    layers: [0; 3],
                    layer_bytes: [0; 3],
                    last_layer: None,
                    probe_errors: 0,
                    clock_skew: 0,
                },
            );
        }
        let Some(s) = self.streams.get_mut(&mid) else {
            return;
        };
        self.first_packet_at.get_or_insert(now);
        s.packets += 1;
        s.bytes += packet.payload.len() as u64;
        self.counters.received(packet.payload.len());
        s.last_at = now;
        if !s.warm && now.saturating_duration_since(s.first_at) >= self.cfg.warmup {
            s.warm = true;
            s.seq.restart();
            s.latency = Histogram::new();
        }
        s.seq.push(*packet.seq_no);

        let offset = match s.media.kind {
            TrackKind::Audio => Some(0),
            TrackKind::Video => vp8::probe_offset(&packet.payload),
        };
        let Some(probe) = offset.and_then(|o| packet.payload.get(o..).and_then(Probe::decode))
        else {
            s.probe_errors += 1;
            return;
        };
        let layer = usize::from(probe.layer);
        if let (Some(n), Some(b)) = (s.layers.get_mut(layer), s.layer_bytes.get_mut(layer)) {
            *n += 1;
            *b += packet.payload.len() as u64;
        }
        s.last_layer = Some(probe.layer);
        if s.warm {
            match now_us.checked_sub(probe.sent_us) {
                Some(us) => s.latency.record(us),
                None => {
                    s.clock_skew += 1;
                    s.latency.record(0);
                }
            }
        }
    }

    // ---- time-driven work ------------------------------------------------------------

    fn tick(&mut self, now: Instant) -> Result<(), String> {
        for side in [Side::Subscriber, Side::Publisher] {
            self.pc(side).tick(now);
            self.dispatch(side);
        }
        self.send_media(now);
        if self.joined_at.is_some() && now >= self.next_ping {
            self.next_ping = now + self.ping_interval;
            match self.cfg.dialect {
                Dialect::Confab => self.outbox.push(Req::Ping(now_ms())),
                Dialect::Janus => self.janus_keepalive(),
            }
        }
        self.check(now)
    }

    /// Give up on what should have happened by now.
    fn check(&self, now: Instant) -> Result<(), String> {
        let limit = self.cfg.join_timeout;
        let since_start = now.saturating_duration_since(self.started);
        if self.joined_at.is_none() && since_start > limit {
            return Err(format!("no join response within {limit:?}"));
        }
        if since_start > limit + Duration::from_secs(5) {
            if !self.sub.is_connected() {
                return Err(format!("subscriber connection not up within {limit:?}"));
            }
            if self.spec.publishes && self.publishing.started.is_none() {
                let p = &self.publishing;
                let what = if p.pending.is_some() {
                    "the publisher answer"
                } else if p.audio_mid.is_none() {
                    "the server to accept the tracks"
                } else {
                    "the publisher connection"
                };
                return Err(format!("publishing stuck waiting for {what}"));
            }
        }
        for (side, pc) in [("publisher", &self.publ), ("subscriber", &self.sub)] {
            pc.check(now, DISCONNECT_GRACE)
                .map_err(|e| format!("{side} connection {e}"))?;
        }
        Ok(())
    }

    fn send_media(&mut self, now: Instant) {
        if self.publishing.started.is_none() {
            return;
        }
        let mut wrote = false;
        let cfg = self.cfg.clone();
        if let Some(video) = &cfg.media.video
            && !self.publishing.video.is_empty()
        {
            let interval = Duration::from_secs(1) / video.fps;
            // After a stall, skip ahead rather than send a burst of old frames.
            if now.saturating_duration_since(self.publishing.next_frame) > interval * 5 {
                self.publishing.next_frame = now;
            }
            while now >= self.publishing.next_frame {
                self.send_frame(video, now);
                self.publishing.next_frame += interval;
                wrote = true;
            }
        }
        if self.publishing.audio.is_some() {
            let interval = self.cfg.media.audio.packet_interval;
            if now.saturating_duration_since(self.publishing.next_audio) > interval * 5 {
                self.publishing.next_audio = now;
            }
            while now >= self.publishing.next_audio {
                self.send_audio(now);
                self.publishing.next_audio += interval;
                wrote = true;
            }
        }
        if wrote {
            // str0m queues written packets; a timeout lets its pacer release them.
            let _ = self.publ.rtc.handle_input(Input::Timeout(now));
            self.drain(Side::Publisher);
        }
    }

    fn send_frame(&mut self, video: &VideoConfig, now: Instant) {
        let frame = self.publishing.frame;
        self.publishing.frame += 1;
        let gop = (video.keyframe_interval.as_secs_f64() * f64::from(video.fps))
            .round()
            .max(1.0) as u64;
        let scheduled_key = frame.is_multiple_of(gop);
        let key_factor = KEYFRAME_SIZE_FACTOR.min(gop as f64 / 2.0).max(1.0);
        let ts_offset = (frame * 90_000 / u64::from(video.fps)) as u32;

        for i in 0..self.publishing.video.len() {
            let bitrate = video.layers[i].bitrate;
            let s = &mut self.publishing.video[i];
            let keyframe = scheduled_key || s.keyframe_wanted;
            s.keyframe_wanted = false;
            // Average frame size, with keyframes larger and the deltas shrunk
            // so the layer still averages its bitrate.
            let avg = f64::from(bitrate) / 8.0 / f64::from(video.fps);
            let size = if keyframe {
                avg * key_factor
            } else if gop > 1 {
                (avg * gop as f64 - avg * key_factor) / (gop - 1) as f64
            } else {
                avg
            };
            let Some(packetizer) = s.packetizer.as_mut() else {
                continue;
            };
            let packets = packetizer.frame(keyframe, size as usize);
            let ts = s.ts_base.wrapping_add(ts_offset);
            let (ssrc, pt, layer) = (s.ssrc, s.pt, s.layer);
            if keyframe {
                self.sent.keyframes += 1;
            }
            for mut p in packets {
                let s = &mut self.publishing.video[i];
                let probe = Probe {
                    sent_us: probe::now_us(),
                    counter: s.counter,
                    layer,
                    kind: ProbeKind::Video,
                };
                if let Some(at) = p.payload.get_mut(p.probe_at..) {
                    probe.encode(at);
                }
                s.counter = s.counter.wrapping_add(1);
                let seq = s.seq;
                s.seq += 1;
                self.sent.video_packets += 1;
                self.sent.video_bytes += p.payload.len() as u64;
                self.counters.sent(p.payload.len());
                let write = RtpWrite::new(pt, SeqNo::from(seq), ts, now, p.payload)
                    .marker(p.marker)
                    .nackable(true);
                if let Some(stream) = self.publ.rtc.direct_api().stream_tx(&ssrc) {
                    stream.write_rtp(write);
                }
                self.drain(Side::Publisher);
            }
        }
    }

    fn send_audio(&mut self, now: Instant) {
        let audio = &self.cfg.media.audio;
        let size = audio.payload_size;
        let per_packet = (48_000 * audio.packet_interval.as_micros() / 1_000_000) as u64;
        let n = self.publishing.audio_packets;
        self.publishing.audio_packets += 1;
        let speaking = self.spec.speaking;
        let Some(s) = self.publishing.audio.as_mut() else {
            return;
        };
        let mut payload = vec![0u8; size];
        Probe {
            sent_us: probe::now_us(),
            counter: s.counter,
            layer: 0,
            kind: ProbeKind::Audio,
        }
        .encode(&mut payload);
        s.counter = s.counter.wrapping_add(1);
        let seq = s.seq;
        s.seq += 1;
        let ts = s.ts_base.wrapping_add((n * per_packet) as u32);
        let (ssrc, pt) = (s.ssrc, s.pt);
        let ext = ExtensionValues {
            audio_level: Some(if speaking { -30 } else { -127 }),
            voice_activity: Some(speaking),
            ..Default::default()
        };
        self.sent.audio_packets += 1;
        self.sent.audio_bytes += size as u64;
        self.counters.sent(size);
        // The first packet after silence carries the marker, as Opus senders do.
        let write = RtpWrite::new(pt, SeqNo::from(seq), ts, now, payload)
            .marker(n == 0)
            .ext_vals(ext);
        if let Some(stream) = self.publ.rtc.direct_api().stream_tx(&ssrc) {
            stream.write_rtp(write);
        }
        self.drain(Side::Publisher);
    }

    // ---- report ---------------------------------------------------------------------

    fn fill(&self, report: &mut BotReport) {
        report.sid = self.my_sid.clone();
        let since_start =
            |t: Instant| t.saturating_duration_since(self.started).as_secs_f64() * 1000.0;
        report.signal_join_ms = self.joined_at.map(since_start);
        report.publish_ms = self.publishing.started.map(since_start);
        report.join_ms = self.first_packet_at.map(since_start);
        let mut sent = self.sent.clone();
        sent.send_drops = self.sub.send_drops() + self.publ.send_drops();
        sent.seconds = self.publishing.started.map_or(0.0, |t| {
            self.stop_at.saturating_duration_since(t).as_secs_f64()
        });
        report.sent = sent;
        report.unknown_packets = self.unknown_packets;
        report.speaker_updates = self.speaker_updates;
        report.active_speakers = self
            .speakers
            .iter()
            .map(|sid| {
                self.participants
                    .get(sid)
                    .cloned()
                    .unwrap_or_else(|| sid.clone())
            })
            .collect();
        let mut streams: Vec<StreamReport> = self
            .streams
            .values()
            .map(|s| StreamReport {
                track_sid: s.media.track_sid.clone(),
                participant_sid: s.media.participant_sid.clone(),
                publisher: self.participants.get(&s.media.participant_sid).cloned(),
                kind: s.media.kind,
                packets: s.packets,
                bytes: s.bytes,
                seconds: s
                    .last_at
                    .saturating_duration_since(s.first_at)
                    .as_secs_f64(),
                expected: s.seq.expected(),
                lost: s.seq.lost(),
                duplicates: s.seq.duplicates(),
                layer_packets: s.layers,
                layer_kbps: {
                    let secs = s
                        .last_at
                        .saturating_duration_since(s.first_at)
                        .as_secs_f64();
                    s.layer_bytes.map(|b| {
                        if secs > 0.0 {
                            b as f64 * 8.0 / secs / 1000.0
                        } else {
                            0.0
                        }
                    })
                },
                last_layer: s.last_layer,
                latency_p50_ms: s.latency.quantile(0.5).map(us_to_ms),
                latency_p99_ms: s.latency.quantile(0.99).map(us_to_ms),
                probe_errors: s.probe_errors,
                clock_skew: s.clock_skew,
                latency: s.latency.clone(),
            })
            .collect();
        streams.sort_by(|a, b| (&a.publisher, a.kind).cmp(&(&b.publisher, b.kind)));
        report.streams = streams;
    }
}

fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn now_ms() -> i64 {
    (probe::now_us() / 1000) as i64
}

/// The payload type the server accepted for `codec` on our m-line.
fn pt_for(rtc: &Rtc, mid: Mid, codec: Codec) -> Option<Pt> {
    let media = rtc.media(mid)?;
    let config = rtc.codec_config();
    let ours = |pt: Pt| {
        config
            .params()
            .iter()
            .any(|p| p.pt() == pt && p.spec().codec == codec)
    };
    media
        .remote_pts()
        .iter()
        .copied()
        .find(|pt| ours(*pt))
        .or_else(|| {
            config
                .params()
                .iter()
                .find(|p| p.spec().codec == codec)
                .map(|p| p.pt())
        })
}
