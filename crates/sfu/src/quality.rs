//! Connection quality per participant, from what its two sessions report.
//!
//! Every stats interval str0m reports, per session, the loss fraction of what
//! we receive (the publisher session: the participant's upstream) and of what
//! we send as the participant's receiver reports tell us (the subscriber
//! session: its downstream), and the round-trip time. A participant's quality
//! is the worse of its two directions, graded like a call-quality score:
//! little loss and a short round trip is excellent; a few percent of loss, or
//! a round trip long enough to be noticed in conversation, is good; more is
//! poor. A participant we have not heard from for several intervals is lost.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Quality {
    Lost,
    Poor,
    Good,
    Excellent,
}

/// What one session said in its last stats report.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Report {
    pub loss: Option<f32>,
    pub rtt: Option<Duration>,
}

const EXCELLENT_LOSS: f32 = 0.02;
const GOOD_LOSS: f32 = 0.08;
const EXCELLENT_RTT: Duration = Duration::from_millis(150);
const GOOD_RTT: Duration = Duration::from_millis(400);

fn grade(r: &Report) -> Quality {
    let loss = r.loss.unwrap_or(0.0);
    let rtt = r.rtt.unwrap_or_default();
    if loss <= EXCELLENT_LOSS && rtt <= EXCELLENT_RTT {
        Quality::Excellent
    } else if loss <= GOOD_LOSS && rtt <= GOOD_RTT {
        Quality::Good
    } else {
        Quality::Poor
    }
}

/// The participant's quality and a 0..5 score (5 best), from its sessions'
/// latest reports; `silent` when no report arrived for several intervals.
pub fn assess(upstream: &Report, downstream: &Report, silent: bool) -> (Quality, f32) {
    if silent {
        return (Quality::Lost, 0.0);
    }
    let q = grade(upstream).min(grade(downstream));
    let loss = upstream
        .loss
        .unwrap_or(0.0)
        .max(downstream.loss.unwrap_or(0.0));
    // Loss costs up to four points, leaving 1 at 25 % loss or more.
    let score = (5.0 - 16.0 * loss).clamp(1.0, 5.0);
    (q, score)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(loss: f32, rtt_ms: u64) -> Report {
        Report {
            loss: Some(loss),
            rtt: Some(Duration::from_millis(rtt_ms)),
        }
    }

    #[test]
    fn grades() {
        assert_eq!(
            assess(&r(0.0, 20), &r(0.01, 30), false).0,
            Quality::Excellent
        );
        assert_eq!(assess(&r(0.05, 20), &r(0.0, 30), false).0, Quality::Good);
        assert_eq!(assess(&r(0.0, 20), &r(0.0, 300), false).0, Quality::Good);
        assert_eq!(assess(&r(0.0, 20), &r(0.2, 30), false).0, Quality::Poor);
        assert_eq!(
            assess(&Report::default(), &Report::default(), true),
            (Quality::Lost, 0.0)
        );
        assert!(assess(&r(0.3, 20), &r(0.0, 20), false).1 >= 1.0);
    }
}
