//! Headless participants of `confab-client` against the real `confab` binary: one publishes a
//! microphone (as the SIP gateway does for a phone caller), another receives it, frame for frame.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use confab_client::{Participant, ParticipantConfig, ParticipantEvent};
use confab_loadgen::server::ServerProcess;
use confab_signal::{Keys, VideoGrant};
use str0m::media::MediaKind;
use str0m::{Event, RtcConfig};

const KEY: &str = "testkey";
const SECRET: &str = "0123456789abcdef0123456789abcdef-secret";

fn token(identity: &str) -> String {
    let keys = Keys::new(HashMap::from([(KEY.to_string(), SECRET.to_string())]));
    let grant = VideoGrant {
        room_join: true,
        room: "phones".into(),
        ..Default::default()
    };
    keys.mint(identity, identity, grant, Duration::from_secs(600))
        .expect("token")
}

async fn join(server: &ServerProcess, identity: &str, microphone: bool) -> Participant {
    Participant::join(ParticipantConfig {
        url: format!("ws://{}", server.http()),
        token: token(identity),
        bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        auto_subscribe: true,
        join_timeout: Duration::from_secs(10),
        rtc: RtcConfig::new().clear_codecs().enable_opus(true, false),
        sdk: "confab-test",
        microphone,
    })
    .await
    .expect("joins")
}

#[tokio::test]
async fn a_published_microphone_reaches_another_participant_frame_for_frame() {
    let server = ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_confab")),
        &[
            ("CONFAB_API_KEY", KEY),
            ("CONFAB_API_SECRET", SECRET),
            ("RUST_LOG", "warn"),
        ],
    )
    .expect("confab starts");
    let mut listener = join(&server, "listener", false).await;
    let mut phone = join(&server, "phone", true).await;

    // The phone drives its connections and writes a numbered Opus frame every 20 ms (a TOC byte
    // for a 20 ms SILK frame, then the frame number: the bridge forwards payloads as they are).
    let phone_task = tokio::spawn(async move {
        let mut frame = 0u32;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            tokio::select! {
                event = phone.next() => { event.expect("the phone stays connected"); }
                _ = tick.tick() => {
                    let mut payload = vec![0x08];
                    payload.extend_from_slice(&frame.to_be_bytes());
                    if phone.write_audio(&payload, 960, -127).expect("writes") {
                        frame += 1;
                    }
                }
            }
        }
        frame
    });

    let deadline = Instant::now() + Duration::from_secs(15);
    let mut phone_track = None;
    let mut received: Vec<u32> = Vec::new();
    while received.len() < 50 {
        let event = tokio::time::timeout_at(deadline.into(), listener.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "50 frames within 15 s; got {} (track: {phone_track:?})",
                    received.len()
                )
            })
            .expect("the listener stays connected");
        match event {
            ParticipantEvent::TrackAdded { mid, track } if track.kind == MediaKind::Audio => {
                phone_track = Some(mid);
            }
            ParticipantEvent::Media(Event::MediaData(data)) if Some(data.mid) == phone_track => {
                assert_eq!(data.data.len(), 5);
                received.push(u32::from_be_bytes(data.data[1..5].try_into().unwrap()));
            }
            _ => {}
        }
    }
    // In order, none lost, on loopback.
    let first = received[0];
    assert_eq!(received, (first..first + 50).collect::<Vec<_>>());
    phone_task.abort();
}
