#![no_main]
//! The SIP gateway's parsers of what phones send: RTP headers, telephone-events, SIP INFO digits,
//! and SDP offers, whose answer must itself parse.

use confab_sip::{dtmf, rtp, sdp};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(p) = rtp::Packet::parse(data) {
        let payload = &data[p.payload.clone()];
        let _ = dtmf::Receiver::default().on_packet(p.timestamp, payload);
        let mut out = Vec::new();
        p.write(payload, &mut out);
        assert_eq!(rtp::Packet::parse(&out).map(|q| q.sequence), Ok(p.sequence));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = dtmf::from_info("application/dtmf-relay", text);
        if let Ok(offer) = sdp::Description::parse(text)
            && let Ok(agreed) = offer.negotiate(&sdp::Codec::ALL)
        {
            let local = std::net::SocketAddr::from(([127, 0, 0, 1], 4000));
            let answer = offer.answer(&agreed, local, sdp::Session { id: 1, version: 1 });
            if let Err(e) = sdp::Description::parse(&answer) {
                panic!("our answer does not parse ({e}):\n{answer}");
            }
        }
    }
});
