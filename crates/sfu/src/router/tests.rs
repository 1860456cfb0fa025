//! The router driven as the worker drives it, without sockets or sessions:
//! packets and time in, writes and notices out.

use std::time::{Duration, Instant};

use super::*;

const ALICE: PeerId = PeerId(1);
const BOB: PeerId = PeerId(2);
const CAROL: PeerId = PeerId(3);
const CAM: TrackId = TrackId(10);
const MIC: TrackId = TrackId(11);

fn settings() -> RouterSettings {
    RouterSettings {
        last_n: None,
        pause_video_on_congestion: false,
        congestion_control: false,
    }
}

fn wanted(width: u32) -> Wanted {
    Wanted::Size {
        width,
        height: width * 9 / 16,
    }
}

fn size(width: u32) -> LayerSize {
    LayerSize {
        width,
        height: width * 9 / 16,
    }
}

/// Alice publishes a three-layer camera and a microphone; Bob and Carol
/// subscribe to both and their transports are ready.
fn room(t0: Instant) -> Router {
    let mut r = Router::new(settings());
    for p in [ALICE, BOB, CAROL] {
        r.join(p, t0);
    }
    r.publish(
        ALICE,
        CAM,
        Kind::Video,
        vec![size(320), size(640), size(1280)],
        &[],
    );
    r.publish(ALICE, MIC, Kind::Audio, Vec::new(), &[]);
    for sub in [BOB, CAROL] {
        for track in [CAM, MIC] {
            assert!(r.subscribe(sub, track, 1000));
            r.set_ready(sub, track);
        }
    }
    r
}

/// A stream of video packets: `frames` frames of `per_frame` packets on one
/// layer, the first packet of the first frame a keyframe start.
struct Stream {
    layer: u8,
    seq: u64,
    timestamp: u32,
    picture_id: u16,
}

impl Stream {
    fn new(layer: u8) -> Self {
        Self {
            layer,
            seq: 5000 * u64::from(layer + 1),
            timestamp: 90_000 * u32::from(layer + 1),
            picture_id: 100 * u16::from(layer + 1),
        }
    }

    fn packet(&mut self, keyframe_start: bool, frame_start: bool) -> Incoming {
        if frame_start {
            self.timestamp = self.timestamp.wrapping_add(3000);
            self.picture_id = (self.picture_id + 1) % (1 << 15);
        }
        self.seq += 1;
        Incoming {
            track: CAM,
            layer: self.layer,
            seq: self.seq,
            timestamp: self.timestamp,
            keyframe_start,
            picture_id: Some(self.picture_id),
            tl0_pic_idx: None,
            audio_level: None,
            payload_len: 1000,
        }
    }
}

/// An Opus packet of `track` with an audio level (dBov).
fn audio(track: TrackId, seq: u64, level: i8) -> Incoming {
    Incoming {
        track,
        layer: 0,
        seq,
        timestamp: 960 * seq as u32,
        keyframe_start: false,
        picture_id: None,
        tl0_pic_idx: None,
        audio_level: Some(level),
        payload_len: 80,
    }
}

fn writes_to(out: &Forwarded, sub: PeerId) -> Vec<Rewrite> {
    out.writes
        .iter()
        .filter(|w| w.subscriber == sub)
        .map(|w| w.rewrite)
        .collect()
}

#[test]
fn audio_goes_to_every_ready_subscriber_but_its_publisher() {
    let t0 = Instant::now();
    let mut r = room(t0);
    r.publish(BOB, TrackId(20), Kind::Audio, Vec::new(), &[]);
    // Carol's transport has not negotiated Bob's microphone yet.
    assert!(r.subscribe(CAROL, TrackId(20), 1));
    assert!(!r.subscribe(BOB, TrackId(20), 1), "own track");
    let mut out = Forwarded::default();
    r.forward(&audio(MIC, 7, -30), t0, &mut out);
    let mut subs: Vec<_> = out.writes.iter().map(|w| w.subscriber).collect();
    subs.sort();
    assert_eq!(subs, vec![BOB, CAROL]);
    assert!(out.keyframes.is_empty());

    r.forward(&audio(TrackId(20), 7, -30), t0, &mut out);
    assert!(out.writes.is_empty(), "Carol is not ready for it");
    r.set_ready(CAROL, TrackId(20));
    r.forward(&audio(TrackId(20), 8, -30), t0, &mut out);
    assert_eq!(out.writes.len(), 1);
    assert_eq!(out.writes[0].subscriber, CAROL);
}

