//! The 16 bytes every bot packet carries so a receiver can measure it: when it
//! was sent, its place in the sender's stream, and which layer it is.
//!
//! Layout (big endian): send time in µs since the Unix epoch (u64), a
//! per-stream counter (u32), the layer (u8: 0..2, 0 for audio), the kind (u8),
//! and a 2-byte magic so a payload from anything else is not misread.
//!
//! Wall-clock time (not `Instant`) is used so bots in different processes on
//! the same machine agree on the epoch.

use std::time::{SystemTime, UNIX_EPOCH};

pub const PROBE_LEN: usize = 16;
const MAGIC: [u8; 2] = [0xC0, 0xFA];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Audio = 0,
    Video = 1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub sent_us: u64,
    pub counter: u32,
    pub layer: u8,
    pub kind: ProbeKind,
}

impl Probe {
    pub fn encode(&self, out: &mut [u8]) -> bool {
        let Some(out) = out.get_mut(..PROBE_LEN) else {
            return false;
        };
        out[0..8].copy_from_slice(&self.sent_us.to_be_bytes());
        out[8..12].copy_from_slice(&self.counter.to_be_bytes());
        out[12] = self.layer;
        out[13] = self.kind as u8;
        out[14..16].copy_from_slice(&MAGIC);
        true
    }

    pub fn decode(bytes: &[u8]) -> Option<Probe> {
        let b = bytes.get(..PROBE_LEN)?;
        if b[14..16] != MAGIC {
            return None;
        }
        let kind = match b[13] {
            0 => ProbeKind::Audio,
            1 => ProbeKind::Video,
            _ => return None,
        };
        Some(Probe {
            sent_us: u64::from_be_bytes(b[0..8].try_into().ok()?),
            counter: u32::from_be_bytes(b[8..12].try_into().ok()?),
            layer: b[12],
            kind,
        })
    }
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let p = Probe {
            sent_us: 1_700_000_000_123_456,
            counter: 0xDEAD_BEEF,
            layer: 2,
            kind: ProbeKind::Video,
        };
        let mut buf = [0u8; 20];
        assert!(p.encode(&mut buf));
        assert_eq!(Probe::decode(&buf), Some(p));
        assert_eq!(Probe::decode(&buf[..15]), None);
        assert!(!p.encode(&mut [0u8; 15]));
    }

    #[test]
    fn rejects_foreign_bytes() {
        assert_eq!(Probe::decode(&[0u8; 16]), None);
        let mut buf = [0u8; 16];
        Probe {
            sent_us: 1,
            counter: 1,
            layer: 0,
            kind: ProbeKind::Audio,
        }
        .encode(&mut buf);
        buf[13] = 7;
        assert_eq!(Probe::decode(&buf), None);
    }
}
