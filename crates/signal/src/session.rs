//! One participant's signalling session over a WebSocket (the v0 `/rtc`
//! protocol with two peer connections).
//!
//! The session joins the room, sends the join response, and then serves three
//! sources in one loop: the client's requests, the room's events (others
//! joining, publishing, leaving) and the media plane's events (subscriber
//! offers, data channel messages, a dead transport). It ends on leave, on a
//! closed socket, on a ping timeout or on a protocol error, and always leaves
//! the room on its way out.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{Message, WebSocket};
use confab_room::{JoinRequest, Joined, LeaveReason, Permission, RoomEvent};
use confab_sfu::quality::Quality;
use confab_sfu::{MediaEvent, Side, Wanted};
use futures_util::{SinkExt, StreamExt};
use livekit_protocol as lk;
use lk::signal_request::Message as Req;
use lk::signal_response::Message as Resp;
use prost::Message as _;
use tokio::time::{Instant, sleep_until};

use crate::auth::Claims;
use crate::rate::TokenBucket;
use crate::turn::TurnSettings;
use crate::{AppState, SERVER_VERSION, convert, settings};

const PING_INTERVAL: Duration = Duration::from_secs(5);
const PING_TIMEOUT: Duration = Duration::from_secs(15);
/// Cap on one data channel message relayed between participants.
pub const MAX_DATA_MESSAGE: usize = 64 * 1024;
/// What one participant may relay: messages per second (and burst), and bytes
/// per second (and burst). Chat, reactions and RPC stay far below this.
const DATA_MESSAGES_PER_SEC: (f64, f64) = (200.0, 400.0);
const DATA_BYTES_PER_SEC: (f64, f64) = (2.0e6, 4.0e6);
/// Signal requests per second (and burst); beyond it the client is cut off.
const REQUESTS_PER_SEC: (f64, f64) = (100.0, 300.0);
/// A client that takes longer than this to accept one message has stopped
/// reading: while we wait, the room's updates for it pile up in memory.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Room events waiting for a session before it counts as too far behind
/// (an update may carry a participant's 64 KiB of metadata).
const MAX_EVENT_BACKLOG: usize = 256;

/// Client options from the `/rtc` query string.
pub struct ClientOptions {
    pub auto_subscribe: bool,
    /// The client's peer-to-peer protocol level, relayed to other clients.
    pub client_protocol: i32,
}

#[derive(Debug, thiserror::Error)]
enum SessionEnd {
    #[error("client left")]
    Left,
    #[error("connection closed")]
    Closed,
    #[error("ping timeout")]
    PingTimeout,
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("replaced by a newer session")]
    Replaced,
    #[error("media connection lost")]
    MediaLost,
    #[error("removed from the room")]
    Removed,
    #[error("the room was deleted")]
    RoomDeleted,
    #[error("the client stopped reading its messages")]
    NotReading,
}

