//! Entry points for the fuzz targets in `fuzz/`: each takes bytes as they
//! arrive from the network and runs them through the same code the media
//! plane does, with nothing to set up. Not part of the API.

use std::time::Instant;

use str0m::change::SdpOffer;
use str0m::format::{detect_h264_keyframe, detect_h264_nalu};
use str0m::rtp::Vp8Descriptor;
use str0m::{Candidate, Rtc, RtcConfig};

use crate::net::{Owner, UfragOwners, identify};
use crate::worker::codec::red_primary;
use crate::worker::negotiation::check_offer_size;

/// A datagram or ICE-TCP frame from an unknown address: is it a signed
/// binding request of a session we know?
pub fn stun(data: &[u8]) {
    let owners = UfragOwners::default();
    owners.write().unwrap_or_else(|p| p.into_inner()).insert(
        "srv1".into(),
        Owner {
            worker: 0,
            password: "fuzz-session-password".into(),
        },
    );
    let _ = identify(&owners, data);
}

/// An RTP payload as the forwarder reads it: RED's primary block, the VP8
/// descriptor (keyframe, picture id, layers), H.264 keyframe detection.
pub fn rtp_payload(data: &[u8]) {
    let primary = red_primary(data).unwrap_or(data);
    if let Ok(d) = Vp8Descriptor::parse(primary) {
        let _ = (d.picture_id(), d.tl0_pic_idx());
    }
    let _ = detect_h264_nalu(primary, 7) || detect_h264_keyframe(primary);
}

/// A publisher's offer, checked and accepted by a session configured as
/// ours are.
pub fn offer(sdp: &[u8]) {
    let Ok(sdp) = std::str::from_utf8(sdp) else {
        return;
    };
    if check_offer_size(sdp).is_err() {
        return;
    }
    let Ok(offer) = SdpOffer::from_sdp_string(sdp) else {
        return;
    };
    let mut rtc: Rtc = RtcConfig::new()
        .set_ice_lite(true)
        .set_rtp_mode(true)
        .enable_bwe(None)
        .build(Instant::now());
    if let Ok(c) = Candidate::host("127.0.0.1:10000".parse().expect("an address"), "udp") {
        rtc.add_local_candidate(c);
    }
    let _ = rtc.sdp_api().accept_offer(offer);
}
