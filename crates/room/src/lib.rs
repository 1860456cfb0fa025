//! Conference control: rooms, participants, their tracks and permissions.
//!
//! This is the job Jicofo and Prosody's MUC do in Jitsi. A signalling session
//! joins a [`Room`] with an identity and permissions that came from a verified
//! token, and from then on the room:
//! - keeps the participant list with versioned participant records,
//! - tells every member about changes through its [`RoomEvent`] channel,
//! - evicts an older session of the same identity,
//! - turns publications into media-plane subscriptions (auto-subscribe), and
//! - routes data messages to their destinations.
//!
//! Media itself never passes through here: the room drives its
//! [`confab_sfu::RoomMedia`] handle, which lives on a media worker.

mod ids;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use confab_sfu::{
    Kind, LayerSize, MediaEvent, PeerId, RoomMedia, Sfu, StreamLabels, TrackId, TrackSpec,
    VideoCodec, Wanted,
};
use tokio::sync::mpsc;

pub use ids::new_sid;

/// What a participant may do; from its token, changed only by moderators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub can_publish: bool,
    pub can_subscribe: bool,
    pub can_publish_data: bool,
    pub hidden: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantState {
    Joined,
    Active,
    Disconnected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Unknown,
    Camera,
    Microphone,
    ScreenShare,
    ScreenShareAudio,
}

/// One simulcast layer as the publisher described it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layer {
    /// 0 = low, 1 = medium, 2 = high.
    pub quality: u8,
    pub width: u32,
    pub height: u32,
    pub bitrate: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub id: TrackId,
    pub sid: String,
    /// The publisher's own id for the track.
    pub cid: String,
    pub kind: Kind,
    pub source: Source,
    pub name: String,
    pub muted: bool,
    pub width: u32,
    pub height: u32,
    pub simulcast: bool,
    pub layers: Vec<Layer>,
    pub mime_type: String,
    pub stream: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Participant {
    pub peer: PeerId,
    pub sid: String,
    pub identity: String,
    pub name: String,
    pub metadata: String,
    pub permission: Permission,
    pub state: ParticipantState,
    pub tracks: Vec<Track>,
    pub joined_at: i64,
    pub version: u32,
    pub client_protocol: i32,
    /// Free-form key/value state participants set on themselves (raised hand, …).
    pub attributes: BTreeMap<String, String>,
}

/// A published track as the publisher asks for it.
#[derive(Debug, Clone)]
pub struct NewTrack {
    pub cid: String,
    pub kind: Kind,
    pub source: Source,
    pub name: String,
    pub muted: bool,
    pub width: u32,
    pub height: u32,
    pub layers: Vec<Layer>,
    pub simulcast: bool,
    pub stream: String,
    /// The video codec the client publishes with ("vp8", "h264"), lower case.
    pub codec: String,
}

/// Per-room media choices: the defaults, and overrides by room name.
#[derive(Debug, Clone, Default)]
pub struct MediaPolicy {
    pub default: RoomMediaSettings,
    pub rooms: HashMap<String, RoomMediaSettings>,
}

impl MediaPolicy {
    pub fn for_room(&self, name: &str) -> &RoomMediaSettings {
        self.rooms.get(name).unwrap_or(&self.default)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomMediaSettings {
    /// Videos each subscriber receives; `None`: all.
    pub last_n: Option<usize>,
    /// Codecs publishers may use, preferred first.
    pub video_codecs: Vec<VideoCodec>,
}

impl Default for RoomMediaSettings {
    fn default() -> Self {
        Self {
            last_n: None,
            video_codecs: vec![VideoCodec::Vp8, VideoCodec::H264],
        }
    }
}

/// Why a participant is told to leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    DuplicateIdentity,
    RoomClosed,
}

/// What a room tells one member's signalling session.
#[derive(Debug, Clone)]
pub enum RoomEvent {
    /// These participants joined, changed or left (state Disconnected).
    Participants(Vec<Participant>),
    /// This session must end.
    Leave(LeaveReason),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RoomError {
    #[error("the room is full")]
    Full,
    #[error("not allowed to publish")]
    PublishDenied,
    #[error("too many published tracks")]
    TooManyTracks,
    #[error("no such participant")]
    UnknownParticipant,
    #[error("attributes too large: at most {MAX_ATTRIBUTES} keys and {MAX_ATTRIBUTES_BYTES} bytes")]
    AttributesTooLarge,
    #[error("media plane unavailable: {0}")]
    Media(String),
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_participants: usize,
    pub max_tracks_per_participant: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_participants: 100,
            max_tracks_per_participant: 8,
        }
    }
}

