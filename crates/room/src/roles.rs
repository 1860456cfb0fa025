//! Who moderates a room.
//!
//! A participant arrives a moderator or not as its token (or login) says.
//! A moderator may then grant or revoke the role for others; that decision is
//! kept here by room name and identity, outranks the token and survives
//! reconnects and the room emptying for a while. Kept in memory: bounded, and
//! forgotten with a deleted room.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::{RoomError, lock};

/// Rooms with decisions on record, and decisions per room.
const MAX_ROOMS: usize = 10_000;
const MAX_PER_ROOM: usize = 1_000;

#[derive(Default)]
pub(crate) struct RoleBook {
    rooms: Mutex<HashMap<String, HashMap<String, bool>>>,
}

impl RoleBook {
    /// A moderator's decision that `identity` is (or is not) a moderator.
    pub(crate) fn set(&self, room: &str, identity: &str, moderator: bool) -> Result<(), RoomError> {
        let mut rooms = lock(&self.rooms);
        if !rooms.contains_key(room) && rooms.len() >= MAX_ROOMS {
            return Err(RoomError::TooManyRoles);
        }
        let decisions = rooms.entry(room.to_string()).or_default();
        if !decisions.contains_key(identity) && decisions.len() >= MAX_PER_ROOM {
            return Err(RoomError::TooManyRoles);
        }
        decisions.insert(identity.to_string(), moderator);
        Ok(())
    }

    pub(crate) fn get(&self, room: &str, identity: &str) -> Option<bool> {
        lock(&self.rooms).get(room)?.get(identity).copied()
    }

    pub(crate) fn forget_room(&self, room: &str) {
        lock(&self.rooms).remove(room);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_kept_per_room_and_identity() {
        let book = RoleBook::default();
        assert_eq!(book.get("r", "a"), None);
        book.set("r", "a", true).unwrap();
        book.set("r", "b", false).unwrap();
        assert_eq!(book.get("r", "a"), Some(true));
        assert_eq!(book.get("r", "b"), Some(false));
        assert_eq!(book.get("other", "a"), None);
        book.forget_room("r");
        assert_eq!(book.get("r", "a"), None);
    }

    #[test]
    fn the_book_is_bounded() {
        let book = RoleBook::default();
        for i in 0..MAX_PER_ROOM {
            book.set("r", &i.to_string(), true).unwrap();
        }
        assert_eq!(
            book.set("r", "one more", true),
            Err(RoomError::TooManyRoles)
        );
        book.set("r", "0", false).unwrap();
    }
}