pub async fn run(socket: WebSocket, state: Arc<AppState>, claims: Claims, opts: ClientOptions) {
    let (mut tx, mut rx) = socket.split();
    let request = JoinRequest {
        identity: claims.identity().to_string(),
        name: claims.name.clone(),
        metadata: claims.metadata.clone(),
        permission: Permission {
            can_publish: claims.can_publish(),
            can_subscribe: claims.can_subscribe(),
            can_publish_data: claims.can_publish_data(),
            hidden: claims.video.hidden,
        },
        auto_subscribe: opts.auto_subscribe,
        client_protocol: opts.client_protocol,
        moderator: claims.video.room_admin,
        kind: confab_room::ParticipantKind::from_claim(&claims.kind).unwrap_or_default(),
        attributes: claims.attributes.clone(),
    };
    let joined = match state.rooms.join(&claims.video.room, request) {
        Ok(j) => j,
        Err(e) => {
            tracing::info!(room = %claims.video.room, "join refused: {e}");
            let reason = match e {
                confab_room::RoomError::Removed => lk::DisconnectReason::ParticipantRemoved,
                _ => lk::DisconnectReason::JoinFailure,
            };
            let leave = leave_msg(reason, lk::leave_request::Action::Disconnect);
            let _ = send(&mut tx, leave).await;
            let _ = tokio::time::timeout(SEND_TIMEOUT, tx.close()).await;
            return;
        }
    };
    let room = joined.room.clone();
    let peer = joined.me.peer;
    let now = std::time::Instant::now();
    let mut session = Session {
        joined,
        claims,
        offer_id: 0,
        requests: TokenBucket::new(REQUESTS_PER_SEC.0, REQUESTS_PER_SEC.1, now),
        data_messages: TokenBucket::new(DATA_MESSAGES_PER_SEC.0, DATA_MESSAGES_PER_SEC.1, now),
        data_bytes: TokenBucket::new(DATA_BYTES_PER_SEC.0, DATA_BYTES_PER_SEC.1, now),
        data_dropped: 0,
    };
    let end = session.serve(&mut tx, &mut rx, state.turn.as_ref()).await;
    tracing::info!(room = %room.name, identity = %session.joined.me.identity, "session ended: {end}");
    room.leave(peer);
    let goodbye = match end {
        SessionEnd::Replaced => Some(leave_msg(
            lk::DisconnectReason::DuplicateIdentity,
            lk::leave_request::Action::Disconnect,
        )),
        SessionEnd::MediaLost => Some(leave_msg(
            lk::DisconnectReason::UnknownReason,
            lk::leave_request::Action::Reconnect,
        )),
        SessionEnd::Removed => Some(leave_msg(
            lk::DisconnectReason::ParticipantRemoved,
            lk::leave_request::Action::Disconnect,
        )),
        SessionEnd::RoomDeleted => Some(leave_msg(
            lk::DisconnectReason::RoomDeleted,
            lk::leave_request::Action::Disconnect,
        )),
        _ => None,
    };
    if let Some(msg) = goodbye {
        let _ = send(&mut tx, msg).await;
    }
    // (A client that stopped reading would hold the close frame, too.)
    let _ = tokio::time::timeout(SEND_TIMEOUT, tx.close()).await;
}

struct Session {
    joined: Joined,
    claims: Claims,
    offer_id: u32,
    requests: TokenBucket,
    data_messages: TokenBucket,
    data_bytes: TokenBucket,
    data_dropped: u64,
}

type Tx = futures_util::stream::SplitSink<WebSocket, Message>;
type Rx = futures_util::stream::SplitStream<WebSocket>;

/// Send one message, giving up on a client that does not take it in time.
async fn send(tx: &mut Tx, msg: Resp) -> Result<(), SessionEnd> {
    match tokio::time::timeout(SEND_TIMEOUT, tx.send(encode(msg))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(SessionEnd::Closed),
        Err(_) => Err(SessionEnd::NotReading),
    }
}

