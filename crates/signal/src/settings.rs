//! Capture and encoding settings the operator chose, served to the Meet app
//! as JSON (`GET /api/settings?room=NAME`) before it joins.
//!
//! The media plane enforces what it can itself (the Opus bitrate and stereo
//! in the SDP, last-N, the codecs it negotiates); what only the browser can
//! do (capture constraints, audio processing, encoder bitrates per layer, RED
//! and DTX on the sender) the app applies from here.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use confab_sfu::VideoCodec;
use confab_sfu::opus::OpusSettings;
use serde::Serialize;

use crate::{AppState, bad_request, cors, valid_room_name};

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AudioSettings {
    /// Opus `maxaveragebitrate`, bits/s.
    pub max_average_bitrate: Option<u32>,
    pub stereo: bool,
    pub dtx: bool,
    pub red: bool,
    /// All browser audio processing off (implies the three below).
    pub disable_ap: bool,
    pub disable_aec: bool,
    pub disable_ns: bool,
    pub disable_agc: bool,
}

impl Default for AudioSettings {
    fn default() -> Self {
        let opus = OpusSettings::default();
        Self {
            max_average_bitrate: opus.max_average_bitrate,
            stereo: opus.stereo,
            dtx: opus.dtx,
            red: opus.red,
            disable_ap: false,
            disable_aec: false,
            disable_ns: false,
            disable_agc: false,
        }
    }
}

impl AudioSettings {
    /// The part the media plane writes into the SDP.
    pub fn opus(&self) -> OpusSettings {
        OpusSettings {
            max_average_bitrate: self.max_average_bitrate,
            stereo: self.stereo,
            dtx: self.dtx,
            red: self.red,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VideoSettings {
    pub ideal_height: u32,
    pub max_height: u32,
    pub min_height: u32,
    /// Encoder ceiling per simulcast layer, lowest first, bits/s.
    pub layer_max_bitrates: [u32; 3],
}

impl Default for VideoSettings {
    fn default() -> Self {
        Self {
            ideal_height: 720,
            max_height: 1080,
            min_height: 180,
            layer_max_bitrates: [150_000, 500_000, 1_700_000],
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ClientSettings {
    pub audio: AudioSettings,
    pub video: VideoSettings,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Reply<'a> {
    audio: &'a AudioSettings,
    video: &'a VideoSettings,
    /// Preferred first.
    video_codecs: Vec<&'static str>,
    /// -1: every video.
    last_n: i64,
}

pub fn codec_name(c: VideoCodec) -> &'static str {
    match c {
        VideoCodec::Vp8 => "vp8",
        VideoCodec::H264 => "h264",
    }
}

pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let room = params.get("room").map(String::as_str).unwrap_or_default();
    if !room.is_empty() && !valid_room_name(room) {
        return bad_request("invalid room name");
    }
    let media = state.rooms.settings_for(room);
    cors(
        axum::Json(Reply {
            audio: &state.client_settings.audio,
            video: &state.client_settings.video,
            video_codecs: media.video_codecs.iter().copied().map(codec_name).collect(),
            last_n: media.last_n.map_or(-1, |n| n as i64),
        })
        .into_response(),
    )
}
