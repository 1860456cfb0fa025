//! One participant receiving one track: its forwarder, what the subscriber
//! asked for, and what the allocator last gave it.

use std::time::Instant;

use crate::PeerId;
use crate::allocator::Allocation;
use crate::forwarder::Forwarder;
use crate::layers::Wanted;

#[derive(Debug)]
pub(super) struct Subscription {
    pub subscriber: PeerId,
    /// The subscriber's transport can carry it (its m-line is negotiated).
    pub ready: bool,
    pub forwarder: Forwarder,
    pub wanted: Wanted,
    /// The allocator's last decision (video only; `None` before the first).
    pub allocation: Option<Allocation>,
    /// When the allocation last went to a lower layer (upgrade hold-off).
    pub lowered_at: Option<Instant>,
    /// The subscriber was told this video is paused.
    pub paused: bool,
    /// Passes left that repeat the paused state: a client that had not yet
    /// attached the track when the first notice came would miss it.
    pub state_repeats: u8,
}

impl Subscription {
    pub fn new(subscriber: PeerId, initial_seq: u16) -> Self {
        Self {
            subscriber,
            ready: false,
            forwarder: Forwarder::new(initial_seq),
            wanted: Wanted::Best,
            allocation: None,
            lowered_at: None,
            paused: false,
            state_repeats: 0,
        }
    }

    /// What to forward: the allocator's layer once it has decided, else the
    /// subscriber's own wish.
    pub fn effective_wanted(&self) -> Wanted {
        match self.allocation {
            Some(a) => a.layer().map_or(Wanted::Disabled, Wanted::Quality),
            None => self.wanted,
        }
    }
}
