//! Measuring what arrives: loss from RTP sequence gaps, and a latency histogram.
//!
//! Both are built to stay small and cheap per packet, because a bench process
//! runs hundreds of bots each receiving dozens of streams.

use std::sync::atomic::{AtomicU64, Ordering};

/// Running totals across all bots of a run, readable while it runs, so a
/// benchmark can take the rates of a steady window rather than of the whole
/// run (joins and teardown included).
#[derive(Debug, Default)]
pub struct LiveCounters {
    pub sent_packets: AtomicU64,
    pub sent_bytes: AtomicU64,
    pub received_packets: AtomicU64,
    pub received_bytes: AtomicU64,
}

/// A copy of [`LiveCounters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    pub sent_packets: u64,
    pub sent_bytes: u64,
    pub received_packets: u64,
    pub received_bytes: u64,
}

impl LiveCounters {
    pub(crate) fn sent(&self, bytes: usize) {
        self.sent_packets.fetch_add(1, Ordering::Relaxed);
        self.sent_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn received(&self, bytes: usize) {
        self.received_packets.fetch_add(1, Ordering::Relaxed);
        self.received_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            sent_packets: self.sent_packets.load(Ordering::Relaxed),
            sent_bytes: self.sent_bytes.load(Ordering::Relaxed),
            received_packets: self.received_packets.load(Ordering::Relaxed),
            received_bytes: self.received_bytes.load(Ordering::Relaxed),
        }
    }
}

impl CounterSnapshot {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &CounterSnapshot) -> CounterSnapshot {
        CounterSnapshot {
            sent_packets: self.sent_packets.saturating_sub(earlier.sent_packets),
            sent_bytes: self.sent_bytes.saturating_sub(earlier.sent_bytes),
            received_packets: self
                .received_packets
                .saturating_sub(earlier.received_packets),
            received_bytes: self.received_bytes.saturating_sub(earlier.received_bytes),
        }
    }
}

/// Sequence numbers remembered, to tell a late packet from a duplicate.
const WINDOW: u64 = 1024;

/// Loss counting for one received stream, from its (extended) RTP sequence
/// numbers. The SFU rewrites sequence numbers so each subscription is
/// continuous, so a gap is a packet that did not arrive. A packet that
/// arrives late fills its gap again; a second copy is a duplicate.
#[derive(Debug, Clone)]
pub struct SeqTracker {
    highest: Option<u64>,
    /// Loss is counted only above this (see [`SeqTracker::restart`]).
    base: u64,
    seen: [u64; (WINDOW / 64) as usize],
    missing: u64,
    duplicates: u64,
    late: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqOutcome {
    /// In order, or after a gap of this many packets.
    Ahead {
        gap: u64,
    },
    /// Filled an earlier gap.
    Late,
    Duplicate,
    /// Older than the window: cannot tell, ignored.
    TooOld,
}

impl Default for SeqTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl SeqTracker {
    pub fn new() -> Self {
        Self {
            highest: None,
            base: 0,
            seen: [0; (WINDOW / 64) as usize],
            missing: 0,
            duplicates: 0,
            late: 0,
        }
    }

    fn bit(seq: u64) -> (usize, u64) {
        let i = seq % WINDOW;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    fn is_seen(&self, seq: u64) -> bool {
        let (w, b) = Self::bit(seq);
        self.seen[w] & b != 0
    }

    fn mark(&mut self, seq: u64, on: bool) {
        let (w, b) = Self::bit(seq);
        if on {
            self.seen[w] |= b;
        } else {
            self.seen[w] &= !b;
        }
    }

    pub fn push(&mut self, seq: u64) -> SeqOutcome {
        let Some(highest) = self.highest else {
            self.highest = Some(seq);
            self.base = seq.saturating_sub(1);
            self.mark(seq, true);
            return SeqOutcome::Ahead { gap: 0 };
        };
        if seq > highest {
            let gap = seq - highest - 1;
            if gap >= WINDOW {
                self.seen = [0; (WINDOW / 64) as usize];
            } else {
                for s in highest + 1..seq {
                    self.mark(s, false);
                }
            }
            self.mark(seq, true);
            self.highest = Some(seq);
            self.missing += gap;
            return SeqOutcome::Ahead { gap };
        }
        if highest - seq >= WINDOW {
            return SeqOutcome::TooOld;
        }
        if self.is_seen(seq) {
            self.duplicates += 1;
            return SeqOutcome::Duplicate;
        }
        self.mark(seq, true);
        if seq > self.base {
            self.missing = self.missing.saturating_sub(1);
            self.late += 1;
        }
        SeqOutcome::Late
    }

    /// Start counting afresh from the highest sequence number so far (the
    /// end of a warm-up); gaps before it no longer count.
    pub fn restart(&mut self) {
        if let Some(h) = self.highest {
            self.base = h;
        }
        self.missing = 0;
        self.duplicates = 0;
        self.late = 0;
    }

    /// Packets expected since counting (re)started.
    pub fn expected(&self) -> u64 {
        self.highest.map_or(0, |h| h - self.base)
    }

    pub fn lost(&self) -> u64 {
        self.missing
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    pub fn late(&self) -> u64 {
        self.late
    }
}

/// Sub-buckets per power of two: values are kept to within ~3 %.
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Values up to 2^32 µs (71 minutes); larger ones land in the last bucket.
const MAX_EXP: u32 = 32;
const BUCKETS: usize = (SUB + (MAX_EXP - SUB_BITS) as u64 * SUB) as usize;

/// A log-linear histogram of microsecond values, mergeable across streams
/// and bots. Values below 16 µs are exact; above, buckets are 1/16 of their
/// power of two wide.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            max: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < SUB {
            return v as usize;
        }
        let exp = 63 - v.leading_zeros(); // >= SUB_BITS
        if exp >= MAX_EXP {
            return BUCKETS - 1;
        }
        let sub = (v >> (exp - SUB_BITS)) - SUB;
        (SUB + u64::from(exp - SUB_BITS) * SUB + sub) as usize
    }

