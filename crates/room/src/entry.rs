//! Room entry: the lobby, the password and the lock, which decide how
//! newcomers may enter a room.
//!
//! Each keeps non-moderators out until they are *admitted*: by a
//! moderator from the lobby, by the right password, or by being inside when
//! it was turned on. Admission is kept by identity, so an admitted person's
//! reload or reconnect is not stopped again. Moderators are never stopped.
//!
//! The lobby is a list of knocks. A knock has a random ticket that only the
//! knocking browser knows; it asks for its verdict with that ticket, and a
//! knock nobody asks about for [`KNOCK_STALE`] has left and is dropped (one
//! never asked about at all, within [`KNOCK_FIRST_POLL`]: a browser asks at
//! once, a script that only knocks does not). One address may keep
//! [`MAX_KNOCKS_PER_ADDRESS`] knocks waiting per room, so anonymous knocks
//! from one place cannot fill the lobby before a real guest arrives, and a
//! moderator can clear the lobby in one go.
//!
//! Settings live by room name, beside the room, so a moderator's reload of
//! an otherwise empty room does not turn them off. Bounded in memory.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use tokio::sync::Notify;

use crate::{RoomError, lock, new_sid};

/// A knock whose browser stopped asking for this long has gone away.
pub const KNOCK_STALE: Duration = Duration::from_secs(30);
/// A knock whose browser has not asked once by then was never a browser.
pub const KNOCK_FIRST_POLL: Duration = Duration::from_secs(10);
pub const MAX_KNOCKS: usize = 100;
/// Knocks waiting at once from one address, per room: a family or a
/// meeting room sharing one connection, not a script.
pub const MAX_KNOCKS_PER_ADDRESS: usize = 5;
pub const MAX_PASSWORD_LEN: usize = 128;
const MAX_ROOMS: usize = 10_000;
const MAX_ADMITTED: usize = 10_000;

/// How a newcomer may enter a room now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A moderator removed this person: kept out for the rest of the meeting,
    /// whatever its token says.
    Removed,
    Open,
    Locked,
    Password {
        lobby: bool,
    },
    Lobby,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Waiting,
    Admitted,
    Denied(Option<String>),
}

/// A knock as moderators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnockView {
    pub id: String,
    pub name: String,
    pub waiting: Duration,
}

/// A knock as its own browser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub identity: String,
    pub name: String,
    pub verdict: Verdict,
}

/// A room's entry options as moderators see them (never the password).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntrySettings {
    pub lobby: bool,
    pub locked: bool,
    pub has_password: bool,
}

struct Knock {
    /// Shown to moderators; they admit or deny by it.
    id: String,
    /// The knocking browser's secret.
    ticket: String,
    identity: String,
    name: String,
    /// Where it knocked from.
    from: IpAddr,
    since: Instant,
    /// When its browser last asked; `None` until it first does.
    last_poll: Option<Instant>,
    verdict: Verdict,
}

/// One room's entry options and who was admitted past them.
#[derive(Default)]
struct RoomEntry {
    lobby: bool,
    locked: bool,
    password_hash: Option<String>,
    admitted: HashSet<String>,
    /// Removed by a moderator during the current meeting.
    removed: HashSet<String>,
    knocks: Vec<Knock>,
}

impl RoomEntry {
    fn entry(&self, identity: &str) -> Entry {
        if self.removed.contains(identity) {
            return Entry::Removed;
        }
        if self.admitted.contains(identity) {
            return Entry::Open;
        }
        if self.locked {
            Entry::Locked
        } else if self.password_hash.is_some() {
            Entry::Password { lobby: self.lobby }
        } else if self.lobby {
            Entry::Lobby
        } else {
            Entry::Open
        }
    }

    fn admit(&mut self, identity: &str) -> Result<(), RoomError> {
        if self.admitted.len() >= MAX_ADMITTED && !self.admitted.contains(identity) {
            return Err(RoomError::TooManyRoles);
        }
        self.admitted.insert(identity.to_string());
        Ok(())
    }

    fn drop_stale(&mut self, now: Instant) {
        self.knocks.retain(|k| match k.last_poll {
            Some(at) => now.saturating_duration_since(at) < KNOCK_STALE,
            None => now.saturating_duration_since(k.since) < KNOCK_FIRST_POLL,
        });
    }

    fn settings(&self) -> EntrySettings {
        EntrySettings {
            lobby: self.lobby,
            locked: self.locked,
            has_password: self.password_hash.is_some(),
        }
    }
}

#[derive(Default)]
pub(crate) struct EntryBook {
    rooms: Mutex<HashMap<String, RoomEntry>>,
    /// Woken on every verdict, so waiting knocks look again.
    decided: Notify,
}

