//! Limits on guesses (room passwords, sign-ins), set so that an attacker
//! slows only itself.
//!
//! A limit per target alone (the room, the username) locks the rightful user
//! out as soon as someone else guesses fast. So each guess draws on three
//! token buckets:
//!
//! 1. the guesser's address *for this target*: tight, a burst of ten and
//!    then one every six seconds. A person mistyping is never stopped; a
//!    script is, at once;
//! 2. the guesser's address across all targets, so one address cannot spray
//!    usernames or rooms instead;
//! 3. the target across all addresses: loose, reached only by an attack
//!    spread over many addresses. Then a guess is not refused but delayed,
//!    so the right password still gets in while the attack slows to the
//!    bucket's pace.
//!
//! A guess refused by 1 or 2 costs nothing from 3: one address cannot drain
//! the target's bucket for everyone else.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::rate::TokenBucket;

/// (per second, burst) for each bucket.
const PER_ADDRESS_AND_TARGET: (f64, f64) = (1.0 / 6.0, 10.0);
const PER_ADDRESS: (f64, f64) = (0.5, 30.0);
const PER_TARGET: (f64, f64) = (1.0, 60.0);
/// How long a guess waits when its target's bucket is empty.
pub const TARGET_BACKOFF: Duration = Duration::from_secs(2);
/// Buckets kept per map; full ones are forgotten first.
const MAX_BUCKETS: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Go,
    /// Go after this long (the target is under a spread-out attack).
    Wait(Duration),
    Refuse,
}

struct Buckets<K> {
    rate: (f64, f64),
    map: HashMap<K, TokenBucket>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    fn new(rate: (f64, f64)) -> Self {
        Self {
            rate,
            map: HashMap::new(),
        }
    }

    fn has_token(&mut self, key: &K, now: Instant) -> bool {
        match self.map.get(key) {
            Some(b) => b.peek(1.0, now),
            None => true,
        }
    }

    /// Take a token; a key that cannot be remembered (the map is full of
    /// busy buckets) is refused.
    fn take(&mut self, key: &K, now: Instant) -> bool {
        if self.map.len() >= MAX_BUCKETS && !self.map.contains_key(key) {
            self.map.retain(|_, b| !b.full(now));
            if self.map.len() >= MAX_BUCKETS {
                return false;
            }
        }
        let (rate, burst) = self.rate;
        self.map
            .entry(key.clone())
            .or_insert_with(|| TokenBucket::new(rate, burst, now))
            .take(1.0, now)
    }
}

struct Inner {
    address_and_target: Buckets<(IpAddr, String)>,
    address: Buckets<IpAddr>,
    target: Buckets<String>,
}

/// Guesses per target and per address.
pub struct Attempts {
    inner: Mutex<Inner>,
}

impl Default for Attempts {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                address_and_target: Buckets::new(PER_ADDRESS_AND_TARGET),
                address: Buckets::new(PER_ADDRESS),
                target: Buckets::new(PER_TARGET),
            }),
        }
    }
}

impl Attempts {
    /// May `from` guess at `target` now?
    pub fn decide(&self, target: &str, from: IpAddr) -> Decision {
        self.decide_at(target, from, Instant::now())
    }

    fn decide_at(&self, target: &str, from: IpAddr, now: Instant) -> Decision {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let pair = (from, target.to_string());
        // Check both before taking either, so a refusal costs no tokens.
        if !inner.address_and_target.has_token(&pair, now) || !inner.address.has_token(&from, now) {
            return Decision::Refuse;
        }
        if !inner.address_and_target.take(&pair, now) || !inner.address.take(&from, now) {
            return Decision::Refuse;
        }
        if inner.target.take(&target.to_string(), now) {
            Decision::Go
        } else {
            Decision::Wait(TARGET_BACKOFF)
        }
    }

    /// Decide, and wait out a delay: whether the guess may be checked.
    pub async fn admit(&self, target: &str, from: IpAddr) -> bool {
        match self.decide(target, from) {
            Decision::Go => true,
            Decision::Wait(d) => {
                tokio::time::sleep(d).await;
                true
            }
            Decision::Refuse => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([203, 0, 113, last])
    }

    #[test]
    fn a_fast_guesser_does_not_lock_out_the_rightful_user() {
        let attempts = Attempts::default();
        let t0 = Instant::now();
        // Ten guesses a second for a minute from one address.
        let mut refused = 0;
        for i in 0..600 {
            let now = t0 + Duration::from_millis(100 * i);
            if attempts.decide_at("room", ip(66), now) == Decision::Refuse {
                refused += 1;
            }
        }
        assert!(refused >= 580, "only {refused} of 600 refused");
        // Meanwhile the rightful user, from elsewhere, gets in every time.
        for i in 0..5 {
            let now = t0 + Duration::from_secs(60 + i);
            assert_eq!(attempts.decide_at("room", ip(1), now), Decision::Go);
        }
    }

    #[test]
    fn one_address_cannot_spray_targets() {
        let attempts = Attempts::default();
        let t0 = Instant::now();
        let allowed = (0..200)
            .filter(|i| attempts.decide_at(&format!("user{i}"), ip(66), t0) != Decision::Refuse)
            .count();
        assert_eq!(allowed, PER_ADDRESS.1 as usize);
    }

    #[test]
    fn a_spread_out_attack_slows_but_does_not_refuse_the_right_guess() {
        let attempts = Attempts::default();
        let t0 = Instant::now();
        // 200 addresses, one guess each, at once.
        for i in 0..200 {
            attempts.decide_at("alice", ip(i as u8), t0);
            attempts.decide_at("alice", IpAddr::from([198, 51, 100, i as u8]), t0);
        }
        assert_eq!(
            attempts.decide_at("alice", ip(250), t0),
            Decision::Wait(TARGET_BACKOFF)
        );
        // Other targets are untouched.
        assert_eq!(attempts.decide_at("bob", ip(250), t0), Decision::Go);
    }
}
