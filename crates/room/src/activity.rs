//! What happens in rooms, told to whoever listens outside them (webhooks):
//! rooms starting and finishing, people joining and leaving, tracks published
//! and unpublished. Hidden participants (recorders) make no news.
//!
//! Rooms send on a broadcast channel, so a room never waits for a listener;
//! one that falls more than [`BACKLOG`] behind misses the oldest.

use crate::Participant;
use crate::Track;
use crate::admin::RoomInfo;

/// Activities a listener may fall behind by before it misses some.
pub const BACKLOG: usize = 1024;

#[derive(Debug, Clone)]
pub enum Activity {
    RoomStarted(RoomInfo),
    RoomFinished(RoomInfo),
    ParticipantJoined(RoomInfo, Participant),
    ParticipantLeft(RoomInfo, Participant),
    TrackPublished(RoomInfo, Participant, Track),
    TrackUnpublished(RoomInfo, Participant, Track),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{microphone, registry, request};

    fn kinds(rx: &mut tokio::sync::broadcast::Receiver<Activity>) -> Vec<String> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .map(|a| match a {
                Activity::RoomStarted(r) => format!("started {}", r.name),
                Activity::RoomFinished(r) => format!("finished {}", r.name),
                Activity::ParticipantJoined(r, p) => format!("joined {} {}", r.name, p.identity),
                Activity::ParticipantLeft(_, p) => format!("left {}", p.identity),
                Activity::TrackPublished(_, p, t) => format!("published {} {}", p.identity, t.cid),
                Activity::TrackUnpublished(_, p, t) => {
                    format!("unpublished {} {}", p.identity, t.cid)
                }
            })
            .collect()
    }

    #[test]
    fn a_meeting_tells_its_story_and_hidden_participants_make_no_news() {
        let rooms = registry(10);
        let mut rx = rooms.activity();
        let a = rooms.join("r", request("a")).expect("join");
        let mut recorder = request("rec");
        recorder.permission.hidden = true;
        let rec = rooms.join("r", recorder).expect("hidden join");
        let track = a.room.add_track(a.me.peer, microphone()).expect("track");
        a.room.unpublish(a.me.peer, track.id);
        rec.room.leave(rec.me.peer);
        a.room.leave(a.me.peer);
        assert_eq!(
            kinds(&mut rx),
            [
                "started r",
                "joined r a",
                "published a mic",
                "unpublished a mic",
                "left a",
                "finished r"
            ]
        );
    }
}
