//! What moderators and the room API do to rooms: create, list and delete
//! them, mute, remove and update participants, grant and revoke the moderator
//! role, change room metadata, and send data as the server.
//!
//! These only act. Whether the caller may is decided before, from its
//! verified token and [`Rooms::is_moderator`].

use std::sync::Arc;
use std::time::Duration;

use confab_sfu::PeerId;

use crate::entry::{Entry, EntryChange, EntrySettings, KnockView, Ticket, Verdict};
use crate::{
    Activity, LeaveReason, Participant, Permission, REMOVED_REASON_ATTRIBUTE,
    RESERVED_ATTRIBUTE_PREFIX, ROLE_ATTRIBUTE, Room, RoomError, RoomEvent, RoomState, Rooms, Track,
    lock,
};

/// The longest reason shown to a removed or denied participant.
pub const MAX_REASON_LEN: usize = 256;

/// How a room created through the API behaves; rooms created by a join use
/// the defaults (gone as soon as the last participant leaves).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomOptions {
    /// How long the room stays while nobody is in it.
    pub empty_timeout: Duration,
    /// Below the server's own cap; `None`: the server's cap.
    pub max_participants: Option<usize>,
    pub metadata: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    pub sid: String,
    pub name: String,
    pub metadata: String,
    pub created_at: i64,
    pub num_participants: usize,
    pub num_publishers: usize,
    pub max_participants: usize,
    pub empty_timeout: Duration,
    /// A room composite recording is active.
    pub recording: bool,
}

/// A change to another participant; `None` and empty leave a field alone.
#[derive(Debug, Clone, Default)]
pub struct ParticipantChange {
    pub name: Option<String>,
    pub metadata: Option<String>,
    /// Merged into the participant's attributes; an empty value removes a
    /// key. `confab.role` = `moderator` grants the role, empty revokes it.
    pub attributes: Vec<(String, String)>,
    pub permission: Option<Permission>,
}

impl Rooms {
    /// Create a room ahead of its participants; an existing room is returned
    /// as it is.
    pub fn create(self: &Arc<Self>, name: &str, options: RoomOptions) -> Arc<Room> {
        let mut rooms = lock(&self.rooms);
        if let Some(room) = rooms.get(name) {
            return room.clone();
        }
        let room = self.new_room(name, options);
        rooms.insert(name.to_string(), room.clone());
        drop(rooms);
        tracing::info!(room = %name, "room created");
        self.tell(Activity::RoomStarted(room.info()));
        self.emptied(&room);
        room
    }

    /// Every room of this node, by name.
    pub fn list(&self) -> Vec<Arc<Room>> {
        let mut rooms: Vec<_> = lock(&self.rooms).values().cloned().collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        rooms
    }

    /// End the meeting for everyone in it. False if there was no such room.
    pub fn delete(&self, name: &str) -> bool {
        let Some(room) = lock(&self.rooms).remove(name) else {
            return false;
        };
        self.roles.forget_room(name);
        self.entry.forget(name);
        let mut state = lock(&room.state);
        let members: Vec<PeerId> = state.members.keys().copied().collect();
        for peer in members {
            if let Some(m) = state.members.get(&peer) {
                let _ = m.events.send(RoomEvent::Leave(LeaveReason::RoomDeleted));
            }
            room.remove_locked(&mut state, peer);
        }
        let info = room.info_locked(&state);
        drop(state);
        tracing::info!(room = %name, "room deleted");
        self.tell(Activity::RoomFinished(info));
        true
    }

    /// Whether `identity` moderates `room`: as a moderator decided, else as
    /// its current token says (`token_says`) or its token said when it joined.
    pub fn is_moderator(&self, room: &str, identity: &str, token_says: bool) -> bool {
        if let Some(decided) = self.roles.get(room, identity) {
            return decided;
        }
        token_says
            || self
                .get(room)
                .and_then(|r| r.participant(identity))
                .is_some_and(|p| p.is_moderator())
    }
}

/// Room entry: the lobby, password and lock (see [`crate::entry`]).
impl Rooms {
    /// How `identity` may enter `room` now.
    pub fn entry(&self, room: &str, identity: &str, moderator: bool) -> Entry {
        let entry = self.entry.entry(room, identity);
        let moderator = self.roles.get(room, identity).unwrap_or(moderator);
        if moderator && entry != Entry::Removed {
            Entry::Open
        } else {
            entry
        }
    }

    pub fn entry_settings(&self, room: &str) -> EntrySettings {
        self.entry.settings(room)
    }

    /// Turn the lobby, password or lock on or off; whoever is inside stays
    /// admitted.
    pub fn change_entry(
        &self,
        room: &str,
        change: EntryChange,
    ) -> Result<EntrySettings, RoomError> {
        let inside: Vec<String> = self
            .get(room)
            .map(|r| r.participants().into_iter().map(|p| p.identity).collect())
            .unwrap_or_default();
        let live = |name: &str| self.get(name).is_some();
        self.entry.change(room, change, &inside, &live)
    }

