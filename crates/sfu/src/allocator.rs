//! How much of each video a subscriber receives, within its bandwidth.
//!
//! Each subscriber has an estimate of what its downlink carries (str0m's
//! transport-wide congestion control estimator, fed by the browser's TWCC
//! feedback and raised by probing). The allocator spends that budget on the
//! videos the subscriber watches, in the spirit of Jitsi Videobridge's
//! bandwidth allocator:
//!
//! 1. **Order** the videos by what matters to this person: the ones shown
//!    large (the stage, a pinned person) first, then by speech, the dominant
//!    speaker and the most recent speakers ahead of the silent, then by the
//!    order people published.
//! 2. **Last-N**: only the first N in that order get video at all; the rest
//!    are paused, and the subscriber is told so it can show an avatar. A
//!    video the subscriber does not show right now still takes its place in
//!    the N (as in Jitsi, last-N is about people, not tiles): otherwise a
//!    paused tile, once hidden behind its avatar, would free its place, be
//!    resumed, shown, and paused again.
//! 3. **Floor**: in order, each video gets its lowest layer. When the budget
//!    runs out, the rest get it anyway unless pausing is allowed, in which
//!    case they are paused for bandwidth. Pausing is off by default (as in
//!    LiveKit): the estimator reads a loaded machine's scheduling jitter as
//!    congestion, and a wrong pause blanks a video for seconds, where a low
//!    layer on a full link only costs a little delay.
//! 4. **Raise**: in order, each video is raised layer by layer towards the
//!    layer its on-screen size asks for, while the increase fits. Because the
//!    first in order is raised fully before the next one is touched, a
//!    shrinking budget takes quality from the thumbnails first and from the
//!    stage last.
//!
//! **Hysteresis**: going above the layer a video is receiving now requires the
//! new layer to fit with [`UPGRADE_HEADROOM`] to spare, and is not allowed at
//! all for a video that was lowered recently (the caller says so), while going
//! down happens at once. The budget itself comes as two figures (see
//! [`crate::budget`]): what the videos may keep, which follows the estimate
//! down only when a drop lasts or packets are lost, and what a step up must
//! fit in, which follows it up only when a rise lasts and never beyond what
//! the link has been seen to carry. A layer therefore
//! changes only when the estimate moves decisively, not with every wobble of
//! the estimator.

use crate::TrackId;
use crate::budget::Allowance;

/// A layer above the current one must fit with this fraction to spare.
pub const UPGRADE_HEADROOM: f64 = 0.2;

/// One video the subscriber is subscribed to.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub track: TrackId,
    /// Shown large (stage, pinned, or a large tile).
    pub on_stage: bool,
    /// 0 for the dominant speaker, then by how recently each spoke.
    pub speaker_rank: Option<usize>,
    /// Publication order, the last tie-breaker.
    pub order: u64,
    /// Bits per second of each layer the publisher offers, lowest first.
    pub layer_bps: [Option<u64>; 3],
    /// The layer the subscriber's view of it asks for; `None`: not shown.
    pub ideal: Option<u8>,
    /// The layer allocated last time (for hysteresis).
    pub current: Option<u8>,
    /// False while the video was lowered recently: no going up yet.
    pub may_upgrade: bool,
}

/// What one video gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// Send up to this layer.
    Layer(u8),
    /// Not sent: outside the last N.
    PausedLastN,
    /// Not sent: the budget does not cover even its lowest layer.
    PausedBandwidth,
    /// Not sent: the subscriber does not show it.
    NotShown,
}

impl Allocation {
    pub fn layer(self) -> Option<u8> {
        match self {
            Allocation::Layer(l) => Some(l),
            _ => None,
        }
    }

    pub fn paused(self) -> bool {
        matches!(self, Allocation::PausedLastN | Allocation::PausedBandwidth)
    }
}

/// Sort candidates into priority order (see the module documentation).
pub fn prioritize(candidates: &mut [Candidate]) {
    candidates.sort_by_key(|c| (!c.on_stage, c.speaker_rank.unwrap_or(usize::MAX), c.order));
}