    /// The middle of bucket `i`.
    fn value(i: usize) -> u64 {
        let i = i as u64;
        if i < SUB {
            return i;
        }
        let exp = (i - SUB) / SUB + u64::from(SUB_BITS);
        let sub = (i - SUB) % SUB;
        let width = 1u64 << (exp - u64::from(SUB_BITS));
        ((SUB + sub) << (exp - u64::from(SUB_BITS))) + width / 2
    }

    pub fn record(&mut self, v: u64) {
        self.counts[Self::index(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1), `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::value(i).min(self.max));
            }
        }
        Some(self.max)
    }
}

/// The value at quantile `q` of a sorted slice (nearest rank).
pub fn percentile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seqs: &[u64]) -> SeqTracker {
        let mut t = SeqTracker::new();
        for s in seqs {
            t.push(*s);
        }
        t
    }

    #[test]
    fn in_order_no_loss() {
        let t = run(&[100, 101, 102, 103]);
        assert_eq!((t.lost(), t.duplicates(), t.expected()), (0, 0, 4));
    }

    #[test]
    fn gaps_count_as_loss() {
        let t = run(&[10, 11, 14, 15, 20]);
        assert_eq!(t.lost(), 2 + 4);
        assert_eq!(t.expected(), 11);
    }

    #[test]
    fn reorder_fills_the_gap() {
        let t = run(&[10, 12, 11, 13]);
        assert_eq!((t.lost(), t.late(), t.duplicates()), (0, 1, 0));
    }

    #[test]
    fn duplicates_are_not_loss_or_gain() {
        let t = run(&[10, 11, 11, 12, 10, 12]);
        assert_eq!((t.lost(), t.duplicates()), (0, 3));
        assert_eq!(t.expected(), 3);
    }

    #[test]
    fn late_duplicate_of_a_filled_gap() {
        let t = run(&[1, 3, 2, 2]);
        assert_eq!((t.lost(), t.late(), t.duplicates()), (0, 1, 1));
    }

    #[test]
    fn far_jump_and_too_old() {
        let mut t = run(&[1, 2]);
        assert_eq!(t.push(5000), SeqOutcome::Ahead { gap: 4997 });
        assert_eq!(t.push(3), SeqOutcome::TooOld);
        // The window was cleared, so a seq just below is late, not a duplicate.
        assert_eq!(t.push(4999), SeqOutcome::Late);
        assert_eq!(t.lost(), 4996);
    }

    #[test]
    fn restart_forgets_warmup_loss() {
        let mut t = run(&[1, 5, 6]);
        assert_eq!(t.lost(), 3);
        t.restart();
        assert_eq!((t.lost(), t.expected()), (0, 0));
        // A straggler from before the restart changes nothing.
        assert_eq!(t.push(3), SeqOutcome::Late);
        assert_eq!(t.lost(), 0);
        t.push(7);
        t.push(9);
        assert_eq!((t.lost(), t.expected()), (1, 3));
    }

    #[test]
    fn histogram_buckets_round_trip() {
        for v in [0u64, 1, 15, 16, 17, 31, 32, 100, 1000, 12_345, 1 << 31] {
            let i = Histogram::index(v);
            let mid = Histogram::value(i);
            let err = (mid as f64 - v as f64).abs() / (v.max(1) as f64);
            assert!(err <= 1.0 / 16.0, "{v} -> bucket {i} -> {mid}");
            assert!(i < BUCKETS);
        }
        assert_eq!(Histogram::index(u64::MAX), BUCKETS - 1);
        // Buckets are ordered.
        let mut last = 0;
        for v in 0..100_000u64 {
            let i = Histogram::index(v);
            assert!(i >= last);
            last = i;
        }
    }

    #[test]
    fn histogram_quantiles() {
        let mut h = Histogram::new();
        assert_eq!(h.quantile(0.5), None);
        for v in 1..=1000u64 {
            h.record(v * 100);
        }
        let p50 = h.quantile(0.5).unwrap() as f64;
        let p99 = h.quantile(0.99).unwrap() as f64;
        assert!((p50 - 50_000.0).abs() / 50_000.0 < 0.04, "{p50}");
        assert!((p99 - 99_000.0).abs() / 99_000.0 < 0.04, "{p99}");
        assert_eq!(h.quantile(1.0), Some(100_000));
        let mut other = Histogram::new();
        other.record(5);
        h.merge(&other);
        assert_eq!(h.count(), 1001);
        assert_eq!(h.quantile(0.0), Some(5));
    }

    #[test]
    fn percentile_of_sorted() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile_sorted(&v, 0.5), Some(5.0));
        assert_eq!(percentile_sorted(&v, 0.99), Some(10.0));
        assert_eq!(percentile_sorted(&v, 0.0), Some(1.0));
        assert_eq!(percentile_sorted(&[], 0.5), None);
    }
}
