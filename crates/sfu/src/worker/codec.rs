//! Which codec a packet carries, and which payload type it gets towards a
//! subscriber.
//!
//! Payload type numbers belong to each session: a publisher's H.264 may be 102
//! while the subscriber's browser took 106 for it. A packet is identified by
//! codec (with the H.264 profile and packetization mode, which a decoder must
//! match) and by whether it is wrapped in RED, then given the subscriber's
//! number for the same thing.

use str0m::Rtc;
use str0m::format::{Codec, PayloadParams};
use str0m::media::{Mid, Pt};

use super::participant::DownTrack;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CodecKey {
    pub codec: Codec,
    pub profile: Option<u32>,
    pub packetization: Option<u8>,
    /// Wrapped in RFC 2198 redundancy.
    pub red: bool,
}

impl CodecKey {
    fn of(p: &PayloadParams, red: bool) -> Self {
        let spec = p.spec();
        Self {
            codec: spec.codec,
            profile: spec.format.profile_level_id,
            packetization: spec.format.packetization_mode,
            red,
        }
    }

    /// What payload type `pt` means in a publisher session.
    pub fn of_incoming(rtc: &Rtc, pt: Pt) -> Option<Self> {
        rtc.codec_config().params().iter().find_map(|p| {
            if p.pt() == pt {
                Some(Self::of(p, false))
            } else if p.red() == Some(pt) {
                Some(Self::of(p, true))
            } else {
                None
            }
        })
    }
}

/// The subscriber's payload type for `key` on m-line `mid`, and whether it is
/// the RED one. Prefers an exact profile match, then the same codec.
fn outgoing(rtc: &Rtc, mid: Mid, key: CodecKey) -> Option<(Pt, bool)> {
    let media = rtc.media(mid)?;
    let remote = media.remote_pts();
    let params = rtc.codec_config().params();
    let candidates = || {
        params
            .iter()
            .filter(|p| remote.contains(&p.pt()) && p.spec().codec == key.codec)
    };
    let chosen = candidates()
        .find(|p| {
            let k = CodecKey::of(p, key.red);
            k.profile == key.profile && k.packetization == key.packetization
        })
        .or_else(|| candidates().next())?;
    match (key.red, chosen.red()) {
        (true, Some(red)) => Some((red, true)),
        _ => Some((chosen.pt(), false)),
    }
}

impl DownTrack {
    /// Cached [`outgoing`]; `None` if the subscriber cannot take this codec.
    pub(crate) fn out_pt(&mut self, rtc: &Rtc, key: CodecKey) -> Option<(Pt, bool)> {
        if let Some((_, pt)) = self.out_pts.iter().find(|(k, _)| *k == key) {
            return *pt;
        }
        let pt = outgoing(rtc, self.mid, key);
        if pt.is_none() {
            tracing::debug!(mid = %self.mid, ?key, "subscriber did not negotiate this codec");
        }
        self.out_pts.push((key, pt));
        pt
    }
}

/// The primary (newest) block of an RFC 2198 RED payload: after the 4-byte
/// headers of the redundant blocks (F bit set), the 1-byte last header, and
/// the redundant data.
pub(crate) fn red_primary(payload: &[u8]) -> Option<&[u8]> {
    let mut offset = 0;
    let mut redundant = 0usize;
    loop {
        let header = *payload.get(offset)?;
        if header & 0x80 == 0 {
            offset += 1;
            break;
        }
        let length = usize::from(*payload.get(offset + 2)? & 0x03) << 8
            | usize::from(*payload.get(offset + 3)?);
        redundant += length;
        offset += 4;
    }
    payload.get(offset + redundant..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn red_primary_skips_the_redundant_blocks() {
        // One redundant block of 3 bytes (PT 111, offset 960), then the primary.
        let payload = [0x80 | 111, 0x0f, 0x00, 0x03, 111, 0xa, 0xb, 0xc, 0x1, 0x2];
        assert_eq!(red_primary(&payload), Some(&[0x1, 0x2][..]));
        // No redundancy: just the last header.
        assert_eq!(red_primary(&[111, 9, 9]), Some(&[9, 9][..]));
        // Truncated: a length running past the end.
        assert_eq!(red_primary(&[0x80 | 111, 0, 0, 200, 111]), None);
        assert_eq!(red_primary(&[]), None);
    }
}
