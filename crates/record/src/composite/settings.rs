//! What a room composite request asks for, checked: the canvas, the layout,
//! and where the file goes. Anything Confab cannot do, or sizes no one could
//! want, are refused with the reason, before any job exists.

use livekit_protocol as lk;
use lk::room_composite_egress_request::{Options, Output};

use super::layout::Layout;
use super::mixer::Canvas;
use super::stream::{MAX_DESTINATIONS, MAX_URL, shown};

#[derive(Debug, Clone, PartialEq)]
pub struct CompositeSettings {
    pub canvas: Canvas,
    pub layout: Layout,
    pub audio_only: bool,
    pub video_only: bool,
    /// Whether a file is written, and its path template ("" for the default name).
    pub file: Option<String>,
    /// Live stream destinations (RTMP or RTMPS URLs, stream keys included).
    pub streams: Vec<String>,
    /// Whose media is drawn and mixed.
    pub source: Source,
}

/// Whose media a composite takes: everyone's (a room), one person's camera
/// (or screen share) and microphone, or two named tracks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Room,
    Participant {
        identity: String,
        screen_share: bool,
    },
    Tracks(Vec<String>),
}

impl Source {
    /// Whether `track` of the participant `identity` is drawn or mixed.
    pub fn wants(&self, identity: &str, track: &lk::TrackInfo) -> bool {
        let screen = [
            lk::TrackSource::ScreenShare as i32,
            lk::TrackSource::ScreenShareAudio as i32,
        ];
        match self {
            Source::Room => true,
            Source::Participant {
                identity: who,
                screen_share,
            } => who == identity && screen.contains(&track.source) == *screen_share,
            Source::Tracks(sids) => sids.contains(&track.sid),
        }
    }

    pub fn is_participant(&self, identity: &str) -> bool {
        matches!(self, Source::Participant { identity: who, .. } if who == identity)
    }
}

const DEFAULT: Canvas = Canvas {
    width: 1280,
    height: 720,
    fps: 30,
    video_kbps: 3000,
    audio_bps: 128_000,
};

// The request's single `output` is deprecated in favour of the lists, and
// still read: older server SDKs send it.
#[allow(deprecated)]
pub fn composite_settings(
    req: &lk::RoomCompositeEgressRequest,
) -> Result<CompositeSettings, String> {
    let layout = Layout::parse(&req.layout).ok_or_else(|| {
        format!(
            "unknown layout {:?}: use \"grid\" or \"speaker\"",
            req.layout
        )
    })?;
    if !req.custom_base_url.is_empty() {
        return Err(
            "custom layouts (custom_base_url) are not supported: use \"grid\" or \"speaker\""
                .into(),
        );
    }
    if req.audio_only && req.video_only {
        return Err("audio_only and video_only together leave nothing to record".into());
    }
    if !req.segment_outputs.is_empty()
        || !req.image_outputs.is_empty()
        || matches!(req.output, Some(Output::Segments(_)))
    {
        return Err(
            "segment and image outputs are not supported: record to a file or stream".into(),
        );
    }
    if !req.webhooks.is_empty() {
        return Err("per-request webhooks are not supported".into());
    }
    let (legacy_file, legacy_stream) = match &req.output {
        Some(Output::File(f)) => (Some(f), None),
        Some(Output::Stream(s)) => (None, Some(s)),
        _ => (None, None),
    };
    let files: Vec<&lk::EncodedFileOutput> = req.file_outputs.iter().chain(legacy_file).collect();
    let file = match files.as_slice() {
        [] => None,
        [one] => Some(*one),
        _ => return Err("one file output per recording".into()),
    };
    if let Some(file) = file {
        if file.output.is_some() {
            return Err(
                "uploads named in the request are not supported: Confab uploads to the storage its operator configured"
                    .into(),
            );
        }
        match lk::EncodedFileType::try_from(file.file_type) {
            Ok(lk::EncodedFileType::DefaultFiletype | lk::EncodedFileType::Mp4) => {}
            _ => return Err("the file type must be MP4".into()),
        }
    }
    let mut streams = Vec::new();
    for out in req.stream_outputs.iter().chain(legacy_stream) {
        match lk::StreamProtocol::try_from(out.protocol) {
            Ok(lk::StreamProtocol::DefaultProtocol | lk::StreamProtocol::Rtmp) => {}
            _ => return Err("live streams go out over RTMP or RTMPS".into()),
        }
        for url in &out.urls {
            check_stream_url(url)?;
            if !streams.contains(url) {
                streams.push(url.clone());
            }
        }
    }
    if streams.len() > MAX_DESTINATIONS {
        return Err(format!("at most {MAX_DESTINATIONS} stream destinations"));
    }
    if file.is_none() && streams.is_empty() {
        return Err("the request names no output: a file or a stream".into());
    }
    let canvas = match &req.options {
        None => DEFAULT,
        Some(Options::Preset(p)) => match lk::EncodingOptionsPreset::try_from(*p) {
            Ok(lk::EncodingOptionsPreset::H264720p30) => DEFAULT,
            Ok(lk::EncodingOptionsPreset::H2641080p30) => Canvas {
                width: 1920,
                height: 1080,
                video_kbps: 4500,
                ..DEFAULT
            },
            _ => return Err("supported presets: H264_720P_30 and H264_1080P_30".into()),
        },
        Some(Options::Advanced(o)) => advanced(o)?,
    };
    Ok(CompositeSettings {
        canvas,
        layout,
        audio_only: req.audio_only,
        video_only: req.video_only,
        file: file.map(|f| f.filepath.clone()),
        streams,
        source: Source::Room,
    })
}