/// Everything needed to join.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub identity: String,
    pub name: String,
    pub metadata: String,
    pub permission: Permission,
    pub auto_subscribe: bool,
    pub client_protocol: i32,
}

/// What a new member learns when it joins.
pub struct Joined {
    pub room: Arc<Room>,
    pub me: Participant,
    /// Visible members already present.
    pub others: Vec<Participant>,
    pub events: mpsc::UnboundedReceiver<RoomEvent>,
    pub media_events: mpsc::UnboundedReceiver<MediaEvent>,
}

/// All rooms of this node.
pub struct Rooms {
    sfu: Sfu,
    limits: Limits,
    policy: MediaPolicy,
    rooms: Mutex<HashMap<String, Arc<Room>>>,
}

impl Rooms {
    pub fn new(sfu: Sfu, limits: Limits, policy: MediaPolicy) -> Self {
        Self {
            sfu,
            limits,
            policy,
            rooms: Mutex::new(HashMap::new()),
        }
    }

    /// Join `name`, creating the room if needed.
    pub fn join(self: &Arc<Self>, name: &str, req: JoinRequest) -> Result<Joined, RoomError> {
        // The registry stays locked for the whole join, so a join cannot land
        // in a room that its last member's departure is removing right now
        // (which would split one name into two rooms). Joins take microseconds;
        // the lock order is always registry, then room state.
        let mut rooms = lock(&self.rooms);
        let room = rooms
            .entry(name.to_string())
            .or_insert_with(|| {
                let settings = self.policy.for_room(name).clone();
                let media = self.sfu.create_room();
                media.set_last_n(settings.last_n);
                Arc::new(Room {
                    name: name.to_string(),
                    sid: new_sid("RM_"),
                    created_at: unix_now(),
                    settings,
                    media,
                    limits: self.limits.clone(),
                    rooms: Arc::downgrade(self),
                    state: Mutex::new(RoomState::default()),
                })
            })
            .clone();
        let joined = room.join(req);
        if joined.is_err() && lock(&room.state).members.is_empty() {
            rooms.remove(name);
        }
        joined
    }

    pub fn get(&self, name: &str) -> Option<Arc<Room>> {
        lock(&self.rooms).get(name).cloned()
    }

    /// The media settings a room of this name has or would get.
    pub fn settings_for(&self, name: &str) -> &RoomMediaSettings {
        self.policy.for_room(name)
    }

    fn remove_if_empty(&self, room: &Room) {
        let mut rooms = lock(&self.rooms);
        if let Some(r) = rooms.get(&room.name)
            && std::ptr::eq(Arc::as_ptr(r), room)
            && lock(&r.state).members.is_empty()
        {
            rooms.remove(&room.name);
        }
    }
}

pub struct Room {
    pub name: String,
    pub sid: String,
    pub created_at: i64,
    pub settings: RoomMediaSettings,
    media: RoomMedia,
    limits: Limits,
    rooms: std::sync::Weak<Rooms>,
    state: Mutex<RoomState>,
}

#[derive(Default)]
struct RoomState {
    members: HashMap<PeerId, Member>,
}

struct Member {
    info: Participant,
    auto_subscribe: bool,
    events: mpsc::UnboundedSender<RoomEvent>,
}

pub const MAX_ATTRIBUTES: usize = 32;
pub const MAX_ATTRIBUTES_BYTES: usize = 8 * 1024;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take every later request down with it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The stream and track labels LiveKit-compatible clients expect on a
/// forwarded track: `<participant sid>|<track sid>` and `<track sid>`.
fn labels(participant_sid: &str, track_sid: &str) -> StreamLabels {
    StreamLabels {
        stream_id: format!("{participant_sid}|{track_sid}"),
        track_id: track_sid.to_string(),
    }
}

impl Room {
    pub fn num_participants(&self) -> usize {
        lock(&self.state)
            .members
            .values()
            .filter(|m| !m.info.permission.hidden)
            .count()
    }

    pub fn participants(&self) -> Vec<Participant> {
        lock(&self.state)
            .members
            .values()
            .map(|m| m.info.clone())
            .collect()
    }