    /// Check a password (slow: argon2); the right one admits `identity`.
    pub fn try_password(
        &self,
        room: &str,
        identity: &str,
        password: &str,
    ) -> Result<bool, RoomError> {
        self.entry.try_password(room, identity, password)
    }

    pub fn knock(
        &self,
        room: &str,
        identity: &str,
        name: &str,
        from: std::net::IpAddr,
    ) -> Result<String, RoomError> {
        self.entry.knock(room, identity, name, from)
    }

    /// Deny everyone waiting in the lobby; returns how many there were.
    pub fn deny_all(&self, room: &str, reason: Option<String>) -> usize {
        self.entry.deny_all(room, reason)
    }

    pub fn knocks(&self, room: &str) -> Vec<KnockView> {
        self.entry.knocks(room)
    }

    /// Admit or deny the knock `id`; returns the knocker's name.
    pub fn decide(&self, room: &str, id: &str, verdict: Verdict) -> Result<String, RoomError> {
        self.entry.decide(room, id, verdict)
    }

    /// The entry options as the store keeps them: lobby, lock and password
    /// hash.
    pub fn entry_record(&self, room: &str) -> (bool, bool, Option<String>) {
        self.entry.record(room)
    }

    /// Put back a room's entry options and moderator decisions read from the
    /// store.
    pub fn restore(
        &self,
        room: &str,
        lobby: bool,
        locked: bool,
        password_hash: Option<String>,
        roles: &[(String, bool)],
    ) -> Result<(), RoomError> {
        let live = |name: &str| self.get(name).is_some();
        self.entry
            .restore(room, lobby, locked, password_hash, &live)?;
        for (identity, moderator) in roles {
            self.roles.set(room, identity, *moderator)?;
        }
        Ok(())
    }

    /// Wait up to `timeout` for the verdict on the knock with `ticket`.
    pub async fn wait_for_verdict(
        &self,
        room: &str,
        ticket: &str,
        timeout: Duration,
    ) -> Option<Ticket> {
        self.entry.wait(room, ticket, timeout).await
    }
}

impl Room {
    pub fn info(&self) -> RoomInfo {
        self.info_locked(&lock(&self.state))
    }

    pub(crate) fn info_locked(&self, state: &RoomState) -> RoomInfo {
        let visible = || state.members.values().filter(|m| !m.info.permission.hidden);
        RoomInfo {
            sid: self.sid.clone(),
            name: self.name.clone(),
            metadata: state.options.metadata.clone(),
            created_at: self.created_at,
            num_participants: visible().count(),
            num_publishers: visible().filter(|m| !m.info.tracks.is_empty()).count(),
            max_participants: state
                .options
                .max_participants
                .unwrap_or(self.limits.max_participants)
                .min(self.limits.max_participants),
            empty_timeout: state.options.empty_timeout,
            recording: state.recording,
        }
    }

    pub fn participant(&self, identity: &str) -> Option<Participant> {
        lock(&self.state)
            .members
            .values()
            .find(|m| m.info.identity == identity)
            .map(|m| m.info.clone())
    }

    fn peer_of(&self, identity: &str) -> Result<PeerId, RoomError> {
        lock(&self.state)
            .members
            .values()
            .find(|m| m.info.identity == identity)
            .map(|m| m.info.peer)
            .ok_or(RoomError::UnknownParticipant)
    }

    /// Remove a participant; `reason` is shown to it (and only to it).
    pub fn remove_participant(
        self: &Arc<Self>,
        identity: &str,
        reason: Option<&str>,
    ) -> Result<(), RoomError> {
        let peer = self.peer_of(identity)?;
        let state = lock(&self.state);
        if let Some(m) = state.members.get(&peer) {
            // The reason goes to the removed participant alone, as an update
            // of itself just before the leave (one ordered channel).
            if let Some(reason) = reason.map(str::trim).filter(|r| !r.is_empty()) {
                let mut told = m.info.clone();
                told.attributes.insert(
                    REMOVED_REASON_ATTRIBUTE.to_string(),
                    reason.chars().take(MAX_REASON_LEN).collect(),
                );
                told.version += 1;
                let _ = m.events.send(RoomEvent::Participants(vec![told]));
            }
            let _ = m.events.send(RoomEvent::Leave(LeaveReason::Removed));
        }
        drop(state);
        if let Some(rooms) = self.rooms.upgrade() {
            let live = |name: &str| rooms.get(name).is_some();
            rooms.entry.remove(&self.name, identity, &live)?;
        }
        self.leave(peer);
        Ok(())
    }