/// One person's camera (or screen share) and microphone together.
pub fn participant_settings(
    req: &lk::ParticipantEgressRequest,
) -> Result<CompositeSettings, String> {
    use lk::participant_egress_request::Options as P;
    if req.identity.is_empty() {
        return Err("the request names no participant (identity)".into());
    }
    let room = lk::RoomCompositeEgressRequest {
        room_name: req.room_name.clone(),
        file_outputs: req.file_outputs.clone(),
        stream_outputs: req.stream_outputs.clone(),
        segment_outputs: req.segment_outputs.clone(),
        image_outputs: req.image_outputs.clone(),
        webhooks: req.webhooks.clone(),
        options: req.options.map(|o| match o {
            P::Preset(p) => Options::Preset(p),
            P::Advanced(a) => Options::Advanced(a),
        }),
        ..Default::default()
    };
    Ok(CompositeSettings {
        source: Source::Participant {
            identity: req.identity.clone(),
            screen_share: req.screen_share,
        },
        ..composite_settings(&room)?
    })
}

/// An audio track and a video track together (either may be left out).
#[allow(deprecated)] // the single `output` is still sent by older SDKs
pub fn track_composite_settings(
    req: &lk::TrackCompositeEgressRequest,
) -> Result<CompositeSettings, String> {
    use lk::track_composite_egress_request::{Options as T, Output as O};
    let tracks: Vec<String> = [&req.audio_track_id, &req.video_track_id]
        .into_iter()
        .filter(|t| !t.is_empty())
        .cloned()
        .collect();
    if tracks.is_empty() {
        return Err("the request names no track (audio_track_id, video_track_id)".into());
    }
    let room = lk::RoomCompositeEgressRequest {
        room_name: req.room_name.clone(),
        audio_only: req.video_track_id.is_empty(),
        video_only: req.audio_track_id.is_empty(),
        file_outputs: req.file_outputs.clone(),
        stream_outputs: req.stream_outputs.clone(),
        segment_outputs: req.segment_outputs.clone(),
        image_outputs: req.image_outputs.clone(),
        webhooks: req.webhooks.clone(),
        output: req.output.clone().map(|o| match o {
            O::File(f) => Output::File(f),
            O::Stream(s) => Output::Stream(s),
            O::Segments(s) => Output::Segments(s),
        }),
        options: req.options.map(|o| match o {
            T::Preset(p) => Options::Preset(p),
            T::Advanced(a) => Options::Advanced(a),
        }),
        ..Default::default()
    };
    Ok(CompositeSettings {
        source: Source::Tracks(tracks),
        ..composite_settings(&room)?
    })
}

/// A live stream destination Confab can push to.
pub fn check_stream_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_URL || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!("{} is not a usable stream URL", shown(url)));
    }
    if !(url.starts_with("rtmp://") || url.starts_with("rtmps://")) {
        return Err(format!("{} is not an rtmp:// or rtmps:// URL", shown(url)));
    }
    Ok(())
}