/// Allocate `allowance` (`None`: unlimited) over candidates already in priority
/// order; `last_n` of `None` means everyone. Returns one allocation per
/// candidate, in the same order.
///
/// Every layer given is charged against both figures of the [`Allowance`]:
/// keeping what a video receives must fit in `keep_bps`, and a step above it
/// must also fit, with headroom, in `raise_bps` (see [`crate::budget`]).
pub fn allocate(
    candidates: &[Candidate],
    allowance: Option<Allowance>,
    last_n: Option<usize>,
    allow_pause: bool,
) -> Vec<Allocation> {
    let mut out = Vec::with_capacity(candidates.len());
    let mut left = Left::new(allowance);
    let mut within_last_n = 0usize;
    // Floor pass.
    for c in candidates {
        let lowest = (0..3u8).find(|&l| c.layer_bps[usize::from(l)].is_some());
        let allocation = match (lowest, c.ideal) {
            // Nothing received from the publisher yet.
            (None, _) => Allocation::NotShown,
            _ if last_n.is_some_and(|n| within_last_n >= n) => Allocation::PausedLastN,
            (Some(_), None) => {
                within_last_n += 1;
                Allocation::NotShown
            }
            (Some(l), Some(_)) => {
                within_last_n += 1;
                if !allow_pause || left.affords(c, None, l) {
                    left.spend(rate(c, l));
                    Allocation::Layer(l)
                } else {
                    Allocation::PausedBandwidth
                }
            }
        };
        out.push(allocation);
    }
    // Raise pass, in priority order.
    for (c, allocation) in candidates.iter().zip(out.iter_mut()) {
        let (Allocation::Layer(mut layer), Some(ideal)) = (*allocation, c.ideal) else {
            continue;
        };
        while let Some(next) =
            (layer + 1..=ideal.min(2)).find(|&l| c.layer_bps[usize::from(l)].is_some())
        {
            if !left.affords(c, Some(layer), next) {
                break;
            }
            left.spend(rate(c, next) - rate(c, layer));
            layer = next;
        }
        *allocation = Allocation::Layer(layer);
    }
    out
}

/// What is left of the two figures while allocating.
struct Left {
    keep: f64,
    raise: f64,
}

impl Left {
    fn new(allowance: Option<Allowance>) -> Left {
        match allowance {
            Some(l) => Left {
                keep: l.keep_bps as f64,
                raise: l.raise_bps as f64,
            },
            None => Left {
                keep: f64::INFINITY,
                raise: f64::INFINITY,
            },
        }
    }

    /// Whether `c` can go from `from` (`None`: nothing) to layer `to`.
    fn affords(&self, c: &Candidate, from: Option<u8>, to: u8) -> bool {
        let from_bps = from.map_or(0.0, |l| rate(c, l));
        if rate(c, to) - from_bps > self.keep {
            return false;
        }
        !going_up(c, to) || cost(c, to) - from_bps <= self.raise
    }

    fn spend(&mut self, bps: f64) {
        self.keep -= bps;
        self.raise -= bps;
    }
}

/// Bits/s the allocations use.
pub fn usage(candidates: &[Candidate], allocations: &[Allocation]) -> u64 {
    candidates
        .iter()
        .zip(allocations)
        .filter_map(|(c, a)| a.layer().map(|l| rate(c, l)))
        .sum::<f64>() as u64
}

/// Bits/s the allocated videos would use at the layers their views ask for
/// (videos outside the last N or not shown count nothing).
pub fn wanted(candidates: &[Candidate], allocations: &[Allocation]) -> u64 {
    candidates
        .iter()
        .zip(allocations)
        .filter(|(_, a)| matches!(a, Allocation::Layer(_) | Allocation::PausedBandwidth))
        .filter_map(|(c, _)| c.ideal.map(|i| rate(c, i)))
        .sum::<f64>() as u64
}

fn rate(c: &Candidate, layer: u8) -> f64 {
    c.layer_bps[usize::from(layer)].unwrap_or(0) as f64
}

fn going_up(c: &Candidate, layer: u8) -> bool {
    c.current.is_none_or(|cur| layer > cur)
}

