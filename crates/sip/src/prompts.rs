//! What the gateway itself says to a caller, one 20 ms frame at a time: the IVR's spoken prompts,
//! made by `prompts/make` (espeak-ng) as 8 kHz μ-law, and the short tones that tell a caller in a
//! meeting that a moderator muted them, or that they unmuted.

use crate::g711;
use crate::mix::FRAME;
use crate::pin::Prompt;

fn audio(prompt: Prompt) -> &'static [u8] {
    match prompt {
        Prompt::EnterPin => include_bytes!("../prompts/enter_pin.ulaw"),
        Prompt::WrongPin => include_bytes!("../prompts/wrong_pin.ulaw"),
        Prompt::Goodbye => include_bytes!("../prompts/goodbye.ulaw"),
    }
}

/// Two beeps, falling for "muted" and rising for "unmuted", as phone conference bridges do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Muted,
    Unmuted,
}

/// Hz of the two beeps.
const MUTED_BEEPS: [f32; 2] = [600.0, 400.0];
/// Samples of one beep (150 ms) and of the gap after it (50 ms).
const BEEP: usize = 1200;
const GAP: usize = 400;

fn tone(tone: Tone) -> Vec<u8> {
    let mut freqs = MUTED_BEEPS;
    if tone == Tone::Unmuted {
        freqs.reverse();
    }
    freqs
        .iter()
        .flat_map(|&f| {
            let beep = (0..BEEP).map(move |i| {
                let s = 0.25 * (std::f32::consts::TAU * f * i as f32 / 8000.0).sin();
                (s * f32::from(i16::MAX)) as i16
            });
            beep.chain(std::iter::repeat_n(0, GAP))
        })
        .map(g711::mulaw_encode)
        .collect()
}

#[derive(Debug)]
enum Sound {
    Prompt(Prompt),
    Tone(Vec<u8>),
}

/// A prompt or tone being played; silence once it is over.
#[derive(Debug, Default)]
pub struct Player {
    playing: Option<(Sound, usize)>,
}

impl Player {
    /// Start `prompt` from its beginning, cutting off whatever played.
    pub fn play(&mut self, prompt: Prompt) {
        self.playing = Some((Sound::Prompt(prompt), 0));
    }

    /// Start `tone`, cutting off whatever played.
    pub fn beep(&mut self, which: Tone) {
        self.playing = Some((Sound::Tone(tone(which)), 0));
    }

    pub fn is_playing(&self) -> bool {
        self.playing.is_some()
    }

    /// The next 20 ms, linear.
    pub fn next_frame(&mut self) -> [i16; FRAME] {
        let mut out = [0; FRAME];
        if let Some((sound, at)) = &mut self.playing {
            let audio = match sound {
                Sound::Prompt(prompt) => audio(*prompt),
                Sound::Tone(samples) => samples.as_slice(),
            };
            let chunk = &audio[*at..(*at + FRAME).min(audio.len())];
            for (o, &code) in out.iter_mut().zip(chunk) {
                *o = g711::mulaw_decode(code);
            }
            *at += FRAME;
            if *at >= audio.len() {
                self.playing = None;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_is_speech_then_silence() {
        let mut p = Player::default();
        p.play(Prompt::Goodbye);
        let mut frames = 0;
        let mut loud = 0;
        while p.is_playing() {
            let f = p.next_frame();
            frames += 1;
            loud += usize::from(f.iter().any(|s| s.unsigned_abs() > 2000));
        }
        assert!((30..100).contains(&frames), "goodbye lasts {frames} frames");
        assert!(loud > 10, "it has speech in it ({loud} loud frames)");
        assert_eq!(p.next_frame(), [0; FRAME]);
    }

    #[test]
    fn muted_falls_and_unmuted_rises() {
        // The strongest of the two beep frequencies in a frame, by a single DFT bin each.
        let pitch = |frame: &[i16; FRAME]| {
            let power = |f: f32| {
                let (re, im) = frame
                    .iter()
                    .enumerate()
                    .fold((0.0, 0.0), |(re, im), (i, &s)| {
                        let w = std::f32::consts::TAU * f * i as f32 / 8000.0;
                        (re + f32::from(s) * w.cos(), im + f32::from(s) * w.sin())
                    });
                re * re + im * im
            };
            if power(600.0) > power(400.0) {
                600
            } else {
                400
            }
        };
        for (which, first, second) in [(Tone::Muted, 600, 400), (Tone::Unmuted, 400, 600)] {
            let mut p = Player::default();
            p.beep(which);
            let frames: Vec<_> =
                std::iter::from_fn(|| p.is_playing().then(|| p.next_frame())).collect();
            assert_eq!(frames.len(), 2 * (BEEP + GAP) / FRAME);
            assert_eq!(
                (pitch(&frames[2]), pitch(&frames[12])),
                (first, second),
                "{which:?}"
            );
        }
    }
}
