//! A headless participant: joins, answers the server's offers for its
//! subscriber connection, pings, and hands out what arrives; optionally it
//! also publishes a microphone ([`crate::microphone`]).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use livekit_protocol as lk;
use lk::signal_request::Message as Req;
use lk::signal_response::Message as Resp;
use str0m::change::SdpOffer;
use str0m::media::Mid;
use str0m::{Event, RtcConfig};

use crate::microphone::Microphone;
use crate::signal::{self, Ws};
use crate::{ClientError, Peer, RemoteTrack};

/// Datagrams read per wake-up before the loop looks at its other inputs.
const RECV_BATCH: usize = 64;
/// How long ICE may stay disconnected before the participant gives up.
const DISCONNECT_GRACE: Duration = Duration::from_secs(5);

pub struct ParticipantConfig {
    /// The server, `ws://host:port` or `wss://…`.
    pub url: String,
    pub token: String,
    /// The address the UDP socket binds to and announces.
    pub bind_ip: IpAddr,
    /// Subscribe to every track at once, or only to those asked for with
    /// `Req::Subscription`.
    pub auto_subscribe: bool,
    pub join_timeout: Duration,
    /// str0m's settings: RTP mode or frame mode, codecs.
    pub rtc: RtcConfig,
    /// Names this client to the server (`sdk=` in the join URL).
    pub sdk: &'static str,
    /// Publish a microphone, written with [`Participant::write_audio`].
    pub microphone: bool,
}

/// What [`Participant::next`] hands out.
// Media is most of what arrives; boxing it would cost an allocation per frame
// for an event that is moved once and consumed at once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ParticipantEvent {
    /// Participants joined, changed or left.
    Participants(Vec<lk::ParticipantInfo>),
    /// The subscriber connection now carries this track.
    TrackAdded { mid: Mid, track: RemoteTrack },
    /// str0m's media events: `MediaData` in frame mode, `RtpPacket` in RTP mode.
    Media(Event),
    /// Any other message from the server (track unpublished, room updates, …).
    Signal(Box<Resp>),
}

pub struct Participant {
    ws: Ws,
    peer: Peer,
    join: lk::JoinResponse,
    tracks: HashMap<Mid, RemoteTrack>,
    ping_interval: Duration,
    next_ping: Instant,
    outbox: Vec<Req>,
    events: VecDeque<ParticipantEvent>,
    microphone: Option<Microphone>,
}

impl Participant {
    /// Open the WebSocket and wait for the server's join response.
    pub async fn join(cfg: ParticipantConfig) -> Result<Self, ClientError> {
        let url = signal::rtc_url(&cfg.url, &cfg.token, cfg.auto_subscribe, cfg.sdk);
        let mut ws = signal::open(signal::request(&url)?, cfg.join_timeout).await?;
        let secs = cfg.join_timeout.as_secs();
        let join = tokio::time::timeout(cfg.join_timeout, async {
            loop {
                match signal::decode(ws.next().await)? {
                    Some(Resp::Join(join)) => return Ok(join),
                    Some(Resp::Leave(leave)) => {
                        return Err(ClientError::Refused(signal::describe_leave(&leave)));
                    }
                    Some(other) => {
                        return Err(ClientError::Refused(format!(
                            "first message was {}, not a join",
                            signal::response_name(&other)
                        )));
                    }
                    None => {}
                }
            }
        })
        .await
        .map_err(|_| ClientError::JoinTimeout(secs))??;
        let peer = Peer::bind(cfg.bind_ip, cfg.rtc).await?;
        let mut outbox = Vec::new();
        let microphone = if cfg.microphone {
            let (mic, announce) = Microphone::bind(cfg.bind_ip).await?;
            outbox.push(announce);
            Some(mic)
        } else {
            None
        };
        let ping_interval = Duration::from_secs(u64::from(join.ping_interval.max(1) as u32));
        let mut events = VecDeque::new();
        events.push_back(ParticipantEvent::Participants(
            join.other_participants.clone(),
        ));
        Ok(Self {
            ws,
            peer,
            join,
            tracks: HashMap::new(),
            ping_interval,
            next_ping: Instant::now() + ping_interval,
            outbox,
            events,
            microphone,
        })
    }

    pub fn join_response(&self) -> &lk::JoinResponse {
        &self.join
    }

    /// The track the subscriber connection carries at `mid`.
    pub fn track(&self, mid: Mid) -> Option<&RemoteTrack> {
        self.tracks.get(&mid)
    }

    /// The subscriber peer connection, e.g. to ask for a keyframe.
    pub fn peer(&mut self) -> &mut Peer {
        &mut self.peer
    }

    /// Send one Opus frame of `samples` (at 48 kHz) on the microphone, `level`
    /// dBov loud (0 loudest, -127 silence); false while it is not yet set up
    /// (or was not asked for).
    pub fn write_audio(
        &mut self,
        opus: &[u8],
        samples: u32,
        level: i8,
    ) -> Result<bool, ClientError> {
        match &mut self.microphone {
            Some(mic) => mic.write(opus, samples, level, Instant::now()),
            None => Ok(false),
        }
    }

    /// The published microphone's track sid, once the server has it.
    pub fn microphone_sid(&self) -> Option<&str> {
        self.microphone.as_ref()?.sid.as_deref()
    }

