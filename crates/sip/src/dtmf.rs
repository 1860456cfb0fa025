//! Keypad digits from a phone: RFC 4733 telephone-event RTP packets, or a SIP INFO body.
//!
//! A key press is sent as a run of packets that share one RTP timestamp (the press's start) and
//! carry a growing duration; the last three repeat with the end bit set. The first packet of a
//! press should carry the RTP marker bit, but some providers never set it (livekit/sip #585), and
//! the first packets may be lost. So a press is recognised by its timestamp: the first packet seen
//! with a timestamp not seen before reports the digit, and everything else of that press, end
//! packets included, is a repeat. A press longer than the 16-bit duration can say (8 s at 8 kHz)
//! continues in a new segment with a new timestamp right where the old one ended (RFC 4733
//! 2.5.1.3); such a segment is the same press, not a new one.

/// A key of the telephone keypad (RFC 4733 events 0-15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digit(char);

impl Digit {
    const KEYS: &'static [u8; 16] = b"0123456789*#ABCD";

    pub fn from_event(event: u8) -> Option<Digit> {
        Self::KEYS
            .get(usize::from(event))
            .map(|&k| Digit(char::from(k)))
    }

    pub fn from_char(c: char) -> Option<Digit> {
        let c = c.to_ascii_uppercase();
        (c.is_ascii() && Self::KEYS.contains(&(c as u8))).then_some(Digit(c))
    }

    pub fn as_char(self) -> char {
        self.0
    }

    /// The event number, for sending the digit to a phone.
    pub fn event(self) -> u8 {
        Self::KEYS
            .iter()
            .position(|&k| char::from(k) == self.0)
            .unwrap_or(0) as u8
    }
}

/// Turns telephone-event packets into key presses, each reported once.
#[derive(Debug, Default)]
pub struct Receiver {
    /// The press being received: its timestamp, event, and the last duration seen.
    current: Option<(u32, u8, u16)>,
}

impl Receiver {
    /// One telephone-event packet's RTP timestamp and payload; the digit if it starts a press.
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Option<Digit> {
        let [event, flags, d0, d1, ..] = *payload else {
            return None;
        };
        let _ = flags; // the end bit: a press is known by its timestamp, not by its end
        let duration = u16::from_be_bytes([d0, d1]);
        match self.current {
            Some((ts, ev, last)) if ts == timestamp => {
                // A repeat (or a late packet) of the current press.
                if ev == event {
                    self.current = Some((ts, ev, last.max(duration)));
                }
                None
            }
            Some((ts, ev, last))
                if ev == event && timestamp == ts.wrapping_add(u32::from(last)) =>
            {
                // The next segment of a long press.
                self.current = Some((timestamp, event, duration));
                None
            }
            _ => {
                let digit = Digit::from_event(event)?;
                self.current = Some((timestamp, event, duration));
                Some(digit)
            }
        }
    }
}

/// The digit in a SIP INFO body: `application/dtmf-relay` (`Signal=5` on its own line) or
/// `application/dtmf` (just the key).
pub fn from_info(content_type: &str, body: &str) -> Option<Digit> {
    let content_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match content_type.as_str() {
        "application/dtmf-relay" => body.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("signal")
                .then(|| single(value.trim()))?
        }),
        "application/dtmf" => single(body.trim()),
        _ => None,
    }
}

/// One key given as a character, or as its event number (`10` is `*`, `11` is `#`).
fn single(text: &str) -> Option<Digit> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Digit::from_char(c),
        _ => text.parse::<u8>().ok().and_then(Digit::from_event),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
        let d = duration.to_be_bytes();
        [event, if end { 0x80 | 10 } else { 10 }, d[0], d[1]]
    }

    /// A press as a phone sends it: packets every 20 ms with a growing duration, then the end
    /// packet three times.
    fn press(rx: &mut Receiver, event: u8, timestamp: u32) -> Vec<Digit> {
        let mut out = Vec::new();
        for n in 1..=5 {
            out.extend(rx.on_packet(timestamp, &payload(event, false, n * 160)));
        }
        for _ in 0..3 {
            out.extend(rx.on_packet(timestamp, &payload(event, true, 960)));
        }
        out
    }

    #[test]
    fn each_press_counts_once_without_any_marker_bit() {
        let mut rx = Receiver::default();
        let digits: Vec<char> = [(1, 1000), (2, 3000), (2, 5000), (11, 7000)]
            .iter()
            .flat_map(|&(event, ts)| press(&mut rx, event, ts))
            .map(Digit::as_char)
            .collect();
        assert_eq!(
            digits,
            ['1', '2', '2', '#'],
            "the same key twice is two presses"
        );
    }

    #[test]
    fn a_press_whose_first_packets_were_lost_still_counts() {
        let mut rx = Receiver::default();
        assert_eq!(
            rx.on_packet(800, &payload(5, true, 960))
                .map(Digit::as_char),
            Some('5')
        );
        assert_eq!(rx.on_packet(800, &payload(5, true, 960)), None);
    }

    #[test]
    fn a_long_press_continued_in_a_new_segment_is_one_press() {
        let mut rx = Receiver::default();
        assert!(rx.on_packet(0, &payload(0, false, 160)).is_some());
        assert_eq!(rx.on_packet(0, &payload(0, false, 0xFFFF)), None);
        assert_eq!(
            rx.on_packet(0xFFFF, &payload(0, false, 160)),
            None,
            "the next segment"
        );
        assert!(
            rx.on_packet(0xFFFF + 10_000, &payload(0, false, 160))
                .is_some(),
            "a new press"
        );
    }

    #[test]
    fn short_or_unknown_events_are_ignored() {
        let mut rx = Receiver::default();
        assert_eq!(rx.on_packet(0, &[1, 2, 3]), None);
        assert_eq!(
            rx.on_packet(0, &payload(16, false, 160)),
            None,
            "16 is not a key (a tone)"
        );
    }

    #[test]
    fn sip_info_bodies() {
        let d = |c| Digit::from_char(c);
        assert_eq!(
            from_info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"),
            d('5')
        );
        assert_eq!(
            from_info("Application/DTMF-Relay; charset=x", "signal = #\r\n"),
            d('#')
        );
        assert_eq!(from_info("application/dtmf-relay", "Signal=10\r\n"), d('*'));
        assert_eq!(from_info("application/dtmf", "7"), d('7'));
        assert_eq!(from_info("application/dtmf", "x"), None);
        assert_eq!(from_info("text/plain", "Signal=5"), None);
        assert_eq!(d('a').map(Digit::event), Some(12));
    }
}