    fn join(self: &Arc<Self>, req: JoinRequest) -> Result<Joined, RoomError> {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (media_tx, media_events) = mpsc::unbounded_channel();
        let peer = PeerId(next_id());
        let me = Participant {
            peer,
            sid: new_sid("PA_"),
            identity: req.identity.clone(),
            name: req.name,
            metadata: req.metadata,
            permission: req.permission,
            state: ParticipantState::Joined,
            tracks: Vec::new(),
            joined_at: unix_now(),
            version: 1,
            client_protocol: req.client_protocol,
            attributes: BTreeMap::new(),
        };

        let mut state = lock(&self.state);
        // A second session with the same identity replaces the first.
        let duplicate = state
            .members
            .values()
            .find(|m| m.info.identity == req.identity)
            .map(|m| m.info.peer);
        if let Some(old) = duplicate {
            if let Some(m) = state.members.get(&old) {
                let _ = m
                    .events
                    .send(RoomEvent::Leave(LeaveReason::DuplicateIdentity));
            }
            self.remove_locked(&mut state, old);
        }
        if state.members.len() >= self.limits.max_participants {
            return Err(RoomError::Full);
        }
        self.media
            .add_peer(peer, media_tx)
            .map_err(|e| RoomError::Media(e.to_string()))?;

        let others: Vec<Participant> = state
            .members
            .values()
            .filter(|m| !m.info.permission.hidden)
            .map(|m| m.info.clone())
            .collect();
        if req.auto_subscribe && me.permission.can_subscribe {
            for m in state.members.values() {
                for t in &m.info.tracks {
                    self.media
                        .subscribe(peer, t.id, labels(&m.info.sid, &t.sid));
                }
            }
        }
        if !me.permission.hidden {
            broadcast(&state, peer, RoomEvent::Participants(vec![me.clone()]));
        }
        state.members.insert(
            peer,
            Member {
                info: me.clone(),
                auto_subscribe: req.auto_subscribe,
                events: events_tx,
            },
        );
        drop(state);
        tracing::info!(room = %self.name, identity = %me.identity, sid = %me.sid, "joined");
        Ok(Joined {
            room: self.clone(),
            me,
            others,
            events,
            media_events,
        })
    }

    /// The participant left or its session ended.
    pub fn leave(&self, peer: PeerId) {
        let mut state = lock(&self.state);
        self.remove_locked(&mut state, peer);
        let empty = state.members.is_empty();
        drop(state);
        if empty && let Some(rooms) = self.rooms.upgrade() {
            rooms.remove_if_empty(self);
        }
    }

    fn remove_locked(&self, state: &mut RoomState, peer: PeerId) {
        let Some(mut m) = state.members.remove(&peer) else {
            return;
        };
        self.media.remove_peer(peer);
        tracing::info!(room = %self.name, identity = %m.info.identity, "left");
        if !m.info.permission.hidden {
            m.info.state = ParticipantState::Disconnected;
            m.info.version += 1;
            broadcast(state, peer, RoomEvent::Participants(vec![m.info]));
        }
    }

    /// Publish a track; subscribers are attached at once.
    pub fn add_track(&self, peer: PeerId, new: NewTrack) -> Result<Track, RoomError> {
        let mut state = lock(&self.state);
        let member = state
            .members
            .get_mut(&peer)
            .ok_or(RoomError::UnknownParticipant)?;
        if !member.info.permission.can_publish {
            return Err(RoomError::PublishDenied);
        }
        if member.info.tracks.len() >= self.limits.max_tracks_per_participant {
            return Err(RoomError::TooManyTracks);
        }
        let track = Track {
            id: TrackId(next_id()),
            sid: new_sid("TR_"),
            cid: new.cid,
            kind: new.kind,
            source: new.source,
            name: new.name,
            muted: new.muted,
            width: new.width,
            height: new.height,
            simulcast: new.simulcast,
            mime_type: match (new.kind, new.codec.as_str()) {
                (Kind::Audio, _) => "audio/opus".into(),
                (Kind::Video, "h264") => "video/H264".into(),
                (Kind::Video, _) => "video/VP8".into(),
            },
            layers: new.layers,
            stream: new.stream,
        };
        let mut layers = track.layers.clone();
        layers.sort_by_key(|l| l.width.max(l.height));
        self.media.add_track(
            peer,
            TrackSpec {
                id: track.id,
                cid: track.cid.clone(),
                kind: track.kind,
                layers: layers
                    .iter()
                    .map(|l| LayerSize {
                        width: l.width,
                        height: l.height,
                    })
                    .collect(),
                layer_bitrates: layers.iter().map(|l| l.bitrate).collect(),
                codec: match (track.kind, new.codec.as_str()) {
                    (Kind::Video, "h264") => Some(VideoCodec::H264),
                    (Kind::Video, _) => Some(VideoCodec::Vp8),
                    (Kind::Audio, _) => None,
                },
            },
        );
        member.info.tracks.push(track.clone());
        member.info.version += 1;
        member.info.state = ParticipantState::Active;
        let info = member.info.clone();

        for (other, m) in &state.members {
            if *other != peer && m.auto_subscribe && m.info.permission.can_subscribe {
                self.media
                    .subscribe(*other, track.id, labels(&info.sid, &track.sid));
            }
        }
        if !info.permission.hidden {
            broadcast(&state, peer, RoomEvent::Participants(vec![info]));
        }
        Ok(track)
    }

