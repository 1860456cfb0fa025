//! CPU cost of bandwidth allocation per subscriber: one pass is what the
//! worker does for one subscriber every 500 ms (and after a change): turn the
//! estimates into limits, order the videos, allocate, and sum what is used.
//!
//! `cargo bench -p confab-sfu --bench allocation [-- ROOM_SIZE...]` prints, per
//! room size, the median over 15 rounds of the time per pass and the cost per
//! subscriber-second at two passes a second. Run it on an idle machine.

use std::hint::black_box;
use std::time::{Duration, Instant};

use confab_sfu::TrackId;
use confab_sfu::allocator::{self, Allocation, Candidate};
use confab_sfu::budget::Budget;

const ROUNDS: usize = 15;
const PASSES_PER_ROUND: usize = 20_000;
/// Periodic passes a subscriber gets each second.
const PASSES_PER_SECOND: f64 = 2.0;

/// The videos one subscriber in a room of `size` receives: one on stage,
/// a few recent speakers, the rest thumbnails, with measured-looking rates.
fn room(size: usize) -> Vec<Candidate> {
    (1..size)
        .map(|i| Candidate {
            track: TrackId(i as u64),
            on_stage: i == 1,
            speaker_rank: (i < 4).then_some(i - 1),
            order: i as u64,
            layer_bps: [
                Some(140_000 + i as u64 * 1_000),
                Some(480_000 + i as u64 * 3_000),
                Some(1_650_000 + i as u64 * 7_000),
            ],
            ideal: Some(if i == 1 { 2 } else { 0 }),
            current: Some(if i == 1 { 1 } else { 0 }),
            may_upgrade: true,
        })
        .collect()
}

fn pass(budget: &mut Budget, candidates: &mut [Candidate], now: Instant) -> usize {
    let limits = budget.allowance(now, Some(0.01)).map(|l| l.less(80_000));
    allocator::prioritize(candidates);
    let allocations = allocator::allocate(candidates, limits, Some(25), false);
    let used = allocator::usage(candidates, &allocations);
    allocations
        .iter()
        .filter(|a| matches!(a, Allocation::Layer(_)))
        .count()
        + used as usize
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![5, 10, 25, 50]
    } else {
        sizes
    };
    println!("room size | ns per subscriber pass (median of {ROUNDS}) | µs per subscriber-second");
    for size in sizes {
        let mut candidates = room(size);
        let mut budget = Budget::default();
        let start = Instant::now();
        // A subscriber's usual history: an estimate every 50 ms or so.
        for i in 0..40u64 {
            budget.record(
                start + Duration::from_millis(i * 50),
                2_500_000 + (i % 7) * 100_000,
            );
        }
        let now = start + Duration::from_secs(2);
        let mut rounds = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let began = Instant::now();
            for _ in 0..PASSES_PER_ROUND {
                black_box(pass(&mut budget, black_box(&mut candidates), now));
            }
            rounds.push(began.elapsed().as_nanos() as f64 / PASSES_PER_ROUND as f64);
        }
        rounds.sort_by(f64::total_cmp);
        let median = rounds[ROUNDS / 2];
        println!(
            "{size:>9} | {median:>10.0} | {:>8.2}",
            median * PASSES_PER_SECOND / 1000.0
        );
    }
}