#[test]
fn a_video_starts_at_a_keyframe_and_asks_for_one_once() {
    let t0 = Instant::now();
    let mut r = room(t0);
    let mut out = Forwarded::default();
    let mut low = Stream::new(0);
    // Deltas first: nobody can decode them, both subscribers need a keyframe,
    // and the publisher is asked once.
    r.forward(&low.packet(false, true), t0, &mut out);
    assert!(out.writes.is_empty());
    assert_eq!(out.keyframes, vec![0]);
    r.forward(&low.packet(false, true), t0, &mut out);
    assert!(out.keyframes.is_empty(), "throttled");

    r.forward(&low.packet(true, true), t0, &mut out);
    assert_eq!(writes_to(&out, BOB).len(), 1);
    let first = writes_to(&out, BOB)[0];
    // The subscriber's sequence numbers start where its forwarder began.
    assert_eq!(first.seq, 1000);
    r.forward(&low.packet(false, false), t0, &mut out);
    assert_eq!(writes_to(&out, BOB)[0].seq, 1001);
    assert_eq!(writes_to(&out, BOB)[0].picture_id, first.picture_id);
}

#[test]
fn switching_layers_keeps_sequence_and_picture_ids_continuous() {
    let t0 = Instant::now();
    let mut r = room(t0);
    let mut out = Forwarded::default();
    let (mut low, mut high) = (Stream::new(0), Stream::new(2));
    // Bob watches small, Carol large.
    r.set_wanted(BOB, CAM, wanted(320));
    r.set_wanted(CAROL, CAM, wanted(1280));
    // One delta of each layer first: both layers are then known to arrive.
    r.forward(&low.packet(false, true), t0, &mut out);
    r.forward(&high.packet(false, true), t0, &mut out);
    let mut t = t0;
    let mut bob = Vec::new();
    let mut carol = Vec::new();
    for frame in 0..5 {
        t += Duration::from_millis(33);
        for p in 0..3 {
            r.forward(&low.packet(frame == 0 && p == 0, p == 0), t, &mut out);
            bob.extend(writes_to(&out, BOB));
            assert!(writes_to(&out, CAROL).is_empty());
            r.forward(&high.packet(frame == 0 && p == 0, p == 0), t, &mut out);
            carol.extend(writes_to(&out, CAROL));
            assert!(writes_to(&out, BOB).is_empty());
        }
    }
    assert_eq!(bob.len(), 15);
    assert_eq!(carol.len(), 15);

    // Bob enlarges the tile: he keeps the low layer until the high one has a
    // keyframe, which is asked for, then continues without a gap.
    r.set_wanted(BOB, CAM, wanted(1280));
    // (Past the keyframe throttle of the requests made at the start.)
    t += Duration::from_secs(2);
    r.forward(&high.packet(false, true), t, &mut out);
    assert!(writes_to(&out, BOB).is_empty());
    assert_eq!(out.keyframes, vec![2]);
    r.forward(&low.packet(false, true), t, &mut out);
    bob.extend(writes_to(&out, BOB));
    assert_eq!(bob.len(), 16, "still on the low layer while waiting");
    t += Duration::from_millis(33);
    r.forward(&high.packet(true, true), t, &mut out);
    let switched = writes_to(&out, BOB);
    assert_eq!(switched.len(), 1);
    r.forward(&low.packet(false, true), t, &mut out);
    assert!(writes_to(&out, BOB).is_empty(), "the low layer stops");
    bob.extend(switched);
    for pair in bob.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1);
    }
    let last = bob[bob.len() - 2];
    let next = bob[bob.len() - 1];
    assert_eq!(
        next.picture_id,
        last.picture_id.map(|p| (p + 1) % (1 << 15))
    );
    assert!(next.timestamp > last.timestamp);
}

#[test]
fn a_muted_track_is_neither_forwarded_nor_heard_and_resumes_from_a_keyframe() {
    let t0 = Instant::now();
    let mut r = room(t0);
    let mut out = Forwarded::default();
    let mut low = Stream::new(0);
    r.forward(&low.packet(true, true), t0, &mut out);
    assert_eq!(out.writes.len(), 2);

    assert!(r.set_muted(CAM, true).is_empty());
    assert!(r.set_muted(MIC, true).is_empty());
    r.forward(&low.packet(false, true), t0, &mut out);
    assert!(out.writes.is_empty());
    // Two seconds of loud speech, asked about as often as the worker asks
    // (the speaking test below shows this is enough to be announced).
    for i in 0..100u64 {
        let t = t0 + Duration::from_millis(20 * i);
        r.forward(&audio(MIC, i + 1, -10), t, &mut out);
        assert!(out.writes.is_empty());
        if i % 12 == 0 {
            assert!(r.speakers(t).0.is_none(), "a muted microphone was heard");
        }
    }

    // Unmuting the camera asks a keyframe of the layer that was arriving.
    assert_eq!(r.set_muted(CAM, false), vec![0]);
    assert!(r.set_muted(CAM, false).is_empty(), "already unmuted");
}