fn advanced(o: &lk::EncodingOptions) -> Result<Canvas, String> {
    let pick = |v: i32, default: i32| if v == 0 { default } else { v };
    let c = Canvas {
        width: pick(o.width, DEFAULT.width),
        height: pick(o.height, DEFAULT.height),
        fps: pick(o.framerate, DEFAULT.fps),
        video_kbps: pick(o.video_bitrate, DEFAULT.video_kbps as i32).max(0) as u32,
        audio_bps: pick(o.audio_bitrate, DEFAULT.audio_bps / 1000) * 1000,
    };
    if !(160..=1920).contains(&c.width)
        || !(90..=1920).contains(&c.height)
        || c.width % 2 != 0
        || c.height % 2 != 0
    {
        return Err(format!(
            "{}x{} is not a size Confab records: even sizes from 160x90 to 1920x1920",
            c.width, c.height
        ));
    }
    if !(1..=60).contains(&c.fps) {
        return Err(format!("{} fps: use 1 to 60", c.fps));
    }
    if !(100..=20_000).contains(&c.video_kbps) {
        return Err(format!(
            "video bitrate {} kbps: use 100 to 20000",
            c.video_kbps
        ));
    }
    if !(32_000..=320_000).contains(&c.audio_bps) {
        return Err(format!(
            "audio bitrate {} kbps: use 32 to 320",
            c.audio_bps / 1000
        ));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> lk::RoomCompositeEgressRequest {
        lk::RoomCompositeEgressRequest {
            room_name: "r".into(),
            file_outputs: vec![lk::EncodedFileOutput {
                file_type: lk::EncodedFileType::Mp4 as i32,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_plain_request_records_720p30_in_a_grid() {
        let s = composite_settings(&request()).expect("ok");
        assert_eq!(
            (s.canvas.width, s.canvas.height, s.canvas.fps),
            (1280, 720, 30)
        );
        assert_eq!(s.layout, Layout::Grid);
        let mut r = request();
        r.options = Some(Options::Preset(
            lk::EncodingOptionsPreset::H2641080p30 as i32,
        ));
        r.layout = "speaker".into();
        let s = composite_settings(&r).expect("ok");
        assert_eq!((s.canvas.width, s.layout), (1920, Layout::Speaker));
    }

    #[test]
    fn a_stream_alone_or_beside_a_file_is_a_recording() {
        let mut r = request();
        r.stream_outputs.push(lk::StreamOutput {
            protocol: lk::StreamProtocol::Rtmp as i32,
            urls: vec![
                "rtmp://live.example.com/app/key1".into(),
                "rtmp://live.example.com/app/key1".into(),
            ],
        });
        let s = composite_settings(&r).expect("ok");
        assert_eq!(s.streams, ["rtmp://live.example.com/app/key1"]);
        assert!(s.file.is_some());
        r.file_outputs.clear();
        assert!(composite_settings(&r).expect("stream only").file.is_none());
    }

    #[test]
    fn absurd_or_unsupported_requests_are_refused_with_a_reason() {
        let refused = |change: &dyn Fn(&mut lk::RoomCompositeEgressRequest)| {
            let mut r = request();
            change(&mut r);
            composite_settings(&r).expect_err("refused")
        };
        assert!(refused(&|r| r.layout = "mosaic".into()).contains("unknown layout"));
        let huge = lk::EncodingOptions {
            width: 100_000,
            height: 50_000,
            ..Default::default()
        };
        assert!(refused(&|r| r.options = Some(Options::Advanced(huge))).contains("100000x50000"));
        let odd = lk::EncodingOptions {
            width: 641,
            height: 360,
            ..Default::default()
        };
        assert!(refused(&|r| r.options = Some(Options::Advanced(odd))).contains("641x360"));
        let fast = lk::EncodingOptions {
            framerate: 1000,
            ..Default::default()
        };
        assert!(refused(&|r| r.options = Some(Options::Advanced(fast))).contains("fps"));
        assert!(refused(&|r| r.file_outputs.clear()).contains("no output"));
        assert!(
            refused(&|r| {
                r.audio_only = true;
                r.video_only = true;
            })
            .contains("nothing")
        );
        let stream = |url: &str| lk::StreamOutput {
            urls: vec![url.into()],
            ..Default::default()
        };
        assert!(
            refused(&|r| r.stream_outputs.push(stream("http://x/y"))).contains("not an rtmp://")
        );
        assert!(refused(&|r| r.segment_outputs.push(Default::default())).contains("segment"));
        assert!(
            refused(&|r| r.file_outputs[0].file_type = lk::EncodedFileType::Ogg as i32)
                .contains("MP4")
        );
    }
}