    /// The publisher stopped publishing a track: subscribers lose it and
    /// everyone is told.
    pub fn unpublish(&self, peer: PeerId, track: TrackId) {
        self.update_member(peer, |info| {
            let before = info.tracks.len();
            info.tracks.retain(|t| t.id != track);
            if info.tracks.len() == before {
                return false;
            }
            // Idempotent on the media side: also right when media ended it first.
            self.media.remove_track(track);
            true
        });
    }

    pub fn set_muted(&self, peer: PeerId, track_sid: &str, muted: bool) {
        self.update_member(peer, |info| {
            match info.tracks.iter_mut().find(|t| t.sid == track_sid) {
                Some(t) if t.muted != muted => {
                    t.muted = muted;
                    true
                }
                _ => false,
            }
        });
    }

    /// A participant changes its own name, metadata or attributes. Attributes
    /// merge into the existing ones; an empty value removes a key.
    pub fn update_self(
        &self,
        peer: PeerId,
        name: Option<String>,
        metadata: Option<String>,
        attributes: Vec<(String, String)>,
    ) -> Result<(), RoomError> {
        let mut result = Ok(());
        self.update_member(peer, |info| {
            let mut next = info.attributes.clone();
            for (k, v) in attributes {
                if v.is_empty() {
                    next.remove(&k);
                } else {
                    next.insert(k, v);
                }
            }
            let size: usize = next.iter().map(|(k, v)| k.len() + v.len()).sum();
            if next.len() > MAX_ATTRIBUTES || size > MAX_ATTRIBUTES_BYTES {
                result = Err(RoomError::AttributesTooLarge);
                return false;
            }
            let mut changed = next != info.attributes;
            info.attributes = next;
            if let Some(n) = name.filter(|n| *n != info.name) {
                info.name = n;
                changed = true;
            }
            if let Some(m) = metadata.filter(|m| *m != info.metadata) {
                info.metadata = m;
                changed = true;
            }
            changed
        });
        result
    }

    /// The session id of a member, for messages that name participants.
    pub fn sid_of(&self, peer: PeerId) -> Option<String> {
        lock(&self.state)
            .members
            .get(&peer)
            .filter(|m| !m.info.permission.hidden)
            .map(|m| m.info.sid.clone())
    }

    /// Apply `change`; if it reports a change, bump the version and tell everyone
    /// (the member itself too, so clients see their own echo).
    fn update_member(&self, peer: PeerId, change: impl FnOnce(&mut Participant) -> bool) {
        let mut state = lock(&self.state);
        let Some(member) = state.members.get_mut(&peer) else {
            return;
        };
        if !change(&mut member.info) {
            return;
        }
        member.info.version += 1;
        let info = member.info.clone();
        if info.permission.hidden {
            return;
        }
        for m in state.members.values() {
            let _ = m.events.send(RoomEvent::Participants(vec![info.clone()]));
        }
    }

    /// What a subscriber wants of the track with `track_sid`.
    pub fn set_wanted(&self, subscriber: PeerId, track_sid: &str, wanted: Wanted) {
        if let Some(id) = self.track_id(track_sid) {
            self.media.set_wanted(subscriber, id, wanted);
        }
    }

    pub fn set_subscribed(&self, subscriber: PeerId, track_sid: &str, subscribe: bool) {
        let state = lock(&self.state);
        let Some(me) = state.members.get(&subscriber) else {
            return;
        };
        if subscribe && !me.info.permission.can_subscribe {
            return;
        }
        let found = state.members.values().find_map(|m| {
            m.info
                .tracks
                .iter()
                .find(|t| t.sid == track_sid)
                .map(|t| (m.info.sid.clone(), t.id))
        });
        if let Some((psid, id)) = found {
            if subscribe {
                self.media
                    .subscribe(subscriber, id, labels(&psid, track_sid));
            } else {
                self.media.unsubscribe(subscriber, id);
            }
        }
    }