    /// A moderator mutes a participant's track: it is marked muted for
    /// everyone, its packets stop at the bridge, and its publisher is asked
    /// to mute it. Unmuting stays the publisher's own decision.
    pub fn mute_track(
        &self,
        identity: &str,
        track_sid: &str,
        muted: bool,
    ) -> Result<Track, RoomError> {
        if !muted {
            return Err(RoomError::RemoteUnmute);
        }
        let peer = self.peer_of(identity)?;
        let mut found = None;
        self.update_member(peer, |info| {
            let Some(t) = info.tracks.iter_mut().find(|t| t.sid == track_sid) else {
                return false;
            };
            found = Some(t.clone());
            if t.muted {
                return false;
            }
            t.muted = true;
            found = Some(t.clone());
            true
        });
        let track = found.ok_or(RoomError::UnknownTrack)?;
        self.media.set_track_muted(track.id, true);
        if let Some(m) = lock(&self.state).members.get(&peer) {
            let _ = m.events.send(RoomEvent::Mute {
                track_sid: track.sid.clone(),
                muted: true,
            });
        }
        Ok(track)
    }

    /// Change another participant's name, metadata, attributes, permission
    /// or role. A revoked publish permission unpublishes its tracks; a
    /// revoked subscribe permission ends its subscriptions.
    pub fn update_participant(
        &self,
        identity: &str,
        change: ParticipantChange,
    ) -> Result<Participant, RoomError> {
        let mut role = None;
        for (k, v) in &change.attributes {
            if k == ROLE_ATTRIBUTE {
                role = Some(!v.is_empty());
            } else if k.starts_with(RESERVED_ATTRIBUTE_PREFIX) {
                return Err(RoomError::ReservedAttribute);
            }
        }
        if let Some(n) = &change.name {
            crate::names::check(n)?;
        }
        let peer = self.peer_of(identity)?;
        if let (Some(moderator), Some(rooms)) = (role, self.rooms.upgrade()) {
            rooms.roles.set(&self.name, identity, moderator)?;
        }
        let mut refused = None;
        let mut unsubscribe = false;
        self.update_member(peer, |info| {
            let mut next = info.attributes.clone();
            for (k, v) in change.attributes {
                if k == ROLE_ATTRIBUTE {
                    continue;
                }
                if v.is_empty() {
                    next.remove(&k);
                } else {
                    next.insert(k, v);
                }
            }
            let size: usize = next.iter().map(|(k, v)| k.len() + v.len()).sum();
            if next.len() > crate::MAX_ATTRIBUTES || size > crate::MAX_ATTRIBUTES_BYTES {
                refused = Some(RoomError::AttributesTooLarge);
                return false;
            }
            let before = info.clone();
            info.attributes = next;
            if let Some(moderator) = role {
                info.set_moderator(moderator);
            }
            if let Some(n) = change.name.filter(|n| !n.is_empty()) {
                info.name = n;
            }
            if let Some(m) = change.metadata.filter(|m| !m.is_empty()) {
                info.metadata = m;
            }
            if let Some(p) = change.permission {
                if !p.can_publish {
                    for t in info.tracks.drain(..) {
                        self.media.remove_track(t.id);
                    }
                }
                unsubscribe = info.permission.can_subscribe && !p.can_subscribe;
                // Hiding or showing a present participant would need every
                // client to see it join or leave; visibility stays as joined.
                info.permission = Permission {
                    hidden: info.permission.hidden,
                    ..p
                };
            }
            *info != before
        });
        if let Some(e) = refused {
            return Err(e);
        }
        if unsubscribe {
            let state = lock(&self.state);
            for m in state.members.values() {
                for t in &m.info.tracks {
                    self.media.unsubscribe(peer, t.id);
                }
            }
        }
        self.participant(identity)
            .ok_or(RoomError::UnknownParticipant)
    }

    /// Whether the meeting is being recorded (a room composite recording is
    /// active); everyone in it is told when that changes, which LiveKit
    /// clients show as `room.isRecording`.
    pub fn set_recording(&self, recording: bool) {
        let mut state = lock(&self.state);
        if state.recording == recording {
            return;
        }
        state.recording = recording;
        let info = self.info_locked(&state);
        for m in state.members.values() {
            let _ = m.events.send(RoomEvent::RoomUpdated(info.clone()));
        }
    }

    /// Replace the room's metadata; everyone in it is told.
    pub fn set_metadata(&self, metadata: String) -> RoomInfo {
        lock(&self.state).options.metadata = metadata;
        let info = self.info();
        for m in lock(&self.state).members.values() {
            let _ = m.events.send(RoomEvent::RoomUpdated(info.clone()));
        }
        info
    }

    /// Deliver a data message from the server (no sending participant) to
    /// the named identities, or to everyone when `to` is empty.
    pub fn send_server_data(&self, to: &[String], reliable: bool, payload: Arc<[u8]>) {
        let state = lock(&self.state);
        let peers: Vec<PeerId> = state
            .members
            .iter()
            .filter(|(_, m)| to.is_empty() || to.contains(&m.info.identity))
            .map(|(p, _)| *p)
            .collect();
        drop(state);
        if !peers.is_empty() {
            self.media.send_data(peers, reliable, payload);
        }
    }
}