    /// Send `req` with the next turn of [`next`](Self::next).
    pub fn send(&mut self, req: Req) {
        self.outbox.push(req);
    }

    /// Run until something happens; an error ends the session.
    pub async fn next(&mut self) -> Result<ParticipantEvent, ClientError> {
        loop {
            self.flush().await?;
            if let Some(event) = self.events.pop_front() {
                return Ok(event);
            }
            let mut wake_at = self
                .peer
                .timeout()
                .min(self.next_ping)
                .min(Instant::now() + Duration::from_millis(250));
            if let Some(mic) = &self.microphone {
                wake_at = wake_at.min(mic.peer.timeout());
            }
            let mic_readable = async {
                match &self.microphone {
                    Some(mic) => mic.peer.readable().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                frame = self.ws.next() => {
                    if let Some(resp) = signal::decode(frame)? {
                        self.on_signal(resp)?;
                    }
                }
                r = self.peer.readable() => {
                    r.map_err(ClientError::Socket)?;
                    self.peer.receive(RECV_BATCH);
                }
                r = mic_readable => {
                    r.map_err(ClientError::Socket)?;
                    if let Some(mic) = &mut self.microphone {
                        mic.peer.receive(RECV_BATCH);
                    }
                }
                _ = tokio::time::sleep_until(wake_at.into()) => {}
            }
            let now = Instant::now();
            self.peer.tick(now);
            if let Some(mic) = &mut self.microphone {
                mic.peer.tick(now);
                // Nothing is received on a send-only connection; its events (connected, stats)
                // are not needed beyond what the peer itself tracks.
                while mic.peer.poll_event().is_some() {}
                mic.peer
                    .check(now, DISCONNECT_GRACE)
                    .map_err(|reason| ClientError::Peer {
                        side: "publisher",
                        reason,
                    })?;
            }
            if now >= self.next_ping {
                self.next_ping = now + self.ping_interval;
                self.outbox.push(Req::Ping(0));
            }
            self.take_peer_events();
            self.peer
                .check(now, DISCONNECT_GRACE)
                .map_err(|reason| ClientError::Peer {
                    side: "subscriber",
                    reason,
                })?;
        }
    }

    /// Say goodbye and close the connection.
    pub async fn leave(mut self) {
        self.outbox.push(signal::leave());
        let _ = self.flush().await;
        let _ = self.ws.close(None).await;
        self.peer.close();
        if let Some(mic) = &mut self.microphone {
            mic.peer.close();
        }
    }

    async fn flush(&mut self) -> Result<(), ClientError> {
        for req in std::mem::take(&mut self.outbox) {
            self.ws
                .send(signal::encode(req))
                .await
                .map_err(|e| ClientError::Signal(e.to_string()))?;
        }
        Ok(())
    }

    fn on_signal(&mut self, resp: Resp) -> Result<(), ClientError> {
        match resp {
            Resp::Offer(sd) => {
                let offer = SdpOffer::from_sdp_string(&sd.sdp)
                    .map_err(|e| ClientError::Sdp(e.to_string()))?;
                let answer = self
                    .peer
                    .rtc
                    .sdp_api()
                    .accept_offer(offer)
                    .map_err(|e| ClientError::Sdp(e.to_string()))?;
                self.peer.drain();
                self.outbox.push(Req::Answer(lk::SessionDescription {
                    r#type: "answer".into(),
                    sdp: answer.to_sdp_string(),
                    // The server matches answers to offers by this id.
                    id: sd.id,
                    ..Default::default()
                }));
            }
            Resp::TrackPublished(published) if self.microphone.is_some() => {
                if let Some(mic) = &mut self.microphone
                    && let Some(offer) = mic.on_published(&published)?
                {
                    self.outbox.push(offer);
                }
            }
            Resp::Answer(answer) if self.microphone.is_some() => {
                if let Some(mic) = &mut self.microphone {
                    mic.on_answer(&answer)?;
                }
            }
            Resp::Update(update) => self
                .events
                .push_back(ParticipantEvent::Participants(update.participants)),
            Resp::Leave(leave) => {
                let why = signal::describe_leave(&leave);
                use lk::leave_request::Action;
                return Err(match Action::try_from(leave.action) {
                    Ok(Action::Reconnect | Action::Resume) => ClientError::Reconnect(why),
                    _ => ClientError::Left(why),
                });
            }
            // The server is ICE-lite: its candidates are in the SDP, and it
            // learns ours from our connectivity checks.
            Resp::Trickle(_) | Resp::Pong(_) | Resp::PongResp(_) => {}
            other => self
                .events
                .push_back(ParticipantEvent::Signal(Box::new(other))),
        }
        Ok(())
    }

    fn take_peer_events(&mut self) {
        while let Some(event) = self.peer.poll_event() {
            match event {
                Event::MediaAdded(added) => {
                    let Some(media) = self.peer.rtc.media(added.mid) else {
                        continue;
                    };
                    let track =
                        RemoteTrack::from_msid(media.stream_id(), media.track_id(), media.kind());
                    self.tracks.insert(added.mid, track.clone());
                    self.events.push_back(ParticipantEvent::TrackAdded {
                        mid: added.mid,
                        track,
                    });
                }
                e @ (Event::MediaData(_) | Event::RtpPacket(_)) => {
                    self.events.push_back(ParticipantEvent::Media(e))
                }
                _ => {}
            }
        }
    }
}
