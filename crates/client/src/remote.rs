//! Who published a track the subscriber connection carries.

use str0m::media::MediaKind;

/// A forwarded track, as the subscriber connection's m-line names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTrack {
    pub participant_sid: String,
    pub track_sid: String,
    pub kind: MediaKind,
}

impl RemoteTrack {
    /// The server labels a forwarded track's stream `PA_<publisher>|TR_<track>`
    /// (LiveKit's convention); other servers put the track id in `a=msid`'s
    /// second part.
    pub fn from_msid(stream_id: &str, track_id: &str, kind: MediaKind) -> Self {
        let (participant_sid, track_sid) = match stream_id.split_once('|') {
            Some((p, t)) => (p.to_string(), t.to_string()),
            None => (stream_id.to_string(), track_id.to_string()),
        };
        Self {
            participant_sid,
            track_sid,
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_publisher_and_track_from_the_stream_id() {
        let t = RemoteTrack::from_msid("PA_abc|TR_def", "ignored", MediaKind::Video);
        assert_eq!(t.participant_sid, "PA_abc");
        assert_eq!(t.track_sid, "TR_def");
        let t = RemoteTrack::from_msid("stream", "track", MediaKind::Audio);
        assert_eq!(
            (t.participant_sid.as_str(), t.track_sid.as_str()),
            ("stream", "track")
        );
    }
}