/// An entry option turned on or off. Those inside when it is turned on stay
/// admitted.
#[derive(Debug, Clone)]
pub enum EntryChange {
    Lobby(bool),
    Locked(bool),
    /// A new password, or none.
    Password(Option<String>),
}

impl EntryBook {
    pub(crate) fn entry(&self, room: &str, identity: &str) -> Entry {
        lock(&self.rooms)
            .get(room)
            .map_or(Entry::Open, |c| c.entry(identity))
    }

    pub(crate) fn settings(&self, room: &str) -> EntrySettings {
        lock(&self.rooms)
            .get(room)
            .map(RoomEntry::settings)
            .unwrap_or_default()
    }

    fn with<T>(
        &self,
        room: &str,
        live: &dyn Fn(&str) -> bool,
        f: impl FnOnce(&mut RoomEntry) -> T,
    ) -> Result<T, RoomError> {
        let mut rooms = lock(&self.rooms);
        if !rooms.contains_key(room) && rooms.len() >= MAX_ROOMS {
            // Make room by forgetting the settings of rooms that no longer exist.
            rooms.retain(|name, _| live(name));
            if rooms.len() >= MAX_ROOMS {
                return Err(RoomError::TooManyRoles);
            }
        }
        Ok(f(rooms.entry(room.to_string()).or_default()))
    }

    pub(crate) fn change(
        &self,
        room: &str,
        change: EntryChange,
        inside: &[String],
        live: &dyn Fn(&str) -> bool,
    ) -> Result<EntrySettings, RoomError> {
        // Hash outside the lock: argon2 takes tens of milliseconds.
        let hash = match &change {
            EntryChange::Password(Some(p)) => Some(hash_password(p)?),
            _ => None,
        };
        self.with(room, live, |c| {
            match change {
                EntryChange::Lobby(on) => c.lobby = on,
                EntryChange::Locked(on) => c.locked = on,
                EntryChange::Password(_) => c.password_hash = hash,
            }
            for identity in inside {
                c.admit(identity)?;
            }
            Ok(c.settings())
        })?
    }

    /// A moderator removed `identity`: its admission is withdrawn, and it may
    /// not come back for the rest of the meeting (the same token would
    /// otherwise walk straight back in).
    pub(crate) fn remove(
        &self,
        room: &str,
        identity: &str,
        live: &dyn Fn(&str) -> bool,
    ) -> Result<(), RoomError> {
        self.with(room, live, |c| {
            c.admitted.remove(identity);
            if c.removed.len() >= MAX_ADMITTED {
                return Err(RoomError::TooManyRoles);
            }
            c.removed.insert(identity.to_string());
            Ok(())
        })?
    }

    /// The meeting in `room` ended (it emptied and was closed): whoever was
    /// removed from it may join the next one.
    pub(crate) fn meeting_ended(&self, room: &str) {
        if let Some(c) = lock(&self.rooms).get_mut(room) {
            c.removed.clear();
        }
    }

    /// Whether `password` opens `room`; the right one admits `identity`.
    pub(crate) fn try_password(
        &self,
        room: &str,
        identity: &str,
        password: &str,
    ) -> Result<bool, RoomError> {
        let Some(hash) = lock(&self.rooms)
            .get(room)
            .and_then(|c| c.password_hash.clone())
        else {
            return Ok(true);
        };
        if password.len() > MAX_PASSWORD_LEN
            || Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_err()
        {
            return Ok(false);
        }
        let mut rooms = lock(&self.rooms);
        if let Some(c) = rooms.get_mut(room) {
            c.admit(identity)?;
        }
        Ok(true)
    }

    /// Knock on `room`'s lobby; returns the ticket only the knocker keeps.
    pub(crate) fn knock(
        &self,
        room: &str,
        identity: &str,
        name: &str,
        from: IpAddr,
    ) -> Result<String, RoomError> {
        let now = Instant::now();
        let mut rooms = lock(&self.rooms);
        let c = rooms.get_mut(room).ok_or(RoomError::UnknownKnock)?;
        c.drop_stale(now);
        let waiting_here = c
            .knocks
            .iter()
            .filter(|k| k.from == from && k.verdict == Verdict::Waiting)
            .count();
        if waiting_here >= MAX_KNOCKS_PER_ADDRESS {
            return Err(RoomError::TooManyKnocks);
        }
        if c.knocks.len() >= MAX_KNOCKS {
            return Err(RoomError::LobbyFull);
        }
        let ticket = format!("{}{}", new_sid("KT_"), new_sid(""));
        c.knocks.push(Knock {
            id: new_sid("KN_"),
            ticket: ticket.clone(),
            identity: identity.to_string(),
            name: name.to_string(),
            from,
            since: now,
            last_poll: None,
            verdict: Verdict::Waiting,
        });
        Ok(ticket)
    }