impl Session {
    async fn serve(&mut self, tx: &mut Tx, rx: &mut Rx, turn: Option<&TurnSettings>) -> SessionEnd {
        let join = self.join_response(turn);
        if let Err(end) = send(tx, Resp::Join(join)).await {
            return end;
        }
        let mut deadline = Instant::now() + PING_TIMEOUT;
        loop {
            // Biased, room events first: when the room ends this session
            // (removed, room deleted, replaced) it queues the reason before
            // the media side closes, and the reason must win over "media
            // lost", which would tell the client to reconnect.
            let outgoing = tokio::select! {
                biased;
                ev = self.joined.events.recv() => match ev {
                    Some(RoomEvent::Participants(ps)) => vec![Resp::Update(lk::ParticipantUpdate {
                        participants: ps.iter().map(convert::participant).collect(),
                    })],
                    Some(RoomEvent::Leave(LeaveReason::DuplicateIdentity)) => return SessionEnd::Replaced,
                    Some(RoomEvent::Leave(LeaveReason::Removed)) => return SessionEnd::Removed,
                    Some(RoomEvent::Leave(LeaveReason::RoomDeleted)) => return SessionEnd::RoomDeleted,
                    Some(RoomEvent::Leave(LeaveReason::RoomClosed)) | None => return SessionEnd::Closed,
                    Some(RoomEvent::Mute { track_sid, muted }) => vec![Resp::Mute(lk::MuteTrackRequest {
                        sid: track_sid,
                        muted,
                    })],
                    Some(RoomEvent::RoomUpdated(info)) => vec![Resp::RoomUpdate(lk::RoomUpdate {
                        room: Some(convert::room(&info)),
                    })],
                },
                msg = rx.next() => {
                    deadline = Instant::now() + PING_TIMEOUT;
                    match msg {
                        Some(Ok(Message::Binary(bytes))) => {
                            if !self.requests.take(1.0, std::time::Instant::now()) {
                                return SessionEnd::Protocol("too many signal requests".into());
                            }
                            let req = match lk::SignalRequest::decode(bytes.as_ref()) {
                                Ok(r) => r,
                                Err(e) => return SessionEnd::Protocol(format!("not a signal request: {e}")),
                            };
                            match self.request(req).await {
                                Ok(out) => out,
                                Err(end) => return end,
                            }
                        }
                        Some(Ok(Message::Text(_))) => {
                            return SessionEnd::Protocol("text frames are not supported; send protobuf".into());
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => vec![],
                        Some(Ok(Message::Close(_))) | None => return SessionEnd::Closed,
                        Some(Err(e)) => return SessionEnd::Protocol(e.to_string()),
                    }
                }
                ev = self.joined.media_events.recv() => match ev {
                    Some(ev) => match self.media_event(ev) {
                        Ok(out) => out,
                        Err(end) => return end,
                    },
                    None => return SessionEnd::MediaLost,
                },
                _ = sleep_until(deadline) => return SessionEnd::PingTimeout,
            };
            for msg in outgoing {
                if let Err(end) = send(tx, msg).await {
                    return end;
                }
            }
            if self.joined.events.len() > MAX_EVENT_BACKLOG {
                return SessionEnd::NotReading;
            }
        }
    }

    fn join_response(&self, turn: Option<&TurnSettings>) -> lk::JoinResponse {
        let room = &self.joined.room;
        lk::JoinResponse {
            ice_servers: turn.map_or_else(Vec::new, |t| {
                t.ice_servers(self.claims.identity(), std::time::SystemTime::now())
            }),
            room: Some(convert::room(&room.info())),
            participant: Some(convert::participant(&self.joined.me)),
            other_participants: self
                .joined
                .others
                .iter()
                .map(convert::participant)
                .collect(),
            server_version: SERVER_VERSION.into(),
            server_region: "local".into(),
            subscriber_primary: true,
            ping_interval: PING_INTERVAL.as_secs() as i32,
            ping_timeout: PING_TIMEOUT.as_secs() as i32,
            server_info: Some(lk::ServerInfo {
                edition: lk::server_info::Edition::Standard as i32,
                version: SERVER_VERSION.into(),
                protocol: 16,
                region: "local".into(),
                node_id: format!("confab-{}", env!("CARGO_PKG_VERSION")),
                ..Default::default()
            }),
            // Full reconnects only: resuming a session is not supported yet.
            client_configuration: Some(lk::ClientConfiguration {
                resume_connection: lk::ClientConfigSetting::Disabled as i32,
                ..Default::default()
            }),
            // The client publishes with the first of these unless it asked
            // for another one on the list.
            enabled_publish_codecs: room
                .settings
                .video_codecs
                .iter()
                .map(|c| lk::Codec {
                    mime: format!("video/{}", settings::codec_name(*c).to_ascii_uppercase()),
                    ..Default::default()
                })
                .chain(std::iter::once(lk::Codec {
                    mime: "audio/opus".into(),
                    ..Default::default()
                }))
                .collect(),
            ..Default::default()
        }
    }

    async fn request(&mut self, req: lk::SignalRequest) -> Result<Vec<Resp>, SessionEnd> {
        let Some(msg) = req.message else {
            return Ok(vec![]);
        };
        let room = self.joined.room.clone();
        let me = self.joined.me.peer;
        Ok(match msg {
            Req::Offer(sd) => {
                let answer = room
                    .media()
                    .publisher_offer(me, sd.sdp)
                    .await
                    .map_err(|e| SessionEnd::Protocol(format!("publisher offer: {e}")))?;
                let mut out = trickle_candidates(&answer, lk::SignalTarget::Publisher);
                out.insert(
                    0,
                    Resp::Answer(lk::SessionDescription {
                        r#type: "answer".into(),
                        sdp: answer,
                        id: sd.id,
                        ..Default::default()
                    }),
                );
                out
            }
            Req::Answer(sd) => {
                room.media()
                    .subscriber_answer(me, sd.sdp)
                    .map_err(|e| SessionEnd::Protocol(e.to_string()))?;
                vec![]
            }
            Req::Trickle(t) => {
                let side = if t.target == lk::SignalTarget::Subscriber as i32 {
                    Side::Subscriber
                } else {
                    Side::Publisher
                };
                if let Some(c) = candidate_from_init(&t.candidate_init) {
                    room.media().remote_candidate(me, side, c);
                }
                vec![]
            }
            Req::AddTrack(add) => match convert::new_track(&add) {
                Some(new) => match room.add_track(me, new) {
                    Ok(track) => vec![Resp::TrackPublished(lk::TrackPublishedResponse {
                        cid: add.cid,
                        track: Some(convert::track(&track)),
                    })],
                    Err(e) => {
                        tracing::info!(identity = %self.joined.me.identity, "publish refused: {e}");
                        vec![]
                    }
                },
                None => vec![],
            },
            Req::Mute(m) => {
                room.set_muted(me, &m.sid, m.muted);
                vec![]
            }
            Req::TrackSetting(s) => {
                let wanted = if s.disabled {
                    Wanted::Disabled
                } else if s.width > 0 || s.height > 0 {
                    Wanted::Size {
                        width: s.width,
                        height: s.height,
                    }
                } else {
                    match lk::VideoQuality::try_from(s.quality) {
                        Ok(lk::VideoQuality::Off) => Wanted::Disabled,
                        Ok(lk::VideoQuality::Low) => Wanted::Quality(0),
                        Ok(lk::VideoQuality::Medium) => Wanted::Quality(1),
                        _ => Wanted::Best,
                    }
                };
                for sid in s.track_sids.iter().take(256) {
                    room.set_wanted(me, sid, wanted);
                }
                vec![]
            }
            Req::Subscription(s) => {
                let sids = s.track_sids.iter().chain(
                    s.participant_tracks
                        .iter()
                        .flat_map(|p| p.track_sids.iter()),
                );
                for sid in sids.take(256) {
                    room.set_subscribed(me, sid, s.subscribe);
                }
                vec![]
            }
            Req::UpdateMetadata(u) => {
                let refusal = if !self.claims.video.can_update_own_metadata {
                    Some((
                        lk::request_response::Reason::NotAllowed,
                        "not allowed to update own metadata".to_string(),
                    ))
                } else {
                    let attributes = u
                        .attributes
                        .into_iter()
                        .map(|(k, v)| (convert::cap(&k, 128), convert::cap(&v, 4096)))
                        .collect();
                    room.update_self(
                        me,
                        Some(convert::cap(&u.name, 256)).filter(|n| !n.is_empty()),
                        Some(convert::cap(&u.metadata, 64 * 1024)).filter(|m| !m.is_empty()),
                        attributes,
                    )
                    .err()
                    .map(|e| {
                        let reason = match e {
                            confab_room::RoomError::ReservedAttribute => {
                                lk::request_response::Reason::NotAllowed
                            }
                            confab_room::RoomError::Name(_) => {
                                lk::request_response::Reason::InvalidName
                            }
                            _ => lk::request_response::Reason::LimitExceeded,
                        };
                        (reason, e.to_string())
                    })
                };
                match refusal {
                    Some((reason, message)) => vec![Resp::RequestResponse(lk::RequestResponse {
                        request_id: u.request_id,
                        reason: reason as i32,
                        message,
                        ..Default::default()
                    })],
                    None => vec![],
                }
            }
            Req::Leave(_) => return Err(SessionEnd::Left),
            Req::Ping(ts) => vec![Resp::Pong(ts)],
            Req::PingReq(p) => vec![Resp::PongResp(lk::Pong {
                last_ping_timestamp: p.timestamp,
                timestamp: now_ms(),
            })],
            _ => vec![],
        })
    }

    fn media_event(&mut self, ev: MediaEvent) -> Result<Vec<Resp>, SessionEnd> {
        match ev {
            MediaEvent::SubscriberOffer { sdp } => {
                self.offer_id += 1;
                let mut out = trickle_candidates(&sdp, lk::SignalTarget::Subscriber);
                out.insert(
                    0,
                    Resp::Offer(lk::SessionDescription {
                        r#type: "offer".into(),
                        sdp,
                        id: self.offer_id,
                        ..Default::default()
                    }),
                );
                Ok(out)
            }
            MediaEvent::Data { reliable, payload } => {
                let now = std::time::Instant::now();
                if self.data_messages.take(1.0, now)
                    && self.data_bytes.take(payload.len() as f64, now)
                {
                    self.relay_data(reliable, &payload);
                } else {
                    self.data_dropped += 1;
                    if self.data_dropped.is_power_of_two() {
                        tracing::warn!(
                            identity = %self.joined.me.identity,
                            dropped = self.data_dropped,
                            "data messages over the rate limit dropped"
                        );
                    }
                }
                Ok(vec![])
            }
            MediaEvent::Speakers(speakers) => {
                let room = &self.joined.room;
                let speakers = speakers
                    .iter()
                    .filter_map(|(peer, level, active)| {
                        Some(lk::SpeakerInfo {
                            sid: room.sid_of(*peer)?,
                            level: *level,
                            active: *active,
                        })
                    })
                    .collect::<Vec<_>>();
                Ok(if speakers.is_empty() {
                    vec![]
                } else {
                    vec![Resp::SpeakersChanged(lk::SpeakersChanged { speakers })]
                })
            }
            MediaEvent::Quality(updates) => {
                let room = &self.joined.room;
                let updates: Vec<_> = updates
                    .iter()
                    .filter_map(|(peer, quality, score)| {
                        Some(lk::ConnectionQualityInfo {
                            participant_sid: room.sid_of(*peer)?,
                            quality: match quality {
                                Quality::Excellent => lk::ConnectionQuality::Excellent,
                                Quality::Good => lk::ConnectionQuality::Good,
                                Quality::Poor => lk::ConnectionQuality::Poor,
                                Quality::Lost => lk::ConnectionQuality::Lost,
                            } as i32,
                            score: *score,
                        })
                    })
                    .collect();
                Ok(if updates.is_empty() {
                    vec![]
                } else {
                    vec![Resp::ConnectionQuality(lk::ConnectionQualityUpdate {
                        updates,
                    })]
                })
            }
            MediaEvent::StreamStates(states) => {
                let room = &self.joined.room;
                let stream_states: Vec<_> = states
                    .iter()
                    .filter_map(|(track, paused)| {
                        let (participant_sid, track_sid, _) = room.track_by_id(*track)?;
                        Some(lk::StreamStateInfo {
                            participant_sid,
                            track_sid,
                            state: if *paused {
                                lk::StreamState::Paused
                            } else {
                                lk::StreamState::Active
                            } as i32,
                        })
                    })
                    .collect();
                Ok(if stream_states.is_empty() {
                    vec![]
                } else {
                    vec![Resp::StreamStateUpdate(lk::StreamStateUpdate {
                        stream_states,
                    })]
                })
            }
            MediaEvent::SubscribedLayers { track, max_layer } => {
                let Some((_, track_sid, mime)) = self.joined.room.track_by_id(track) else {
                    return Ok(vec![]);
                };
                let codec = mime
                    .split_once('/')
                    .map_or(mime.as_str(), |(_, c)| c)
                    .to_ascii_lowercase();
                let qualities: Vec<_> = [
                    lk::VideoQuality::Low,
                    lk::VideoQuality::Medium,
                    lk::VideoQuality::High,
                ]
                .into_iter()
                .enumerate()
                .map(|(layer, quality)| lk::SubscribedQuality {
                    quality: quality as i32,
                    enabled: layer <= usize::from(max_layer),
                })
                .collect();
                #[allow(deprecated)]
                let update = lk::SubscribedQualityUpdate {
                    track_sid,
                    subscribed_qualities: qualities.clone(),
                    subscribed_codecs: vec![lk::SubscribedCodec { codec, qualities }],
                };
                Ok(vec![Resp::SubscribedQualityUpdate(update)])
            }
            MediaEvent::TrackEnded { track } => {
                self.joined.room.unpublish(self.joined.me.peer, track);
                Ok(vec![])
            }
            MediaEvent::TransportClosed { reason } => {
                tracing::info!(identity = %self.joined.me.identity, "{reason}");
                Err(SessionEnd::MediaLost)
            }
        }
    }

    /// Relay a data packet, with the sender's identity stamped by us: whatever
    /// identity the packet claims is overwritten. Older clients read the
    /// deprecated identity fields inside a user packet, so those are stamped too.
    #[allow(deprecated)]
    fn relay_data(&self, reliable: bool, payload: &[u8]) {
        let me = &self.joined.me;
        // The permission may have changed since joining (a moderator's update).
        let allowed = self
            .joined
            .room
            .permission(me.peer)
            .is_some_and(|p| p.can_publish_data);
        if !allowed || payload.len() > MAX_DATA_MESSAGE {
            return;
        }
        let Ok(mut packet) = lk::DataPacket::decode(payload) else {
            tracing::debug!(identity = %me.identity, "undecodable data packet dropped");
            return;
        };
        packet.participant_identity = me.identity.clone();
        packet.participant_sid = me.sid.clone();
        let mut destinations = std::mem::take(&mut packet.destination_identities);
        if let Some(lk::data_packet::Value::User(user)) = &mut packet.value {
            user.participant_identity = me.identity.clone();
            user.participant_sid = me.sid.clone();
            if destinations.is_empty() {
                destinations = user.destination_identities.clone();
            }
        }
        packet.destination_identities = destinations.clone();
        let bytes: Arc<[u8]> = packet.encode_to_vec().into();
        self.joined
            .room
            .send_data(me.peer, &destinations, reliable, bytes);
    }
}

/// Our candidates, as trickle messages. They are in the SDP already; trickling
/// them too serves clients that only look at trickled candidates.
fn trickle_candidates(sdp: &str, target: lk::SignalTarget) -> Vec<Resp> {
    let mid = sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=mid:"))
        .unwrap_or("0");
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a="))
        .filter(|l| l.starts_with("candidate:"))
        .map(|candidate| {
            let init = serde_json::json!({
                "candidate": candidate,
                "sdpMid": mid,
                "sdpMLineIndex": 0,
            });
            Resp::Trickle(lk::TrickleRequest {
                candidate_init: init.to_string(),
                target: target as i32,
                ..Default::default()
            })
        })
        .collect()
}

/// The candidate line from the client's `RTCIceCandidateInit` JSON.
fn candidate_from_init(init: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Init {
        candidate: String,
    }
    let init: Init = serde_json::from_str(init).ok()?;
    (!init.candidate.is_empty()).then_some(init.candidate)
}

fn leave_msg(reason: lk::DisconnectReason, action: lk::leave_request::Action) -> Resp {
    Resp::Leave(lk::LeaveRequest {
        can_reconnect: action == lk::leave_request::Action::Reconnect,
        reason: reason as i32,
        action: action as i32,
        ..Default::default()
    })
}

fn encode(msg: Resp) -> Message {
    let resp = lk::SignalResponse { message: Some(msg) };
    Message::Binary(resp.encode_to_vec().into())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
