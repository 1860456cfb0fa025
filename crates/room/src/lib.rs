//! Conference control: rooms, participants, their tracks and permissions.
//!
//! This is the job Jicofo and Prosody's MUC do in Jitsi. A signalling session
//! joins a [`Room`] with an identity and permissions that came from a verified
//! token, and from then on the room:
//! - keeps the participant list with versioned participant records,
//! - tells every member about changes through its [`RoomEvent`] channel,
//! - evicts an older session of the same identity,
//! - turns publications into media-plane subscriptions (auto-subscribe), and
//! - routes data messages to their destinations, and
//! - carries out moderators' decisions ([`admin`]: mute, remove, roles,
//!   metadata; [`roles`] keeps who moderates).
//!
//! Media itself never passes through here: the room drives its
//! [`confab_sfu::RoomMedia`] handle, which lives on a media worker.

pub mod activity;
pub mod admin;
pub mod entry;
mod ids;
pub mod names;
mod roles;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use confab_sfu::{
    Kind, LayerSize, MediaEvent, PeerId, RoomMedia, Sfu, StreamLabels, TrackId, TrackSpec,
    VideoCodec, Wanted,
};
use tokio::sync::{broadcast, mpsc};

pub use activity::Activity;
pub use admin::{RoomInfo, RoomOptions};
use entry::{Entry, EntryBook};
pub use ids::new_sid;
use roles::RoleBook;

/// Attribute keys under this prefix are set by the server only: the role
/// (`confab.role`) and why a participant was removed (`confab.removed_reason`).
pub const RESERVED_ATTRIBUTE_PREFIX: &str = "confab.";
pub const ROLE_ATTRIBUTE: &str = "confab.role";
pub const REMOVED_REASON_ATTRIBUTE: &str = "confab.removed_reason";

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

/// What kind of participant this is, in LiveKit's terms: apps show a phone caller (`Sip`) or a
/// recorder (`Egress`) differently from a person in a browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParticipantKind {
    #[default]
    Standard,
    Ingress,
    Egress,
    Sip,
    Agent,
}