    /// The publisher's sid, the track's sid and its mime type.
    pub fn track_by_id(&self, id: TrackId) -> Option<(String, String, String)> {
        lock(&self.state).members.values().find_map(|m| {
            m.info
                .tracks
                .iter()
                .find(|t| t.id == id)
                .map(|t| (m.info.sid.clone(), t.sid.clone(), t.mime_type.clone()))
        })
    }

    fn track_id(&self, track_sid: &str) -> Option<TrackId> {
        lock(&self.state).members.values().find_map(|m| {
            m.info
                .tracks
                .iter()
                .find(|t| t.sid == track_sid)
                .map(|t| t.id)
        })
    }

    /// Deliver a data message to the named identities, or to everyone but the
    /// sender when `to` is empty.
    pub fn send_data(&self, from: PeerId, to: &[String], reliable: bool, payload: Arc<[u8]>) {
        let state = lock(&self.state);
        let peers: Vec<PeerId> = state
            .members
            .iter()
            .filter(|(p, m)| **p != from && (to.is_empty() || to.contains(&m.info.identity)))
            .map(|(p, _)| *p)
            .collect();
        drop(state);
        if !peers.is_empty() {
            self.media.send_data(peers, reliable, payload);
        }
    }

    pub fn media(&self) -> &RoomMedia {
        &self.media
    }
}

fn broadcast(state: &RoomState, except: PeerId, event: RoomEvent) {
    for (p, m) in &state.members {
        if *p != except {
            let _ = m.events.send(event.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_sfu::SfuConfig;

    fn registry(max_participants: usize) -> Arc<Rooms> {
        let sfu = Sfu::start(SfuConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            public_addr: "127.0.0.1:0".parse().unwrap(),
            workers: 1,
            media: Default::default(),
        })
        .unwrap();
        Arc::new(Rooms::new(
            sfu,
            Limits {
                max_participants,
                ..Limits::default()
            },
            MediaPolicy::default(),
        ))
    }

    fn request(identity: &str) -> JoinRequest {
        JoinRequest {
            identity: identity.into(),
            name: identity.into(),
            metadata: String::new(),
            permission: Permission {
                can_publish: true,
                can_subscribe: true,
                can_publish_data: true,
                hidden: false,
            },
            auto_subscribe: true,
            client_protocol: 0,
        }
    }

    #[test]
    fn a_room_lives_while_someone_is_in_it() {
        let rooms = registry(10);
        let a = rooms.join("r", request("a")).unwrap();
        let mut b = rooms.join("r", request("b")).unwrap();
        assert_eq!(b.others.len(), 1);
        assert_eq!(a.room.sid, b.room.sid, "one name, one room");
        a.room.leave(a.me.peer);
        match b.events.try_recv() {
            Ok(RoomEvent::Participants(p)) => {
                assert_eq!(p[0].identity, "a");
                assert_eq!(p[0].state, ParticipantState::Disconnected);
            }
            other => panic!("b should hear that a left: {other:?}"),
        }
        b.room.leave(b.me.peer);
        assert!(rooms.get("r").is_none(), "an empty room is gone");
        let c = rooms.join("r", request("c")).unwrap();
        assert_ne!(c.room.sid, b.room.sid, "a new meeting under the same name");
    }

    #[test]
    fn the_same_identity_replaces_its_older_session() {
        let rooms = registry(10);
        let mut first = rooms.join("r", request("a")).unwrap();
        let second = rooms.join("r", request("a")).unwrap();
        assert!(second.others.is_empty());
        assert!(matches!(
            first.events.try_recv(),
            Ok(RoomEvent::Leave(LeaveReason::DuplicateIdentity))
        ));
        assert_eq!(second.room.participants().len(), 1);
    }

    #[test]
    fn a_full_room_refuses_and_a_refused_first_join_leaves_no_room() {
        let rooms = registry(1);
        let _a = rooms.join("r", request("a")).unwrap();
        assert_eq!(rooms.join("r", request("b")).err(), Some(RoomError::Full));
        let none = registry(0);
        assert_eq!(none.join("q", request("a")).err(), Some(RoomError::Full));
        assert!(none.get("q").is_none());
    }
}
