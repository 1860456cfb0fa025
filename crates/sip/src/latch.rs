//! Symmetric RTP ("latching"): send the call's audio to where its audio really comes from.
//!
//! A phone behind NAT writes its private address into the SDP; packets sent there are lost, and
//! the caller hears nothing (livekit/sip #208, jigasi #147). The packets that arrive, though, come
//! from the NAT's public mapping, which also forwards the other way. So the gateway sends to the
//! SDP's address only until the first packet arrives, then to that packet's source.
//!
//! Latching onto just any source would let anyone who guesses the port take over the call's
//! audio (an RTP "bleed" or injection). So once latched, a packet from a new source is accepted
//! only if it continues the stream already being received (same SSRC: the NAT changed its
//! mapping), or if the latched source has been silent for a while (the provider moved the call to
//! another media server, which starts a new SSRC). Everything else is dropped. A re-INVITE that
//! names a new address starts over.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long the latched source must be silent before a stranger may take its place.
pub const RELATCH_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// From the latched source: use it.
    Accept,
    /// The first packet, or a move the rules allow: use it, and send there from now on.
    Latched { from: SocketAddr },
    /// From somewhere else: drop it.
    Reject,
}

#[derive(Debug)]
pub struct Latch {
    signalled: SocketAddr,
    latched: Option<Source>,
}

#[derive(Debug, Clone, Copy)]
struct Source {
    addr: SocketAddr,
    ssrc: u32,
    last: Instant,
}

impl Latch {
    /// A call whose SDP says to send to `signalled`.
    pub fn new(signalled: SocketAddr) -> Latch {
        Latch {
            signalled,
            latched: None,
        }
    }

    /// Where to send the call's audio now.
    pub fn destination(&self) -> SocketAddr {
        self.latched.map_or(self.signalled, |s| s.addr)
    }

    /// A re-INVITE's new address: latch anew, unless it is the same.
    pub fn resignal(&mut self, signalled: SocketAddr) {
        if signalled != self.signalled {
            *self = Latch::new(signalled);
        }
    }

    /// An RTP packet with `ssrc` arrived from `from` at `now`.
    pub fn on_packet(&mut self, from: SocketAddr, ssrc: u32, now: Instant) -> Verdict {
        let verdict = match self.latched {
            Some(s) if s.addr == from => Verdict::Accept,
            Some(s) if s.ssrc != ssrc && now.saturating_duration_since(s.last) < RELATCH_AFTER => {
                return Verdict::Reject;
            }
            _ => Verdict::Latched { from },
        };
        self.latched = Some(Source {
            addr: from,
            ssrc,
            last: now,
        });
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn sends_to_the_sdp_address_until_media_arrives_then_to_its_source() {
        let t = Instant::now();
        let mut latch = Latch::new(addr("192.168.1.20:4000"));
        assert_eq!(latch.destination(), addr("192.168.1.20:4000"));
        let nat = addr("198.51.100.7:61000");
        assert_eq!(latch.on_packet(nat, 1, t), Verdict::Latched { from: nat });
        assert_eq!(latch.destination(), nat);
        assert_eq!(latch.on_packet(nat, 1, t), Verdict::Accept);
        assert_eq!(
            latch.on_packet(nat, 2, t),
            Verdict::Accept,
            "a new SSRC from the same place"
        );
    }

    #[test]
    fn a_stranger_cannot_take_over_a_live_call() {
        let t = Instant::now();
        let mut latch = Latch::new(addr("192.168.1.20:4000"));
        let caller = addr("198.51.100.7:61000");
        latch.on_packet(caller, 1, t);
        let attacker = addr("203.0.113.9:5000");
        assert_eq!(
            latch.on_packet(attacker, 99, t + Duration::from_millis(500)),
            Verdict::Reject
        );
        assert_eq!(latch.destination(), caller);
    }

    #[test]
    fn the_same_stream_from_a_new_mapping_moves_the_latch() {
        let t = Instant::now();
        let mut latch = Latch::new(addr("192.168.1.20:4000"));
        latch.on_packet(addr("198.51.100.7:61000"), 1, t);
        let rebound = addr("198.51.100.7:61002");
        assert_eq!(
            latch.on_packet(rebound, 1, t),
            Verdict::Latched { from: rebound }
        );
        assert_eq!(latch.destination(), rebound);
    }

    #[test]
    fn after_silence_a_new_source_may_take_over() {
        let t = Instant::now();
        let mut latch = Latch::new(addr("192.168.1.20:4000"));
        latch.on_packet(addr("198.51.100.7:61000"), 1, t);
        let media_server = addr("198.51.100.99:30000");
        assert_eq!(
            latch.on_packet(media_server, 5, t + RELATCH_AFTER),
            Verdict::Latched { from: media_server }
        );
    }

    #[test]
    fn a_reinvite_to_a_new_address_starts_over() {
        let t = Instant::now();
        let mut latch = Latch::new(addr("192.168.1.20:4000"));
        latch.on_packet(addr("198.51.100.7:61000"), 1, t);
        latch.resignal(addr("192.168.1.20:4000"));
        assert_eq!(
            latch.destination(),
            addr("198.51.100.7:61000"),
            "the same address keeps the latch"
        );
        latch.resignal(addr("10.0.0.5:7000"));
        assert_eq!(latch.destination(), addr("10.0.0.5:7000"));
    }
}