#[test]
fn the_loudest_publisher_is_announced_as_speaking() {
    let t0 = Instant::now();
    let mut r = room(t0);
    let mut out = Forwarded::default();
    let mut updates = Vec::new();
    for i in 0..100u64 {
        let t = t0 + Duration::from_millis(20 * i);
        // The worker asks every 250 ms.
        if i % 12 == 0
            && let (Some(update), _) = r.speakers(t)
        {
            updates.push(update);
        }
        r.forward(&audio(MIC, i + 1, -20), t, &mut out);
    }
    let update = updates.first().expect("a speaker update");
    assert_eq!(update[0].0, ALICE);
    assert!(update[0].2, "active");
}

#[test]
fn allocation_tells_publishers_the_highest_layer_anyone_needs() {
    let t0 = Instant::now();
    let mut r = room(t0);
    let mut out = Forwarded::default();
    let mut streams = [Stream::new(0), Stream::new(1), Stream::new(2)];
    for s in &mut streams {
        r.forward(&s.packet(true, true), t0, &mut out);
    }
    r.set_wanted(BOB, CAM, wanted(320));
    r.set_wanted(CAROL, CAM, wanted(640));
    let mut notices = Vec::new();
    assert_eq!(r.allocate(t0, true, &mut notices), 3);
    assert!(notices.contains(&Notice::SubscribedLayers {
        publisher: ALICE,
        track: CAM,
        max_layer: 1,
    }));
    // Nobody needs more than the low layer any longer: the publisher is
    // told only once that has held for a while.
    r.set_wanted(CAROL, CAM, Wanted::Disabled);
    notices.clear();
    r.allocate(t0 + Duration::from_secs(1), false, &mut notices);
    assert!(
        !notices
            .iter()
            .any(|n| matches!(n, Notice::SubscribedLayers { .. }))
    );
    notices.clear();
    r.allocate(t0 + Duration::from_secs(5), false, &mut notices);
    assert!(notices.contains(&Notice::SubscribedLayers {
        publisher: ALICE,
        track: CAM,
        max_layer: 0,
    }));
}

#[test]
fn last_n_pauses_the_videos_beyond_it_and_says_so() {
    let t0 = Instant::now();
    let mut r = room(t0);
    r.set_last_n(Some(1));
    // Bob publishes a camera too; Carol watches both.
    let bob_cam = TrackId(30);
    r.publish(BOB, bob_cam, Kind::Video, vec![size(320)], &[]);
    assert!(r.subscribe(CAROL, bob_cam, 1));
    r.set_ready(CAROL, bob_cam);
    let mut notices = Vec::new();
    r.allocate(t0, true, &mut notices);
    let states = notices
        .iter()
        .find_map(|n| match n {
            Notice::StreamStates { subscriber, states } if *subscriber == CAROL => Some(states),
            _ => None,
        })
        .expect("Carol is told");
    // The earlier publication wins when nobody has spoken.
    assert_eq!(states, &vec![(bob_cam, true)]);

    // Bob's video, paused for Carol, is not forwarded to her.
    let mut out = Forwarded::default();
    let mut s = Stream::new(0);
    let mut packet = s.packet(true, true);
    packet.track = bob_cam;
    r.forward(&packet, t0, &mut out);
    assert!(writes_to(&out, CAROL).is_empty());
}

#[test]
fn leaving_unpublishes_and_ends_subscriptions() {
    let t0 = Instant::now();
    let mut r = room(t0);
    let mut gone = r.leave(ALICE);
    gone.sort_by_key(|(t, _)| *t);
    assert_eq!(gone.len(), 2);
    for (_, mut subs) in gone {
        subs.sort();
        assert_eq!(subs, vec![BOB, CAROL]);
    }
    assert!(r.publisher(CAM).is_none());
    assert_eq!(r.participants().count(), 2);
    let mut out = Forwarded::default();
    r.forward(&Stream::new(0).packet(true, true), t0, &mut out);
    assert!(out.writes.is_empty());
}

#[test]
fn estimator_is_asked_for_what_the_views_want() {
    let t0 = Instant::now();
    let mut r = Router::new(RouterSettings {
        congestion_control: true,
        ..settings()
    });
    for p in [ALICE, BOB] {
        r.join(p, t0);
    }
    r.publish(
        ALICE,
        CAM,
        Kind::Video,
        vec![size(320), size(640), size(1280)],
        &[150_000, 500_000, 2_000_000],
    );
    assert!(r.subscribe(BOB, CAM, 1));
    r.set_ready(BOB, CAM);
    let mut notices = Vec::new();
    r.allocate(t0, true, &mut notices);
    let desired = notices
        .iter()
        .find_map(|n| match n {
            Notice::Estimator {
                subscriber: BOB,
                desired,
                ..
            } => Some(*desired),
            _ => None,
        })
        .expect("Bob's estimator is asked");
    assert_eq!(desired, 2_000_000);
    // Nothing changed: nothing to ask again.
    notices.clear();
    r.allocate(t0 + Duration::from_millis(500), true, &mut notices);
    assert!(
        !notices
            .iter()
            .any(|n| matches!(n, Notice::Estimator { .. }))
    );
}