/// What a layer must fit in: its rate, plus headroom when it would be a step up.
fn cost(c: &Candidate, layer: u8) -> f64 {
    if !going_up(c, layer) {
        return rate(c, layer);
    }
    if !c.may_upgrade && c.current.is_some() {
        return f64::INFINITY;
    }
    rate(c, layer) * (1.0 + UPGRADE_HEADROOM)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KBPS: u64 = 1000;

    fn video(track: u64, ideal: u8) -> Candidate {
        Candidate {
            track: TrackId(track),
            on_stage: false,
            speaker_rank: None,
            order: track,
            layer_bps: [Some(150 * KBPS), Some(500 * KBPS), Some(1700 * KBPS)],
            ideal: Some(ideal),
            current: None,
            may_upgrade: true,
        }
    }

    /// The same figure to keep and to raise with.
    fn both(kbps: u64) -> Option<Allowance> {
        Some(Allowance {
            keep_bps: kbps * KBPS,
            raise_bps: kbps * KBPS,
        })
    }

    fn layers(a: &[Allocation]) -> Vec<Option<u8>> {
        a.iter().map(|a| a.layer()).collect()
    }

    #[test]
    fn unlimited_budget_gives_what_each_view_asks_for() {
        let c = vec![video(1, 2), video(2, 0), video(3, 1)];
        assert_eq!(
            layers(&allocate(&c, None, None, true)),
            [Some(2), Some(0), Some(1)]
        );
    }

    #[test]
    fn a_tight_budget_keeps_the_stage_and_lowers_the_others() {
        let mut c = vec![video(1, 2), video(2, 2), video(3, 2)];
        c[2].on_stage = true;
        prioritize(&mut c);
        assert_eq!(c[0].track, TrackId(3));
        // 2.5 Mbit/s: everyone's floor (450k), then the stage to f (1.7M),
        // leaving 350k: the next in line gets h, the last stays at q.
        let a = allocate(&c, both(2_500), None, true);
        assert_eq!(layers(&a), [Some(2), Some(1), Some(0)]);
        // 600 kbit/s: floors only (450k); the stage cannot afford h.
        let a = allocate(&c, both(600), None, true);
        assert_eq!(layers(&a), [Some(0), Some(0), Some(0)]);
        // 300 kbit/s: the stage's floor and one more; the last one waits.
        let a = allocate(&c, both(330), None, true);
        assert_eq!(a[2], Allocation::PausedBandwidth);
        // Unless pausing is off: then everyone keeps the lowest layer.
        let a = allocate(&c, both(330), None, false);
        assert_eq!(layers(&a), [Some(0), Some(0), Some(0)]);
    }

    #[test]
    fn speakers_come_first_and_last_n_pauses_the_rest() {
        let mut c = vec![video(1, 0), video(2, 0), video(3, 0), video(4, 0)];
        c[3].speaker_rank = Some(0);
        c[1].speaker_rank = Some(1);
        prioritize(&mut c);
        let order: Vec<_> = c.iter().map(|c| c.track.0).collect();
        assert_eq!(order, [4, 2, 1, 3]);
        let a = allocate(&c, None, Some(2), true);
        assert_eq!(
            a,
            [
                Allocation::Layer(0),
                Allocation::Layer(0),
                Allocation::PausedLastN,
                Allocation::PausedLastN
            ]
        );
    }

    #[test]
    fn hidden_videos_cost_nothing_but_keep_their_place_in_last_n() {
        let mut c = vec![video(1, 0), video(2, 0), video(3, 0)];
        c[0].ideal = None;
        let a = allocate(&c, both(200), Some(2), true);
        assert_eq!(
            a,
            [
                Allocation::NotShown,
                Allocation::Layer(0),
                Allocation::PausedLastN
            ]
        );
        // Hidden and outside the N: still paused, so its tile keeps saying so.
        c[0].speaker_rank = Some(5);
        c[1].speaker_rank = Some(0);
        c[2].speaker_rank = Some(1);
        prioritize(&mut c);
        assert_eq!(
            allocate(&c, None, Some(2), true),
            [
                Allocation::Layer(0),
                Allocation::Layer(0),
                Allocation::PausedLastN
            ]
        );
    }

    #[test]
    fn upgrades_need_headroom_and_downgrades_do_not() {
        let layer_within =
            |c: &[Candidate], kbps: u64| layers(&allocate(c, both(kbps), None, true))[0];
        let mut c = vec![video(1, 2)];
        c[0].current = Some(1);
        // f costs 1.7M; going up needs 2.04M.
        assert_eq!(layer_within(&c, 1_900), Some(1));
        assert_eq!(layer_within(&c, 2_100), Some(2));
        // Already at f: it stays while 1.7M fits.
        c[0].current = Some(2);
        assert_eq!(layer_within(&c, 1_750), Some(2));
        assert_eq!(layer_within(&c, 1_600), Some(1));
        // Lowered recently: no step up even with room to spare.
        c[0].current = Some(1);
        c[0].may_upgrade = false;
        assert_eq!(layer_within(&c, 5_000), Some(1));
    }

    #[test]
    fn a_dip_in_the_estimate_keeps_layers_but_raises_nothing() {
        let mut c = vec![video(1, 2), video(2, 2)];
        c[0].current = Some(2);
        c[1].current = Some(0);
        // The estimate dipped to 300k; the last two seconds saw 2.5M.
        let dip = Some(Allowance {
            keep_bps: 2_500 * KBPS,
            raise_bps: 300 * KBPS,
        });
        assert_eq!(layers(&allocate(&c, dip, None, true)), [Some(2), Some(0)]);
        // Once the keep figure falls too, the layers follow.
        assert_eq!(
            layers(&allocate(&c, both(300), None, true)),
            [Some(0), Some(0)]
        );
    }

    #[test]
    fn usage_counts_the_layers_given() {
        let mut c = vec![video(1, 2), video(2, 0), video(3, 0)];
        c[0].current = Some(0);
        let a = allocate(&c, both(350), None, true);
        assert_eq!(a[2], Allocation::PausedBandwidth);
        assert_eq!(usage(&c, &a), 300 * KBPS);
        assert_eq!(usage(&c, &allocate(&c, None, None, true)), 2_000 * KBPS);
        // What the views ask for, whatever the budget gave.
        assert_eq!(wanted(&c, &a), 2_000 * KBPS);
        let a = allocate(&c, None, Some(1), true);
        assert_eq!(wanted(&c, &a), 1_700 * KBPS);
    }

    #[test]
    fn only_offered_layers_are_used() {
        let mut c = vec![video(1, 2)];
        c[0].layer_bps = [Some(150 * KBPS), None, Some(1700 * KBPS)];
        assert_eq!(layers(&allocate(&c, None, None, true)), [Some(2)]);
        c[0].layer_bps = [None, None, None];
        assert_eq!(allocate(&c, None, None, true), [Allocation::NotShown]);
    }
}