    /// The knocks still waiting, oldest first.
    pub(crate) fn knocks(&self, room: &str) -> Vec<KnockView> {
        let now = Instant::now();
        let mut rooms = lock(&self.rooms);
        let Some(c) = rooms.get_mut(room) else {
            return Vec::new();
        };
        c.drop_stale(now);
        c.knocks
            .iter()
            .filter(|k| k.verdict == Verdict::Waiting)
            .map(|k| KnockView {
                id: k.id.clone(),
                name: k.name.clone(),
                waiting: now.saturating_duration_since(k.since),
            })
            .collect()
    }

    /// A moderator's answer to the knock `id`; returns who knocked.
    pub(crate) fn decide(
        &self,
        room: &str,
        id: &str,
        verdict: Verdict,
    ) -> Result<String, RoomError> {
        let mut rooms = lock(&self.rooms);
        let c = rooms.get_mut(room).ok_or(RoomError::UnknownKnock)?;
        let k = c
            .knocks
            .iter_mut()
            .find(|k| k.id == id && k.verdict == Verdict::Waiting)
            .ok_or(RoomError::UnknownKnock)?;
        k.verdict = verdict;
        let (identity, name, admitted) = (
            k.identity.clone(),
            k.name.clone(),
            k.verdict == Verdict::Admitted,
        );
        if admitted {
            c.admit(&identity)?;
        }
        drop(rooms);
        self.decided.notify_waiters();
        Ok(name)
    }

    /// Deny every waiting knock (a moderator clearing the lobby); returns
    /// how many there were.
    pub(crate) fn deny_all(&self, room: &str, reason: Option<String>) -> usize {
        let mut rooms = lock(&self.rooms);
        let Some(c) = rooms.get_mut(room) else {
            return 0;
        };
        let mut denied = 0;
        for k in c
            .knocks
            .iter_mut()
            .filter(|k| k.verdict == Verdict::Waiting)
        {
            k.verdict = Verdict::Denied(reason.clone());
            denied += 1;
        }
        drop(rooms);
        self.decided.notify_waiters();
        denied
    }

    /// The knock's state for its own browser. A decided knock is answered
    /// once and then forgotten.
    pub(crate) fn poll(&self, room: &str, ticket: &str) -> Option<Ticket> {
        let now = Instant::now();
        let mut rooms = lock(&self.rooms);
        let c = rooms.get_mut(room)?;
        let i = c.knocks.iter().position(|k| k.ticket == ticket)?;
        let k = &mut c.knocks[i];
        k.last_poll = Some(now);
        let t = Ticket {
            identity: k.identity.clone(),
            name: k.name.clone(),
            verdict: k.verdict.clone(),
        };
        if t.verdict != Verdict::Waiting {
            c.knocks.remove(i);
        }
        Some(t)
    }

    /// Wait up to `timeout` for a verdict on `ticket`.
    pub(crate) async fn wait(&self, room: &str, ticket: &str, timeout: Duration) -> Option<Ticket> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.decided.notified();
            // Peek without consuming a verdict; `poll` answers it.
            let waiting = {
                let rooms = lock(&self.rooms);
                let k = rooms
                    .get(room)?
                    .knocks
                    .iter()
                    .find(|k| k.ticket == ticket)?;
                k.verdict == Verdict::Waiting
            };
            if !waiting || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.poll(room, ticket);
            }
        }
    }

    /// The entry options as they would be stored: lobby, lock, password hash.
    pub(crate) fn record(&self, room: &str) -> (bool, bool, Option<String>) {
        lock(&self.rooms)
            .get(room)
            .map_or((false, false, None), |c| {
                (c.lobby, c.locked, c.password_hash.clone())
            })
    }

    /// Entry options read back from the store after a restart.
    pub(crate) fn restore(
        &self,
        room: &str,
        lobby: bool,
        locked: bool,
        password_hash: Option<String>,
        live: &dyn Fn(&str) -> bool,
    ) -> Result<(), RoomError> {
        self.with(room, live, |c| {
            c.lobby = lobby;
            c.locked = locked;
            c.password_hash = password_hash;
        })
    }

    pub(crate) fn forget(&self, room: &str) {
        lock(&self.rooms).remove(room);
        self.decided.notify_waiters();
    }
}