impl ParticipantKind {
    /// The token's `kind` claim: `standard`, `ingress`, `egress`, `sip` or `agent`.
    pub fn from_claim(kind: &str) -> Option<Self> {
        Some(match kind {
            "" | "standard" => Self::Standard,
            "ingress" => Self::Ingress,
            "egress" => Self::Egress,
            "sip" => Self::Sip,
            "agent" => Self::Agent,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Participant {
    pub peer: PeerId,
    pub kind: ParticipantKind,
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
    /// Free-form key/value state participants set on themselves (raised hand,
    /// …), and the server's own keys under [`RESERVED_ATTRIBUTE_PREFIX`].
    pub attributes: BTreeMap<String, String>,
}

impl Participant {
    pub fn is_moderator(&self) -> bool {
        self.attributes.get(ROLE_ATTRIBUTE).map(String::as_str) == Some(MODERATOR)
    }

    fn set_moderator(&mut self, moderator: bool) {
        if moderator {
            self.attributes
                .insert(ROLE_ATTRIBUTE.to_string(), MODERATOR.to_string());
        } else {
            self.attributes.remove(ROLE_ATTRIBUTE);
        }
    }
}

const MODERATOR: &str = "moderator";

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
    /// A moderator (or the room API) removed the participant.
    Removed,
    /// The room was deleted: the meeting ended for everyone.
    RoomDeleted,
}

/// What a room tells one member's signalling session.
#[derive(Debug, Clone)]
pub enum RoomEvent {
    /// These participants joined, changed or left (state Disconnected).
    Participants(Vec<Participant>),
    /// This session must end.
    Leave(LeaveReason),
    /// A moderator muted one of this member's tracks (the client should mute it).
    Mute { track_sid: String, muted: bool },
    /// The room's metadata or limits changed.
    RoomUpdated(RoomInfo),
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
    #[error("no such track")]
    UnknownTrack,
    #[error("attribute keys starting with \"{RESERVED_ATTRIBUTE_PREFIX}\" are set by the server")]
    ReservedAttribute,
    #[error("too many role decisions on record")]
    TooManyRoles,
    #[error("a moderator may mute a track, not unmute it")]
    RemoteUnmute,
    #[error("a moderator removed you from this meeting")]
    Removed,
    #[error(transparent)]
    Name(#[from] names::NameError),
    #[error("the meeting is locked")]
    Locked,
    #[error("this meeting needs a password")]
    PasswordRequired,
    #[error("waiting in the lobby for a moderator")]
    InLobby,
    #[error("no such knock in the lobby")]
    UnknownKnock,
    #[error("too many people are waiting in the lobby")]
    LobbyFull,
    #[error("too many knocks from your address are waiting in this lobby")]
    TooManyKnocks,
    #[error("a password is 1 to {} bytes", entry::MAX_PASSWORD_LEN)]
    BadPassword,
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
    /// The token (or login) makes this participant a moderator.
    pub moderator: bool,
    pub kind: ParticipantKind,
    /// Attributes the token gives; keys the server reserves are dropped, and a set beyond the
    /// attribute limits is dropped whole.
    pub attributes: BTreeMap<String, String>,
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
    activity: broadcast::Sender<Activity>,
    roles: RoleBook,
    entry: EntryBook,
    first_joiner_moderator: bool,
}

impl Rooms {
    pub fn new(sfu: Sfu, limits: Limits, policy: MediaPolicy) -> Self {
        Self {
            sfu,
            limits,
            policy,
            rooms: Mutex::new(HashMap::new()),
            activity: broadcast::channel(activity::BACKLOG).0,
            roles: RoleBook::default(),
            entry: EntryBook::default(),
            first_joiner_moderator: false,
        }
    }

    /// Jitsi's old default: whoever joins a room without a moderator becomes one.
    pub fn with_first_joiner_moderator(mut self, on: bool) -> Self {
        self.first_joiner_moderator = on;
        self
    }

    /// Join `name`, creating the room if needed.
    pub fn join(self: &Arc<Self>, name: &str, mut req: JoinRequest) -> Result<Joined, RoomError> {
        // A token's name is shown as the token says, less what cannot be seen.
        req.name = names::clean(&req.name);
        // Entry is checked where tokens are handed out; this is the backstop
        // for tokens minted before the lobby, password or lock was turned on.
        match self.entry(name, &req.identity, req.moderator) {
            Entry::Open => {}
            Entry::Removed => return Err(RoomError::Removed),
            Entry::Locked => return Err(RoomError::Locked),
            Entry::Password { .. } => return Err(RoomError::PasswordRequired),
            Entry::Lobby => return Err(RoomError::InLobby),
        }
        // The registry stays locked for the whole join, so a join cannot land
        // in a room that its last member's departure is removing right now
        // (which would split one name into two rooms). Joins take microseconds;
        // the lock order is always registry, then room state.
        let mut rooms = lock(&self.rooms);
        let mut started = false;
        let room = rooms
            .entry(name.to_string())
            .or_insert_with(|| {
                started = true;
                self.new_room(name, RoomOptions::default())
            })
            .clone();
        if started {
            self.tell(Activity::RoomStarted(room.info()));
        }
        let joined = room.join(req);
        if joined.is_err() && lock(&room.state).members.is_empty() {
            rooms.remove(name);
            if started {
                self.tell(Activity::RoomFinished(room.info()));
            }
        }
        joined
    }

    /// What happens in this node's rooms from now on.
    pub fn activity(&self) -> broadcast::Receiver<Activity> {
        self.activity.subscribe()
    }

    fn tell(&self, activity: Activity) {
        // Nobody listening is fine: news is not kept.
        let _ = self.activity.send(activity);
    }

    pub fn get(&self, name: &str) -> Option<Arc<Room>> {
        lock(&self.rooms).get(name).cloned()
    }

    /// The media settings a room of this name has or would get.
    pub fn settings_for(&self, name: &str) -> &RoomMediaSettings {
        self.policy.for_room(name)
    }

    fn new_room(self: &Arc<Self>, name: &str, options: RoomOptions) -> Arc<Room> {
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
            state: Mutex::new(RoomState {
                members: HashMap::new(),
                empty_since: Some(Instant::now()),
                options,
                recording: false,
            }),
        })
    }

    /// Remove `room` if it is still the room of its name and has stood empty
    /// for its empty timeout.
    fn remove_if_empty(&self, room: &Room) {
        let mut rooms = lock(&self.rooms);
        if let Some(r) = rooms.get(&room.name)
            && std::ptr::eq(Arc::as_ptr(r), room)
            && lock(&r.state).expired(Instant::now())
        {
            rooms.remove(&room.name);
            drop(rooms);
            // (After the registry's lock: entry is always locked first.)
            self.entry.meeting_ended(&room.name);
            self.tell(Activity::RoomFinished(room.info()));
        }
    }

    /// The room just became empty (or was created empty): remove it now, or
    /// check again once its empty timeout has passed.
    fn emptied(self: &Arc<Self>, room: &Arc<Room>) {
        let timeout = lock(&room.state).options.empty_timeout;
        if timeout.is_zero() {
            self.remove_if_empty(room);
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.remove_if_empty(room);
            return;
        };
        let rooms = Arc::downgrade(self);
        let room = Arc::downgrade(room);
        runtime.spawn(async move {
            // A little past the deadline, so `expired` agrees.
            tokio::time::sleep(timeout + Duration::from_millis(10)).await;
            if let (Some(rooms), Some(room)) = (rooms.upgrade(), room.upgrade()) {
                rooms.remove_if_empty(&room);
            }
        });
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

struct RoomState {
    members: HashMap<PeerId, Member>,
    /// Since when nobody has been in the room.
    empty_since: Option<Instant>,
    options: RoomOptions,
    recording: bool,
}

impl RoomState {
    fn expired(&self, now: Instant) -> bool {
        self.members.is_empty()
            && self
                .empty_since
                .is_none_or(|t| now.saturating_duration_since(t) >= self.options.empty_timeout)
    }
}

struct Member {
    info: Participant,
    auto_subscribe: bool,
    events: mpsc::UnboundedSender<RoomEvent>,
}

pub const MAX_ATTRIBUTES: usize = 32;
/// Hidden participants (recorders) a room takes besides its people.
pub const MAX_HIDDEN: usize = 16;
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
        let mut attributes = req.attributes;
        attributes.retain(|k, _| !k.starts_with(RESERVED_ATTRIBUTE_PREFIX));
        let size: usize = attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
        if attributes.len() > MAX_ATTRIBUTES || size > MAX_ATTRIBUTES_BYTES {
            attributes.clear();
        }
        let mut me = Participant {
            peer,
            kind: req.kind,
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
            attributes,
        };
        let registry = self.rooms.upgrade();
        let decided = registry
            .as_ref()
            .and_then(|r| r.roles.get(&self.name, &req.identity));
        let first_joiner = registry.as_ref().is_some_and(|r| r.first_joiner_moderator);

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
        let max = match state.options.max_participants {
            Some(n) => n.min(self.limits.max_participants),
            None => self.limits.max_participants,
        };
        // Hidden participants (recorders) do not take people's places, so a
        // full meeting can still be recorded; they have a cap of their own.
        let (hidden, visible) = state
            .members
            .values()
            .partition::<Vec<_>, _>(|m| m.info.permission.hidden);
        let full = if me.permission.hidden {
            hidden.len() >= MAX_HIDDEN
        } else {
            visible.len() >= max
        };
        if full {
            return Err(RoomError::Full);
        }
        let moderator = decided.unwrap_or(req.moderator)
            || (first_joiner
                && decided.is_none()
                && !state.members.values().any(|m| m.info.is_moderator()));
        me.set_moderator(moderator);
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
        state.empty_since = None;
        if !me.permission.hidden {
            self.tell(Activity::ParticipantJoined(
                self.info_locked(&state),
                me.clone(),
            ));
        }
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
    pub fn leave(self: &Arc<Self>, peer: PeerId) {
        let mut state = lock(&self.state);
        if !state.members.contains_key(&peer) {
            return;
        }
        self.remove_locked(&mut state, peer);
        let empty = state.members.is_empty();
        if empty {
            state.empty_since = Some(Instant::now());
        }
        drop(state);
        if empty && let Some(rooms) = self.rooms.upgrade() {
            rooms.emptied(self);
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
            broadcast(state, peer, RoomEvent::Participants(vec![m.info.clone()]));
            self.tell(Activity::ParticipantLeft(self.info_locked(state), m.info));
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
            broadcast(&state, peer, RoomEvent::Participants(vec![info.clone()]));
            self.tell(Activity::TrackPublished(
                self.info_locked(&state),
                info,
                track.clone(),
            ));
        }
        Ok(track)
    }

    /// The publisher stopped publishing a track: subscribers lose it and
    /// everyone is told.
    pub fn unpublish(&self, peer: PeerId, track: TrackId) {
        let mut removed = None;
        self.update_member(peer, |info| {
            let Some(at) = info.tracks.iter().position(|t| t.id == track) else {
                return false;
            };
            removed = Some(info.tracks.remove(at));
            // Idempotent on the media side: also right when media ended it first.
            self.media.remove_track(track);
            true
        });
        if let Some(track) = removed {
            let state = lock(&self.state);
            if let Some(m) = state.members.get(&peer)
                && !m.info.permission.hidden
            {
                let activity =
                    Activity::TrackUnpublished(self.info_locked(&state), m.info.clone(), track);
                drop(state);
                self.tell(activity);
            }
        }
    }

    fn tell(&self, activity: Activity) {
        if let Some(rooms) = self.rooms.upgrade() {
            rooms.tell(activity);
        }
    }

    /// The publisher muted or unmuted its own track. A muted track's packets
    /// stop at the bridge, so one muted by a moderator stays silent until its
    /// publisher unmutes it.
    pub fn set_muted(&self, peer: PeerId, track_sid: &str, muted: bool) {
        self.update_member(peer, |info| {
            match info.tracks.iter_mut().find(|t| t.sid == track_sid) {
                Some(t) if t.muted != muted => {
                    t.muted = muted;
                    self.media.set_track_muted(t.id, muted);
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
        if attributes
            .iter()
            .any(|(k, _)| k.starts_with(RESERVED_ATTRIBUTE_PREFIX))
        {
            return Err(RoomError::ReservedAttribute);
        }
        if let Some(n) = &name {
            names::check(n)?;
        }
        let name = name.map(|n| n.trim().to_string());
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

    /// A member's current permission (moderators may change it).
    pub fn permission(&self, peer: PeerId) -> Option<Permission> {
        lock(&self.state)
            .members
            .get(&peer)
            .map(|m| m.info.permission.clone())
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
pub(crate) mod tests {
    use super::*;
    use confab_sfu::SfuConfig;

    pub(crate) fn registry(max_participants: usize) -> Arc<Rooms> {
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

    /// A plain microphone track, as a client announces it.
    pub(crate) fn microphone() -> NewTrack {
        NewTrack {
            cid: "mic".into(),
            kind: Kind::Audio,
            source: Source::Microphone,
            name: String::new(),
            muted: false,
            width: 0,
            height: 0,
            layers: vec![],
            simulcast: false,
            stream: String::new(),
            codec: String::new(),
        }
    }

    pub(crate) fn request(identity: &str) -> JoinRequest {
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
            moderator: false,
            kind: ParticipantKind::Standard,
            attributes: BTreeMap::new(),
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
        // A recorder still gets in: hidden participants take nobody's place.
        let mut recorder = request("rec");
        recorder.permission.hidden = true;
        assert!(rooms.join("r", recorder).is_ok());
        let none = registry(0);
        assert_eq!(none.join("q", request("a")).err(), Some(RoomError::Full));
        assert!(none.get("q").is_none());
    }

    fn moderator(identity: &str) -> JoinRequest {
        JoinRequest {
            moderator: true,
            ..request(identity)
        }
    }

    fn drain(events: &mut mpsc::UnboundedReceiver<RoomEvent>) -> Vec<RoomEvent> {
        std::iter::from_fn(|| events.try_recv().ok()).collect()
    }

    #[test]
    fn a_tokens_kind_and_attributes_are_kept_but_not_the_servers_own_keys() {
        let rooms = registry(10);
        let phone = JoinRequest {
            kind: ParticipantKind::Sip,
            attributes: BTreeMap::from([
                ("sip.phoneNumber".into(), "+15551234".into()),
                (ROLE_ATTRIBUTE.into(), "moderator".into()),
            ]),
            ..request("sip_1")
        };
        let joined = rooms.join("r", phone).unwrap();
        assert_eq!(joined.me.kind, ParticipantKind::Sip);
        assert_eq!(
            joined.me.attributes,
            BTreeMap::from([("sip.phoneNumber".into(), "+15551234".into())])
        );
        assert!(
            !joined.me.is_moderator(),
            "a role only comes from the token's grant"
        );
        let flood = JoinRequest {
            attributes: (0..=MAX_ATTRIBUTES)
                .map(|i| (format!("k{i}"), "v".into()))
                .collect(),
            ..request("many")
        };
        assert!(rooms.join("r", flood).unwrap().me.attributes.is_empty());
        assert_eq!(
            ParticipantKind::from_claim("sip"),
            Some(ParticipantKind::Sip)
        );
        assert_eq!(ParticipantKind::from_claim("robot"), None);
    }

    #[test]
    fn the_role_comes_from_the_token_and_a_moderators_decision_outlasts_reconnects() {
        let rooms = registry(10);
        let m = rooms.join("r", moderator("mod")).unwrap();
        let g = rooms.join("r", request("guest")).unwrap();
        assert!(m.me.is_moderator());
        assert!(!g.me.is_moderator());
        assert!(rooms.is_moderator("r", "mod", false));
        assert!(!rooms.is_moderator("r", "guest", false));

        let grant = admin::ParticipantChange {
            attributes: vec![(ROLE_ATTRIBUTE.into(), "moderator".into())],
            ..Default::default()
        };
        let p = m.room.update_participant("guest", grant).unwrap();
        assert!(p.is_moderator());
        g.room.leave(g.me.peer);
        let again = rooms.join("r", request("guest")).unwrap();
        assert!(again.me.is_moderator(), "the grant survives a reconnect");

        let revoke = admin::ParticipantChange {
            attributes: vec![(ROLE_ATTRIBUTE.into(), String::new())],
            ..Default::default()
        };
        m.room.update_participant("mod", revoke).unwrap();
        m.room.leave(m.me.peer);
        let back = rooms.join("r", moderator("mod")).unwrap();
        assert!(!back.me.is_moderator(), "a revocation outranks the token");
    }

    #[test]
    fn the_first_joiner_moderates_only_when_configured() {
        let plain = registry(10);
        assert!(!plain.join("r", request("a")).unwrap().me.is_moderator());
        let sfu_rooms = Arc::try_unwrap(registry(10))
            .ok()
            .unwrap()
            .with_first_joiner_moderator(true);
        let rooms = Arc::new(sfu_rooms);
        assert!(rooms.join("r", request("a")).unwrap().me.is_moderator());
        assert!(!rooms.join("r", request("b")).unwrap().me.is_moderator());
    }

    #[test]
    fn participants_cannot_set_server_attributes() {
        let rooms = registry(10);
        let a = rooms.join("r", request("a")).unwrap();
        assert_eq!(
            a.room.update_self(
                a.me.peer,
                None,
                None,
                vec![(ROLE_ATTRIBUTE.into(), "moderator".into())]
            ),
            Err(RoomError::ReservedAttribute)
        );
        assert!(!rooms.is_moderator("r", "a", false));
    }

    #[test]
    fn a_removed_participant_stays_out_until_the_meeting_ends() {
        let rooms = registry(10);
        let a = rooms.join("r", moderator("a")).unwrap();
        let _b = rooms.join("r", moderator("b")).unwrap();
        let _c = rooms.join("r", request("c")).unwrap();
        a.room.remove_participant("c", None).unwrap();
        a.room.remove_participant("b", None).unwrap();
        // The same tokens again: refused, a moderator's token included.
        assert_eq!(rooms.entry("r", "c", false), Entry::Removed);
        assert_eq!(
            rooms.join("r", request("c")).err(),
            Some(RoomError::Removed)
        );
        assert_eq!(
            rooms.join("r", moderator("b")).err(),
            Some(RoomError::Removed)
        );
        // Others still come in.
        let d = rooms.join("r", request("d")).unwrap();
        // Once everyone has left, the next meeting of that name lets them in.
        a.room.leave(a.me.peer);
        d.room.leave(d.me.peer);
        assert!(rooms.get("r").is_none(), "the meeting ended");
        assert!(rooms.join("r", request("c")).is_ok());
    }

    #[test]
    fn a_removed_participant_learns_why_and_the_others_see_it_go() {
        let rooms = registry(10);
        let mut a = rooms.join("r", moderator("a")).unwrap();
        let mut b = rooms.join("r", request("b")).unwrap();
        drain(&mut a.events);
        a.room
            .remove_participant("b", Some("please use a headset"))
            .unwrap();
        let told = drain(&mut b.events);
        match &told[..] {
            [
                RoomEvent::Participants(p),
                RoomEvent::Leave(LeaveReason::Removed),
            ] => assert_eq!(
                p[0].attributes
                    .get(REMOVED_REASON_ATTRIBUTE)
                    .map(String::as_str),
                Some("please use a headset")
            ),
            other => panic!("b should be told why, then to leave: {other:?}"),
        }
        let seen = drain(&mut a.events);
        assert!(matches!(&seen[..], [RoomEvent::Participants(p)]
            if p[0].state == ParticipantState::Disconnected
                && !p[0].attributes.contains_key(REMOVED_REASON_ATTRIBUTE)));
        assert_eq!(
            a.room.remove_participant("b", None),
            Err(RoomError::UnknownParticipant)
        );
    }

    #[test]
    fn a_moderator_mutes_but_does_not_unmute() {
        let rooms = registry(10);
        let a = rooms.join("r", moderator("a")).unwrap();
        let mut b = rooms.join("r", request("b")).unwrap();
        let track = a.room.add_track(b.me.peer, microphone()).unwrap();
        drain(&mut b.events);
        assert_eq!(
            a.room.mute_track("b", &track.sid, false),
            Err(RoomError::RemoteUnmute)
        );
        assert_eq!(
            a.room.mute_track("b", "TR_nope", true),
            Err(RoomError::UnknownTrack)
        );
        assert!(a.room.mute_track("b", &track.sid, true).unwrap().muted);
        let told = drain(&mut b.events);
        assert!(told.iter().any(|e| matches!(e,
            RoomEvent::Mute { track_sid, muted: true } if *track_sid == track.sid)));
        assert!(a.room.participant("b").unwrap().tracks[0].muted);
    }

    #[test]
    fn deleting_a_room_ends_the_meeting_for_everyone() {
        let rooms = registry(10);
        let mut a = rooms.join("r", request("a")).unwrap();
        assert!(rooms.delete("r"));
        assert!(matches!(
            drain(&mut a.events).last(),
            Some(RoomEvent::Leave(LeaveReason::RoomDeleted))
        ));
        assert!(rooms.get("r").is_none());
        assert!(!rooms.delete("r"));
    }

    #[tokio::test]
    async fn a_created_room_waits_for_its_empty_timeout() {
        let rooms = registry(10);
        let room = rooms.create(
            "planned",
            RoomOptions {
                empty_timeout: Duration::from_millis(200),
                max_participants: Some(1),
                metadata: "agenda".into(),
            },
        );
        assert_eq!(room.info().metadata, "agenda");
        assert_eq!(room.info().max_participants, 1);
        let a = rooms.join("planned", request("a")).unwrap();
        assert_eq!(a.room.sid, room.sid);
        assert_eq!(
            rooms.join("planned", request("b")).err(),
            Some(RoomError::Full)
        );
        a.room.leave(a.me.peer);
        assert!(
            rooms.get("planned").is_some(),
            "kept while the timeout runs"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(rooms.get("planned").is_none(), "gone after it");
    }
}
