//! A microphone published by a headless participant (the SIP gateway's phone callers).
//!
//! LiveKit's protocol publishes on a second peer connection, the publisher: the client announces
//! the track (`AddTrack`), the server confirms it (`TrackPublished`), the client offers a send-only
//! audio m-line and applies the server's answer. From then on each Opus frame is written with
//! str0m's frame API, which packetizes, encrypts and paces it; a frame written before the
//! connection is up is dropped by str0m, which for live audio is what should happen.

use std::time::Instant;

use livekit_protocol as lk;
use lk::signal_request::Message as Req;
use str0m::RtcConfig;
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};

use crate::{ClientError, Peer};

/// The `cid` of the track in `AddTrack`: the server echoes it in `TrackPublished`.
const CID: &str = "microphone";

enum State {
    /// `AddTrack` sent; waiting for `TrackPublished`.
    Announced,
    /// Offer sent; waiting for the answer.
    Offered {
        mid: Mid,
        pending: SdpPendingOffer,
    },
    Ready {
        mid: Mid,
        pt: Pt,
    },
}

pub(crate) struct Microphone {
    pub(crate) peer: Peer,
    /// The track's sid, once the server published it.
    pub(crate) sid: Option<String>,
    stream_id: String,
    state: State,
    /// Samples written so far at 48 kHz, Opus's RTP clock: the next frame's timestamp.
    written: u64,
}

impl Microphone {
    /// A publisher connection at `ip`, and the request that announces the track.
    pub(crate) async fn bind(ip: std::net::IpAddr) -> Result<(Self, Req), ClientError> {
        let rtc = RtcConfig::new().clear_codecs().enable_opus(true, false);
        let peer = Peer::bind(ip, rtc).await?;
        let stream_id = format!("microphone-{:08x}", rand::random::<u32>());
        let announce = Req::AddTrack(lk::AddTrackRequest {
            cid: CID.into(),
            name: "microphone".into(),
            r#type: lk::TrackType::Audio as i32,
            source: lk::TrackSource::Microphone as i32,
            stream: stream_id.clone(),
            ..Default::default()
        });
        let mic = Self {
            peer,
            sid: None,
            stream_id,
            state: State::Announced,
            written: 0,
        };
        Ok((mic, announce))
    }

    /// The server published the track: the offer to send, if it is ours and not yet offered.
    pub(crate) fn on_published(
        &mut self,
        published: &lk::TrackPublishedResponse,
    ) -> Result<Option<Req>, ClientError> {
        if published.cid != CID || !matches!(self.state, State::Announced) {
            return Ok(None);
        }
        self.sid = published.track.as_ref().map(|t| t.sid.clone());
        let mut api = self.peer.rtc.sdp_api();
        let mid = api.add_media(
            MediaKind::Audio,
            Direction::SendOnly,
            Some(self.stream_id.clone()),
            Some(CID.into()),
            None,
        );
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| ClientError::Sdp("no publisher offer was made".into()))?;
        self.peer.drain();
        self.state = State::Offered { mid, pending };
        Ok(Some(Req::Offer(lk::SessionDescription {
            r#type: "offer".into(),
            sdp: offer.to_sdp_string(),
            id: 1,
            ..Default::default()
        })))
    }

    /// The server's answer to the publisher offer.
    pub(crate) fn on_answer(&mut self, answer: &lk::SessionDescription) -> Result<(), ClientError> {
        let State::Offered { mid, pending } = std::mem::replace(&mut self.state, State::Announced)
        else {
            return Err(ClientError::Sdp(
                "a publisher answer without an offer".into(),
            ));
        };
        let answer =
            SdpAnswer::from_sdp_string(&answer.sdp).map_err(|e| ClientError::Sdp(e.to_string()))?;
        self.peer
            .rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| ClientError::Sdp(e.to_string()))?;
        self.peer.drain();
        let pt = self
            .peer
            .rtc
            .writer(mid)
            .and_then(|w| {
                w.payload_params()
                    .find(|p| p.spec().codec == Codec::Opus)
                    .map(|p| p.pt())
            })
            .ok_or_else(|| ClientError::Sdp("the server accepted no Opus".into()))?;
        self.state = State::Ready { mid, pt };
        Ok(())
    }

    /// Send one Opus frame of `samples` (at 48 kHz) whose loudness is `level` (dBov, 0 loudest,
    /// -127 silence: the RTP audio-level extension, from which the server finds who speaks);
    /// false while the track is not yet set up.
    pub(crate) fn write(
        &mut self,
        opus: &[u8],
        samples: u32,
        level: i8,
        now: Instant,
    ) -> Result<bool, ClientError> {
        let State::Ready { mid, pt } = self.state else {
            return Ok(false);
        };
        let time = MediaTime::new(self.written, Frequency::FORTY_EIGHT_KHZ);
        self.written += u64::from(samples);
        let Some(writer) = self.peer.rtc.writer(mid) else {
            return Ok(false);
        };
        // Voice activity as browsers judge it roughly: louder than -50 dBov.
        writer
            .audio_level(level, level > -50)
            .write(pt, now, time, opus.to_vec())
            .map_err(|e| ClientError::Peer {
                side: "publisher",
                reason: e.to_string(),
            })?;
        self.peer.drain();
        Ok(true)
    }
}