fn hash_password(password: &str) -> Result<String, RoomError> {
    if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
        return Err(RoomError::BadPassword);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| RoomError::BadPassword)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(_: &str) -> bool {
        true
    }

    #[test]
    fn entry_options_stop_newcomers_but_not_those_inside() {
        let book = EntryBook::default();
        assert_eq!(book.entry("r", "x"), Entry::Open);
        book.change("r", EntryChange::Lobby(true), &["in".into()], &live)
            .unwrap();
        assert_eq!(book.entry("r", "in"), Entry::Open);
        assert_eq!(book.entry("r", "new"), Entry::Lobby);
        book.change(
            "r",
            EntryChange::Password(Some("s3cret".into())),
            &[],
            &live,
        )
        .unwrap();
        assert_eq!(book.entry("r", "new"), Entry::Password { lobby: true });
        assert!(!book.try_password("r", "new", "wrong").unwrap());
        assert!(book.try_password("r", "new", "s3cret").unwrap());
        assert_eq!(book.entry("r", "new"), Entry::Open, "the password admits");
        book.change("r", EntryChange::Locked(true), &[], &live)
            .unwrap();
        assert_eq!(book.entry("r", "other"), Entry::Locked);
        assert_eq!(
            book.settings("r"),
            EntrySettings {
                lobby: true,
                locked: true,
                has_password: true
            }
        );
    }

    #[test]
    fn a_knock_is_admitted_or_denied_once() {
        let book = EntryBook::default();
        book.change("r", EntryChange::Lobby(true), &[], &live)
            .unwrap();
        let t1 = book.knock("r", "g1", "Guest 1", HOME).unwrap();
        let t2 = book.knock("r", "g2", "Guest 2", HOME).unwrap();
        let knocks = book.knocks("r");
        assert_eq!(knocks.len(), 2);
        assert_eq!(book.poll("r", &t1).unwrap().verdict, Verdict::Waiting);
        book.decide("r", &knocks[0].id, Verdict::Admitted).unwrap();
        book.decide("r", &knocks[1].id, Verdict::Denied(Some("full".into())))
            .unwrap();
        assert_eq!(book.poll("r", &t1).unwrap().verdict, Verdict::Admitted);
        assert_eq!(book.entry("r", "g1"), Entry::Open);
        assert_eq!(
            book.poll("r", &t2).unwrap().verdict,
            Verdict::Denied(Some("full".into()))
        );
        assert_eq!(book.entry("r", "g2"), Entry::Lobby);
        assert!(book.poll("r", &t1).is_none(), "answered once");
        assert_eq!(
            book.decide("r", &knocks[0].id, Verdict::Admitted),
            Err(RoomError::UnknownKnock)
        );
        assert!(book.poll("r", "made-up").is_none());
    }

    #[tokio::test]
    async fn a_waiting_knock_hears_its_verdict_at_once() {
        let book = std::sync::Arc::new(EntryBook::default());
        book.change("r", EntryChange::Lobby(true), &[], &live)
            .unwrap();
        let ticket = book.knock("r", "g", "Guest", HOME).unwrap();
        let id = book.knocks("r")[0].id.clone();
        let b = book.clone();
        let waiter =
            tokio::spawn(async move { b.wait("r", &ticket, Duration::from_secs(10)).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        book.decide("r", &id, Verdict::Admitted).unwrap();
        let t = waiter.await.unwrap().unwrap();
        assert_eq!(t.verdict, Verdict::Admitted);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));

    #[test]
    fn one_address_cannot_fill_the_lobby() {
        let book = EntryBook::default();
        book.change("r", EntryChange::Lobby(true), &[], &live)
            .unwrap();
        let attacker = IpAddr::from([203, 0, 113, 66]);
        let knocked = (0..105)
            .filter(|i| book.knock("r", &format!("a{i}"), "x", attacker).is_ok())
            .count();
        assert_eq!(knocked, MAX_KNOCKS_PER_ADDRESS);
        assert_eq!(
            book.knock("r", "a-more", "x", attacker),
            Err(RoomError::TooManyKnocks)
        );
        // The real guest still gets in line.
        assert!(book.knock("r", "guest", "Guest", HOME).is_ok());
        // And the moderator can clear it all.
        assert_eq!(book.deny_all("r", None), MAX_KNOCKS_PER_ADDRESS + 1);
        assert!(book.knocks("r").is_empty());
    }

    #[test]
    fn a_knock_never_asked_about_goes_quickly() {
        let book = EntryBook::default();
        book.change("r", EntryChange::Lobby(true), &[], &live)
            .unwrap();
        let script = book.knock("r", "s", "Script", HOME).unwrap();
        let browser = book.knock("r", "b", "Browser", HOME).unwrap();
        assert!(book.poll("r", &browser).is_some());
        let later = Instant::now() + KNOCK_FIRST_POLL + Duration::from_secs(1);
        lock(&book.rooms).get_mut("r").unwrap().drop_stale(later);
        assert!(
            book.poll("r", &script).is_none(),
            "the script's knock is gone"
        );
        assert!(book.poll("r", &browser).is_some(), "the browser's stays");
    }
}
