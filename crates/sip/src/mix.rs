//! What the phone hears: the meeting's voices, each through a small jitter buffer, summed.
//!
//! Each speaker's decoded audio (8 kHz, the phone's rate: the Opus decoder resamples) arrives in
//! 20 ms frames whenever the network delivers them, bunched or late; the phone needs exactly one
//! 20 ms frame every 20 ms. So each source gets a queue. A source starts playing once it holds
//! [`PREBUFFER`] of audio (a cushion against late frames) and plays until its queue runs dry,
//! then waits for the cushion again; a queue that grows past [`MAX_DEPTH`] (a burst after a stall)
//! drops its oldest audio, since delay in a conversation hurts more than a skipped syllable.
//! Silence costs nothing: a source with nothing queued adds nothing, so the work per frame grows
//! with the people speaking, not with the people present.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;
/// Audio a source holds before it starts playing: 40 ms.
pub const PREBUFFER: usize = 2 * FRAME;
/// The most a source may hold: 200 ms.
pub const MAX_DEPTH: usize = 10 * FRAME;

#[derive(Debug, Default)]
struct Source {
    queue: VecDeque<i16>,
    playing: bool,
}

/// The mix for one listener; `K` names a source (a track).
#[derive(Debug)]
pub struct Mixer<K> {
    sources: HashMap<K, Source>,
}

impl<K: Hash + Eq> Default for Mixer<K> {
    fn default() -> Self {
        Self {
            sources: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq> Mixer<K> {
    /// Decoded audio from `source`.
    pub fn push(&mut self, source: K, samples: &[i16]) {
        let s = self.sources.entry(source).or_default();
        s.queue.extend(samples);
        if s.queue.len() > MAX_DEPTH {
            let excess = s.queue.len() - PREBUFFER;
            s.queue.drain(..excess);
        }
    }

    /// The source is gone (its track was unpublished).
    pub fn remove(&mut self, source: &K) {
        self.sources.remove(source);
    }

    /// The next 20 ms of the mix.
    pub fn pull(&mut self) -> [i16; FRAME] {
        let mut out = [0i32; FRAME];
        for s in self.sources.values_mut() {
            if !s.playing && s.queue.len() >= PREBUFFER {
                s.playing = true;
            }
            if !s.playing {
                continue;
            }
            for (acc, sample) in out
                .iter_mut()
                .zip(s.queue.drain(..FRAME.min(s.queue.len())))
            {
                *acc += i32::from(sample);
            }
            if s.queue.is_empty() {
                s.playing = false;
            }
        }
        out.map(|v| v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_plays_after_its_cushion_and_stops_when_dry() {
        let mut m = Mixer::default();
        m.push("ada", &[100; FRAME]);
        assert_eq!(m.pull(), [0; FRAME], "20 ms is not yet the 40 ms cushion");
        m.push("ada", &[100; FRAME]);
        assert_eq!(m.pull(), [100; FRAME]);
        assert_eq!(m.pull(), [100; FRAME]);
        assert_eq!(m.pull(), [0; FRAME], "dry");
        m.push("ada", &[7; FRAME]);
        assert_eq!(m.pull(), [0; FRAME], "waits for the cushion again");
    }

    #[test]
    fn voices_add_up_and_clip_instead_of_wrapping() {
        let mut m = Mixer::default();
        m.push(1, &[20_000; PREBUFFER]);
        m.push(2, &[20_000; PREBUFFER]);
        m.push(3, &[-5; PREBUFFER]);
        assert_eq!(m.pull(), [i16::MAX; FRAME]);
        m.remove(&1);
        assert_eq!(m.pull(), [19_995; FRAME]);
    }

    #[test]
    fn a_burst_is_cut_to_the_cushion_keeping_the_newest_audio() {
        let mut m = Mixer::default();
        let burst: Vec<i16> = (0..(MAX_DEPTH + FRAME) as i16).collect();
        m.push("bob", &burst);
        let first = m.pull();
        assert_eq!(usize::try_from(first[0]).unwrap(), burst.len() - PREBUFFER);
    }
}
