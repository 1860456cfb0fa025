//! Connection quality per participant, from what its two sessions report.
//!
//! Every stats interval str0m reports, per session, the loss fraction of what
//! we receive (the publisher session: the participant's upstream) and of what
//! we send as the participant's receiver reports tell us (the subscriber
//! session: its downstream), the round-trip time, and per stream the
//! interarrival jitter. A participant's quality is the worse of its two
//! directions, graded like a call-quality score: little loss, a short round
//! trip and steady arrivals are excellent; a few percent of loss, a round
//! trip long enough to be noticed in conversation, or jitter a jitter buffer
//! must grow for, is good; more is poor. On top of that, a participant whose
//! downlink carries well under the video its screen asks for (the
//! bandwidth allocator had to lower or pause it) cannot be excellent, and is
//! poor when it gets less than a third. A participant we have not heard
//! from for several intervals is lost.

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
    /// The highest interarrival jitter among the session's streams.
    pub jitter: Option<Duration>,
}

const EXCELLENT_LOSS: f32 = 0.02;
const GOOD_LOSS: f32 = 0.08;
const EXCELLENT_RTT: Duration = Duration::from_millis(150);
const GOOD_RTT: Duration = Duration::from_millis(400);
const EXCELLENT_JITTER: Duration = Duration::from_millis(30);
const GOOD_JITTER: Duration = Duration::from_millis(100);
/// Fractions of the wanted video bitrate below which quality is capped.
pub const EXCELLENT_DELIVERED: f32 = 0.7;
const GOOD_DELIVERED: f32 = 0.33;

fn grade(r: &Report) -> Quality {
    let loss = r.loss.unwrap_or(0.0);
    let rtt = r.rtt.unwrap_or_default();
    let jitter = r.jitter.unwrap_or_default();
    if loss <= EXCELLENT_LOSS && rtt <= EXCELLENT_RTT && jitter <= EXCELLENT_JITTER {
        Quality::Excellent
    } else if loss <= GOOD_LOSS && rtt <= GOOD_RTT && jitter <= GOOD_JITTER {
        Quality::Good
    } else {
        Quality::Poor
    }
}

/// The participant's quality and a 0..5 score (5 best), from its sessions'
/// latest reports and the fraction of the video bitrate it wants that it is
/// sent (`None`: it wants none); `silent` when no report arrived for several
/// intervals.
pub fn assess(
    upstream: &Report,
    downstream: &Report,
    delivered: Option<f32>,
    silent: bool,
) -> (Quality, f32) {
    if silent {
        return (Quality::Lost, 0.0);
    }
    let cap = match delivered {
        Some(d) if d < GOOD_DELIVERED => Quality::Poor,
        Some(d) if d < EXCELLENT_DELIVERED => Quality::Good,
        _ => Quality::Excellent,
    };
    let q = grade(upstream).min(grade(downstream)).min(cap);
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
            jitter: Some(Duration::from_millis(5)),
        }
    }

    #[test]
    fn grades() {
        assert_eq!(
            assess(&r(0.0, 20), &r(0.01, 30), None, false).0,
            Quality::Excellent
        );
        assert_eq!(
            assess(&r(0.05, 20), &r(0.0, 30), None, false).0,
            Quality::Good
        );
        assert_eq!(
            assess(&r(0.0, 20), &r(0.0, 300), None, false).0,
            Quality::Good
        );
        assert_eq!(
            assess(&r(0.0, 20), &r(0.2, 30), None, false).0,
            Quality::Poor
        );
        assert_eq!(
            assess(&Report::default(), &Report::default(), None, true),
            (Quality::Lost, 0.0)
        );
        assert!(assess(&r(0.3, 20), &r(0.0, 20), None, false).1 >= 1.0);
    }

    #[test]
    fn jitter_and_a_starved_downlink_lower_the_grade() {
        let jittery = Report {
            jitter: Some(Duration::from_millis(60)),
            ..r(0.0, 20)
        };
        assert_eq!(assess(&jittery, &r(0.0, 20), None, false).0, Quality::Good);
        let good = r(0.0, 20);
        assert_eq!(assess(&good, &good, Some(0.9), false).0, Quality::Excellent);
        assert_eq!(assess(&good, &good, Some(0.5), false).0, Quality::Good);
        assert_eq!(assess(&good, &good, Some(0.2), false).0, Quality::Poor);
    }
}
