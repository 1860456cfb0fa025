//! The dial-in IVR's PIN entry: a caller keys in the meeting's PIN, ended by `#` or a pause.
//!
//! Time and digits go in, steps come out; playing prompts, looking PINs up and hanging up are the
//! caller's business. The rules are the ones phone users know: `*` starts over, `#` or a pause of
//! `digit_timeout` after the last key submits, a PIN as long as the longest possible submits at
//! once, and silence after a prompt counts as a wrong try. After `attempts` wrong tries the caller
//! hears goodbye and the call ends, so a robot cannot guess for ever on one call (guessing over
//! many calls is for the gateway's limit per caller).

use std::time::{Duration, Instant};

use crate::dtmf::Digit;

#[derive(Debug, Clone, Copy)]
pub struct PinLimits {
    /// The longest PIN; this many digits submit without `#`.
    pub max_digits: usize,
    /// Silence after a prompt before it counts as a wrong try.
    pub first_digit_timeout: Duration,
    /// Pause after a key that submits what was keyed.
    pub digit_timeout: Duration,
    /// Wrong tries before goodbye.
    pub attempts: u32,
}

impl Default for PinLimits {
    fn default() -> Self {
        PinLimits {
            max_digits: 10,
            first_digit_timeout: Duration::from_secs(15),
            digit_timeout: Duration::from_secs(5),
            attempts: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// "Please enter the meeting PIN, then press the pound key."
    EnterPin,
    /// "That PIN is not valid. Please try again."
    WrongPin,
    /// "Goodbye." The call ends after it.
    Goodbye,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do before the next digit or [`PinEntry::deadline`].
    Wait,
    Play(Prompt),
    /// Look this PIN up, then call [`PinEntry::on_lookup`].
    Lookup(String),
    /// The PIN was right: join the caller to its meeting.
    Accepted,
    /// Play goodbye and hang up.
    HangUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Collecting,
    LookingUp,
    Done,
}

#[derive(Debug)]
pub struct PinEntry {
    limits: PinLimits,
    digits: String,
    wrong: u32,
    deadline: Instant,
    state: State,
}

impl PinEntry {
    /// A call that has just been answered: the first prompt plays.
    pub fn start(limits: PinLimits, now: Instant) -> (PinEntry, Step) {
        let entry = PinEntry {
            limits,
            digits: String::new(),
            wrong: 0,
            deadline: now + limits.first_digit_timeout,
            state: State::Collecting,
        };
        (entry, Step::Play(Prompt::EnterPin))
    }

    /// When [`PinEntry::on_timeout`] wants to be called, if at all.
    pub fn deadline(&self) -> Option<Instant> {
        (self.state == State::Collecting).then_some(self.deadline)
    }

    pub fn on_digit(&mut self, digit: Digit, now: Instant) -> Step {
        if self.state != State::Collecting {
            // Keys pressed while the PIN is looked up, or after the end, mean nothing.
            return Step::Wait;
        }
        match digit.as_char() {
            '#' if self.digits.is_empty() => {
                self.deadline = now + self.limits.first_digit_timeout;
                Step::Play(Prompt::EnterPin)
            }
            '#' => self.submit(),
            '*' => {
                self.digits.clear();
                self.deadline = now + self.limits.first_digit_timeout;
                Step::Play(Prompt::EnterPin)
            }
            c if c.is_ascii_digit() => {
                self.digits.push(c);
                self.deadline = now + self.limits.digit_timeout;
                if self.digits.len() >= self.limits.max_digits {
                    self.submit()
                } else {
                    Step::Wait
                }
            }
            _ => Step::Wait, // A-D: not part of any PIN
        }
    }

    pub fn on_timeout(&mut self, now: Instant) -> Step {
        if self.state != State::Collecting || now < self.deadline {
            Step::Wait
        } else if self.digits.is_empty() {
            self.wrong_try(now)
        } else {
            self.submit()
        }
    }

    /// The answer to [`Step::Lookup`].
    pub fn on_lookup(&mut self, found: bool, now: Instant) -> Step {
        if self.state != State::LookingUp {
            return Step::Wait;
        }
        if found {
            self.state = State::Done;
            Step::Accepted
        } else {
            self.wrong_try(now)
        }
    }

    fn submit(&mut self) -> Step {
        self.state = State::LookingUp;
        Step::Lookup(std::mem::take(&mut self.digits))
    }

    fn wrong_try(&mut self, now: Instant) -> Step {
        self.wrong += 1;
        self.digits.clear();
        if self.wrong >= self.limits.attempts {
            self.state = State::Done;
            return Step::HangUp;
        }
        self.state = State::Collecting;
        self.deadline = now + self.limits.first_digit_timeout;
        Step::Play(Prompt::WrongPin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(entry: &mut PinEntry, keys: &str, now: Instant) -> Vec<Step> {
        keys.chars()
            .map(|c| entry.on_digit(Digit::from_char(c).unwrap(), now))
            .filter(|s| *s != Step::Wait)
            .collect()
    }

    #[test]
    fn pound_submits_and_a_right_pin_is_accepted() {
        let t = Instant::now();
        let (mut e, first) = PinEntry::start(PinLimits::default(), t);
        assert_eq!(first, Step::Play(Prompt::EnterPin));
        assert_eq!(keys(&mut e, "1234#", t), [Step::Lookup("1234".into())]);
        assert_eq!(e.deadline(), None, "no timeout while the PIN is looked up");
        assert_eq!(
            keys(&mut e, "9", t),
            [],
            "type-ahead during the lookup is ignored"
        );
        assert_eq!(e.on_lookup(true, t), Step::Accepted);
        assert_eq!(keys(&mut e, "5#", t), [], "and after the end");
    }

    #[test]
    fn a_pause_submits_and_star_starts_over() {
        let t = Instant::now();
        let (mut e, _) = PinEntry::start(PinLimits::default(), t);
        assert_eq!(keys(&mut e, "99*", t), [Step::Play(Prompt::EnterPin)]);
        keys(&mut e, "42", t);
        assert_eq!(e.on_timeout(t + Duration::from_secs(4)), Step::Wait);
        assert_eq!(
            e.on_timeout(t + Duration::from_secs(5)),
            Step::Lookup("42".into())
        );
    }

    #[test]
    fn the_longest_pin_submits_without_pound() {
        let t = Instant::now();
        let limits = PinLimits {
            max_digits: 4,
            ..PinLimits::default()
        };
        let (mut e, _) = PinEntry::start(limits, t);
        assert_eq!(keys(&mut e, "12345", t), [Step::Lookup("1234".into())]);
    }

    #[test]
    fn three_wrong_tries_silence_included_end_the_call() {
        let t = Instant::now();
        let (mut e, _) = PinEntry::start(PinLimits::default(), t);
        keys(&mut e, "1#", t);
        assert_eq!(e.on_lookup(false, t), Step::Play(Prompt::WrongPin));
        let silent_until = e.deadline().unwrap();
        assert_eq!(silent_until, t + Duration::from_secs(15));
        assert_eq!(
            e.on_timeout(silent_until),
            Step::Play(Prompt::WrongPin),
            "silence is a wrong try"
        );
        keys(&mut e, "2#", t);
        assert_eq!(e.on_lookup(false, t), Step::HangUp);
        assert_eq!(e.deadline(), None);
    }

    #[test]
    fn pound_alone_repeats_the_prompt_without_costing_a_try() {
        let t = Instant::now();
        let limits = PinLimits {
            attempts: 1,
            ..PinLimits::default()
        };
        let (mut e, _) = PinEntry::start(limits, t);
        assert_eq!(keys(&mut e, "#A", t), [Step::Play(Prompt::EnterPin)]);
        assert_eq!(keys(&mut e, "7#", t), [Step::Lookup("7".into())]);
    }
}
