//! The IVR's spoken prompts, made by `prompts/make` (espeak-ng) as 8 kHz μ-law, and played out
//! one 20 ms frame at a time.

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

/// A prompt being played; silence once it is over.
#[derive(Debug, Default)]
pub struct Player {
    playing: Option<(Prompt, usize)>,
}

impl Player {
    /// Start `prompt` from its beginning, cutting off whatever played.
    pub fn play(&mut self, prompt: Prompt) {
        self.playing = Some((prompt, 0));
    }

    pub fn is_playing(&self) -> bool {
        self.playing.is_some()
    }

    /// The next 20 ms, linear.
    pub fn next_frame(&mut self) -> [i16; FRAME] {
        let mut out = [0; FRAME];
        if let Some((prompt, at)) = &mut self.playing {
            let audio = audio(*prompt);
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
}
