//! Between Confab's room types and the LiveKit wire types. This is the only
//! place that knows both.

use confab_room::{
    Layer, NewTrack, Participant, ParticipantKind, ParticipantState, RoomInfo, Source, Track,
};
use confab_sfu::Kind;
use livekit_protocol as lk;

pub fn room(r: &RoomInfo) -> lk::Room {
    lk::Room {
        sid: r.sid.clone(),
        name: r.name.clone(),
        metadata: r.metadata.clone(),
        empty_timeout: u32::try_from(r.empty_timeout.as_secs()).unwrap_or(u32::MAX),
        max_participants: u32::try_from(r.max_participants).unwrap_or(u32::MAX),
        creation_time: r.created_at,
        creation_time_ms: r.created_at * 1000,
        num_participants: u32::try_from(r.num_participants).unwrap_or(u32::MAX),
        num_publishers: u32::try_from(r.num_publishers).unwrap_or(u32::MAX),
        active_recording: r.recording,
        ..Default::default()
    }
}

pub fn participant(p: &Participant) -> lk::ParticipantInfo {
    lk::ParticipantInfo {
        sid: p.sid.clone(),
        identity: p.identity.clone(),
        name: p.name.clone(),
        metadata: p.metadata.clone(),
        state: match p.state {
            ParticipantState::Joined => lk::participant_info::State::Joined,
            ParticipantState::Active => lk::participant_info::State::Active,
            ParticipantState::Disconnected => lk::participant_info::State::Disconnected,
        } as i32,
        tracks: p.tracks.iter().map(track).collect(),
        joined_at: p.joined_at,
        joined_at_ms: p.joined_at * 1000,
        version: p.version,
        permission: Some(lk::ParticipantPermission {
            can_subscribe: p.permission.can_subscribe,
            can_publish: p.permission.can_publish,
            can_publish_data: p.permission.can_publish_data,
            hidden: p.permission.hidden,
            ..Default::default()
        }),
        is_publisher: !p.tracks.is_empty(),
        client_protocol: p.client_protocol,
        attributes: p
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        kind: match p.kind {
            ParticipantKind::Standard => lk::participant_info::Kind::Standard,
            ParticipantKind::Ingress => lk::participant_info::Kind::Ingress,
            ParticipantKind::Egress => lk::participant_info::Kind::Egress,
            ParticipantKind::Sip => lk::participant_info::Kind::Sip,
            ParticipantKind::Agent => lk::participant_info::Kind::Agent,
        } as i32,
        ..Default::default()
    }
}

// `simulcast` and the top-level `layers` are deprecated in the schema but still
// read by livekit-client, so both forms are filled.
#[allow(deprecated)]
pub fn track(t: &Track) -> lk::TrackInfo {
    let layers: Vec<lk::VideoLayer> = t
        .layers
        .iter()
        .map(|l| lk::VideoLayer {
            quality: i32::from(l.quality),
            width: l.width,
            height: l.height,
            bitrate: l.bitrate,
            ..Default::default()
        })
        .collect();
    lk::TrackInfo {
        sid: t.sid.clone(),
        name: t.name.clone(),
        r#type: match t.kind {
            Kind::Audio => lk::TrackType::Audio,
            Kind::Video => lk::TrackType::Video,
        } as i32,
        source: match t.source {
            Source::Unknown => lk::TrackSource::Unknown,
            Source::Camera => lk::TrackSource::Camera,
            Source::Microphone => lk::TrackSource::Microphone,
            Source::ScreenShare => lk::TrackSource::ScreenShare,
            Source::ScreenShareAudio => lk::TrackSource::ScreenShareAudio,
        } as i32,
        muted: t.muted,
        width: t.width,
        height: t.height,
        simulcast: t.simulcast,
        mime_type: t.mime_type.clone(),
        codecs: vec![lk::SimulcastCodecInfo {
            mime_type: t.mime_type.clone(),
            cid: t.cid.clone(),
            layers: layers.clone(),
            ..Default::default()
        }],
        layers,
        stream: t.stream.clone(),
        ..Default::default()
    }
}

/// The publisher's AddTrackRequest as a room track request.
pub fn new_track(req: &lk::AddTrackRequest) -> Option<NewTrack> {
    let kind = match lk::TrackType::try_from(req.r#type).ok()? {
        lk::TrackType::Audio => Kind::Audio,
        lk::TrackType::Video => Kind::Video,
        lk::TrackType::Data => return None,
    };
    let source = match lk::TrackSource::try_from(req.source).unwrap_or(lk::TrackSource::Unknown) {
        lk::TrackSource::Unknown => Source::Unknown,
        lk::TrackSource::Camera => Source::Camera,
        lk::TrackSource::Microphone => Source::Microphone,
        lk::TrackSource::ScreenShare => Source::ScreenShare,
        lk::TrackSource::ScreenShareAudio => Source::ScreenShareAudio,
    };
    // Newer clients describe layers per codec; older ones at the top level.
    let described = req
        .simulcast_codecs
        .iter()
        .find(|c| !c.layers.is_empty())
        .map(|c| &c.layers)
        .unwrap_or(&req.layers);
    let layers: Vec<Layer> = described
        .iter()
        .take(3)
        .map(|l| Layer {
            quality: l.quality.clamp(0, 2) as u8,
            width: l.width.min(16_384),
            height: l.height.min(16_384),
            bitrate: l.bitrate,
        })
        .collect();
    let cid = req
        .simulcast_codecs
        .iter()
        .map(|c| c.cid.as_str())
        .find(|c| !c.is_empty())
        .unwrap_or(&req.cid);
    let codec = req
        .simulcast_codecs
        .iter()
        .map(|c| c.codec.to_ascii_lowercase())
        .find(|c| !c.is_empty())
        .unwrap_or_else(|| "vp8".into());
    Some(NewTrack {
        codec: cap(&codec, 16),
        cid: cap(cid, 256),
        kind,
        source,
        name: cap(&req.name, 256),
        muted: req.muted,
        width: req.width.min(16_384),
        height: req.height.min(16_384),
        simulcast: layers.len() > 1,
        layers,
        stream: cap(&req.stream, 256),
    })
}

/// Truncate client-supplied text to at most `max` bytes, on a char boundary.
pub fn cap(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}
