//! Keyframe requests towards a publisher, throttled per layer.
//!
//! Every subscriber that switches layers, starts, or loses a picture wants a
//! keyframe, and ten of them may ask within one frame. A keyframe is large and
//! expensive for the publisher's encoder, so requests for one layer are sent at
//! most once per `interval`; the others are satisfied by the same keyframe.

use std::time::{Duration, Instant};

pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(300);

#[derive(Debug)]
pub struct KeyframeThrottle {
    interval: Duration,
    last: [Option<Instant>; 3],
}

impl KeyframeThrottle {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: [None; 3],
        }
    }

    /// True if a request for `layer` should go out now (and records it).
    pub fn allow(&mut self, layer: u8, now: Instant) -> bool {
        let Some(slot) = self.last.get_mut(usize::from(layer)) else {
            return false;
        };
        match slot {
            Some(t) if now.saturating_duration_since(*t) < self.interval => false,
            _ => {
                *slot = Some(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_request_per_interval_per_layer() {
        let t0 = Instant::now();
        let mut k = KeyframeThrottle::new(Duration::from_millis(300));
        assert!(k.allow(0, t0));
        assert!(!k.allow(0, t0 + Duration::from_millis(100)));
        assert!(k.allow(1, t0 + Duration::from_millis(100)));
        assert!(k.allow(0, t0 + Duration::from_millis(300)));
        assert!(!k.allow(7, t0));
    }
}
