//! Writing moderators' decisions through to the store, and reading a room's
//! back the first time it is used after a start. A store that fails is
//! logged and the meeting goes on: the decision still holds in memory.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::AppState;

/// Rooms whose stored settings were read since the start. Bounded: when it
/// is full it starts over, which only costs a re-read.
#[derive(Default)]
pub struct Loaded {
    rooms: Mutex<HashSet<String>>,
}

const MAX_LOADED: usize = 10_000;

impl Loaded {
    fn rooms(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record `room` as read; false if another request got there first.
    fn mark(&self, room: &str) -> bool {
        let mut rooms = self.rooms();
        if rooms.len() >= MAX_LOADED {
            rooms.clear();
        }
        rooms.insert(room.to_string())
    }
}

/// Make sure `room`'s stored entry options and roles are in force before anyone is
/// let in: a request that finds the room unread waits for its own read, and
/// only the first read to finish is applied (a later one could be older than
/// a change made in between). A failed read is tried again next time.
pub(crate) async fn load_room(state: &AppState, room: &str) {
    if state.loaded.rooms().contains(room) {
        return;
    }
    match state.store.room(room).await {
        Ok(record) => {
            if !state.loaded.mark(room) {
                return;
            }
            if let Some(r) = record
                && let Err(e) =
                    state
                        .rooms
                        .restore(room, r.lobby, r.locked, r.password_hash, &r.roles)
            {
                tracing::warn!(%room, "stored settings not restored: {e}");
            }
        }
        Err(e) => tracing::warn!(%room, "cannot read the room's stored settings: {e}"),
    }
}

pub(crate) async fn save_entry(state: &AppState, room: &str) {
    let (lobby, locked, hash) = state.rooms.entry_record(room);
    if let Err(e) = state
        .store
        .save_entry(room, lobby, locked, hash.as_deref())
        .await
    {
        tracing::warn!(%room, "cannot store the room's entry options: {e}");
    }
}

pub(crate) async fn save_role(state: &AppState, room: &str, identity: &str, moderator: bool) {
    if let Err(e) = state.store.save_role(room, identity, moderator).await {
        tracing::warn!(%room, "cannot store a role: {e}");
    }
}

pub(crate) async fn forget_room(state: &AppState, room: &str) {
    if let Err(e) = state.store.forget_room(room).await {
        tracing::warn!(%room, "cannot forget the room's stored settings: {e}");
    }
}

/// One moderator or room-API action: logged, and a line in the audit log
/// (who did what to whom; never a password or token).
pub(crate) async fn audit(
    state: &AppState,
    room: &str,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) {
    tracing::info!(%room, %actor, %action, %target, %detail, "moderator action");
    if let Err(e) = state.store.audit(room, actor, action, target, detail).await {
        tracing::warn!(%room, "cannot write the audit log: {e}");
    }
}

/// Recording jobs kept across restarts: read back (jobs a crash cut short are
/// marked failed), then every change written through as it happens. Runs
/// for the server's life.
pub async fn keep_recordings(state: std::sync::Arc<AppState>) {
    /// Jobs read back at a start; older ones stay in the database only.
    const RESTORED: i64 = 1000;
    let mut updates = state.recorder.updates();
    match state.store.recordings(RESTORED).await {
        Ok(saved) => {
            let infos = saved
                .iter()
                .filter_map(|json| serde_json::from_str(json).ok())
                .collect();
            for info in state.recorder.restore(infos) {
                save_recording(&state, &info).await;
            }
        }
        Err(e) => tracing::warn!("cannot read recordings from the store: {e}"),
    }
    loop {
        match updates.recv().await {
            Ok(update) => save_recording(&state, &update.info).await,
            // Fell behind: the recorder's own list is the truth; store all of it.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                for info in state.recorder.list(&Default::default()) {
                    save_recording(&state, &info).await;
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn save_recording(state: &AppState, info: &livekit_protocol::EgressInfo) {
    let active = confab_record::job::is_running(info.status);
    let json = match serde_json::to_string(info) {
        Ok(j) => j,
        Err(e) => return tracing::warn!("cannot store recording {}: {e}", info.egress_id),
    };
    if let Err(e) = state
        .store
        .save_recording(
            &info.egress_id,
            &info.room_name,
            active,
            info.updated_at,
            &json,
        )
        .await
    {
        tracing::warn!("cannot store recording {}: {e}", info.egress_id);
    }
}
